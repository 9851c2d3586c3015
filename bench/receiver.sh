#!/usr/bin/env bash
# Receiver benchmark: a real nats-server process (file store), the real
# cmd/receiver binary, and bench/loadgen sending pre-signed distinct webhooks
# over HTTP, first to the receiver and then, in the same run, to a no-op
# HTTP server in its own process (the ceiling). Prints each round and the
# receiver's peak RSS, and checks that SEAM_EVENTS holds every stored event.
#
#   bench/receiver.sh                 # 5 rounds of 100000 at 64 connections
#   ROUNDS=3 N=50000 C=16 bench/receiver.sh
#   PROFILE=1 bench/receiver.sh       # also CPU profiles of receiver and nats-server
set -euo pipefail
cd "$(dirname "$0")/.."

ROUNDS=${ROUNDS:-5}
N=${N:-100000}
C=${C:-64}
SIZE=${SIZE:-600}
NATS_PORT=${NATS_PORT:-14222}
NATS_MON=${NATS_MON:-18222}
HTTP_PORT=${HTTP_PORT:-18080}
NOOP_PORT=${NOOP_PORT:-18099}
OUT=${OUT:-$(mktemp -d /tmp/receiver-bench.XXXXXX)}
mkdir -p "$OUT"

work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

tags=()
[ "${PROFILE:-}" = 1 ] && tags=(-tags pprof)
go build -o "$work/nats-server" github.com/nats-io/nats-server/v2
if [ -n "${RECEIVER_BIN:-}" ]; then cp "$RECEIVER_BIN" "$work/receiver"; else go build "${tags[@]}" -o "$work/receiver" ./cmd/receiver; fi
go build -o "$work/loadgen" ./bench/loadgen

wait_ok() { # url
  for _ in $(seq 1 200); do
    curl -fsS -o /dev/null "$1" 2>/dev/null && return 0
    sleep 0.05
  done
  echo "not ready: $1" >&2; return 1
}

"$work/nats-server" -a 127.0.0.1 -p "$NATS_PORT" -m "$NATS_MON" -js -sd "$work/js" \
  ${PROFILE:+--profile 18223} >"$OUT/nats.log" 2>&1 &
pids+=($!)
wait_ok "http://127.0.0.1:$NATS_MON/healthz?js-enabled-only=true"

secret="whsec_$(head -c 24 /dev/urandom | base64)"
SEAM_WEBHOOK_SECRET="$secret" NATS_URL="nats://127.0.0.1:$NATS_PORT" HTTP_ADDR="127.0.0.1:$HTTP_PORT" \
  PPROF_ADDR=127.0.0.1:18081 env ${RECEIVER_ENV:-} "$work/receiver" >"$OUT/receiver.log" 2>&1 &
rpid=$!
pids+=($rpid)
wait_ok "http://127.0.0.1:$HTTP_PORT/readyz"

"$work/loadgen" -serve-noop "127.0.0.1:$NOOP_PORT" 2>"$OUT/noop.log" &
noop_pid=$!
pids+=($noop_pid)
for _ in $(seq 1 100); do curl -s -o /dev/null "http://127.0.0.1:$NOOP_PORT/" && break; sleep 0.05; done

# CPU time (user+system, in clock ticks) a process has used so far.
ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
tck=$(getconf CLK_TCK)
nats_pid=${pids[0]}
per_req() { # ticks requests -> µs of CPU per request
  awk -v t="$1" -v n="$2" -v hz="$tck" 'BEGIN { printf "%.1f", t / hz * 1e6 / n }'
}

echo "receiver benchmark: $ROUNDS rounds, $N webhooks (~$SIZE bytes) per target per round, $C connections, $(nproc) cores"
for r in $(seq 1 "$ROUNDS"); do
  echo "--- round $r"
  if [ "${PROFILE:-}" = 1 ] && [ "$r" = "$ROUNDS" ]; then
    curl -s -o "$OUT/receiver.cpu.pprof" "http://127.0.0.1:18081/debug/pprof/profile?seconds=5" &
    curl -s -o "$OUT/nats.cpu.pprof" "http://127.0.0.1:18223/debug/pprof/profile?seconds=5" &
  fi
  r0=$(ticks "$rpid"); n0=$(ticks "$nats_pid"); o0=$(ticks "$noop_pid")
  SEAM_WEBHOOK_SECRET="$secret" "$work/loadgen" -target "http://127.0.0.1:$HTTP_PORT/webhooks/seam" \
    -ceiling "http://127.0.0.1:$NOOP_PORT/" -n "$N" -c "$C" -size "$SIZE"
  sent=$((N + 5000))
  echo "CPU per request: receiver $(per_req $(( $(ticks "$rpid") - r0 )) $sent) µs, nats-server $(per_req $(( $(ticks "$nats_pid") - n0 )) $sent) µs, no-op server $(per_req $(( $(ticks "$noop_pid") - o0 )) $sent) µs"
  wait_jobs=$(jobs -pr | grep -v -x -F -f <(printf '%s\n' "${pids[@]}") || true)
  [ -n "$wait_jobs" ] && wait $wait_jobs
done

echo "--- receiver memory: $(grep -E 'VmHWM|VmRSS' /proc/$rpid/status | tr -s ' \t' ' ' | tr '\n' ' ')"
msgs=$(curl -fsS "http://127.0.0.1:$NATS_MON/jsz?streams=true" | jq '[.account_details[].stream_detail[] | select(.name=="SEAM_EVENTS") | .state.messages] | add')
want=$(( ROUNDS * (N + 5000) ))
echo "--- SEAM_EVENTS holds $msgs messages; sent $want distinct webhooks (including warm-up)"
[ "$msgs" = "$want" ] || { echo "MISMATCH" >&2; exit 1; }
if [ "${PROFILE:-}" = 1 ]; then
  echo "--- profiles in $OUT"
  go tool pprof -top -nodecount=25 "$work/receiver" "$OUT/receiver.cpu.pprof" 2>/dev/null | head -35
fi
