// cuda/backend.cu — this executor's Backend: checked memory calls, and the kernels'
// host entry points behind the interface lib/ sees (backend.hpp). Compiled twice,
// like every kernel file: by nvcc (namespace gpu) and by g++ (namespace emu).
#include "kernels.hpp"
#include "optim/adam_math.hpp"
#include "optim/sgd_math.hpp"

namespace moments::cuda::MOMENTS_EXECUTOR {

namespace {

size_t bytes_of(int64_t numel) { return static_cast<size_t>(numel) * sizeof(float); }

class ExecutorBackend final : public Backend {
 public:
  const char* name() const override { return executor_name(); }

  float* allocate(int64_t numel) override {
    void* data = nullptr;
    check(cudaMalloc(&data, bytes_of(numel)), "cudaMalloc");
    return static_cast<float*>(data);
  }
  void release(float* data) override { check(cudaFree(data), "cudaFree"); }
  void copy_to_device(float* device, const float* host, int64_t numel) override {
    check(cudaMemcpy(device, host, bytes_of(numel), cudaMemcpyHostToDevice), "cudaMemcpy (host to device)");
  }
  void copy_to_host(float* host, const float* device, int64_t numel) override {
    check(cudaMemcpy(host, device, bytes_of(numel), cudaMemcpyDeviceToHost), "cudaMemcpy (device to host)");
  }
  void copy_on_device(float* destination, const float* source, int64_t numel) override {
    copy(destination, source, numel);
  }
  void fill(float* data, int64_t numel, float value) override { MOMENTS_EXECUTOR::fill(data, numel, value); }

  void sgd_update(float* theta, const float* grad, float* buffer, int64_t n, const SgdScalars& s) override {
    MOMENTS_EXECUTOR::sgd_update(theta, grad, buffer, n, s);
  }
  void adam_update(float* theta, const float* grad, float* m, float* v, float* v_max, int64_t n,
                   const AdamScalars& s) override {
    MOMENTS_EXECUTOR::adam_update(theta, grad, m, v, v_max, n, s);
  }
  double adafactor_update(float* x, const float* g, float* r, float* c, float* v, float* m,
                          const AdafactorStep& step) override {
    return MOMENTS_EXECUTOR::adafactor_update(x, g, r, c, v, m, step);
  }
};

}  // namespace

Backend& backend() {
  static ExecutorBackend instance;
  return instance;
}

}  // namespace moments::cuda::MOMENTS_EXECUTOR
