// resume_helper — the two halves of an interrupted training run, each in its own
// process, for test_checkpoint.cpp's resume-determinism test.
//
//   resume_helper OPTIMIZER start  CHECKPOINT STEPS           trains steps [0, STEPS), saves
//   resume_helper OPTIMIZER resume CHECKPOINT STEPS OUT       loads, trains on to STEPS, saves to OUT
//
// The final checkpoint OUT must equal, bit for bit, one saved by a run that never stopped.
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <string>

#include "resume_problem.hpp"

int main(int argc, char** argv) {
  std::string mode = argc > 2 ? argv[2] : "";
  if (!((mode == "start" && argc == 5) || (mode == "resume" && argc == 6))) {
    std::fprintf(stderr, "usage: resume_helper OPTIMIZER start CHECKPOINT STEPS | OPTIMIZER resume CHECKPOINT STEPS OUT\n");
    return 2;
  }
  try {
    const std::string kind = argv[1], checkpoint = argv[3];
    const int64_t steps = std::atoll(argv[4]);
    if (mode == "start") {
      io_testing::ResumeRun run(kind, /*init_seed=*/0);
      run.train(0, steps);
      run.save(checkpoint, steps);
    } else {
      io_testing::ResumeRun run(kind, /*init_seed=*/12345);  // another init: the load must overwrite it
      int64_t from = run.load(checkpoint);
      run.train(from, steps);
      run.save(argv[5], steps);
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "resume_helper: %s\n", e.what());
    return 1;
  }
  return 0;
}
