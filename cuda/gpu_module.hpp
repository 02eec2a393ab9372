// cuda/gpu_module.hpp — the seam between lib/ and the nvcc-compiled GPU executor.
//
// The GPU executor (every cuda/*.cu file compiled by nvcc, with libcudart and
// libcublas) is not linked into libmoments: it is a shared module,
// libmoments_cuda_gpu.so, that backend.cpp opens with dlopen the first time a
// Device::cuda tensor or gpu_backend() needs it. A program that never asks for the
// GPU (moments-inspect --help, any CPU training run) never loads the CUDA runtime,
// which cost moments-inspect 0.1-0.5 s and 210 MB of memory at start-up. The emulator stays
// linked in: it is plain C++.
//
// WHERE THE MODULE IS LOOKED FOR (first hit wins; backend.cpp)
//   1. $MOMENTS_CUDA_MODULE, the module file's path (then nowhere else);
//   2. next to the library or program that holds libmoments, and in its moments/
//      folder (a shared libmoments in LIBDIR finds LIBDIR/moments/ even when the
//      install tree was moved, e.g. a DESTDIR copy);
//   3. in this build tree, but only for programs that run from inside it;
//   4. where `meson install` puts it: PREFIX/LIBDIR/moments/.
// When none loads, gpu_backend() is null and unavailable_reason() lists what was tried.
//
// The module exports one C symbol, moments_cuda_gpu_module(), returning the table
// below. Loader and module must come from the same moments version: Backend is a
// C++ interface, and its layout changes whenever a kernel is added.
#pragma once
#include <string>

#include "backend.hpp"

namespace moments::cuda {

struct GpuModule {
  const char* version;                  // MOMENTS_VERSION of the build that made the module
  int (*device_count)();                // device.hpp
  std::string (*no_device_reason)();    // device.hpp
  Backend& (*backend)();                // the GPU executor (backend.cu, namespace gpu)
};

}  // namespace moments::cuda

// The module's one exported symbol (gpu_module.cu), found with dlsym.
#define MOMENTS_CUDA_GPU_MODULE_SYMBOL "moments_cuda_gpu_module"
extern "C" const moments::cuda::GpuModule* moments_cuda_gpu_module();
