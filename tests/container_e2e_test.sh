#!/usr/bin/env bash
# Container end-to-end test: the smfg image and docker-compose.yml, with faults.
#
# usage: tests/container_e2e_test.sh SMFG_BIN COORDINATOR_BIN WORKER_BIN
#   (ctest passes the built binaries; they must come from one CMake build dir)
#
# Builds the images (deploy/make_base_image.sh: cached; deploy/build_image.sh:
# rebuilt from these binaries), checks every shared library resolves (on the
# host against deploy/runtime-packages.txt, and inside the image), starts
# `docker-compose up -d --scale worker=3` under a unique project with random
# tokens and ephemeral host ports, waits for the coordinator's healthcheck,
# submits the README's experiment (configs/three_bus_small.textproto) with the
# host's `smfg`, and after the first outer iteration is stored kills one worker
# container (caught holding a work item) and cuts another off the network; the
# coordinator must log both missed heartbeats while the run is still going, the
# cut-off worker must register again once reconnected, and the finished run's
# comparison.json and learned_tariff.json must be byte-identical to a local
# `smfg train --threads 1`. The coordinator's /metrics must show the failures
# and the reassignment, and the API must refuse a call without the token.
# Everything it starts (containers, network, volume, the per-run image tag,
# the local training) is removed on exit, pass or fail.
#
# Exit 0: pass; 1: fail; 77: skipped (no Docker engine or no compose tool),
# announced loudly on stderr.
set -euo pipefail

