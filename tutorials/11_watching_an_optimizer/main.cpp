// Tutorial 11 — watching an optimizer with the Monitor.
//
// Trains a 64-32-10 MLP on the UCI digits with Adam (warmup, then cosine decay)
// for 150 steps and records
// every step with a Monitor (lib/monitor/): gradient norms, the update/parameter
// ratio, the cosine between the update and −g, the size of m and v, the
// state's memory, and Adam's internals per tensor (‖m‖, cos(m, g), √v̂'s
// percentiles, ε's share); writes the CSV log, two trend charts, a per-layer
// heat map of the update ratio and a chart of √v̂ per layer. Then takes one
// deliberately broken step and shows the monitor naming the first NaN.
//
// Build and run:  meson compile -C build && ./build/tutorials/11_watching_an_optimizer [--out DIR]
//   --out DIR  where watching.csv and the PNG charts (watching_*.png) go
//             (default: the current directory)
//   --lr X, --every N, --sgd   a short run of Try this instead: Adam at peak rate X, recording every
//             Nth step, or SGD with momentum; the common columns, no log and no charts
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>

#include "moments.hpp"
#include "plots.hpp"

using namespace moments;

constexpr int64_t steps = 150, batch = 50;

const BufferRecord& buffer(const Record& r, const std::string& name) {
  for (const BufferRecord& b : r.buffers)
    if (b.buffer == name) return b;
  fail("tutorial 11: no state buffer '", name, "' in the record");
}

// Try this: the same loop with another optimizer, peak rate or recording interval; the columns every
// optimizer has, and how many steps record() returned a Record for.
int try_run(bool sgd, double lr, int64_t every) {
  auto [train_set, test_set] = split(load_digits_csv(MOMENTS_DATA_DIR "/digits.csv"), 1400);
  Generator gen(0);
  MLP model({64, 32, 10}, gen);
  std::unique_ptr<Optimizer> opt;
  if (sgd) opt = std::make_unique<SGD>(model.parameters(), SgdOptions{.learning_rate = lr, .momentum = 0.9});
  else opt = std::make_unique<Adam>(model.parameters(), AdamOptions{.learning_rate = lr});
  LrScheduler schedule(*opt, warmup_cosine(10, steps, 0.1));
  Monitor monitor(*opt, model.named_parameters(), {.every = every});
  std::printf("%s (lr %g, warmup 10 steps, cosine decay to %g), recording every %lld%s step\n\n", sgd ? "SGD momentum 0.9" : "Adam",
              lr, lr / 10, static_cast<long long>(every), every == 1 ? "" : "th");
  std::printf(" step        lr    loss  grad_norm  update/param  cosine  state\n");
  int64_t records = 0;
  for (int64_t step = 1; step <= steps; ++step) {
    int64_t begin = ((step - 1) * batch) % (train_set.size() - batch);
    opt->zero_grad();
    Tensor loss = cross_entropy(model.forward(rows(train_set.inputs, begin, begin + batch)),
                                labels_of(train_set, begin, begin + batch));  // forward
    loss.backward();                                                           // backward
    monitor.before_step();
    opt->step();                                                               // update
    const Record* r = monitor.record(step, loss.item());  // nullptr on the steps `every` skips
    schedule.step();
    records += r != nullptr;
    if (r && (step <= 2 || step == 10 || step % 50 == 0)) {
      std::printf("%5lld  %8.2e  %6.4f  %9.4f  %12.2e  %6.3f ", static_cast<long long>(step), r->learning_rates[0],
                  r->loss, r->grad_norm, r->update_ratio, r->cosine);
      for (const BufferRecord& b : r->buffers) std::printf(" %s", b.buffer.c_str());
      std::printf("\n");
    }
  }
  NoGradGuard eval;
  std::printf("\nrecord() returned a Record on %lld of %lld steps (nullptr on the others); the history holds %zu\n",
              static_cast<long long>(records), static_cast<long long>(steps), monitor.history().size());
  std::printf("Held-out accuracy: %.4f\n", accuracy(model.forward(test_set.inputs), test_set.labels));
  return 0;
}

