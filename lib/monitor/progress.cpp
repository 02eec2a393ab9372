// monitor/progress.cpp — the progress line.
#include "progress.hpp"

#include <unistd.h>

#include <cmath>

#include "error.hpp"

namespace moments {

ProgressLine::ProgressLine(int64_t total_steps, std::FILE* out, int64_t plain_every)
    : total_(total_steps), plain_every_(plain_every), out_(out), terminal_(isatty(fileno(out)) != 0),
      start_(std::chrono::steady_clock::now()) {
  if (total_steps < 1) fail("ProgressLine: invalid total_steps ", total_steps, " (must be >= 1)");
  if (plain_every < 1) fail("ProgressLine: invalid plain_every ", plain_every, " (must be >= 1)");
}

std::string ProgressLine::format(int64_t step, int64_t total, double loss, double smoothed, double steps_per_second) {
  char text[160];
  std::snprintf(text, sizeof text, "step %lld/%lld  loss %.4f  smoothed %.4f", static_cast<long long>(step),
                static_cast<long long>(total), loss, smoothed);
  std::string line = text;
  if (steps_per_second > 0 && std::isfinite(steps_per_second)) {
    double eta = static_cast<double>(total - step) / steps_per_second;
    long long seconds = std::llround(eta);
    std::snprintf(text, sizeof text, "  %.1f steps/s  ETA %lld:%02lld", steps_per_second, seconds / 60, seconds % 60);
    line += text;
  }
  return line;
}

void ProgressLine::update(int64_t step, double loss) {
  ema_ = 0.9 * ema_ + 0.1 * loss;
  ema_weight_ = 0.9 * ema_weight_ + 0.1;
  last_step_ = step;
  last_loss_ = loss;
  if (!terminal_ && step % plain_every_ != 0 && step != total_) return;
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  std::string line = format(step, total_, loss, ema_ / ema_weight_, seconds > 0 ? static_cast<double>(step) / seconds : 0.0);
  if (terminal_) std::fprintf(out_, "\r%-78s", line.c_str());  // redraw in place, padding over a longer old line
  else std::fprintf(out_, "%s\n", line.c_str());
  std::fflush(out_);
}

void ProgressLine::finish() {
  if (terminal_) std::fprintf(out_, "\n");
  std::fflush(out_);
}

}  // namespace moments
