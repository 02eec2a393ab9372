// cuda/backend.hpp — what lib/ may ask of the CUDA backend. Plain C++ (no CUDA
// headers), included by lib/ in every build, even one without nvcc.
//
// USAGE (from lib/)
//   cuda::Backend& backend = cuda::active_backend();   // throws if Device::cuda is unusable
//   float* data = backend.allocate(n);                 // what Storage does for Device::cuda
//   backend.release(data, n);                          // kept for the next allocate(n)
//   backend.copy_to_device(data, host, n);
//   backend.adam_update(theta, grad, m, v, v_max, n, scalars);  // kernels run on device pointers
//
// TWO EXECUTORS, ONE INTERFACE
//   Every kernel file in cuda/ is compiled twice: by nvcc into namespace
//   moments::cuda::gpu (the real GPU), and by g++ into moments::cuda::emu (the CPU
//   emulator in cuda/emulator/). Each copy implements this Backend (backend.cu). Which
//   one Device::cuda tensors use is decided when a buffer is allocated:
//     1. the GPU, when this build has nvcc's copy and a device is present;
//     2. else the emulator, when emulation is on: set_emulation(true), or the
//        environment variable MOMENTS_CUDA_EMULATION=1, or a build configured with
//        -Dgpu_emulation=enabled (which makes emulation the default);
//        MOMENTS_CUDA_EMULATION=force uses the emulator even when a GPU is present;
//     3. else active_backend() throws, saying how to turn emulation on.
//   A buffer remembers the backend that allocated it (Storage::backend()), and kernels
//   on it must run on that backend: a GPU pointer means nothing to the emulator.
//
// ADDING A KERNEL (the recipe every op follows)
//   1. Write it in a .cu file under cuda/ that includes "launch.hpp" and puts its code
//      in `namespace moments::cuda::MOMENTS_EXECUTOR { ... }`; add the file's stem to
//      `kernel_sources` in cuda/meson.build. Use only what emulator.hpp provides (no
//      warp shuffles: reduce through __shared__ memory and __syncthreads()), launch
//      with launch("name", kernel, grid, block, shared_bytes, args...), and put the
//      per-element math in a MOMENTS_HD function in lib/ that the CPU loop shares.
//   2. Declare its host entry point in cuda/kernels.hpp.
//   3. Add a pure virtual method here and its one-line forwarding override in backend.cu.
//   Tests: tests/cuda/, against the CPU reference (they run on the emulator when no GPU).
#pragma once
#include <cstdint>
#include <string>

namespace moments {
struct SgdScalars;
struct AdamScalars;
struct ScheduleFreeScalars;
struct AdagradScalars;
struct RmspropScalars;
struct AdadeltaScalars;
struct AdamaxScalars;
struct NadamScalars;
struct RadamScalars;
struct LionScalars;
struct SophiaScalars;
struct SophiaHessianScalars;
struct LambScalars;
struct LambDeviceNorms;
struct MuonScalars;
struct AdamMiniScalars;
struct DynamicMap;
struct Adam8bitScalars;
struct Adam8bitMaps;
}  // namespace moments

namespace moments::cuda {

// Adafactor's hyperparameters (AdafactorOptions in lib/optim/adafactor.hpp) as plain
// values, and the parameter's layout: `batches` matrices of rows × cols (a vector is
// 1 × 1 × numel and not factored).
struct AdafactorStep {
  double learning_rate, beta2_decay, eps1, eps2, clip_threshold, weight_decay, beta1;
  bool eps1_in_square, relative_step, scale_parameter, maximize;
  int64_t t;  // the step number, from 1
  bool factored;
  int64_t batches, rows, cols;
};

// ---- op descriptions shared by lib/ops_cuda.cpp and the kernels (see the ops section) ----
enum class Unary { neg, exp, log, sqrt, pow, relu, gelu, tanh, sigmoid, gelu_erf };
enum class Binary { add, sub, mul, div };
enum class MatmulKernel { naive_v1, tiled_v2, cublas, fastest };

// out = a ∘ b broadcast: out has `rank` dims of `size`; a_stride/b_stride are a's and
// b's strides along each of out's dims, 0 where that input is broadcast.
constexpr int kMaxDims = 8;
struct BroadcastLayout {
  int rank = 0;
  int64_t size[kMaxDims] = {};
  int64_t a_stride[kMaxDims] = {};
  int64_t b_stride[kMaxDims] = {};
};

// What an executor has done since the program started (Backend::counters()): tests take the
// difference over a training step. A synchronization is a call that makes the host wait for the
// device: a device-to-host copy, a cudaFree, an explicit cudaDeviceSynchronize. cuBLAS calls
// count as launches.
struct Counters {
  int64_t allocations = 0;       // cudaMalloc calls (the cache's misses)
  int64_t frees = 0;             // cudaFree calls
  int64_t launches = 0;          // kernels and cuBLAS calls
  int64_t copies_to_device = 0;  // host-to-device copies
  int64_t copies_to_host = 0;    // device-to-host copies
  int64_t synchronizations = 0;
};
inline Counters operator-(const Counters& a, const Counters& b) {
  return Counters{a.allocations - b.allocations, a.frees - b.frees, a.launches - b.launches,
                  a.copies_to_device - b.copies_to_device, a.copies_to_host - b.copies_to_host,
                  a.synchronizations - b.synchronizations};
}

class Backend {
 public:
  virtual ~Backend() = default;
  virtual const char* name() const = 0;  // "gpu" or "emulator"

