// Suite `optim`: Adam-mini (lib/optim/adam_mini.*) against its restated canonical code
// (reference/make_adam_mini_golden.py), its partition by name, the invariants that tie it to
// Adam and to the paper, its state and its memory, validation, resume, explain, the monitor,
// and the UCI digits.
//   meson test -C build --suite optim
#include <algorithm>
#include <cmath>
#include <filesystem>

#include "optim_testing.hpp"
#include "reference/adam_mini_golden.hpp"

using namespace moments;
using testing::check_error;
using testing::pattern;
using testing::Problem;

namespace {

const AdamMiniModel kGoldenModel{.dim = golden::adam_mini_dim, .n_heads = golden::adam_mini_n_heads,
                                 .n_kv_heads = golden::adam_mini_n_kv_heads};

std::vector<Shape> golden_shapes() { return {golden::adam_mini_shapes.begin(), golden::adam_mini_shapes.end()}; }

NamedTensors golden_named(const std::vector<Tensor>& params, const std::vector<int>& which) {
  NamedTensors out;
  for (int i : which) out.emplace_back(golden::adam_mini_names[static_cast<size_t>(i)], params[static_cast<size_t>(i)]);
  return out;
}

std::vector<int> all_golden() {
  std::vector<int> all(golden::adam_mini_names.size());
  for (size_t i = 0; i < all.size(); ++i) all[i] = static_cast<int>(i);
  return all;
}

// The case's groups: the first through the constructor (its hyperparameters over the defaults), the rest added
// with theirs as overrides of the constructor's, as the golden script sets the canonical per-parameter groups.
std::unique_ptr<Optimizer> build_case(const golden::OptimCase& c, const std::vector<Tensor>& params) {
  AdamMiniOptions first;
  first.visit([&](const char* field, double& slot) {
    auto it = c.groups[0].hyperparameters.find(field);
    if (it != c.groups[0].hyperparameters.end()) slot = it->second;
  });
  auto opt = std::make_unique<AdamMini>(golden_named(params, c.groups[0].params), first, kGoldenModel);
  for (size_t g = 1; g < c.groups.size(); ++g)
    opt->add_param_group(golden_named(params, c.groups[g].params), c.groups[g].hyperparameters);
  return opt;
}

// A gradient for step t that changes from step to step and has elements of every size.
Tensor gradient_at(const Shape& shape, int t) { return pattern(shape, 3 * t + 1, 0.1f * static_cast<float>(1 + t % 4)); }

}  // namespace

TEST_CASE("Adam-mini follows the restated canonical code for 30 steps (every rule, GQA key, two groups)") {
  // float32 throughout; the rounding differs from torch's in two places (Σ g² in double here, float32 there;
  // m's lerp unfused here, one FMA in torch's CPU kernel), each an ulp or so per step: the defaults hold.
  for (const golden::OptimCase& c : golden::adam_mini_cases) {
    Problem problem(golden_shapes());
    testing::follow_golden(c, problem, build_case);
  }
}

