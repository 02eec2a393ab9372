// Tutorial 19 — Gradient clipping and loss spikes: one corrupted batch, seen by the
// monitor's z-score, and what clipping and skipping the step each do about it.
//
// Trains a 64-32-10 MLP on the UCI digits with AdamW four times, the same initial
// weights and batches; in three runs the batch of step 300 is corrupted (inputs ×1000
// and every label shifted by one, as a broken data pipeline might give):
//   A  clean batches, clipping ‖g‖ to 1 (the reference);
//   B  the bad batch, no clipping;
//   C  the bad batch, clipping ‖g‖ to 1;
//   D  the bad batch, clipping, and the monitor's skip_spikes: should_skip() says to
//      leave out a step whose loss z-score is above 7, and the loop does.
//
// Build and run:  meson compile -C build && ./build/tutorials/19_clipping_and_spikes [--out DIR]
//   --out DIR  where clipping_spikes.png goes (default: the current directory)
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "moments.hpp"
#include "plots.hpp"

using namespace moments;

constexpr int64_t steps = 400, bad_step = 300, batch = 50;

struct RunResult {
  std::vector<Record> history;  // one record per step
  double final_loss = 0;        // the mean training loss of the last 28 steps (one epoch)
  double held_out = 0;          // accuracy on the held-out images
};

// llm.c's z-score of the last loss in `window` (population σ, the loss itself in the window).
double z_score(const std::vector<double>& window) {
  double mean = 0, var = 0;
  for (double l : window) mean += l / static_cast<double>(window.size());
  for (double l : window) var += (l - mean) * (l - mean) / static_cast<double>(window.size());
  return (window.back() - mean) / std::sqrt(var);
}

RunResult train(const Dataset& data, const Dataset& test, bool corrupt, bool clip, bool skip) {
  Generator gen(0);  // the same initial weights in every run
  MLP model({64, 32, 10}, gen);
  AdamW adamw(model.parameters(), {.learning_rate = 1e-2, .weight_decay = 0.01});
  Monitor monitor(adamw, model.named_parameters(), {.time_steps = false, .skip_spikes = skip});  // window 128, 7 σ
  RunResult result;
  for (int64_t step = 1; step <= steps; ++step) {
    int64_t begin = (step * batch) % (data.size() - batch);  // the same batches in every run
    Tensor x = rows(data.inputs, begin, begin + batch);
    if (corrupt && step == bad_step) x = mul(x, 1000.0f);  // the bad batch
    adamw.zero_grad();
    std::vector<int64_t> y = labels_of(data, begin, begin + batch);
    if (corrupt && step == bad_step)
      for (int64_t& label : y) label = (label + 1) % 10;
    Tensor loss = cross_entropy(model.forward(x), y);  // forward
    loss.backward();                                                                     // backward
    if (clip) monitor.clip_grad_norm(/*max_norm=*/1.0);     // g ← g · min(1, 1 / ‖g‖)
    if (!monitor.should_skip(step, loss.item())) {           // loss z-score; true only with skip_spikes
      monitor.before_step();
      adamw.step();                                          // update
    }
    monitor.record(step, loss.item());
    if (step > steps - 28) result.final_loss += loss.item() / 28.0;
  }
  NoGradGuard eval;
  result.held_out = accuracy(model.forward(test.inputs), test.labels);
  result.history = monitor.history();
  return result;
}

