// cuda/sgd.cu — SGD's step as a kernel: the CUDA mirror of sgd_update in
// lib/optim/sgd.cpp, each thread running the same sgd_update_element (lib/optim/sgd_math.hpp)
// on four elements in registers (tensor_list.hpp). Scalars are computed once per step on the host.
#include "kernels.hpp"
#include "launch.hpp"
#include "tensor_list.hpp"
#include "optim/sgd_math.hpp"

namespace moments::cuda::MOMENTS_EXECUTOR {


// b: θ, g, the momentum buffer (null without momentum); element i, loaded once into registers, stored once.
struct SgdRule {
  using Scalars = SgdScalars;
  static constexpr unsigned kReads = 0b00111, kWrites = 0b00101;  // bit k: buffer k (tensor_list.hpp)
  __device__ static void apply(float* const* b, int64_t i, const SgdScalars& s) {
    const bool momentum = s.momentum != 0.0f;  // the buffer exists (sgd.cpp makes it when μ ≠ 0)
    float x = b[0][i], buffer = momentum ? b[2][i] : 0.0f;  // loads, once each
    sgd_update_element(x, b[1][i], buffer, s);
    b[0][i] = x;  // stores, once each
    if (momentum) b[2][i] = buffer;
  }
};

void sgd_update(float* theta, const float* grad, float* buffer, int64_t n, const SgdScalars& s) {
  const float* b[kListBuffers] = {theta, grad, buffer, nullptr, nullptr};
  run_rule<SgdRule>("sgd_kernel", b, n, s);  // one launch, or a place in the step's list (tensor_list.hpp)
}

}  // namespace moments::cuda::MOMENTS_EXECUTOR
