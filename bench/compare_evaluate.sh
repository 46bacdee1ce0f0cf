#!/usr/bin/env bash
# End-to-end speed of two builds of `smfg evaluate`, timed in interleaved runs
# (old, new, old, new, ...) so that load from other processes hits both alike,
# and the largest difference between their equilibrium LMPs.
#   bench/compare_evaluate.sh OLD_BUILD_DIR NEW_BUILD_DIR [RUNS] [DAYS]
# Each build dir must hold client/smfg and bench/equilibrium_lmps (the latter
# builds from bench/equilibrium_lmps.cc in an old tree too). Each build runs
# the spec and tariff of its own source tree (CMAKE_HOME_DIRECTORY in its
# CMakeCache.txt): newer specs carry fields an old binary refuses, while the
# scenario is the same (the LMP comparison below would show it if it were not).
# Prints wall seconds per run, medians, the speed-up of the medians, the load
# average before and after, and max |LMP_old - LMP_new|.
set -euo pipefail
old=$(cd "$1" && pwd)
new=$(cd "$2" && pwd)
runs=${3:-3}
days=${4:-20}
spec=configs/three_bus.textproto
tariff=configs/tariffs/flat_0.15.textproto
source_of() { sed -n 's/^CMAKE_HOME_DIRECTORY:INTERNAL=//p' "$1/CMakeCache.txt"; }
old_src=$(source_of "$old")
new_src=$(source_of "$new")
args=(evaluate "$spec" --tariff "$tariff" --days "$days" --threads 2)
echo "command: smfg ${args[*]} (old in $old_src, new in $new_src)"
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"
declare -A times
for i in $(seq "$runs"); do
  for which in old new; do
    dir=$old
    src=$old_src
    [ "$which" = new ] && dir=$new && src=$new_src
    t0=$(date +%s.%N)
    (cd "$src" && "$dir/client/smfg" "${args[@]}" > /dev/null 2>&1)
    t1=$(date +%s.%N)
    t=$(echo "$t1 - $t0" | bc -l)
    times[$which]+="$t "
    printf '%s run %d: %.2f s\n' "$which" "$i" "$t"
  done
done
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
mo=$(echo "${times[old]}" | median)
mn=$(echo "${times[new]}" | median)
printf 'median old %.2f s, new %.2f s, speed-up %.1fx\n' "$mo" "$mn" "$(echo "$mo / $mn" | bc -l)"
(cd "$old_src" && "$old/bench/equilibrium_lmps" "$spec" "$tariff" "$days" 2) > /tmp/lmps_old.txt
(cd "$new_src" && "$new/bench/equilibrium_lmps" "$spec" "$tariff" "$days" 2) > /tmp/lmps_new.txt
paste -d' ' <(grep -v '^#' /tmp/lmps_old.txt) <(grep -v '^#' /tmp/lmps_new.txt) |
  awk '{d = $4 - $8; if (d < 0) d = -d; if (d > m) m = d; n++}
       END {printf "LMPs compared: %d, max |old - new| = %.3g $/MWh\n", n, m}'
