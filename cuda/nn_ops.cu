// cuda/nn_ops.cu — layer_norm and embedding, the layer ops of lib/ops.cpp, as kernels.
//
//   layer_norm_kernel           one block per row of `width` (a capped grid walking the rows,
//                               runtime.hpp's rows_of_block): μ and σ² (biased, as PyTorch)
//                               as block sums, then x̂ = (x - μ)/√(σ² + ε) and y = x̂ w + b
//   layer_norm_backward_kernel  one block per row: dx = (1/σ̃)(ĝ - mean ĝ - x̂ mean(ĝ x̂)),
//                               ĝ = g w; dw and db are column sums, done in lib/ with sum()
//   gather_rows_kernel          embedding: out[i] = W[ids[i]], one thread per float
//   scatter_add_rows_kernel     embedding's backward, dW[v] = Σ_{i: ids[i] = v} g[i]: one
//                               thread per float of dW, walking v's positions (a list the
//                               host builds from the ids it already has) in ascending order.
//                               No atomics, so the sums add in the CPU loop's order and are
//                               the same every run; count × width reads in all.
#include "block_reduce.hpp"
#include "kernels.hpp"
#include "launch.hpp"

namespace moments::cuda::MOMENTS_EXECUTOR {


// x, y, x_hat: (rows, width); w, b: (width); inv_std: (rows). One block per row.
__global__ void layer_norm_kernel(const float* x, const float* w, const float* b, float* y, float* x_hat,
                                  float* inv_std, int64_t rows, int64_t width, float eps) {
  MOMENTS_SHARED(float[kMaxRowThreads], partial);
  for (int64_t r : rows_of_block(rows)) {
    const int64_t offset = r * width;
    const float* xr = x + offset;
    float share = 0.0f;
    for (int64_t j = threadIdx.x; j < width; j += blockDim.x) share += xr[j];
    float mu = block_sum(share, partial) / static_cast<float>(width);  // μ
    share = 0.0f;
    for (int64_t j = threadIdx.x; j < width; j += blockDim.x) share += (xr[j] - mu) * (xr[j] - mu);
    float var = block_sum(share, partial) / static_cast<float>(width);  // σ², biased
    float rstd = 1.0f / sqrtf(var + eps);                               // 1/√(σ² + ε)
    for (int64_t j = threadIdx.x; j < width; j += blockDim.x) {
      float xh = (xr[j] - mu) * rstd;
      x_hat[offset + j] = xh;
      y[offset + j] = xh * w[j] + b[j];
    }
    if (threadIdx.x == 0) inv_std[r] = rstd;
  }
}

// g, x_hat, dx: (rows, width); inv_std: (rows); w: (width). One block per row.
__global__ void layer_norm_backward_kernel(const float* g, const float* x_hat, const float* inv_std, const float* w,
                                           float* dx, int64_t rows, int64_t width) {
  MOMENTS_SHARED(float[kMaxRowThreads], partial);
  for (int64_t r : rows_of_block(rows)) {
    const int64_t offset = r * width;
    const float* gr = g + offset;
    const float* xh = x_hat + offset;
    float share_g = 0.0f, share_gx = 0.0f;
    for (int64_t j = threadIdx.x; j < width; j += blockDim.x) {
      float g_hat = gr[j] * w[j];  // ĝ = g w
      share_g += g_hat;
      share_gx += g_hat * xh[j];
    }
    float mean_g = block_sum(share_g, partial) / static_cast<float>(width);    // mean ĝ
    float mean_gx = block_sum(share_gx, partial) / static_cast<float>(width);  // mean(ĝ x̂)
    float rstd = inv_std[r];
    for (int64_t j = threadIdx.x; j < width; j += blockDim.x) {
      float g_hat = gr[j] * w[j];
      dx[offset + j] = rstd * (g_hat - mean_g - xh[j] * mean_gx);
    }
  }
}

// table: (vocab, width), ids: (count) → out: (count, width).
__global__ void gather_rows_kernel(const float* table, const float* ids, float* out, int64_t count, int64_t width) {
  int64_t k = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (k >= count * width) return;
  int64_t i = k / width, d = k % width;
  out[k] = table[static_cast<int64_t>(ids[i]) * width + d];
}

// g: (count, width); v's positions are positions[first[v] .. first[v + 1]) (ascending; floats, exact
// below 2^24) → table_grad: (vocab, width), every float written.
__global__ void scatter_add_rows_kernel(const float* __restrict__ g, const float* __restrict__ first,
                                        const float* __restrict__ positions, float* __restrict__ table_grad,
                                        int64_t vocab, int64_t width) {
  int64_t k = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (k >= vocab * width) return;
  int64_t v = k / width, d = k % width;
  float total = 0.0f;
  for (int64_t p = static_cast<int64_t>(first[v]), end = static_cast<int64_t>(first[v + 1]); p < end; ++p)
    total += g[static_cast<int64_t>(positions[p]) * width + d];  // in the order of i, as the CPU loop adds
  table_grad[k] = total;
}

void layer_norm(const float* x, const float* w, const float* b, float* y, float* x_hat, float* inv_std, int64_t rows,
                int64_t width, float eps) {
  if (rows > 0 && width > 0)
    launch("layer_norm_kernel", layer_norm_kernel, row_blocks(rows), row_threads(width), 0, x, w, b, y, x_hat, inv_std,
           rows, width, eps);
}

void layer_norm_backward(const float* g, const float* x_hat, const float* inv_std, const float* w, float* dx,
                         int64_t rows, int64_t width) {
  if (rows > 0 && width > 0)
    launch("layer_norm_backward_kernel", layer_norm_backward_kernel, row_blocks(rows), row_threads(width), 0, g, x_hat,
           inv_std, w, dx, rows, width);
}

void gather_rows(const float* table, const float* ids, float* out, int64_t count, int64_t width) {
  if (count * width > 0)
    launch("gather_rows_kernel", gather_rows_kernel, blocks_for(count * width, kThreads), kThreads, 0, table, ids, out,
           count, width);
}

void scatter_add_rows(const float* g, const float* first, const float* positions, float* table_grad, int64_t vocab,
                      int64_t width) {
  if (vocab * width > 0)
    launch("scatter_add_rows_kernel", scatter_add_rows_kernel, blocks_for(vocab * width, kThreads), kThreads, 0, g,
           first, positions, table_grad, vocab, width);
}

}  // namespace moments::cuda::MOMENTS_EXECUTOR
