// Tutorial 10 — learning-rate schedules, warmup and gradient clipping.
//
// Trains the digits MLP (64-64-10) with Adam three ways:
//   1. with and without a warmup at a large learning rate: what the first steps do;
//   2. under six schedules (constant, linear decay, cosine, step decay, OneCycle,
//      ReduceLROnPlateau) from the same weights on the same batches;
//   3. with one bad batch (inputs ×100, labels shifted by one) at step 300, with and without clip_grad_norm.
//
// Build and run:  meson compile -C build && ./build/tutorials/10_schedules_warmup_and_clipping [options]
//   --lr X        part 1's learning rate (default 0.3, ten times a good one)
//   --warmup N    part 1's warmup in steps (default 48, two epochs)
//   --peak X      the peak learning rate of parts 2 and 3 (default 0.03)
//   --clip X      part 3's max_norm (default 1)
//   --part N      run part N alone (1, 2 or 3), without the chart
//   --out DIR     where schedules.png goes (default: the current directory)
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "moments.hpp"
#include "plots.hpp"

using namespace moments;

constexpr int64_t batch = 50, steps_per_epoch = 24, epochs = 20, total = steps_per_epoch * epochs;  // 480 steps

struct Data {
  Dataset train, validation, test;
};

// One training run: the model from seed 0, Adam, and whatever sets its learning rate. `on_step(step)`
// runs after each update (a schedule's step()), `on_epoch(validation loss)` after each epoch.
struct Run {
  Generator gen{0};
  MLP model{{64, 64, 10}, gen};
  Adam adam;
  std::vector<double> losses, learning_rates, update_ratios, grad_norms;  // per step
  double validation_loss = 0;
  explicit Run(double lr) : adam(model.parameters(), {.learning_rate = lr}) {}

  // Steps 1..`steps`; step t trains on images [50 t, 50 t + 50) mod 1150 of the training set.
  // `max_norm` > 0 clips the gradients; `bad_step` gets its inputs multiplied by 100.
  void train(const Data& data, int64_t steps, const std::function<void(int64_t)>& on_step,
             const std::function<void(double)>& on_epoch = nullptr, double max_norm = 0, int64_t bad_step = -1) {
    for (int64_t step = 1; step <= steps; ++step) {
      int64_t begin = (step * batch) % (data.train.size() - batch);
      Tensor x = rows(data.train.inputs, begin, begin + batch);
      std::vector<int64_t> y = labels_of(data.train, begin, begin + batch);
      if (step == bad_step) {  // a broken batch: the inputs 100 times too large, the labels off by one
        x = mul(x, 100.0f);
        for (int64_t& label : y) label = (label + 1) % 10;
      }
      adam.zero_grad();
      Tensor loss = cross_entropy(model.forward(x), y);  // forward
      loss.backward();                                   // backward
      // The global gradient norm; with max_norm > 0 the gradients are scaled down to it (else nothing changes).
      grad_norms.push_back(clip_grad_norm(adam.all_params(), max_norm > 0 ? max_norm : 1e30));
      std::vector<Tensor> before;
      for (const Tensor& p : adam.all_params()) before.push_back(p.detach().clone());
      learning_rates.push_back(adam.learning_rate(0));
      adam.step();                                       // update
      update_ratios.push_back(update_ratio(before));
      losses.push_back(loss.item());
      on_step(step);
      if (step % steps_per_epoch == 0) {
        validation_loss = evaluate(data.validation);
        if (on_epoch) on_epoch(validation_loss);
      }
    }
  }
  // ‖Δθ‖ / ‖θ‖ over all parameters, θ before the step.
  double update_ratio(const std::vector<Tensor>& before) const {
    NoGradGuard plain;
    double d2 = 0, t2 = 0;
    std::vector<Tensor> now = adam.all_params();
    for (size_t i = 0; i < now.size(); ++i) {
      Tensor d = now[i] - before[i];
      d2 += sum(d * d).item(), t2 += sum(before[i] * before[i]).item();
    }
    return std::sqrt(d2 / t2);
  }
  double evaluate(const Dataset& set) {
    NoGradGuard eval;
    return cross_entropy(model.forward(set.inputs), set.labels).item();
  }
  double test_accuracy(const Data& data) {
    NoGradGuard eval;
    return accuracy(model.forward(data.test.inputs), data.test.labels);
  }
  // Hidden units that no training image activates: a dead ReLU gets no gradient again, and stays dead.
  int64_t dead_units(const Dataset& set) const {
    NoGradGuard eval;
    Tensor hidden = relu(model.layers[0].forward(set.inputs));  // [images, 64]
    int64_t dead = 0;
    for (int64_t j = 0; j < hidden.shape()[1]; ++j) {
      bool alive = false;
      for (int64_t i = 0; i < hidden.shape()[0] && !alive; ++i) alive = hidden.data()[i * hidden.shape()[1] + j] > 0;
      dead += !alive;
    }
    return dead;
  }
  double last_epoch_loss() const {
    double mean = 0;
    for (size_t i = losses.size() - steps_per_epoch; i < losses.size(); ++i) mean += losses[i] / steps_per_epoch;
    return mean;
  }
};

