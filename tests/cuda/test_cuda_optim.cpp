// tests/cuda/test_cuda_optim.cpp — every optimizer for 10 steps on the CPU and on
// cuda from the same start with the same gradients. The kernels run the same
// per-element math (lib/optim/*_math.hpp) and nvcc is told not to fuse
// multiply-adds (-fmad=false), so SGD, Adam/AdamW and the family (Adagrad, RMSprop,
// Adadelta, Adamax, NAdam, RAdam) agree bit for bit, on the emulator and on a GPU. Adafactor's kernels mirror the CPU's reference loops (v1);
// its sums (RMS(X), RMS(U)) add in another order, and the CPU's default v2 loops
// round differently again (float lanes, 1/√V̂ as a product): within 1e-5 relative
// of v2, within 1e-6 of v1 (reference_loops).
//   meson test -C build --suite cuda
#include <chrono>
#include <functional>

#include "cuda_testing.hpp"
#include "optim/adam_math.hpp"
#include "optim/lamb_math.hpp"
#include "optim/sgd_math.hpp"

using namespace moments;
using testing::check_close;
using testing::pattern;

namespace {

using MakeOptimizer = std::function<std::unique_ptr<Optimizer>(const std::vector<Tensor>&)>;

// Runs `steps` steps on a copy of `start` living on `device`, with gradient
// pattern(shape, step) at step `step`; returns the parameter and state on the host.
struct Run {
  std::vector<float> param;
  std::map<std::string, std::vector<float>> state;
};
Run run(const MakeOptimizer& make, const Tensor& start, Device device, int steps) {
  Tensor p = start.to(device).clone().requires_grad_();
  std::unique_ptr<Optimizer> optimizer = make({p});
  for (int step = 1; step <= steps; ++step) {
    p.set_grad(pattern(p.shape(), step, 0.05f * static_cast<float>(step)).to(device));
    optimizer->step();
  }
  Run out{p.to_vector(), {}};
  for (const auto& [name, tensor] : optimizer->state(p)->buffers) {
    CHECK(tensor.device() == (name == "mu_product" ? Device::cpu : device));  // NAdam's Π_t is a host scalar
    out.state[name] = tensor.to_vector();
  }
  return out;
}

void compare(const std::string& what, const MakeOptimizer& make, const Shape& shape, float rtol, float atol = 0.0f) {
  Tensor start = pattern(shape, 1, 0.1f);
  Run cpu = run(make, start, Device::cpu, 10);
  Run cuda = run(make, start, Device::cuda, 10);
  std::string where = what + " on shape " + shape_str(shape);
  if (rtol == 0.0f) {
    CHECK_MESSAGE(cuda.param == cpu.param, where, ": parameters differ");
  }
  check_close(cuda.param, cpu.param, atol, rtol, where + ", parameters");
  REQUIRE(cuda.state.size() == cpu.state.size());
  for (const auto& [name, values] : cpu.state) check_close(cuda.state.at(name), values, atol, rtol, where + ", " + name);
}

template <class O, class Options>
MakeOptimizer make(Options options) {
  return [options](const std::vector<Tensor>& params) { return std::make_unique<O>(params, options); };
}

}  // namespace

TEST_CASE("SGD for 10 steps: cpu and cuda agree bit for bit") {
  for (int64_t n : {1, 31, 1000003}) {
    compare("SGD", make<SGD>(SgdOptions{.learning_rate = 0.1}), {n}, 0.0f);
    compare("SGD momentum, dampening, weight decay",
            make<SGD>(SgdOptions{.learning_rate = 0.05, .momentum = 0.9, .dampening = 0.1, .weight_decay = 0.01}), {n},
            0.0f);
  }
  compare("SGD nesterov, maximize",
          make<SGD>(SgdOptions{.learning_rate = 0.05, .momentum = 0.8, .weight_decay = 0.1, .nesterov = true,
                               .maximize = true}),
          {7, 9}, 0.0f);
}

