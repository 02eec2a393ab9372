// cuda/backend.cu — this executor's Backend: memory through the caching allocator
// (device_memory.hpp), and the kernels' host entry points behind the interface lib/
// sees (backend.hpp). Compiled twice, like every kernel file: by nvcc (namespace gpu)
// and by g++ (namespace emu).
#include "device_memory.hpp"
#include "kernels.hpp"
#include "tensor_list.hpp"
#include "optim/adadelta_math.hpp"
#include "optim/adagrad_math.hpp"
#include "optim/adam8bit_math.hpp"
#include "optim/adam_math.hpp"
#include "optim/adam_mini_math.hpp"
#include "optim/adamax_math.hpp"
#include "optim/lion_math.hpp"
#include "optim/lamb_math.hpp"
#include "optim/muon_math.hpp"
#include "optim/nadam_math.hpp"
#include "optim/radam_math.hpp"
#include "optim/rmsprop_math.hpp"
#include "optim/schedule_free_math.hpp"
#include "optim/sgd_math.hpp"
#include "optim/sophia_math.hpp"

namespace moments::cuda::MOMENTS_EXECUTOR {

namespace {

size_t bytes_of(int64_t numel) { return static_cast<size_t>(numel) * sizeof(float); }

class ExecutorBackend final : public Backend {
 public:
  const char* name() const override { return executor_name(); }

  float* allocate(int64_t numel) override { return static_cast<float*>(device_allocate(bytes_of(numel))); }
  void release(float* data, int64_t numel) override { device_release(data, bytes_of(numel)); }
  void empty_cache() override { empty_device_cache(); }
  int64_t cached_bytes() const override { return cached_device_bytes(); }
  Counters counters() const override { return counters_now(); }
  void begin_launch_batch() override { pending_list().begin(); }
  void end_launch_batch() override { pending_list().end(); }
  void copy_to_device(float* device, const float* host, int64_t numel) override {
    copy_host_to_device(device, host, bytes_of(numel));
  }
  void copy_to_host(float* host, const float* device, int64_t numel) override {
    copy_device_to_host(host, device, bytes_of(numel));
  }
  void copy_on_device(float* destination, const float* source, int64_t numel) override {
    copy(destination, source, numel);
  }
  void fill(float* data, int64_t numel, float value) override { MOMENTS_EXECUTOR::fill(data, numel, value); }

