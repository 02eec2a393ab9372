// monitor/progress.hpp — a one-line console progress report.
//
// USAGE
//   ProgressLine progress(total_steps);
//   for (...) { ...; progress.update(step, loss); }
//   progress.finish();
//
// On a terminal the line redraws in place ("\r"); otherwise (a pipe, a log
// file, CI) it prints a plain line every `plain_every` steps and at the end.
//   step 120/500  loss 0.4312  smoothed 0.4520  85.3 steps/s  ETA 0:04
#pragma once
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <string>

namespace moments {

class ProgressLine {
 public:
  explicit ProgressLine(int64_t total_steps, std::FILE* out = stdout, int64_t plain_every = 100);
  void update(int64_t step, double loss);
  void finish();
  // The text of the line for these values (used by update; public for tests).
  static std::string format(int64_t step, int64_t total, double loss, double smoothed, double steps_per_second);
  void set_terminal(bool terminal) { terminal_ = terminal; }

 private:
  int64_t total_, plain_every_;
  std::FILE* out_;
  bool terminal_;
  double ema_ = 0, ema_weight_ = 0;
  int64_t last_step_ = 0;
  double last_loss_ = 0;
  std::chrono::steady_clock::time_point start_;
};

}  // namespace moments
