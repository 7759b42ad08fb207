#!/usr/bin/env bash
# Measures unary gRPC throughput of a running loopbackd with h2load
# (nghttp2-client): OrganizationService/GetOrganization and
# AuthorityService/Authorize against grpc.health.v1.Health/Check on the
# same server in the same run, so the ratio says what our handlers cost
# next to the cheapest call the server has.
#
#   scripts/bench-grpc.sh [LOOPBACKD_BINARY]    (default: target/release/loopbackd)
#
# Environment: CALLS (default 20000), CONNECTIONS (4), STREAMS (16).
# h2load counts a gRPC error inside HTTP 200 as success, so every call is
# first made once with curl and its grpc-status checked.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BIN="${1:-$ROOT/target/release/loopbackd}"
CALLS="${CALLS:-20000}"
CONNECTIONS="${CONNECTIONS:-4}"
STREAMS="${STREAMS:-16}"
command -v h2load >/dev/null || { echo "h2load is missing: apt-get install nghttp2-client" >&2; exit 1; }
GRPCURL="$(command -v grpcurl || echo "$ROOT/.venv/bin/grpcurl")"
PY="$(command -v python3)"
WORK="$(mktemp -d)"
PORT="$("$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
ADDR="127.0.0.1:$PORT"
"$BIN" --listen "$ADDR" --data-dir "$WORK/data" >"$WORK/log" 2>&1 &
PID=$!
trap 'kill $PID 2>/dev/null; wait $PID 2>/dev/null; rm -rf "$WORK"' EXIT
for _ in $(seq 100); do "$GRPCURL" -plaintext "$ADDR" list >/dev/null 2>&1 && break; sleep 0.2; done
ACCOUNT="$("$BIN" --data-dir "$WORK/data" token --account bench@example.com)"
SERVICE="$("$BIN" --data-dir "$WORK/data" token --service bench)"
ORG="$("$GRPCURL" -plaintext -H "authorization: Bearer $ACCOUNT" -d '{"organization":{"display_name":"Bench"}}' \
  "$ADDR" loopback.orgcore.v1.OrganizationService/CreateOrganization | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["organization"]["name"])')"

# gRPC frames (flag, length, protobuf) for each request.
"$PY" - "$WORK" "$ORG" <<'PY'
import struct, sys
work, org = sys.argv[1], sys.argv[2]
def s(field, v): b = v.encode(); return bytes([field << 3 | 2, len(b)]) + b
def msg(field, m): return bytes([field << 3 | 2, len(m)]) + m
def v(field, n): return bytes([field << 3, n])
def frame(m): return b"\0" + struct.pack(">I", len(m)) + m
open(f"{work}/health.bin", "wb").write(frame(b""))
open(f"{work}/get.bin", "wb").write(frame(s(1, org)))
principal = v(1, 1) + s(2, "sub-bench@example.com") + s(3, "bench@example.com")
open(f"{work}/authorize.bin", "wb").write(frame(msg(1, principal) + s(2, org) + s(3, "orgcore.projects.list") + v(4, 1)))
PY

check() { # path token body: the call must answer grpc-status 0
  local status
  status="$(curl -s --http2-prior-knowledge -o /dev/null -D - -H 'content-type: application/grpc' -H 'te: trailers' \
    -H "authorization: Bearer $2" --data-binary "@$WORK/$3" "http://$ADDR$1" | tr -d '\r' | awk -F': ' '/^grpc-status/ {print $2}')"
  [[ "$status" == 0 ]] || { echo "$1 answered grpc-status ${status:-none}" >&2; exit 1; }
}
run() { # path token body -> "calls/s min mean"
  h2load -n "$CALLS" -c "$CONNECTIONS" -m "$STREAMS" -H 'content-type: application/grpc' -H 'te: trailers' \
    -H "authorization: Bearer $2" -d "$WORK/$3" "http://$ADDR$1" \
    | awk '/^finished in/ {rps=$4} /^time for request:/ {min=$4; mean=$6} END {printf "%s req/s, latency min %s mean %s\n", rps, min, mean}'
}
check /grpc.health.v1.Health/Check "$ACCOUNT" health.bin
check /loopback.orgcore.v1.OrganizationService/GetOrganization "$ACCOUNT" get.bin
check /loopback.orgcore.v1.AuthorityService/Authorize "$SERVICE" authorize.bin
echo "calls=$CALLS connections=$CONNECTIONS streams/connection=$STREAMS binary=$BIN"
echo "grpc.health Check:  $(run /grpc.health.v1.Health/Check "$ACCOUNT" health.bin)"
echo "GetOrganization:    $(run /loopback.orgcore.v1.OrganizationService/GetOrganization "$ACCOUNT" get.bin)"
echo "Authorize:          $(run /loopback.orgcore.v1.AuthorityService/Authorize "$SERVICE" authorize.bin)"