TEST_CASE("the family of Adam for 10 steps: cpu and cuda agree bit for bit") {
  for (int64_t n : {1, 31, 1000003}) {
    compare("Adagrad", make<Adagrad>(AdagradOptions{.learning_rate = 0.1, .lr_decay = 0.01}), {n}, 0.0f);
    compare("RMSprop centered, momentum",
            make<RMSprop>(RmspropOptions{.learning_rate = 0.01, .momentum = 0.9, .centered = true}), {n}, 0.0f);
    compare("Adadelta", make<Adadelta>(AdadeltaOptions{}), {n}, 0.0f);
    compare("Adamax", make<Adamax>(AdamaxOptions{.learning_rate = 0.01}), {n}, 0.0f);
    compare("NAdam", make<NAdam>(NadamOptions{.learning_rate = 0.01}), {n}, 0.0f);
    compare("RAdam", make<RAdam>(RadamOptions{.learning_rate = 0.01}), {n}, 0.0f);
  }
  compare("Adagrad L2, maximize, initial sum",
          make<Adagrad>(AdagradOptions{.weight_decay = 0.1, .initial_accumulator_value = 0.5, .maximize = true}),
          {7, 9}, 0.0f);
  compare("RMSprop plain, L2", make<RMSprop>(RmspropOptions{.weight_decay = 0.1}), {7, 9}, 0.0f);
  compare("RMSprop momentum only", make<RMSprop>(RmspropOptions{.momentum = 0.5, .maximize = true}), {7, 9}, 0.0f);
  compare("RMSprop centered only", make<RMSprop>(RmspropOptions{.centered = true}), {7, 9}, 0.0f);
  compare("Adadelta L2, maximize", make<Adadelta>(AdadeltaOptions{.weight_decay = 0.1, .maximize = true}), {7, 9},
          0.0f);
  compare("Adamax L2, maximize", make<Adamax>(AdamaxOptions{.weight_decay = 0.1, .maximize = true}), {7, 9}, 0.0f);
  compare("NAdam L2", make<NAdam>(NadamOptions{.weight_decay = 0.1, .momentum_decay = 0.05}), {7, 9}, 0.0f);
  compare("RAdam L2, β2 = 0.9", make<RAdam>(RadamOptions{.beta2 = 0.9, .weight_decay = 0.1}), {7, 9}, 0.0f);
}

TEST_CASE("Adam and AdamW for 10 steps: cpu and cuda agree bit for bit") {
  for (int64_t n : {1, 31, 1000003}) {
    compare("Adam", make<Adam>(AdamOptions{.learning_rate = 0.01}), {n}, 0.0f);
    compare("AdamW", make<AdamW>(AdamWOptions{.learning_rate = 0.01, .weight_decay = 0.1}), {n}, 0.0f);
  }
  compare("Adam, L2 weight decay, amsgrad",
          make<Adam>(AdamOptions{.learning_rate = 0.1, .weight_decay = 0.05, .amsgrad = true}), {5, 31}, 0.0f);
  compare("AdamW amsgrad maximize",
          make<AdamW>(AdamWOptions{.learning_rate = 0.1, .beta1 = 0.8, .beta2 = 0.99, .eps = 1e-6,
                                   .weight_decay = 0.2, .amsgrad = true, .maximize = true}),
          {31}, 0.0f);
}

TEST_CASE("Adafactor for 10 steps: cpu and cuda agree to 1e-5") {
  const float rtol = 1e-5f, atol = 1e-9f;
  for (Shape shape : {Shape{37, 53}, Shape{3, 7, 11}, Shape{31}, Shape{1}, Shape{1, 1}}) {
    compare("Adafactor", make<Adafactor>(AdafactorOptions{}), shape, rtol, atol);
    compare("Adafactor beta1, weight decay, fixed lr",
            make<Adafactor>(AdafactorOptions{.learning_rate = 0.05, .weight_decay = 0.1, .beta1 = 0.9,
                                             .relative_step = false}),
            shape, rtol, atol);
  }
  compare("Adafactor, paper's eps1, no parameter scaling, maximize, tight clipping",
          make<Adafactor>(AdafactorOptions{.eps1 = 1e-30, .clip_threshold = 1.0, .eps1_in_square = true,
                                           .scale_parameter = false, .maximize = true}),
          {64, 300}, rtol, atol);
}

