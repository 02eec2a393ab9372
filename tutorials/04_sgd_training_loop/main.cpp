// Tutorial 04 — a training loop with SGD on the UCI digits.
//
// The loop every later tutorial uses: zero_grad, forward, backward, update,
// over shuffled minibatches, with the loss and accuracy on held-out images
// after every epoch. Three runs from the same initial weights: plain SGD, SGD
// with momentum, and SGD with momentum whose loop forgets zero_grad().
//
// Build and run:  meson compile -C build && ./build/tutorials/04_sgd_training_loop [--out DIR]
//   --out DIR         where sgd_loss.png goes (default: the current directory)
//   --lr X            one run instead: plain SGD at learning rate X            (see Try this)
//   --nesterov        one run: the momentum run with Nesterov momentum
//   --accumulate K    one run: the momentum run, zero_grad() only every K steps
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <numeric>
#include <string>
#include <vector>

#include "moments.hpp"
#include "plots.hpp"

using namespace moments;

constexpr int64_t batch = 50, epochs = 10;

struct Run {
  const char* name;
  double momentum;       // μ
  bool zero_grad;        // does the loop clear gradients before backward()?
  std::vector<double> step, loss;  // every step's minibatch loss, for the chart
  std::vector<double> epoch_loss, test_accuracy;
  double learning_rate = 0.05;     // the Try this flags change these three
  bool nesterov = false;
  int64_t accumulate = 1;          // zero_grad() every `accumulate` steps (when zero_grad)
};

// A new order of 0..n-1 (Fisher–Yates with our own generator: the same on every machine).
void shuffle(std::vector<int64_t>& order, Generator& gen) {
  std::iota(order.begin(), order.end(), 0);
  for (size_t i = order.size() - 1; i > 0; --i)
    std::swap(order[i], order[static_cast<size_t>(gen.uniform() * static_cast<float>(i + 1)) % (i + 1)]);
}

void train(Run& run, const Dataset& train_set, const Dataset& test_set) {
  Generator init(0);  // the same initial weights for every run
  MLP model({64, 32, 10}, init);
  SGD sgd(model.parameters(), {.learning_rate = run.learning_rate, .momentum = run.momentum, .nesterov = run.nesterov});
  Generator order_gen(1);  // the same batches for every run
  std::vector<int64_t> order(static_cast<size_t>(train_set.size()));
  Tensor x = Tensor::empty({batch, 64});  // (batch, 64 pixels)
  std::vector<int64_t> y(batch);
  const int64_t steps_per_epoch = train_set.size() / batch;
  for (int64_t epoch = 1; epoch <= epochs; ++epoch) {
    shuffle(order, order_gen);
    double total = 0.0;
    for (int64_t b = 0; b < steps_per_epoch; ++b) {
      for (int64_t k = 0; k < batch; ++k) {  // gather the minibatch
        int64_t example = order[static_cast<size_t>(b * batch + k)];
        std::copy_n(train_set.inputs.data() + example * 64, 64, x.data() + k * 64);
        y[static_cast<size_t>(k)] = train_set.labels[static_cast<size_t>(example)];
      }
      if (run.zero_grad && b % run.accumulate == 0) sgd.zero_grad();  // clear: backward() adds into .grad
      Tensor loss = cross_entropy(model.forward(x), y);   // forward
      loss.backward();                                    // backward
      sgd.step();                                         // update
      total += loss.item();
      run.step.push_back(static_cast<double>((epoch - 1) * steps_per_epoch + b + 1));
      run.loss.push_back(loss.item());
    }
    NoGradGuard eval;  // evaluation records no graph
    run.epoch_loss.push_back(total / static_cast<double>(steps_per_epoch));
    run.test_accuracy.push_back(accuracy(model.forward(test_set.inputs), test_set.labels));
  }
}

