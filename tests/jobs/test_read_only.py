"""Read-only keys: a function key listed in SQLFLEET_READ_ONLY_KEYS reads everything and changes
nothing (403 on every mutating route, before any body is read); the page is served without a
key and its API calls need one."""

from __future__ import annotations

import re
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from api.blueprint import OPERATIONS
from sqlfleet.errors import SettingError
from sqlfleet.settings import load_settings
from tests.jobs.host import JobsHost, start_with_viewer_key

_VALUES = {
    "name": "ro-probe",
    "id": str(uuid.uuid4()),
    "step": "1",
    "step_id": "1",
    "ordinal": "0",
    "version": "0",
    "target_id": str(uuid.uuid4()),
}


@pytest.fixture(scope="module")
def viewer_host(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[JobsHost, str]]:
    folder = tmp_path_factory.mktemp("read-only-host")
    env = {
        "SQLFLEET_DATA_DIR": str(folder / "app"),
        "SQLFLEET_CREDENTIAL_KEY": Fernet.generate_key().decode(),
    }
    host, viewer = start_with_viewer_key(folder, env)
    try:
        yield host, viewer
    finally:
        host.stop()


def _request(
    host: JobsHost, method: str, path: str, key: str | None, *, header: bool = True
) -> tuple[int, bytes, dict[str, str]]:
    url = host.base + path
    headers = {"Content-Type": "application/json"}
    if key and header:
        headers["x-functions-key"] = key
    elif key:
        url += ("&" if "?" in url else "?") + "code=" + key
    data = b"{}" if method in ("POST", "PUT", "PATCH") else None
    request = urllib.request.Request(url, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.read(), dict(response.headers)
    except urllib.error.HTTPError as error:
        with error:
            return error.code, error.read(), dict(error.headers)


def _path(route: str) -> str:
    return "/api/" + re.sub(r"\{(\w+)\}", lambda m: _VALUES[m.group(1)], route)


def test_the_access_endpoint_says_what_a_key_may_do(viewer_host: tuple[JobsHost, str]) -> None:
    host, viewer = viewer_host
    assert host.ok("GET", "/api/access") == {"access": "full", "may_act": True}
    status, body, _ = _request(host, "GET", "/api/access", viewer)
    assert status == 200 and b'"read-only"' in body and b'"may_act":false' in body
    status, _, _ = _request(host, "GET", "/api/access", "not-a-key-of-this-host-at-all")
    assert status == 401


def test_every_mutating_route_refuses_a_read_only_key_and_changes_nothing(
    viewer_host: tuple[JobsHost, str],
) -> None:
    host, viewer = viewer_host
    mutating = [op for op in OPERATIONS if op.mutates]
    assert {op.function_name for op in mutating} >= {
        "jobs_start",
        "executions_cancel",
        "executions_delete",
        "executions_rerun",
        "jobs_put",
        "credentials_put",
    }
    assert all(op.method != "GET" for op in mutating)
    for op in mutating:
        for header in (True, False):
            status, body, _ = _request(host, op.method, _path(op.route), viewer, header=header)
            assert status == 403, (op.method, op.route, status, body)
            assert b'"code": "ReadOnlyKey"' in body
            field = "x-functions-key" if header else "code"
            assert f'"field": "{field}"'.encode() in body
            assert viewer.encode() not in body
    # Nothing was created by any of them.
    assert host.call("GET", "/api/jobs/ro-probe").status == 404
    assert host.call("GET", "/api/credentials/ro-probe").status == 404
    assert host.call("GET", "/api/target-groups/ro-probe").status == 404


def test_a_read_only_key_reads_and_previews(viewer_host: tuple[JobsHost, str]) -> None:
    host, viewer = viewer_host
    host.ok("PUT", "/api/target-groups/ro-readable", {"members": []})
    for path in ("/api/jobs", "/api/executions?counts=true", "/api/job-summaries",
                 "/api/target-groups/ro-readable", "/api/openapi.json"):  # fmt: skip
        status, body, _ = _request(host, "GET", path, viewer)
        assert status == 200, (path, body)
    # A preview is a read, though a POST: it resolves the group, it runs nothing.
    status, body, _ = _request(host, "POST", "/api/target-groups/ro-readable/preview", viewer)
    assert status == 200, body
    document = host.ok("GET", "/api/openapi.json")
    start = document["paths"]["/api/jobs/{name}/start"]["post"]["responses"]
    assert "403" in start
    assert "403" not in document["paths"]["/api/jobs"]["get"]["responses"]


def test_a_digest_of_the_key_in_the_setting_works_too(tmp_path: Path) -> None:
    env = {
        "SQLFLEET_DATA_DIR": str(tmp_path / "app"),
        "SQLFLEET_CREDENTIAL_KEY": Fernet.generate_key().decode(),
    }
    host, viewer = start_with_viewer_key(tmp_path, env, as_digest=True)
    try:
        status, body, _ = _request(host, "GET", "/api/access", viewer)
        assert status == 200 and b'"read-only"' in body
        status, _, _ = _request(host, "POST", "/api/jobs/x/start", viewer)
        assert status == 403
        assert host.ok("GET", "/api/access")["may_act"] is True
    finally:
        host.stop()


@pytest.mark.parametrize(
    ("value", "problem"),
    [("tiny-key", "shorter than 16"), ("sha256:abc", "64 hex"), ("sha256:" + "g" * 64, "64 hex")],
)
def test_a_malformed_setting_is_named_without_quoting_it(value: str, problem: str) -> None:
    with pytest.raises(SettingError) as raised:
        load_settings({"SQLFLEET_READ_ONLY_KEYS": f"a-well-formed-key-value, {value}"})
    assert raised.value.setting == "SQLFLEET_READ_ONLY_KEYS"
    assert problem in raised.value.message and "entry 2" in raised.value.message
    assert "a-well-formed-key-value" not in raised.value.message
    assert value not in raised.value.message or value.startswith("sha256:")
    settings = load_settings(
        {"SQLFLEET_READ_ONLY_KEYS": "one-key-of-20-chars, another-one-of-20-ch"}
    )
    assert settings.read_only_keys == ("one-key-of-20-chars", "another-one-of-20-ch")
    assert "one-key" not in repr(settings)


def test_the_page_is_served_without_a_key_and_the_api_still_needs_one(
    viewer_host: tuple[JobsHost, str],
) -> None:
    host, _ = viewer_host
    status, body, headers = _request(host, "GET", "/api/ui/executions/abc?step=1", None)
    assert status == 200
    assert headers["Content-Type"].startswith("text/html")
    assert b'<base href="/api/ui/">' in body
    policy = headers["Content-Security-Policy"]
    assert "default-src 'none'" in policy and "script-src 'self'" in policy
    assert "connect-src 'self'" in policy and "http" not in policy
    status, body, headers = _request(host, "GET", "/api/ui/assets/app.js", None)
    assert status == 200 and headers["Content-Type"].startswith("text/javascript")
    etag = headers["ETag"]
    request = urllib.request.Request(
        host.base + "/api/ui/assets/app.js", headers={"If-None-Match": etag}
    )
    with pytest.raises(urllib.error.HTTPError) as not_modified:
        urllib.request.urlopen(request, timeout=30)
    not_modified.value.close()
    assert not_modified.value.code == 304
    for path in ("/api/ui/assets/nope.js", "/api/ui/assets/../../function_app.py",
                 "/api/ui/assets/%2e%2e/index.html"):  # fmt: skip
        assert _request(host, "GET", path, None)[0] == 404, path
    request = urllib.request.Request(host.base + "/api/ui")
    opener = urllib.request.build_opener(_NoRedirect)
    with pytest.raises(urllib.error.HTTPError) as redirect:
        opener.open(request, timeout=30)
    redirect.value.close()
    assert redirect.value.code == 308 and redirect.value.headers["Location"] == "/api/ui/"
    assert _request(host, "GET", "/api/jobs", None)[0] == 401
    assert _request(host, "GET", "/api/access", None)[0] == 401


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None
