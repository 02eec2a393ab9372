#!/bin/sh
# run_resume.sh MPIRUN TEST_DIST — a ZeRO checkpoint written on 2 ranks resumes on 1, 2 and 3 ranks:
# test_dist --save DIR trains 40 steps on 2 ranks, saving at step 20 and writing the final parameters;
# test_dist --resume DIR continues from the checkpoint and compares (the same bits on 2 ranks, within
# float32 tolerance on 1 and 3, whose gradient sums round differently). Flags as in run_ranks.sh.
set -u
mpirun=$1 exe=$2
dir=$(mktemp -d) || exit 1
trap 'rm -rf "$dir"' EXIT
run() {  # run RANKS MODE
  "$mpirun" --allow-run-as-root --oversubscribe -np "$1" "$exe" "$2" "$dir" || { echo "run_resume: $2 on $1 ranks failed"; exit 1; }
}
run 2 --save
for ranks in 1 2 3; do run "$ranks" --resume; done
echo "run_resume: saved on 2 ranks, resumed on 1, 2 and 3"