  void clip_grad_norm(float* const* grads, const int64_t* sizes, int64_t count, double max_norm, float* norm_out,
                      double* norm_host) override {
    MOMENTS_EXECUTOR::clip_grad_norm(grads, sizes, count, max_norm, norm_out, norm_host);
  }
  void clip_grad_value(float* g, int64_t n, float clip_value) override {
    MOMENTS_EXECUTOR::clip_grad_value(g, n, clip_value);
  }
  void sgd_update(float* theta, const float* grad, float* buffer, int64_t n, const SgdScalars& s) override {
    MOMENTS_EXECUTOR::sgd_update(theta, grad, buffer, n, s);
  }
  void adam_update(float* theta, const float* grad, float* m, float* v, float* v_max, int64_t n,
                   const AdamScalars& s) override {
    MOMENTS_EXECUTOR::adam_update(theta, grad, m, v, v_max, n, s);
  }
  void adagrad_update(float* theta, const float* grad, float* sum, int64_t n, const AdagradScalars& s) override {
    MOMENTS_EXECUTOR::adagrad_update(theta, grad, sum, n, s);
  }
  void rmsprop_update(float* theta, const float* grad, float* square_avg, float* grad_avg, float* buf, int64_t n, const RmspropScalars& s) override {
    MOMENTS_EXECUTOR::rmsprop_update(theta, grad, square_avg, grad_avg, buf, n, s);
  }
  void adadelta_update(float* theta, const float* grad, float* square_avg, float* acc_delta, int64_t n, const AdadeltaScalars& s) override {
    MOMENTS_EXECUTOR::adadelta_update(theta, grad, square_avg, acc_delta, n, s);
  }
  void adamax_update(float* theta, const float* grad, float* m, float* u, int64_t n, const AdamaxScalars& s) override {
    MOMENTS_EXECUTOR::adamax_update(theta, grad, m, u, n, s);
  }
  void nadam_update(float* theta, const float* grad, float* m, float* v, int64_t n, const NadamScalars& s) override {
    MOMENTS_EXECUTOR::nadam_update(theta, grad, m, v, n, s);
  }
  void muon_momentum(const float* grad, float* b, float* u, int64_t n, const MuonScalars& s) override {
    MOMENTS_EXECUTOR::muon_momentum(grad, b, u, n, s);
  }
  void muon_apply(float* theta, const float* o, int64_t n, const MuonScalars& s) override {
    MOMENTS_EXECUTOR::muon_apply(theta, o, n, s);
  }
  void radam_update(float* theta, const float* grad, float* m, float* v, int64_t n, const RadamScalars& s) override {
    MOMENTS_EXECUTOR::radam_update(theta, grad, m, v, n, s);
  }
  void lion_update(float* theta, const float* grad, float* m, int64_t n, const LionScalars& s) override {
    MOMENTS_EXECUTOR::lion_update(theta, grad, m, n, s);
  }
  void sophia_update(float* theta, const float* grad, float* m, const float* h, int64_t n, const SophiaScalars& s) override {
    MOMENTS_EXECUTOR::sophia_update(theta, grad, m, h, n, s);
  }
  void sophia_update_hessian(float* h, const float* grad, int64_t n, const SophiaHessianScalars& s) override {
    MOMENTS_EXECUTOR::sophia_update_hessian(h, grad, n, s);
  }
  void lamb_stage1(const float* theta, const float* grad, float* m, float* v, float* u, int64_t n,
                   const LambScalars& s, const LambDeviceNorms& norms) override {
    MOMENTS_EXECUTOR::lamb_stage1(theta, grad, m, v, u, n, s, norms);
  }
  void lamb_stage2(float* theta, const float* u, int64_t n, const LambDeviceNorms& norms) override {
    MOMENTS_EXECUTOR::lamb_stage2(theta, u, n, norms);
  }
  void schedule_free_update(float* y, const float* grad, float* z, float* v, float* x, int64_t n,
                            const ScheduleFreeScalars& s) override {
    MOMENTS_EXECUTOR::schedule_free_update(y, grad, z, v, x, n, s);
  }
  void schedule_free_to_y(float* y, const float* x, const float* z, int64_t n, float beta1, float one_minus_beta1) override {
    MOMENTS_EXECUTOR::schedule_free_to_y(y, x, z, n, beta1, one_minus_beta1);
  }
  void adam_mini_block_update(float* theta, const float* grad, float* m, float* vmean, int64_t blocks, int64_t block_size,
                              const AdamMiniScalars& s) override {
    MOMENTS_EXECUTOR::adam_mini_block_update(theta, grad, m, vmean, blocks, block_size, s);
  }
  void adam_mini_adam_update(float* theta, const float* grad, float* m, float* v, int64_t n, const AdamMiniScalars& s) override {
    MOMENTS_EXECUTOR::adam_mini_adam_update(theta, grad, m, v, n, s);
  }
  void adafactor_update(float* x, const float* g, float* r, float* c, float* v, float* m, const AdafactorStep& step,
                        float* alpha_out) override {
    MOMENTS_EXECUTOR::adafactor_update(x, g, r, c, v, m, step, alpha_out);
  }
  void quantize_blockwise(const float* x, float* codes, float* absmax, int64_t n, int64_t block_size,
                          const DynamicMap& map) override {
    MOMENTS_EXECUTOR::quantize_blockwise(x, codes, absmax, n, block_size, map);
  }
  void dequantize_blockwise(const float* codes, const float* absmax, float* out, int64_t n, int64_t block_size,
                            const DynamicMap& map) override {
    MOMENTS_EXECUTOR::dequantize_blockwise(codes, absmax, out, n, block_size, map);
  }
  void adam8bit_update(float* theta, const float* grad, float* codes_m, float* codes_v, float* absmax_m, float* absmax_v,
                       int64_t n, const Adam8bitMaps& maps, const Adam8bitScalars& s) override {
    MOMENTS_EXECUTOR::adam8bit_update(theta, grad, codes_m, codes_v, absmax_m, absmax_v, n, maps, s);
  }
  void adam32bit_update(float* theta, const float* grad, float* m, float* v, int64_t n, const Adam8bitScalars& s) override {
    MOMENTS_EXECUTOR::adam32bit_update(theta, grad, m, v, n, s);
  }

