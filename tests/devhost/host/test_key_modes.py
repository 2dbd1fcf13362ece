"""Every key mode of a real host (keys it makes, keys from settings, keyless) against every route
family with no key, a wrong key, and each of the three keys, as header and as ``code=``."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest

from devhost.hostkeys import key_file, read_key_file
from tests.devhost.host.hostproc import NO_KEY, ROOT, SAMPLE_APP, WEBHOOK, HostProcess, poll
from tests.support.servers import free_port

OPERATOR_KEYS = {
    "DEVHOST_FUNCTION_KEY": "operator-function-key",
    "DEVHOST_MASTER_KEY": "operator-master-key",
    "DEVHOST_SYSTEM_KEY": "operator-system-key",
}
PRESENTED = ("none", "wrong", "function", "master", "system")
# route -> the keys it accepts (Azure: function level takes function or master, admin only
# master, the Durable HTTP API the extension's system key or master).
ROUTES = {
    "/api/hello": set(PRESENTED),
    "/api/keyed/function": {"function", "master"},
    "/api/keyed/admin": {"master"},
    "/admin/host/status": {"master"},
    f"{WEBHOOK}/instances/": {"system", "master"},
    f"{WEBHOOK}/entities/": {"system", "master"},
}


def presented(host: HostProcess, name: str) -> str | None:
    keys = host.keys
    return {
        "none": None,
        "wrong": "not-a-key-" + uuid.uuid4().hex,
        "function": keys.function_key,
        "master": keys.master_key,
        "system": keys.system_key,
    }[name]


def check_every_route_family(host: HostProcess) -> None:
    for route, accepted in ROUTES.items():
        for name in PRESENTED:
            key = presented(host, name)
            expected = 200 if name in accepted else 401
            by_header = host.call("GET", route, key=key or NO_KEY).status
            assert by_header == expected, (route, name, "x-functions-key")
            if key:
                by_query = host.call("GET", f"{route}?code={quote(key)}").status
                assert by_query == expected, (route, name, "code=")


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HostProcess]:
    # --verbose: the request lines (DEBUG) must not show a key either.
    data = tmp_path_factory.mktemp("generated-keys")
    host = HostProcess.start(SAMPLE_APP, data, arguments=("--verbose",))
    try:
        yield host
    finally:
        host.stop()


def test_a_host_makes_private_keys_on_its_first_start_and_names_only_the_file(
    generated: HostProcess,
):
    path = key_file(generated.data_dir)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    keys = read_key_file(path)
    assert keys == generated.keys
    # The host announces itself (keys line included) just after it starts answering.
    line = f"Keys: function, master and system keys from {path}"
    poll(lambda: line in generated.log(), 10, "the keys line in the log")
    log = generated.log()
    for value in (keys.function_key, keys.master_key, keys.system_key):
        assert value and value not in log


def test_made_keys_guard_every_route_family(generated: HostProcess):
    check_every_route_family(generated)


def test_made_keys_survive_a_restart(tmp_path: Path):
    host = HostProcess.start(SAMPLE_APP, tmp_path / "data")
    try:
        before = host.keys
        host.stop()
        host.launch()
        assert host.read_keys() == before
        assert host.call("GET", "/api/keyed/function", key=before.function_key).status == 200
    finally:
        host.stop()


def test_keys_from_settings_guard_every_route_family_and_no_file_is_made(tmp_path: Path):
    host = HostProcess.start(SAMPLE_APP, tmp_path / "data", dict(OPERATOR_KEYS))
    try:
        assert host.keys.system_key == "operator-system-key"
        check_every_route_family(host)
        assert not key_file(host.data_dir).exists()
        line = "Keys: function key from DEVHOST_FUNCTION_KEY"
        poll(lambda: line in host.log(), 10, "the keys line in the log")
        # The status URLs carry the operator's system key, and work as they are.
        started = host.call("POST", f"{WEBHOOK}/orchestrators/chain")
        assert started.status == 202
        url = started.json()["statusQueryGetUri"]
        assert url.endswith("&code=operator-system-key")
        assert host.call("GET", url.removeprefix(host.base), key=NO_KEY).status in (200, 202)
    finally:
        host.stop()


def test_a_keyless_host_answers_everything_on_loopback_and_says_so(tmp_path: Path):
    host = HostProcess.start(SAMPLE_APP, tmp_path / "data", arguments=("--no-keys",))
    try:
        for route in ROUTES:
            assert host.call("GET", route, key=NO_KEY).status == 200, route
        assert not key_file(host.data_dir).exists()
        # The start-up lines reach the log file on their own time: wait for them a moment.
        poll(lambda: "Keys: none (keyless mode)" in host.log(), 10, "the keys line in the log")
        assert "listening on loopback only" in host.log()
        started = host.call("POST", f"{WEBHOOK}/orchestrators/chain", key=NO_KEY).json()
        assert "code=" not in started["statusQueryGetUri"]
        # The SDK's calls go to the Durable HTTP API itself.
        instance = host.call("POST", "/api/sdk/start_new", {"name": "chain"}).json()["id"]
        host.wait_for_status(instance)
    finally:
        host.stop()


def test_the_keyless_setting_works_like_the_flag(tmp_path: Path):
    host = HostProcess.start(SAMPLE_APP, tmp_path / "data", {"DEVHOST_KEYLESS": "1"})
    try:
        assert host.call("GET", "/admin/host/status", key=NO_KEY).status == 200
    finally:
        host.stop()


def run_host(
    tmp_path: Path, *arguments: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "devhost", str(SAMPLE_APP), "--port", str(free_port())]
        + ["--data-dir", str(tmp_path / "data"), *arguments],
        cwd=ROOT,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize("address", ["0.0.0.0", "::"])
def test_a_keyless_host_refuses_to_listen_beyond_loopback(tmp_path: Path, address: str):
    run = run_host(tmp_path, "--no-keys", "--host", address)
    assert run.returncode == 2
    assert f"keyless mode listens on loopback only, not on '{address}'" in run.stderr


def test_keyless_mode_and_a_key_setting_exclude_each_other(tmp_path: Path):
    run = run_host(tmp_path, env={"DEVHOST_KEYLESS": "1", "DEVHOST_MASTER_KEY": "m"})
    assert run.returncode == 2
    assert "keyless mode and DEVHOST_MASTER_KEY exclude each other" in run.stderr


def test_the_sdks_own_calls_carry_the_system_key_in_their_path(generated: HostProcess):
    instance = generated.call("POST", "/api/sdk/start_new", {"name": "chain"}).json()["id"]
    generated.wait_for_status(instance)
    rpc = f"/runtime/webhooks/durabletask-rpc/{generated.keys.system_key}/instances/{instance}"
    assert generated.call("GET", rpc, key=NO_KEY).status == 200
    for wrong in (generated.keys.function_key, "nope", ""):
        path = f"/runtime/webhooks/durabletask-rpc/{wrong}/instances/{instance}"
        assert generated.call("GET", path, key=NO_KEY).status == 401, wrong
    log = generated.log()
    assert "/runtime/webhooks/durabletask-rpc/..." in log  # the SDK's requests, key left out
    assert generated.keys.system_key not in log


def test_terminate_and_purge_need_the_system_key_and_leave_the_instance_alone(
    generated: HostProcess,
):
    instance = f"guarded-{uuid.uuid4().hex}"
    generated.start_orchestration("waiter", instance_id=instance)
    generated.wait_for_status(instance, ("Running",))
    keys = generated.keys
    operations = [
        ("POST", f"{WEBHOOK}/instances/{instance}/terminate?reason=attack"),
        ("POST", f"{WEBHOOK}/instances/{instance}/suspend?reason=attack"),
        ("DELETE", f"{WEBHOOK}/instances/{instance}"),
        ("DELETE", f"{WEBHOOK}/instances/?createdTimeFrom=2000-01-01T00:00:00Z"),
    ]
    for method, path in operations:
        for key in (NO_KEY, "wrong", keys.function_key):
            assert generated.call(method, path, key=key).status == 401, (method, path, key)
        as_query = f"{path}{'&' if '?' in path else '?'}code={keys.function_key}"
        assert generated.call(method, as_query).status == 401, (method, path)
        # A web page cannot use a system key it somehow learnt, either.
        foreign = {"Origin": "http://evil.example"}
        assert generated.call(method, path, headers=foreign).status == 403, (method, path)
    raised = generated.call(
        "POST", f"{WEBHOOK}/instances/{instance}/raiseEvent/Go", "x", key=keys.function_key
    )
    assert raised.status == 401
    status = generated.status(instance).json()
    assert status["runtimeStatus"] == "Running" and status["customStatus"] == {"stage": "waiting"}
    # With the system key, both work.
    terminated = generated.call("POST", f"{WEBHOOK}/instances/{instance}/terminate?reason=ok")
    assert terminated.status == 202
    generated.wait_for_status(instance, ("Terminated",))
    assert generated.call("DELETE", f"{WEBHOOK}/instances/{instance}").status == 200
    assert generated.status(instance).status == 404
