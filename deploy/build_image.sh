#!/usr/bin/env bash
# Builds the smfg application image from the binaries of a normal CMake build.
#
# usage: deploy/build_image.sh [BUILD_DIR] [IMAGE_TAG]
#   BUILD_DIR  default: build (must hold coordinator/smfg-coordinator,
#              follower_workers/smfg-worker, client/smfg and client/smfg-train)
#   IMAGE_TAG  default: smfg:local
# environment:
#   SMFG_BASE_IMAGE  base image (default smfg-base:bookworm, made by
#                    deploy/make_base_image.sh when missing)
#
# Stages only the four binaries, deploy/Dockerfile, deploy/runtime-packages.txt
# and configs/ into a temporary build context (never the repository or build
# tree), then runs docker build. Rebuilding is cheap: the base and package
# layers are cached, only the binaries' layer changes.
set -euo pipefail

DEPLOY_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_DIR="$(dirname "$DEPLOY_DIR")"
BUILD_DIR="${1:-build}"
TAG="${2:-smfg:local}"
BASE_IMAGE="${SMFG_BASE_IMAGE:-smfg-base:bookworm}"

log() { echo "build_image: $*" >&2; }
die() { log "ERROR: $*"; exit 1; }

command -v docker >/dev/null || die "docker is not installed"
docker info >/dev/null 2>&1 || die "the Docker engine does not answer ('docker info' fails)"
BINARIES=("$BUILD_DIR/coordinator/smfg-coordinator" "$BUILD_DIR/follower_workers/smfg-worker"
          "$BUILD_DIR/client/smfg" "$BUILD_DIR/client/smfg-train")
for b in "${BINARIES[@]}"; do
  [[ -x "$b" ]] || die "no executable $b: build first (cmake --build $BUILD_DIR --target smfg smfg-train smfg-coordinator smfg-worker)"
done

if [[ "$BASE_IMAGE" == smfg-base:* ]] && ! docker image inspect "$BASE_IMAGE" >/dev/null 2>&1; then
  log "base image $BASE_IMAGE missing; making it (deploy/make_base_image.sh)"
  "$DEPLOY_DIR/make_base_image.sh" "$BASE_IMAGE"
fi

CONTEXT="$(mktemp -d /tmp/smfg-image-context.XXXXXX)"
trap 'rm -rf "$CONTEXT"' EXIT
mkdir -p "$CONTEXT/bin"
cp "${BINARIES[@]}" "$CONTEXT/bin/"
cp "$DEPLOY_DIR/Dockerfile" "$DEPLOY_DIR/runtime-packages.txt" "$CONTEXT/"
cp -r "$REPO_DIR/configs" "$CONTEXT/configs"
log "context $CONTEXT: $(du -sh "$CONTEXT" | cut -f1) ($(cd "$CONTEXT" && find . -type f | wc -l) files)"

log "docker build --build-arg BASE_IMAGE=$BASE_IMAGE -t $TAG"
# The classic builder: BuildKit (buildx) may not be installed, and the context
# is tiny anyway.
DOCKER_BUILDKIT=0 docker build --build-arg "BASE_IMAGE=$BASE_IMAGE" -t "$TAG" "$CONTEXT" >&2
log "done: $(docker image ls --format '{{.Repository}}:{{.Tag}} {{.Size}}' "$TAG")"
