#!/usr/bin/env bash
# The whole local stack: scripts/stack.sh COMMAND
#
#   infra-up    venv, PostgreSQL, Redis and Kafka, and the local admin token
#   infra-down  stop Kafka, Redis and PostgreSQL
#   run         infra-up, migrate, then the Procfile in the foreground
#   up          the same in the background; returns once /healthz answers 200
#   down        stop what `up` started, then the infrastructure
#   status      one line per part
#
# The Makefile calls this; every command can run again safely.
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

SCRIPTS="$ROOT/scripts"
LOG_DIR="$DATA/logs"
PROCFILE="${RIVANE_PROCFILE:-$ROOT/Procfile}"
APP_PID_FILE="$DATA/run/honcho.pid"
APP_LOG="$LOG_DIR/app.log"
UP_DEADLINE="${RIVANE_UP_DEADLINE:-90}"
GATEWAY_URL="http://${RIVANE_GATEWAY_HOST:-127.0.0.1}:${RIVANE_GATEWAY_PORT:-8080}"
IDENTITY_ADDR="${RIVANE_IDENTITY_ADDR:-127.0.0.1:50061}"
REVOCATION_ADDR="${RIVANE_REVOCATION_ADDR:-127.0.0.1:50062}"
GROUP_MAPPING_ADDR="${RIVANE_GROUP_MAPPING_ADDR:-127.0.0.1:50063}"
ERROR_TRACKER_ADDR="${RIVANE_ERROR_TRACKER_ADDR:-127.0.0.1:50064}"

