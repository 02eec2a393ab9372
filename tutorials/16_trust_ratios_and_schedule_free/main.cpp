// Tutorial 16 — trust ratios (LAMB) and schedule-free training (AdamW without a schedule).
//
// 1. LAMB on an MLP for the UCI digits: every tensor's trust ratio r = ‖θ‖/‖u‖ per step, a table and a
//    chart; biases in a group with decay 0 take plain Adam steps unless use_nvlamb.
// 2. Schedule-free AdamW against AdamW with a warmup-cosine schedule, same weights and batches: held-out
//    loss and accuracy per epoch, schedule-free measured at x (after eval()) and at y (eval() forgotten).
// 3. A noisy quadratic, where forgetting eval() costs a lot: the loss at y and at x over 2000 steps.
//
// Build and run:  meson compile -C build && ./build/tutorials/16_trust_ratios_and_schedule_free [--out DIR]
//   --out DIR  where lamb_trust_ratios.png, schedule_free_digits.png, schedule_free_noisy.png go (default: .)
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <numeric>
#include <string>
#include <vector>

#include "moments.hpp"
#include "plots.hpp"

using namespace moments;

constexpr int64_t batch = 50;
const std::vector<int64_t> sizes = {64, 64, 32, 10};  // MLP 64-64-32-10: three weights, three biases

// A new order of 0..n-1 (Fisher–Yates with our own generator: the same on every machine).
void shuffle(std::vector<int64_t>& order, Generator& gen) {
  std::iota(order.begin(), order.end(), 0);
  for (size_t i = order.size() - 1; i > 0; --i)
    std::swap(order[i], order[static_cast<size_t>(gen.uniform() * static_cast<float>(i + 1)) % (i + 1)]);
}

// `epochs` epochs of shuffled minibatches, the same order for every run (seed 1); after each
// step `after_step(t)`, after each epoch `after_epoch(e)`.
void train(MLP& model, Optimizer& opt, const Dataset& data, int64_t epochs, const std::function<void(int64_t)>& after_step,
           const std::function<void(int64_t)>& after_epoch) {
  Generator order_gen(1);
  std::vector<int64_t> order(static_cast<size_t>(data.size()));
  Tensor x = Tensor::empty({batch, 64});  // (batch, 64 pixels)
  std::vector<int64_t> y(batch);
  int64_t t = 0;
  for (int64_t epoch = 1; epoch <= epochs; ++epoch) {
    shuffle(order, order_gen);
    for (int64_t b = 0; b + batch <= data.size(); b += batch) {
      for (int64_t k = 0; k < batch; ++k) {  // gather the minibatch
        int64_t example = order[static_cast<size_t>(b + k)];
        std::copy_n(data.inputs.data() + example * 64, 64, x.data() + k * 64);
        y[static_cast<size_t>(k)] = data.labels[static_cast<size_t>(example)];
      }
      opt.zero_grad();
      Tensor loss = cross_entropy(model.forward(x), y);  // forward
      loss.backward();                                   // backward
      opt.step();                                        // update
      after_step(++t);
    }
    after_epoch(epoch);
  }
}

struct Eval { double loss, accuracy; };
Eval evaluate(const MLP& model, const Dataset& test) {
  NoGradGuard off;  // evaluation records no graph
  Tensor logits = model.forward(test.inputs);
  return {cross_entropy(logits, test.labels).item(), accuracy(logits, test.labels)};
}

// Weights in group 0 (decay 0.01, as apex), biases in group 1 (decay 0, as practitioners do).
struct LambRun {
  MLP model;
  Lamb lamb;
  NamedTensors named;
  std::vector<std::vector<LambTrust>> trust;  // [tensor][step - 1]
  explicit LambRun(Generator&& init, bool nvlamb_biases)
      : model(sizes, init), lamb({model.layers[0].weight, model.layers[1].weight, model.layers[2].weight},
                                 {.learning_rate = 0.005}),
        named(model.named_parameters()), trust(named.size()) {
    lamb.add_param_group({model.layers[0].bias, model.layers[1].bias, model.layers[2].bias},
                         {{"weight_decay", 0.0}, {"use_nvlamb", nvlamb_biases ? 1.0 : 0.0}});
  }
};

