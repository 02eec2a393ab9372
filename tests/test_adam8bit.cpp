// test_adam8bit.cpp — 8-bit Adam and AdamW (lib/optim/adam8bit.*): exact agreement with a restatement of
// bitsandbytes' kernels (reference/make_quantization_golden.py), the comparison bitsandbytes' own tests make
// against 32-bit Adam (tests/test_optim.py, test_optimizer8bit), the memory, the kernel's semantics
// (non-finite gradients, the sign fix, decay after the step), state, checkpoints and training.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>

#include "monitor/charts.hpp"
#include "monitor/monitor.hpp"
#include "optim_testing.hpp"
#include "reference/quantization_golden.hpp"

using namespace testing;

namespace {

std::unique_ptr<Optimizer> make_case(const golden::OptimCase& c, const std::vector<Tensor>& params) {
  if (std::string(c.optimizer) == "Adam8bit") return build<Adam8bit, Adam8bitOptions>(c, params);
  if (std::string(c.optimizer) == "AdamW8bit") return build<AdamW8bit, AdamW8bitOptions>(c, params);
  FAIL("unknown optimizer ", c.optimizer);
  return nullptr;
}

std::vector<int> codes_of(const Tensor& packed, int64_t n) {
  std::vector<int> out;
  for (int64_t i = 0; i < n; ++i) out.push_back(code_at(packed, i));
  return out;
}

// The largest gap between neighbouring values of a map: twice the largest rounding error, relative to absmax.
float largest_gap(const DynamicMap& map) {
  float gap = 0;
  for (int k = 0; k < 255; ++k) gap = std::max(gap, map.code[k + 1] - map.code[k]);
  return gap;
}

// Sets `param`'s m and v in an Adam optimizer (through its state dict: the public way).
void set_adam_state(Adam& adam, size_t index, const Tensor& m, const Tensor& v) {
  StateDict dict = adam.state_dict();
  dict.state.at(static_cast<int64_t>(index)).buffers.at("exp_avg") = m.clone();
  dict.state.at(static_cast<int64_t>(index)).buffers.at("exp_avg_sq") = v.clone();
  adam.load_state_dict(dict);
}

}  // namespace

TEST_CASE("Adam8bit and AdamW8bit follow the restated bitsandbytes kernels exactly for 30 steps") {
  // Exact (atol = rtol = 0): the restatement does every float32 operation of the kernels in their order, and
  // so does adam8bit_math.hpp (with the same two replacements of CUDA intrinsics, adam8bit.hpp's deviations).
  follow_golden(golden::adam8bit_cases, make_case, 0.0f, 0.0f);
  for (size_t k = 0; k < golden::adam8bit_large_cases.size(); ++k) {
    const golden::OptimCase& c = golden::adam8bit_large_cases[k];
    Problem problem(std::vector<Shape>{{24, 24}, {300}});
    auto opt = make_case(c, problem.params);
    follow_golden(c, problem, [&](const golden::OptimCase&, const std::vector<Tensor>&) { return std::move(opt); }, 0.0f, 0.0f);
  }
}

TEST_CASE("after 30 steps the 8-bit state (codes and absmax) equals the restatement's, code for code") {
  for (size_t k = 0; k < golden::adam8bit_large_cases.size(); ++k) {
    const golden::OptimCase& c = golden::adam8bit_large_cases[k];
    const golden::Adam8bitState& expected = golden::adam8bit_large_states[k];
    std::string name = c.name;
    CAPTURE(name);
    Problem problem(std::vector<Shape>{{24, 24}, {300}});
    auto opt = make_case(c, problem.params);
    for (int t = 0; t < 30; ++t) {
      problem.set_gradients();
      opt->step();
    }
    const ParamState* s = opt->state(problem.params[1]);
    REQUIRE(s);
    CHECK(codes_of(s->buffers.at("exp_avg_codes"), 300) == expected.exp_avg_codes);
    CHECK(codes_of(s->buffers.at("exp_avg_sq_codes"), 300) == expected.exp_avg_sq_codes);
    CHECK(s->buffers.at("exp_avg_absmax").to_vector() == expected.exp_avg_absmax);
    CHECK(s->buffers.at("exp_avg_sq_absmax").to_vector() == expected.exp_avg_sq_absmax);
  }
}