  // ---- memory (counts are floats; every call is checked and throws moments::Error) ----
  // allocate/release go through the caching allocator of device_memory.hpp: a released
  // buffer waits for the next request of its size instead of going back through cudaFree.
  virtual float* allocate(int64_t numel) = 0;            // numel ≥ 1
  virtual void release(float* data, int64_t numel) = 0;  // numel as allocated
  virtual void empty_cache() = 0;                        // cudaFree every kept buffer
  virtual int64_t cached_bytes() const = 0;              // device memory kept for reuse
  virtual Counters counters() const = 0;                 // since the program started

  // ---- launch batches (cuda/tensor_list.hpp): Optimizer::step() opens one around its updates, so
  // the element-wise optimizer kernels of a step run as one launch per list of up to 64 tensors.
  // Batches nest (a count); the last end_launch_batch launches what is queued.
  virtual void begin_launch_batch() = 0;
  virtual void end_launch_batch() = 0;
  virtual void copy_to_device(float* device, const float* host, int64_t numel) = 0;
  virtual void copy_to_host(float* host, const float* device, int64_t numel) = 0;
  virtual void copy_on_device(float* destination, const float* source, int64_t numel) = 0;
  virtual void fill(float* data, int64_t numel, float value) = 0;

  // ---- gradient clipping (lib/optim/schedule.cpp; the order of grad_norm_math.hpp) ------
  // clip_grad_norm: g ← g · min(1, max_norm / (‖g‖ + 1e-6)) over `count` gradients, all on the
  // device. norm_out (one device float, or null) receives ‖g‖ as a float; norm_host (or null)
  // receives it as a double, which is the one copy back (a wait) and only when asked for.
  virtual void clip_grad_norm(float* const* grads, const int64_t* sizes, int64_t count, double max_norm,
                              float* norm_out, double* norm_host) = 0;
  virtual void clip_grad_value(float* g, int64_t n, float clip_value) = 0;  // g ← clamp(g, −c, c)

