// Tutorial 19 — Sophia: a clipped Newton step on a diagonal Hessian estimate.
//
// Sophia-G (lib/optim/sophia.hpp) divides its momentum m by ρ · bs · h, where h is an EMA of the squared
// gradient of a loss on labels *sampled from the model itself* (the Gauss–Newton–Bartlett estimator), and
// clips the ratio at 1, so no element moves by more than η. Two experiments:
//   1. one element, three curvatures: the step η · min(|m| / (ρ bs h), 1) against |m|;
//   2. Sophia-G against AdamW on the UCI digits, the estimator every k = 10 steps: the loss per epoch and
//      the fraction of elements whose step is clipped (|m| ≥ ρ · bs · h), step by step.
//
// Try this: --rho X or --k N runs SophiaG (β2 = 0.99) with that ρ or estimator interval, beside AdamW.
// Build and run:  meson compile -C build && ./build/tutorials/19_sophia_clipped_newton [--out DIR]
//   --out DIR  where sophia_loss.png and sophia_clipped.png go (default: the current directory)
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "moments.hpp"
#include "plots.hpp"

using namespace moments;

// ---- 1. One element's step against its momentum, at three curvatures ----------------------
// A fresh SophiaG (λ = 0, ρ = 0.04, bs = 50, η = 0.01) with h set by one update_hessian() from ĝ, then one step
// from m = 0 with gradient g: m = (1 − β1) g, and the step is −η sign(m) min(|m| / (ρ bs h), 1).
double one_step(float g, float g_hat) {
  Tensor theta = Tensor::zeros({1}).requires_grad_();
  SophiaG sophia({theta}, {.learning_rate = 0.01, .beta2 = 0.0, .weight_decay = 0.0, .batch_size = 50});
  theta.set_grad(Tensor::from({g_hat}));
  sophia.update_hessian();  // β2 = 0 here: h = ĝ²
  theta.set_grad(Tensor::from({g}));
  sophia.step();
  return theta.data()[0];
}

void step_against_momentum() {
  std::printf("1. One step from m = 0 (m = 0.035 g), eta = 0.01, rho * bs = 2: the step for each h = g_hat^2\n");
  std::printf("   %-10s %14s %14s %14s\n", "g", "h = 0", "h = 0.01", "h = 1");
  for (float g : {0.01f, 0.1f, 1.0f, 10.0f, 100.0f}) {
    std::printf("   %-10g", g);
    for (float g_hat : {0.0f, 0.1f, 1.0f}) std::printf(" %14.6g", one_step(g, g_hat));
    std::printf("\n");
  }
  std::printf("   h = 0: every step is -eta (the clip); h > 0: -eta * m / (rho bs h) until that reaches eta\n");
}

// ---- 2. Sophia-G against AdamW on the UCI digits ----------------------------------------
constexpr int64_t batch = 50, epochs = 20;
int64_t k = 10;      // update_hessian every k steps, as the paper (--k: Try this)
double rho = 0.04;   // Sophia's ρ (--rho: Try this)

struct Run {
  std::vector<double> loss;       // mean training loss of each epoch
  std::vector<double> clipped;    // Sophia only: the fraction of clipped elements at each step
  double accuracy = 0;            // held-out, after the last epoch
};

// The fraction of elements whose ratio |m| / (ρ bs h) is at least 1 (their step is η, the clip's).
double clipped_fraction(const SophiaG& sophia, const std::vector<Tensor>& params) {
  const float rho_bs = static_cast<float>(sophia.hyperparameter(0, "rho") * sophia.hyperparameter(0, "batch_size"));
  double clipped = 0, count = 0;
  for (const Tensor& p : params) {
    std::vector<float> m = sophia.state(p)->buffers.at("exp_avg").to_vector();
    std::vector<float> h = sophia.state(p)->buffers.at("hessian").to_vector();
    for (size_t i = 0; i < m.size(); ++i) clipped += std::fabs(m[i]) >= rho_bs * h[i];
    count += static_cast<double>(m.size());
  }
  return clipped / count;
}

