// cuda/nadam.cu — NAdam's step as a kernel: the CUDA mirror of nadam_update in
// lib/optim/nadam.cpp. One thread per element loads its values into registers, runs
// the same nadam_update_element (lib/optim/nadam_math.hpp) and stores them once; the
// per-step scalars arrive in NadamScalars, computed once on the host.
#include "kernels.hpp"
#include "launch.hpp"
#include "tensor_list.hpp"
#include "optim/nadam_math.hpp"

namespace moments::cuda::MOMENTS_EXECUTOR {


// b: θ, g, m, v; element i, loaded once into registers, stored once.
struct NadamRule {
  using Scalars = NadamScalars;
  __device__ static void apply(float* const* b, int64_t i, const NadamScalars& s) {
    float x = b[0][i], m = b[2][i], v = b[3][i];
    nadam_update_element(x, b[1][i], m, v, s);
    b[0][i] = x;
    b[2][i] = m;
    b[3][i] = v;
  }
};

void nadam_update(float* theta, const float* grad, float* m, float* v, int64_t n, const NadamScalars& s) {
  const float* b[kListBuffers] = {theta, grad, m, v, nullptr};
  run_rule<NadamRule>("nadam_kernel", b, n, s);  // one launch, or a place in the step's list (tensor_list.hpp)
}

}  // namespace moments::cuda::MOMENTS_EXECUTOR