TEST_CASE("Adafactor's kernels mirror the CPU's reference loops (v1): within 1e-6") {
  // The cpu side runs with reference_loops, the loops the kernels copy; only the order
  // of the two RMS sums differs.
  const float rtol = 1e-6f, atol = 1e-10f;
  for (Shape shape : {Shape{37, 53}, Shape{3, 7, 11}, Shape{31}}) {
    compare("Adafactor v1", make<Adafactor>(AdafactorOptions{.reference_loops = true}), shape, rtol, atol);
    compare("Adafactor v1 beta1, weight decay",
            make<Adafactor>(AdafactorOptions{.weight_decay = 0.1, .beta1 = 0.9, .reference_loops = true}), shape, rtol,
            atol);
  }
}

TEST_CASE("Adam's kernel on a 1,000,003-element tensor is quick on either executor") {
  Tensor p = Tensor::zeros({1000003}, Device::cuda).requires_grad_();
  p.set_grad(Tensor::ones({1000003}, Device::cuda));
  Adam adam({p});
  adam.step();  // state allocation happens here
  auto start = std::chrono::steady_clock::now();
  adam.step();
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  MESSAGE("one Adam step on 1,000,003 elements, ", std::string(cuda::active_backend().name()), ": ", seconds * 1e3, " ms");
  CHECK(seconds < 1.0);
}

TEST_CASE("the optimizer kernels: four floats at a time where aligned, float by float where not, the CPU's bits") {
  // Called on the backend directly, outside a step (the per-tensor kernel) and inside a launch batch
  // (the list kernel), on buffers that start at a tensor's first float (16-byte aligned: float4 loads
  // and stores) and one float in (not aligned: float by float); n = 1003 leaves a tail of 3. Adam with
  // AMSGrad uses all five buffers, SGD with momentum three, and LAMB's stage 1 reads θ and only writes u.
  cuda::Backend& backend = cuda::active_backend();
  const int64_t n = 1003;
  using Buffers = std::vector<float*>;
  struct Case {
    std::string name;
    int buffers;
    std::function<void(const Buffers&)> cpu, cuda;
  };
  const AdamScalars adam = adam_scalars(1e-2, 0.9, 0.999, 1e-8, 0.1, true, true, false, 3);
  const SgdScalars sgd{0.1f, 0.9f, 1.0f, 0.01f, true, false, false};
  LambScalars lamb{};
  lamb.beta1 = 0.9f, lamb.beta2 = 0.999f, lamb.beta3 = 0.1f, lamb.one_minus_beta2 = 0.001f;
  lamb.bias_correction1 = 0.271f, lamb.bias_correction2 = 0.002997f, lamb.eps = 1e-6f, lamb.decay = 0.01f;
  lamb.clip = 1.5f, lamb.adam_w_mode = true;
  const Tensor grad_sq = Tensor::full({}, 2.25f * 4.0f, Device::cuda);  // G = 3 over max_grad_norm 2: c = 1.5 there too
  LambDeviceNorms norms;
  norms.grad_sq = grad_sq.data(), norms.max_grad_norm = 2.0f;
  const std::vector<Case> cases = {
      {"Adam (AMSGrad)", 5, [&](const Buffers& b) { adam_update(b[0], b[1], b[2], b[3], b[4], n, adam); },
       [&](const Buffers& b) { backend.adam_update(b[0], b[1], b[2], b[3], b[4], n, adam); }},
      {"SGD (momentum)", 3, [&](const Buffers& b) { sgd_update(b[0], b[1], b[2], n, sgd); },
       [&](const Buffers& b) { backend.sgd_update(b[0], b[1], b[2], n, sgd); }},
      {"LAMB stage 1", 5, [&](const Buffers& b) { lamb_stage1(b[0], b[1], b[2], b[3], b[4], n, lamb); },
       [&](const Buffers& b) { backend.lamb_stage1(b[0], b[1], b[2], b[3], b[4], n, lamb, norms); }},
  };
  for (const Case& c : cases) {
    for (bool batched : {false, true}) {
      for (int64_t shift : {0, 1}) {
        CAPTURE(c.name);
        CAPTURE(batched);
        CAPTURE(shift);
        std::vector<Tensor> cpu, device;
        Buffers on_cpu, on_device;
        for (int k = 0; k < c.buffers; ++k) {
          Tensor t = pattern({n + 1}, 11 + k, 0.1f);
          if (k >= 3) t = t * t;  // v and v_max ≥ 0
          cpu.push_back(t.clone());
          device.push_back(t.to(Device::cuda));
          on_cpu.push_back(cpu.back().data() + shift);
          on_device.push_back(device.back().data() + shift);
        }
        c.cpu(on_cpu);
        if (batched) backend.begin_launch_batch();
        c.cuda(on_device);
        if (batched) backend.end_launch_batch();
        for (int k = 0; k < c.buffers; ++k) {
          CAPTURE(k);
          CHECK(device[static_cast<size_t>(k)].to_vector() == cpu[static_cast<size_t>(k)].to_vector());
        }
      }
    }
  }
}

