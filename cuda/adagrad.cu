// cuda/adagrad.cu — Adagrad's step as a kernel: the CUDA mirror of adagrad_update in
// lib/optim/adagrad.cpp. Each thread loads four elements into registers (tensor_list.hpp), runs
// the same adagrad_update_element (lib/optim/adagrad_math.hpp) and stores them once; the
// per-step scalars arrive in AdagradScalars, computed once on the host.
#include "kernels.hpp"
#include "launch.hpp"
#include "tensor_list.hpp"
#include "optim/adagrad_math.hpp"

namespace moments::cuda::MOMENTS_EXECUTOR {


// b: θ, g, the sum of squares; element i, loaded once into registers, stored once.
struct AdagradRule {
  using Scalars = AdagradScalars;
  static constexpr unsigned kReads = 0b00111, kWrites = 0b00101;  // bit k: buffer k (tensor_list.hpp)
  __device__ static void apply(float* const* b, int64_t i, const AdagradScalars& s) {
    float x = b[0][i], sum = b[2][i];
    adagrad_update_element(x, b[1][i], sum, s);
    b[0][i] = x;
    b[2][i] = sum;
  }
};

void adagrad_update(float* theta, const float* grad, float* sum, int64_t n, const AdagradScalars& s) {
  const float* b[kListBuffers] = {theta, grad, sum, nullptr, nullptr};
  run_rule<AdagradRule>("adagrad_kernel", b, n, s);  // one launch, or a place in the step's list (tensor_list.hpp)
}

}  // namespace moments::cuda::MOMENTS_EXECUTOR
