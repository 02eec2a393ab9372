// cuda/kernels.hpp — the host-side entry points of the kernels, declared once and
// defined in each executor's copy of the .cu files (namespace gpu or emu; see
// runtime.hpp). backend.cu forwards the Backend interface to these.
#pragma once
#include <cstdint>

#include "backend.hpp"
#include "runtime.hpp"

namespace moments::cuda::MOMENTS_EXECUTOR {

Backend& backend();  // this executor's Backend (backend.cu)

// memory.cu: x[i] ← value; destination[i] ← source[i]
void fill(float* x, int64_t n, float value);
void copy(float* destination, const float* source, int64_t n);

// clip.cu: clip_grad_norm over `count` gradients (norm_out: 1 float on the device, or null;
// norm_host: where to copy ‖g‖ back, or null for no wait) and clip_grad_value's clamp.
void clip_grad_norm(float* const* grads, const int64_t* sizes, int64_t count, double max_norm, float* norm_out,
                    double* norm_host);
void clip_grad_value(float* g, int64_t n, float c);

// sgd.cu, adam.cu, adafactor.cu: the optimizer steps, arguments as in lib/optim/*_math.hpp.
void sgd_update(float* theta, const float* grad, float* buffer, int64_t n, const SgdScalars& s);
void adam_update(float* theta, const float* grad, float* m, float* v, float* v_max, int64_t n, const AdamScalars& s);
void adafactor_update(float* x, const float* g, float* r, float* c, float* v, float* m, const AdafactorStep& step,
                      float* alpha_out);
// adagrad.cu, rmsprop.cu, adadelta.cu, adamax.cu, nadam.cu, radam.cu: the family, arguments as their *_math.hpp.
void adagrad_update(float* theta, const float* grad, float* sum, int64_t n, const AdagradScalars& s);
void rmsprop_update(float* theta, const float* grad, float* square_avg, float* grad_avg, float* buf, int64_t n, const RmspropScalars& s);
void adadelta_update(float* theta, const float* grad, float* square_avg, float* acc_delta, int64_t n, const AdadeltaScalars& s);
void adamax_update(float* theta, const float* grad, float* m, float* u, int64_t n, const AdamaxScalars& s);
void nadam_update(float* theta, const float* grad, float* m, float* v, int64_t n, const NadamScalars& s);
void radam_update(float* theta, const float* grad, float* m, float* v, int64_t n, const RadamScalars& s);
// lion.cu: Lion's step, arguments as in lib/optim/lion_math.hpp.
void lion_update(float* theta, const float* grad, float* m, int64_t n, const LionScalars& s);
// sophia.cu: Sophia-G's step and its Hessian EMA, arguments as in lib/optim/sophia_math.hpp.
void sophia_update(float* theta, const float* grad, float* m, const float* h, int64_t n, const SophiaScalars& s);
void sophia_update_hessian(float* h, const float* grad, int64_t n, const SophiaHessianScalars& s);
// lamb.cu: LAMB's two element-wise stages (lamb_math.hpp); the norms between them are Tensor ops.
void lamb_stage1(const float* theta, const float* grad, float* m, float* v, float* u, int64_t n, const LambScalars& s,
                 const LambDeviceNorms& norms);
void lamb_stage2(float* theta, const float* u, int64_t n, const LambDeviceNorms& norms);
// muon.cu: Muon's element-wise halves, arguments as in muon_math.hpp.
void muon_momentum(const float* grad, float* b, float* u, int64_t n, const MuonScalars& s);
void muon_apply(float* theta, const float* o, int64_t n, const MuonScalars& s);
// schedule_free.cu: schedule-free AdamW's step and train()'s y, arguments as in schedule_free_math.hpp.
void schedule_free_update(float* y, const float* grad, float* z, float* v, float* x, int64_t n, const ScheduleFreeScalars& s);
void schedule_free_to_y(float* y, const float* x, const float* z, int64_t n, float beta1, float one_minus_beta1);
// adam_mini.cu: Adam-mini's block rules and its Adam rule, arguments as adam_mini_math.hpp's.
void adam_mini_block_update(float* theta, const float* grad, float* m, float* vmean, int64_t blocks, int64_t block_size,
                            const AdamMiniScalars& s);
void adam_mini_adam_update(float* theta, const float* grad, float* m, float* v, int64_t n, const AdamMiniScalars& s);
// quantization.cu, adam8bit.cu: block-wise 8-bit quantization and 8-bit Adam, arguments as in backend.hpp.
void quantize_blockwise(const float* x, float* codes, float* absmax, int64_t n, int64_t block_size, const DynamicMap& map);
void dequantize_blockwise(const float* codes, const float* absmax, float* out, int64_t n, int64_t block_size,
                          const DynamicMap& map);
void adam8bit_update(float* theta, const float* grad, float* codes_m, float* codes_v, float* absmax_m, float* absmax_v,
                     int64_t n, const Adam8bitMaps& maps, const Adam8bitScalars& s);
void adam32bit_update(float* theta, const float* grad, float* m, float* v, int64_t n, const Adam8bitScalars& s);

// ---- ops (elementwise.cu, reduce.cu, softmax.cu, nn_ops.cu, shape.cu, matmul.cu) ----
// Arguments as in the ops section of backend.hpp.
void unary(Unary op, const float* x, float* y, int64_t n, float p);
void unary_backward(Unary op, const float* g, const float* x, const float* y, float* dx, int64_t n, float p);
void binary(Binary op, const float* a, const float* b, float* out, const BroadcastLayout& layout);
void sum_dim(const float* x, float* out, int64_t outer, int64_t n, int64_t inner);
void max_dim(const float* x, float* values, float* indices, int64_t outer, int64_t n, int64_t inner);
void scatter_dim(const float* g, const float* indices, float* out, int64_t outer, int64_t n, int64_t inner);
void softmax_rows(const float* x, float* y, int64_t rows, int64_t n, bool log);
void softmax_rows_backward(const float* g, const float* y, float* dx, int64_t rows, int64_t n, bool log);
void causal_softmax_rows(const float* x, float* y, int64_t rows, int64_t n, float scale);
void causal_softmax_rows_backward(const float* g, const float* y, float* dx, int64_t rows, int64_t n, float scale);
void pick(const float* x, const float* index, float* out, int64_t rows, int64_t n);
void add_at(float* x, const float* index, int64_t rows, int64_t n, float value);
void layer_norm(const float* x, const float* w, const float* b, float* y, float* x_hat, float* inv_std, int64_t rows,
                int64_t width, float eps);
void layer_norm_backward(const float* g, const float* x_hat, const float* inv_std, const float* w, float* dx,
                         int64_t rows, int64_t width);
void gather_rows(const float* table, const float* ids, float* out, int64_t count, int64_t width);
void scatter_add_rows(const float* g, const float* first, const float* positions, float* table_grad, int64_t vocab,
                      int64_t width);
void transpose(const float* x, float* y, int64_t batches, int64_t rows, int64_t cols);
void swap_dims(const float* x, float* y, int64_t outer, int64_t n0, int64_t mid, int64_t n1, int64_t inner);
void copy_chunks(const float* source, int64_t source_stride, float* destination, int64_t destination_stride,
                 int64_t outer, int64_t chunk);
void matmul(MatmulKernel kernel, const float* a, const float* b, float* c, int64_t batches, int64_t m, int64_t k,
            int64_t n, int64_t a_batch_stride, int64_t b_batch_stride, bool transpose_a, bool transpose_b);
bool has_cublas();

}  // namespace moments::cuda::MOMENTS_EXECUTOR
