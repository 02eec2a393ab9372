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

// MOMENTS_CPU_CLONES compiles a hot CPU loop twice, for AVX2 (8 floats per
// instruction) and for any x86-64, and lets the dynamic loader pick one at
// start-up. Both clones run the same code with the same roundings (no FMA:
// -std=c++20 turns floating-point contraction off), so results do not depend on
// the processor.
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && !defined(__CUDACC__)
#define MOMENTS_CPU_CLONES __attribute__((target_clones("avx2", "default")))
#else
#define MOMENTS_CPU_CLONES
#endif