double flag(int argc, char** argv, const char* name, double fallback) {
  for (int i = 1; i + 1 < argc; ++i)
    if (std::strcmp(argv[i], name) == 0) return std::atof(argv[i + 1]);
  return fallback;
}

// 1. Warmup: Adam's first steps at lr = part1_lr, then a cosine decay. Returns the two runs.
std::pair<std::unique_ptr<Run>, std::unique_ptr<Run>> warmup_part(const Data& data, double part1_lr, int64_t warmup) {
  auto cold = std::make_unique<Run>(part1_lr), warm = std::make_unique<Run>(part1_lr);
  LrScheduler cold_schedule(cold->adam, warmup_cosine(1, total));  // no warmup: the full rate from step 1
  LrScheduler warm_schedule(warm->adam, warmup_cosine(std::max<int64_t>(warmup, 1), total));
  cold->train(data, total, [&](int64_t) { cold_schedule.step(); });
  warm->train(data, total, [&](int64_t) { warm_schedule.step(); });
  std::printf("1. Adam at lr %g with a cosine decay, without and with a linear warmup of %lld steps\n",
              part1_lr, static_cast<long long>(warmup));
  std::printf("   step      no warmup: loss  update ratio      warmup: lr      loss  update ratio\n");
  for (int64_t t : {1, 2, 3, 5, 10, 20, 50, 100}) {
    size_t i = static_cast<size_t>(t - 1);
    std::printf("%7lld %22.4f %13.2e %15.2e %9.4f %13.2e\n", static_cast<long long>(t), cold->losses[i],
                cold->update_ratios[i], warm->learning_rates[i], warm->losses[i], warm->update_ratios[i]);
  }
  std::printf("   final: no warmup loss %.4f, test accuracy %.4f, dead hidden units %lld of 64;\n"
              "          warmup    loss %.4f, test accuracy %.4f, dead hidden units %lld of 64\n",
              cold->last_epoch_loss(), cold->test_accuracy(data), static_cast<long long>(cold->dead_units(data.train)),
              warm->last_epoch_loss(), warm->test_accuracy(data), static_cast<long long>(warm->dead_units(data.train)));
  {  // Step 1 without warmup, weight by weight: m̂/√v̂ = g/|g|, so each weight moved by exactly lr (or not at all).
    Run first(part1_lr);
    std::vector<Tensor> before;
    for (const Tensor& p : first.adam.all_params()) before.push_back(p.detach().clone());
    first.train(data, 1, [](int64_t) {});
    int64_t moved = 0, exact = 0, weights = 0;
    double g_min = INFINITY, g_max = 0, g_short = 0;  // |g| of the weights that moved by lr; the largest of the others
    std::vector<Tensor> now = first.adam.all_params();
    for (size_t k = 0; k < now.size(); ++k)
      for (int64_t j = 0; j < now[k].numel(); ++j) {
        double step = std::fabs(static_cast<double>(now[k].data()[j]) - before[k].data()[j]);
        double g = std::fabs(now[k].grad().data()[j]);
        ++weights;
        if (step == 0) continue;
        ++moved;
        if (step >= 0.99 * part1_lr) {  // lr · |g| / (|g| + ε): within 1% of lr once |g| > 1e-6
          ++exact, g_min = std::min(g_min, g), g_max = std::max(g_max, g);
        } else {
          g_short = std::max(g_short, g);
        }
      }
    std::printf("   step 1 without warmup: %lld of %lld weights moved (the others had g = 0), %lld of them by\n"
                "   0.99 lr or more, whether their |g| was %.1e or %.1e",
                static_cast<long long>(moved), static_cast<long long>(weights), static_cast<long long>(exact), g_min, g_max);
    if (exact < moved) std::printf("; the rest by less (|g| up to %.1e)", g_short);
    std::printf("\n\n");
  }

  return {std::move(cold), std::move(warm)};
}

