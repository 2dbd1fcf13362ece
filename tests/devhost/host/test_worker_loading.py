"""The Python worker's load checks: SQL Fleet under Azure's worker, and devhost's copy of them.

``azure-functions-runtime`` (Python 3.13+) is the worker Azure runs; one refused function fails
the indexing of the whole app there. SQL Fleet's app is indexed through it in a subprocess (a
worker process of its own, as on Azure). The table of refused functions holds both workers to the
same messages: the runtime's where it runs, devhost's own copy (used on 3.11 and 3.12) always.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from devhost.inprocessworker import InProcessWorker
from devhost.languageworker import WorkerLoadError, runtime_available
from sqlfleet.settings import reset_settings

ROOT = Path(__file__).resolve().parents[3]

INDEX_SCRIPT = """
import json, sys
from pathlib import Path
from devhost.runtimeworker import RuntimeWorker
worker = RuntimeWorker()
try:
    functions = worker.index(Path(sys.argv[1]))
except Exception as error:
    print(json.dumps({"error": str(error)}))
else:
    print(json.dumps({"functions": [f.name for f in functions], "worker": worker.description}))
"""


def python_with_runtime() -> str | None:
    """A Python 3.13+ that can import azure_functions_runtime: this one, or the project's."""
    if runtime_available():
        return sys.executable
    for candidate in (ROOT / ".venv" / "bin" / "python",):
        if candidate.exists():
            probe = subprocess.run(
                [str(candidate), "-c", "import azure_functions_runtime"], capture_output=True
            )
            if probe.returncode == 0:
                return str(candidate)
    return None


