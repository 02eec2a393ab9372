// Suite `optim`: Sophia-G (lib/optim/sophia.hpp) against its restated canonical code
// (reference/make_sophia_golden.py, Liuhong99/Sophia sophia.py), with the Hessian updated every k steps;
// the two regimes of its clipped step (h = 0: η sign(m); large h: η m / (ρ bs h)), decoupled decay, the
// Hessian EMA, validation, state, explain, resumes, sample_labels, the monitor, and the UCI digits with
// the Gauss–Newton–Bartlett estimator.
//   meson test -C build sophia   (or --suite optim)
#include <cmath>
#include <filesystem>
#include <limits>

#include "optim_testing.hpp"
#include "reference/sophia_golden.hpp"

using namespace moments;
using testing::check_error;
using testing::pattern;

namespace {

std::vector<float> buffer(const Optimizer& opt, const Tensor& p, const char* name) {
  return opt.state(p)->buffers.at(name).to_vector();
}

// SophiaG whose Hessian is fed as make_sophia_golden.py feeds it: before steps k + 1, 2k + 1, ... (counted
// from the first parameter's step count, so a resumed copy keeps the schedule) update_hessian() takes the
// gradient the step is about to use, standing in for the GNB estimator's sampled one.
class GoldenSophia : public SophiaG {
 public:
  explicit GoldenSophia(const std::vector<Tensor>& params, SophiaGOptions options = {}) : SophiaG(params, options) {}
  int interval = 10;  // k

 protected:
  void begin_step() override {
    const ParamState* s = state(params(0)[0]);
    const int64_t t = (s ? s->step : 0) + 1;  // the step about to run
    if (t > 1 && (t - 1) % interval == 0) update_hessian();
  }
};

std::unique_ptr<Optimizer> golden_sophia(const golden::OptimCase& c, const std::vector<Tensor>& params) {
  auto opt = testing::build<GoldenSophia, SophiaGOptions>(c, params);
  static_cast<GoldenSophia&>(*opt).interval = golden::sophia_hessian_interval.at(c.name);
  return opt;
}

}  // namespace

TEST_CASE("SophiaG follows the canonical code's trajectories for 30 steps, the Hessian every k steps") {
  // The same roundings as the script (sophia_math.hpp: ρ·bs rounded once, the fused m update, the
  // Hessian's two products and sum), so the defaults of a few float32 ulps hold. The cases cover both
  // regimes: the defaults clip 35% of the element-steps, k = 1 with ρ·bs = 32 clips none after step 1,
  // η = 0.5 with maximize clips all of them, the others 70-92%.
  testing::follow_golden(golden::sophia_cases, golden_sophia);
}

TEST_CASE("with h = 0 SophiaG's step is η sign(m): the clip; every element moves by exactly η") {
  // λ = 0, no update_hessian: |m| / (ρ bs · 0 + 1e-15) ≥ 1 for any |m| ≥ 1e-15, so the ratio clips to 1.
  // Gradients scaled by 2^-20 and 2^20 give the same bits (signSGD with momentum).
  std::vector<std::vector<float>> thetas;
  for (float scale : {std::ldexp(1.0f, -20), 1.0f, std::ldexp(1.0f, 20)}) {
    Tensor p = pattern({40}, 3).requires_grad_();
    SophiaG opt({p}, {.learning_rate = 1e-3, .weight_decay = 0.0});
    for (int t = 1; t <= 10; ++t) {
      std::vector<float> before = p.to_vector();
      p.set_grad(pattern({40}, 2 * t + 1, 0.1f) * scale);
      opt.step();
      std::vector<float> m = buffer(opt, p, "exp_avg");
      for (size_t i = 0; i < 40; ++i) {
        float sign = m[i] > 0 ? 1.0f : (m[i] < 0 ? -1.0f : 0.0f);
        CHECK(p.data()[i] == before[i] + (-1e-3f * sign) * 1.0f);
      }
    }
    thetas.push_back(p.to_vector());
  }
  CHECK(thetas[0] == thetas[1]);
  CHECK(thetas[2] == thetas[1]);
}

