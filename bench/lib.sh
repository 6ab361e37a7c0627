# Shared table format for the benchmarks, so that bench/all prints one table.
# shellcheck shell=bash

header() {
  [[ -n ${BENCH_NO_HEADER:-} ]] && return
  printf '%-64s %12s %12s %10s  %s\n' benchmark shell cb-step ratio target
}

# row LABEL SHELL CB_STEP RATIO TARGET
row() {
  printf '%-64s %12s %12s %10s  %s\n' "$1" "$2" "$3" "$4" "$5"
}

now() { date +%s%N; }

# median FILE: the median of nanosecond samples, in milliseconds
median() {
  sort -n "$1" | awk '{a[NR]=$1} END {m = (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2; printf "%.1f", m / 1e6}'
}

ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.3f", a / b}'; }
