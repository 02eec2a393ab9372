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