TEST_CASE("with a large h SophiaG's step is η m / (ρ bs h): Newton's step on the diagonal estimate") {
  // h loaded through update_hessian with ĝ = 10 (h = (1 − β2) · 100 = 1 after one update), ρ·bs = 40 · 1:
  // |m| ≤ 0.035 · 2 ≪ 40, so no element is clipped and each moves by η · |m| / (ρ bs h), against m. Doubling
  // ρ halves the step (clipping would not care); the step is proportional to m, not to its sign.
  Tensor p = pattern({17}, 4).requires_grad_();
  SophiaG opt({p}, {.learning_rate = 0.1, .rho = 0.04, .weight_decay = 0.0, .batch_size = 1000});
  p.set_grad(Tensor::full({17}, 10.0f));
  opt.update_hessian();
  std::vector<float> h = buffer(opt, p, "hessian");
  for (float v : h) CHECK(v == doctest::Approx(1.0).epsilon(1e-6));
  std::vector<float> before = p.to_vector();
  p.set_grad(pattern({17}, 2, 0.5f));
  opt.step();
  std::vector<float> m = buffer(opt, p, "exp_avg");
  const double rho_bs = static_cast<float>(0.04 * 1000);
  for (size_t i = 0; i < 17; ++i) {
    CAPTURE(i);
    double expected = -0.1 * m[i] / (rho_bs * h[i] + 1e-15);
    CHECK(p.data()[i] - before[i] == doctest::Approx(expected).epsilon(1e-5));
    CHECK(std::fabs(p.data()[i] - before[i]) < 0.1 * 0.01);  // far below the clip's η
  }
  opt.explain(p, 5);
  opt.set_hyperparameter(0, "rho", 0.08);
  before = p.to_vector();
  opt.step();
  CHECK(opt.explanation().get("clipped") == 0.0);
  CHECK(opt.explanation().get("ratio") ==
        doctest::Approx(std::fabs(opt.explanation().get("m")) / (static_cast<float>(0.08 * 1000) * h[5])).epsilon(1e-6));
}

TEST_CASE("SophiaG's decay is decoupled: θ(1 − ηλ) whatever the gradient, m and h; then the clipped step") {
  // g = 0 and m = 0: the ratio is 0, θ only decays, by the float32 (1 − ηλ) per step, as Lion's and AdamW's.
  testing::check_decay_alone([](const std::vector<Tensor>& p) { return std::make_unique<SophiaG>(p, SophiaGOptions{.learning_rate = 0.1, .weight_decay = 0.5}); }, 5);
  const float decay = static_cast<float>(1.0 - 0.1 * 0.5);
  // One element, m_0 = 0, g = 2, β1 = 0.965, h = 0: θ = 1 · 0.95 − 0.1 · 1 = 0.85. Decay after the step would
  // give (1 − 0.1) · 0.95 = 0.855; L2 decay (λθ added to g) would not change a clipped step's size but
  // would leave θ = 0.9.
  Tensor q = Tensor::from({1.0f}).requires_grad_();
  SophiaG one({q}, {.learning_rate = 0.1, .weight_decay = 0.5});
  q.set_grad(Tensor::from({2.0f}));
  one.step();
  CHECK(q.data()[0] == 1.0f * decay + (-0.1f) * 1.0f);
  CHECK(buffer(one, q, "exp_avg")[0] == std::fmaf(2.0f, static_cast<float>(1.0 - 0.965), 0.0f));
}