TEST_CASE("the partition: per head for q/k, per row for embedding/output/v/o/MLP, per tensor else, Adam for biases") {
  Problem problem(golden_shapes());
  AdamMini opt(golden_named(problem.params, all_golden()), {}, kGoldenModel);
  struct Expected {
    const char* rule;
    const char* matched;
    int64_t blocks, block_size;
    bool decays;
  };
  const std::vector<Expected> expected = {
      {"row", "embd", 5, 4, true},       // embed.weight [5, 4]: one per token
      {"head", "wqk", 2, 8, true},       // wq [4, 4], 2 heads of dim·dim/n_heads = 8
      {"head", "wqk", 1, 8, true},       // wk [2, 4]: the one key head of grouped-query attention
      {"row", "wv", 2, 4, true},         // wv [2, 4]: per neuron
      {"row", "attn_proj", 4, 4, true},  // wo
      {"row", "mlp", 6, 4, true},        // mlp.w1.weight
      {"adam", "adam_block", 6, 1, false},  // mlp.w1.bias: full Adam, no decay
      {"tensor", "", 1, 4, false},       // attn_norm.weight: one for the tensor, no decay ("norm")
      {"tensor", "", 1, 12, true},       // gate.weight: matches no list
      {"row", "output", 5, 4, true},     // lm_head.weight
  };
  std::vector<AdamMiniBlocks> parts = opt.partition();
  REQUIRE(parts.size() == expected.size());
  for (size_t i = 0; i < parts.size(); ++i) {
    CAPTURE(parts[i].name);
    CHECK(parts[i].name == golden::adam_mini_names[i]);
    CHECK(std::string(rule_name(parts[i].rule)) == expected[i].rule);
    CHECK(parts[i].matched == expected[i].matched);
    CHECK(parts[i].blocks == expected[i].blocks);
    CHECK(parts[i].block_size == expected[i].block_size);
    CHECK(parts[i].decays == expected[i].decays);
    CHECK(&opt.blocks(problem.params[i]) != nullptr);
  }
  // moments' MLP: "layers.<i>.weight" matches no list (one v per tensor), "layers.<i>.bias" is full Adam.
  Generator gen(0);
  MLP mlp({6, 5, 3}, gen);
  AdamMini on_mlp(mlp.named_parameters());
  for (const AdamMiniBlocks& b : on_mlp.partition()) {
    CAPTURE(b.name);
    bool bias = b.name.find("bias") != std::string::npos;
    CHECK(b.rule == (bias ? AdamMiniRule::adam : AdamMiniRule::tensor));
    CHECK(b.decays == !bias);
  }
  // Names are matched lower-cased, as substrings; the lists are the model's to change. GPT-2's fused
  // "attn.c_attn" matches nothing by default, and is one block per head once "c_attn" is a q/k name.
  Tensor fused = pattern({12, 4}, 1).requires_grad_(), upper = pattern({4, 4}, 2).requires_grad_();
  AdamMini plain({{"h.0.attn.c_attn.weight", fused}, {"Model.Layers.0.MLP.Weight", upper}}, {}, {.dim = 4, .n_heads = 2});
  CHECK(plain.blocks(fused).rule == AdamMiniRule::tensor);
  CHECK(plain.blocks(upper).rule == AdamMiniRule::row);
  AdamMiniModel gpt2{.dim = 4, .n_heads = 2};
  gpt2.names.wqk.push_back("c_attn");
  AdamMini named({{"h.0.attn.c_attn.weight", fused}}, {}, gpt2);
  CHECK(named.blocks(fused).rule == AdamMiniRule::head);
  CHECK(named.blocks(fused).blocks == 6);  // q, k and v heads alike: 48 elements / 8
  // A parameter that needs no gradient is left out, as the canonical code does.
  Tensor frozen = pattern({3}, 1);
  AdamMini some({{"mlp.weight", pattern({2, 3}, 1).requires_grad_()}, {"frozen.bias", frozen}});
  CHECK(some.partition().size() == 1);
  check_error([&] { some.blocks(frozen); }, {"AdamMini::blocks", "[3]"});
}

