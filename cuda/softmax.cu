// cuda/softmax.cu — softmax and log_softmax over the last dim, their backward, and the
// two small gathers cross_entropy needs. One block per row (on a capped grid whose blocks
// walk the rows: runtime.hpp's rows_of_block); the row's max and its sum of exponentials
// are block reductions through __shared__ memory (block_reduce.hpp).
//
//   softmax      y = e^(x - max) / Σ e^(x - max)          dx = y (g - Σ g y)
//   log_softmax  y = (x - max) - log Σ e^(x - max)        dx = g - e^y Σ g
//   causal_softmax  row r of (..., T, T) is row i = r mod T of its block:
//                y = e^(s x - max) / Σ e^(s x - max) over columns j <= i, 0 beyond
//                                                      dx = s y (g - Σ g y)
// The same expressions, in the same order, as ops.cpp's CPU rows; only the sums add in
// a tree instead of left to right (last-bit differences).
#include "block_reduce.hpp"
#include "kernels.hpp"
#include "launch.hpp"

namespace moments::cuda::MOMENTS_EXECUTOR {


// x, y: (rows, n); one block per row.
__global__ void softmax_kernel(const float* x, float* y, int64_t rows, int64_t n, bool log) {
  MOMENTS_SHARED(float[kMaxRowThreads], partial);
  for (int64_t r : rows_of_block(rows)) {
    const float* xr = x + r * n;
    float* yr = y + r * n;
    float share = -INFINITY;
    for (int64_t j = threadIdx.x; j < n; j += blockDim.x) share = xr[j] > share ? xr[j] : share;
    float max = block_max(share, partial);  // subtracting the max keeps e^x from overflowing
    share = 0.0f;
    for (int64_t j = threadIdx.x; j < n; j += blockDim.x) share += expf(xr[j] - max);
    float sum = block_sum(share, partial);  // Σ e^(x - max)
    if (log) {
      float log_sum = logf(sum);
      for (int64_t j = threadIdx.x; j < n; j += blockDim.x) yr[j] = xr[j] - max - log_sum;
    } else {
      for (int64_t j = threadIdx.x; j < n; j += blockDim.x) yr[j] = expf(xr[j] - max) / sum;
    }
  }
}

// g, y (the forward's output), dx: (rows, n); one block per row.
__global__ void softmax_backward_kernel(const float* g, const float* y, float* dx, int64_t rows, int64_t n,
                                        bool log) {
  MOMENTS_SHARED(float[kMaxRowThreads], partial);
  for (int64_t r : rows_of_block(rows)) {
    const float* gr = g + r * n;
    const float* yr = y + r * n;
    float* dxr = dx + r * n;
    float share = 0.0f;
    for (int64_t j = threadIdx.x; j < n; j += blockDim.x) share += log ? gr[j] : gr[j] * yr[j];
    float sum = block_sum(share, partial);  // Σ g (log_softmax) or Σ g y (softmax)
    for (int64_t j = threadIdx.x; j < n; j += blockDim.x)
      dxr[j] = log ? gr[j] - expf(yr[j]) * sum : yr[j] * (gr[j] - sum);
  }
}

// x, y: (rows, n), n = T; one block per row r, which sees columns 0..r mod T.
__global__ void causal_softmax_kernel(const float* x, float* y, int64_t rows, int64_t n, float scale) {
  MOMENTS_SHARED(float[kMaxRowThreads], partial);
  for (int64_t r : rows_of_block(rows)) {
    const int64_t seen = r % n + 1;  // position i sees positions 0..i
    const float* xr = x + r * n;
    float* yr = y + r * n;
    float share = -INFINITY;
    for (int64_t j = threadIdx.x; j < seen; j += blockDim.x) share = xr[j] * scale > share ? xr[j] * scale : share;
    float max = block_max(share, partial);
    share = 0.0f;
    for (int64_t j = threadIdx.x; j < seen; j += blockDim.x) share += expf(xr[j] * scale - max);
    float sum = block_sum(share, partial);  // Σ_{j <= i} e^(s x - max)
    for (int64_t j = threadIdx.x; j < n; j += blockDim.x) yr[j] = j < seen ? expf(xr[j] * scale - max) / sum : 0.0f;
  }
}

// g, y (the forward's output), dx: (rows, n); one block per row.
__global__ void causal_softmax_backward_kernel(const float* g, const float* y, float* dx, int64_t rows, int64_t n,
                                               float scale) {
  MOMENTS_SHARED(float[kMaxRowThreads], partial);
  for (int64_t r : rows_of_block(rows)) {
    const int64_t seen = r % n + 1;
    const float* gr = g + r * n;
    const float* yr = y + r * n;
    float* dxr = dx + r * n;
    float share = 0.0f;
    for (int64_t j = threadIdx.x; j < seen; j += blockDim.x) share += gr[j] * yr[j];
    float sum = block_sum(share, partial);  // Σ g y
    for (int64_t j = threadIdx.x; j < n; j += blockDim.x) dxr[j] = j < seen ? scale * yr[j] * (gr[j] - sum) : 0.0f;
  }
}

// x: (rows, n), index: (rows) → out: (rows), out[r] = x[r, index[r]].
__global__ void pick_kernel(const float* x, const float* index, float* out, int64_t rows, int64_t n) {
  int64_t r = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (r < rows) out[r] = x[r * n + static_cast<int64_t>(index[r])];
}

// x: (rows, n), index: (rows); x[r, index[r]] += value.
__global__ void add_at_kernel(float* x, const float* index, int64_t rows, int64_t n, float value) {
  int64_t r = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (r < rows) x[r * n + static_cast<int64_t>(index[r])] += value;
}

void softmax_rows(const float* x, float* y, int64_t rows, int64_t n, bool log) {
  if (rows > 0 && n > 0)
    launch("softmax_kernel", softmax_kernel, row_blocks(rows), row_threads(n), 0, x, y, rows, n, log);
}

void softmax_rows_backward(const float* g, const float* y, float* dx, int64_t rows, int64_t n, bool log) {
  if (rows > 0 && n > 0)
    launch("softmax_backward_kernel", softmax_backward_kernel, row_blocks(rows), row_threads(n), 0, g, y, dx, rows, n,
           log);
}

void causal_softmax_rows(const float* x, float* y, int64_t rows, int64_t n, float scale) {
  if (rows > 0 && n > 0)
    launch("causal_softmax_kernel", causal_softmax_kernel, row_blocks(rows), row_threads(n), 0, x, y, rows, n, scale);
}

void causal_softmax_rows_backward(const float* g, const float* y, float* dx, int64_t rows, int64_t n, float scale) {
  if (rows > 0 && n > 0)
    launch("causal_softmax_backward_kernel", causal_softmax_backward_kernel, row_blocks(rows), row_threads(n), 0, g, y,
           dx, rows, n, scale);
}

void pick(const float* x, const float* index, float* out, int64_t rows, int64_t n) {
  if (rows > 0) launch("pick_kernel", pick_kernel, blocks_for(rows, kThreads), kThreads, 0, x, index, out, rows, n);
}

void add_at(float* x, const float* index, int64_t rows, int64_t n, float value) {
  if (rows > 0)
    launch("add_at_kernel", add_at_kernel, blocks_for(rows, kThreads), kThreads, 0, x, index, rows, n, value);
}

}  // namespace moments::cuda::MOMENTS_EXECUTOR
