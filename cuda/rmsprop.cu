// cuda/rmsprop.cu — RMSprop's step as a kernel: the CUDA mirror of rmsprop_update in
// lib/optim/rmsprop.cpp. Each thread loads four elements into registers (tensor_list.hpp), runs
// the same rmsprop_update_element (lib/optim/rmsprop_math.hpp) and stores them once; the
// per-step scalars arrive in RmspropScalars, computed once on the host.
#include "kernels.hpp"
#include "launch.hpp"
#include "tensor_list.hpp"
#include "optim/rmsprop_math.hpp"

namespace moments::cuda::MOMENTS_EXECUTOR {


// b: θ, g, square_avg, grad_avg (null unless centered), buf (null without momentum); element i, loaded once into registers, stored once.
struct RmspropRule {
  using Scalars = RmspropScalars;
  static constexpr unsigned kReads = 0b11111, kWrites = 0b11101;  // bit k: buffer k (tensor_list.hpp)
  __device__ static void apply(float* const* b, int64_t i, const RmspropScalars& s) {
    const bool momentum = s.momentum > 0.0f;  // which buffers exist, as rmsprop.cpp decides
    float x = b[0][i], square_avg = b[2][i], grad_avg = s.centered ? b[3][i] : 0.0f, buf = momentum ? b[4][i] : 0.0f;
    rmsprop_update_element(x, b[1][i], square_avg, grad_avg, buf, s);
    b[0][i] = x;
    b[2][i] = square_avg;
    if (s.centered) b[3][i] = grad_avg;
    if (momentum) b[4][i] = buf;
  }
};

void rmsprop_update(float* theta, const float* grad, float* square_avg, float* grad_avg, float* buf, int64_t n,
                    const RmspropScalars& s) {
  const float* b[kListBuffers] = {theta, grad, square_avg, grad_avg, buf};
  run_rule<RmspropRule>("rmsprop_kernel", b, n, s);  // one launch, or a place in the step's list (tensor_list.hpp)
}

}  // namespace moments::cuda::MOMENTS_EXECUTOR
