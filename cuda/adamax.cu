// cuda/adamax.cu — Adamax's step as a kernel: the CUDA mirror of adamax_update in
// lib/optim/adamax.cpp. Each thread loads four elements into registers (tensor_list.hpp), runs
// the same adamax_update_element (lib/optim/adamax_math.hpp) and stores them once; the
// per-step scalars arrive in AdamaxScalars, computed once on the host.
#include "kernels.hpp"
#include "launch.hpp"
#include "tensor_list.hpp"
#include "optim/adamax_math.hpp"

namespace moments::cuda::MOMENTS_EXECUTOR {


// b: θ, g, m, u.
using AdamaxRule = TwoStateRule<AdamaxScalars, adamax_update_element>;

void adamax_update(float* theta, const float* grad, float* m, float* u, int64_t n, const AdamaxScalars& s) {
  const float* b[kListBuffers] = {theta, grad, m, u, nullptr};
  run_rule<AdamaxRule>("adamax_kernel", b, n, s);  // one launch, or a place in the step's list (tensor_list.hpp)
}

}  // namespace moments::cuda::MOMENTS_EXECUTOR
