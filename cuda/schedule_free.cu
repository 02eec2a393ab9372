// cuda/schedule_free.cu — schedule-free AdamW as kernels: the CUDA mirror of schedule_free_update
// and schedule_free_to_y in lib/optim/schedule_free.cpp, as Rules of tensor_list.hpp (one launch
// per tensor, or one per list inside a step). Each element's values are loaded into registers, run through the same schedule_free_update_element (lib/optim/schedule_free_math.hpp)
// and stored once; the per-step scalars (γ_t, c_{t+1}) arrive in ScheduleFreeScalars, computed
// once on the host. The second kernel is train()'s y ← β1 x + (1 − β1) z, the same function the
// step ends with, so y comes back bit for bit on the device too.
#include "kernels.hpp"
#include "launch.hpp"
#include "tensor_list.hpp"
#include "optim/schedule_free_math.hpp"

namespace moments::cuda::MOMENTS_EXECUTOR {


// b: y (the parameter), g, z, v, x; element i, loaded once into registers, stored once.
struct ScheduleFreeRule {
  using Scalars = ScheduleFreeScalars;
  static constexpr unsigned kReads = 0b11111, kWrites = 0b11101;  // bit k: buffer k (tensor_list.hpp)
  __device__ static void apply(float* const* b, int64_t i, const ScheduleFreeScalars& s) {
    float y = b[0][i], z = b[2][i], v = b[3][i], x = b[4][i];
    schedule_free_update_element(y, b[1][i], z, v, x, s);
    b[0][i] = y;
    b[2][i] = z;
    b[3][i] = v;
    b[4][i] = x;
  }
};

// train()'s y ← β1 x + (1 − β1) z. b: y, x, z.
struct ScheduleFreeToYScalars {
  float beta1, one_minus_beta1;
};
struct ScheduleFreeToYRule {
  using Scalars = ScheduleFreeToYScalars;
  static constexpr unsigned kReads = 0b00110, kWrites = 0b00001;  // bit k: buffer k (tensor_list.hpp)
  __device__ static void apply(float* const* b, int64_t i, const ScheduleFreeToYScalars& s) {
    b[0][i] = schedule_free_y(b[1][i], b[2][i], s.beta1, s.one_minus_beta1);
  }
};

void schedule_free_update(float* y, const float* grad, float* z, float* v, float* x, int64_t n,
                          const ScheduleFreeScalars& s) {
  const float* b[kListBuffers] = {y, grad, z, v, x};
  run_rule<ScheduleFreeRule>("schedule_free_kernel", b, n, s);  // one launch, or a place in the step's list
}

void schedule_free_to_y(float* y, const float* x, const float* z, int64_t n, float beta1, float one_minus_beta1) {
  const float* b[kListBuffers] = {y, x, z, nullptr, nullptr};
  run_rule<ScheduleFreeToYRule>("schedule_free_to_y_kernel", b, n, ScheduleFreeToYScalars{beta1, one_minus_beta1});
}

}  // namespace moments::cuda::MOMENTS_EXECUTOR
