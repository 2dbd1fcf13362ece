#!/usr/bin/env bash
# Bootstrap, then run the test suite (everything CI runs). Extra arguments go to pytest.
#
# The whole suite runs on .venv (the newest supported Python). Without arguments it runs as
# three passes at once, their output one after the other:
# - the main pass: every test but the crash and fault suites (tests/reliability);
# - the crash and fault suites (about 3 minutes, mostly waiting for killed and restarted
#   hosts, so they cost the main pass little);
# - the devhost and app-loading tests (tests/devhost) on .venv-compat, the oldest supported
#   Python found, so both ends of 3.11-3.13 are held to them.
# SQLFLEET_COMPAT_TESTS=0 skips the compat pass; SQLFLEET_SPLIT_TESTS=0 runs the reliability
# suites within the main pass.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh --compat
status=0
compat_pid="" reliability_pid=""
compat_log=$(mktemp)
reliability_log=$(mktemp)
trap 'rm -f "$compat_log" "$reliability_log"' EXIT
main_arguments=("$@")
if [[ $# -eq 0 && ${SQLFLEET_SPLIT_TESTS:-1} != 0 ]]; then
    .venv/bin/python -m pytest -q -p no:cacheprovider tests/reliability >"$reliability_log" 2>&1 &
    reliability_pid=$!
    main_arguments=(--ignore=tests/reliability)
fi
if [[ $# -eq 0 && ${SQLFLEET_COMPAT_TESTS:-1} != 0 && -x .venv-compat/bin/python ]]; then
    compat_version=$(.venv-compat/bin/python -c 'import sys; print("%d.%d" % sys.version_info[:2])')
    .venv-compat/bin/python -m pytest -q -p no:cacheprovider tests/devhost >"$compat_log" 2>&1 &
    compat_pid=$!
fi
# report PID LOG TITLE: wait for a pass run alongside, print its output; its failure fails all.
report() {
    local pass_status=0
    wait "$1" || pass_status=$?
    echo "test.sh: $3 (run alongside):"
    cat "$2"
    if ((pass_status != 0)); then status=$pass_status; fi
}
.venv/bin/python -m pytest -q "${main_arguments[@]}" || status=$?
if [[ -n $reliability_pid ]]; then
    report "$reliability_pid" "$reliability_log" "crash and fault suites (tests/reliability)"
fi
if [[ -n $compat_pid ]]; then
    report "$compat_pid" "$compat_log" "devhost and app-loading tests on Python $compat_version"
fi
exit "$status"
