// bench_matmul_sse2.hpp — Eigen's GEMM as compiled for plain x86-64 (bench_matmul_sse2.cpp).
#pragma once

namespace bench {

// c = a · b for row-major n × n floats, with Eigen compiled for SSE2 and the library's blocking.
void sse2_gemm(const float* a, const float* b, float* c, long n);
// The float lanes that file was compiled for (4 when SSE2, as meant).
int sse2_float_lanes();

}  // namespace bench