TEST_CASE("against 32-bit Adam over 50 steps, re-synced after each step (bitsandbytes' test_optimizer8bit)") {
  // bitsandbytes' recipe: p = 0.1·randn(1024, 32 or 1024, ...), g = 0.01·randn each step, 50 steps; after each
  // step the 32-bit optimizer's m, v are set to the dequantized 8-bit state and the 8-bit parameters to the
  // 32-bit ones, so every step compares one update from the same starting point.
  // Its float32 thresholds: m, v within atol 3e-3 + rtol 1e-3 for all but fewer than 20 elements; mean |Δp|
  // < 6e-5 and mean |Δp| / |p| < 6e-4. Ours add a bound per element from the maps: one step from the same
  // state leaves m and v apart by the rounding of storage alone, at most half the largest gap of the map
  // times the block's absmax, or one gap where the sign fix moved m's code.
  for (bool decoupled : {false, true}) {
    CAPTURE(decoupled);
    Generator gen(8);
    Tensor p32 = (randn({1024, 32}, gen) * 0.1f).requires_grad_();
    Tensor p8 = p32.detach().clone().requires_grad_();
    Adam adam({p32}, {.learning_rate = 1e-3});
    AdamW adamw({p32}, {.learning_rate = 1e-3, .weight_decay = 0.01});  // decays before the step, AdamW8bit after
    Optimizer& reference = decoupled ? static_cast<Optimizer&>(adamw) : adam;
    std::unique_ptr<Optimizer> opt8;
    Adam8bit* a8 = nullptr;
    AdamW8bit* aw8 = nullptr;
    if (decoupled) opt8 = std::make_unique<AdamW8bit>(std::vector<Tensor>{p8}, AdamW8bitOptions{.weight_decay = 0.01}), aw8 = static_cast<AdamW8bit*>(opt8.get());
    else opt8 = std::make_unique<Adam8bit>(std::vector<Tensor>{p8}, Adam8bitOptions{}), a8 = static_cast<Adam8bit*>(opt8.get());
    auto moment = [&](const char* which) { return a8 ? a8->moment(p8, which) : aw8->moment(p8, which); };
    const float half_gap_m = largest_gap(dynamic_map(true)) / 2, half_gap_v = largest_gap(dynamic_map(false)) / 2;
    double worst_m = 0, worst_v = 0, worst_abs = 0, worst_rel = 0;
    for (int step = 1; step <= 50; ++step) {
      Tensor g = randn({1024, 32}, gen) * 0.01f;
      p32.set_grad(g.clone());
      p8.set_grad(g.clone());
      reference.step();
      opt8->step();
      REQUIRE((a8 ? a8->is_8bit(p8) : aw8->is_8bit(p8)));
      Tensor m8 = moment("exp_avg"), v8 = moment("exp_avg_sq");
      const Tensor& m32 = reference.state(p32)->buffers.at("exp_avg");
      const Tensor& v32 = reference.state(p32)->buffers.at("exp_avg_sq");
      const ParamState* s8 = opt8->state(p8);
      std::vector<float> am = s8->buffers.at("exp_avg_absmax").to_vector(), av = s8->buffers.at("exp_avg_sq_absmax").to_vector();
      int not_close_m = 0, not_close_v = 0;
      for (int64_t i = 0; i < p8.numel(); ++i) {
        float em = std::fabs(m8.data()[i] - m32.data()[i]), ev = std::fabs(v8.data()[i] - v32.data()[i]);
        not_close_m += em > 3e-3f + 1e-3f * std::fabs(m32.data()[i]);
        not_close_v += ev > 3e-3f + 1e-3f * std::fabs(v32.data()[i]);
        float a_m = am[static_cast<size_t>(i / 256)], a_v = av[static_cast<size_t>(i / 256)];
        worst_m = std::max(worst_m, static_cast<double>(em / a_m));
        worst_v = std::max(worst_v, static_cast<double>(ev / a_v));
      }
      CHECK(not_close_m < 20);
      CHECK(not_close_v < 20);
      double sum_abs = 0, sum_rel = 0;
      for (int64_t i = 0; i < p8.numel(); ++i) {
        double e = std::fabs(static_cast<double>(p8.data()[i]) - p32.data()[i]);
        sum_abs += e;
        sum_rel += e / (std::fabs(p32.data()[i]) + 1e-9);
      }
      double mean_abs = sum_abs / static_cast<double>(p8.numel()), mean_rel = sum_rel / static_cast<double>(p8.numel());
      CHECK(mean_abs < 6e-5);
      CHECK(mean_rel < 6e-4);
      worst_abs = std::max(worst_abs, mean_abs);
      worst_rel = std::max(worst_rel, mean_rel);
      // Re-sync: the 32-bit state takes the dequantized 8-bit one, the 8-bit parameters the 32-bit ones.
      if (decoupled) {
        StateDict dict = adamw.state_dict();
        dict.state.at(0).buffers.at("exp_avg") = m8;
        dict.state.at(0).buffers.at("exp_avg_sq") = v8;
        adamw.load_state_dict(dict);
      } else {
        set_adam_state(adam, 0, m8, v8);
      }
      NoGradGuard off;
      std::copy_n(p32.data(), p32.numel(), p8.data());
    }
    // One gap (not half) allows for the sign fix; plus float rounding of m_t itself (the two optimizers arrange
    // the same formula differently, a few ulps).
    CHECK(worst_m <= 2 * half_gap_m * 1.0001);
    // v also differs by how 1 − β2 is rounded: bitsandbytes' kernel takes 1.0f − β2 in float (0.999987e-3),
    // torch.optim (and our Adam) 1 − β2 in double, then float (1.0e-3): 1.3e-5 apart, relative, and
    // (1 − β2) g² ≤ v ≤ absmax.
    const float one_minus_beta2_float = 1.0f - 0.999f, one_minus_beta2_double = static_cast<float>(1.0 - 0.999);
    const double beta2_rounding = std::fabs(one_minus_beta2_float - one_minus_beta2_double) / one_minus_beta2_double;
    CHECK(worst_v <= half_gap_v * 1.0001 + beta2_rounding);
    MESSAGE(std::string(decoupled ? "AdamW8bit" : "Adam8bit"), " vs 32-bit over 50 re-synced steps: max |m8 - m32| / absmax = ",
            worst_m, " (half the signed map's largest gap: ", half_gap_m, "), max |v8 - v32| / absmax = ", worst_v,
            " (unsigned: ", half_gap_v, "); worst mean |dp| = ", worst_abs, ", worst mean |dp|/|p| = ", worst_rel);
  }
}

