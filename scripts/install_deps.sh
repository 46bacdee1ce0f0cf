#!/usr/bin/env bash
# Installs every Debian 12 package the build, the tests and the benchmarks need.
# A no-op (no apt-get call at all) when they are already present.
set -euo pipefail

PACKAGES=(
  g++ cmake ninja-build pkg-config git
  libabsl-dev
  libprotobuf-dev protobuf-compiler
  libgrpc++-dev protobuf-compiler-grpc
  libtorch-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  coinor-libclp-dev libglpk-dev
  libnlopt-cxx-dev  # the reference optimizer (training/reference.h)
  libsqlite3-dev
  openssl
  python3 python3-venv python3-pip  # python/run_tests.sh: the Python client in a venv
  clang-format  # tests/format_check.sh
  debootstrap  # deploy/make_base_image.sh: the container images' base without a registry
)

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "install_deps: all ${#PACKAGES[@]} packages present"
  exit 0
fi

echo "install_deps: installing ${missing[*]}"
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
$SUDO apt-get update -q
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q "${missing[@]}"
