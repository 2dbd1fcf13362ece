#!/usr/bin/env bash
# Static checks (also run by the test suite: tests/test_static_checks.py): lint, format, types.
set -euo pipefail
cd "$(dirname "$0")/.."
.venv/bin/ruff check .
.venv/bin/ruff format --check .
.venv/bin/mypy