TEST_CASE("Lion for 10 steps: cpu and cuda agree bit for bit") {
  // The same lion_update_element on both sides; its one fused multiply-add (m's update) is an explicit fmaf.
  for (int64_t n : {1, 31, 1000003}) compare("Lion", make<Lion>(LionOptions{.learning_rate = 0.01}), {n}, 0.0f);
  compare("Lion betas, decay, maximize",
          make<Lion>(LionOptions{.learning_rate = 0.05, .beta1 = 0.5, .beta2 = 0.8, .weight_decay = 0.3, .maximize = true}),
          {7, 9}, 0.0f);
}

TEST_CASE("LAMB for 10 steps: the element-wise stages agree bit for bit, the norms to rounding") {
  // With clipping off (c = 1) and the trust ratio skipped (λ = 0, no nvlamb) no norm reaches the numbers:
  // the two kernels run lamb_math.hpp as the CPU loops do, so every bit agrees.
  for (int64_t n : {1, 31, 1000003})
    compare("LAMB, no clipping, no ratio",
            make<Lamb>(LambOptions{.learning_rate = 0.01, .weight_decay = 0.0, .max_grad_norm = INFINITY}), {n}, 0.0f);
  // Otherwise the norms differ in their last bits (cuda: float sums in the reduce kernel's order; cpu:
  // double sums rounded to float), and so c and ‖θ‖/‖u‖: within 1e-5 relative after 10 steps.
  const float rtol = 1e-5f, atol = 1e-7f;
  for (Shape shape : {Shape{37, 53}, Shape{1000003}, Shape{5}}) {
    compare("LAMB", make<Lamb>(LambOptions{.learning_rate = 0.01}), shape, rtol, atol);
    compare("LAMB L2, nvlamb, no bias correction",
            make<Lamb>(LambOptions{.learning_rate = 0.01, .weight_decay = 0.1, .bias_correction = false,
                                   .adam_w_mode = false, .grad_averaging = false, .use_nvlamb = true}),
            shape, rtol, atol);
  }
}

TEST_CASE("Muon for 10 steps: cpu and cuda agree to float rounding (Newton–Schulz runs through matmul)") {
  // The element-wise halves run the same muon_math.hpp functions (the momentum buffers agree bit for bit); the
  // matrix products and ‖X‖_F sum in the cuda kernels' order, not Eigen's, so the parameters differ in the last
  // bits: measured at most 1.8e-7 on |θ| <= 0.8 (3 ulps) after 10 steps on the emulator.
  for (const Shape& shape : std::vector<Shape>{{6, 10}, {40, 12}, {64, 64}}) {
    compare("Muon", make<Muon>(MuonOptions{.learning_rate = 0.02}), shape, 1e-6f, 2.5e-7f);
    compare("Muon keller_jordan", make<Muon>(MuonOptions::keller_jordan_defaults()), shape, 1e-6f, 2.5e-7f);
  }
}