TEST_CASE("state_bytes: 2.03 bytes per parameter from the allocations, against Adam's 8") {
  Tensor big = Tensor::zeros({1024, 64}).requires_grad_();   // 65,536 elements: 256 blocks, 8-bit
  Tensor small = Tensor::zeros({1000}).requires_grad_();     // under 4,096: float32 state
  Tensor kept = Tensor::zeros({64, 128}).requires_grad_();   // 8,192, but kept in 32 bits (stable embedding)
  AdamW8bit opt({big, small, kept});
  opt.keep_32bit(kept);
  for (Tensor* p : {&big, &small, &kept}) p->set_grad(Tensor::ones(p->shape()));
  opt.step();
  CHECK(opt.is_8bit(big));
  CHECK_FALSE(opt.is_8bit(small));
  CHECK_FALSE(opt.is_8bit(kept));
  std::map<std::string, int64_t> bytes;
  for (const StateMemory& row : opt.state_bytes()) bytes[row.buffer] += row.bytes;
  CHECK(bytes["exp_avg_codes"] == 65536);        // one byte per element
  CHECK(bytes["exp_avg_sq_codes"] == 65536);
  CHECK(bytes["exp_avg_absmax"] == 256 * 4);     // one float per block of 256
  CHECK(bytes["exp_avg_sq_absmax"] == 256 * 4);
  CHECK(bytes["exp_avg"] == 4 * (1000 + 8192));  // float32 m of the small and the kept tensor
  CHECK(bytes["exp_avg_sq"] == 4 * (1000 + 8192));
  const int64_t eight_bit = bytes["exp_avg_codes"] + bytes["exp_avg_sq_codes"] + bytes["exp_avg_absmax"] + bytes["exp_avg_sq_absmax"];
  const double per_param = static_cast<double>(eight_bit) / 65536.0;
  CHECK(per_param == 2.03125);  // 2 + 2·4/256
  Adam adam({big});
  adam.step();
  CHECK(adam.state_bytes_total() == 8 * 65536);
  MESSAGE("state bytes per parameter: 8-bit ", per_param, ", 32-bit ", adam.state_bytes_total() / 65536.0);
  // A partial block and a size not divisible by 4 round up: 4097 codes take 1025 floats, 17 absmax.
  Tensor odd = Tensor::zeros({4097}).requires_grad_();
  Adam8bit opt_odd({odd});
  odd.set_grad(Tensor::ones({4097}));
  opt_odd.step();
  CHECK(opt_odd.state_bytes_total() == 2 * (4 * 1025 + 4 * 17));
}