struct Contender {
  const char* name;
  std::unique_ptr<Run> run;
};

// 2. Six schedules of the same peak rate lr, from the same weights on the same batches.
std::vector<Contender> schedules_part(const Data& data, double lr) {
  const int64_t warm_steps = steps_per_epoch;  // one epoch of warmup where a schedule has one
  std::vector<Contender> runs;
  std::printf("2. Schedules of Adam's lr, peak %g (a warmup of %lld steps where the schedule has one)\n", lr,
              static_cast<long long>(warm_steps));
  std::printf("   schedule              lr at step 1      120      240      360      480   train loss   val loss   test acc\n");
  auto report = [&](const char* name, std::unique_ptr<Run> run) {
    const std::vector<double>& l = run->learning_rates;
    std::printf("   %-18s %12.2e %8.2e %8.2e %8.2e %8.2e %12.4f %10.4f %10.4f\n", name, l[0], l[119], l[239], l[359], l[479],
                run->last_epoch_loss(), run->validation_loss, run->test_accuracy(data));
    runs.push_back({name, std::move(run)});
  };
  auto with_schedule = [&](Schedule schedule) {
    auto run = std::make_unique<Run>(lr);
    LrScheduler scheduler(run->adam, std::move(schedule));
    run->train(data, total, [&](int64_t) { scheduler.step(); });
    return run;
  };
  report("constant", with_schedule(linear_warmup(warm_steps)));
  report("linear decay", with_schedule(multiply(linear_warmup(warm_steps), linear_decay(total))));
  report("cosine", with_schedule(warmup_cosine(warm_steps, total)));
  report("step decay (x0.1)", with_schedule(multiply(linear_warmup(warm_steps), step_decay(total / 2, 0.1))));
  {
    auto run = std::make_unique<Run>(lr);
    OneCycleLR cycle(run->adam, {.max_learning_rate = lr, .total_steps = total});  // also cycles β1: 0.95 → 0.85 → 0.95
    run->train(data, total, [&](int64_t) { cycle.step(); });
    report("OneCycle", std::move(run));
  }
  int64_t reductions = 0, after_last = 0, epoch = 0;  // after_last: halvings after the last epoch, used by no step
  {
    auto run = std::make_unique<Run>(lr);
    ReduceLROnPlateau plateau(run->adam, {.factor = 0.5, .patience = 1});  // halve after 2 epochs without progress
    run->train(data, total, [](int64_t) {}, [&](double validation_loss) {
      ++epoch;
      if (plateau.step(validation_loss)) ++(epoch == epochs ? after_last : reductions);
    });
    report("ReduceLROnPlateau", std::move(run));
  }
  std::printf("   (ReduceLROnPlateau halved the rate %lld times during training, each time after two epochs without a\n"
              "   better validation loss%s)\n\n", static_cast<long long>(reductions),
              after_last ? ", and once more after the last epoch, when no step was left to use it" : "");

  return runs;
}

// 3. A bad batch at step 300 under the cosine schedule, not clipped and clipped to max_norm. Returns the losses.
std::vector<std::vector<double>> clipping_part(const Data& data, double lr, double max_norm) {
  const int64_t warm_steps = steps_per_epoch;
  const int64_t bad_step = 300;
  std::printf("3. The batch of step %lld has its inputs x100 and its labels shifted; cosine schedule; clip_grad_norm(max_norm = %g)\n",
              static_cast<long long>(bad_step), max_norm);
  std::printf("   run            |g| at step 300  loss 300    301      310   update ratio 280-299 / 301-320"
              "   final loss  test acc  steps clipped\n");
  std::vector<std::vector<double>> bad_batch_losses;  // per run, for the chart
  for (bool clip : {false, true}) {
    Run run(lr);
    LrScheduler scheduler(run.adam, warmup_cosine(warm_steps, total));
    run.train(data, total, [&](int64_t) { scheduler.step(); }, nullptr, clip ? max_norm : 0, bad_step);
    int64_t clipped = 0;
    for (double norm : run.grad_norms) clipped += clip && norm > max_norm;
    double before_ratio = 0, after_ratio = 0;  // the mean update ratio over the 20 steps before and after
    for (int64_t k = 1; k <= 20; ++k)
      before_ratio += run.update_ratios[bad_step - 1 - k] / 20, after_ratio += run.update_ratios[bad_step - 1 + k] / 20;
    std::printf("   %-13s %16.1f %9.3f %8.3f %8.3f %18.2e / %.2e %12.4f %9.4f %14lld\n", clip ? "clipped" : "not clipped",
                run.grad_norms[bad_step - 1], run.losses[bad_step - 1], run.losses[bad_step], run.losses[bad_step + 9],
                before_ratio, after_ratio, run.last_epoch_loss(), run.test_accuracy(data), static_cast<long long>(clipped));
    bad_batch_losses.push_back(run.losses);
  }

  return bad_batch_losses;
}

