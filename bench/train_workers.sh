#!/usr/bin/env bash
# A full `smfg train` of a spec through the service: an smfg-coordinator and N
# smfg-worker processes (one thread each) on 127.0.0.1, the experiment submitted
# and watched with the client (the scripts/demo topology, timed). Prints the
# progress lines with the seconds since submission, then the wall time and the
# load average before and after.
#   WORKERS=4 bench/train_workers.sh configs/three_bus.textproto
# Needs smfg, smfg-coordinator and smfg-worker in $BUILD_DIR (default build).
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${BUILD_DIR:-build}
WORKERS=${WORKERS:-4}
SPEC=${1:-configs/three_bus.textproto}
SMFG="$BUILD_DIR/client/smfg"
RUN_DIR=$(mktemp -d /tmp/smfg-train-workers.XXXXXX)
PIDS=()
stop_all() {
  if [ ${#PIDS[@]} -gt 0 ]; then kill -TERM "${PIDS[@]}" 2>/dev/null || true; fi
  wait 2>/dev/null || true
  rm -rf "$RUN_DIR"
}
trap stop_all EXIT
"$BUILD_DIR/coordinator/smfg-coordinator" --listen=127.0.0.1:0 --data_dir="$RUN_DIR/data" \
  >"$RUN_DIR/coordinator.out" 2>"$RUN_DIR/coordinator.log" &
PIDS+=($!)
ADDRESS=""
for _ in $(seq 600); do
  ADDRESS=$(sed -n 's/^listening on //p' "$RUN_DIR/coordinator.out")
  [ -n "$ADDRESS" ] && break
  sleep 0.1
done
[ -n "$ADDRESS" ] || { cat "$RUN_DIR/coordinator.log" >&2; exit 1; }
for i in $(seq "$WORKERS"); do
  "$BUILD_DIR/follower_workers/smfg-worker" --coordinator="$ADDRESS" --name="worker-$i" \
    --threads=1 2>"$RUN_DIR/worker-$i.log" &
  PIDS+=($!)
done
echo "smfg train $SPEC with $WORKERS workers ($(nproc) cores, load average" \
  "$(cut -d' ' -f1-3 /proc/loadavg))"
start_ns=$(date +%s%N)
ID=$("$SMFG" submit "$SPEC" --coordinator="$ADDRESS" | head -n 1)
"$SMFG" watch "$ID" --coordinator="$ADDRESS" | while IFS= read -r line; do
  printf '%8d s  %s\n' $(( ($(date +%s%N) - start_ns) / 1000000000 )) "$line"
done
"$SMFG" results "$ID" --coordinator="$ADDRESS" --out "$RUN_DIR/results" > /dev/null
echo "done in $(( ($(date +%s%N) - start_ns) / 1000000000 )) s (load average now" \
  "$(cut -d' ' -f1-3 /proc/loadavg))"
tail -n 25 "$RUN_DIR/results/comparison.txt" 2>/dev/null || true