TEST_CASE("update_hessian: h ← β2 h + (1 − β2) g ⊙ g from the current .grad; state created, no-grad skipped") {
  Tensor a = Tensor::from({1.0f, -3.0f}).requires_grad_(), b = Tensor::from({2.0f}).requires_grad_();
  SophiaG opt({a, b}, {.beta2 = 0.9});
  a.set_grad(Tensor::from({2.0f, -4.0f}));  // b has no gradient
  CHECK(opt.state(a) == nullptr);
  opt.update_hessian();
  REQUIRE(opt.state(a) != nullptr);  // created, as the canonical code creates it: m = h = 0, t = 0
  CHECK(opt.state(a)->step == 0);
  CHECK(opt.state(b) == nullptr);
  CHECK(buffer(opt, a, "exp_avg") == std::vector<float>{0.0f, 0.0f});
  const float c = static_cast<float>(1.0 - 0.9);
  std::vector<float> h = buffer(opt, a, "hessian");
  CHECK(h[0] == c * 2.0f * 2.0f);
  CHECK(h[1] == c * -4.0f * -4.0f);
  a.set_grad(Tensor::from({-1.0f, 0.5f}));
  opt.update_hessian();
  h = buffer(opt, a, "hessian");
  CHECK(h[0] == (c * 2.0f * 2.0f) * 0.9f + c * -1.0f * -1.0f);  // β2 h + (1 − β2) g², torch's roundings
  CHECK(h[1] == (c * -4.0f * -4.0f) * 0.9f + c * 0.5f * 0.5f);
  CHECK(a.data()[0] == 1.0f);  // the parameters do not move
  CHECK(a.data()[1] == -3.0f);
}

TEST_CASE("SophiaG's special cases: maximize is Sophia on −g, a NaN gradient reaches θ") {
  SUBCASE("maximize") {
    Tensor a = pattern({9}, 1).requires_grad_(), b = pattern({9}, 1).requires_grad_();
    SophiaG up({a}, {.learning_rate = 0.05, .rho = 0.1, .batch_size = 4, .maximize = true});
    SophiaG down({b}, {.learning_rate = 0.05, .rho = 0.1, .batch_size = 4});
    for (int t = 1; t <= 6; ++t) {
      Tensor g = pattern({9}, t, 0.2f);
      a.set_grad(g), b.set_grad(-g);
      up.step(), down.step();
      a.set_grad(g), b.set_grad(-g);
      up.update_hessian(), down.update_hessian();
    }
    CHECK(a.to_vector() == b.to_vector());
    CHECK(buffer(up, a, "exp_avg") == buffer(down, b, "exp_avg"));
    CHECK(buffer(up, a, "hessian") == buffer(down, b, "hessian"));
  }
  SUBCASE("NaN") {
    Tensor p = Tensor::from({1.0f, 2.0f}).requires_grad_();
    SophiaG opt({p}, {.learning_rate = 0.1, .weight_decay = 0.0});
    p.set_grad(Tensor::from({std::numeric_limits<float>::quiet_NaN(), 1.0f}));
    opt.step();
    CHECK(std::isnan(p.data()[0]));
    CHECK(p.data()[1] == 2.0f - 0.1f);
  }
}

TEST_CASE("SophiaG rejects invalid hyperparameters with the canonical code's conditions, ours, and NaN") {
  std::vector<Tensor> p{Tensor::ones({2}).requires_grad_()};
  const double nan = std::nan("");
  check_error([&] { SophiaG(p, {.learning_rate = -0.1}); }, {"SophiaG", "learning_rate", "-0.1", ">= 0"});
  check_error([&] { SophiaG(p, {.learning_rate = nan}); }, {"SophiaG", "learning_rate", "nan"});
  check_error([&] { SophiaG(p, {.beta1 = 1.0}); }, {"SophiaG", "beta1", "1", "[0, 1)"});
  check_error([&] { SophiaG(p, {.beta1 = nan}); }, {"SophiaG", "beta1", "nan"});
  check_error([&] { SophiaG(p, {.beta2 = -0.5}); }, {"SophiaG", "beta2", "-0.5", "[0, 1)"});
  check_error([&] { SophiaG(p, {.rho = -0.04}); }, {"SophiaG", "rho", "-0.04", ">= 0"});
  check_error([&] { SophiaG(p, {.rho = nan}); }, {"SophiaG", "rho", "nan"});
  check_error([&] { SophiaG(p, {.weight_decay = -1.0}); }, {"SophiaG", "weight_decay", "-1"});
  check_error([&] { SophiaG(p, {.weight_decay = nan}); }, {"SophiaG", "weight_decay", "nan"});
  check_error([&] { SophiaG(p, {.batch_size = 0}); }, {"SophiaG", "batch_size", "0", ">= 1"});
  check_error([&] { SophiaG(p, {.batch_size = 2.5}); }, {"SophiaG", "batch_size", "2.5", "whole number"});
  check_error([&] { SophiaG(p, {.batch_size = nan}); }, {"SophiaG", "batch_size", "nan"});
  SophiaG ok(p);
  check_error([&] { ok.set_hyperparameter(0, "beta2", 1.0); }, {"SophiaG", "beta2"});
  CHECK(ok.hyperparameter(0, "beta2") == 0.99);  // refused: unchanged
  // The canonical defaults (bs: step()'s default), and the edges it allows.
  CHECK(ok.learning_rate(0) == 1e-4);
  CHECK(ok.hyperparameter(0, "beta1") == 0.965);
  CHECK(ok.hyperparameter(0, "rho") == 0.04);
  CHECK(ok.hyperparameter(0, "weight_decay") == 0.1);
  CHECK(ok.hyperparameter(0, "batch_size") == 5120);
  CHECK_NOTHROW(SophiaG(p, {.learning_rate = 0.0, .beta1 = 0.0, .beta2 = 0.0, .rho = 0.0, .weight_decay = 0.0}));
}

