// cuda/nadam.cu — NAdam's step as a kernel: the CUDA mirror of nadam_update in
// lib/optim/nadam.cpp. Each thread loads four elements into registers (tensor_list.hpp), runs
// the same nadam_update_element (lib/optim/nadam_math.hpp) and stores them once; the
// per-step scalars arrive in NadamScalars, computed once on the host.
#include "kernels.hpp"
#include "launch.hpp"
#include "tensor_list.hpp"
#include "optim/nadam_math.hpp"

namespace moments::cuda::MOMENTS_EXECUTOR {


// b: θ, g, m, v.
using NadamRule = TwoStateRule<NadamScalars, nadam_update_element>;

void nadam_update(float* theta, const float* grad, float* m, float* v, int64_t n, const NadamScalars& s) {
  const float* b[kListBuffers] = {theta, grad, m, v, nullptr};
  run_rule<NadamRule>("nadam_kernel", b, n, s);  // one launch, or a place in the step's list (tensor_list.hpp)
}

}  // namespace moments::cuda::MOMENTS_EXECUTOR
