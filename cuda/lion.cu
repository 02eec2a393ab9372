// cuda/lion.cu — Lion's step as a kernel: the CUDA mirror of lion_update in lib/optim/lion.cpp.
// Each thread loads four elements of θ and m into registers (tensor_list.hpp), runs the same lion_update_element
// (lib/optim/lion_math.hpp) and stores them once; the per-step scalars arrive in LionScalars,
// computed once on the host.
#include "kernels.hpp"
#include "launch.hpp"
#include "tensor_list.hpp"
#include "optim/lion_math.hpp"

namespace moments::cuda::MOMENTS_EXECUTOR {


// b: θ, g, m; element i, loaded once into registers, stored once.
struct LionRule {
  using Scalars = LionScalars;
  static constexpr unsigned kReads = 0b00111, kWrites = 0b00101;  // bit k: buffer k (tensor_list.hpp)
  __device__ static void apply(float* const* b, int64_t i, const LionScalars& s) {
    float x = b[0][i], m = b[2][i];
    lion_update_element(x, b[1][i], m, s);
    b[0][i] = x;
    b[2][i] = m;
  }
};

void lion_update(float* theta, const float* grad, float* m, int64_t n, const LionScalars& s) {
  const float* b[kListBuffers] = {theta, grad, m, nullptr, nullptr};
  run_rule<LionRule>("lion_kernel", b, n, s);  // one launch, or a place in the step's list (tensor_list.hpp)
}

}  // namespace moments::cuda::MOMENTS_EXECUTOR