  // ---- ops: one-line forwards to the kernels' host entry points ----------------------
  void unary(Unary op, const float* x, float* y, int64_t n, float p) override {
    MOMENTS_EXECUTOR::unary(op, x, y, n, p);
  }
  void unary_backward(Unary op, const float* g, const float* x, const float* y, float* dx, int64_t n,
                      float p) override {
    MOMENTS_EXECUTOR::unary_backward(op, g, x, y, dx, n, p);
  }
  void binary(Binary op, const float* a, const float* b, float* out, const BroadcastLayout& layout) override {
    MOMENTS_EXECUTOR::binary(op, a, b, out, layout);
  }
  void sum_dim(const float* x, float* out, int64_t outer, int64_t n, int64_t inner) override {
    MOMENTS_EXECUTOR::sum_dim(x, out, outer, n, inner);
  }
  void max_dim(const float* x, float* values, float* indices, int64_t outer, int64_t n, int64_t inner) override {
    MOMENTS_EXECUTOR::max_dim(x, values, indices, outer, n, inner);
  }
  void scatter_dim(const float* g, const float* indices, float* out, int64_t outer, int64_t n,
                   int64_t inner) override {
    MOMENTS_EXECUTOR::scatter_dim(g, indices, out, outer, n, inner);
  }
  void softmax_rows(const float* x, float* y, int64_t rows, int64_t n, bool log) override {
    MOMENTS_EXECUTOR::softmax_rows(x, y, rows, n, log);
  }
  void softmax_rows_backward(const float* g, const float* y, float* dx, int64_t rows, int64_t n,
                             bool log) override {
    MOMENTS_EXECUTOR::softmax_rows_backward(g, y, dx, rows, n, log);
  }
  void causal_softmax_rows(const float* x, float* y, int64_t rows, int64_t n, float scale) override {
    MOMENTS_EXECUTOR::causal_softmax_rows(x, y, rows, n, scale);
  }
  void causal_softmax_rows_backward(const float* g, const float* y, float* dx, int64_t rows, int64_t n,
                                    float scale) override {
    MOMENTS_EXECUTOR::causal_softmax_rows_backward(g, y, dx, rows, n, scale);
  }
  void pick(const float* x, const float* index, float* out, int64_t rows, int64_t n) override {
    MOMENTS_EXECUTOR::pick(x, index, out, rows, n);
  }
  void add_at(float* x, const float* index, int64_t rows, int64_t n, float value) override {
    MOMENTS_EXECUTOR::add_at(x, index, rows, n, value);
  }
  void layer_norm(const float* x, const float* w, const float* b, float* y, float* x_hat, float* inv_std,
                  int64_t rows, int64_t width, float eps) override {
    MOMENTS_EXECUTOR::layer_norm(x, w, b, y, x_hat, inv_std, rows, width, eps);
  }
  void layer_norm_backward(const float* g, const float* x_hat, const float* inv_std, const float* w, float* dx,
                           int64_t rows, int64_t width) override {
    MOMENTS_EXECUTOR::layer_norm_backward(g, x_hat, inv_std, w, dx, rows, width);
  }
  void gather_rows(const float* table, const float* ids, float* out, int64_t count, int64_t width) override {
    MOMENTS_EXECUTOR::gather_rows(table, ids, out, count, width);
  }
  void scatter_add_rows(const float* g, const float* first, const float* positions, float* table_grad, int64_t vocab,
                        int64_t width) override {
    MOMENTS_EXECUTOR::scatter_add_rows(g, first, positions, table_grad, vocab, width);
  }
  void transpose(const float* x, float* y, int64_t batches, int64_t rows, int64_t cols) override {
    MOMENTS_EXECUTOR::transpose(x, y, batches, rows, cols);
  }
  void swap_dims(const float* x, float* y, int64_t outer, int64_t n0, int64_t mid, int64_t n1,
                 int64_t inner) override {
    MOMENTS_EXECUTOR::swap_dims(x, y, outer, n0, mid, n1, inner);
  }
  void copy_chunks(const float* source, int64_t source_stride, float* destination, int64_t destination_stride,
                   int64_t outer, int64_t chunk) override {
    MOMENTS_EXECUTOR::copy_chunks(source, source_stride, destination, destination_stride, outer, chunk);
  }
  void matmul(MatmulKernel kernel, const float* a, const float* b, float* c, int64_t batches, int64_t m, int64_t k,
              int64_t n, int64_t a_batch_stride, int64_t b_batch_stride, bool transpose_a, bool transpose_b) override {
    MOMENTS_EXECUTOR::matmul(kernel, a, b, c, batches, m, k, n, a_batch_stride, b_batch_stride, transpose_a,
                             transpose_b);
  }
  bool has_cublas() const override { return MOMENTS_EXECUTOR::has_cublas(); }
};

}  // namespace

PendingList& pending_list() {
  static thread_local PendingList list;  // a batch belongs to the CPU thread that opened it
  return list;
}

void flush_pending_launches() { pending_list().flush(); }

Backend& backend() {
  static ExecutorBackend instance;
  return instance;
}

}  // namespace moments::cuda::MOMENTS_EXECUTOR