TEST_CASE("a block of one element takes Adam's (AdamW's) step, up to the rounding of a different order") {
  // Rows of one element ([n, 1] under an MLP name) and the Adam rule (a bias) are Adam with decoupled decay.
  // Not bit for bit against moments' AdamW: m here is lerp(m, g, 1 − β1) (Adam: β1 m + (1 − β1) g), v_b takes
  // the mean of g² in double (Adam: (1 − β2)·g·g in float), and the block rule scales m by
  // (1/h)·(1/(1 − β1^t)), then α (Adam: −α/(1 − β1^t)·m/h); each rounds differently by an ulp or so.
  const AdamWOptions adamw_options{.learning_rate = 0.01, .beta1 = 0.8, .beta2 = 0.99, .eps = 1e-8, .weight_decay = 0.1};
  const AdamMiniOptions mini_options{.learning_rate = 0.01, .beta1 = 0.8, .beta2 = 0.99, .eps = 1e-8, .weight_decay = 0.1};
  Tensor a = pattern({9}, 1).requires_grad_(), a0 = pattern({9}, 1).requires_grad_(),
         rows = pattern({9, 1}, 1).requires_grad_(), bias = pattern({9}, 1).requires_grad_();
  AdamW adamw({a}, adamw_options);
  AdamWOptions no_decay = adamw_options;
  no_decay.weight_decay = 0.0;  // a bias is exempt from decay
  AdamW adamw0({a0}, no_decay);
  AdamMini mini({{"mlp.weight", rows}, {"mlp.bias", bias}}, mini_options);
  REQUIRE(mini.blocks(rows).rule == AdamMiniRule::row);
  REQUIRE(mini.blocks(rows).blocks == 9);
  for (int t = 1; t <= 50; ++t) {
    Tensor g = gradient_at({9}, t);
    a.set_grad(g), a0.set_grad(g), rows.set_grad(reshape(g, {9, 1})), bias.set_grad(g);
    adamw.step(), adamw0.step(), mini.step();
    testing::check_close(reshape(rows, {9}), a.to_vector(), 1e-7f, 1e-6f, "rows of one element, step " + std::to_string(t));
    testing::check_close(bias, a0.to_vector(), 1e-7f, 1e-6f, "the Adam rule, step " + std::to_string(t));
  }
  testing::check_close(mini.state(rows)->buffers.at("vmean"), adamw.state(a)->buffers.at("exp_avg_sq").to_vector(), 0.0f, 1e-6f,
                       "v_b of one element is Adam's v");
}

TEST_CASE("v_b is the block mean of Adam's v, and every element of a block takes the same step size") {
  // v_b,t = Σ_s β2^{t−s}(1 − β2) mean_b(g_s²) = mean_b(v_t) of Adam, by linearity (the paper's motivation).
  Tensor p = pattern({4, 6}, 1).requires_grad_(), q = pattern({4, 6}, 1).requires_grad_(),
         whole = pattern({4, 6}, 1).requires_grad_();
  AdamMini mini({{"mlp.weight", p}, {"other.weight", whole}});
  Adam adam({q});
  for (int t = 1; t <= 20; ++t) {
    Tensor g = gradient_at({4, 6}, t);
    for (int64_t i = 0; i < 24; ++i) g.data()[i] *= static_cast<float>(1 + i / 6);  // row r scaled by r + 1
    p.set_grad(g), q.set_grad(g), whole.set_grad(g);
    std::vector<float> before = p.to_vector();
    mini.step(), adam.step();
    std::vector<float> v = adam.state(q)->buffers.at("exp_avg_sq").to_vector();
    std::vector<float> vmean = mini.state(p)->buffers.at("vmean").to_vector();
    std::vector<float> m = mini.state(p)->buffers.at("exp_avg").to_vector();
    double all = 0.0;
    for (int r = 0; r < 4; ++r) {
      double row = 0.0;
      for (int c = 0; c < 6; ++c) row += v[static_cast<size_t>(r * 6 + c)];
      all += row;
      CHECK(vmean[static_cast<size_t>(r)] == doctest::Approx(row / 6).epsilon(1e-5));
      // (θ_before − θ_after) / m is one number per row: α / ((1 − β1^t)(√v̂_b + ε)).
      double first = (before[static_cast<size_t>(r * 6)] - p.data()[r * 6]) / m[static_cast<size_t>(r * 6)];
      for (int c = 1; c < 6; ++c) {
        size_t i = static_cast<size_t>(r * 6 + c);
        if (std::fabs(m[i]) < 1e-3f) continue;  // the quotient of two tiny numbers says little
        CHECK((before[i] - p.data()[r * 6 + c]) / m[i] == doctest::Approx(first).epsilon(1e-3));
      }
    }
    CHECK(mini.state(whole)->buffers.at("vmean").to_vector().at(0) == doctest::Approx(all / 24).epsilon(1e-5));
  }
  // The rows did get different step sizes (otherwise this would be Adam with one v per tensor).
  std::vector<float> vmean = mini.state(p)->buffers.at("vmean").to_vector();
  CHECK(*std::max_element(vmean.begin(), vmean.end()) > 1.5f * *std::min_element(vmean.begin(), vmean.end()));
}

