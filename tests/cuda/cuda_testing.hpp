// tests/cuda/cuda_testing.hpp — what the cuda suite shares: the executor choice
// (the GPU when one is present, else the CPU emulator) and the skip rules.
#pragma once
#include <cstdio>
#include <cstdlib>

#include "backend.hpp"
#include "testing.hpp"

namespace cuda_testing {

// Runs before main: Device::cuda tensors go to the GPU if there is one, else to the
// emulator; a build with neither skips the whole file (exit code 77 tells Meson).
inline const bool executor_chosen = [] {
  if (!moments::cuda::gpu_backend()) moments::cuda::set_emulation(true);
  if (!moments::cuda::available()) {
    std::printf("skipped: %s\n", moments::cuda::unavailable_reason().c_str());
    std::exit(77);
  }
  std::printf("cuda tests run on the %s\n", moments::cuda::active_backend().name());
  return true;
}();

// For tests that only make sense on a real GPU (cuBLAS, timings): exit 77 with a message.
inline void require_gpu(const char* what) {
  if (moments::cuda::gpu_backend()) return;
  std::printf("skipped: %s needs a real GPU, and Device::cuda runs on the %s here\n", what,
              moments::cuda::available() ? moments::cuda::active_backend().name() : "nothing");
  std::exit(77);
}

}  // namespace cuda_testing
