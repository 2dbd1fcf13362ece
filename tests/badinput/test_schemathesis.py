"""Schemathesis against ``/api/openapi.json`` on a real local host.

Every generated request (valid and schema-violating, from the coverage and fuzzing phases, and
from stateful sequences that create what later calls need) must get an answer that the document
describes: a documented status code and content type, a body matching its schema, no server
error, an error body that names the field, no traceback and no password. A rejected request
must leave the job database exactly as it was.

Excluded from fuzzing because they start real work: ``POST /api/jobs/{name}/start``,
``/api/executions/...`` and ``POST /api/target-groups/{name}/preview`` (which connects to the
member servers). Fuzzed jobs are stored disabled so no schedule can start them either.

``SQLFLEET_FUZZ_EXAMPLES`` (default 25 per operation) and ``SQLFLEET_FUZZ_SEED`` (default: a
fixed derandomised run) make a longer or different run.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import jsonschema_rs
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, settings
from schemathesis.config import SchemathesisConfig
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from api.openapi import openapi_document
from tests.badinput.conftest import JobDatabase
from tests.jobs.host import JobsHost

# Boundary cases include a command of MAX_COMMAND_LENGTH characters; hypothesis warns that its
# repr is large, which this suite's warnings-as-errors would turn into a failure.
pytestmark = pytest.mark.filterwarnings("ignore:Generating overly large repr")

EXAMPLES = int(os.environ.get("SQLFLEET_FUZZ_EXAMPLES", "25"))
SEED = os.environ.get("SQLFLEET_FUZZ_SEED")
STATEFUL_STEPS = int(os.environ.get("SQLFLEET_FUZZ_STATEFUL_STEPS", "10"))
STATEFUL_EXAMPLES = int(os.environ.get("SQLFLEET_FUZZ_STATEFUL_EXAMPLES", "15"))
REAL_WORK = r"/start$|^/api/executions|/preview$|^/api/runs$"
# What a traceback or an exception's repr looks like in a body.
_TRACEBACK = re.compile(r"Traceback \(most recent call last\)|File \"[^\"]+\", line \d+|\w+Error\(")
# Passwords shorter than this could match by chance ("0" is in every timestamp).
_MIN_SECRET = 8

BUILTIN_CHECKS = [
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    negative_data_rejection,
]


def fuzz_settings(examples: int) -> settings:
    return settings(
        max_examples=examples,
        deadline=None,
        database=None,
        derandomize=SEED is None,
        suppress_health_check=list(HealthCheck),
        phases=[Phase.explicit, Phase.generate],
        print_blob=True,
    )


def schemathesis_config() -> SchemathesisConfig:
    data: dict[str, Any] = {"generation": {"mode": "all"}, "request-timeout": 30}
    if SEED is not None:
        data["seed"] = int(SEED)
    return SchemathesisConfig.from_dict(data)


@pytest.fixture(scope="module")
def passwords_sent() -> list[str]:
    """Every password the fuzzing put in a body (the secrets scan looks for them afterwards)."""
    return []


# The document is built in this process (the same code the host serves it from; the first test
# proves they are equal) because the host's port is known only once a fixture has started it.
schema = schemathesis.openapi.from_dict(openapi_document(), config=schemathesis_config()).exclude(
    path_regex=REAL_WORK
)


# --- the document itself -------------------------------------------------------------------


def test_openapi_document_is_valid_openapi_3(badinput_host: JobsHost) -> None:
    document = badinput_host.ok("GET", "/api/openapi.json")
    assert document == json.loads(json.dumps(openapi_document()))
    assert document["openapi"].startswith("3.")
    # The OpenAPI 3.1 meta-schema (as schemathesis ships it), then every schema in it against
    # the JSON Schema dialect it uses.
    loaded = schemathesis.openapi.from_dict(document)
    loaded.validate()
    for name, component in document["components"]["schemas"].items():
        assert jsonschema_rs.meta.is_valid(component), f"components.schemas.{name}"
    for path, item in document["paths"].items():
        for method, operation in item.items():
            label = f"{method.upper()} {path}"
            declared = {p["name"] for p in operation["parameters"] if p["in"] == "path"}
            assert declared == set(re.findall(r"\{(\w+)\}", path)), label
            for status, response in operation["responses"].items():
                code = int(status)
                if code >= 400:
                    schema_ref = response["content"]["application/json"]["schema"]
                    assert schema_ref == {"$ref": "#/components/schemas/ErrorBody"}, label
                if code != 204 and code < 400 and "content" not in response:
                    pytest.fail(f"{label} {status} documents no body")


# --- fuzzing -------------------------------------------------------------------------------


@schema.parametrize()
@fuzz_settings(EXAMPLES)
def test_api_answers_every_generated_request_as_documented(
    case: Any, badinput_host: JobsHost, job_database: JobDatabase, passwords_sent: list[str]
) -> None:
    disable_jobs(case)
    before = job_database.fingerprint()
    response = case.call(base_url=badinput_host.base, timeout=30, headers=key_header(badinput_host))
    case.validate_response(response, checks=BUILTIN_CHECKS)
    check_answer(case, response, passwords_sent)
    if response.status_code >= 400:
        assert job_database.fingerprint() == before, (
            f"{case.method} {case.formatted_path} answered {response.status_code} but changed "
            "the job database"
        )


def test_api_survives_stateful_sequences(
    badinput_host: JobsHost, job_database: JobDatabase, passwords_sent: list[str]
) -> None:
    """Sequences that create credentials, groups, members, jobs and steps, then use them."""
    base = schema.as_state_machine()

    class Sequences(base):  # type: ignore[misc, valid-type]
        def setup(self) -> None:
            # Each sequence starts from an empty job database, so that the same draws meet the
            # same answers (hypothesis replays prefixes of earlier sequences).
            empty_definitions(badinput_host)

        def get_call_kwargs(self, case: Any) -> dict[str, Any]:
            return {
                "base_url": badinput_host.base,
                "timeout": 30,
                "headers": key_header(badinput_host),
            }

        def before_call(self, case: Any) -> None:
            disable_jobs(case)
            self._before = job_database.fingerprint()

        def validate_response(self, response: Any, case: Any, **kwargs: Any) -> None:
            case.validate_response(response, checks=BUILTIN_CHECKS)
            check_answer(case, response, passwords_sent)
            if response.status_code >= 400:
                assert job_database.fingerprint() == self._before, (
                    f"{case.method} {case.formatted_path} answered {response.status_code} but "
                    "changed the job database"
                )

    Sequences.run(
        settings=settings(fuzz_settings(STATEFUL_EXAMPLES), stateful_step_count=STATEFUL_STEPS)
    )


def test_no_fuzzed_password_was_kept_in_plain_text(
    badinput_host: JobsHost, job_database: JobDatabase, passwords_sent: list[str]
) -> None:
    """Runs after the fuzzing (file order): the job database, the task hub and the host's log
    hold none of the passwords the fuzzing sent, in plain text."""
    assert passwords_sent, "the fuzzing sent no password; nothing was proven"
    stored = job_database.raw() + badinput_host.log().encode()
    for path in badinput_host.hub_dir.rglob("*"):
        if path.is_file():
            stored += path.read_bytes()
    for secret in passwords_sent:
        assert secret.encode() not in stored, "a fuzzed password is stored in plain text"


# --- the checks ----------------------------------------------------------------------------


def key_header(host: JobsHost) -> dict[str, str]:
    """The function key, as the app's clients send it (the API is at the function level)."""
    return {"x-functions-key": host.keys.function_key or ""}