// 2. Schedule-free AdamW against AdamW with warmup and cosine decay, for `epochs` epochs; the cosine is
// planned for `planned` epochs (the same, unless a run goes on longer than planned: Try this).
struct DigitsRuns {
  std::vector<Eval> cosine, at_x, at_y;
};
DigitsRuns schedule_free_digits(const Dataset& train_set, const Dataset& test_set, int64_t epochs, int64_t planned) {
  const int64_t total_steps = planned * 28, warmup = 50;
  DigitsRuns r;
  std::vector<Eval>& cosine = r.cosine;
  std::vector<Eval>& at_x = r.at_x;
  std::vector<Eval>& at_y = r.at_y;
  {
    Generator init(0);
    MLP model(sizes, init);
    AdamW adamw(model.parameters(), {.learning_rate = 0.01, .weight_decay = 0.0});
    LrScheduler sched(adamw, warmup_cosine(warmup, total_steps));
    train(model, adamw, train_set, epochs, [&](int64_t) { sched.step(); },
          [&](int64_t) { cosine.push_back(evaluate(model, test_set)); });
  }
  {
    Generator init(0);
    MLP model(sizes, init);
    AdamWScheduleFree sf(model.parameters(), {.learning_rate = 0.01, .warmup_steps = warmup});
    train(model, sf, train_set, epochs, [](int64_t) {}, [&](int64_t) {
      at_y.push_back(evaluate(model, test_set));  // the classic mistake: the model holds y
      sf.eval();                                  // the model holds x
      at_x.push_back(evaluate(model, test_set));
      sf.train();                                 // y again, bit for bit, for the next step
    });
  }
  std::printf("lr 0.01, warmup %lld steps, no decay; held-out loss and accuracy after each epoch\n",
              static_cast<long long>(warmup));
  if (planned != epochs)
    std::printf("(AdamW's cosine planned for %lld epochs, the run %lld epochs long)\n", static_cast<long long>(planned),
                static_cast<long long>(epochs));
  std::printf("epoch   AdamW+cosine        schedule-free at x  at y (no eval())\n");
  for (size_t e = 0; e < cosine.size(); ++e)
    std::printf("%5zu   %7.4f  %7.4f    %7.4f  %7.4f    %7.4f  %7.4f\n", e + 1, cosine[e].loss, cosine[e].accuracy,
                at_x[e].loss, at_x[e].accuracy, at_y[e].loss, at_y[e].accuracy);

  return r;
}

