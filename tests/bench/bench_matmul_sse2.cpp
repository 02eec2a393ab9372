// bench_matmul_sse2.cpp — Eigen's float GEMM compiled for plain x86-64 (SSE2: 4 floats per
// instruction, multiply and add separate), the old default baseline, for bench_matmul's
// "≥ 2.4× the SSE2 build" target. meson.build compiles this file alone with -march=x86-64.
//
// Eigen's templates would be the same symbols here as in bench_matmul.cpp (compiled for the
// project's baseline), and the linker keeps one copy of each: so this file renames Eigen's
// namespace, and its GEMM stays the SSE2 one. No BLAS: this is Eigen's own kernel.
#undef EIGEN_USE_BLAS
#define Eigen moments_bench_eigen_sse2
#include <Eigen/Core>

#include "bench_matmul_sse2.hpp"

namespace bench {

void sse2_gemm(const float* a, const float* b, float* c, long n) {
  using RowMatrix = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
  // The library's fixed blocking (use_fixed_gemm_blocking in lib/ops.cpp); this copy of Eigen
  // keeps its own setting.
  Eigen::setCpuCacheSizes(32 * 1024, 1024 * 1024, 32 * 1024 * 1024);
  Eigen::Map<RowMatrix>(c, n, n).noalias() = Eigen::Map<const RowMatrix>(a, n, n) * Eigen::Map<const RowMatrix>(b, n, n);
}

int sse2_float_lanes() {
#if defined(__AVX__)
  return 8;  // (not compiled as meson.build says)
#else
  return 4;
#endif
}

}  // namespace bench