TEST_CASE("state names, the 8- or 32-bit choice, and keep_32bit") {
  Tensor a = Tensor::zeros({4096}).requires_grad_(), b = Tensor::zeros({4095}).requires_grad_();
  Adam8bit opt({a, b});
  a.set_grad(Tensor::ones({4096}));
  b.set_grad(Tensor::ones({4095}));
  opt.step();
  std::vector<std::string> names_a, names_b;
  for (const auto& [name, t] : opt.state(a)->buffers) names_a.push_back(name);
  for (const auto& [name, t] : opt.state(b)->buffers) names_b.push_back(name);
  CHECK(names_a == std::vector<std::string>{"exp_avg_absmax", "exp_avg_codes", "exp_avg_sq_absmax", "exp_avg_sq_codes"});
  CHECK(names_b == std::vector<std::string>{"exp_avg", "exp_avg_sq"});  // 4,095 < min_8bit_size = 4,096
  CHECK(opt.state(a)->buffers.at("exp_avg_codes").shape() == Shape{1024});
  CHECK(opt.state(a)->buffers.at("exp_avg_absmax").shape() == Shape{16});
  check_error([&] { opt.keep_32bit(a); }, {"Adam8bit::keep_32bit", "already has state", "before its first step"});
  check_error([&] { opt.keep_32bit(Tensor::zeros({3})); }, {"Adam8bit::keep_32bit", "not one of this optimizer's parameters"});
  check_error([&] { opt.moment(a, "m"); }, {"Adam8bit::moment", "'m'", "exp_avg or exp_avg_sq"});
  // After one step of g = 1 every m is (1 − β1) g, the block's absmax: code 255 (the value 1), so m comes back whole.
  Tensor m = opt.moment(a, "exp_avg");
  CHECK(m.to_vector()[0] == doctest::Approx(0.1f).epsilon(1e-6));
}

TEST_CASE("a NaN or infinite gradient element: its m and v restart at 0 and its parameter is not touched") {
  Tensor p = pattern({512}, 1).requires_grad_();
  AdamW8bit opt({p}, {.learning_rate = 0.01, .weight_decay = 0.1, .min_8bit_size = 0});
  p.set_grad(pattern({512}, 4));
  opt.step();
  std::vector<float> before = p.to_vector();
  Tensor g = pattern({512}, 4);
  g.data()[3] = std::numeric_limits<float>::quiet_NaN();
  g.data()[300] = std::numeric_limits<float>::infinity();
  p.set_grad(g);
  opt.step();
  std::vector<float> after = p.to_vector();
  CHECK(after[3] == before[3]);      // neither stepped nor decayed
  CHECK(after[300] == before[300]);
  CHECK(after[4] != before[4]);
  std::vector<float> m = opt.moment(p, "exp_avg").to_vector(), v = opt.moment(p, "exp_avg_sq").to_vector();
  CHECK(m[3] == 0.0f);
  CHECK(v[3] == 0.0f);
  CHECK(m[300] == 0.0f);
  CHECK(v[300] == 0.0f);
  CHECK(v[4] > 0.0f);
  for (float x : after) CHECK(std::isfinite(x));
}

TEST_CASE("a partial last block's padding takes part in its absmax, as in the kernel's 256-wide reduction") {
  // After an all-NaN step every real m is 0: a full block's absmax becomes 0, but a partial block's becomes the
  // padding's m = Q_m[128] · a_old · β1 (g = 0 and code 128 beyond n), not 0.
  Tensor p = pattern({300}, 1).requires_grad_();  // a full block and 44 elements
  Adam8bit opt({p}, {.min_8bit_size = 0});
  p.set_grad(pattern({300}, 4));
  opt.step();
  const float old_absmax = opt.state(p)->buffers.at("exp_avg_absmax").to_vector()[1];
  REQUIRE(old_absmax > 0.0f);
  p.set_grad(Tensor::full({300}, std::numeric_limits<float>::quiet_NaN()));
  opt.step();
  std::vector<float> absmax_m = opt.state(p)->buffers.at("exp_avg_absmax").to_vector();
  std::vector<float> absmax_v = opt.state(p)->buffers.at("exp_avg_sq_absmax").to_vector();
  CHECK(absmax_m[0] == 0.0f);
  CHECK(absmax_m[1] == dynamic_map(true).code[128] * old_absmax * 0.9f + 0.0f);
  CHECK(absmax_v == std::vector<float>{0.0f, 0.0f});  // the padding's v is Q_v[0] · a = 0
  for (float m : opt.moment(p, "exp_avg").to_vector()) CHECK(m == 0.0f);
}

