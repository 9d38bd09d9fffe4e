#!/usr/bin/env bash
# A single-node Apache Kafka (KRaft, broker and controller in one JVM) of the
# project's own: scripts/kafka.sh start|stop|status
#
# The jars come from Maven Central through scripts/kafka/pom.xml into
# .cache/kafka/libs; the broker keeps its configuration, data and logs in
# .data/kafka. Clients use the port of RIVANE_KAFKA_BOOTSTRAP (default
# 59092); the controller listens on the next port unless
# RIVANE_KAFKA_CONTROLLER_PORT says otherwise.
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

PORT="$(url_port "${RIVANE_KAFKA_BOOTSTRAP:-}" 59092)"
CONTROLLER_PORT="${RIVANE_KAFKA_CONTROLLER_PORT:-$((PORT + 1))}"
HEAP="${RIVANE_KAFKA_HEAP:-512m}"
TOPICS=(scim.user_provisioned scim.user_updated scim.user_deprovisioned)
START_DEADLINE=120

POM="$ROOT/scripts/kafka/pom.xml"
LOG_CONFIG="$ROOT/scripts/kafka/log4j2.xml"
LIBS="$CACHE/kafka/libs"
MAVEN_REPO="$CACHE/m2"
DIR="$DATA/kafka"
PROPERTIES="$DIR/server.properties"
LOG_DIR="$DIR/logs"
PID_FILE="$DIR/kafka.pid"
CONSOLE_LOG="$LOG_DIR/console.log"

require_commands java=openjdk-17-jre-headless

check_java() {
    local version
    version="$(java -version 2>&1 | head -n 1 | sed -E 's/.*version "([0-9]+).*/\1/')"
    [[ "$version" =~ ^[0-9]+$ && "$version" -ge 17 ]] ||
        die "Kafka 4 needs Java 17 or newer; 'java' is version ${version:-unknown}"
}

# Copy the broker's runtime jars into .cache/kafka/libs, once per pom.xml.
resolve_jars() {
    local stamp="$LIBS/.pom.sha256" want
    want="$(sha256sum "$POM" | cut -d ' ' -f 1)"
    [[ -f "$stamp" && "$(<"$stamp")" == "$want" ]] && return 0

    require_commands mvn=maven
    echo "resolving the Kafka jars with Maven (once)" >&2
    local staging="$LIBS.partial" log="$CACHE/kafka/maven.log"
    mkdir -p "$CACHE/kafka"
    rm -rf "$staging"
    mvn -B -q -Dstyle.color=never -Dmaven.repo.local="$MAVEN_REPO" -f "$POM" \
        dependency:copy-dependencies -Dkafka.libs="$staging" >"$log" 2>&1 || {
        show_log_tail "$log"
        die "Maven could not resolve the Kafka jars"
    }
    echo "$want" >"$staging/.pom.sha256"
    rm -rf "$LIBS"
    mv "$staging" "$LIBS"
}

write_properties() {
    mkdir -p "$DIR/data" "$LOG_DIR"
    cat >"$PROPERTIES" <<EOF
# Written by scripts/kafka.sh at every start.
process.roles=broker,controller
node.id=1
controller.quorum.bootstrap.servers=127.0.0.1:$CONTROLLER_PORT
listeners=PLAINTEXT://127.0.0.1:$PORT,CONTROLLER://127.0.0.1:$CONTROLLER_PORT
advertised.listeners=PLAINTEXT://127.0.0.1:$PORT,CONTROLLER://127.0.0.1:$CONTROLLER_PORT
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
log.dirs=$DIR/data

num.partitions=3
default.replication.factor=1
auto.create.topics.enable=true

# One node: every internal topic has a single replica.
offsets.topic.replication.factor=1
offsets.topic.num.partitions=3
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1

# Consumers in tests join their group at once instead of after 3 s.
group.initial.rebalance.delay.ms=0
EOF
}

JAVA=(
    java -Xms"$HEAP" -Xmx"$HEAP" -XX:+UseG1GC -XX:MaxGCPauseMillis=20
    -XX:+ExitOnOutOfMemoryError -Djava.awt.headless=true
    -Dlog4j2.configurationFile="$LOG_CONFIG" -Dkafka.logs.dir="$LOG_DIR"
    -cp "$LIBS/*"
)

# Format the log folder once; a formatted one is left as it is.
format_storage() {
    [[ -s "$DIR/data/meta.properties" ]] && return 0
    if [[ ! -s "$DIR/cluster-id" ]]; then
        "${JAVA[@]}" kafka.tools.StorageTool random-uuid >"$DIR/cluster-id.tmp" \
            2>"$LOG_DIR/format.log" || {
            show_log_tail "$LOG_DIR/format.log"
            die "could not make a Kafka cluster id"
        }
        mv "$DIR/cluster-id.tmp" "$DIR/cluster-id"
    fi
    "${JAVA[@]}" kafka.tools.StorageTool format -t "$(<"$DIR/cluster-id")" \
        -c "$PROPERTIES" --standalone --ignore-formatted >"$LOG_DIR/format.log" 2>&1 || {
        show_log_tail "$LOG_DIR/format.log"
        die "could not format the Kafka log folder $DIR/data"
    }
}

show_logs() {
    show_log_tail "$CONSOLE_LOG" 20
    show_log_tail "$LOG_DIR/server.log" 40
    # The cause is often far above the shutdown messages that end the log.
    if grep -qE '^\[[^]]*\] (ERROR|FATAL) ' "$LOG_DIR/server.log" 2>/dev/null; then
        echo "---- first errors in $LOG_DIR/server.log ----" >&2
        grep -m 5 -E '^\[[^]]*\] (ERROR|FATAL) ' "$LOG_DIR/server.log" >&2
        echo "----" >&2
    fi
}

# Wait for an admin call to succeed, then create the SCIM topics.
await_ready() {
    local pid="$1" python="$VENV/bin/python" args=()
    [[ -x "$python" ]] || die "no $python: run 'make venv' first"
    local topic
    for topic in "${TOPICS[@]}"; do
        args+=(--topic "$topic")
    done
    "$python" "$ROOT/scripts/wait_kafka.py" --bootstrap "127.0.0.1:$PORT" \
        --deadline "$START_DEADLINE" --pid "$pid" --partitions 3 --replication 1 \
        "${args[@]}" || {
        show_logs
        die "Kafka on 127.0.0.1:$PORT did not become ready"
    }
}

start() {
    if pid_alive "$PID_FILE" kafka.Kafka; then
        await_ready "$(<"$PID_FILE")"
        return 0
    fi

    check_java
    resolve_jars
    write_properties
    format_storage

    # Each start gets a fresh log, so that a failure shows this run's errors.
    [[ -f "$LOG_DIR/server.log" ]] && mv -f "$LOG_DIR/server.log" "$LOG_DIR/server.log.previous"
    # A session of its own, so that Ctrl-C in a terminal leaves the broker up.
    setsid "${JAVA[@]}" kafka.Kafka "$PROPERTIES" \
        >"$CONSOLE_LOG" 2>&1 </dev/null &
    echo $! >"$PID_FILE"
    await_ready "$(<"$PID_FILE")"
}

stop() {
    stop_pid_file "$PID_FILE" 60 kafka.Kafka
}

status() {
    if pid_alive "$PID_FILE" kafka.Kafka; then
        echo "kafka: running on 127.0.0.1:$PORT (pid $(<"$PID_FILE"))"
    else
        echo "kafka: stopped"
        return 3
    fi
}

case "${1:-}" in
start) start ;;
stop) stop ;;
status) status ;;
*) die "usage: $0 start|stop|status" ;;
esac
