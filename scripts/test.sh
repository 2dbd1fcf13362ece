#!/usr/bin/env bash
# Bootstrap, then run the test suite (everything CI runs). Extra arguments go to pytest.
#
# The whole suite runs on .venv (the newest supported Python). Without arguments, the devhost and
# app-loading tests (tests/devhost) then run again on .venv-compat, the oldest supported Python
# found, so both ends of 3.11-3.13 are held to them; SQLFLEET_COMPAT_TESTS=0 skips that pass.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh --compat
status=0
.venv/bin/python -m pytest -q "$@" || status=$?
if [[ $# -eq 0 && ${SQLFLEET_COMPAT_TESTS:-1} != 0 && -x .venv-compat/bin/python ]]; then
    echo "test.sh: devhost and app-loading tests on Python $(.venv-compat/bin/python -c 'import sys; print("%d.%d" % sys.version_info[:2])')" >&2
    .venv-compat/bin/python -m pytest -q tests/devhost || status=$?
fi
exit "$status"
