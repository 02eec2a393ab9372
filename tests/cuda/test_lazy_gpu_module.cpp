// tests/cuda/test_lazy_gpu_module.cpp — the GPU executor is a shared module loaded on
// first use (cuda/gpu_module.hpp): a program doing CPU work never maps libcudart, and
// asking for the GPU loads the module (found in the build tree, for a program run
// from it). Run twice by tests/cuda/meson.build: as is, and with MOMENTS_CUDA_MODULE
// naming a file that does not exist, where the error must say what was tried.
//   meson test -C build --suite cuda lazy_gpu_module lazy_gpu_module_missing
// Deliberately not cuda_testing.hpp: that picks an executor before main, loading the module.
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>

#include "backend.hpp"
#include "testing.hpp"

using namespace moments;

namespace {
// This process's memory map, where every loaded shared object appears by path.
std::string memory_map() {
  std::ifstream maps("/proc/self/maps");
  std::stringstream text;
  text << maps.rdbuf();
  return text.str();
}
bool mapped(const std::string& name) { return memory_map().find(name) != std::string::npos; }
}  // namespace

TEST_CASE("CPU work, then the GPU asked for: the CUDA runtime is loaded only then") {
  // CPU work of every kind a CPU program does: ops, autograd, an optimizer step.
  Tensor w = testing::pattern({4, 3}).requires_grad_();
  AdamW opt({w}, {.learning_rate = 0.1});
  Tensor loss = sum(matmul(w, transpose(w)) * Tensor::scalar(0.5f));
  loss.backward();
  opt.step();
  CHECK_FALSE(mapped("libcudart"));
  CHECK_FALSE(mapped("libmoments_cuda_gpu"));
  if (!cuda::gpu_built()) {
    MESSAGE("this build has no GPU module (no nvcc, or -Dcuda=disabled): nothing more to check");
    return;
  }

  const char* chosen = std::getenv("MOMENTS_CUDA_MODULE");
  cuda::Backend* gpu = cuda::gpu_backend();  // the first use: loads the module
  std::string reason = cuda::unavailable_reason();
  CAPTURE(reason);
  if (chosen) {  // the module named does not exist: no GPU, and the reason names the file
    CHECK(gpu == nullptr);
    CHECK_FALSE(mapped("libcudart"));
    CHECK(reason.find("could not be loaded") != std::string::npos);
    CHECK(reason.find(chosen) != std::string::npos);
    CHECK(reason.find("MOMENTS_CUDA_MODULE") != std::string::npos);
  } else {  // found in the build tree: loaded, whether or not a device is present
    CHECK(mapped("libmoments_cuda_gpu"));
    CHECK(mapped("libcudart"));
    CHECK(reason.find("could not be loaded") == std::string::npos);
    if (!gpu) CHECK(reason.find("no CUDA device is present") != std::string::npos);
  }
}
