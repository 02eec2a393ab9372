// cuda/matmul.cu — C = A @ B for row-major float matrices, batched: three ways, each
// tested against the others (tests/cuda/test_cuda_ops.cpp).
//   v1 naive_kernel  one thread per C[i, j], reading a row of A and a column of B
//                    straight from global memory: the definition, as a loop.
//   v2 tiled_kernel  a block of 16 × 16 threads computes a 16 × 16 tile of C; A and B
//                    pass through __shared__ memory one 16 × 16 tile at a time, so each
//                    float read from global memory is used 16 times (Kirk & Hwu,
//                    "Programming Massively Parallel Processors", ch. 5).
//   cuBLAS           the vendor library's SGEMM (cublasSgemmStridedBatched): the fast
//                    path on a GPU, and what v1 and v2 are checked against there. The
//                    emulator has no cuBLAS: asking for it there throws, and `fastest`
//                    means v2.
// v1 and v2 both add A[i, p] B[p, j] for p = 0, 1, ..., k-1 left to right, one rounding
// per multiply and per add (nvcc runs with -fmad=false), so they agree bit for bit;
// cuBLAS and the CPU's Eigen group the sums differently.
//
// Shapes: a (batches, m, k), b (batches, k, n), c (batches, m, n); a batch stride of 0
// for b means one (k, n) matrix for every batch. transpose_a: a is stored (batches, k, m)
// and read as its transpose; transpose_b: b is stored (batches, n, k). No copy is made:
// the kernels index the stored layout, cuBLAS takes CUBLAS_OP_T. Row tiles beyond the grid's y limit and
// batches beyond its z limit (65535 each) are walked by the blocks in a loop.
#include "kernels.hpp"
#include "launch.hpp"

#if defined(__CUDACC__)
#include <cublas_v2.h>

#include <cstdlib>
#include <string>
#endif