TEST_CASE("the sign fix: a tiny negative m keeps its sign; a tiny positive one may round to +0") {
  // bitsandbytes compares sign bits after rounding: m < 0 rounded to code 127 (+0) steps to code 126 (−5.5e-7),
  // but m > 0 rounded to +0 has the same sign bit as m, so it stays 0. The fix is asymmetric.
  Tensor p = Tensor::zeros({256}).requires_grad_();
  Adam8bit opt({p}, {.min_8bit_size = 0});
  Tensor g = Tensor::full({256}, 1e-9f);
  g.data()[0] = 1.0f;  // the block's absmax: m = 0.1, the others ±1e-10, far below half of 5.5e-7 · 0.1
  for (int64_t i = 1; i < 256; i += 2) g.data()[i] = -1e-9f;
  p.set_grad(g);
  opt.step();
  std::vector<float> m = opt.moment(p, "exp_avg").to_vector();
  const float a = m[0];
  for (int64_t i = 1; i < 256; ++i) {
    CAPTURE(i);
    if (g.data()[i] < 0) CHECK(m[static_cast<size_t>(i)] == dynamic_map(true).code[126] * a);  // nearest would be 0
    else CHECK(m[static_cast<size_t>(i)] == 0.0f);
  }
  CHECK(dynamic_map(true).code[126] == -dynamic_map(true).code[128]);
}

TEST_CASE("AdamW8bit decays after the step; with weight_decay = 0 it is Adam8bit bit for bit") {
  for (int64_t n : {100, 5000}) {  // the 32-bit and the 8-bit path
    CAPTURE(n);
    Tensor a = pattern({n}, 1).requires_grad_(), b = pattern({n}, 1).requires_grad_();
    Adam8bit adam8({a}, {.learning_rate = 0.01});
    AdamW8bit adamw8({b}, {.learning_rate = 0.01, .weight_decay = 0.0});
    for (int t = 0; t < 5; ++t) {
      a.set_grad(pattern({n}, t));
      b.set_grad(pattern({n}, t));
      adam8.step();
      adamw8.step();
    }
    CHECK(a.to_vector() == b.to_vector());
  }
  // One step from m = v = 0 with g = 1 (m̂ = v̂ = 1): θ₁ = (θ₀ − α)(1 − αλ) = 1.805, not θ₀(1 − αλ) − α = 1.8.
  Tensor p = Tensor::full({10}, 2.0f).requires_grad_();
  AdamW8bit opt({p}, {.learning_rate = 0.1, .weight_decay = 0.5});
  p.set_grad(Tensor::ones({10}));
  opt.step();
  double expected = (2.0 - 0.1 * 1.0 / (1.0 + 1e-8)) * (1.0 - 0.1 * 0.5);  // m̂ = 1, √v̂ = 1
  CHECK(p.to_vector()[0] == doctest::Approx(expected).epsilon(1e-6));
  CHECK(p.to_vector()[0] != doctest::Approx(2.0 * (1.0 - 0.05) - 0.1).epsilon(1e-6));
}

TEST_CASE("validation names the optimizer, the hyperparameter and the value") {
  Tensor p = Tensor::zeros({3}).requires_grad_();
  check_error([&] { Adam8bit({p}, {.learning_rate = -1.0}); }, {"Adam8bit", "learning_rate", "-1"});
  check_error([&] { AdamW8bit({p}, {.beta1 = 1.0}); }, {"AdamW8bit", "beta1", "1", "[0, 1)"});
  check_error([&] { Adam8bit({p}, {.beta2 = std::nan("")}); }, {"Adam8bit", "beta2", "nan"});
  check_error([&] { Adam8bit({p}, {.eps = -1e-8}); }, {"Adam8bit", "eps"});
  check_error([&] { AdamW8bit({p}, {.weight_decay = -0.1}); }, {"AdamW8bit", "weight_decay", "-0.1"});
  check_error([&] { Adam8bit({p}, {.min_8bit_size = -1}); }, {"Adam8bit", "min_8bit_size", "-1"});
  check_error([&] { Adam8bit({p}, {.min_8bit_size = 10.5}); }, {"Adam8bit", "min_8bit_size", "10.5", "whole number"});
}

