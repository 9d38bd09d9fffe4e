#!/usr/bin/env bash
# Generate the Python code of every .proto under protos/: scripts/protos.sh [OUT_DIR]
#
# Writes next to the sources by default (`make protos`); the freshness test
# passes a temporary folder and compares the two.
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

OUT="${1:-$ROOT}"
cd "$ROOT"
mapfile -t sources < <(find protos -name '*.proto' | sort)
[[ ${#sources[@]} -gt 0 ]] || die "no .proto file under protos/"

log="$(mktemp)"
trap 'rm -f "$log"' EXIT
# The mypy plugins are found on PATH.
PATH="$VENV/bin:$PATH" "$VENV/bin/python" -m grpc_tools.protoc -I . \
    --python_out="$OUT" --grpc_python_out="$OUT" \
    --mypy_out="$OUT" --mypy_grpc_out="$OUT" \
    "${sources[@]}" >"$log" 2>&1 || {
    cat "$log" >&2
    die "protoc failed"
}