int main(int argc, char** argv) {
  std::string out_dir = argc == 3 && std::strcmp(argv[1], "--out") == 0 ? argv[2] : ".";
  auto [train_set, test_set] = split(load_digits_csv(MOMENTS_DATA_DIR "/digits.csv"), 1400);
  std::printf("UCI digits, MLP 64-32-10, AdamW lr 1e-2, batch %lld, %lld steps; the batch of step %lld has\n"
              "its inputs x1000 and its labels shifted by one\n\n",
              static_cast<long long>(batch), static_cast<long long>(steps), static_cast<long long>(bad_step));
  struct Config {
    const char* name;
    bool corrupt, clip, skip;
  };
  const Config configs[] = {{"A clean, clipped", false, true, false},
                            {"B bad batch", true, false, false},
                            {"C bad batch, clipped", true, true, false},
                            {"D bad batch, clipped, skipped", true, true, true}};
  std::vector<RunResult> results;
  std::printf("run                              step %lld: loss   loss_z  |g| before  |g| after  skipped   final loss  held-out\n",
              static_cast<long long>(bad_step));
  for (const Config& c : configs) {
    results.push_back(train(train_set, test_set, c.corrupt, c.clip, c.skip));
    const Record& r = results.back().history[bad_step - 1];
    std::printf("%-30s %12.4g %8.2f %11.4g %10.4g %8s %12.4f %9.4f\n", c.name, r.loss, r.loss_z,
                std::isnan(r.grad_norm_before_clip) ? r.grad_norm : r.grad_norm_before_clip, r.grad_norm,
                r.skipped ? "yes" : "no", results.back().final_loss, results.back().held_out);
  }

  // Run C's log, read back: the clipping, and llm.c's z-score recomputed by hand.
  const std::vector<Record>& c = results[2].history;
  int clipped = 0;
  int clipped_after = 0;  // in the steps after the bad one
  for (const Record& r : c)
    if (r.grad_norm_before_clip > 1.0 && r.step != bad_step) ++(r.step < bad_step ? clipped : clipped_after);
  std::printf("\nrun C: clipping scaled the gradients on step %lld, on %d steps before it and %d after it\n",
              static_cast<long long>(bad_step), clipped, clipped_after);
  std::vector<double> window;  // the losses of steps 173-300: llm.c's window of 128, the new loss in it
  for (int64_t t = bad_step - 127; t <= bad_step; ++t) window.push_back(c[t - 1].loss);
  std::printf("loss_z at step %lld by hand over steps %lld-%lld: %.2f (the monitor's %.2f); at most sqrt(127) = %.2f\n",
              static_cast<long long>(bad_step), static_cast<long long>(bad_step - 127), static_cast<long long>(bad_step),
              z_score(window), c[bad_step - 1].loss_z, std::sqrt(127.0));
  double largest_after = 0;
  for (int64_t t = bad_step + 1; t <= steps; ++t) largest_after = std::max(largest_after, std::fabs(c[t - 1].loss_z));
  std::printf("after it the spike stays in the window: largest |loss_z| over steps %lld-%lld %.2f\n",
              static_cast<long long>(bad_step + 1), static_cast<long long>(steps), largest_after);
  for (int repeat = 2; repeat <= 3; ++repeat) {  // the same loss again, in the steps right after
    window.erase(window.begin());
    window.push_back(c[bad_step - 1].loss);
    std::printf("  the same loss again at step %lld would score %.2f\n", static_cast<long long>(bad_step + repeat - 1),
                z_score(window));
  }
  int flagged_old = 0;
  for (const Record& r : c) flagged_old += r.loss_spike;
  std::printf("today's rule (4 sigma over the previous 50 records) flags %d step(s) in run C\n", flagged_old);

  std::vector<double> step_axis, z;
  for (int64_t t = 1; t <= steps; ++t) step_axis.push_back(static_cast<double>(t));
  plots::LineChart loss_chart({.title = "minibatch loss", .y_label = "loss", .y_scale = plots::Scale::log});
  for (size_t i = 0; i < results.size(); ++i) {
    std::vector<double> loss;
    for (const Record& r : results[i].history) loss.push_back(r.loss);
    loss_chart.add_series(std::string(configs[i].name).substr(0, 1), step_axis, loss);
  }
  for (const Record& r : c) z.push_back(r.loss_z);
  plots::LineChart z_chart({.title = "loss z-score (run C)", .y_label = "loss_z", .x_min = 0.0});
  z_chart.add_series("C", step_axis, z).add_reference_line(7.0, "threshold 7");
  plots::Figure figure({.title = "One corrupted batch at step 300"});
  figure.add(loss_chart).add(z_chart);
  figure.save_png(out_dir + "/clipping_spikes.png");
  std::printf("wrote clipping_spikes.png\n");
  return 0;
}