int main(int argc, char** argv) {
  if (argc == 3 && std::strcmp(argv[1], "--lr") == 0) return try_run(false, std::atof(argv[2]), 1);
  if (argc == 3 && std::strcmp(argv[1], "--every") == 0) return try_run(false, 1e-2, std::atoll(argv[2]));
  if (argc == 2 && std::strcmp(argv[1], "--sgd") == 0) return try_run(true, 0.05, 1);
  std::string out_dir = argc == 3 && std::strcmp(argv[1], "--out") == 0 ? argv[2] : ".";
  auto [train_set, test_set] = split(load_digits_csv(MOMENTS_DATA_DIR "/digits.csv"), 1400);
  Generator gen(0);
  MLP model({64, 32, 10}, gen);
  Adam adam(model.parameters(), {.learning_rate = 1e-2});
  // A warmup and a cosine decay, so that the learning-rate panel of the chart has a shape.
  LrScheduler schedule(adam, warmup_cosine(/*warmup_steps=*/10, steps, /*min_factor=*/0.1));
  // overwrite: each run of the tutorial replaces the previous run's log
  // internals: Adam's m and v per tensor, the adam.* columns
  Monitor monitor(adam, model.named_parameters(),
                  {.csv_path = out_dir + "/watching.csv", .log_mode = LogMode::overwrite, .internals = true});
  ProgressLine progress(steps, stdout, /*plain_every=*/steps);  // one plain line, at the end
  progress.set_terminal(false);
  std::printf("Adam (lr 1e-2, warmup 10 steps, cosine decay to 1e-3) on the UCI digits, MLP 64-32-10, "
              "batch %lld, %lld steps\n\n",
              static_cast<long long>(batch), static_cast<long long>(steps));

  std::printf(" step        lr    loss  grad_norm  update/param  cosine   mean|m|    mean v     max v\n");
  for (int64_t step = 1; step <= steps; ++step) {
    int64_t begin = ((step - 1) * batch) % (train_set.size() - batch);
    Tensor x = rows(train_set.inputs, begin, begin + batch);
    adam.zero_grad();
    Tensor loss = cross_entropy(model.forward(x), labels_of(train_set, begin, begin + batch));  // forward
    loss.backward();                                                                            // backward
    monitor.before_step();  // keep θ, to measure Δθ
    adam.step();                                                                                // update
    const Record* r = monitor.record(step, loss.item());  // before schedule.step(): lr is this step's
    schedule.step();
    if (step == 1 || step == 2 || step == 10 || step % 50 == 0)
      std::printf("%5lld  %8.2e  %6.4f  %9.4f  %12.2e  %6.3f  %8.2e  %8.2e  %8.2e\n", static_cast<long long>(step),
                  r->learning_rates[0], r->loss,
                  r->grad_norm, r->update_ratio, r->cosine, buffer(*r, "exp_avg").mean_abs,
                  buffer(*r, "exp_avg_sq").mean_abs, buffer(*r, "exp_avg_sq").max_abs);
    if (step == steps) std::printf("\nThe progress line, plain form (what a log file gets):\n");
    progress.update(step, loss.item());
  }
  progress.finish();

  const Record& last = monitor.history().back();
  std::printf("\nPer parameter at step %lld:\n", static_cast<long long>(last.step));
  std::printf("  %-16s %10s %10s %13s\n", "parameter", "grad_norm", "param_norm", "update/param");
  for (const ParamRecord& p : last.params)
    std::printf("  %-16s %10.4f %10.4f %13.2e\n", p.name.c_str(), p.grad_norm, p.param_norm, p.update_ratio);
  std::printf("Inside Adam at step %lld (sqrt_v_hat = sqrt(v / (1 - beta2^t)), eps = 1e-8):\n",
              static_cast<long long>(last.step));
  std::printf("  %-16s %9s %9s %9s %9s %9s %9s\n", "parameter", "|m|", "cos(m,g)", "p1", "p50", "p99", "eps_share");
  for (const ParamRecord& p : last.params)  // in monitor.internals_names() order: m_norm, cos_m_g, p1, p50, p99, eps_share
    std::printf("  %-16s %9.2e %9.3f %9.2e %9.2e %9.2e %9.3f\n", p.name.c_str(), p.internals[0], p.internals[1],
                p.internals[2], p.internals[3], p.internals[4], p.internals[5]);
  std::printf("State memory:");
  for (const StateMemory& m : last.memory)
    std::printf("  %s %lld B (%s)", m.buffer.c_str(), static_cast<long long>(m.bytes), device_name(m.device));
  std::printf("\n");
  {
    NoGradGuard eval;
    std::printf("Held-out accuracy: %.4f\n", accuracy(model.forward(test_set.inputs), test_set.labels));
  }
  std::printf("The CSV log has %zu columns: %s, %s, %s, %s, ..., %s\n", monitor.columns().size(),
              monitor.columns()[0].c_str(), monitor.columns()[1].c_str(), monitor.columns()[2].c_str(),
              monitor.columns()[3].c_str(), monitor.columns().back().c_str());
  save_trends_png(monitor, out_dir + "/watching_trends.png", "Adam on the UCI digits");
  save_grad_norms_png(monitor, out_dir + "/watching_grad_norms.png", "Gradient norm per parameter");
  // Per-layer views, drawn from the CSV log as moments-plot draws them (plots/heatmap_chart.hpp).
  plots::CsvLog csv = plots::read_csv(out_dir + "/watching.csv");
  plots::heatmap_from_log(csv, "update_ratio.*", {.title = "Update / parameter ratio per layer", .z_label = "|dtheta| / |theta|"})
      .save_png(out_dir + "/watching_update_ratio_heatmap.png");
  plots::Figure sqrt_v({.title = "sqrt(v_hat) per layer: p1, p50, p99 over the elements", .columns = 2,
                        .panel_width = 440, .panel_height = 260});
  for (const std::string& name : monitor.param_names()) {
    plots::LineChart chart({.title = name, .y_scale = plots::Scale::log});
    for (const char* q : {"p1", "p50", "p99"})
      chart.add_series(q, csv.column("step"), csv.column("adam.sqrt_v_hat_" + std::string(q) + "." + name));
    sqrt_v.add(chart);
  }
  sqrt_v.save_png(out_dir + "/watching_sqrt_v_hat.png");
  // What the heat map shows, in numbers: the steps where every layer's ratio is above 1e-2, and how far apart
  // the layers are at the step where they differ most.
  int64_t first_above = 0, last_above = 0;
  double spread = 1;
  for (const Record& r : monitor.history()) {
    double lo = INFINITY, hi = 0;
    for (const ParamRecord& p : r.params) lo = std::min(lo, p.update_ratio), hi = std::max(hi, p.update_ratio);
    if (lo > 1e-2) (first_above ? last_above : first_above) = r.step, last_above = r.step;
    spread = std::max(spread, hi / lo);
  }
  std::printf("Heat map: every layer's update/param above 1e-2 from step %lld to %lld; at most %.1fx between layers\n",
              static_cast<long long>(first_above), static_cast<long long>(last_above), spread);
  std::printf("wrote watching.csv, watching_trends.png, watching_grad_norms.png, watching_update_ratio_heatmap.png,\n"
              "      watching_sqrt_v_hat.png\n\n");

  // ---- A broken step ------------------------------------------------------------
  // A hand-written cross-entropy, -log(softmax(z)[y]) with softmax = exp(z/T) / Σ exp(z/T),
  // and T = 0.001 by mistake: exp overflows to inf, inf / inf is NaN, and backward()
  // spreads the NaN to every gradient. (cross_entropy() subtracts the max first.)
  std::printf("Step %lld: a hand-written cross-entropy with softmax temperature 0.001 by mistake\n",
              static_cast<long long>(steps + 1));
  Tensor x = rows(train_set.inputs, 0, batch);
  Tensor onehot = Tensor::zeros({batch, 10});  // (batch, 10)
  for (int64_t i = 0; i < batch; ++i) onehot.at({i, train_set.labels[static_cast<size_t>(i)]}) = 1.0f;
  adam.zero_grad();
  Tensor z = model.forward(x) / 0.001f;                                             // forward
  Tensor softmax_by_hand = exp(z) / sum(exp(z), 1, /*keepdim=*/true);
  Tensor loss = -mean(log(sum(softmax_by_hand * onehot, 1)));
  loss.backward();                                                                  // backward
  monitor.before_step();
  adam.step();                                                                      // update
  const Record* r = monitor.record(steps + 1, loss.item());
  // The messages end with the first bad element, "(first at element 0: nan)". Whether a NaN prints
  // as "nan" or "-nan" depends on the instructions that made it, so this program stops before it.
  auto up_to_element = [](const std::string& message) { return message.substr(0, message.find(" (first at")); };
  std::printf("  loss %g; the monitor says: %s\n", r->loss, up_to_element(r->nonfinite).c_str());

  // The same check can stop the run instead: throw_on_nonfinite.
  Monitor strict(adam, model.named_parameters(), {.throw_on_nonfinite = true});
  try {
    strict.record(steps + 1, loss.item());
  } catch (const Error& e) {
    std::printf("  with throw_on_nonfinite: moments::Error: %s\n", up_to_element(e.what()).c_str());
  }
  return 0;
}