namespace moments::cuda::MOMENTS_EXECUTOR {

constexpr unsigned int kTile = 16;         // v2: the tile edge, and the block is kTile × kTile threads
constexpr unsigned int kMaxGridY = 65535;  // CUDA's limits on gridDim.y and gridDim.z: row tiles and batches
constexpr unsigned int kMaxGridZ = 65535;  // beyond them are walked by the blocks in a loop

__global__ void naive_kernel(const float* a, const float* b, float* c, int64_t batches, int64_t m, int64_t k,
                             int64_t n, int64_t a_batch_stride, int64_t b_batch_stride, bool ta, bool tb) {
  int64_t j = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;  // column of C
  if (j >= n) return;
  for (int64_t i = static_cast<int64_t>(blockIdx.y) * blockDim.y + threadIdx.y; i < m;
       i += static_cast<int64_t>(gridDim.y) * blockDim.y)  // row of C: more rows than the grid has, in a loop
    for (int64_t batch = blockIdx.z; batch < batches; batch += gridDim.z) {
      const float* A = a + batch * a_batch_stride;
      const float* B = b + batch * b_batch_stride;
      float total = 0.0f;
      for (int64_t p = 0; p < k; ++p) total += (ta ? A[p * m + i] : A[i * k + p]) * (tb ? B[j * k + p] : B[p * n + j]);
      c[batch * m * n + i * n + j] = total;
    }
}

__global__ void tiled_kernel(const float* a, const float* b, float* c, int64_t batches, int64_t m, int64_t k,
                             int64_t n, int64_t a_batch_stride, int64_t b_batch_stride, bool ta, bool tb) {
  MOMENTS_SHARED(float[kTile][kTile], a_tile);  // A[i0 .. i0+15, p0 .. p0+15]
  MOMENTS_SHARED(float[kTile][kTile], b_tile);  // B[p0 .. p0+15, j0 .. j0+15]
  unsigned int ty = threadIdx.y, tx = threadIdx.x;
  int64_t j = static_cast<int64_t>(blockIdx.x) * kTile + tx;  // this thread's C[i, j]
  const int64_t row_tiles = (m + kTile - 1) / kTile;
  for (int64_t row_tile = blockIdx.y; row_tile < row_tiles; row_tile += gridDim.y) {  // the same for the whole block
    int64_t i = row_tile * kTile + ty;
    for (int64_t batch = blockIdx.z; batch < batches; batch += gridDim.z) {
      const float* A = a + batch * a_batch_stride;
      const float* B = b + batch * b_batch_stride;
      float total = 0.0f;
      for (int64_t p0 = 0; p0 < k; p0 += kTile) {
        // Each thread loads one float of each tile; outside the matrices, a zero.
        a_tile[ty][tx] = i < m && p0 + tx < k ? (ta ? A[(p0 + tx) * m + i] : A[i * k + p0 + tx]) : 0.0f;
        b_tile[ty][tx] = p0 + ty < k && j < n ? (tb ? B[j * k + p0 + ty] : B[(p0 + ty) * n + j]) : 0.0f;
        __syncthreads();  // both tiles are complete
        int64_t steps = k - p0 < kTile ? k - p0 : kTile;  // the last tile may be partial
        for (int64_t p = 0; p < steps; ++p) total += a_tile[ty][p] * b_tile[p][tx];
        __syncthreads();  // everyone is done with the tiles before they are overwritten
      }
      if (i < m && j < n) c[batch * m * n + i * n + j] = total;
    }
  }
}

#if defined(__CUDACC__)
namespace {
const char* cublas_status(cublasStatus_t status) { return cublasGetStatusString(status); }

cublasHandle_t cublas_handle() {
  static cublasHandle_t handle = [] {
    cublasHandle_t h = nullptr;
    cublasStatus_t status = cublasCreate(&h);
    if (status != CUBLAS_STATUS_SUCCESS) fail("cublasCreate: ", cublas_status(status));
    // The math mode, explicitly: FP32 (CUBLAS_DEFAULT_MATH, no tensor-core rounding) by default;
    // TF32 tensor cores (10-bit mantissas in the products, about 1e-3 relative error) only when
    // asked, with MOMENTS_CUDA_TF32=1.
    const char* tf32 = std::getenv("MOMENTS_CUDA_TF32");
    const bool use_tf32 = tf32 && std::string(tf32) == "1";
    status = cublasSetMathMode(h, use_tf32 ? CUBLAS_TF32_TENSOR_OP_MATH : CUBLAS_DEFAULT_MATH);
    if (status != CUBLAS_STATUS_SUCCESS) fail("cublasSetMathMode: ", cublas_status(status));
    return h;
  }();
  return handle;
}

// Row-major C = A B is column-major Cᵀ = Bᵀ Aᵀ: cuBLAS multiplies the same buffers with
// the operands swapped, and nothing is transposed in memory.
// A stored transposed (k, m) is, read column-major, op(A)ᵀ's transpose: the flag becomes CUBLAS_OP_T
// and the leading dimension m; likewise for B (stored (n, k), leading dimension k).
void cublas_matmul(const float* a, const float* b, float* c, int64_t batches, int64_t m, int64_t k, int64_t n,
                   int64_t a_batch_stride, int64_t b_batch_stride, bool ta, bool tb) {
  const float one = 1.0f, zero = 0.0f;
  ++live_counters().launches;
  cublasStatus_t status = cublasSgemmStridedBatched(
      cublas_handle(), tb ? CUBLAS_OP_T : CUBLAS_OP_N, ta ? CUBLAS_OP_T : CUBLAS_OP_N, static_cast<int>(n),
      static_cast<int>(m), static_cast<int>(k), &one, b, static_cast<int>(tb ? k : n), b_batch_stride, a,
      static_cast<int>(ta ? m : k), a_batch_stride, &zero, c, static_cast<int>(n), m * n, static_cast<int>(batches));
  if (status != CUBLAS_STATUS_SUCCESS) fail("cublasSgemmStridedBatched: ", cublas_status(status));
}
}  // namespace

bool has_cublas() { return true; }
#else
bool has_cublas() { return false; }
#endif

void matmul(MatmulKernel kernel, const float* a, const float* b, float* c, int64_t batches, int64_t m, int64_t k,
            int64_t n, int64_t a_batch_stride, int64_t b_batch_stride, bool transpose_a, bool transpose_b) {
  if (batches * m * n == 0) return;
  if (k == 0) return fill(c, batches * m * n, 0.0f);  // an empty sum
  if (kernel == MatmulKernel::fastest) kernel = has_cublas() ? MatmulKernel::cublas : MatmulKernel::tiled_v2;
  unsigned int grid_z = static_cast<unsigned int>(batches < kMaxGridZ ? batches : kMaxGridZ);
  dim3 block(kTile, kTile);
  unsigned int row_tiles = blocks_for(m, kTile);
  dim3 grid(blocks_for(n, kTile), row_tiles < kMaxGridY ? row_tiles : kMaxGridY, grid_z);
  switch (kernel) {
    case MatmulKernel::naive_v1:
      return launch("matmul naive_kernel (v1)", naive_kernel, grid, block, 0, a, b, c, batches, m, k, n,
                    a_batch_stride, b_batch_stride, transpose_a, transpose_b);
    case MatmulKernel::tiled_v2:
      return launch("matmul tiled_kernel (v2)", tiled_kernel, grid, block, 0, a, b, c, batches, m, k, n,
                    a_batch_stride, b_batch_stride, transpose_a, transpose_b);
    case MatmulKernel::cublas:
#if defined(__CUDACC__)
      return cublas_matmul(a, b, c, batches, m, k, n, a_batch_stride, b_batch_stride, transpose_a, transpose_b);
#else
      fail("matmul: cuBLAS does not run on the CPU emulator (it is NVIDIA's library, not a kernel of ours); "
           "use MatmulKernel::tiled_v2, which stands in for it");
#endif
    case MatmulKernel::fastest: break;
  }
}

}  // namespace moments::cuda::MOMENTS_EXECUTOR
