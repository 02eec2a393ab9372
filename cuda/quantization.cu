// cuda/quantization.cu — block-wise 8-bit quantization as kernels: the CUDA mirror of quantize_blockwise_cpu
// and dequantize_blockwise_cpu in lib/optim/quantization.cpp. One thread per block finds its absmax (a max
// does not depend on the order it is taken in, so this equals the CPU's), then one thread per element rounds
// with the same quantize_in_block (lib/optim/quantization_math.hpp). The map travels by value (1 KiB).
#include "kernels.hpp"
#include "launch.hpp"
#include "optim/quantization_math.hpp"

namespace moments::cuda::MOMENTS_EXECUTOR {


// x: (n,), absmax: (⌈n / block_size⌉,).
__global__ void absmax_kernel(const float* x, float* absmax, int64_t n, int64_t block_size) {
  int64_t b = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  int64_t begin = b * block_size;
  if (begin >= n) return;
  int64_t end = begin + block_size < n ? begin + block_size : n;
  float peak = 0.0f;
  for (int64_t i = begin; i < end; ++i) peak = absmax_fold(peak, x[i]);
  absmax[b] = peak;
}

// codes: n bytes inside (⌈n/4⌉,) floats.
__global__ void quantize_kernel(const float* x, float* codes, const float* absmax, int64_t n, int64_t block_size,
                                const DynamicMap map) {
  int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= n) return;
  code_bytes(codes)[i] = quantize_in_block(SearchRounder{&map}, x[i], 1.0f / absmax[i / block_size]);
}

__global__ void dequantize_kernel(const float* codes, const float* absmax, float* out, int64_t n, int64_t block_size,
                                  const DynamicMap map) {
  int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= n) return;
  out[i] = dequantize_code(map, code_bytes(codes)[i], absmax[i / block_size]);
}

void quantize_blockwise(const float* x, float* codes, float* absmax, int64_t n, int64_t block_size, const DynamicMap& map) {
  if (n <= 0) return;
  int64_t blocks = (n + block_size - 1) / block_size;
  launch("absmax_kernel", absmax_kernel, blocks_for(blocks, kThreads), kThreads, 0, x, absmax, n, block_size);
  launch("quantize_kernel", quantize_kernel, blocks_for(n, kThreads), kThreads, 0, x, codes,
         static_cast<const float*>(absmax), n, block_size, map);
}

void dequantize_blockwise(const float* codes, const float* absmax, float* out, int64_t n, int64_t block_size,
                          const DynamicMap& map) {
  if (n > 0)
    launch("dequantize_kernel", dequantize_kernel, blocks_for(n, kThreads), kThreads, 0, codes, absmax, out, n,
           block_size, map);
}

}  // namespace moments::cuda::MOMENTS_EXECUTOR
