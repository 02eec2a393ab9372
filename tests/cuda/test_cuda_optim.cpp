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