def empty_definitions(host: JobsHost) -> None:
    """Delete every job, target group and credential, through the API."""
    for kind, query in (("jobs", "?force=true"), ("target-groups", ""), ("credentials", "")):
        for item in host.ok("GET", f"/api/{kind}")["value"]:
            host.ok("DELETE", f"/api/{kind}/{quote(item['name'], safe='')}{query}")


def disable_jobs(case: Any) -> None:
    """Fuzzed jobs must not run by schedule: a valid ``enabled: true`` becomes ``false``."""
    is_job = case.method == "PUT" and case.path == "/api/jobs/{name}"
    if is_job and isinstance(case.body, dict) and case.body.get("enabled") is True:
        case.body["enabled"] = False


def check_answer(case: Any, response: Any, passwords_sent: list[str]) -> None:
    """SQL Fleet's own rules for every answer, beyond what the document says."""
    label = f"{case.method} {case.formatted_path} -> {response.status_code}"
    text = response.content.decode("utf-8", errors="replace")
    status = response.status_code
    if case.method.upper() != case.operation.method.upper():
        # A method the route does not have: the host answers before the app sees it.
        assert status in (404, 405), f"{label}: {text[:300]}"
        return
    if status >= 500:
        body = _json(response.content)
        # A known feature SQL Fleet does not support is a documented 501 (STYLE.md); anything
        # else is a server error.
        unsupported = status == 501 and isinstance(body, dict) and body.get("code") == "Unsupported"
        assert unsupported, f"{label}: server error {text[:500]}"
    assert not _TRACEBACK.search(text), f"{label}: the answer shows internals: {text[:500]}"
    if 400 <= status < 500:
        body = _json(response.content)
        assert isinstance(body, dict), f"{label}: error answer is not a JSON object: {text[:300]}"
        assert isinstance(body.get("field"), str) and body["field"], (
            f"{label}: error answer names no field: {text[:300]}"
        )
        assert isinstance(body.get("message"), str) and body["message"], label
    for secret in _passwords(case.body):
        passwords_sent.append(secret)
        assert secret not in text, f"{label}: the answer contains the password that was sent"


def _passwords(body: Any) -> Iterator[str]:
    """Passwords in a credential body that are long and distinct enough to search for."""
    if not isinstance(body, dict):
        return
    secret = body.get("password")
    if not isinstance(secret, str) or len(secret) < _MIN_SECRET:
        return
    others = json.dumps({k: v for k, v in body.items() if k != "password"}, ensure_ascii=False)
    if secret not in others:
        yield secret


def _json(raw: bytes) -> Any:
    try:
        return json.loads(raw)
    except ValueError:
        return None
