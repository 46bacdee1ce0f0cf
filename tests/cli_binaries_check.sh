#!/usr/bin/env bash
# smfg and smfg-train (client/main.cc): smfg never loads LibTorch, and hands
# train and optimize to the smfg-train next to it, or says clearly that it is
# missing.
#   tests/cli_binaries_check.sh SMFG_BIN SMFG_TRAIN_BIN
set -euo pipefail
smfg=$1
trainer=$2
fail() { echo "cli_binaries_check: FAIL: $*" >&2; exit 1; }

needed() { readelf -d "$1" | awk '/NEEDED/ {print $NF}'; }
if needed "$smfg" | grep -q torch; then
  fail "smfg has LibTorch in its DT_NEEDED: $(needed "$smfg" | grep torch | tr '\n' ' ')"
fi
needed "$trainer" | grep -q torch || fail "smfg-train does not link LibTorch (was the split moved?)"

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# A train command reaches smfg-train: its own error for a missing spec file.
set +e
"$smfg" train "$tmp/missing.textproto" --out "$tmp/out" > "$tmp/out.txt" 2>&1
rc=$?
set -e
[[ $rc -ne 0 ]] || fail "smfg train of a missing spec exited 0"
grep -q "missing.textproto" "$tmp/out.txt" || fail "smfg train: unexpected output: $(cat "$tmp/out.txt")"
# Flags may come before the command; smfg-train gets them all.
set +e
"$smfg" --days 2 train "$tmp/missing.textproto" > "$tmp/flags.txt" 2>&1
rc=$?
set -e
[[ $rc -ne 0 ]] || fail "smfg --days 2 train of a missing spec exited 0"
grep -q "missing.textproto" "$tmp/flags.txt" || fail "smfg --days 2 train: $(cat "$tmp/flags.txt")"
# The same through optimize.
set +e
"$smfg" optimize "$tmp/missing.textproto" > "$tmp/opt.txt" 2>&1
rc=$?
set -e
[[ $rc -ne 0 ]] || fail "smfg optimize of a missing spec exited 0"
grep -q "missing.textproto" "$tmp/opt.txt" || fail "smfg optimize: unexpected output: $(cat "$tmp/opt.txt")"
# smfg alone: a clear error naming smfg-train.
cp "$smfg" "$tmp/smfg"
set +e
"$tmp/smfg" train "$tmp/missing.textproto" > "$tmp/alone.txt" 2>&1
rc=$?
set -e
[[ $rc -eq 1 ]] || fail "smfg without smfg-train exited $rc, expected 1"
grep -q "smfg: train runs in smfg-train, which could not be started" "$tmp/alone.txt" ||
  fail "smfg without smfg-train: $(cat "$tmp/alone.txt")"
# Commands other than train and optimize work without smfg-train.
"$tmp/smfg" --help > /dev/null 2>&1 || true
"$tmp/smfg" spec "$tmp/missing.textproto" > "$tmp/spec.txt" 2>&1 && fail "spec of a missing file exited 0"
grep -q "smfg-train" "$tmp/spec.txt" && fail "smfg spec went to smfg-train"
echo "cli_binaries_check: smfg needs no LibTorch; train and optimize run in smfg-train"
