#!/usr/bin/env bash
# Everything measured about speed and survival, in one command (issue 6):
#   1. the reliability suites: crash (SIGKILL x 20), faults (PostgreSQL and job database outages,
#      hanging targets, wrong passwords), bad input (schemathesis, SQL injection), secrets scans;
#   2. the benchmarks: SQL Fleet against a thread-pool baseline (bench/fleet.py), and the local
#      host's durable engine alone (bench/devhost_fanout.py).
# Extra arguments go to bench/fleet.py (e.g. --sqlite 100 1000 --postgresql 100).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
.venv/bin/python -m pytest -q tests/reliability tests/badinput
.venv/bin/python bench/fleet.py "$@"
.venv/bin/python bench/devhost_fanout.py
