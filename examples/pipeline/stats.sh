#!/bin/sh
# stats.sh CLEAN: count, total and mean of the values per station.
set -eu
awk -F, '{ n[$1]++; s[$1] += $2 } END { for (k in n) printf "%s n=%d total=%d mean=%.2f\n", k, n[k], s[k], s[k] / n[k] }' "$1" | sort