  // ---- optimizer steps: the CPU loops of lib/optim/*.cpp, as kernels ------------------
  virtual void sgd_update(float* theta, const float* grad, float* buffer, int64_t n, const SgdScalars& s) = 0;
  virtual void adam_update(float* theta, const float* grad, float* m, float* v, float* v_max, int64_t n,
                           const AdamScalars& s) = 0;
  // The family of Adam (lib/optim/adagrad.cpp ... radam.cpp); null buffers as their CPU loops take them.
  virtual void adagrad_update(float* theta, const float* grad, float* sum, int64_t n, const AdagradScalars& s) = 0;
  virtual void rmsprop_update(float* theta, const float* grad, float* square_avg, float* grad_avg, float* buf, int64_t n, const RmspropScalars& s) = 0;
  virtual void adadelta_update(float* theta, const float* grad, float* square_avg, float* acc_delta, int64_t n, const AdadeltaScalars& s) = 0;
  virtual void adamax_update(float* theta, const float* grad, float* m, float* u, int64_t n, const AdamaxScalars& s) = 0;
  virtual void nadam_update(float* theta, const float* grad, float* m, float* v, int64_t n, const NadamScalars& s) = 0;
  virtual void radam_update(float* theta, const float* grad, float* m, float* v, int64_t n, const RadamScalars& s) = 0;
  // Lion (lib/optim/lion.cpp): one buffer, the momentum m.
  virtual void lion_update(float* theta, const float* grad, float* m, int64_t n, const LionScalars& s) = 0;
  // Sophia-G (lib/optim/sophia.cpp): the step reads the Hessian estimate h; update_hessian's EMA writes it.
  virtual void sophia_update(float* theta, const float* grad, float* m, const float* h, int64_t n, const SophiaScalars& s) = 0;
  virtual void sophia_update_hessian(float* h, const float* grad, int64_t n, const SophiaHessianScalars& s) = 0;
  // LAMB (lib/optim/lamb.cpp): stage 1 writes u (n,) and updates m, v; stage 2 does θ ← θ − α r u. The
  // norms (c's G², ‖θ‖², ‖u‖²) are read on the device from `norms` (lamb_math.hpp), never by the host.
  virtual void lamb_stage1(const float* theta, const float* grad, float* m, float* v, float* u, int64_t n,
                           const LambScalars& s, const LambDeviceNorms& norms) = 0;
  virtual void lamb_stage2(float* theta, const float* u, int64_t n, const LambDeviceNorms& norms) = 0;
  // Muon's element-wise halves (lib/optim/muon.cpp); its Newton–Schulz runs through matmul.
  virtual void muon_momentum(const float* grad, float* b, float* u, int64_t n, const MuonScalars& s) = 0;
  virtual void muon_apply(float* theta, const float* o, int64_t n, const MuonScalars& s) = 0;
  // Schedule-free AdamW (lib/optim/schedule_free.cpp): the step, and train()'s y ← β1 x + (1 − β1) z.
  virtual void schedule_free_update(float* y, const float* grad, float* z, float* v, float* x, int64_t n,
                                    const ScheduleFreeScalars& s) = 0;
  virtual void schedule_free_to_y(float* y, const float* x, const float* z, int64_t n, float beta1, float one_minus_beta1) = 0;
  // Adam-mini (lib/optim/adam_mini.cpp): a block rule (vmean: (blocks,)) and the Adam rule (v per element).
  virtual void adam_mini_block_update(float* theta, const float* grad, float* m, float* vmean, int64_t blocks,
                                      int64_t block_size, const AdamMiniScalars& s) = 0;
  virtual void adam_mini_adam_update(float* theta, const float* grad, float* m, float* v, int64_t n, const AdamMiniScalars& s) = 0;
  // One Adafactor step on device buffers (r, c for factored parameters, else v; m
  // when β1 > 0, else null). α_t, the step size it used, is written to alpha_out as a
  // double (two device floats, 8-byte aligned): the host reads it only when asked.
  virtual void adafactor_update(float* x, const float* g, float* r, float* c, float* v, float* m,
                                const AdafactorStep& step, float* alpha_out) = 0;
  // Block-wise 8-bit quantization (lib/optim/quantization.cpp) and 8-bit Adam's steps (lib/optim/adam8bit.cpp):
  // codes are n bytes inside float buffers of ⌈n/4⌉ (quantization_math.hpp), absmax one float per block.
  virtual void quantize_blockwise(const float* x, float* codes, float* absmax, int64_t n, int64_t block_size,
                                  const DynamicMap& map) = 0;
  virtual void dequantize_blockwise(const float* codes, const float* absmax, float* out, int64_t n, int64_t block_size,
                                    const DynamicMap& map) = 0;
  virtual void adam8bit_update(float* theta, const float* grad, float* codes_m, float* codes_v, float* absmax_m,
                               float* absmax_v, int64_t n, const Adam8bitMaps& maps, const Adam8bitScalars& s) = 0;
  virtual void adam32bit_update(float* theta, const float* grad, float* m, float* v, int64_t n, const Adam8bitScalars& s) = 0;

