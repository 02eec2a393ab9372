// cuda/shape.cu — the copies behind transpose (of the last two dims, or of any two), concat and slice in lib/ops.cpp
// (tensors are contiguous, so these ops make new buffers). One thread per float.
#include "kernels.hpp"
#include "launch.hpp"

namespace moments::cuda::MOMENTS_EXECUTOR {


// x: (batches, rows, cols) → y: (batches, cols, rows). Thread k writes y's k-th float
// (consecutive threads write consecutive floats; the reads stride by cols).
__global__ void transpose_kernel(const float* x, float* y, int64_t batches, int64_t rows, int64_t cols) {
  int64_t k = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (k >= batches * rows * cols) return;
  int64_t batch = k / (rows * cols), rest = k % (rows * cols);
  int64_t c = rest / rows, r = rest % rows;  // y[batch, c, r] = x[batch, r, c]
  y[k] = x[batch * rows * cols + r * cols + c];
}

// x: (outer, n0, mid, n1, inner) → y: (outer, n1, mid, n0, inner), dims n0 and n1 swapped. Thread k
// writes y's k-th float: its (o, j1, m, j0, i) peeled off from the last dim.
__global__ void swap_dims_kernel(const float* x, float* y, int64_t outer, int64_t n0, int64_t mid, int64_t n1,
                                 int64_t inner) {
  int64_t k = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (k >= outer * n1 * mid * n0 * inner) return;
  int64_t i = k % inner, rest = k / inner;
  int64_t j0 = rest % n0, m = rest / n0 % mid, j1 = rest / (n0 * mid) % n1, o = rest / (n0 * mid * n1);
  y[k] = x[(((o * n0 + j0) * mid + m) * n1 + j1) * inner + i];
}

// destination[o * destination_stride + j] = source[o * source_stride + j], j < chunk.
__global__ void copy_chunks_kernel(const float* source, int64_t source_stride, float* destination,
                                   int64_t destination_stride, int64_t outer, int64_t chunk) {
  int64_t k = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (k >= outer * chunk) return;
  int64_t o = k / chunk, j = k % chunk;
  destination[o * destination_stride + j] = source[o * source_stride + j];
}

void transpose(const float* x, float* y, int64_t batches, int64_t rows, int64_t cols) {
  int64_t total = batches * rows * cols;
  if (total > 0)
    launch("transpose_kernel", transpose_kernel, blocks_for(total, kThreads), kThreads, 0, x, y, batches, rows, cols);
}

void swap_dims(const float* x, float* y, int64_t outer, int64_t n0, int64_t mid, int64_t n1, int64_t inner) {
  int64_t total = outer * n0 * mid * n1 * inner;
  if (total > 0)
    launch("swap_dims_kernel", swap_dims_kernel, blocks_for(total, kThreads), kThreads, 0, x, y, outer, n0, mid, n1,
           inner);
}

void copy_chunks(const float* source, int64_t source_stride, float* destination, int64_t destination_stride,
                 int64_t outer, int64_t chunk) {
  if (outer * chunk > 0)
    launch("copy_chunks_kernel", copy_chunks_kernel, blocks_for(outer * chunk, kThreads), kThreads, 0, source,
           source_stride, destination, destination_stride, outer, chunk);
}

}  // namespace moments::cuda::MOMENTS_EXECUTOR