TEST_CASE("schedule-free AdamW for 10 steps, then eval() and train(): cpu and cuda agree bit for bit") {
  // The step and train()'s y ← β1 x + (1 − β1) z run the same schedule_free_math.hpp functions on both.
  for (int64_t n : {1, 31, 1000003})
    compare("AdamWScheduleFree", make<AdamWScheduleFree>(ScheduleFreeOptions{.learning_rate = 0.01, .warmup_steps = 3}),
            {n}, 0.0f);
  compare("AdamWScheduleFree decay, r, power",
          make<AdamWScheduleFree>(ScheduleFreeOptions{.learning_rate = 0.05, .weight_decay = 0.1, .r = 1.0,
                                                      .weight_lr_power = 1.0}),
          {7, 9}, 0.0f);
  compare("AdamWScheduleFree decay at z",
          make<AdamWScheduleFree>(ScheduleFreeOptions{.weight_decay = 0.5, .decay_at_z = true}), {33}, 0.0f);
  // The swap on the device: eval() puts x in the parameter, train() gives y back bit for bit.
  Tensor start = pattern({1000}, 1, 0.1f);
  std::vector<std::vector<float>> y, x;
  for (Device device : {Device::cpu, Device::cuda}) {
    Tensor p = start.to(device).clone().requires_grad_();
    AdamWScheduleFree sf({p}, {.learning_rate = 0.05});
    for (int step = 1; step <= 5; ++step) {
      p.set_grad(pattern(p.shape(), step, 0.05f).to(device));
      sf.step();
    }
    y.push_back(p.to_vector());
    sf.eval();
    x.push_back(p.to_vector());
    CHECK(x.back() == sf.state(p)->buffers.at("x").to_vector());
    sf.train();
    CHECK(p.to_vector() == y.back());
  }
  CHECK(y[1] == y[0]);
  CHECK(x[1] == x[0]);
}

TEST_CASE("Adam-mini for 10 steps: cpu and cuda agree bit for bit on every rule") {
  // The kernels run adam_mini_math.hpp's functions, Σ g² per block in the same 8 double lanes as the CPU.
  auto make_mini = [](std::string name, AdamMiniOptions options, AdamMiniModel model = {}) -> MakeOptimizer {
    return [=](const std::vector<Tensor>& params) {
      return std::make_unique<AdamMini>(NamedTensors{{name, params.at(0)}}, options, model);
    };
  };
  const AdamMiniOptions decay{.learning_rate = 0.01, .weight_decay = 0.1};
  compare("Adam-mini per row (mlp)", make_mini("layers.0.mlp.weight", decay), {37, 53}, 0.0f);
  compare("Adam-mini per row, rows of one element", make_mini("embed.weight", {.learning_rate = 0.01}), {31, 1}, 0.0f);
  compare("Adam-mini per head (4 heads)", make_mini("attn.wq.weight", decay, {.dim = 16, .n_heads = 4}), {16, 16}, 0.0f);
  compare("Adam-mini per head, a GQA key", make_mini("attn.wk.weight", {.beta1 = 0.3}, {.dim = 16, .n_heads = 4, .n_kv_heads = 2}),
          {8, 16}, 0.0f);
  compare("Adam-mini one per tensor", make_mini("norm.weight", {.learning_rate = 0.01}), {1000003}, 0.0f);
  compare("Adam-mini one per tensor, decayed", make_mini("gate.weight", decay), {7, 9}, 0.0f);
  compare("Adam-mini Adam rule (bias)", make_mini("mlp.bias", decay), {1000003}, 0.0f);
}