TEST_CASE("per head with one row per head is per row, bit for bit") {
  // n_heads = dim: a head is head_dim = 1 row of dim elements, so the head rule and the row rule make the same
  // blocks and the same step.
  Tensor q = pattern({4, 4}, 1).requires_grad_(), r = pattern({4, 4}, 1).requires_grad_();
  AdamMini heads({{"wq.weight", q}}, {.learning_rate = 0.01}, {.dim = 4, .n_heads = 4});
  AdamMini per_row({{"mlp.weight", r}}, {.learning_rate = 0.01});
  for (int t = 1; t <= 10; ++t) {
    q.set_grad(gradient_at({4, 4}, t)), r.set_grad(gradient_at({4, 4}, t));
    heads.step(), per_row.step();
  }
  CHECK(q.to_vector() == r.to_vector());
  CHECK(heads.state(q)->buffers.at("vmean").to_vector() == per_row.state(r)->buffers.at("vmean").to_vector());
}

TEST_CASE("Adam-mini refuses bad models, shapes and hyperparameters, naming them") {
  Tensor w = pattern({4, 4}, 1).requires_grad_();
  const double nan = std::nan("");
  check_error([&] { AdamMini({{"wq.weight", w}}, {}, {.dim = 6, .n_heads = 4}); }, {"AdamMini", "dim 6", "n_heads 4", "wq.weight"});
  check_error([&] { AdamMini({{"wq.weight", w}}, {}, {.dim = 8, .n_heads = 2}); },
              {"AdamMini", "'wq.weight'", "query/key", "[4, 4]", "16 elements", "= 32"});
  check_error([&] { AdamMini({{"mlp.weight", w}}, {}, {.n_heads = 4, .n_kv_heads = 3}); }, {"AdamMini", "n_kv_heads 3", "n_heads 4"});
  check_error([&] { AdamMini({{"mlp.weight", w}}, {}, {.n_heads = 0}); }, {"AdamMini", "n_heads 0"});
  check_error([&] { AdamMini({{"mlp.weight", w}}, {}, {.dim = 0}); }, {"AdamMini", "dim 0"});
  Tensor vector = pattern({5}, 1).requires_grad_(), cube = pattern({2, 2, 2}, 1).requires_grad_();
  check_error([&] { AdamMini({{"mlp.scale", vector}}); }, {"AdamMini", "'mlp.scale'", "per-row", "(mlp)", "[5]", "matrix"});
  check_error([&] { AdamMini({{"embed.weight", cube}}); }, {"AdamMini", "(embd)", "[2, 2, 2]"});
  check_error([&] { AdamMini({{"w", Tensor{}}}); }, {"AdamMini", "'w'", "undefined"});
  check_error([&] { AdamMini({{"w", w}}, {.learning_rate = -1}); }, {"AdamMini", "learning_rate", "-1"});
  check_error([&] { AdamMini({{"w", w}}, {.beta1 = 1.0}); }, {"AdamMini", "beta1", "[0, 1)"});
  check_error([&] { AdamMini({{"w", w}}, {.beta2 = nan}); }, {"AdamMini", "beta2", "nan"});
  check_error([&] { AdamMini({{"w", w}}, {.eps = -1}); }, {"AdamMini", "eps"});
  check_error([&] { AdamMini({{"w", w}}, {.weight_decay = -0.1}); }, {"AdamMini", "weight_decay", "-0.1"});
  // A refused group leaves the optimizer as it was.
  AdamMini opt({{"mlp.weight", w}});
  Tensor other = pattern({3}, 2).requires_grad_();
  check_error([&] { opt.add_param_group({{"x.bias", other}, {"again.weight", w}}); }, {});
  check_error([&] { opt.add_param_group({{"x.bias", other}}, {{"beta1", 2.0}}); }, {"AdamMini", "beta1"});
  CHECK(opt.partition().size() == 1);
  CHECK(opt.group_count() == 1);
  opt.add_param_group({{"x.bias", other}}, {{"learning_rate", 0.5}});
  CHECK(opt.partition().size() == 2);
  CHECK(opt.learning_rate(1) == 0.5);
  CHECK(opt.hyperparameter(1, "beta2") == 0.999);  // the rest inherited from the constructor
}

