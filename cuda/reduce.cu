// cuda/reduce.cu — sum and max along one dim, the kernels behind sum, mean, max and
// sum_to (the gradient of broadcasting) in lib/ops.cpp.
//
// A tensor reduced along dim d is seen as (outer, n, inner) blocks (ops.cpp's Split):
// out[o, i] = Σ_j x[o, j, i].
//   sum_rows_kernel     inner == 1 (the last dim, or everything): one block per row;
//                       each thread adds a strided share of the row, then the block
//                       adds the shares as a tree in __shared__ memory (block_reduce.hpp).
//   sum_columns_kernel  inner > 1: one thread per (o, i), adding down j in order, as the
//                       CPU's column sums do (consecutive threads read consecutive floats).
//   max_kernel          one thread per (o, i): the first maximum along j (a NaN wins, as
//                       in PyTorch and the CPU loop), and its index.
//   scatter_kernel      max's backward: g[o, i] goes back to x's place [o, index, i].
#include "block_reduce.hpp"
#include "kernels.hpp"
#include "launch.hpp"

namespace moments::cuda::MOMENTS_EXECUTOR {


// x: (rows, n) → out: (rows,). One block per row, blockDim.x a power of two.
__global__ void sum_rows_kernel(const float* x, float* out, int64_t n) {
  __shared__ float partial[kMaxRowThreads];
  const float* row = x + static_cast<int64_t>(blockIdx.x) * n;
  float share = 0.0f;
  for (int64_t j = threadIdx.x; j < n; j += blockDim.x) share += row[j];
  float total = block_sum(share, partial);
  if (threadIdx.x == 0) out[blockIdx.x] = total;
}

// x: (outer, n, inner) → out: (outer, inner).
__global__ void sum_columns_kernel(const float* x, float* out, int64_t outer, int64_t n, int64_t inner) {
  int64_t k = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (k >= outer * inner) return;
  int64_t o = k / inner, i = k % inner;
  const float* column = x + o * n * inner + i;
  float total = 0.0f;
  for (int64_t j = 0; j < n; ++j) total += column[j * inner];
  out[k] = total;
}

// x: (outer, n, inner) → values, indices: (outer, inner); n ≥ 1.
__global__ void max_kernel(const float* x, float* values, float* indices, int64_t outer, int64_t n, int64_t inner) {
  int64_t k = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (k >= outer * inner) return;
  int64_t o = k / inner, i = k % inner;
  const float* column = x + o * n * inner + i;
  int64_t best = 0;
  for (int64_t j = 1; j < n; ++j) {
    float candidate = column[j * inner], current = column[best * inner];
    if (candidate > current || (candidate != candidate && current == current)) best = j;  // a NaN wins
  }
  values[k] = column[best * inner];
  indices[k] = static_cast<float>(best);
}

// g, indices: (outer, inner) → out: (outer, n, inner), already zero.
__global__ void scatter_kernel(const float* g, const float* indices, float* out, int64_t outer, int64_t n,
                               int64_t inner) {
  int64_t k = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (k >= outer * inner) return;
  int64_t o = k / inner, i = k % inner;
  out[o * n * inner + static_cast<int64_t>(indices[k]) * inner + i] = g[k];
}

void sum_dim(const float* x, float* out, int64_t outer, int64_t n, int64_t inner) {
  if (outer * inner == 0) return;
  if (n == 0) return fill(out, outer * inner, 0.0f);
  if (inner == 1) {
    // One block per row; the grid's x may hold 2^31 - 1 blocks.
    launch("sum_rows_kernel", sum_rows_kernel, static_cast<unsigned int>(outer), row_threads(n), 0, x, out, n);
  } else {
    launch("sum_columns_kernel", sum_columns_kernel, blocks_for(outer * inner, kThreads), kThreads, 0, x, out, outer,
           n, inner);
  }
}

void max_dim(const float* x, float* values, float* indices, int64_t outer, int64_t n, int64_t inner) {
  if (outer * inner > 0)
    launch("max_kernel", max_kernel, blocks_for(outer * inner, kThreads), kThreads, 0, x, values, indices, outer, n,
           inner);
}

void scatter_dim(const float* g, const float* indices, float* out, int64_t outer, int64_t n, int64_t inner) {
  if (outer * inner > 0)
    launch("scatter_kernel", scatter_kernel, blocks_for(outer * inner, kThreads), kThreads, 0, g, indices, out, outer,
           n, inner);
}

}  // namespace moments::cuda::MOMENTS_EXECUTOR
