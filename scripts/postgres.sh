#!/usr/bin/env bash
# A PostgreSQL cluster of the project's own: scripts/postgres.sh start|stop|status
#
# The cluster lives in .data/postgres (data/, run/ for the socket, postgres.log),
# listens on 127.0.0.1 only, trusts local connections and holds the role
# `rivane` with the databases `rivane` and `rivane_test`. The port is the one
# of RIVANE_DATABASE_URL (default 55432).
#
# PostgreSQL refuses to run as root, so under root the cluster belongs to the
# `postgres` system user. When that user cannot reach .data (a checkout under
# /root, say) or the socket path would be too long, the cluster is kept under
# /var/tmp and .data/postgres is a link to it.
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

PORT="$(url_port "${RIVANE_DATABASE_URL:-}" 55432)"
ROLE="rivane"
DATABASES=(rivane rivane_test)
START_DEADLINE=60

find_pg_bin() {
    if [[ -n "${RIVANE_PG_BIN:-}" ]]; then
        echo "$RIVANE_PG_BIN"
        return
    fi
    local newest
    newest="$(printf '%s\n' /usr/lib/postgresql/*/bin | sort -V | tail -n 1)"
    if [[ -n "$newest" && -x "$newest/initdb" ]]; then
        echo "$newest"
    elif command -v initdb >/dev/null 2>&1; then
        dirname "$(command -v initdb)"
    fi
}

PG_BIN="$(find_pg_bin)"
if [[ -z "$PG_BIN" ]]; then
    echo "installing postgresql with apt-get" >&2
    apt_install postgresql
    PG_BIN="$(find_pg_bin)"
    [[ -n "$PG_BIN" ]] || die "PostgreSQL is installed but no initdb was found"
fi
export PATH="$PG_BIN:$PATH"

RUN_AS_POSTGRES=""
if [[ $(id -u) -eq 0 ]]; then
    id postgres >/dev/null 2>&1 ||
        die "no 'postgres' system user to own the cluster (install postgresql)"
    RUN_AS_POSTGRES=1
fi

# Run a command as the owner of the cluster, from a folder it can read.
as_owner() {
    if [[ -n "$RUN_AS_POSTGRES" ]]; then
        (cd / && runuser -u postgres -- "$@")
    else
        (cd / && "$@")
    fi
}

# The folder that holds the cluster: .data/postgres or the folder it links to.
cluster_base() {
    local base="$DATA/postgres"
    if [[ -L "$base" ]]; then
        readlink -f "$base"
        return
    fi
    local socket="$base/run/.s.PGSQL.$PORT"
    local reachable=1
    if [[ -n "$RUN_AS_POSTGRES" ]]; then
        runuser -u postgres -- test -x "$DATA" 2>/dev/null || reachable=""
    fi
    # The socket path must fit in sun_path (108 bytes on Linux).
    if [[ -z "$reachable" || ${#socket} -gt 100 ]]; then
        local key
        key="$(printf '%s' "$ROOT" | cksum | cut -d ' ' -f 1)"
        local outside="/var/tmp/rivane-postgres-$key"
        mkdir -p "$outside"
        ln -sfn "$outside" "$base"
        echo "$outside"
        return
    fi
    echo "$base"
}

mkdir -p "$DATA"
BASE="$(cluster_base)"
PGDATA_DIR="$BASE/data"
SOCKET_DIR="$BASE/run"
LOG="$BASE/postgres.log"

is_running() {
    [[ -s "$PGDATA_DIR/PG_VERSION" ]] && as_owner pg_ctl status -D "$PGDATA_DIR" >/dev/null 2>&1
}

is_ready() {
    pg_isready -q -h "$SOCKET_DIR" -p "$PORT" -U postgres -d postgres
}

psql_admin() {
    psql -X -q -v ON_ERROR_STOP=1 -h "$SOCKET_DIR" -p "$PORT" -U postgres -d postgres
}

prepare_folders() {
    mkdir -p "$BASE" "$SOCKET_DIR"
    if [[ -n "$RUN_AS_POSTGRES" && "$(stat -c %U "$BASE")" != "postgres" ]]; then
        chown -R postgres:postgres "$BASE"
    fi
    chmod 700 "$BASE"
    if [[ -n "$RUN_AS_POSTGRES" ]]; then
        chown postgres:postgres "$SOCKET_DIR"
        # Other users (root's psql included) reach the socket through this.
        chmod 711 "$BASE"
    fi
}

init_cluster() {
    [[ -s "$PGDATA_DIR/PG_VERSION" ]] && return 0
    local log="$BASE/initdb.log"
    rm -rf "$PGDATA_DIR"
    as_owner initdb -D "$PGDATA_DIR" -U postgres --auth=trust -E UTF8 --locale=C \
        --no-sync >"$log" 2>&1 || {
        show_log_tail "$log"
        die "initdb failed"
    }
    rm -f "$log"
    echo "include_if_exists = 'rivane.conf'" >>"$PGDATA_DIR/postgresql.conf"
}

write_settings() {
    local conf="$PGDATA_DIR/rivane.conf"
    cat >"$conf" <<EOF
# Written by scripts/postgres.sh at every start.
listen_addresses = '127.0.0.1'
port = $PORT
unix_socket_directories = '$SOCKET_DIR'
max_connections = 200
EOF
    [[ -n "$RUN_AS_POSTGRES" ]] && chown postgres:postgres "$conf"
    return 0
}

ensure_databases() {
    local names
    names="$(printf "'%s'," "${DATABASES[@]}")"
    psql_admin <<EOF >/dev/null
SELECT format('CREATE ROLE %I LOGIN CREATEDB', '$ROLE')
WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '$ROLE')\\gexec
SELECT format('CREATE DATABASE %I OWNER %I', name, '$ROLE')
FROM unnest(ARRAY[${names%,}]) AS name
WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = name)\\gexec
EOF
}

start() {
    if is_running; then
        is_ready || wait_for "$START_DEADLINE" "" is_ready || {
            show_log_tail "$LOG"
            die "postgres is running but not accepting connections on port $PORT"
        }
        ensure_databases
        return 0
    fi

    prepare_folders
    init_cluster
    write_settings
    as_owner pg_ctl start -W -D "$PGDATA_DIR" -l "$LOG" >/dev/null

    # pg_ctl returns at once; readiness is what pg_isready says.
    local deadline=$((SECONDS + START_DEADLINE)) grace=$((SECONDS + 3))
    until is_ready; do
        if ((SECONDS >= grace)) && ! is_running; then
            show_log_tail "$LOG"
            die "postgres exited while starting"
        fi
        if ((SECONDS >= deadline)); then
            show_log_tail "$LOG"
            die "postgres did not accept connections within ${START_DEADLINE}s"
        fi
        sleep 0.2
    done
    ensure_databases
}

stop() {
    is_running || return 0
    as_owner pg_ctl stop -D "$PGDATA_DIR" -m fast -w -t 60 >/dev/null || {
        show_log_tail "$LOG"
        die "postgres did not stop"
    }
}

status() {
    if is_running && is_ready; then
        echo "postgres: running on 127.0.0.1:$PORT (data in $PGDATA_DIR)"
    else
        echo "postgres: stopped"
        return 3
    fi
}

case "${1:-}" in
start) start ;;
stop) stop ;;
status) status ;;
*) die "usage: $0 start|stop|status" ;;
esac