TEST_CASE("Shampoo for 10 steps: cpu and cuda agree (eigendecompositions on the host, the rest on the device)") {
  // Never preconditioned, the step is Adam's own kernel on either device: the parameters agree bit for bit, while the
  // statistics L, R (accumulated by each device's matmul, whose sums run in another order, with cancellation between
  // steps' terms) agree within 1e-5.
  auto never = make<Shampoo>(ShampooOptions{.max_preconditioner_dim = 8, .start_preconditioning_step = 1e9,
                                            .grafting = ShampooGrafting::adam});
  Tensor start = pattern({13, 9}, 1, 0.1f);
  CHECK(run(never, start, Device::cuda, 10).param == run(never, start, Device::cpu, 10).param);
  compare("Shampoo never preconditioned", never, {13, 9}, 1e-5f, 1e-5f);
  // Preconditioned: roots every 3 steps from float64 eigendecompositions of each device's statistics; the matmuls'
  // and norms' rounding differs between the devices and the roots amplify it by cond(L)^{1/4}: within 1e-4.
  for (Shape shape : {Shape{13, 9}, Shape{37}}) {
    compare("Shampoo, Adam grafting, blocks of 8, momentum",
            make<Shampoo>(ShampooOptions{.epsilon = 1e-3, .max_preconditioner_dim = 8, .precondition_frequency = 3,
                                         .grafting = ShampooGrafting::adam, .momentum = 0.5}),
            shape, 1e-4f, 1e-5f);
    compare("Shampoo, sums, no grafting, decoupled decay",
            make<Shampoo>(ShampooOptions{.learning_rate = 1e-3, .epsilon = 1e-3, .weight_decay = 0.1}), shape, 1e-4f, 1e-5f);
  }
}

TEST_CASE("8-bit Adam and AdamW for 10 steps and block-wise quantization: cpu and cuda agree bit for bit") {
  // The kernels (cuda/adam8bit.cu, cuda/quantization.cu) run lib/optim/adam8bit_math.hpp and
  // quantization_math.hpp; a block's absmax is a max, which no order of reduction changes. The codes are
  // compared as bytes (as floats, four codes can read as a NaN).
  auto same_bytes = [](const std::vector<float>& a, const std::vector<float>& b) {
    if (a.size() != b.size()) return false;
    const unsigned char* x = reinterpret_cast<const unsigned char*>(a.data());
    const unsigned char* y = reinterpret_cast<const unsigned char*>(b.data());
    for (size_t i = 0; i < a.size() * sizeof(float); ++i)
      if (x[i] != y[i]) return false;
    return true;
  };
  for (int64_t n : {1, 300, 4096, 100003}) {
    CAPTURE(n);
    for (const auto& [what, make] : std::vector<std::pair<std::string, MakeOptimizer>>{
             {"Adam8bit", [](const std::vector<Tensor>& p) { return std::make_unique<Adam8bit>(p, Adam8bitOptions{.learning_rate = 0.01, .min_8bit_size = 256}); }},
             {"Adam8bit L2", [](const std::vector<Tensor>& p) { return std::make_unique<Adam8bit>(p, Adam8bitOptions{.learning_rate = 0.01, .weight_decay = 0.1}); }},
             {"AdamW8bit", [](const std::vector<Tensor>& p) { return std::make_unique<AdamW8bit>(p, AdamW8bitOptions{.learning_rate = 0.01, .beta1 = 0.8, .weight_decay = 0.1}); }}}) {
      CAPTURE(what);
      Tensor start = pattern({n}, 1, 0.1f);
      Run cpu = run(make, start, Device::cpu, 10);
      Run cuda = run(make, start, Device::cuda, 10);
      CHECK(same_bytes(cuda.param, cpu.param));
      REQUIRE(cuda.state.size() == cpu.state.size());
      for (const auto& [name, values] : cpu.state) {
        CAPTURE(name);
        CHECK(same_bytes(cuda.state.at(name), values));
      }
    }
    Tensor x = pattern({n}, 3, 0.37f);
    for (bool is_signed : {true, false}) {
      Tensor input = is_signed ? x : x * x;
      QuantizedTensor on_cpu = quantize_blockwise(input, dynamic_map(is_signed), 100);
      QuantizedTensor on_cuda = quantize_blockwise(input.to(Device::cuda), dynamic_map(is_signed), 100);
      CHECK(same_bytes(on_cuda.codes.to_vector(), on_cpu.codes.to_vector()));
      CHECK(same_bytes(on_cuda.absmax.to_vector(), on_cpu.absmax.to_vector()));
      CHECK(same_bytes(dequantize_blockwise(on_cuda).to_vector(), dequantize_blockwise(on_cpu).to_vector()));
    }
  }
}

