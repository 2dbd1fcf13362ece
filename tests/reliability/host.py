"""SQL Fleet on a real ``python -m devhost`` subprocess that the reliability suites may kill.

``FleetHost.start_fleet(root, env)`` runs the app in this repository with its own folder: the job
database (unless ``SQLFLEET_JOB_DATABASE_URL`` says otherwise) under ``root/app``, the task hub
under ``root/hub`` and the host's stdout and stderr in ``root/hub/host.log`` (appended across
restarts). Every HTTP body the host answers is kept in ``responses`` for the secrets scan.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

from sqlfleet.settings import host_app_settings
from tests.devhost.host.hostproc import ROOT, HostProcess, Reply, poll
from tests.jobs.host import long_poll_seconds
from tests.support.servers import free_port


@dataclass
class FleetHost(HostProcess):
    responses: list[bytes] = field(default_factory=list)
    launches: int = 0

    @classmethod
    def start_fleet(cls, root: Path, env: dict[str, str]) -> FleetHost:
        """Launch the SQL Fleet app with its data under ``root`` and wait until it answers."""
        environment = {**host_app_settings(), "SQLFLEET_DATA_DIR": str(root / "app"), **env}
        host = cls(ROOT, root / "hub", free_port(), environment)
        host.launch()
        return host

    @property
    def root(self) -> Path:
        return self.data_dir.parent

    def launch(self, timeout: float = 90) -> None:
        self.launches += 1
        super().launch(timeout)

    def restart(self) -> None:
        """Start again on the same folders and port after ``kill`` or ``stop``."""
        self.launch()

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def call(self, method: str, path: str, body: Any = None, **kwargs: Any) -> Reply:
        reply = super().call(method, path, body, **kwargs)
        self.responses.append(reply.body)
        return reply

    def ok(self, method: str, path: str, body: Any = None) -> Any:
        """The JSON body of a request that must succeed."""
        reply = self.call(method, path, body)
        assert 200 <= reply.status < 300, f"{method} {path} -> {reply.status}: {reply.text}"
        return reply.json() if reply.body else None

    # --- SQL Fleet ------------------------------------------------------------------------

    def put_credential(self, name: str, username: str, password: str) -> None:
        self.ok(
            "PUT",
            f"/api/credentials/{quote(name)}",
            {"kind": "password", "username": username, "password": password},
        )

    def put_target_group(self, name: str, members: list[dict[str, Any]]) -> None:
        self.ok("PUT", f"/api/target-groups/{quote(name)}", {"members": members})

    def put_job(self, name: str, steps: list[dict[str, Any]]) -> None:
        self.ok("PUT", f"/api/jobs/{quote(name)}", {"steps": steps})

    def start_job(self, name: str) -> str:
        reply = self.call("POST", f"/api/jobs/{quote(name)}/start")
        assert reply.status == 202, f"start {name} -> {reply.status}: {reply.text}"
        return str(reply.json()["job_execution_id"])

    def execution(self, execution_id: str) -> dict[str, Any]:
        return self.ok("GET", f"/api/executions/{execution_id}")  # type: ignore[no-any-return]

    def try_execution(self, execution_id: str, until_ended: int = 0) -> dict[str, Any] | None:
        """The execution, or None while the API cannot answer (the job database is down); with
        ``until_ended`` (seconds), a long-poll that answers once it has ended."""
        query = f"?until=ended&wait={until_ended}" if until_ended else ""
        try:
            reply = self.call(
                "GET", f"/api/executions/{execution_id}{query}", timeout=10 + until_ended
            )
        except OSError:
            return None
        return reply.json() if reply.status == 200 else None

    def wait_finished(self, execution_id: str, timeout: float) -> dict[str, Any]:
        deadline = time.monotonic() + timeout

        def finished() -> dict[str, Any] | None:
            execution = self.try_execution(execution_id, long_poll_seconds(deadline))
            return execution if execution and not execution["is_active"] else None

        return poll(finished, timeout, f"execution {execution_id} to end", interval=0.25)  # type: ignore[no-any-return]

    def targets(self, execution: dict[str, Any]) -> list[dict[str, Any]]:
        """Every target row of every step of an execution document."""
        return [target for step in execution["steps"] for target in step.get("targets", [])]
