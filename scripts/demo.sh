#!/usr/bin/env bash
# Bootstrap, then run the SQL Fleet demo on embedded defaults (local host, SQLite task hub and
# job database in ./.sqlfleet, local target databases). Extra arguments go to `sqlfleet demo`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
exec .venv/bin/sqlfleet demo "$@"