def index_with_runtime(python: str, folder: Path, data_dir: Path | None = None) -> dict:
    """What a fresh worker process running azure-functions-runtime says of the app in folder.

    Loading SQL Fleet's app claims its SQLite job database: ``data_dir`` gives it a folder of its
    own, not ``.sqlfleet``."""
    env = {**os.environ, **({"SQLFLEET_DATA_DIR": str(data_dir)} if data_dir else {})}
    done = subprocess.run(
        [python, "-c", INDEX_SCRIPT, str(folder)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def any_python_313() -> bool:
    return bool(shutil.which("python3.13")) or any(
        Path.home().glob(".pyenv/versions/3.13*/bin/python3.13")
    )


def test_sql_fleet_indexes_under_azure_functions_runtime(tmp_path):
    python = python_with_runtime()
    if python is None:
        if any_python_313():
            pytest.fail(
                "Python 3.13 is on this machine but no environment has azure-functions-runtime: "
                "run ./scripts/bootstrap.sh (it builds .venv on the newest Python)"
            )
        pytest.skip(
            "no Python 3.13 here: install one (pyenv install 3.13) and run ./scripts/bootstrap.sh "
            "to index SQL Fleet through azure-functions-runtime"
        )
    answer = index_with_runtime(python, ROOT, tmp_path)
    assert "error" not in answer, answer["error"]
    assert answer["worker"].startswith("azure-functions-runtime ")
    assert len(answer["functions"]) >= 50
    assert {"run_targets", "expand_step", "job_execution", "jobs_start"} <= set(answer["functions"])


def test_sql_fleet_indexes_under_devhosts_own_worker(tmp_path, monkeypatch):
    # Loading the app claims its SQLite job database: a folder of its own, not .sqlfleet.
    monkeypatch.setenv("SQLFLEET_DATA_DIR", str(tmp_path))
    reset_settings()
    try:
        functions = InProcessWorker().index(ROOT)
    finally:
        monkeypatch.undo()
        reset_settings()
    assert {"run_targets", "expand_step", "settle_target"} <= {f.name for f in functions}


HEADER = """
import typing
import azure.durable_functions as df
import azure.functions as func

app = df.DFApp(http_auth_level=func.AuthLevel.ANONYMOUS)
"""

# (function source, the worker's message after "FunctionLoadError: cannot load the f function: ")
REFUSED = [
    (
        '@app.activity_trigger(input_name="v")\ndef f(v: dict[str, int]) -> int:\n    return 1',
        "binding v has invalid non-type annotation dict[str, int]",
    ),
    (
        '@app.activity_trigger(input_name="v")\ndef f(v: list[str]) -> int:\n    return 1',
        "binding v has invalid non-type annotation list[str]",
    ),
    (
        '@app.route(route="r")\ndef f(req: func.HttpRequest, extra: str) -> str:\n    return ""',
        "the following parameters are declared in Python but not in the function definition "
        "(function.json or function decorators):  {'extra'}",
    ),
    (
        '@app.route(route="r")\ndef f(request: func.HttpRequest) -> str:\n    return ""',
        "the following parameters are declared in Python but not in the function definition "
        "(function.json or function decorators):  {'request'}",
    ),
    (
        '@app.route(route="r")\n'
        '@app.queue_output(arg_name="msg", queue_name="q", connection="C")\n'
        "def f(req: func.HttpRequest, msg: func.Out) -> str:\n    return ''",
        "binding msg has invalid Out annotation <class 'azure.functions._abc.Out'>",
    ),
    (
        '@app.route(route="r")\ndef f(req: func.HttpRequest) -> int:\n    return 1',
        'Python return annotation "int" does not match binding type "http"',
    ),
    (
        '@app.route(route="r")\ndef f(req: func.HttpRequest) -> None:\n    return None',
        'Python return annotation "NoneType" does not match binding type "http"',
    ),
    (
        '@app.route(route="r")\ndef f(req: func.HttpRequest, context: str) -> str:\n    return ""',
        'the "context" parameter is expected to be of type azure.functions.Context, got '
        "\"<class 'str'>\"",
    ),
    (
        '@app.route(route="r")\n'
        '@app.queue_output(arg_name="msg", queue_name="q", connection="C")\n'
        "def f(req: func.HttpRequest, msg: str) -> str:\n    return ''",
        'binding msg is declared to have the "out" direction, but its annotation in Python is '
        "not a subclass of azure.functions.Out",
    ),
    (
        '@app.route(route="r")\n'
        '@app.blob_input(arg_name="doc", path="c/b", connection="C")\n'
        "def f(req: func.HttpRequest, doc: func.Out[str]) -> str:\n    return ''",
        'binding doc is declared to have the "in" direction in the binding decorator, but its '
        "annotation is azure.functions.Out in Python",
    ),
    (
        '@app.timer_trigger(schedule="0 * * * * *", arg_name="timer")\n'
        "def f(timer: func.HttpRequest) -> None:\n    pass",
        'binding type "\'timer\'" and dataType "timerTrigger" in the binding decorator do not '
        "match the corresponding function parameter's Python type annotation HttpRequest",
    ),
]


def write_app(folder: Path, body: str) -> Path:
    folder.mkdir(parents=True)
    (folder / "function_app.py").write_text(HEADER + "\n\n" + textwrap.dedent(body) + "\n")
    (folder / "host.json").write_text('{"version": "2.0"}')
    return folder


@pytest.mark.parametrize(("body", "reason"), REFUSED, ids=[str(i) for i in range(len(REFUSED))])
def test_devhosts_worker_refuses_what_the_worker_refuses(tmp_path, body, reason):
    folder = write_app(tmp_path / "app", body)
    with pytest.raises(WorkerLoadError) as refused:
        InProcessWorker().index(folder)
    assert str(refused.value) == f"FunctionLoadError: cannot load the f function: {reason}"


def test_the_runtime_refuses_the_same_table(tmp_path):
    python = python_with_runtime()
    if python is None:
        pytest.skip("no Python 3.13 with azure-functions-runtime (run ./scripts/bootstrap.sh)")
    for number, (body, reason) in enumerate(REFUSED):
        answer = index_with_runtime(python, write_app(tmp_path / f"app{number}", body))
        assert answer.get("error") == f"FunctionLoadError: cannot load the f function: {reason}", (
            number
        )


def test_a_valid_app_with_every_served_trigger_loads_in_both(tmp_path):
    body = """
    @app.route(route="r")
    @app.durable_client_input(client_name="client")
    async def f(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
        return func.HttpResponse("ok")


    @app.timer_trigger(schedule="0 */5 * * * *", arg_name="timer")
    def tick(timer: func.TimerRequest) -> None:
        pass


    @app.orchestration_trigger(context_name="context")
    def orchestrator(context: df.DurableOrchestrationContext):
        yield context.call_activity("act", {"a": 1})


    @app.activity_trigger(input_name="payload")
    def act(payload: dict, context: func.Context) -> typing.Dict[str, int]:
        return {"n": 1}


    @app.entity_trigger(context_name="context")
    def counter(context: df.DurableEntityContext) -> None:
        context.set_state(1)
    """
    folder = write_app(tmp_path / "app", body)
    names = {f.name for f in InProcessWorker().index(folder)}
    assert names == {"f", "tick", "orchestrator", "act", "counter"}
    python = python_with_runtime()
    if python is not None:
        assert set(index_with_runtime(python, folder)["functions"]) == names