// 3. A noisy quadratic: f(θ) = ½‖θ − θ*‖², gradient θ − θ* + N(0, 1) noise per element, loss reported per
//    element (‖θ − θ*‖²/(2n)); schedule-free's β1.
struct NoisyRuns {
  std::vector<double> sf_y, sf_x, cos_loss;
};
NoisyRuns noisy_quadratic(double beta1) {
  const int64_t n = 1000, quad_steps = 2000;
  auto noisy_run = [&](bool schedule_free, std::vector<double>& y_loss, std::vector<double>& x_loss) {
    Generator gen(3);  // the same θ* and the same noise for both runs
    Tensor target = randn({n}, gen);
    Tensor p = Tensor::zeros({n}).requires_grad_();
    auto loss = [&] {
      double total = 0.0;
      for (int64_t i = 0; i < n; ++i) total += 0.5 * std::pow(p.data()[i] - target.data()[i], 2);
      return total / static_cast<double>(n);
    };
    AdamWScheduleFree sf({p}, {.learning_rate = 0.5, .beta1 = beta1, .warmup_steps = 20});
    AdamW adamw({p}, {.learning_rate = 0.5, .weight_decay = 0.0});
    LrScheduler sched(adamw, warmup_cosine(20, quad_steps));
    for (int64_t t = 1; t <= quad_steps; ++t) {
      Tensor noise = randn({n}, gen);
      NoGradGuard off;
      p.set_grad(p.detach() - target + noise);
      if (!schedule_free) { adamw.step(), sched.step(); }
      else sf.step();
      if (t % 20 != 0) continue;
      y_loss.push_back(loss());
      if (schedule_free) sf.eval(), x_loss.push_back(loss()), sf.train();
    }
  };
  NoisyRuns r;
  std::vector<double>& sf_y = r.sf_y;
  std::vector<double>& sf_x = r.sf_x;
  std::vector<double>& cos_loss = r.cos_loss;
  std::vector<double> unused;
  noisy_run(true, sf_y, sf_x);
  noisy_run(false, cos_loss, unused);
  std::printf("noisy quadratic, n = %lld, lr 0.5, warmup 20%s: loss\n", static_cast<long long>(n),
              beta1 == 0.9 ? "" : (", schedule-free beta1 " + std::to_string(beta1).substr(0, 4)).c_str());
  std::printf(" step   AdamW+cosine  schedule-free at x  at y\n");
  for (size_t k : {4, 24, 49, 99})  // steps 100, 500, 1000, 2000
    std::printf("%5zu   %12.4f  %18.4f  %6.4f\n", (k + 1) * 20, cos_loss[k], sf_x[k], sf_y[k]);
  std::printf("at step 2000, y is %.1fx worse than x\n", sf_y.back() / sf_x.back());

  return r;
}

