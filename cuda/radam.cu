// cuda/radam.cu — RAdam's step as a kernel: the CUDA mirror of radam_update in
// lib/optim/radam.cpp. Each thread loads four elements into registers (tensor_list.hpp), runs
// the same radam_update_element (lib/optim/radam_math.hpp) and stores them once; the
// per-step scalars arrive in RadamScalars, computed once on the host.
#include "kernels.hpp"
#include "launch.hpp"
#include "tensor_list.hpp"
#include "optim/radam_math.hpp"

namespace moments::cuda::MOMENTS_EXECUTOR {


// b: θ, g, m, v.
using RadamRule = TwoStateRule<RadamScalars, radam_update_element>;

void radam_update(float* theta, const float* grad, float* m, float* v, int64_t n, const RadamScalars& s) {
  const float* b[kListBuffers] = {theta, grad, m, v, nullptr};
  run_rule<RadamRule>("radam_kernel", b, n, s);  // one launch, or a place in the step's list (tensor_list.hpp)
}

}  // namespace moments::cuda::MOMENTS_EXECUTOR
