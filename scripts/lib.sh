# shellcheck shell=bash
# Shared helpers of the scripts that run the local stack; sourced, never run.
#
# Every script is quiet when things go well and, when they do not, says what
# failed and prints the end of the log that tells why.

# shellcheck disable=SC2034 # the scripts that source this file use them
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DATA="$ROOT/.data"
CACHE="$ROOT/.cache"
VENV="$ROOT/.venv"

die() {
    echo "error: $*" >&2
    exit 1
}

# Print the last lines of a log to stderr, for a failure message.
show_log_tail() {
    local log="$1" lines="${2:-40}"
    if [[ -s "$log" ]]; then
        echo "---- last $lines lines of $log ----" >&2
        tail -n "$lines" "$log" >&2
        echo "----" >&2
    else
        echo "($log is empty or missing)" >&2
    fi
}

# Run a command as root: directly when we are root, through sudo otherwise.
as_root() {
    if [[ $(id -u) -eq 0 ]]; then
        "$@"
    else
        sudo "$@"
    fi
}

_apt_updated=""

# Install Debian packages (a no-op for those already there).
apt_install() {
    command -v apt-get >/dev/null 2>&1 || die "need $* but there is no apt-get"
    local log
    log="$(mktemp)"
    if [[ -z "$_apt_updated" ]]; then
        as_root apt-get update >"$log" 2>&1 || {
            show_log_tail "$log"
            die "apt-get update failed"
        }
        _apt_updated=1
    fi
    as_root env DEBIAN_FRONTEND=noninteractive \
        apt-get install -y --no-install-recommends "$@" >"$log" 2>&1 || {
        show_log_tail "$log"
        die "apt-get install $* failed"
    }
    rm -f "$log"
}

# Install Debian packages for the commands that are missing.
# Arguments are COMMAND=PACKAGE[,PACKAGE...] pairs.
require_commands() {
    local pair cmd packages missing=()
    for pair in "$@"; do
        cmd="${pair%%=*}"
        if ! command -v "$cmd" >/dev/null 2>&1; then
            IFS=, read -ra packages <<<"${pair#*=}"
            missing+=("${packages[@]}")
        fi
    done
    [[ ${#missing[@]} -eq 0 ]] && return 0
    echo "installing ${missing[*]} with apt-get" >&2
    apt_install "${missing[@]}"
}

# The port of a URL such as postgresql+asyncpg://user@host:5432/db, or DEFAULT.
url_port() {
    local url="$1" default="$2" hostport
    hostport="${url#*://}"
    hostport="${hostport#*@}"
    hostport="${hostport%%/*}"
    if [[ "$hostport" =~ :([0-9]+)$ ]]; then
        echo "${BASH_REMATCH[1]}"
    else
        echo "$default"
    fi
}

# True when PID names a live process; a zombie left for a parent that never
# reaps it counts as gone.
proc_alive() {
    local pid="$1" stat
    [[ "$pid" =~ ^[0-9]+$ ]] || return 1
    stat="$(cat "/proc/$pid/stat" 2>/dev/null)" || return 1
    stat="${stat##*) }"
    [[ "${stat:0:1}" != "Z" ]]
}

# Poll CHECK (a command) every 0.2 s until it succeeds or SECONDS_ have passed.
# Stops early, failing, when the process PID (if not empty) has exited.
wait_for() {
    local seconds_="$1" pid="$2"
    shift 2
    local deadline=$((SECONDS + seconds_))
    until "$@" >/dev/null 2>&1; do
        if [[ -n "$pid" ]] && ! proc_alive "$pid"; then
            return 2
        fi
        if ((SECONDS >= deadline)); then
            return 1
        fi
        sleep 0.2
    done
}

# True when the pid in FILE names a live process whose command line contains
# PATTERN (when given), so that a stale file naming a reused pid does not count.
pid_alive() {
    local file="$1" pattern="${2:-}" pid
    [[ -s "$file" ]] || return 1
    pid="$(<"$file")"
    proc_alive "$pid" || return 1
    [[ -z "$pattern" ]] && return 0
    tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "$pattern"
}

# Send TERM to the pid in FILE, wait up to SECONDS_ for it to exit, then KILL.
# PATTERN is as for pid_alive.
stop_pid_file() {
    local file="$1" seconds_="${2:-30}" pattern="${3:-}" pid
    pid_alive "$file" "$pattern" || {
        rm -f "$file"
        return 0
    }
    pid="$(<"$file")"
    kill -TERM "$pid" 2>/dev/null || true
    local deadline=$((SECONDS + seconds_))
    while proc_alive "$pid"; do
        if ((SECONDS >= deadline)); then
            echo "pid $pid did not stop within ${seconds_}s; killing it" >&2
            kill -KILL "$pid" 2>/dev/null || true
            break
        fi
        sleep 0.2
    done
    rm -f "$file"
}

# PID and all of its descendants, read from /proc.
process_tree() {
    local root="$1" stat pid ppid
    local -A children=()
    for stat in /proc/[0-9]*/stat; do
        stat="$(cat "$stat" 2>/dev/null)" || continue
        pid="${stat%% *}"
        stat="${stat##*) }"
        ppid="$(cut -d ' ' -f 2 <<<"$stat")"
        children[$ppid]+="$pid "
    done
    local queue=("$root") next
    while ((${#queue[@]} > 0)); do
        next="${queue[0]}"
        queue=("${queue[@]:1}")
        echo "$next"
        for pid in ${children[$next]:-}; do
            queue+=("$pid")
        done
    done
}
