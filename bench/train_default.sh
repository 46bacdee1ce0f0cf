#!/usr/bin/env bash
# A few outer iterations of the default experiment at its own scale (issue 12):
# `smfg train configs/three_bus.textproto` (24,000 households, 100 days), then its
# baseline comparison (flat and the TOU grid, each at its equilibrium). Prints
# every progress line with the seconds since the start, including the market
# clearing summaries (day-hours cleared, by which DC-OPF method, clamped).
# The outer iterations are the lines before "evaluating against the baselines".
#
#   bench/train_default.sh                       # 3 outer iterations, 2 threads
#   ITERATIONS=5 THREADS=4 bench/train_default.sh
#
# Needs build/client/smfg (cmake --build build --target smfg).
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${BUILD_DIR:-build}
ITERATIONS=${ITERATIONS:-3}
THREADS=${THREADS:-2}
SMFG="$BUILD_DIR/client/smfg"
[ -x "$SMFG" ] || { echo "train_default: $SMFG is not built" >&2; exit 1; }
out=$(mktemp -d /tmp/smfg-train-default.XXXXXX)
trap 'rm -rf "$out"' EXIT
start_ns=$(date +%s%N)
elapsed() { printf '%d.%d' $(( ($(date +%s%N) - start_ns) / 1000000000 )) \
                           $(( ($(date +%s%N) - start_ns) / 100000000 % 10 )); }
stamp() { while IFS= read -r line; do printf '%8s s  %s\n' "$(elapsed)" "$line"; done; }
echo "smfg train configs/three_bus.textproto --iterations $ITERATIONS --threads $THREADS" \
  "($(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg))"
set +e
"$SMFG" train configs/three_bus.textproto --iterations "$ITERATIONS" --threads "$THREADS" \
  --out "$out" 2>&1 >"$out/stdout.txt" | stamp
status=${PIPESTATUS[0]}
set -e
[ "$status" = 0 ] && tail -n 20 "$out/stdout.txt"
echo "exit $status after $(elapsed) s (load average now $(cut -d' ' -f1-3 /proc/loadavg))"
exit "$status"