TEST_CASE("SOAP for 10 steps: cpu and cuda agree within 3e-6 + 1e-5 relative (matmuls summed in another order)") {
  // On cuda the rotations, statistics and power iterations are the device's matmuls and Adam's step is Adam's
  // kernel; the eigendecomposition and the QR run on the host. The matmuls add in another order than Eigen's,
  // so the bits differ, and Adam's division passes on the relative error of each rotated element. Random
  // gradients and shapes whose first statistics have no repeated eigenvalue (|m − n| <= 1: a null space of
  // dimension 2 would leave its basis to the rounding, on either side); a refresh (QR) has fixed the signs.
  auto run_soap = [](const SoapOptions& o, const Shape& shape, Device device) {
    Tensor p = pattern(shape, 1, 0.1f).to(device).clone().requires_grad_();
    SOAP soap({p}, o);
    Generator gen(3);
    for (int step = 1; step <= 10; ++step) {
      p.set_grad(randn(shape, gen).to(device));
      soap.step();
    }
    std::map<std::string, std::vector<float>> out = {{"param", p.to_vector()}};
    for (const auto& [name, tensor] : soap.state(p)->buffers) {
      CHECK(tensor.device() == device);
      out[name] = tensor.to_vector();
    }
    return out;
  };
  auto compare_soap = [&](const std::string& what, const SoapOptions& o, const Shape& shape, float rtol, float atol) {
    auto cpu = run_soap(o, shape, Device::cpu), cuda = run_soap(o, shape, Device::cuda);
    REQUIRE(cpu.size() == cuda.size());
    for (const auto& [name, values] : cpu) {
      if (rtol == 0.0f) CHECK_MESSAGE(cuda.at(name) == values, what, ": ", name, " differs");
      check_close(cuda.at(name), values, atol, rtol, what + " on shape " + shape_str(shape) + ", " + name);
    }
  };
  const float rtol = 1e-5f, atol = 3e-6f;  // measured: at most 1.3e-6 apart (v, Q), parameters 3e-7
  compare_soap("SOAP", {.learning_rate = 0.01, .precondition_frequency = 3}, {8, 9}, rtol, atol);
  compare_soap("SOAP 3-D", {.precondition_frequency = 2}, {3, 4, 5}, rtol, atol);
  compare_soap("SOAP merged", {.precondition_frequency = 2, .max_precond_dim = 4, .merge_dims = true}, {2, 2, 3}, rtol,
               atol);
  compare_soap("SOAP vector, normalize_grads",
               {.precondition_frequency = 2, .precondition_1d = true, .normalize_grads = true}, {2}, rtol, atol);
  compare_soap("SOAP no basis", {.max_precond_dim = 0}, {5, 4}, 0.0f, 0.0f);  // Adam's kernel: the same bits
}

namespace {
// SophiaG whose Hessian EMA takes each step's own gradient just before the step (a stand-in for the GNB
// estimator's), so that both kernels run: the EMA and the step dividing by it.
class SophiaHessianEveryStep : public SophiaG {
 public:
  using SophiaG::SophiaG;

 protected:
  void begin_step() override { update_hessian(); }
};
}  // namespace

TEST_CASE("SophiaG for 10 steps, the Hessian every step: cpu and cuda agree bit for bit") {
  // The same sophia_update_element and sophia_hessian_element on both sides; the fused multiply-add of m's
  // update is an explicit fmaf, the rest is not fused (-fmad=false).
  for (int64_t n : {1, 31, 1000003})
    compare("SophiaG", make<SophiaHessianEveryStep>(SophiaGOptions{.learning_rate = 0.01, .batch_size = 4}), {n}, 0.0f);
  compare("SophiaG clipped (h = 0), decay, maximize",
          make<SophiaG>(SophiaGOptions{.learning_rate = 0.05, .beta1 = 0.5, .weight_decay = 0.3, .maximize = true}), {7, 9},
          0.0f);
}
