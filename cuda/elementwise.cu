// cuda/elementwise.cu — the pointwise ops and broadcasting arithmetic of lib/ops.cpp
// as kernels: grid-stride loops over the output elements (runtime.hpp), four floats per
// load and store (float4) where the buffers are aligned and the shapes equal.
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
  for (int64_t i : grid_stride(n)) y[i] = forward(op, x[i], p);
}

// The same with x and y 16-byte aligned: four floats per load and store, then the n mod 4 last
// floats one by one. The same formula per float, so the same bits.
__global__ void unary4_kernel(Unary op, const float* x, float* y, int64_t n, float p) {
  const float4* x4 = reinterpret_cast<const float4*>(x);
  float4* y4 = reinterpret_cast<float4*>(y);
  for (int64_t i : grid_stride(n / 4)) {
    float4 v = x4[i];
    y4[i] = float4{forward(op, v.x, p), forward(op, v.y, p), forward(op, v.z, p), forward(op, v.w, p)};
  }
  for (int64_t i : grid_stride(n % 4)) y[n / 4 * 4 + i] = forward(op, x[n / 4 * 4 + i], p);
}

// g, x, y, dx: (n,). dx = g · dy/dx.
__global__ void unary_backward_kernel(Unary op, const float* g, const float* x, const float* y, float* dx, int64_t n,
                                      float p) {
  for (int64_t i : grid_stride(n)) dx[i] = g[i] * derivative(op, x[i], y[i], p);
}

__device__ inline float apply(Binary op, float x, float y) {
  switch (op) {
    case Binary::add: return x + y;
    case Binary::sub: return x - y;
    case Binary::mul: return x * y;
    case Binary::div: return x / y;
  }
  return x;
}

// out: layout.size (row-major); a and b are read through their strides along each of
// out's dims (0 where broadcast). Thread i finds its (i0, ..., ik) by peeling off the
// last dim first, as the odometer in ops.cpp's broadcast_rows counts.
__global__ void binary_kernel(Binary op, const float* a, const float* b, float* out, const BroadcastLayout layout,
                              int64_t total) {
  for (int64_t i : grid_stride(total)) {
    int64_t rest = i, a_offset = 0, b_offset = 0;
    for (int d = layout.rank - 1; d >= 0; --d) {
      int64_t index = rest % layout.size[d];
      rest /= layout.size[d];
      a_offset += index * layout.a_stride[d];
      b_offset += index * layout.b_stride[d];
    }
    out[i] = apply(op, a[a_offset], b[b_offset]);
  }
}

// a, b, out: (n,), same shape (no broadcasting), 16-byte aligned: four floats at a time, then the tail.
__global__ void binary4_kernel(Binary op, const float* a, const float* b, float* out, int64_t n) {
  const float4* a4 = reinterpret_cast<const float4*>(a);
  const float4* b4 = reinterpret_cast<const float4*>(b);
  float4* out4 = reinterpret_cast<float4*>(out);
  for (int64_t i : grid_stride(n / 4)) {
    float4 x = a4[i], y = b4[i];
    out4[i] = float4{apply(op, x.x, y.x), apply(op, x.y, y.y), apply(op, x.z, y.z), apply(op, x.w, y.w)};
  }
  for (int64_t i : grid_stride(n % 4)) out[n / 4 * 4 + i] = apply(op, a[n / 4 * 4 + i], b[n / 4 * 4 + i]);
}

// The same layout with fewer dims: dims of size 1 drop out, and a dim merges into the next when both
// operands step through the pair as through one dim (stride[d] = stride[d + 1] · size[d + 1] for a
// and for b, which holds for two broadcast dims too). So a (64, 128) + (64, 128) add becomes one dim
// of 8192 and a (64, 128) + (128,) bias add stays two; the kernel peels fewer dims per element.
BroadcastLayout merged(const BroadcastLayout& in) {
  BroadcastLayout out;
  for (int d = 0; d < in.rank; ++d) {
    if (in.size[d] == 1) continue;
    const int last = out.rank - 1;
    if (last >= 0 && out.a_stride[last] == in.a_stride[d] * in.size[d] &&
        out.b_stride[last] == in.b_stride[d] * in.size[d]) {
      out.size[last] *= in.size[d];  // the merged dim steps as the inner one
      out.a_stride[last] = in.a_stride[d];
      out.b_stride[last] = in.b_stride[d];
      continue;
    }
    out.size[out.rank] = in.size[d];
    out.a_stride[out.rank] = in.a_stride[d];
    out.b_stride[out.rank] = in.b_stride[d];
    ++out.rank;
  }
  return out;
}

void unary(Unary op, const float* x, float* y, int64_t n, float p) {
  if (n <= 0) return;
  if (aligned_for_float4(x, y))
    launch("unary4_kernel", unary4_kernel, element_blocks(n / 4 + 1, kThreads), kThreads, 0, op, x, y, n, p);
  else launch("unary_kernel", unary_kernel, element_blocks(n, kThreads), kThreads, 0, op, x, y, n, p);
}

void unary_backward(Unary op, const float* g, const float* x, const float* y, float* dx, int64_t n, float p) {
  if (n > 0)
    launch("unary_backward_kernel", unary_backward_kernel, element_blocks(n, kThreads), kThreads, 0, op, g, x, y, dx,
           n, p);
}

void binary(Binary op, const float* a, const float* b, float* out, const BroadcastLayout& layout) {
  int64_t total = 1;
  for (int d = 0; d < layout.rank; ++d) total *= layout.size[d];
  if (total == 0) return;
  const BroadcastLayout flat = merged(layout);
  const bool same_shape = flat.rank == 0 || (flat.rank == 1 && flat.a_stride[0] == 1 && flat.b_stride[0] == 1);
  if (same_shape && aligned_for_float4(a, b, out))
    launch("binary4_kernel", binary4_kernel, element_blocks(total / 4 + 1, kThreads), kThreads, 0, op, a, b, out,
           total);
  else
    launch("binary_kernel", binary_kernel, element_blocks(total, kThreads), kThreads, 0, op, a, b, out, flat, total);
}

}  // namespace moments::cuda::MOMENTS_EXECUTOR
