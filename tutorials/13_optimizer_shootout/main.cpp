// Tutorial 13 — the optimizer shoot-out (moments' flagship).
//
// Trains the same MLP (784-128-10) on Fashion-MNIST with SGD + momentum, Adam,
// AdamW and Adafactor, from the same initial weights on the same batches, with
// a monitor on every step. Prints a table and writes charts and CSV logs.
//
// Build and run:  meson compile -C build && ./build/tutorials/13_optimizer_shootout [--quick] [--out DIR]
//   --quick   2 epochs on the first 6000 training and 2000 test images (what the tests run)
//   --out DIR where the PNG charts and CSV logs go (default: the current directory)
//   --weight-decay X   AdamW's λ (default 0.05); --constant   no warmup, no decay   (see Try this)
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <memory>
#include <numeric>
#include <string>

#include "moments.hpp"

using namespace moments;
using Params = std::vector<Tensor>;

struct Contender {
  std::string name;
  std::function<std::unique_ptr<Optimizer>(const Params&)> make;
};

int run(int argc, char** argv) {
  bool quick = false, constant = false;  // --constant: no warmup and no decay (Try this)
  double adamw_decay = 0.05;              // --weight-decay: AdamW's λ (Try this)
  std::string out_dir = ".";
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--quick") == 0) quick = true;
    else if (std::strcmp(argv[i], "--out") == 0 && i + 1 < argc) out_dir = argv[++i];
    else if (std::strcmp(argv[i], "--weight-decay") == 0 && i + 1 < argc) adamw_decay = std::atof(argv[++i]);
    else if (std::strcmp(argv[i], "--constant") == 0) constant = true;
    else return std::fprintf(stderr, "usage: %s [--quick] [--out DIR] [--weight-decay X] [--constant]\n", argv[0]), 2;
  }
  Dataset train = load_fashion_mnist("train"), test = load_fashion_mnist("test");
  if (quick) {
    train = split(train, 6000).first;
    test = split(test, 2000).first;
  }
  const int epochs = quick ? 2 : 10;
  const int64_t batch = 128, steps_per_epoch = train.size() / batch, total = epochs * steps_per_epoch;

  std::vector<Contender> contenders = {
      {"SGD", [](const Params& p) { return std::make_unique<SGD>(p, SgdOptions{.learning_rate = 0.05, .momentum = 0.9}); }},
      {"Adam", [](const Params& p) { return std::make_unique<Adam>(p, AdamOptions{.learning_rate = 1e-3}); }},
      {"AdamW", [adamw_decay](const Params& p) { return std::make_unique<AdamW>(p, AdamWOptions{.learning_rate = 1e-3, .weight_decay = adamw_decay}); }},
      {"Adafactor", [](const Params& p) { return std::make_unique<Adafactor>(p, AdafactorOptions{}); }},
  };
  std::printf("Fashion-MNIST: %lld training and %lld test images; MLP 784-128-10; batch %lld; %d epochs;\n",
              static_cast<long long>(train.size()), static_cast<long long>(test.size()), static_cast<long long>(batch), epochs);
  if (constant) std::printf("a constant learning rate for each optimizer (no warmup, no decay)\n");
  else std::printf("a warmup of %lld steps, then cosine decay of each optimizer's learning rate\n",
                   static_cast<long long>(std::min<int64_t>(100, total / 10)));
  if (adamw_decay != 0.05) std::printf("AdamW's weight decay %g\n", adamw_decay);
  std::printf("\n");
  std::printf("optimizer   final train loss   test accuracy   state memory   time per epoch\n");

  std::vector<std::unique_ptr<Optimizer>> optimizers;
  std::vector<std::unique_ptr<Monitor>> monitors;
  for (const Contender& c : contenders) {
    Generator init(0);  // the same initial weights for every optimizer
    MLP model({784, 128, 10}, init);
    optimizers.push_back(c.make(model.parameters()));
    Optimizer& opt = *optimizers.back();
    LrScheduler schedule(opt, constant ? constant_schedule() : warmup_cosine(std::min<int64_t>(100, total / 10), total));
    monitors.push_back(std::make_unique<Monitor>(opt, model.named_parameters(),
                                                 MonitorOptions{.csv_path = out_dir + "/shootout_" + c.name + ".csv",
                                                                .log_mode = LogMode::overwrite}));  // a rerun replaces its logs
    Monitor& monitor = *monitors.back();
    ProgressLine progress(total, stderr);  // stderr: stdout stays the same on every run

    Generator shuffle(1);  // the same batches for every optimizer
    std::vector<int64_t> order(static_cast<size_t>(train.size()));
    Tensor x = Tensor::empty({batch, 784});
    std::vector<int64_t> y(static_cast<size_t>(batch));
    double last_epoch_loss = 0.0;
    auto start = std::chrono::steady_clock::now();
    int64_t step = 0;
    for (int epoch = 0; epoch < epochs; ++epoch) {
      std::iota(order.begin(), order.end(), 0);
      for (size_t i = order.size() - 1; i > 0; --i)  // Fisher–Yates with our own generator
        std::swap(order[i], order[static_cast<size_t>(shuffle.uniform() * static_cast<float>(i + 1)) % (i + 1)]);
      last_epoch_loss = 0.0;
      for (int64_t b = 0; b < steps_per_epoch; ++b) {
        for (int64_t k = 0; k < batch; ++k) {
          int64_t example = order[static_cast<size_t>(b * batch + k)];
          std::copy_n(train.inputs.data() + example * 784, 784, x.data() + k * 784);
          y[static_cast<size_t>(k)] = train.labels[static_cast<size_t>(example)];
        }
        opt.zero_grad();
        Tensor loss = cross_entropy(model.forward(x), y);  // forward
        loss.backward();                                   // backward
        monitor.before_step();
        opt.step();                                        // update
        monitor.record(++step, loss.item());               // before schedule.step(): it logs this step's lr
        schedule.step();
        progress.update(step, loss.item());
        last_epoch_loss += loss.item() / static_cast<double>(steps_per_epoch);
      }
    }
    progress.finish();
    double ms_per_epoch = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count() / epochs;
    NoGradGuard eval;
    double test_accuracy = accuracy(model.forward(test.inputs), test.labels);
    std::printf("%-9s %18.4f %15.4f %10.1f KiB %9.0f ms/epoch\n", c.name.c_str(), last_epoch_loss, test_accuracy,
                static_cast<double>(opt.state_bytes_total()) / 1024.0, ms_per_epoch);
    std::fflush(stdout);
  }

  // What the monitors saw, over the whole run: the weights' size at the end, the mean of ‖Δθ‖/‖θ‖, the
  // mean step per weight RMS(Δθ) in units of that step's learning rate, the mean gradient norm of the last
  // epoch, and how much decoupled decay alone would have shrunk the weights: ∏(1 − lr_t λ).
  std::printf("\noptimizer   final |theta|   mean update ratio   mean RMS(dtheta)/lr   grad norm, last epoch\n");
  for (size_t i = 0; i < contenders.size(); ++i) {
    const std::vector<Record>& h = monitors[i]->history();
    double n = 0;  // the number of weights
    for (const Tensor& p : optimizers[i]->all_params()) n += static_cast<double>(p.numel());
    double ratio = 0, step_per_lr = 0, grad_norm = 0;
    for (const Record& r : h) {
      ratio += r.update_ratio / static_cast<double>(h.size());
      step_per_lr += r.update_norm / std::sqrt(n) / r.learning_rates[0] / static_cast<double>(h.size());
    }
    for (size_t k = h.size() - static_cast<size_t>(steps_per_epoch); k < h.size(); ++k)
      grad_norm += h[k].grad_norm / static_cast<double>(steps_per_epoch);
    std::printf("%-9s %15.2f %19.2e %21.3f %23.3f\n", contenders[i].name.c_str(), h.back().param_norm, ratio,
                step_per_lr, grad_norm);
  }
  double kept = 1.0;
  for (const Record& r : monitors[2]->history()) kept *= 1.0 - r.learning_rates[0] * adamw_decay;
  std::printf("AdamW's decay alone, prod(1 - lr_t * %g) over %lld steps: %.4f (a pull of %.1f%%)\n", adamw_decay,
              static_cast<long long>(total), kept, 100.0 * (1.0 - kept));

  std::vector<std::pair<std::string, const Monitor*>> runs;
  std::vector<std::pair<std::string, const Optimizer*>> states;
  for (size_t i = 0; i < contenders.size(); ++i) {
    runs.push_back({contenders[i].name, monitors[i].get()});
    states.push_back({contenders[i].name, optimizers[i].get()});
  }
  save_comparison_png(runs, out_dir + "/shootout_comparison.png", "SGD, Adam, AdamW and Adafactor on Fashion-MNIST");
  save_trends_png(*monitors[1], out_dir + "/shootout_trends_adam.png", "Adam: trends");
  save_memory_png(states, out_dir + "/shootout_memory.png", "Optimizer state for the 784-128-10 MLP");
  std::printf("\nwrote shootout_comparison.png, shootout_trends_adam.png, shootout_memory.png and 4 CSV logs\n");
  return 0;
}

int main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const std::exception& e) {  // e.g. Fashion-MNIST not installed: the message says how to get it
    std::fprintf(stderr, "13_optimizer_shootout: %s\n", e.what());
    return 1;
  }
}
