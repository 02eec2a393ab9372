// cuda/sophia.cu — Sophia-G's step and Hessian update as kernels: the CUDA mirrors of sophia_update and
// sophia_update_hessian in lib/optim/sophia.cpp, as Rules of tensor_list.hpp: each element's values are loaded into registers,
// runs the same sophia_update_element / sophia_hessian_element (lib/optim/sophia_math.hpp) and stores them
// once; the per-step scalars arrive in SophiaScalars / SophiaHessianScalars, computed once on the host.
#include "kernels.hpp"
#include "launch.hpp"
#include "tensor_list.hpp"
#include "optim/sophia_math.hpp"

namespace moments::cuda::MOMENTS_EXECUTOR {


// b: θ, g, m, h (read only); element i, loaded once into registers, stored once.
struct SophiaRule {
  using Scalars = SophiaScalars;
  static constexpr unsigned kReads = 0b01111, kWrites = 0b00101;  // bit k: buffer k (tensor_list.hpp)
  __device__ static void apply(float* const* b, int64_t i, const SophiaScalars& s) {
    float x = b[0][i], m = b[2][i];
    sophia_update_element(x, b[1][i], m, b[3][i], s);
    b[0][i] = x;
    b[2][i] = m;
  }
};

// The Hessian EMA. b: h, g.
using SophiaHessianRule = OneStateRule<SophiaHessianScalars, sophia_hessian_element>;

void sophia_update(float* theta, const float* grad, float* m, const float* h, int64_t n, const SophiaScalars& s) {
  const float* b[kListBuffers] = {theta, grad, m, h, nullptr};
  run_rule<SophiaRule>("sophia_kernel", b, n, s);  // one launch, or a place in the step's list (tensor_list.hpp)
}

void sophia_update_hessian(float* h, const float* grad, int64_t n, const SophiaHessianScalars& s) {
  const float* b[kListBuffers] = {h, grad, nullptr, nullptr, nullptr};
  run_rule<SophiaHessianRule>("sophia_hessian_kernel", b, n, s);
}

}  // namespace moments::cuda::MOMENTS_EXECUTOR