TEST_CASE("SophiaG's state is exp_avg and hessian: 8 bytes per parameter, as Adam's") {
  Tensor w = Tensor::ones({30, 7}).requires_grad_(), b = Tensor::ones({7}).requires_grad_();
  SophiaG sophia({w, b});
  Adam adam({w, b});
  w.set_grad(Tensor::ones({30, 7})), b.set_grad(Tensor::ones({7}));
  CHECK(sophia.state_bytes_total() == 0);  // lazily created at the first step (or update_hessian)
  sophia.step(), adam.step();
  std::vector<StateMemory> bytes = sophia.state_bytes();
  REQUIRE(bytes.size() == 2);
  CHECK(bytes[0].buffer == "exp_avg");
  CHECK(bytes[1].buffer == "hessian");
  for (const StateMemory& row : bytes) CHECK(row.bytes == 4 * (30 * 7 + 7));
  CHECK(sophia.state_bytes_total() == 8 * (30 * 7 + 7));
  CHECK(sophia.state_bytes_total() == adam.state_bytes_total());
}

TEST_CASE("SophiaG explains one element: g, m before and after, h, the ratio, whether it clipped, the update") {
  Tensor p = Tensor::from({1.0f, -2.0f}).requires_grad_();
  SophiaG opt({p}, {.learning_rate = 0.1, .weight_decay = 0.5, .batch_size = 100});
  opt.explain(p, 1);
  for (int t = 1; t <= 2; ++t) {
    p.set_grad(Tensor::from({0.5f, t == 1 ? 3.0f : -1.0f}));
    float before = p.data()[1];
    opt.step();
    const Explanation& e = opt.explanation();
    CAPTURE(t);
    CHECK(e.step == t);
    CHECK(e.get("g") == (t == 1 ? 3.0 : -1.0));
    CHECK(e.get("m") == doctest::Approx(0.965 * e.get("m_prev") + 0.035 * e.get("g")));
    CHECK(e.get("h") == (t == 1 ? 0.0 : doctest::Approx(0.01 * 9.0)));
    double ratio = std::min(std::fabs(e.get("m")) / (0.04 * 100 * e.get("h") + 1e-15), 1.0);
    CHECK(e.get("ratio") == doctest::Approx(ratio));
    CHECK(e.get("clipped") == (t == 1 ? 1.0 : 0.0));  // h = 0 clips; then |m| = 0.066 < ρ bs h = 0.36
    CHECK(e.get("decay") == doctest::Approx(-0.05 * before));
    CHECK(e.get("update") == doctest::Approx(e.get("decay") - 0.1 * e.get("ratio") * (e.get("m") > 0 ? 1 : -1)));
    if (t == 1) {
      p.set_grad(Tensor::from({0.5f, 3.0f}));
      opt.update_hessian();  // h = 0.01 · 9
    }
  }
}

