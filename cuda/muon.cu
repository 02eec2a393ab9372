// cuda/muon.cu — Muon's element-wise halves as kernels: the CUDA mirror of
// muon_momentum and muon_apply in lib/optim/muon.cpp, as Rules of tensor_list.hpp: per
// element, the same muon_momentum_element / muon_apply_element (lib/optim/muon_math.hpp);
// the Newton–Schulz iteration between them is matmul work (matmul.cu, through the
// Tensor ops), and the per-step scalars arrive in MuonScalars, computed on the host.
#include "kernels.hpp"
#include "launch.hpp"
#include "tensor_list.hpp"
#include "optim/muon_math.hpp"

namespace moments::cuda::MOMENTS_EXECUTOR {


// b: g, the momentum buffer, u (the matrix to orthogonalise, written).
struct MuonMomentumRule {
  using Scalars = MuonScalars;
  static constexpr unsigned kReads = 0b00011, kWrites = 0b00110;  // bit k: buffer k (tensor_list.hpp)
  __device__ static void apply(float* const* b, int64_t i, const MuonScalars& s) {
    float buffer = b[1][i], u = 0.0f;
    muon_momentum_element(b[0][i], buffer, u, s);
    b[1][i] = buffer;
    b[2][i] = u;
  }
};

// b: θ, o (the orthogonalised update).
using MuonApplyRule = OneStateRule<MuonScalars, muon_apply_element>;

void muon_momentum(const float* grad, float* b, float* u, int64_t n, const MuonScalars& s) {
  const float* buffers[kListBuffers] = {grad, b, u, nullptr, nullptr};
  run_rule<MuonMomentumRule>("muon_momentum_kernel", buffers, n, s);
}

void muon_apply(float* theta, const float* o, int64_t n, const MuonScalars& s) {
  const float* b[kListBuffers] = {theta, o, nullptr, nullptr, nullptr};
  run_rule<MuonApplyRule>("muon_apply_kernel", b, n, s);
}

}  // namespace moments::cuda::MOMENTS_EXECUTOR