// One run of the Try this flags, its table alone.
int one_run(Run run, const Dataset& train_set, const Dataset& test_set) {
  train(run, train_set, test_set);
  std::printf("%s\nepoch    train loss  test acc\n", run.name);
  for (size_t e = 0; e < static_cast<size_t>(epochs); ++e)
    std::printf("%5zu    %10.4f %9.4f\n", e + 1, run.epoch_loss[e], run.test_accuracy[e]);
  return 0;
}

int main(int argc, char** argv) {
  std::string out_dir = argc == 3 && std::strcmp(argv[1], "--out") == 0 ? argv[2] : ".";
  auto [train_set, test_set] = split(load_digits_csv(MOMENTS_DATA_DIR "/digits.csv"), 1400);
  std::string title;
  if (argc == 3 && std::strcmp(argv[1], "--lr") == 0)
    return one_run({(title = std::string("SGD, learning rate ") + argv[2]).c_str(), 0.0, true, {}, {}, {}, {},
                    std::atof(argv[2])}, train_set, test_set);
  if (argc == 2 && std::strcmp(argv[1], "--nesterov") == 0)
    return one_run({"SGD momentum 0.9, Nesterov", 0.9, true, {}, {}, {}, {}, 0.05, true}, train_set, test_set);
  if (argc == 3 && std::strcmp(argv[1], "--accumulate") == 0)
    return one_run({(title = std::string("SGD momentum 0.9, zero_grad every ") + argv[2] + " steps").c_str(), 0.9, true,
                    {}, {}, {}, {}, 0.05, false, std::atoll(argv[2])}, train_set, test_set);
  std::printf("UCI digits: %lld training and %lld test images of 8x8 pixels; MLP 64-32-10;\n",
              static_cast<long long>(train_set.size()), static_cast<long long>(test_set.size()));
  std::printf("batch %lld, learning rate 0.05, %lld epochs of %lld steps\n\n", static_cast<long long>(batch),
              static_cast<long long>(epochs), static_cast<long long>(train_set.size() / batch));

  // ---- Why zero_grad: one minibatch, backward() twice -----------------------------
  {
    Generator init(0);
    MLP model({64, 32, 10}, init);
    Tensor loss = cross_entropy(model.forward(rows(train_set.inputs, 0, batch)), labels_of(train_set, 0, batch));
    loss.backward();
    float first = model.layers[1].bias.grad().at({0});
    loss.backward();  // no zero_grad in between
    std::printf("dL/d(bias 0 of the last layer): %.6f after one backward(), %.6f after two\n", first,
                model.layers[1].bias.grad().at({0}));
    std::printf("(backward adds into .grad; without zero_grad, step t would use g_1 + g_2 + ... + g_t)\n\n");
  }

  std::vector<Run> runs = {{"SGD", 0.0, true, {}, {}, {}, {}},
                           {"SGD momentum 0.9", 0.9, true, {}, {}, {}, {}},
                           {"momentum, no zero_grad", 0.9, false, {}, {}, {}, {}}};
  for (Run& run : runs) train(run, train_set, test_set);

  std::printf("         %-24s%-24s%s\n", runs[0].name, runs[1].name, runs[2].name);
  std::printf("epoch    train loss  test acc    train loss  test acc    train loss  test acc\n");
  for (size_t e = 0; e < static_cast<size_t>(epochs); ++e) {
    std::printf("%5zu", e + 1);
    for (const Run& run : runs) std::printf("    %10.4f %9.4f", run.epoch_loss[e], run.test_accuracy[e]);
    std::printf("\n");
  }

  plots::LineChart chart({.title = "SGD on the UCI digits: minibatch loss", .y_label = "loss",
                          .y_scale = plots::Scale::log, .smoothing = 0.9});
  for (const Run& run : runs) chart.add_series(run.name, run.step, run.loss);
  chart.save_png(out_dir + "/sgd_loss.png");
  std::printf("\nwrote sgd_loss.png\n");
  return 0;
}
