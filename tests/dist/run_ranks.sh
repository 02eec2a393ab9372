#!/bin/sh
# run_ranks.sh MPIRUN RANKS TEST_DIST — runs TEST_DIST on RANKS ranks twice and compares the
# "bits" lines rank 0 prints (a hash of every optimizer's final parameters): the same rank count must
# give the same bits run after run. --allow-run-as-root: CI runs as root; --oversubscribe: more ranks
# than the machine's cores. mpirun ends the whole job when a rank exits non-zero, so a failing or dying
# rank fails this script rather than leaving the others waiting.
set -u
mpirun=$1 ranks=$2 exe=$3
out=$(mktemp -d) || exit 1
trap 'rm -rf "$out"' EXIT
for run in 1 2; do
  "$mpirun" --allow-run-as-root --oversubscribe -np "$ranks" "$exe" >"$out/run$run" 2>&1
  status=$?
  cat "$out/run$run"
  [ "$status" -eq 0 ] || { echo "run_ranks: run $run on $ranks ranks exited with $status"; exit 1; }
done
grep '^bits ' "$out/run1" >"$out/bits1"; grep '^bits ' "$out/run2" >"$out/bits2"
[ -s "$out/bits1" ] || { echo "run_ranks: no 'bits' lines printed"; exit 1; }
if ! cmp -s "$out/bits1" "$out/bits2"; then
  echo "run_ranks: two runs on $ranks ranks gave different bits:"; diff "$out/bits1" "$out/bits2"; exit 1
fi
echo "run_ranks: two runs on $ranks ranks gave the same bits ($(wc -l <"$out/bits1") hashes)"

# A rank that dies while the others wait in a collective: mpirun must end the job with an error, not hang.
timeout 60 "$mpirun" --allow-run-as-root --oversubscribe -np "$ranks" "$exe" --rank-dies >"$out/dies" 2>&1
status=$?
if [ "$status" -eq 0 ] || [ "$status" -eq 124 ]; then
  cat "$out/dies"; echo "run_ranks: a dead rank gave status $status (expected mpirun to end the job with an error)"; exit 1
fi
echo "run_ranks: a rank killed mid-collective ended the job (mpirun status $status):"
grep -m1 "mpirun noticed" "$out/dies"
