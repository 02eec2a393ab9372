// Tutorial 20 — Gradient clipping and loss spikes: one corrupted batch, seen by the
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
// Then D once more, stopped at step 250 and resumed from a checkpoint, with and
// without the monitor's state in it.
//
// Build and run:  meson compile -C build && ./build/tutorials/20_clipping_and_spikes [--out DIR]
//   --out DIR  where clipping_spikes.png goes (default: the current directory)
//   --bad-steps N, --max-norm X, --window-32   the experiments of Try this (the table only)
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "checkpoint.hpp"
#include "moments.hpp"
#include "plots.hpp"

using namespace moments;

constexpr int64_t steps = 400, bad_step = 300, batch = 50;
int64_t bad_steps = 1;   // --bad-steps N: the batches of steps 300 .. 300 + N − 1 are corrupted (Try this)
float max_norm = 1.0f;   // --max-norm X: the clipping threshold (Try this)

// llm.c's z-score of the last loss in `window` (population σ, the loss itself in the window).
double z_score(const std::vector<double>& window) {
  double mean = 0, var = 0;
  for (double l : window) mean += l / static_cast<double>(window.size());
  for (double l : window) var += (l - mean) * (l - mean) / static_cast<double>(window.size());
  return (window.back() - mean) / std::sqrt(var);
}

struct Config {
  const char* name;
  bool corrupt, clip, skip;
};

// One run: the model, its optimizer and its monitor. `seed` sets the initial weights only.
struct Run {
  Generator gen;
  MLP model;
  AdamW adamw;
  Monitor monitor;
  Config config;
  double final_loss = 0;  // the mean training loss of the last 28 steps (one epoch)
  Run(const Config& c, uint64_t seed = 0, std::string csv_path = "")
      : gen(seed), model({64, 32, 10}, gen), adamw(model.parameters(), {.learning_rate = 1e-2, .weight_decay = 0.01}),
        monitor(adamw, model.named_parameters(),  // a window of 128 losses, a threshold of 7 σ
                {.csv_path = std::move(csv_path), .log_mode = LogMode::append, .time_steps = false, .skip_spikes = c.skip}),
        config(c) {}

  // Steps [from, to]; step t trains on images [50 t, 50 t + 50) mod 1350 of the training set.
  void train(const Dataset& data, int64_t from, int64_t to) {
    for (int64_t step = from; step <= to; ++step) {
      int64_t begin = (step * batch) % (data.size() - batch);
      Tensor x = rows(data.inputs, begin, begin + batch);
      std::vector<int64_t> y = labels_of(data, begin, begin + batch);
      if (config.corrupt && step >= bad_step && step < bad_step + bad_steps) {  // the bad batch
        x = mul(x, 1000.0f);
        for (int64_t& label : y) label = (label + 1) % 10;
      }
      adamw.zero_grad();
      Tensor loss = cross_entropy(model.forward(x), y);  // forward
      loss.backward();                                   // backward
      if (config.clip) monitor.clip_grad_norm(max_norm);  // g ← g · min(1, max_norm / ‖g‖), max_norm = 1
      if (!monitor.should_skip(step, loss.item())) {     // loss z-score; true only with skip_spikes
        monitor.before_step();
        adamw.step();                                    // update
      }
      monitor.record(step, loss.item());
      if (step > steps - 28) final_loss += loss.item() / 28.0;
    }
  }
  double held_out(const Dataset& test) {
    NoGradGuard eval;
    return accuracy(model.forward(test.inputs), test.labels);
  }
  const Record& at(int64_t step) const { return monitor.history()[static_cast<size_t>(step - monitor.history()[0].step)]; }
};