int main(int argc, char** argv) {
  const double part1_lr = flag(argc, argv, "--lr", 0.3), lr = flag(argc, argv, "--peak", 0.03);
  const double max_norm = flag(argc, argv, "--clip", 1.0);
  const int64_t warmup = static_cast<int64_t>(flag(argc, argv, "--warmup", 48));
  const int part = static_cast<int>(flag(argc, argv, "--part", 0));  // 0: all three, and the chart
  std::string out_dir = ".";
  for (int i = 1; i + 1 < argc; ++i)
    if (std::strcmp(argv[i], "--out") == 0) out_dir = argv[i + 1];
  auto [train_and_validation, test] = split(load_digits_csv(MOMENTS_DATA_DIR "/digits.csv"), 1400);
  auto [train, validation] = split(train_and_validation, 1200);
  const Data data{train, validation, test};
  std::printf("UCI digits: %lld training, %lld validation, %lld test images; MLP 64-64-10, Adam, batch 50,\n"
              "%lld epochs of %lld steps (%lld steps), the same initial weights and batches in every run\n\n",
              static_cast<long long>(train.size()), static_cast<long long>(validation.size()),
              static_cast<long long>(test.size()), static_cast<long long>(epochs),
              static_cast<long long>(steps_per_epoch), static_cast<long long>(total));

  if (part == 1) warmup_part(data, part1_lr, warmup);  // one part alone: no chart
  if (part == 2) schedules_part(data, lr);
  if (part == 3) clipping_part(data, lr, max_norm);
  if (part != 0) return 0;
  auto [cold, warm] = warmup_part(data, part1_lr, warmup);
  std::vector<Contender> runs = schedules_part(data, lr);
  std::vector<std::vector<double>> bad_batch_losses = clipping_part(data, lr, max_norm);

  plots::LineChart lr_chart({.title = "the learning rate of each schedule", .x_label = "step", .y_label = "lr"});
  std::vector<double> steps;
  for (int64_t t = 1; t <= total; ++t) steps.push_back(static_cast<double>(t));
  for (const Contender& c : runs) lr_chart.add_series(c.name, steps, c.run->learning_rates);
  plots::LineChart warm_chart({.title = "the first 100 steps at lr " + std::to_string(part1_lr).substr(0, 4) +
                                            ": the update ratio",
                               .x_label = "step", .y_label = "|update| / |theta|", .y_scale = plots::Scale::log});
  std::vector<double> first(steps.begin(), steps.begin() + 100);
  warm_chart.add_series("no warmup", first, std::vector<double>(cold->update_ratios.begin(), cold->update_ratios.begin() + 100));
  warm_chart.add_series("warmup", first, std::vector<double>(warm->update_ratios.begin(), warm->update_ratios.begin() + 100));
  plots::LineChart clip_chart({.title = "a bad batch at step 300: the minibatch loss", .x_label = "step",
                               .y_label = "loss", .y_scale = plots::Scale::log});
  clip_chart.add_series("not clipped", steps, bad_batch_losses[0]).add_series("clipped", steps, bad_batch_losses[1]);
  plots::Figure figure({.title = "Warmup, schedules and clipping (Adam, the digits MLP)", .columns = 3});
  figure.add(warm_chart).add(lr_chart).add(clip_chart);
  figure.save_png(out_dir + "/schedules.png");
  std::printf("\nwrote schedules.png\n");
  return 0;
}
