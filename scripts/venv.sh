#!/usr/bin/env bash
# Create .venv with Python 3.11 and sync it to requirements.lock.
#
# Runs again only when requirements.lock or pyproject.toml is newer than the
# stamp left by the last sync. RIVANE_PYTHON names another interpreter.
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

PYTHON="${RIVANE_PYTHON:-python3.11}"
LOCK="$ROOT/requirements.lock"
STAMP="$VENV/.synced"

is_fresh() {
    [[ -x "$VENV/bin/python" && -f "$STAMP" ]] &&
        [[ ! "$LOCK" -nt "$STAMP" && ! "$ROOT/pyproject.toml" -nt "$STAMP" ]]
}

create_venv() {
    if ! command -v "$PYTHON" >/dev/null 2>&1; then
        echo "installing python3.11 with apt-get" >&2
        apt_install python3.11 python3.11-venv
    fi
    # Debian's interpreter lacks ensurepip until python3.11-venv is installed.
    if ! "$PYTHON" -m venv "$VENV" >"$LOG" 2>&1; then
        rm -rf "$VENV"
        apt_install python3.11-venv
        "$PYTHON" -m venv "$VENV" >"$LOG" 2>&1 || {
            show_log_tail "$LOG"
            die "could not create $VENV with $PYTHON"
        }
    fi
}

is_fresh && exit 0

mkdir -p "$DATA/logs"
LOG="$DATA/logs/venv.log"
[[ -x "$VENV/bin/python" ]] || create_venv

# The lock pins uv itself; bootstrap that version with pip.
uv_version="$(sed -n 's/^uv==\([^ ]*\).*/\1/p' "$LOCK")"
if ! "$VENV/bin/python" -m uv --version >/dev/null 2>&1; then
    "$VENV/bin/python" -m pip install -q --disable-pip-version-check \
        "uv${uv_version:+==$uv_version}" >"$LOG" 2>&1 || {
        show_log_tail "$LOG"
        die "pip could not install uv"
    }
fi

{
    VIRTUAL_ENV="$VENV" "$VENV/bin/uv" pip sync --quiet "$LOCK" &&
        VIRTUAL_ENV="$VENV" "$VENV/bin/uv" pip install --quiet --no-deps -e "$ROOT"
} >"$LOG" 2>&1 || {
    show_log_tail "$LOG"
    die "could not sync $VENV to requirements.lock"
}
touch "$STAMP"
