#!/usr/bin/env bash
# Checks deploy/runtime-packages.txt against the built binaries, so that the
# list cannot silently rot when a dependency is added: every shared library
# that smfg-coordinator, smfg-worker, smfg and smfg-train load (ldd,
# transitively) must be found, and must belong to a Debian package that the
# image will contain — one in the list, in the Depends closure of the list, or
# in a debootstrap minbase system (Priority: required, and apt).
#
# usage: deploy/runtime_packages_check.sh [BUILD_DIR] [BINARY...]
#   BUILD_DIR  default: build (the four binaries are looked up in it)
#   BINARY     explicit binary paths instead (e.g. ctest's $<TARGET_FILE:...>)
# Runs on the Debian build machine (uses ldd and the dpkg database; no Docker).
# Exit 0: all covered; 1: a library is missing or its package is not covered
# (the message names the package to add); 2: usage error.
set -euo pipefail

DEPLOY_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
LIST="$DEPLOY_DIR/runtime-packages.txt"
BUILD_DIR="${1:-build}"
shift || true
BINARIES=("$@")
if [[ ${#BINARIES[@]} -eq 0 ]]; then
  BINARIES=("$BUILD_DIR/coordinator/smfg-coordinator" "$BUILD_DIR/follower_workers/smfg-worker"
            "$BUILD_DIR/client/smfg" "$BUILD_DIR/client/smfg-train")
fi
for b in "${BINARIES[@]}"; do
  [[ -x "$b" ]] || { echo "runtime_packages_check: no executable '$b' (build it first)" >&2; exit 2; }
done
command -v dpkg-query >/dev/null || { echo "runtime_packages_check: needs dpkg (Debian)" >&2; exit 2; }

# Installed packages: their dependencies and the virtual names they provide.
declare -A DEPENDS PROVIDER COVERED
while IFS=$'\t' read -r status pkg prio deps provides; do
  [[ "$status" == ii* ]] || continue
  DEPENDS[$pkg]="$deps"
  for p in ${provides//,/ }; do [[ "$p" == \(* || "$p" == *\) || "$p" == = ]] || PROVIDER[$p]="$pkg"; done
  [[ "$prio" == required ]] && COVERED[$pkg]=1
done < <(dpkg-query -W -f='${db:Status-Abbrev}\t${Package}\t${Priority}\t${Depends}, ${Pre-Depends}\t${Provides}\n')

# The image's packages: the list, apt and the required ones, closed under
# Depends (an alternative counts if it is installed here, as the build links it).
QUEUE=(apt)
while read -r pkg; do QUEUE+=("$pkg"); done < <(sed -e 's/#.*//' -e 's/[[:space:]]//g' "$LIST" | grep -v '^$')
for pkg in "${!COVERED[@]}"; do QUEUE+=("$pkg"); done
while [[ ${#QUEUE[@]} -gt 0 ]]; do
  pkg="${QUEUE[-1]}"; unset 'QUEUE[-1]'
  [[ -n "${DEPENDS[$pkg]+x}" ]] || pkg="${PROVIDER[$pkg]:-$pkg}"
  [[ -n "${DEPENDS[$pkg]+x}" ]] || continue  # not installed here: nothing to follow
  [[ -n "${COVERED[$pkg]+x}" && "${COVERED[$pkg]}" == 2 ]] && continue
  COVERED[$pkg]=2
  IFS=',' read -ra groups <<< "${DEPENDS[$pkg]}"
  for group in "${groups[@]}"; do
    IFS='|' read -ra alternatives <<< "$group"
    for alt in "${alternatives[@]}"; do
      name="${alt%%(*}"; name="${name//[[:space:]]/}"; name="${name%:any}"
      [[ -n "$name" ]] && QUEUE+=("$name")
    done
  done
done

# The libraries ldd resolves ("name => path (address)"; "not found" kept).
LDD_OUT="$(for b in "${BINARIES[@]}"; do ldd "$b"; done | awk '$2 == "=>" {print $1, $3}' | sort -u)"

# Owner package of each library file name, in one pass over dpkg's file lists
# (dpkg knows a path as shipped, /lib or /usr/lib, so match the file name).
declare -A OWNER
while IFS=: read -r listfile path; do
  base="${path##*/}"; pkg="${listfile##*/}"; pkg="${pkg%.list}"; pkg="${pkg%:*}"
  OWNER[$base]="$pkg"
done < <(awk '$2 != "not" {print $2}' <<< "$LDD_OUT" | while read -r p; do
           echo "$p"; readlink -f "$p"; done | sed 's|.*/|/|' | sort -u \
         | grep -F -f - /var/lib/dpkg/info/*.list | grep -E '\.so[.0-9]*$')

failures=0
declare -A SEEN
while read -r lib path; do
  if [[ "$path" == not ]]; then
    echo "runtime_packages_check: $lib: not found on this machine" >&2; failures=$((failures + 1)); continue
  fi
  SEEN[$path]=1
  pkg="${OWNER[${path##*/}]:-${OWNER[$(basename "$(readlink -f "$path")")]:-}}"
  if [[ -z "$pkg" ]]; then
    echo "runtime_packages_check: $path belongs to no Debian package" >&2; failures=$((failures + 1))
  elif [[ -z "${COVERED[$pkg]+x}" ]]; then
    echo "runtime_packages_check: $lib ($path) comes from '$pkg', which is not in $LIST nor pulled in by it" >&2
    failures=$((failures + 1))
  fi
done <<< "$LDD_OUT"

if [[ $failures -gt 0 ]]; then
  echo "runtime_packages_check: FAILED: $failures librar(y/ies) not covered; add the packages above to $LIST" >&2
  exit 1
fi
echo "runtime_packages_check: OK: ${#SEEN[@]} shared libraries of ${#BINARIES[@]} binaries covered by $LIST"
