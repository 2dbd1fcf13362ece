#!/usr/bin/env bash
# Bootstrap SQL Fleet on this machine: system ODBC packages (when root), a virtual environment and
# the Python packages. Safe to run any number of times; it only does what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(unixodbc unixodbc-dev odbc-postgresql odbc-mariadb libsqliteodbc)

missing=()
for pkg in "${APT_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if ((${#missing[@]})); then
    if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null; then
        echo "bootstrap: installing ${missing[*]}" >&2
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
    else
        echo "bootstrap: missing system packages: ${missing[*]} (install them as root)" >&2
    fi
fi

PYTHON=${PYTHON:-python3}
if [[ ! -x .venv/bin/python ]]; then
    echo "bootstrap: creating .venv" >&2
    "$PYTHON" -m venv .venv
fi

# Reinstall only when the dependency list changed since the last successful install.
stamp=.venv/.sqlfleet-deps
want=$(sha256sum pyproject.toml | cut -d' ' -f1)
if [[ ! -f $stamp || $(cat "$stamp") != "$want" ]]; then
    echo "bootstrap: installing Python packages" >&2
    .venv/bin/python -m pip install -q --disable-pip-version-check --upgrade pip >/dev/null
    .venv/bin/python -m pip install -q --disable-pip-version-check -e ".[dev]"
    echo "$want" >"$stamp"
fi