TEST_CASE("state_dict and checkpoint round trips resume bit for bit, 8-bit and 32-bit state") {
  for (double min_size : {0.0, 4096.0}) {
    CAPTURE(min_size);
    check_state_dict_round_trip([&](const std::vector<Tensor>& p) {
      return std::make_unique<Adam8bit>(p, Adam8bitOptions{.learning_rate = 0.01, .min_8bit_size = min_size});
    });
    check_state_dict_round_trip([&](const std::vector<Tensor>& p) {
      return std::make_unique<AdamW8bit>(p, AdamW8bitOptions{.learning_rate = 0.01, .weight_decay = 0.1, .min_8bit_size = min_size});
    }, {{24, 24}, {300}, {7}});
    check_checkpoint_round_trip([&](MLP& model) {
      return std::make_unique<AdamW8bit>(model.parameters(), AdamW8bitOptions{.learning_rate = 0.01, .min_8bit_size = min_size});
    });
  }
  // A dict whose codes do not fit the parameter is refused, naming the buffer and the shapes.
  Tensor p = Tensor::zeros({300}).requires_grad_();
  Adam8bit opt({p}, {.min_8bit_size = 0});
  p.set_grad(Tensor::ones({300}));
  opt.step();
  StateDict dict = opt.state_dict();
  dict.state.at(0).buffers.at("exp_avg_codes") = Tensor::zeros({74});
  check_error([&] { opt.load_state_dict(dict); }, {"Adam8bit::load_state_dict", "exp_avg_codes", "[74]", "[75]"});
}

TEST_CASE("explain traces the stored moments of one element") {
  Tensor p = pattern({600}, 1).requires_grad_();
  Adam8bit opt({p}, {.learning_rate = 0.01, .min_8bit_size = 0});
  opt.explain(p, 300);
  p.set_grad(pattern({600}, 2));
  float before = p.data()[300];
  opt.step();
  const Explanation& e = opt.explanation();
  CHECK(e.step == 1);
  CHECK(e.get("g") == pattern({600}, 2).data()[300]);
  CHECK(e.get("m") == opt.moment(p, "exp_avg").data()[300]);
  CHECK(e.get("v") == opt.moment(p, "exp_avg_sq").data()[300]);
  CHECK(e.get("update") == doctest::Approx(static_cast<double>(p.data()[300]) - before));
}

TEST_CASE("8-bit Adam trains an MLP on the UCI digits to >= 88% held-out accuracy") {
  Dataset digits = load_digits_csv(MOMENTS_DATA_DIR "/digits.csv");
  auto [train, test] = split(digits, 1400);
  struct Case {
    const char* name;
    std::vector<int64_t> widths;
    double min_8bit_size;
  };
  // 64-32-10: every tensor is under 4,096 elements (2,048 and 320 weights), so all state stays 32-bit, as
  // bitsandbytes would keep it; 64-128-10 quantizes its first weight (8,192); min_8bit_size = 0 quantizes all.
  for (const Case& c : {Case{"64-32-10, default", {64, 32, 10}, 4096}, Case{"64-128-10, default", {64, 128, 10}, 4096},
                        Case{"64-32-10, all 8-bit", {64, 32, 10}, 0}}) {
    std::string name = c.name;
    CAPTURE(name);
    Generator gen(0);
    MLP model(c.widths, gen);
    AdamW8bit opt(model.parameters(), {.learning_rate = 3e-3, .min_8bit_size = c.min_8bit_size});
    testing::train_digits(model, opt, train);  // forward, backward, update: 50 rows a step
    int eight_bit = 0;
    for (const Tensor& p : model.parameters()) eight_bit += opt.is_8bit(p);
    NoGradGuard eval;
    double train_accuracy = accuracy(model.forward(train.inputs), train.labels);
    double test_accuracy = accuracy(model.forward(test.inputs), test.labels);
    CHECK(train_accuracy >= 0.95);
    CHECK(test_accuracy >= 0.88);
    MESSAGE(name, ": ", eight_bit, " of ", model.parameters().size(), " tensors 8-bit, state ",
            opt.state_bytes_total(), " bytes; held-out accuracy ", test_accuracy, ", train ", train_accuracy);
  }
}

TEST_CASE("a Monitor run with AdamW8bit: the log and the charts work") {
  // 64 × 96 = 6,144 first-layer weights: over 4,096, so that layer's state is 8-bit.
  testing::check_monitored_run([](MLP& m) { return std::make_unique<AdamW8bit>(m.parameters(), AdamW8bitOptions{.learning_rate = 3e-3}); },
                               {.widths = {64, 96, 10}});
}