// sophia_g false: AdamW; true: SophiaG with Hessian decay β2.
Run train(bool sophia_g, double beta2, const Dataset& train_set, const Dataset& test_set) {
  Generator init(0), sampler(7);  // the same initial weights for both; the labels ŷ ~ softmax from `sampler`
  MLP model({64, 32, 10}, init);
  std::unique_ptr<Optimizer> opt;
  SophiaG* sophia = nullptr;
  if (sophia_g) {
    auto s = std::make_unique<SophiaG>(model.parameters(), SophiaGOptions{.learning_rate = 3e-3, .beta2 = beta2, .rho = rho,
                                                                           .weight_decay = 0.1, .batch_size = batch});
    sophia = s.get();
    opt = std::move(s);
  } else {
    opt = std::make_unique<AdamW>(model.parameters(), AdamWOptions{.learning_rate = 3e-3, .weight_decay = 0.1});
  }
  Run run;
  int64_t step = 0;
  for (int64_t epoch = 1; epoch <= epochs; ++epoch) {
    double loss_sum = 0;
    int64_t batches = 0;
    for (int64_t b = 0; b + batch <= train_set.size(); b += batch, ++batches) {
      Tensor x = rows(train_set.inputs, b, b + batch);
      opt->zero_grad();
      Tensor loss = cross_entropy(model.forward(x), labels_of(train_set, b, b + batch));  // forward
      loss.backward();                                                                    // backward
      opt->step();                                                                        // update
      loss_sum += loss.item();
      if (!sophia) continue;
      if (++step % k == 0) {  // the Gauss–Newton–Bartlett estimator, on the same minibatch
        opt->zero_grad();
        Tensor logits = model.forward(x);
        cross_entropy(logits, sample_labels(logits, sampler)).backward();  // ĝ of the loss on ŷ ~ softmax(logits)
        sophia->update_hessian();                                          // h ← β2 h + (1 − β2) ĝ ⊙ ĝ
        opt->zero_grad();
      }
      run.clipped.push_back(clipped_fraction(*sophia, model.parameters()));
    }
    run.loss.push_back(loss_sum / static_cast<double>(batches));
  }
  NoGradGuard eval;
  run.accuracy = accuracy(model.forward(test_set.inputs), test_set.labels);
  return run;
}