TEST_CASE("SophiaG resumes bit for bit from a state_dict and from a checkpoint, the Hessian included") {
  testing::check_state_dict_round_trip([](const std::vector<Tensor>& p) {
    auto opt = std::make_unique<GoldenSophia>(p, SophiaGOptions{.learning_rate = 0.01, .rho = 0.05, .batch_size = 8});
    opt->interval = 2;  // h updated before steps 3, 5, ...: the saved dict holds a nonzero h
    return opt;
  });
  testing::check_checkpoint_round_trip([](MLP& model) {
    auto opt = std::make_unique<GoldenSophia>(model.parameters(), SophiaGOptions{.learning_rate = 3e-3, .batch_size = 4});
    opt->interval = 3;
    return opt;
  });
}

TEST_CASE("sample_labels draws from softmax(logits): frequencies within 4.5 σ, the same seed the same labels") {
  // 20000 rows of the same logits (log of 0.1, 0.2, 0.3, 0.4 plus a shift per row, which softmax ignores):
  // each class's frequency within 4.5 √(p(1 − p)/N) ≈ 0.0099 .. 0.016 of p (a chance of about 1e-5 per class
  // for a fair sampler; the draw is seeded, so the outcome is fixed, and a sampler off by 2% fails).
  const int64_t n = 20000;
  const std::vector<double> p = {0.1, 0.2, 0.3, 0.4};
  Tensor logits = Tensor::empty({n, 4});
  for (int64_t i = 0; i < n; ++i)
    for (int64_t c = 0; c < 4; ++c) logits.data()[i * 4 + c] = static_cast<float>(std::log(p[static_cast<size_t>(c)]) + (i % 7) - 3);
  Generator gen(11);
  std::vector<int64_t> labels = sample_labels(logits, gen);
  REQUIRE(labels.size() == static_cast<size_t>(n));
  std::vector<double> count(4, 0.0);
  for (int64_t y : labels) {
    REQUIRE((y >= 0 && y < 4));
    count[static_cast<size_t>(y)] += 1;
  }
  for (size_t c = 0; c < 4; ++c) {
    CAPTURE(c);
    double frequency = count[c] / n, sigma = std::sqrt(p[c] * (1 - p[c]) / n);
    MESSAGE("class ", c, ": p = ", p[c], ", frequency ", frequency, " (", (frequency - p[c]) / sigma, " σ)");
    CHECK(std::fabs(frequency - p[c]) <= 4.5 * sigma);
  }
  Generator again(11), other(12);
  CHECK(sample_labels(logits, again) == labels);
  CHECK(sample_labels(logits, other) != labels);
  // A one-hot softmax (a logit far above the rest) always gives its class; bad input is refused.
  Generator g3(3);
  for (int64_t y : sample_labels(Tensor::from({0.0f, 200.0f, -5.0f, 0.0f, 200.0f, -5.0f}, {2, 3}), g3)) CHECK(y == 1);
  check_error([&] { sample_labels(Tensor::ones({4}), g3); }, {"sample_labels", "(N, C)"});
  check_error([&] { sample_labels(Tensor::from({0.0f, std::numeric_limits<float>::infinity()}, {1, 2}), g3); },
              {"sample_labels", "inf", "row 0", "class 1"});
}

namespace {

// The GNB hook of sophia.hpp on one minibatch: labels sampled from the model's own softmax, the cross-entropy
// on them, backward, update_hessian. Leaves the gradients cleared.
void gauss_newton_bartlett(Module& model, SophiaG& opt, const Tensor& x, Generator& gen) {
  opt.zero_grad();
  Tensor logits = model.forward(x);                         // forward
  cross_entropy(logits, sample_labels(logits, gen)).backward();  // ĝ: the sampled loss's gradient
  opt.update_hessian();                                     // h ← β2 h + (1 − β2) ĝ ⊙ ĝ
  opt.zero_grad();
}

}  // namespace

