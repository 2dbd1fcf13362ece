#!/usr/bin/env bash
# Bootstrap SQL Fleet on this machine: system ODBC packages (when root), a virtual environment and
# the Python packages, and checkov in .venv-checkov. Safe to run any number of times; it only does
# what is missing.
#
# Python: the newest of the versions Azure Functions offers (3.13, 3.12, 3.11) found on PATH or
# under pyenv, unless PYTHON names one. `.venv` is rebuilt when it holds another version.
# `bootstrap.sh --compat` also builds `.venv-compat` on the oldest of those versions found (other
# than .venv's), where the test command runs the devhost and app-loading tests a second time.
set -euo pipefail
cd "$(dirname "$0")/.."

SUPPORTED=(3.13 3.12 3.11)
# chromium: the monitoring page's tests drive it headless (Playwright, never a downloaded browser).
APT_PACKAGES=(unixodbc unixodbc-dev odbc-postgresql odbc-mariadb libsqliteodbc chromium)

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

# find_python X.Y: a python executable of that version on PATH or under pyenv, or nothing.
find_python() {
    local version=$1 candidate
    local pyenv_root=${PYENV_ROOT:-$HOME/.pyenv}
    for candidate in "$(command -v "python$version" 2>/dev/null || true)" \
        $(ls -d "$pyenv_root"/versions/"$version".*/bin/"python$version" 2>/dev/null | sort -V -r); do
        if [[ -n $candidate && -x $candidate ]] &&
            [[ $("$candidate" -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null) == "$version" ]]; then
            echo "$candidate"
            return
        fi
    done
}

version_of() { "$1" -c 'import sys; print("%d.%d" % sys.version_info[:2])'; }

# make_venv DIR PYTHON: create or rebuild DIR on PYTHON and install the project into it.
make_venv() {
    local dir=$1 python=$2 version
    version=$(version_of "$python")
    if [[ -x $dir/bin/python && $(version_of "$dir/bin/python") != "$version" ]]; then
        echo "bootstrap: $dir holds Python $(version_of "$dir/bin/python"); rebuilding it on $version" >&2
        rm -rf "$dir"
    fi
    if [[ ! -x $dir/bin/python ]]; then
        echo "bootstrap: creating $dir with Python $version ($python)" >&2
        "$python" -m venv "$dir"
    fi
    # Reinstall only when the dependency list changed since the last successful install.
    local stamp=$dir/.sqlfleet-deps want
    want="$version $(sha256sum pyproject.toml | cut -d' ' -f1)"
    if [[ ! -f $stamp || $(cat "$stamp") != "$want" ]]; then
        echo "bootstrap: installing Python packages into $dir" >&2
        "$dir/bin/python" -m pip install -q --disable-pip-version-check --upgrade pip >/dev/null
        "$dir/bin/python" -m pip install -q --disable-pip-version-check -e ".[dev]"
        echo "$want" >"$stamp"
    fi
}

if [[ -n ${PYTHON:-} ]]; then
    main_python=$PYTHON
else
    main_python=""
    for version in "${SUPPORTED[@]}"; do
        main_python=$(find_python "$version")
        [[ -n $main_python ]] && break
    done
    if [[ -z $main_python ]]; then
        main_python=python3
        echo "bootstrap: none of Python ${SUPPORTED[*]} found; trying $(command -v python3)" >&2
    fi
fi
main_version=$(version_of "$main_python")
echo "bootstrap: Python $main_version for .venv ($main_python)" >&2
make_venv .venv "$main_python"

# checkov, for the static checks of infra/*.bicep (tests/deployment/test_bicep.py), in a virtual
# environment of its own: it pins many packages that .venv need not share. Built when missing or
# of another version; a failed install leaves the tests to skip those checks, saying why.
CHECKOV_VERSION=3.3.30
checkov_stamp=.venv-checkov/.sqlfleet-checkov
if [[ ! -f $checkov_stamp || $(cat "$checkov_stamp") != "$CHECKOV_VERSION" ]]; then
    echo "bootstrap: installing checkov $CHECKOV_VERSION into .venv-checkov" >&2
    rm -rf .venv-checkov
    if "$main_python" -m venv .venv-checkov &&
        .venv-checkov/bin/python -m pip install -q --disable-pip-version-check "checkov==$CHECKOV_VERSION"; then
        echo "$CHECKOV_VERSION" >"$checkov_stamp"
    else
        echo "bootstrap: checkov could not be installed; the Bicep checks will be skipped" >&2
        rm -rf .venv-checkov
    fi
fi

if [[ ${1:-} == --compat ]]; then
    compat_python=""
    for ((i = ${#SUPPORTED[@]} - 1; i >= 0; i--)); do
        [[ ${SUPPORTED[i]} == "$main_version" ]] && continue
        compat_python=$(find_python "${SUPPORTED[i]}")
        [[ -n $compat_python ]] && break
    done
    if [[ -n $compat_python ]]; then
        echo "bootstrap: Python $(version_of "$compat_python") for .venv-compat ($compat_python)" >&2
        make_venv .venv-compat "$compat_python"
    else
        echo "bootstrap: no second supported Python found; .venv-compat not built" >&2
        rm -rf .venv-compat
    fi
fi
