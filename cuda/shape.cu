// cuda/shape.cu — the copies behind transpose, concat and slice in lib/ops.cpp
// (tensors are contiguous, so these ops make new buffers). One thread per float.
#include "kernels.hpp"
#include "launch.hpp"

namespace moments::cuda::MOMENTS_EXECUTOR {

constexpr unsigned int kThreads = 256;  // threads per block

// x: (batches, rows, cols) → y: (batches, cols, rows). Thread k writes y's k-th float
// (consecutive threads write consecutive floats; the reads stride by cols).
__global__ void transpose_kernel(const float* x, float* y, int64_t batches, int64_t rows, int64_t cols) {
  int64_t k = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (k >= batches * rows * cols) return;
  int64_t batch = k / (rows * cols), rest = k % (rows * cols);
  int64_t c = rest / rows, r = rest % rows;  // y[batch, c, r] = x[batch, r, c]
  y[k] = x[batch * rows * cols + r * cols + c];
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

void copy_chunks(const float* source, int64_t source_stride, float* destination, int64_t destination_stride,
                 int64_t outer, int64_t chunk) {
  if (outer * chunk > 0)
    launch("copy_chunks_kernel", copy_chunks_kernel, blocks_for(outer * chunk, kThreads), kThreads, 0, source,
           source_stride, destination, destination_stride, outer, chunk);
}

}  // namespace moments::cuda::MOMENTS_EXECUTOR