# Write a random admin credential once (rvn_admin_..., the format of every
# Rivane admin credential); the gateway reads it in the dev environment.
admin_token() {
    local file="${RIVANE_ADMIN_TOKEN_FILE:-.data/admin-token}"
    [[ "$file" == /* ]] || file="$ROOT/$file"
    [[ -s "$file" ]] && return 0
    mkdir -p "$(dirname "$file")"
    (
        umask 077
        (cd "$ROOT" && "$VENV/bin/python" -c \
            'from services.common.bearer_tokens import CredentialKind, mint; print(mint(CredentialKind.ADMIN))') \
            >"$file.tmp"
        mv "$file.tmp" "$file"
    )
    chmod 600 "$file"
}

infra_up() {
    "$SCRIPTS/venv.sh"
    "$SCRIPTS/postgres.sh" start
    "$SCRIPTS/redis.sh" start
    "$SCRIPTS/kafka.sh" start
    admin_token
}

infra_down() {
    "$SCRIPTS/kafka.sh" stop
    "$SCRIPTS/redis.sh" stop
    "$SCRIPTS/postgres.sh" stop
}

# Bring the database to the newest schema, once the migrations exist.
migrate() {
    [[ -f "$ROOT/services/identity/migrate.py" ]] || return 0
    mkdir -p "$LOG_DIR"
    local log="$LOG_DIR/migrate.log"
    (cd "$ROOT" && "$VENV/bin/python" -m services.identity.migrate) >"$log" 2>&1 || {
        show_log_tail "$log"
        die "database migration failed"
    }
    (cd "$ROOT" && "$VENV/bin/python" -m services.session_revocation.migrate) >>"$log" 2>&1 || {
        show_log_tail "$log"
        die "migrating the session revocation tables failed"
    }
    (cd "$ROOT" && "$VENV/bin/python" -m services.group_mapping.migrate) >>"$log" 2>&1 || {
        show_log_tail "$log"
        die "migrating the group-mapping tables failed"
    }
    (cd "$ROOT" && "$VENV/bin/python" -m services.error_tracker.migrate) >>"$log" 2>&1 || {
        show_log_tail "$log"
        die "migrating the error-tracker tables failed"
    }
}

print_welcome() {
    cat <<EOF
SCIM base URL: $GATEWAY_URL/scim/v2
Bearer token for an org: .venv/bin/scimctl token create --org acme
EOF
}

run() {
    infra_up
    migrate
    print_welcome
    cd "$ROOT"
    PYTHONUNBUFFERED=1 exec "$VENV/bin/honcho" start -f "$PROCFILE" -d "$ROOT"
}

app_running() {
    pid_alive "$APP_PID_FILE" honcho
}

# A port a service could not bind was most likely drawn by an outgoing
# connection of the stack itself (to Kafka, PostgreSQL, Redis): say so.
explain_taken_port() {
    grep -qE "Address already in use|Failed to bind" "$1" 2>/dev/null || return 0
    local low high
    read -r low high </proc/sys/net/ipv4/ip_local_port_range 2>/dev/null ||
        { low=32768; high=60999; }
    echo "A port of the stack was in use. Outgoing connections take their local" \
        "ports from $low-$high (the kernel's ephemeral range) and hold one for" \
        "about a minute after closing: wait and run it again, or move the" \
        "RIVANE_* ports below $low." >&2
}

up() {
    infra_up
    if ! app_running; then
        migrate
        mkdir -p "$LOG_DIR" "$(dirname "$APP_PID_FILE")"
        # A session of its own, so that `down` can stop the whole group.
        (
            cd "$ROOT"
            PYTHONUNBUFFERED=1 exec setsid "$VENV/bin/honcho" start -f "$PROCFILE" -d "$ROOT" \
                >"$APP_LOG" 2>&1 </dev/null
        ) &
        echo $! >"$APP_PID_FILE"
    fi
    # Up means the services listen and the gateway answers /healthz.
    if ! "$VENV/bin/python" "$SCRIPTS/wait_http.py" "$GATEWAY_URL/healthz" \
        --tcp "$IDENTITY_ADDR" --tcp "$REVOCATION_ADDR" --tcp "$GROUP_MAPPING_ADDR" \
        --tcp "$ERROR_TRACKER_ADDR" \
        --deadline "$UP_DEADLINE" --pid "$(<"$APP_PID_FILE")" ||
        ! app_running; then
        show_log_tail "$APP_LOG" 60
        app_down
        explain_taken_port "$APP_LOG"
        die "the stack did not come up; the log above tells why ($APP_LOG)"
    fi
    print_welcome
    echo "Logs: $APP_LOG; stop with 'make down'."
}

app_down() {
    app_running || {
        rm -f "$APP_PID_FILE"
        return 0
    }
    local pid tree=() left=()
    pid="$(<"$APP_PID_FILE")"
    mapfile -t tree < <(process_tree "$pid")
    # honcho passes TERM on to each process and waits for them.
    kill -TERM "$pid" 2>/dev/null || true
    local deadline=$((SECONDS + 20))
    while ((SECONDS < deadline)); do
        left=()
        for pid in "${tree[@]}"; do
            proc_alive "$pid" && left+=("$pid")
        done
        ((${#left[@]} == 0)) && break
        sleep 0.2
    done
    if ((${#left[@]} > 0)); then
        echo "processes ${left[*]} did not stop within 20s; killing them" >&2
        kill -KILL "${left[@]}" 2>/dev/null || true
    fi
    rm -f "$APP_PID_FILE"
}

down() {
    app_down
    infra_down
}

status() {
    local code=0
    "$SCRIPTS/postgres.sh" status || code=1
    "$SCRIPTS/redis.sh" status || code=1
    "$SCRIPTS/kafka.sh" status || code=1
    if app_running; then
        echo "apps: running under honcho (pid $(<"$APP_PID_FILE")), log $APP_LOG"
    else
        echo "apps: stopped"
    fi
    return "$code"
}

case "${1:-}" in
infra-up) infra_up ;;
infra-down) infra_down ;;
run) run ;;
up) up ;;
down) down ;;
status) status ;;
admin-token) admin_token ;;
*) die "usage: $0 infra-up|infra-down|run|up|down|status|admin-token" ;;
esac