TEST_CASE("the monitor records SophiaG's two buffers and draws its charts") {
  Generator gen(3), labels(4);
  MLP model({6, 5, 3}, gen);
  SophiaG sophia(model.parameters(), {.learning_rate = 1e-2, .batch_size = 8});
  Monitor monitor(sophia, model.named_parameters());
  Tensor x = pattern({8, 6}, 2), target = pattern({8, 3}, 7);
  for (int64_t step = 1; step <= 20; ++step) {
    sophia.zero_grad();
    Tensor loss = mse_loss(model.forward(x), target);  // forward
    loss.backward();                                   // backward
    monitor.before_step();
    sophia.step();                                     // update
    const Record* r = monitor.record(step, loss.item());
    REQUIRE(r != nullptr);
    REQUIRE(r->buffers.size() == 2);
    CHECK(r->buffers[0].buffer == "exp_avg");
    CHECK(r->buffers[1].buffer == "hessian");
    CHECK(r->nonfinite.empty());
    // Every element moved by at most η (plus the decay): ‖Δθ‖ ≤ η √n (plus the decay).
    CHECK(r->update_norm <= 1e-2 * std::sqrt(6.0 * 5 + 5 + 5 * 3 + 3) * 1.01 + 1e-3 * r->param_norm);
    if (step % 5 == 0) gauss_newton_bartlett(model, sophia, x, labels);
  }
  CHECK(monitor.history().back().loss < monitor.history().front().loss);
  std::string dir = std::filesystem::temp_directory_path().string();
  for (const char* name : {"/moments_sophia_trends.png", "/moments_sophia_memory.png"}) std::filesystem::remove(dir + name);
  save_trends_png(monitor, dir + "/moments_sophia_trends.png", "SophiaG");
  save_memory_png({{"SophiaG", &sophia}}, dir + "/moments_sophia_memory.png");
  for (const char* name : {"/moments_sophia_trends.png", "/moments_sophia_memory.png"}) {
    CHECK(std::filesystem::file_size(dir + name) > 1000);
    std::filesystem::remove(dir + name);
  }
}

TEST_CASE("SophiaG with the GNB estimator every 10 steps trains an MLP on the UCI digits") {
  // test_optim.cpp's setup (MLP 64-32-10, batches of 50 in order, 20 epochs) with the hook of sophia.hpp
  // every k = 10 steps on the step's own minibatch; bs = 50, the rows the sampled loss averages over.
  Dataset digits = load_digits_csv(MOMENTS_DATA_DIR "/digits.csv");
  REQUIRE(digits.size() == 1797);
  auto [train, test] = split(digits, 1400);
  Generator gen(0), sampler(7);
  MLP model({64, 32, 10}, gen);
  SophiaG opt(model.parameters(), {.learning_rate = 3e-3, .rho = 0.04, .weight_decay = 0.1, .batch_size = 50});
  int64_t step = 0;
  double clipped = 0, elements = 0;
  for (int epoch = 0; epoch < 20; ++epoch)
    for (int64_t b = 0; b + 50 <= train.size(); b += 50) {
      Tensor x = rows(train.inputs, b, b + 50);
      opt.zero_grad();
      cross_entropy(model.forward(x), labels_of(train, b, b + 50)).backward();  // forward, backward
      opt.step();                                                               // update
      if (++step % 10 == 0) gauss_newton_bartlett(model, opt, x, sampler);     // the Hessian, every k steps
      if (epoch == 19)
        for (const Tensor& p : model.parameters()) {
          std::vector<float> m = buffer(opt, p, "exp_avg"), h = buffer(opt, p, "hessian");
          for (size_t i = 0; i < m.size(); ++i) clipped += std::fabs(m[i]) >= static_cast<float>(0.04 * 50) * h[i];
          elements += static_cast<double>(m.size());
        }
    }
  NoGradGuard eval;
  double train_accuracy = accuracy(model.forward(train.inputs), train.labels);
  double test_accuracy = accuracy(model.forward(test.inputs), test.labels);
  MESSAGE("SophiaG (η = 3e-3, ρ = 0.04, bs = 50, k = 10), 20 epochs: train ", train_accuracy, ", held-out ",
          test_accuracy, "; clipped in the last epoch: ", clipped / elements);
  CHECK(train_accuracy >= 0.95);
  CHECK(test_accuracy >= 0.90);
}
