// cuda/adadelta.cu — Adadelta's step as a kernel: the CUDA mirror of adadelta_update in
// lib/optim/adadelta.cpp. Each thread loads four elements into registers (tensor_list.hpp), runs
// the same adadelta_update_element (lib/optim/adadelta_math.hpp) and stores them once; the
// per-step scalars arrive in AdadeltaScalars, computed once on the host.
#include "kernels.hpp"
#include "launch.hpp"
#include "tensor_list.hpp"
#include "optim/adadelta_math.hpp"

namespace moments::cuda::MOMENTS_EXECUTOR {


// b: θ, g, square_avg, acc_delta.
using AdadeltaRule = TwoStateRule<AdadeltaScalars, adadelta_update_element>;

void adadelta_update(float* theta, const float* grad, float* square_avg, float* acc_delta, int64_t n,
                     const AdadeltaScalars& s) {
  const float* b[kListBuffers] = {theta, grad, square_avg, acc_delta, nullptr};
  run_rule<AdadeltaRule>("adadelta_kernel", b, n, s);  // one launch, or a place in the step's list (tensor_list.hpp)
}

}  // namespace moments::cuda::MOMENTS_EXECUTOR
