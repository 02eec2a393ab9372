// cuda/elementwise.cu — the pointwise ops and broadcasting arithmetic of lib/ops.cpp
// as kernels: one thread per output element.
//   unary_kernel           y = f(x)            (exp, log, sqrt, pow, relu, gelu, gelu_erf, tanh, sigmoid, neg)
//   unary_backward_kernel  dx = g · f'(x, y)   (the derivative column of ops.hpp's index)
//   binary_kernel          out = a ∘ b         (add, sub, mul, div; NumPy broadcasting)
// The formulas are the CPU's: expf/logf/sqrtf/powf/tanhf as in ops.cpp's lambdas, and
// the rest from lib/elementwise.hpp, which both sides include. On the emulator they
// round exactly as the CPU loops; on a GPU the CUDA math library's expf, logf, powf,
// erff and tanhf may differ from glibc's in the last bit or two (tests allow for it).
#include "elementwise.hpp"
#include "kernels.hpp"
#include "launch.hpp"

namespace moments::cuda::MOMENTS_EXECUTOR {

namespace ew = ::moments::elementwise;


__device__ inline float forward(Unary op, float x, float p) {
  switch (op) {
    case Unary::neg: return -x;
    case Unary::exp: return expf(x);
    case Unary::log: return logf(x);
    case Unary::sqrt: return sqrtf(x);
    case Unary::pow: return powf(x, p);
    case Unary::relu: return ew::relu(x);
    case Unary::gelu: return ew::gelu(x);
    case Unary::gelu_erf: return ew::gelu_erf(x);
    case Unary::tanh: return tanhf(x);
    case Unary::sigmoid: return ew::sigmoid(x);
  }
  return x;
}

// dy/dx from the input x and the output y, whichever the formula needs.
__device__ inline float derivative(Unary op, float x, float y, float p) {
  switch (op) {
    case Unary::neg: return -1.0f;
    case Unary::exp: return y;
    case Unary::log: return 1.0f / x;
    case Unary::sqrt: return 0.5f / y;
    case Unary::pow: return ew::pow_grad(x, p);
    case Unary::relu: return ew::relu_grad(x);
    case Unary::gelu: return ew::gelu_grad(x);
    case Unary::gelu_erf: return ew::gelu_erf_grad(x);
    case Unary::tanh: return ew::tanh_grad_from_output(y);
    case Unary::sigmoid: return ew::sigmoid_grad_from_output(y);
  }
  return 0.0f;
}

// x, y: (n,). p: the exponent of pow (unused by the others).
__global__ void unary_kernel(Unary op, const float* x, float* y, int64_t n, float p) {
  int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i < n) y[i] = forward(op, x[i], p);
}

// g, x, y, dx: (n,). dx = g · dy/dx.
__global__ void unary_backward_kernel(Unary op, const float* g, const float* x, const float* y, float* dx, int64_t n,
                                      float p) {
  int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i < n) dx[i] = g[i] * derivative(op, x[i], y[i], p);
}

// out: layout.size (row-major); a and b are read through their strides along each of
// out's dims (0 where broadcast). Thread i finds its (i0, ..., ik) by peeling off the
// last dim first, as the odometer in ops.cpp's broadcast_rows counts.
__global__ void binary_kernel(Binary op, const float* a, const float* b, float* out, const BroadcastLayout layout,
                              int64_t total) {
  int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= total) return;
  int64_t rest = i, a_offset = 0, b_offset = 0;
  for (int d = layout.rank - 1; d >= 0; --d) {
    int64_t index = rest % layout.size[d];
    rest /= layout.size[d];
    a_offset += index * layout.a_stride[d];
    b_offset += index * layout.b_stride[d];
  }
  float x = a[a_offset], y = b[b_offset];
  switch (op) {
    case Binary::add: out[i] = x + y; break;
    case Binary::sub: out[i] = x - y; break;
    case Binary::mul: out[i] = x * y; break;
    case Binary::div: out[i] = x / y; break;
  }
}

void unary(Unary op, const float* x, float* y, int64_t n, float p) {
  if (n > 0) launch("unary_kernel", unary_kernel, blocks_for(n, kThreads), kThreads, 0, op, x, y, n, p);
}

void unary_backward(Unary op, const float* g, const float* x, const float* y, float* dx, int64_t n, float p) {
  if (n > 0)
    launch("unary_backward_kernel", unary_backward_kernel, blocks_for(n, kThreads), kThreads, 0, op, g, x, y, dx, n, p);
}

void binary(Binary op, const float* a, const float* b, float* out, const BroadcastLayout& layout) {
  int64_t total = 1;
  for (int d = 0; d < layout.rank; ++d) total *= layout.size[d];
  if (total > 0)
    launch("binary_kernel", binary_kernel, blocks_for(total, kThreads), kThreads, 0, op, a, b, out, layout, total);
}

}  // namespace moments::cuda::MOMENTS_EXECUTOR