TEST_CASE("state: m per element, one v per block; a transformer's state is about half of Adam's") {
  // A small transformer-shaped set: vocabulary 64, width 32, 4 query heads, 2 key/value heads, MLP 4×.
  const int64_t V = 64, d = 32, kv = 16;
  const std::vector<std::pair<std::string, Shape>> layout = {
      {"embed.weight", {V, d}},
      {"layers.0.attention.wq.weight", {d, d}},
      {"layers.0.attention.wk.weight", {kv, d}},
      {"layers.0.attention.wv.weight", {kv, d}},
      {"layers.0.attention.wo.weight", {d, d}},
      {"layers.0.feed_forward.w1.weight", {4 * d, d}},
      {"layers.0.feed_forward.w2.weight", {d, 4 * d}},
      {"layers.0.attention_norm.weight", {d}},
      {"layers.0.ffn_norm.weight", {d}},
      {"norm.weight", {d}},
      {"lm_head.weight", {V, d}}};
  NamedTensors named;
  std::vector<Tensor> params;
  int64_t numel = 0;
  for (const auto& [name, shape] : layout) {
    named.emplace_back(name, Tensor::zeros(shape).requires_grad_());
    params.push_back(named.back().second);
    numel += params.back().numel();
  }
  AdamMini mini(named, {}, {.dim = d, .n_heads = 4, .n_kv_heads = 2});
  Adam adam(params);
  for (Tensor& p : params) p.set_grad(Tensor::ones(p.shape()));
  mini.step(), adam.step();
  // v_b: V tokens + 4 query heads + 2 key heads + kv value rows + d output rows + 4d + d MLP rows + 3 norms + V.
  const int64_t blocks = V + 4 + 2 + kv + d + 4 * d + d + 3 + V;
  int64_t sum_blocks = 0;
  for (const AdamMiniBlocks& b : mini.partition()) sum_blocks += b.blocks;
  CHECK(sum_blocks == blocks);
  std::map<std::string, int64_t> bytes;
  for (const StateMemory& row : mini.state_bytes()) bytes[row.buffer] += row.bytes;
  CHECK(bytes.size() == 2);
  CHECK(bytes.at("exp_avg") == 4 * numel);
  CHECK(bytes.at("vmean") == 4 * blocks);
  CHECK(mini.state_bytes_total() == 4 * (numel + blocks));
  CHECK(adam.state_bytes_total() == 8 * numel);
  const double ratio = static_cast<double>(mini.state_bytes_total()) / static_cast<double>(adam.state_bytes_total());
  MESSAGE("Adam-mini state ", mini.state_bytes_total(), " B vs Adam ", adam.state_bytes_total(), " B for ", numel,
          " parameters in ", blocks, " blocks: ", ratio, " of Adam's, ",
          static_cast<double>(mini.state_bytes_total()) / static_cast<double>(numel), " bytes per parameter");
  CHECK(ratio < 0.52);  // 1/2 + blocks / (2 · parameters)
  // Biases keep Adam's per-element v.
  Tensor b = pattern({7}, 1).requires_grad_();
  AdamMini with_bias({{"out.bias", b}});
  b.set_grad(Tensor::ones({7}));
  with_bias.step();
  CHECK(with_bias.state(b)->buffers.at("exp_avg_sq").numel() == 7);
  CHECK(with_bias.state_bytes_total() == 2 * 7 * 4);
}