REPO_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
[[ $# -eq 3 ]] || { echo "usage: $0 SMFG_BIN COORDINATOR_BIN WORKER_BIN" >&2; exit 2; }
SMFG_BIN="$(readlink -f "$1")"
BUILD_DIR="$(dirname "$(dirname "$(readlink -f "$2")")")"
for b in "$SMFG_BIN" "$BUILD_DIR/coordinator/smfg-coordinator" "$BUILD_DIR/follower_workers/smfg-worker"; do
  [[ -x "$b" ]] || { echo "container_e2e_test: no executable $b" >&2; exit 2; }
done
[[ "$(readlink -f "$3")" == "$BUILD_DIR/follower_workers/smfg-worker" ]] \
  || { echo "container_e2e_test: the binaries must come from one build dir" >&2; exit 2; }

START_SECONDS=$SECONDS
progress() { echo "[container_e2e $(date -u +%T) +$((SECONDS - START_SECONDS))s] $*" >&2; }
fail() { progress "FAIL: $*"; exit 1; }

skip() {
  {
    echo
    echo "######################################################################"
    echo "#  SKIPPED: container end-to-end test NOT run: $*"
    echo "#  The images, docker-compose.yml and the fault tolerance of the"
    echo "#  containerised cluster were NOT tested on this machine."
    echo "######################################################################"
    echo
  } >&2
  exit 77
}

# --------------------------------------------------------------- prerequisites
command -v docker >/dev/null || skip "no 'docker' command"
docker info >/dev/null 2>&1 || skip "the Docker engine does not answer ('docker info' fails)"
if command -v docker-compose >/dev/null; then
  COMPOSE=(docker-compose)
elif docker compose version >/dev/null 2>&1; then
  COMPOSE=(docker compose)
else
  skip "neither docker-compose nor 'docker compose' is installed"
fi

PROJECT="smfg-e2e-$$"
IMAGE="smfg:e2e-$$"
WORK="$(mktemp -d /tmp/smfg-container-e2e.XXXXXX)"
LOCAL_TRAIN_PID=""
compose() { "${COMPOSE[@]}" -f "$REPO_DIR/docker-compose.yml" -p "$PROJECT" "$@"; }

cleanup() {
  local status=$?
  trap - EXIT
  if [[ -n "$LOCAL_TRAIN_PID" ]] && kill -0 "$LOCAL_TRAIN_PID" 2>/dev/null; then
    kill "$LOCAL_TRAIN_PID" 2>/dev/null || true
    wait "$LOCAL_TRAIN_PID" 2>/dev/null || true
  fi
  # compose cannot stop a paused container.
  docker ps -q --filter "label=com.docker.compose.project=$PROJECT" --filter status=paused \
    | xargs -r docker unpause >/dev/null 2>&1 || true
  if [[ $status -ne 0 && $status -ne 77 ]]; then
    progress "failed (exit $status); coordinator log:"
    compose logs --no-color --tail=300 coordinator >&2 2>&1 || true
    compose ps >&2 2>&1 || true
  fi
  progress "tearing down (down -v --remove-orphans)"
  # (the tokens only need a value for the file to parse, if we failed before setting them)
  SMFG_API_TOKEN="${SMFG_API_TOKEN:-unset}" SMFG_CLUSTER_TOKEN="${SMFG_CLUSTER_TOKEN:-unset}" \
    compose down -v --remove-orphans -t 10 >/dev/null 2>&1 || progress "WARNING: compose down failed"
  docker image rm "$IMAGE" >/dev/null 2>&1 || true
  rm -rf "$WORK"
  progress "exit $status after $((SECONDS - START_SECONDS)) s"
  exit $status
}
trap cleanup EXIT
# ctest's timeout and ^C send signals: leave through the EXIT trap.
trap 'exit 143' TERM
trap 'exit 130' INT

# Polls `$@` every half second until it succeeds; fails naming `what` after
# `seconds`.
wait_until() {
  local seconds="$1" what="$2"; shift 2
  local deadline=$((SECONDS + seconds))
  until "$@"; do
    [[ $SECONDS -lt $deadline ]] || fail "timed out after ${seconds}s waiting for: $what"
    sleep 0.5
  done
}

# -------------------------------------------------------------------- images
progress "checking deploy/runtime-packages.txt against the binaries"
"$REPO_DIR/deploy/runtime_packages_check.sh" "$BUILD_DIR" >&2
progress "base image (cached between runs)"
"$REPO_DIR/deploy/make_base_image.sh" smfg-base:bookworm
progress "app image $IMAGE from $BUILD_DIR"
"$REPO_DIR/deploy/build_image.sh" "$BUILD_DIR" "$IMAGE" > "$WORK/build.log" 2>&1 \
  || { cat "$WORK/build.log" >&2; fail "deploy/build_image.sh failed"; }
missing="$(docker run --rm "$IMAGE" sh -c 'ldd /usr/local/bin/smfg /usr/local/bin/smfg-coordinator /usr/local/bin/smfg-worker | grep "not found" || true')"
[[ -z "$missing" ]] || fail "libraries missing in the image: $missing"
[[ "$(docker run --rm "$IMAGE" id -u)" == 10001 ]] || fail "the image does not run as uid 10001"

# ------------------------------------------------------------------- cluster
export SMFG_IMAGE="$IMAGE"
export SMFG_API_TOKEN="api-$(head -c 18 /dev/urandom | od -An -tx1 | tr -d ' \n')"
export SMFG_CLUSTER_TOKEN="cluster-$(head -c 18 /dev/urandom | od -An -tx1 | tr -d ' \n')"
export SMFG_PUBLISH=127.0.0.1: SMFG_METRICS_PUBLISH=127.0.0.1:
export SMFG_HEARTBEAT_TIMEOUT_MS=2000
unset SMFG_COORDINATOR
progress "compose up -p $PROJECT --scale worker=3"
compose up -d --scale worker=3 >&2

ADDRESS="$(compose port coordinator 50051)"
METRICS_ADDRESS="$(compose port coordinator 9090)"
[[ "$ADDRESS" == 127.0.0.1:* && "$METRICS_ADDRESS" == 127.0.0.1:* ]] \
  || fail "unexpected published ports '$ADDRESS' / '$METRICS_ADDRESS'"
export SMFG_COORDINATOR="$ADDRESS"
COORDINATOR_CONTAINER="$(compose ps -q coordinator)"
progress "coordinator at $ADDRESS, metrics at $METRICS_ADDRESS"

container_healthy() {
  [[ "$(docker inspect -f '{{.State.Health.Status}}' "$COORDINATOR_CONTAINER")" == healthy ]]
}
wait_until 120 "the coordinator container's healthcheck (smfg health) to pass" container_healthy
[[ "$("$SMFG_BIN" health --rpc_timeout_s=5)" == SERVING ]] || fail "smfg health from the host"
progress "coordinator healthy"

coordinator_log() { compose logs --no-color coordinator 2>/dev/null; }
log_count() { coordinator_log | grep -cF -- "$1" || true; }
registered_at_least() { [[ $(log_count "worker pool: registered") -ge "$1" ]]; }
wait_until 120 "3 workers to register" registered_at_least 3
progress "3 workers registered"

# The API token is required: without it the coordinator refuses.
if env -u SMFG_API_TOKEN "$SMFG_BIN" list --rpc_timeout_s=5 >/dev/null 2>&1; then
  fail "the coordinator accepted a call without the API token"
fi

# ---------------------------------------------------------------- experiment
SPEC="$WORK/three_bus_small.textproto"
cp "$REPO_DIR/configs/three_bus_small.textproto" "$SPEC"
ID="$("$SMFG_BIN" submit "$SPEC" --key "container-e2e-$$")"
[[ "$ID" == exp-* ]] || fail "submit printed '$ID'"
progress "submitted $ID; training the same spec locally alongside"
"$SMFG_BIN" train "$SPEC" --out "$WORK/local" --threads 1 > "$WORK/local.log" 2>&1 &
LOCAL_TRAIN_PID=$!

iteration_of() { "$SMFG_BIN" get "$ID" --rpc_timeout_s=5 2>/dev/null | awk '{for (i = 1; i < NF; i++) if ($i == "iteration") print $(i + 1)}'; }
status_of() { "$SMFG_BIN" get "$ID" --rpc_timeout_s=5 2>/dev/null | awk '{print $2}'; }
first_iteration_stored() { [[ "$(iteration_of)" -ge 1 ]] 2>/dev/null; }
wait_until 600 "$ID's first outer iteration" first_iteration_stored
progress "$ID stored outer iteration $(iteration_of)"

# ------------------------------------------------------------------- faults
# Prometheus text of the coordinator's /metrics, through the published port.
fetch_metrics() {
  local host="${METRICS_ADDRESS%:*}" port="${METRICS_ADDRESS##*:}"
  if command -v curl >/dev/null; then
    curl -fsS --max-time 10 "http://$METRICS_ADDRESS/metrics"
  else
    exec 3<>"/dev/tcp/$host/$port"
    printf 'GET /metrics HTTP/1.0\r\nHost: %s\r\n\r\n' "$host" >&3
    timeout 10 cat <&3 | sed '1,/^\r\{0,1\}$/d'
    exec 3<&-
  fi
}
# "COUNT NAME" per worker: work items the coordinator has not got back
# (assigned - completed - reassigned); NAME is the hostname part "<short id>-".
held_counts() {
  fetch_metrics | awk '
    /^smfg_worker_items_(assigned|completed)_total\{|^smfg_worker_reassignments_total\{/ {
      match($0, /name="[^"]*"/); name = substr($0, RSTART + 6, RLENGTH - 7)
      sub(/[0-9]*$/, "", name)
      held[name] += ($1 ~ /assigned/ ? 1 : -1) * $NF
    }
    END { for (n in held) print held[n], n }'
}

mapfile -t WORKERS < <(compose ps -q worker)
[[ ${#WORKERS[@]} -eq 3 ]] || fail "expected 3 worker containers, found ${#WORKERS[@]}"
# A worker's name is HOSTNAME-PID, and a container's hostname is its short id.
declare -A CONTAINER_OF
for c in "${WORKERS[@]}"; do CONTAINER_OF["$(docker inspect -f '{{.Config.Hostname}}' "$c")-"]="$c"; done

# The worker to kill must hold a work item, so that the coordinator has to
# reassign it: freeze a worker that the metrics show busy (docker pause keeps
# the item in it) and keep it only if the metrics, read again while it is
# frozen, still show the item held; else thaw it and try again.
KILLED=""
freeze_a_busy_worker() {
  local count name
  while read -r count name; do
    [[ "$count" -gt 0 && -n "${CONTAINER_OF[$name]+x}" ]] || continue
    docker pause "${CONTAINER_OF[$name]}" >/dev/null
    if held_counts | grep -qE "^[1-9][0-9]* $name\$"; then
      KILLED="${CONTAINER_OF[$name]}"
      return 0
    fi
    docker unpause "${CONTAINER_OF[$name]}" >/dev/null
  done < <(held_counts)
  return 1
}
wait_until 120 "a worker caught (paused) while holding a work item" freeze_a_busy_worker
for c in "${WORKERS[@]}"; do [[ "$c" == "$KILLED" ]] || { CUT="$c"; break; }; done
KILLED_NAME="$(docker inspect -f '{{.Config.Hostname}}' "$KILLED")-"
CUT_NAME="$(docker inspect -f '{{.Config.Hostname}}' "$CUT")-"
NETWORK="$(docker inspect -f '{{range $name, $_ := .NetworkSettings.Networks}}{{$name}}{{end}}' "$CUT")"
[[ -n "$NETWORK" ]] || fail "no network on worker $CUT"

progress "docker kill worker ${KILLED:0:12} (paused holding work); docker network disconnect $NETWORK ${CUT:0:12}"
docker kill "$KILLED" >/dev/null
docker network disconnect "$NETWORK" "$CUT"

missed_heartbeat() { coordinator_log | grep -F "missed its heartbeat" | grep -qF "($1"; }
wait_until 60 "the coordinator to log the killed worker's missed heartbeat" missed_heartbeat "$KILLED_NAME"
wait_until 60 "the coordinator to log the cut-off worker's missed heartbeat" missed_heartbeat "$CUT_NAME"
progress "coordinator declared both workers dead"

# Both faults must have hit the run, not its aftermath.
STATUS_AT_RECONNECT="$(status_of)"
[[ "$STATUS_AT_RECONNECT" == RUNNING || "$STATUS_AT_RECONNECT" == WAITING_FOR_WORKERS ]] \
  || fail "$ID was already $STATUS_AT_RECONNECT when both faults were detected: the run is too short to test them"
progress "$ID is $STATUS_AT_RECONNECT at iteration $(iteration_of); docker network connect $NETWORK ${CUT:0:12}"
docker network connect "$NETWORK" "$CUT"
cut_registrations() { coordinator_log | grep -F "worker pool: registered" | grep -cF "($CUT_NAME" || true; }
re_registered() { [[ $(cut_registrations) -ge 2 ]]; }
wait_until 120 "the reconnected worker to re-register" re_registered
progress "reconnected worker re-registered; $ID is $(status_of) at iteration $(iteration_of)"

# ------------------------------------------------------------------- results
timeout 900 "$SMFG_BIN" watch "$ID" > "$WORK/watch.log" 2>&1 \
  || { cat "$WORK/watch.log" >&2; fail "smfg watch $ID"; }
progress "$ID finished: $(tail -n 1 "$WORK/watch.log")"
"$SMFG_BIN" results "$ID" --out "$WORK/remote" > "$WORK/results.log" 2>&1 \
  || { cat "$WORK/results.log" >&2; fail "smfg results $ID"; }

progress "waiting for the local training"
wait "$LOCAL_TRAIN_PID" || { tail -n 30 "$WORK/local.log" >&2; LOCAL_TRAIN_PID=""; fail "local smfg train"; }
LOCAL_TRAIN_PID=""
for f in comparison.json learned_tariff.json; do
  cmp "$WORK/remote/$f" "$WORK/local/$f" || fail "$f differs between the containers and a local smfg train"
done
progress "comparison.json and learned_tariff.json are byte-identical to a local smfg train"

# ------------------------------------------------------------------- metrics
fetch_metrics > "$WORK/metrics.txt" || fail "GET http://$METRICS_ADDRESS/metrics"
sum_of() { awk -v m="$1" 'index($0, m "{") == 1 {s += $NF} END {print s + 0}' "$WORK/metrics.txt"; }
FAILURES="$(sum_of smfg_worker_failures_total)"
REASSIGNMENTS="$(sum_of smfg_worker_reassignments_total)"
progress "metrics: worker failures $FAILURES, reassignments $REASSIGNMENTS"
[[ "$FAILURES" -ge 2 ]] || fail "smfg_worker_failures_total sums to $FAILURES, expected >= 2"
[[ "$REASSIGNMENTS" -ge 1 ]] || fail "smfg_worker_reassignments_total sums to $REASSIGNMENTS, expected >= 1"
grep -q "^smfg_worker_live{.*name=\"$KILLED_NAME[0-9]*\"} 0" "$WORK/metrics.txt" \
  || fail "the killed worker is not shown dead in the metrics"

progress "PASS"
