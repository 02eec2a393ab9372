// host_device.hpp — MOMENTS_HD marks a function as callable from CPU code and
// from CUDA kernels. Per-element math (elementwise.hpp, the optimizer math
// headers) is written once with it, so the CPU tests check the exact formula
// that each GPU kernel runs.
#pragma once

#if defined(__CUDACC__)
#define MOMENTS_HD __host__ __device__
#else
#define MOMENTS_HD
#endif

// MOMENTS_CPU_CLONES marks a hot CPU loop. In the portable build
// (-Dcpu_baseline=x86-64) it compiles the loop twice, for AVX2 (8 floats per
// instruction) and for any x86-64, and lets the dynamic loader pick one at
// start-up. Both clones run the same code with the same roundings (no FMA: the
// avx2 clone does not enable it, and the project compiles with
// -ffp-contract=off), so results do not depend on the processor. The default
// baseline, x86-64-v3, has AVX2 already: one copy, no dispatch, the same bits.
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && !defined(__CUDACC__) && !defined(__AVX2__)
#define MOMENTS_CPU_CLONES __attribute__((target_clones("avx2", "default")))
#else
#define MOMENTS_CPU_CLONES
#endif