void sophia_against_adamw(const std::string& out_dir) {
  auto [train_set, test_set] = split(load_digits_csv(MOMENTS_DATA_DIR "/digits.csv"), 1400);
  // β2 = 0.99 (the canonical default) and 0.9: h has no bias correction, so with k = 10 it reaches
  // 1 − β2^n of E[ĝ²] only after n updates, 10 n steps.
  Run adamw = train(false, 0.0, train_set, test_set), sophia = train(true, 0.99, train_set, test_set);
  Run fast = train(true, 0.9, train_set, test_set);
  std::printf("\n2. UCI digits, MLP 64-32-10, batch %lld, %lld epochs, lr 3e-3, wd 0.1 (Sophia: rho 0.04, bs %lld, k %lld)\n",
              static_cast<long long>(batch), static_cast<long long>(epochs), static_cast<long long>(batch),
              static_cast<long long>(k));
  std::printf("   %-16s %10s %10s %10s %10s %9s %9s %9s\n", "", "loss ep 1", "loss ep 5", "loss ep 10", "loss ep 20",
              "held-out", "clip ep 1", "clip ep 20");
  const size_t steps_per_epoch = sophia.clipped.size() / epochs;
  auto epoch_mean = [&](const Run& run, size_t e) {  // the mean clipped fraction over epoch e's steps
    double s = 0;
    for (size_t i = e * steps_per_epoch; i < (e + 1) * steps_per_epoch; ++i) s += run.clipped[i];
    return s / static_cast<double>(steps_per_epoch);
  };
  for (const auto& [name, run] : {std::pair<const char*, const Run&>{"AdamW", adamw}, {"SophiaG b2 0.99", sophia},
                                  {"SophiaG b2 0.9", fast}}) {
    std::printf("   %-16s %10.4f %10.4f %10.4f %10.4f %9.4f", name, run.loss[0], run.loss[4], run.loss[9], run.loss[19],
                run.accuracy);
    if (run.clipped.empty()) std::printf("\n");
    else std::printf(" %9.4f %9.4f\n", epoch_mean(run, 0), epoch_mean(run, epochs - 1));
  }

  std::vector<double> epoch_axis, step_axis;
  for (int64_t e = 1; e <= epochs; ++e) epoch_axis.push_back(static_cast<double>(e));
  for (size_t s = 1; s <= sophia.clipped.size(); ++s) step_axis.push_back(static_cast<double>(s));
  plots::LineChart losses({.title = "UCI digits: training loss per epoch", .x_label = "epoch", .y_label = "mean loss",
                           .y_scale = plots::Scale::log});
  losses.add_series("AdamW", epoch_axis, adamw.loss).add_series("SophiaG b2 0.99", epoch_axis, sophia.loss);
  losses.add_series("SophiaG b2 0.9", epoch_axis, fast.loss);
  losses.save_png(out_dir + "/sophia_loss.png");
  plots::LineChart clipped({.title = "SophiaG: fraction of elements clipped (|m| >= rho bs h)", .x_label = "step",
                            .y_label = "fraction clipped"});
  clipped.add_series("b2 0.99", step_axis, sophia.clipped).add_series("b2 0.9", step_axis, fast.clipped);
  clipped.save_png(out_dir + "/sophia_clipped.png");
  std::printf("wrote sophia_loss.png and sophia_clipped.png\n");
}

// Try this: SophiaG (β2 = 0.99) with another ρ or k, beside AdamW; and what the estimator cost.
int one_setting() {
  auto [train_set, test_set] = split(load_digits_csv(MOMENTS_DATA_DIR "/digits.csv"), 1400);
  Run adamw = train(false, 0.0, train_set, test_set), sophia = train(true, 0.99, train_set, test_set);
  std::printf("UCI digits, MLP 64-32-10, batch %lld, %lld epochs, lr 3e-3, wd 0.1 (Sophia: rho %g, bs %lld, k %lld)\n",
              static_cast<long long>(batch), static_cast<long long>(epochs), rho, static_cast<long long>(batch),
              static_cast<long long>(k));
  std::printf("   %-16s %10s %10s %9s %9s\n", "", "loss ep 1", "loss ep 20", "held-out", "clip ep 20");
  std::printf("   %-16s %10.4f %10.4f %9.4f\n", "AdamW", adamw.loss[0], adamw.loss[19], adamw.accuracy);
  const size_t per_epoch = sophia.clipped.size() / epochs;
  double last = 0;
  for (size_t i = sophia.clipped.size() - per_epoch; i < sophia.clipped.size(); ++i) last += sophia.clipped[i] / per_epoch;
  std::printf("   %-16s %10.4f %10.4f %9.4f %9.4f\n", "SophiaG b2 0.99", sophia.loss[0], sophia.loss[19], sophia.accuracy, last);
  std::printf("the estimator ran on %zu of %zu steps: %zu extra forward and backward passes\n",
              sophia.clipped.size() / static_cast<size_t>(k), sophia.clipped.size(), sophia.clipped.size() / static_cast<size_t>(k));
  return 0;
}

int main(int argc, char** argv) {
  if (argc == 3 && (std::strcmp(argv[1], "--rho") == 0 || std::strcmp(argv[1], "--k") == 0)) {
    if (std::strcmp(argv[1], "--rho") == 0) rho = std::atof(argv[2]);
    else k = std::atoll(argv[2]);
    return one_setting();
  }
  std::string out_dir = argc == 3 && std::strcmp(argv[1], "--out") == 0 ? argv[2] : ".";
  step_against_momentum();
  sophia_against_adamw(out_dir);
  return 0;
}