  // ---- ops: the kernels behind lib/ops.cpp (lib/ops_cuda.cpp calls them) -------------
  // Shapes are given as sizes; every buffer is contiguous and row-major. Index tensors
  // (class targets, embedding ids, argmax positions) travel as floats, exact below 2^24.
  //   elementwise.cu: pointwise forward y = f(x) and backward dx = g · f'(x, y);
  //                   a ∘ b with broadcasting (out may be a itself: add_)
  virtual void unary(Unary op, const float* x, float* y, int64_t n, float p) = 0;
  virtual void unary_backward(Unary op, const float* g, const float* x, const float* y, float* dx, int64_t n,
                              float p) = 0;
  virtual void binary(Binary op, const float* a, const float* b, float* out, const BroadcastLayout& layout) = 0;
  //   reduce.cu: x as (outer, n, inner) blocks; out (outer, inner) = Σ over n, or the max
  //   and its first index along n (a NaN wins); scatter_dim puts g (outer, inner) back at
  //   those indices of a zeroed (outer, n, inner) out.
  virtual void sum_dim(const float* x, float* out, int64_t outer, int64_t n, int64_t inner) = 0;
  virtual void max_dim(const float* x, float* values, float* indices, int64_t outer, int64_t n, int64_t inner) = 0;
  virtual void scatter_dim(const float* g, const float* indices, float* out, int64_t outer, int64_t n,
                           int64_t inner) = 0;
  //   softmax.cu: rows of n along the last dim; log selects log_softmax. pick and add_at
  //   read or bump x[r, index[r]] (cross_entropy).
  virtual void softmax_rows(const float* x, float* y, int64_t rows, int64_t n, bool log) = 0;
  virtual void softmax_rows_backward(const float* g, const float* y, float* dx, int64_t rows, int64_t n,
                                     bool log) = 0;
  //   causal_softmax_rows: rows of n = T (row r is row r mod T of its T x T block): softmax of
  //   scale · x over columns 0..r mod T, 0 beyond; backward dx = scale · y (g - Σ g y).
  virtual void causal_softmax_rows(const float* x, float* y, int64_t rows, int64_t n, float scale) = 0;
  virtual void causal_softmax_rows_backward(const float* g, const float* y, float* dx, int64_t rows, int64_t n,
                                            float scale) = 0;
  virtual void pick(const float* x, const float* index, float* out, int64_t rows, int64_t n) = 0;
  virtual void add_at(float* x, const float* index, int64_t rows, int64_t n, float value) = 0;
  //   nn_ops.cu: layer_norm over rows of `width`; embedding rows gathered by id, and
  //   their gradient summed per id over its positions positions[first[v] .. first[v + 1])
  //   in ascending order (deterministic: no atomics).
  virtual void layer_norm(const float* x, const float* w, const float* b, float* y, float* x_hat, float* inv_std,
                          int64_t rows, int64_t width, float eps) = 0;
  virtual void layer_norm_backward(const float* g, const float* x_hat, const float* inv_std, const float* w,
                                   float* dx, int64_t rows, int64_t width) = 0;
  virtual void gather_rows(const float* table, const float* ids, float* out, int64_t count, int64_t width) = 0;
  virtual void scatter_add_rows(const float* g, const float* first, const float* positions, float* table_grad,
                                int64_t vocab, int64_t width) = 0;
  //   shape.cu: per batch, (rows, cols) -> (cols, rows); and `outer` chunks of `chunk`
  //   floats copied between strided places (concat, slice).
  virtual void transpose(const float* x, float* y, int64_t batches, int64_t rows, int64_t cols) = 0;
  //   x (outer, n0, mid, n1, inner) -> y (outer, n1, mid, n0, inner): transpose of two dims.
  virtual void swap_dims(const float* x, float* y, int64_t outer, int64_t n0, int64_t mid, int64_t n1,
                         int64_t inner) = 0;
  virtual void copy_chunks(const float* source, int64_t source_stride, float* destination,
                           int64_t destination_stride, int64_t outer, int64_t chunk) = 0;
  //   matmul.cu: c (batches, m, n) = a (batches, m, k) @ b (batches, k, n); a stride of
  //   0 for b shares one (k, n) matrix across the batch. transpose_a / transpose_b: the
  //   operand is stored transposed ((k, m) / (n, k)) and read as such, with no copy. Kernel::cublas throws on the
  //   emulator (has_cublas() says whether it can run); fastest is cuBLAS on a GPU and
  //   the tiled v2 kernel on the emulator.
  virtual void matmul(MatmulKernel kernel, const float* a, const float* b, float* c, int64_t batches, int64_t m,
                      int64_t k, int64_t n, int64_t a_batch_stride, int64_t b_batch_stride, bool transpose_a = false,
                      bool transpose_b = false) = 0;
  virtual bool has_cublas() const = 0;
};

// ---- which executor Device::cuda uses -------------------------------------------------
Backend& active_backend();         // the GPU, else the emulator if on; else throws (see above)
bool available();                  // active_backend() would not throw
std::string unavailable_reason();  // why it would ("" when available)
bool emulating();                  // available() and the active backend is the emulator

void set_emulation(bool on);       // overrides the environment and the build default
bool emulation_enabled();          // what set_emulation / MOMENTS_CUDA_EMULATION / the build say
bool emulator_built();             // false with -Dgpu_emulation=disabled
bool gpu_built();                  // false without nvcc or with -Dcuda=disabled

// The two executors themselves, for tests that compare them: null when not built
// (or, for the GPU, when no device is present).
Backend* gpu_backend();
Backend* emulator_backend();

}  // namespace moments::cuda
