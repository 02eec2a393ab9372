// cuda/shape.cu — the copies behind transpose (of the last two dims, or of any two), concat and slice in lib/ops.cpp
// (tensors are contiguous, so these ops make new buffers). One thread per float, except the transpose of the
// last two dims, which moves 32 × 32 tiles through shared memory. (matmul reads its operands transposed in place:
// linear and attention no longer transpose at all.)
#include "kernels.hpp"
#include "launch.hpp"

namespace moments::cuda::MOMENTS_EXECUTOR {


constexpr unsigned int kTransposeTile = 32;     // transpose: a 32 × 32 tile per block ...
constexpr unsigned int kTransposeRows = 8;  // ... of 32 × 8 threads, each moving 4 floats
constexpr unsigned int kTransposeGridYZ = 65535;

// x: (batches, rows, cols) → y: (batches, cols, rows), through a 32 × 32 tile in __shared__ memory:
// the block reads 32 rows of x along their length and writes 32 rows of y along theirs, so both the
// loads and the stores are coalesced (a thread per float of y would read x at a stride of cols).
// Tiles and batches beyond the grid are walked in loops, the same for the whole block.
__global__ void transpose_kernel(const float* __restrict__ x, float* __restrict__ y, int64_t batches, int64_t rows,
                                 int64_t cols) {
  MOMENTS_SHARED(float[kTransposeTile][kTransposeTile + 1], tile);  // +1: a column of the tile falls in 32 different banks
  const int64_t row_tiles = (rows + kTransposeTile - 1) / kTransposeTile, col_tiles = (cols + kTransposeTile - 1) / kTransposeTile;
  const unsigned int tx = threadIdx.x, ty = threadIdx.y;
  for (int64_t batch = blockIdx.z; batch < batches; batch += gridDim.z)
    for (int64_t row_tile = blockIdx.y; row_tile < row_tiles; row_tile += gridDim.y)
      for (int64_t col_tile = blockIdx.x; col_tile < col_tiles; col_tile += gridDim.x) {
        const float* xb = x + batch * rows * cols;
        float* yb = y + batch * rows * cols;
        const int64_t c = col_tile * kTransposeTile + tx;
        for (unsigned int dy = ty; dy < kTransposeTile; dy += kTransposeRows) {  // tile[dy][tx] = x[row0 + dy, col0 + tx]
          const int64_t r = row_tile * kTransposeTile + dy;
          if (r < rows && c < cols) tile[dy][tx] = xb[r * cols + c];
        }
        __syncthreads();  // the tile is complete
        const int64_t r = row_tile * kTransposeTile + tx;  // y[col0 + dy, row0 + tx] = x[row0 + tx, col0 + dy]
        for (unsigned int dy = ty; dy < kTransposeTile; dy += kTransposeRows) {
          const int64_t c_out = col_tile * kTransposeTile + dy;
          if (r < rows && c_out < cols) yb[c_out * rows + r] = tile[tx][dy];
        }
        __syncthreads();  // everyone has read the tile before the next one overwrites it
      }
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
  if (batches * rows * cols == 0) return;
  const int64_t row_tiles = (rows + kTransposeTile - 1) / kTransposeTile, col_tiles = (cols + kTransposeTile - 1) / kTransposeTile;
  auto capped = [](int64_t count, int64_t limit) { return static_cast<unsigned int>(count < limit ? count : limit); };
  const dim3 grid(capped(col_tiles, int64_t{1} << 30), capped(row_tiles, kTransposeGridYZ), capped(batches, kTransposeGridYZ));
  launch("transpose_kernel", transpose_kernel, grid, dim3(kTransposeTile, kTransposeRows), 0, x, y, batches, rows, cols);
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
