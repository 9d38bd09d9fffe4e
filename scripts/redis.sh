#!/usr/bin/env bash
# A Redis server of the project's own: scripts/redis.sh start|stop|status
#
# Daemonized, bound to 127.0.0.1 on the port of RIVANE_REDIS_URL (default
# 56379), with its files in .data/redis.
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

PORT="$(url_port "${RIVANE_REDIS_URL:-}" 56379)"
DIR="$DATA/redis"
PID_FILE="$DIR/redis.pid"
LOG="$DIR/redis.log"
START_DEADLINE=30

require_commands redis-server=redis-server redis-cli=redis-tools

is_ready() {
    [[ "$(redis-cli -h 127.0.0.1 -p "$PORT" ping 2>/dev/null)" == "PONG" ]]
}

start() {
    if pid_alive "$PID_FILE" redis-server; then
        wait_for "$START_DEADLINE" "$(<"$PID_FILE")" is_ready || {
            show_log_tail "$LOG"
            die "redis is running but does not answer PING on port $PORT"
        }
        return 0
    fi

    mkdir -p "$DIR"
    : >"$LOG"
    redis-server - >>"$LOG" 2>&1 <<EOF || {
port $PORT
bind 127.0.0.1
daemonize yes
pidfile $PID_FILE
logfile $LOG
dir $DIR
save 60 1000
appendonly no
EOF
        show_log_tail "$LOG"
        die "redis-server did not start"
    }

    # The pid file appears once the daemon has forked.
    wait_for 10 "" test -s "$PID_FILE" || {
        show_log_tail "$LOG"
        die "redis-server wrote no pid file"
    }
    local status=0
    wait_for "$START_DEADLINE" "$(<"$PID_FILE")" is_ready || status=$?
    if ((status != 0)); then
        show_log_tail "$LOG"
        ((status == 2)) && die "redis-server exited while starting"
        die "redis did not answer PING within ${START_DEADLINE}s"
    fi
}

stop() {
    stop_pid_file "$PID_FILE" 30 redis-server
}

status() {
    if pid_alive "$PID_FILE" redis-server && is_ready; then
        echo "redis: running on 127.0.0.1:$PORT (pid $(<"$PID_FILE"))"
    else
        echo "redis: stopped"
        return 3
    fi
}

case "${1:-}" in
start) start ;;
stop) stop ;;
status) status ;;
*) die "usage: $0 start|stop|status" ;;
esac