int main(int argc, char** argv) {
  std::string out_dir = argc == 3 && std::strcmp(argv[1], "--out") == 0 ? argv[2] : ".";
  auto [train_set, test_set] = split(load_digits_csv(MOMENTS_DATA_DIR "/digits.csv"), 1400);
  if (argc == 3 && std::strcmp(argv[1], "--sf-beta1") == 0) return noisy_quadratic(std::atof(argv[2])), 0;  // Try this
  if (argc == 2 && std::strcmp(argv[1], "--overrun") == 0) return schedule_free_digits(train_set, test_set, 20, 10), 0;
  std::printf("UCI digits: %lld training, %lld held-out images; MLP 64-64-32-10, batch %lld (28 steps an epoch)\n\n",
              static_cast<long long>(train_set.size()), static_cast<long long>(test_set.size()),
              static_cast<long long>(batch));

  // ---- 1. LAMB: one trust ratio per tensor ----------------------------------------------------
  const int64_t lamb_epochs = 5;
  LambRun plain(Generator(0), false), nvlamb(Generator(0), true);
  std::vector<double> grad_norm;
  for (LambRun* run : {&plain, &nvlamb})
    train(run->model, run->lamb, train_set, lamb_epochs, [&](int64_t) {
      for (size_t i = 0; i < run->named.size(); ++i) run->trust[i].push_back(run->lamb.trust(run->named[i].second));
      if (run == &plain) grad_norm.push_back(run->lamb.global_grad_norm());
    }, [](int64_t) {});
  const std::vector<size_t> shown = {1, 28, 140};
  std::printf("LAMB, lr 0.005, weight decay 0.01 on weights, 0 on biases; %lld epochs\n", static_cast<long long>(lamb_epochs));
  std::printf("%-16s", "");
  for (size_t k = 0; k < shown.size(); ++k) std::printf(k + 1 < shown.size() ? "   step %-20zu" : "   step %zu", shown[k]);
  std::printf("\n%-16s", "tensor");
  for (size_t k = 0; k < shown.size(); ++k) std::printf("        ‖θ‖      ‖u‖       r");
  std::printf("\n");
  for (size_t i = 0; i < plain.named.size(); ++i) {
    std::printf("%-16s", plain.named[i].first.c_str());
    for (size_t s : shown) {
      const LambTrust& tr = plain.trust[i][s - 1];
      std::printf("   %8.3f %8.3f %7.4f", tr.param_norm, tr.update_norm, tr.ratio);
    }
    std::printf("\n");
  }
  std::printf("global gradient norm G: %.4f at step 1, %.4f at step 140 (clipped when above max_grad_norm 1)\n",
              grad_norm.front(), grad_norm.back());
  std::printf("with use_nvlamb on the biases, their r at step 140:");
  for (size_t i = 1; i < nvlamb.named.size(); i += 2) std::printf(" %.4f", nvlamb.trust[i].back().ratio);
  Eval lamb_plain = evaluate(plain.model, test_set), lamb_nv = evaluate(nvlamb.model, test_set);
  std::printf("\nheld-out accuracy after %lld epochs: %.4f (biases as Adam), %.4f (use_nvlamb)\n\n",
              static_cast<long long>(lamb_epochs), lamb_plain.accuracy, lamb_nv.accuracy);

  plots::LineChart ratios({.title = "LAMB: trust ratio r = |theta| / |u| per tensor", .y_label = "trust ratio",
                           .y_scale = plots::Scale::log});
  std::vector<double> steps(plain.trust[0].size());
  std::iota(steps.begin(), steps.end(), 1.0);
  for (size_t i = 0; i < plain.named.size(); ++i) {
    LambRun& run = i % 2 == 0 ? plain : nvlamb;  // weights from the plain run, biases from the nvlamb one
    std::vector<double> r;
    for (const LambTrust& tr : run.trust[i]) r.push_back(tr.ratio);
    ratios.add_series(run.named[i].first + (i % 2 == 0 ? "" : " (nvlamb)"), steps, r);
  }
  ratios.add_reference_line(1.0, "biases without nvlamb: r = 1");
  ratios.save_png(out_dir + "/lamb_trust_ratios.png");

  DigitsRuns digits = schedule_free_digits(train_set, test_set, 10, 10);
  const std::vector<Eval>& cosine = digits.cosine;
  const std::vector<Eval>& at_x = digits.at_x;
  const std::vector<Eval>& at_y = digits.at_y;
  plots::LineChart digits_chart({.title = "UCI digits: held-out loss", .x_label = "epoch", .y_label = "loss",
                                 .y_scale = plots::Scale::log});
  std::vector<double> ep(cosine.size());
  std::iota(ep.begin(), ep.end(), 1.0);
  auto losses = [](const std::vector<Eval>& v) {
    std::vector<double> out;
    for (const Eval& e : v) out.push_back(e.loss);
    return out;
  };
  digits_chart.add_series("AdamW, warmup + cosine", ep, losses(cosine));
  digits_chart.add_series("schedule-free at x (eval())", ep, losses(at_x));
  digits_chart.add_series("schedule-free at y (no eval())", ep, losses(at_y));
  digits_chart.save_png(out_dir + "/schedule_free_digits.png");

  std::printf("\n");
  NoisyRuns noisy_runs = noisy_quadratic(0.9);
  const std::vector<double>& sf_y = noisy_runs.sf_y;
  const std::vector<double>& sf_x = noisy_runs.sf_x;
  const std::vector<double>& cos_loss = noisy_runs.cos_loss;
  plots::LineChart noisy({.title = "Noisy quadratic: where eval() matters", .y_label = "loss",
                          .y_scale = plots::Scale::log});
  std::vector<double> qs(sf_x.size());
  for (size_t k = 0; k < qs.size(); ++k) qs[k] = static_cast<double>((k + 1) * 20);
  noisy.add_series("AdamW, warmup + cosine", qs, cos_loss);
  noisy.add_series("schedule-free at x (eval())", qs, sf_x);
  noisy.add_series("schedule-free at y (no eval())", qs, sf_y);
  noisy.save_png(out_dir + "/schedule_free_noisy.png");
  std::printf("\nwrote lamb_trust_ratios.png, schedule_free_digits.png, schedule_free_noisy.png\n");
  return 0;
}
