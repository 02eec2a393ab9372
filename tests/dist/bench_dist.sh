#!/bin/sh
# bench_dist.sh MPIRUN BENCH_DIST — one rank against two, alternating three times (see bench_dist.cpp).
set -u
mpirun=$1 exe=$2
file=$(mktemp) || exit 1
trap 'rm -f "$file"' EXIT
for round in 1 2 3; do
  for ranks in 1 2; do
    "$mpirun" --allow-run-as-root --oversubscribe -np "$ranks" "$exe" --measure "$file" || exit 1
  done
done
"$exe" --report "$file"
