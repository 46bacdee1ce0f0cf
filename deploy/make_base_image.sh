#!/usr/bin/env bash
# Builds the base image of the smfg containers without an image registry: a
# minimal Debian 12 root file system made with debootstrap, holding the runtime
# library packages of deploy/runtime-packages.txt, imported with `docker import`.
#
# usage: deploy/make_base_image.sh [--rebuild] [IMAGE_TAG]
#   IMAGE_TAG  default smfg-base:bookworm
#   --rebuild  rebuild even if the image exists (default: keep it, print a note)
# environment:
#   SMFG_DEBIAN_MIRROR  default http://deb.debian.org/debian
#
# Needs root, debootstrap and a Docker engine; the mirror must be reachable.
# Takes a few minutes (downloads ~400 MB of packages); the image is ~1.5 GB
# because libtorch1.13 pulls in its many Debian dependencies.
set -euo pipefail

DEPLOY_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
MIRROR="${SMFG_DEBIAN_MIRROR:-http://deb.debian.org/debian}"
REBUILD=0
TAG=""

log() { echo "make_base_image: $*" >&2; }
die() { log "ERROR: $*"; exit 1; }

for arg in "$@"; do
  case "$arg" in
    --rebuild) REBUILD=1 ;;
    -h|--help) sed -n '2,14p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
    -*) die "unknown option '$arg' (see --help)" ;;
    *) [[ -z "$TAG" ]] || die "more than one IMAGE_TAG given"; TAG="$arg" ;;
  esac
done
TAG="${TAG:-smfg-base:bookworm}"

command -v docker >/dev/null || die "docker is not installed"
docker info >/dev/null 2>&1 || die "the Docker engine does not answer ('docker info' fails)"
if [[ "$REBUILD" == 0 ]] && docker image inspect "$TAG" >/dev/null 2>&1; then
  log "image $TAG already exists; nothing to do (--rebuild to make it again)"
  exit 0
fi
[[ "$(id -u)" == 0 ]] || die "must run as root (debootstrap creates device nodes and chowns files)"
command -v debootstrap >/dev/null || die "debootstrap is not installed (apt-get install debootstrap)"

# The package list without comments and blank lines, comma-separated.
PACKAGES="$(sed -e 's/#.*//' -e 's/[[:space:]]//g' "$DEPLOY_DIR/runtime-packages.txt" \
  | grep -v '^$' | paste -sd, -)"
[[ -n "$PACKAGES" ]] || die "no packages in $DEPLOY_DIR/runtime-packages.txt"

ROOTFS="$(mktemp -d /tmp/smfg-rootfs.XXXXXX)"
trap 'rm -rf "$ROOTFS"' EXIT

log "debootstrap --variant=minbase bookworm into $ROOTFS from $MIRROR"
log "packages: $PACKAGES"
debootstrap --variant=minbase --include="$PACKAGES" bookworm "$ROOTFS" "$MIRROR" \
  > "$ROOTFS.log" 2>&1 || { tail -n 30 "$ROOTFS.log" >&2; die "debootstrap failed (log: $ROOTFS.log)"; }
rm -f "$ROOTFS.log"

log "trimming apt caches, docs and man pages"
chroot "$ROOTFS" apt-get clean
rm -rf "$ROOTFS"/var/lib/apt/lists/* "$ROOTFS"/usr/share/doc/* "$ROOTFS"/usr/share/man/* \
  "$ROOTFS"/usr/share/info/* "$ROOTFS"/var/log/*.log "$ROOTFS"/var/cache/debconf/*-old
# apt sources for images built on top (the Dockerfile only installs what is missing).
echo "deb $MIRROR bookworm main" > "$ROOTFS/etc/apt/sources.list"

log "importing as $TAG"
tar -C "$ROOTFS" -c . | docker import \
  --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  --change 'CMD ["/bin/bash"]' \
  --message "smfg base: debootstrap minbase bookworm + deploy/runtime-packages.txt" \
  - "$TAG" >/dev/null
log "done: $(docker image ls --format '{{.Repository}}:{{.Tag}} {{.Size}}' "$TAG")"