// Try this: a window of 32 losses. Its z-score can never exceed √31, so the monitor refuses a threshold of 7.
int small_window() {
  Generator gen(0);
  MLP model({64, 32, 10}, gen);
  AdamW adamw(model.parameters(), {.learning_rate = 1e-2});
  std::printf("loss_z_window = 32: the ceiling sqrt(N - 1) is %.2f\n", std::sqrt(31.0));
  try {
    Monitor monitor(adamw, model.named_parameters(), {.loss_z_window = 32});
    std::printf("  the monitor accepts the default threshold\n");
  } catch (const Error& e) {
    std::printf("  with the default threshold: %s\n", e.what());
  }
  Monitor monitor(adamw, model.named_parameters(), {.loss_z_window = 32, .loss_z_threshold = 5});
  std::printf("  with loss_z_threshold = 5: accepted\n");
  return 0;
}

int main(int argc, char** argv) {
  std::string out_dir = argc == 3 && std::strcmp(argv[1], "--out") == 0 ? argv[2] : ".";
  auto [train_set, test_set] = split(load_digits_csv(MOMENTS_DATA_DIR "/digits.csv"), 1400);
  if (argc == 2 && std::strcmp(argv[1], "--window-32") == 0) return small_window();
  const bool table_only = argc == 3 && (std::strcmp(argv[1], "--bad-steps") == 0 || std::strcmp(argv[1], "--max-norm") == 0);
  if (table_only) (std::strcmp(argv[1], "--bad-steps") == 0 ? void(bad_steps = std::atoll(argv[2])) : void(max_norm = std::strtof(argv[2], nullptr)));
  std::printf("UCI digits, MLP 64-32-10, AdamW lr 1e-2, batch %lld, %lld steps; the batch of step %lld has\n"
              "its inputs x1000 and its labels shifted by one\n",
              static_cast<long long>(batch), static_cast<long long>(steps), static_cast<long long>(bad_step));
  if (bad_steps > 1) std::printf("and so have the batches of the next %lld steps\n", static_cast<long long>(bad_steps - 1));
  if (max_norm != 1.0f) std::printf("clipping at max_norm %g\n", static_cast<double>(max_norm));
  std::printf("\n");
  const Config configs[] = {{"A clean, clipped", false, true, false},
                            {"B bad batch", true, false, false},
                            {"C bad batch, clipped", true, true, false},
                            {"D bad batch, clipped, skipped", true, true, true}};
  std::vector<std::unique_ptr<Run>> runs;
  std::printf("run                              step %lld: loss   loss_z  |g| before  |g| after  skipped   final loss  held-out\n",
              static_cast<long long>(bad_step));
  for (const Config& c : configs) {
    Run& run = *runs.emplace_back(std::make_unique<Run>(c));
    run.train(train_set, 1, steps);
    const Record& r = run.at(bad_step);
    std::printf("%-30s %12.4g %8.2f %11.4g %10.4g %8s %12.4f %9.4f\n", c.name, r.loss, r.loss_z,
                std::isnan(r.grad_norm_before_clip) ? r.grad_norm : r.grad_norm_before_clip, r.grad_norm,
                r.skipped ? "yes" : "no", run.final_loss, run.held_out(test_set));
  }

  // Run C's log, read back: the clipping, and llm.c's z-score recomputed by hand.
  const std::vector<Record>& c = runs[2]->monitor.history();
  int clipped = 0;
  int clipped_after = 0;  // in the steps after the bad one
  for (const Record& r : c)
    if (r.grad_norm_before_clip > max_norm && r.step != bad_step) ++(r.step < bad_step ? clipped : clipped_after);
  std::printf("\nrun C: clipping scaled the gradients on step %lld, on %d steps before it and %d after it\n",
              static_cast<long long>(bad_step), clipped, clipped_after);
  if (table_only) {  // Try this: the steps D skipped, and no more
    std::string skipped;
    for (const Record& r : runs[3]->monitor.history())
      if (r.skipped) skipped += (skipped.empty() ? "" : ", ") + std::to_string(r.step);
    std::printf("run D skipped step(s) %s\n", skipped.empty() ? "none" : skipped.c_str());
    return 0;
  }
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
  std::string flagged;  // the steps today's rule flags
  for (const Record& r : c)
    if (r.loss_spike) flagged += (flagged.empty() ? "" : ", ") + std::to_string(r.step);
  std::printf("today's rule (4 sigma over the previous 50 records) flags, in run C, step(s) %s\n", flagged.c_str());

  std::vector<double> step_axis, z;
  for (int64_t t = 1; t <= steps; ++t) step_axis.push_back(static_cast<double>(t));
  plots::LineChart loss_chart({.title = "minibatch loss", .y_label = "loss", .y_scale = plots::Scale::log});
  for (size_t i = 0; i < runs.size(); ++i) {
    std::vector<double> loss;
    for (const Record& r : runs[i]->monitor.history()) loss.push_back(r.loss);
    loss_chart.add_series(std::string(configs[i].name).substr(0, 1), step_axis, loss);
  }
  for (const Record& r : c) z.push_back(r.loss_z);
  plots::LineChart z_chart({.title = "loss z-score (run C)", .y_label = "loss_z", .x_min = 0.0});
  z_chart.add_series("C", step_axis, z).add_reference_line(7.0, "threshold 7");
  plots::Figure figure({.title = "One corrupted batch at step 300"});
  figure.add(loss_chart).add(z_chart);
  figure.save_png(out_dir + "/clipping_spikes.png");

  // Run D again, stopped after step 250 and resumed from a checkpoint in a "new process",
  // once with the monitor's state saved in the checkpoint and once without.
  const std::filesystem::path temp = std::filesystem::temp_directory_path();
  const std::string straight_log = (temp / "moments_tutorial_19_straight.csv").string(),
                    resumed_log = (temp / "moments_tutorial_19_resumed.csv").string(),
                    checkpoint = (temp / "moments_tutorial_19.safetensors").string();
  for (const std::string& path : {straight_log, resumed_log}) std::filesystem::remove(path);
  const int64_t stop = 250;
  Run straight(configs[3], 0, straight_log);
  straight.train(train_set, 1, steps);
  {
    Run first(configs[3], 0, resumed_log);
    first.train(train_set, 1, stop);
    save_checkpoint(checkpoint, first.model, first.adamw, nullptr,
                    {.step = stop, .metadata = {{"monitor", first.monitor.state()}}});
  }  // the first process ends
  std::printf("\nrun D stopped after step %lld and resumed from its checkpoint (other initial weights, replaced):\n",
              static_cast<long long>(stop));
  for (bool restore : {true, false}) {
    Run resumed(configs[3], 1, restore ? resumed_log : "");
    CheckpointInfo info = load_checkpoint(checkpoint, resumed.model, resumed.adamw);
    if (restore) resumed.monitor.restore(info.metadata);  // the smoothed loss and both spike windows
    resumed.train(train_set, info.step + 1, steps);
    const Record& r = resumed.at(bad_step);
    std::printf("  %-24s step %lld: loss_z %5.2f, skipped %-3s  final loss %.4f  held-out %.4f\n",
                restore ? "monitor.restore(state):" : "without restore():", static_cast<long long>(bad_step), r.loss_z,
                r.skipped ? "yes" : "no", resumed.final_loss, resumed.held_out(test_set));
  }
  std::ifstream a(straight_log, std::ios::binary), b(resumed_log, std::ios::binary);
  std::string straight_text((std::istreambuf_iterator<char>(a)), {}), resumed_text((std::istreambuf_iterator<char>(b)), {});
  std::printf("  the resumed log against the uninterrupted run's: %s (%lld lines)\n",
              straight_text == resumed_text ? "identical" : "DIFFERENT",
              static_cast<long long>(std::count(resumed_text.begin(), resumed_text.end(), '\n')));
  for (const std::string& path : {straight_log, resumed_log, checkpoint}) std::filesystem::remove(path);
  std::printf("wrote clipping_spikes.png\n");
  return 0;
}
