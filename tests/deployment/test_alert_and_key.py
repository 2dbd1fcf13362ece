"""The failed-target alert against a real run, and azd's credential-key hook."""

from __future__ import annotations

import re
import stat
import sys
import tempfile
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from deploy import credential_key
from sqlfleet.alerts import FAILED_TARGETS_PREFIX
from sqlfleet.cli.demo import make_sqlite_server
from sqlfleet.cli.serve import LocalHost
from tests.cli.conftest import Cli, start_host
from tests.deployment.bicep import text


def alert_count(line: str) -> int:
    """What the alert's KQL makes of one traces message: Failed + TimedOut."""
    query = re.search(r"query: '(.*)'", text()).group(1)  # type: ignore[union-attr]
    patterns = re.findall(r'extract\(@"(.*?)", 1, message\)', query)
    assert len(patterns) == 2
    total = 0
    for pattern in patterns:
        found = re.search(pattern.replace("\\\\", "\\"), line)
        total += int(found.group(1)) if found else 0
    return total


def test_a_failed_step_logs_the_line_the_alert_counts(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sqlite_server = tmp_path / "server1"
    make_sqlite_server(sqlite_server)
    host: LocalHost = start_host(tmp_path / "host", tmp_path)
    try:
        assert host.url
        cli = Cli(host.url, capsys, host.function_key)
        fleet = tmp_path / "fleet.yaml"
        fleet.write_text(
            "target_groups:\n"
            f"  - {{name: Local, members: [{{target_type: server, engine: sqlite, "
            f"server_name: '{sqlite_server}'}}]}}\n"
            "jobs:\n"
            "  - name: Breaks\n"
            "    steps:\n"
            "      - {step_name: good, command: SELECT 1, target_group_name: Local,\n"
            "         on_failure: continue}\n"
            "      - {step_name: bad, command: SELECT * FROM no_such_table,\n"
            "         target_group_name: Local, retry_attempts: 0}\n"
        )
        cli.ok("apply", "-f", str(fleet))
        run = cli("start", "Breaks", "--wait", "--json")
        assert run.code == 1 and run.json["lifecycle"] == "Failed"
    finally:
        host.stop()
    lines = [
        line for line in host.log_path.read_text().splitlines() if FAILED_TARGETS_PREFIX in line
    ]
    assert len(lines) == 1, lines  # one line, for the failed step only
    assert "step 2 (bad) of job 'Breaks'" in lines[0]
    message = lines[0][lines[0].index(FAILED_TARGETS_PREFIX) :]
    assert message.startswith(FAILED_TARGETS_PREFIX)  # KQL: message startswith the prefix
    assert alert_count(message) == 3


def test_new_keys_are_fernet_keys() -> None:
    key = credential_key.new_key()
    Fernet(key.encode())  # raises unless 32 url-safe base64 bytes
    assert credential_key.new_key() != key
    credential_key.check_key(key)
    for bad in ("", "not-a-key", "A" * 44, key[:-4]):
        with pytest.raises(credential_key.CredentialKeyError, match="is not a Fernet key"):
            credential_key.check_key(bad)


def fake_azd(folder: Path, exit_code: int = 0) -> Path:
    """An ``azd`` that records its arguments and the file it was given."""
    script = folder / "azd"
    script.write_text(
        f"#!{sys.executable}\n"
        "import sys, pathlib\n"
        f"log = pathlib.Path({str(folder / 'calls')!r})\n"
        "args = sys.argv[1:]\n"
        "given = pathlib.Path(args[-1])\n"
        "mode = oct(given.stat().st_mode & 0o777)\n"
        "log.write_text(' '.join(args[:-1]) + '\\n' + mode + '\\n' + given.read_text())\n"
        f"sys.exit({exit_code})\n"
    )
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return script


def test_hook_keeps_a_valid_key_and_refuses_a_bad_one(
    capsys: pytest.CaptureFixture[str],
) -> None:
    key = credential_key.new_key()
    assert credential_key.main([], {credential_key.SETTING: key}) == 0
    assert "keeping it" in capsys.readouterr().err
    assert credential_key.main([], {credential_key.SETTING: "oops"}) == 1
    err = capsys.readouterr().err
    assert "is not a Fernet key" in err and "oops" not in err


def test_hook_hands_a_new_key_to_azd_through_a_private_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    azd = fake_azd(tmp_path)
    assert credential_key.main([], {}, azd=str(azd)) == 0
    command, mode, content = (tmp_path / "calls").read_text().split("\n", 2)
    assert command == "env set --file"
    assert mode == "0o600"
    name, _, value = content.strip().partition("=")
    assert name == credential_key.SETTING
    Fernet(value.encode())
    assert value not in capsys.readouterr().err
    assert not list(Path(tempfile.gettempdir()).glob("sqlfleet-key-*"))


def test_hook_reports_an_azd_failure(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    azd = fake_azd(tmp_path, exit_code=3)
    with pytest.raises(credential_key.CredentialKeyError, match="azd env set --file' failed"):
        credential_key.store(credential_key.new_key(), azd=str(azd))