TEST_CASE("Adam-mini resumes bit for bit from a state_dict and from a checkpoint") {
  testing::check_state_dict_round_trip(
      [](const std::vector<Tensor>& params) {
        return std::make_unique<AdamMini>(golden_named(params, all_golden()),
                                          AdamMiniOptions{.learning_rate = 0.05, .weight_decay = 0.1}, kGoldenModel);
      },
      golden_shapes());
  testing::check_checkpoint_round_trip(
      [](MLP& model) { return std::make_unique<AdamMini>(model.named_parameters(), AdamMiniOptions{.learning_rate = 0.01}); });
  // A dict whose vmean has another number of blocks is refused, naming the buffer.
  Problem problem(golden_shapes());
  AdamMini opt(golden_named(problem.params, all_golden()), {}, kGoldenModel);
  problem.set_gradients();
  opt.step();
  StateDict dict = opt.state_dict();
  dict.state.at(1).buffers.at("vmean") = Tensor::zeros({4});
  check_error([&] { opt.load_state_dict(dict); }, {"AdamMini", "vmean", "[4]", "[2]"});
}

TEST_CASE("explain: one element's step, with its block's second moment") {
  Tensor p = pattern({3, 4}, 1).requires_grad_(), b = pattern({3}, 2).requires_grad_();
  AdamMini opt({{"mlp.weight", p}, {"mlp.bias", b}}, {.learning_rate = 0.1, .weight_decay = 0.0});
  opt.explain(p, 6);  // row 1
  for (int t = 1; t <= 3; ++t) {
    p.set_grad(gradient_at({3, 4}, t)), b.set_grad(gradient_at({3}, t));
    float before = p.data()[6];
    opt.step();
    const Explanation& e = opt.explanation();
    CHECK(e.step == t);
    CHECK(e.get("block") == 1.0);
    CHECK(e.get("vmean") == opt.state(p)->buffers.at("vmean").data()[1]);
    CHECK(e.get("m") == opt.state(p)->buffers.at("exp_avg").data()[6]);
    CHECK(e.get("update") == doctest::Approx(static_cast<double>(p.data()[6]) - before));
    CHECK(e.get("update") == doctest::Approx(-0.1 * e.get("scale") * e.get("m")).epsilon(1e-6));
    double bias_correction2 = 1.0 - std::pow(0.999, t);
    CHECK(e.get("denom") == doctest::Approx(std::sqrt(e.get("vmean") / bias_correction2) + 1e-8).epsilon(1e-6));
  }
  opt.explain(b, 2);
  b.set_grad(gradient_at({3}, 4)), p.set_grad(gradient_at({3, 4}, 4));
  opt.step();
  CHECK(opt.explanation().get("v") == opt.state(b)->buffers.at("exp_avg_sq").data()[2]);
}

TEST_CASE("the monitor logs and draws an Adam-mini run") {
  testing::check_monitored_run([](MLP& m) { return std::make_unique<AdamMini>(m.named_parameters(), AdamMiniOptions{.learning_rate = 0.01}); },
                               {.widths = {6, 8, 3}, .steps = 12});
}

TEST_CASE("Adam-mini trains an MLP on the UCI digits (one v per weight matrix, Adam for biases)") {
  Dataset digits = load_digits_csv(MOMENTS_DATA_DIR "/digits.csv");
  auto [train, test] = split(digits, 1400);
  Generator gen(0);
  MLP model({64, 32, 10}, gen);
  AdamMini opt(model.named_parameters(), {.learning_rate = 3e-3});
  testing::train_digits(model, opt, train);  // forward, backward, update: 50 rows a step
  NoGradGuard eval;
  double train_accuracy = accuracy(model.forward(train.inputs), train.labels);
  double test_accuracy = accuracy(model.forward(test.inputs), test.labels);
  MESSAGE("Adam-mini on the UCI digits: train ", train_accuracy, ", held out ", test_accuracy, "; state ",
          opt.state_bytes_total(), " B for ", model.parameter_count(), " parameters (Adam: ", 8 * model.parameter_count(), " B)");
  // m for all 2410; one v per weight matrix (2); v per element for the 42 biases.
  CHECK(opt.state_bytes_total() == 4 * (model.parameter_count() + 2 + 42));
  CHECK(train_accuracy >= 0.95);
  CHECK(test_accuracy >= 0.88);
}
