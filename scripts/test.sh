#!/usr/bin/env bash
# Bootstrap, then run the test suite (everything CI runs). Extra arguments go to pytest.
#
# The whole suite runs on .venv (the newest supported Python). Without arguments, the devhost and
# app-loading tests (tests/devhost) run at the same time on .venv-compat, the oldest supported
# Python found, so both ends of 3.11-3.13 are held to them (their output follows the main run's);
# SQLFLEET_COMPAT_TESTS=0 skips that pass.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh --compat
status=0
compat_pid=""
compat_log=$(mktemp)
trap 'rm -f "$compat_log"' EXIT
if [[ $# -eq 0 && ${SQLFLEET_COMPAT_TESTS:-1} != 0 && -x .venv-compat/bin/python ]]; then
    compat_version=$(.venv-compat/bin/python -c 'import sys; print("%d.%d" % sys.version_info[:2])')
    .venv-compat/bin/python -m pytest -q -p no:cacheprovider tests/devhost >"$compat_log" 2>&1 &
    compat_pid=$!
fi
.venv/bin/python -m pytest -q "$@" || status=$?
if [[ -n $compat_pid ]]; then
    compat_status=0
    wait "$compat_pid" || compat_status=$?
    echo "test.sh: devhost and app-loading tests on Python $compat_version (run alongside):"
    cat "$compat_log"
    if ((compat_status != 0)); then status=$compat_status; fi
fi
exit "$status"
