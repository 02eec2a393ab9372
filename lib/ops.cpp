// ops.cpp — forward and backward of every op, side by side. The derivative
// rules are indexed at the top of ops.hpp. CPU kernels run on Eigen maps over
// the tensors' own buffers; backward functions are written with the ops
// themselves (autograd runs them under NoGradGuard).
#include "ops.hpp"

#include <Eigen/Core>
#include <unsupported/Eigen/SpecialFunctions>  // Eigen's vectorized erf, for gelu_erf
#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#include "autograd.hpp"
#include "elementwise.hpp"
#include "ops_cuda.hpp"  // the Device::cuda side: kernels in cuda/
#include "parallel.hpp"
#include "random.hpp"

namespace moments {

namespace {

using Array = Eigen::Map<Eigen::ArrayXf>;
using ConstArray = Eigen::Map<const Eigen::ArrayXf>;
using RowMatrix = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using Matrix = Eigen::Map<RowMatrix>;
using ConstMatrix = Eigen::Map<const RowMatrix>;
using Grads = std::vector<Tensor>;

// A shape-[] tensor holding `value` on `like`'s device (the scalar operand of a + 1.0f).
Tensor scalar_on(float value, const Tensor& like) {
  return like.device() == Device::cpu ? Tensor::scalar(value) : Tensor::full({}, value, like.device());
}

void check_device(const char* op, const Tensor& a, const Tensor& b) {
  if (a.device() != b.device())
    fail(op, ": tensors are on different devices (", device_name(a.device()), " and ", device_name(b.device()),
         "); move one with .to()");
}

// A dim in [-n, n) becomes [0, n).
int64_t normalize_dim(const char* op, int64_t dim, const Shape& shape) {
  auto n = static_cast<int64_t>(shape.size());
  if (dim < -n || dim >= n) fail(op, ": dim ", dim, " is out of range for shape ", shape_str(shape));
  return dim < 0 ? dim + n : dim;
}

// Sizes before, at and after `dim`: the tensor as an (outer, n, inner) block.
struct Split {
  int64_t outer = 1, n = 1, inner = 1;
};
Split split_at(const Shape& shape, int64_t dim) {
  Split s;
  for (int64_t d = 0; d < static_cast<int64_t>(shape.size()); ++d) {
    if (d < dim) s.outer *= shape[d];
    else if (d == dim) s.n = shape[d];
    else s.inner *= shape[d];
  }
  return s;
}

// Eigen picks its matrix-product blocking from the processor's cache sizes,
// and the blocking decides how partial sums are grouped: two machines could
// round the same matmul differently. Fixed sizes give the same bits everywhere.
// (An L3 of 8 MB made 512² products 25% slower than Eigen's own blocking here;
// 32 MB does not, and splits the depth, which sets the rounding, the same way.)
void use_fixed_gemm_blocking() {
  static const bool done = [] {
    Eigen::setCpuCacheSizes(32 * 1024, 1024 * 1024, 32 * 1024 * 1024);  // L1, L2, L3 in bytes
    return true;
  }();
  (void)done;
}

// ---- threads: fixed chunks, so the bits do not depend on the thread count (parallel.hpp) ---------------

// A matrix product is split into blocks of output columns, each a one-thread Eigen product. For a row-major
// result Eigen computes the transposed product, so our columns are the rows of its kernel, which it takes
// mr = 3 packets at a time (12 floats with SSE, 24 with AVX, 48 with AVX-512), and the leftover rows by
// another path that groups the sums differently. Blocks of 96 columns, a multiple of every mr, keep every
// element on the path it takes in the unsplit product, and Eigen's depth blocking depends on K alone, so
// the bits are those of one Eigen call, whatever the thread count (tests/test_parallel.cpp checks many
// shapes). Blocks of 64 or 128 did not: 256×64 @ 64×784 and 512³ differed in the last bit with AVX2.
// The last block takes the remainder (96 to 191 columns), so no block falls onto Eigen's matrix-vector or
// small-size paths, which round differently too.
constexpr int64_t kGemmColumns = 96;
// Below this many multiply-adds a product stays one call on one thread (the numbers are in parallel.cpp).
constexpr int64_t kGemmFlopsPerChunk = int64_t{1} << 21;

// Calls product(batch, j0, cols) for every block [j0, j0 + cols) of output columns of `batches` products of
// shape (m, k) @ (k, n); blocks of different batches run on different threads too.
template <class Product>
void for_each_gemm_block(int64_t batches, int64_t m, int64_t k, int64_t n, const Product& product) {
  int64_t blocks = m * k * n < kGemmFlopsPerChunk ? 1 : std::max<int64_t>(1, n / kGemmColumns);  // small: one block
  int64_t block_flops = std::max<int64_t>(1, m * k * (n / blocks));
  int64_t per_chunk = std::max<int64_t>(1, kGemmFlopsPerChunk / block_flops);  // blocks per chunk
  parallel_for(batches * blocks, per_chunk, [&](int64_t begin, int64_t end) {
    for (int64_t item = begin; item < end; ++item) {
      int64_t batch = item / blocks, j0 = item % blocks * kGemmColumns;
      product(batch, j0, item % blocks == blocks - 1 ? n - j0 : kGemmColumns);
    }
  });
}

// out (m, n) = lhs (m, k) @ rhs (k, n), by column blocks; lhs and rhs are Eigen matrix expressions.
template <class Lhs, class Rhs>
void gemm(Matrix out, const Lhs& lhs, const Rhs& rhs) {
  for_each_gemm_block(1, out.rows(), lhs.cols(), out.cols(), [&](int64_t, int64_t j0, int64_t cols) {
    out.middleCols(j0, cols).noalias() = lhs * rhs.middleCols(j0, cols);
  });
}

// How many rows of `row_length` elements make a chunk of about kElementsPerChunk elements (at least one).
int64_t rows_per_chunk(int64_t row_length) { return std::max<int64_t>(1, kElementsPerChunk / std::max<int64_t>(1, row_length)); }

// ---- broadcasting machinery ------------------------------------------------

// Stride of `in` along each dim of `out` (0 where `in` is broadcast).
std::vector<int64_t> broadcast_strides(const Shape& in, const Shape& out) {
  std::vector<int64_t> strides(out.size(), 0);
  int64_t stride = 1;
  for (size_t i = 0; i < in.size(); ++i) {
    size_t d_in = in.size() - 1 - i, d_out = out.size() - 1 - i;
    strides[d_out] = in[d_in] == 1 ? 0 : stride;
    stride *= in[d_in];
  }
  return strides;
}

// Walks `out` as rows along its last dim. For each row, calls
// body(a_offset, a_step, b_offset, b_step, out_offset, n): the row's first
// element in a, b and out, and whether a and b advance along it (step 1) or
// repeat one element (step 0, broadcast). Rows [row_begin, row_end) only, if given.
template <class Body>
void broadcast_rows(const Shape& out, const Shape& a, const Shape& b, Body&& body, int64_t row_begin = 0,
                    int64_t row_end = -1) {
  size_t k = out.size();
  int64_t n = k ? out[k - 1] : 1;
  if (row_end < 0) row_end = n ? shape_numel(out) / n : 0;
  if (row_begin >= row_end) return;
  std::vector<int64_t> sa = broadcast_strides(a, out), sb = broadcast_strides(b, out);
  int64_t a_step = k ? sa[k - 1] : 0, b_step = k ? sb[k - 1] : 0;
  std::vector<int64_t> index(k ? k - 1 : 0, 0);
  int64_t ao = 0, bo = 0;
  for (int64_t d = static_cast<int64_t>(k) - 2, rest = row_begin; d >= 0; --d) {  // the odometer at row_begin
    index[d] = rest % out[d];
    rest /= out[d];
    ao += index[d] * sa[d];
    bo += index[d] * sb[d];
  }
  for (int64_t row = row_begin; row < row_end; ++row) {
    body(ao, a_step, bo, b_step, row * n, n);
    for (int64_t d = static_cast<int64_t>(k) - 2; d >= 0; --d) {  // odometer over the leading dims
      if (++index[d] < out[d]) {
        ao += sa[d];
        bo += sb[d];
        break;
      }
      ao -= sa[d] * (out[d] - 1);
      bo -= sb[d] * (out[d] - 1);
      index[d] = 0;
    }
  }
}

// broadcast_rows over chunks of rows on the threads (the contiguous case as chunks of elements): for ops
// whose body writes only its own row of `out`.
template <class Body>
void broadcast_rows_parallel(const Shape& out, const Shape& a, const Shape& b, const Body& body) {
  int64_t total = shape_numel(out);
  if (total == 0) return;
  bool a_whole = a == out, b_whole = b == out;  // else broadcast
  if ((a_whole || shape_numel(a) == 1) && (b_whole || shape_numel(b) == 1)) {  // contiguous, or with a scalar
    parallel_for(total, kElementsPerChunk, [&](int64_t begin, int64_t end) {
      body(a_whole ? begin : 0, int64_t{a_whole}, b_whole ? begin : 0, int64_t{b_whole}, begin, end - begin);
    });
    return;
  }
  int64_t n = out.empty() ? 1 : out.back();
  parallel_for(total / n, rows_per_chunk(n), [&](int64_t begin, int64_t end) { broadcast_rows(out, a, b, body, begin, end); });
}

// out = f(a, b) elementwise with broadcasting. f is written once for Eigen
// arrays and floats alike, e.g. [](const auto& x, const auto& y) { return x + y; }.
template <class F>
Tensor broadcast_binary(cuda::Binary op, const Tensor& a, const Tensor& b, const Shape& out_shape, F f) {
  if (a.device() == Device::cuda) return cuda_ops::binary(op, a, b, out_shape);
  Tensor out = Tensor::empty(out_shape, a.device());
  const float* pa = a.data();
  const float* pb = b.data();
  float* po = out.data();
  broadcast_rows_parallel(out_shape, a.shape(), b.shape(),
                 [&](int64_t ao, int64_t a_step, int64_t bo, int64_t b_step, int64_t oo, int64_t n) {
                   Array o(po + oo, n);
                   if (a_step && b_step) o = f(ConstArray(pa + ao, n), ConstArray(pb + bo, n));
                   else if (a_step) o = f(ConstArray(pa + ao, n), pb[bo]);
                   else if (b_step) o = f(pa[ao], ConstArray(pb + bo, n));
                   else o.setConstant(f(pa[ao], pb[bo]));
                 });
  return out;
}

// `t` repeated along broadcast dims to `shape`.
Tensor broadcast_to(const Tensor& t, const Shape& shape) {
  if (t.shape() == shape) return t;
  if (t.device() == Device::cuda) return cuda_ops::broadcast_to(t, shape);
  return broadcast_binary(cuda::Binary::add, t, Tensor::scalar(0.0f), shape, [](const auto& x, const auto&) { return x + 0.0f; });
}

// ---- pointwise machinery ---------------------------------------------------

template <class F>
Tensor map(const Tensor& a, F f) {
  Tensor out = Tensor::empty(a.shape(), a.device());
  const float* x = a.data();
  float* y = out.data();
  parallel_for(a.numel(), kElementsPerChunk, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) y[i] = f(x[i]);
  });
  return out;
}

// g * derivative(x_i, y_i), elementwise.
template <class D>
Tensor chain(const Tensor& g, const Tensor& x, const Tensor& y, D derivative) {
  Tensor out = Tensor::empty(g.shape(), g.device());
  const float* pg = g.data();
  const float* px = x.data();
  const float* py = y.data();
  float* po = out.data();
  parallel_for(g.numel(), kElementsPerChunk, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) po[i] = pg[i] * derivative(px[i], py[i]);
  });
  return out;
}

// A pointwise op: forward f(x), and dy/dx from (x, y).
// p: pow's exponent, for the cuda kernels (the CPU lambdas capture it).
template <class F, class D>
Tensor pointwise(const char* op, const Tensor& a, F f, D derivative, float p = 0.0f) {
  Tensor out = a.device() == Device::cuda ? cuda_ops::unary(op, a, p) : map(a, f);
  if (needs_grad({&a}))
    record(out, op, {a}, [x = a.detach(), y = out.detach(), derivative, op, p](const Tensor& g) {
      if (g.device() == Device::cuda) return Grads{cuda_ops::unary_backward(op, g, x, y, p)};
      return Grads{chain(g, x, y, derivative)};
    });
  return out;
}

}  // namespace

// ============================================================================
// elementwise arithmetic with broadcasting
// ============================================================================

Shape broadcast_shapes(const Shape& a, const Shape& b, const char* op) {
  size_t k = std::max(a.size(), b.size());
  Shape out(k);
  for (size_t i = 0; i < k; ++i) {
    int64_t da = i < a.size() ? a[a.size() - 1 - i] : 1;
    int64_t db = i < b.size() ? b[b.size() - 1 - i] : 1;
    if (da != db && da != 1 && db != 1)
      fail(op, ": shapes ", shape_str(a), " and ", shape_str(b), " cannot be broadcast (dim -", i + 1, ": ", da,
           " vs ", db, "; sizes must match or be 1)");
    out[k - 1 - i] = da == 1 ? db : da;
  }
  checked_numel(out, op);  // (2^23, 1) with (1, 2^23) is a shape of 2^46 elements, past the limit
  return out;
}

Tensor sum_to(const Tensor& grad, const Shape& shape) {
  if (grad.shape() == shape) return grad;
  if (broadcast_shapes(shape, grad.shape(), "sum_to") != grad.shape())
    fail("sum_to: shape ", shape_str(shape), " does not broadcast to ", shape_str(grad.shape()));
  if (grad.device() == Device::cuda) return cuda_ops::sum_to(grad, shape);
  Tensor out = Tensor::zeros(shape, grad.device());
  float* po = out.data();
  const float* pg = grad.data();
  int64_t n = grad.shape().back(), rows = grad.numel() / std::max<int64_t>(n, 1);
  if (!shape.empty() && shape.back() != 1) {
    // The last dim is kept: each thread adds a fixed range of columns over all rows, in row order.
    parallel_for(n, std::max<int64_t>(64, kElementsPerChunk / std::max<int64_t>(rows, 1)), [&](int64_t c0, int64_t c1) {
      broadcast_rows(grad.shape(), shape, grad.shape(), [&](int64_t oo, int64_t, int64_t go, int64_t, int64_t, int64_t) {
        Array(po + oo + c0, c1 - c0) += ConstArray(pg + go + c0, c1 - c0);
      });
    });
    return out;
  }
  broadcast_rows(grad.shape(), shape, grad.shape(), [&](int64_t oo, int64_t, int64_t go, int64_t, int64_t, int64_t) {
    po[oo] += ConstArray(pg + go, n).sum();  // the last dim is summed too: one thread (outputs are shared)
  });
  return out;
}

void add_(Tensor a, const Tensor& b) {
  check_device("add_", a, b);
  if (broadcast_shapes(a.shape(), b.shape(), "add_") != a.shape())
    fail("add_: ", shape_str(b.shape()), " cannot be added in place to ", shape_str(a.shape()),
         " (it would change the shape)");
  if (a.device() == Device::cuda) return cuda_ops::add_in_place(a, b);
  float* pa = a.data();
  const float* pb = b.data();
  broadcast_rows_parallel(a.shape(), a.shape(), b.shape(), [&](int64_t ao, int64_t, int64_t bo, int64_t b_step, int64_t, int64_t n) {
    if (b_step) Array(pa + ao, n) += ConstArray(pb + bo, n);
    else Array(pa + ao, n) += pb[bo];
  });
}

Tensor add(const Tensor& a, const Tensor& b) {
  check_device("add", a, b);
  Tensor out = broadcast_binary(cuda::Binary::add, a, b, broadcast_shapes(a.shape(), b.shape(), "add"),
                                [](const auto& x, const auto& y) { return x + y; });
  if (needs_grad({&a, &b}))
    record(out, "add", {a, b}, [sa = a.shape(), sb = b.shape()](const Tensor& g) {
      return Grads{sum_to(g, sa), sum_to(g, sb)};  // da = g, db = g
    });
  return out;
}

Tensor sub(const Tensor& a, const Tensor& b) {
  check_device("sub", a, b);
  Tensor out = broadcast_binary(cuda::Binary::sub, a, b, broadcast_shapes(a.shape(), b.shape(), "sub"),
                                [](const auto& x, const auto& y) { return x - y; });
  if (needs_grad({&a, &b}))
    record(out, "sub", {a, b}, [sa = a.shape(), sb = b.shape()](const Tensor& g) {
      return Grads{sum_to(g, sa), sum_to(neg(g), sb)};  // da = g, db = -g
    });
  return out;
}

Tensor mul(const Tensor& a, const Tensor& b) {
  check_device("mul", a, b);
  Tensor out = broadcast_binary(cuda::Binary::mul, a, b, broadcast_shapes(a.shape(), b.shape(), "mul"),
                                [](const auto& x, const auto& y) { return x * y; });
  if (needs_grad({&a, &b}))
    record(out, "mul", {a, b}, [a = a.detach(), b = b.detach(), ra = a.requires_grad(), rb = b.requires_grad()](const Tensor& g) {
      return Grads{ra ? sum_to(mul(g, b), a.shape()) : Tensor(),   // da = g * b
                   rb ? sum_to(mul(g, a), b.shape()) : Tensor()};  // db = g * a
    });
  return out;
}

Tensor div(const Tensor& a, const Tensor& b) {
  check_device("div", a, b);
  Tensor out = broadcast_binary(cuda::Binary::div, a, b, broadcast_shapes(a.shape(), b.shape(), "div"),
                                [](const auto& x, const auto& y) { return x / y; });
  if (needs_grad({&a, &b}))
    record(out, "div", {a, b}, [a = a.detach(), b = b.detach(), ra = a.requires_grad(), rb = b.requires_grad()](const Tensor& g) {
      Tensor g_over_b = div(g, b);
      return Grads{ra ? sum_to(g_over_b, a.shape()) : Tensor(),                     // da = g / b
                   rb ? sum_to(neg(div(mul(g_over_b, a), b)), b.shape()) : Tensor()};  // db = -g a / b^2
    });
  return out;
}

Tensor neg(const Tensor& a) {
  Tensor out = a.device() == Device::cuda ? cuda_ops::unary("neg", a, 0.0f) : map(a, [](float x) { return -x; });
  if (needs_grad({&a})) record(out, "neg", {a}, [](const Tensor& g) { return Grads{neg(g)}; });
  return out;
}

Tensor add(const Tensor& a, float b) { return add(a, scalar_on(b, a)); }
Tensor mul(const Tensor& a, float b) { return mul(a, scalar_on(b, a)); }

Tensor operator+(const Tensor& a, const Tensor& b) { return add(a, b); }
Tensor operator-(const Tensor& a, const Tensor& b) { return sub(a, b); }
Tensor operator*(const Tensor& a, const Tensor& b) { return mul(a, b); }
Tensor operator/(const Tensor& a, const Tensor& b) { return div(a, b); }
Tensor operator-(const Tensor& a) { return neg(a); }
Tensor operator+(const Tensor& a, float b) { return add(a, scalar_on(b, a)); }
Tensor operator+(float a, const Tensor& b) { return add(scalar_on(a, b), b); }
Tensor operator-(const Tensor& a, float b) { return sub(a, scalar_on(b, a)); }
Tensor operator-(float a, const Tensor& b) { return sub(scalar_on(a, b), b); }
Tensor operator*(const Tensor& a, float b) { return mul(a, scalar_on(b, a)); }
Tensor operator*(float a, const Tensor& b) { return mul(scalar_on(a, b), b); }
Tensor operator/(const Tensor& a, float b) { return div(a, scalar_on(b, a)); }
Tensor operator/(float a, const Tensor& b) { return div(scalar_on(a, b), b); }

// ============================================================================
// linear algebra and shape
// ============================================================================

namespace {
// matmul's backward on cuda: the same products as the CPU's below, with Bᵀ and Aᵀ read where they are.
std::vector<Tensor> cuda_matmul_grads(const Tensor& a, const Tensor& b, const Tensor& g, bool ra, bool rb) {
  Tensor ga, gb;
  if (b.dim() == 2 && a.dim() == 3) {  // one B for every batch: (batches·M, ·) products
    const int64_t rows = a.size(0) * a.size(1);
    if (ra) ga = reshape(cuda_ops::product(reshape(g, {rows, g.size(2)}), false, b, true), a.shape());  // dA = g @ B^T
    if (rb) gb = cuda_ops::product(reshape(a, {rows, a.size(2)}), true, reshape(g, {rows, g.size(2)}), false);  // dB = Σ A_i^T g_i
  } else {
    if (ra) ga = cuda_ops::product(g, false, b, true);  // dA = g @ B^T
    if (rb) gb = cuda_ops::product(a, true, g, false);  // dB = A^T @ g
  }
  return {ga, gb};
}
}  // namespace

Tensor matmul(const Tensor& a, const Tensor& b) {
  use_fixed_gemm_blocking();
  check_device("matmul", a, b);
  const Shape& sa = a.shape();
  const Shape& sb = b.shape();
  bool ok = (a.dim() == 2 && b.dim() == 2) || (a.dim() == 3 && b.dim() == 3 && sa[0] == sb[0]) ||
            (a.dim() == 3 && b.dim() == 2);
  if (!ok || sa[sa.size() - 1] != sb[sb.size() - 2])
    fail("matmul: cannot multiply ", shape_str(sa), " by ", shape_str(sb),
         " (expected (M,K)@(K,N), (B,M,K)@(B,K,N) or (B,M,K)@(K,N) with matching K and B)");
  int64_t m = sa[sa.size() - 2], k = sa.back(), n = sb.back();
  int64_t batches = a.dim() == 3 ? sa[0] : 1;
  Shape out_shape = a.dim() == 3 ? Shape{batches, m, n} : Shape{m, n};
  Tensor out = Tensor::empty(out_shape, a.device(), "matmul");  // (M, 0) @ (0, N) may still be too large
  if (a.device() == Device::cuda) {
    cuda_ops::matmul(a, b, out, batches, m, k, n);
  } else if (b.dim() == 2) {  // one B for every batch: a single (batches*M, K) @ (K, N) product
    gemm(Matrix(out.data(), batches * m, n), ConstMatrix(a.data(), batches * m, k), ConstMatrix(b.data(), k, n));
  } else {
    for_each_gemm_block(batches, m, k, n, [&](int64_t i, int64_t j0, int64_t cols) {  // out_i = A_i @ B_i
      Matrix(out.data() + i * m * n, m, n).middleCols(j0, cols).noalias() =
          ConstMatrix(a.data() + i * m * k, m, k) * ConstMatrix(b.data() + i * k * n, k, n).middleCols(j0, cols);
    });
  }
  if (needs_grad({&a, &b}))
    record(out, "matmul", {a, b}, [a = a.detach(), b = b.detach(), ra = a.requires_grad(), rb = b.requires_grad()](const Tensor& g) {
      if (g.device() == Device::cuda) return cuda_matmul_grads(a, b, g, ra, rb);  // transposes read in place
      Tensor ga = ra ? matmul(g, transpose(b)) : Tensor();  // dA = g @ B^T
      Tensor gb;
      if (rb && b.dim() == 2 && a.dim() == 3) {  // dB = Σ_batches A_i^T @ g_i, as one product
        int64_t rows = a.size(0) * a.size(1);
        gb = matmul(transpose(reshape(a, {rows, a.size(2)})), reshape(g, {rows, g.size(2)}));
      } else if (rb) {
        gb = matmul(transpose(a), g);  // dB = A^T @ g
      }
      return Grads{ga, gb};
    });
  return out;
}

Tensor matmul_transposed(const Tensor& a, const Tensor& b) {
  use_fixed_gemm_blocking();
  check_device("matmul_transposed", a, b);
  const Shape& sa = a.shape();
  const Shape& sb = b.shape();
  bool ok = (a.dim() == 2 && b.dim() == 2) || (a.dim() == 3 && b.dim() == 3 && sa[0] == sb[0]);
  if (!ok || sa.back() != sb.back())
    fail("matmul_transposed: cannot multiply ", shape_str(sa), " by the transpose of ", shape_str(sb),
         " (expected (M,K)@(N,K)^T or (B,M,K)@(B,N,K)^T with matching K and B)");
  int64_t m = sa[sa.size() - 2], k = sa.back(), n = sb[sb.size() - 2];
  int64_t batches = a.dim() == 3 ? sa[0] : 1;
  Shape out_shape = a.dim() == 3 ? Shape{batches, m, n} : Shape{m, n};
  Tensor out = Tensor::empty(out_shape, a.device(), "matmul_transposed");
  if (a.device() == Device::cuda) {
    if (out.numel() > 0) cuda_ops::matmul(a, b, out, batches, m, k, n, false, /*transpose_b=*/true);  // b read in place
  } else {
    for_each_gemm_block(batches, m, k, n, [&](int64_t i, int64_t j0, int64_t cols) {  // out_i = A_i @ B_i^T
      Matrix(out.data() + i * m * n, m, n).middleCols(j0, cols).noalias() =
          ConstMatrix(a.data() + i * m * k, m, k) * ConstMatrix(b.data() + i * n * k, n, k).middleRows(j0, cols).transpose();
    });
  }
  if (needs_grad({&a, &b}))
    record(out, "matmul_transposed", {a, b}, [a = a.detach(), b = b.detach(), ra = a.requires_grad(), rb = b.requires_grad()](const Tensor& g) {
      const bool on_cuda = g.device() == Device::cuda;  // there g^T is read in place
      return Grads{ra ? matmul(g, b) : Tensor(),                                                          // dA = g @ B
                   rb ? (on_cuda ? cuda_ops::product(g, true, a, false) : matmul(transpose(g), a)) : Tensor()};  // dB = g^T @ A
    });
  return out;
}

Tensor linear(const Tensor& x, const Tensor& weight, const Tensor& bias) {
  use_fixed_gemm_blocking();
  check_device("linear", x, weight);
  if (weight.dim() != 2 || x.dim() < 1 || x.shape().back() != weight.size(1))
    fail("linear: input ", shape_str(x.shape()), " and weight ", shape_str(weight.shape()),
         " do not fit (expected input (..., in) and weight (out, in))");
  // rows: the product of x's leading dims (not numel / in, which is 0 for every x of width 0)
  int64_t in = weight.size(1), out_features = weight.size(0);
  int64_t rows = checked_numel(Shape(x.shape().begin(), x.shape().end() - 1), "linear");
  if (bias.defined()) {
    check_device("linear", x, bias);
    if (bias.shape() != Shape{out_features})
      fail("linear: bias ", shape_str(bias.shape()), " does not fit weight ", shape_str(weight.shape()),
           " (expected [", out_features, "])");
  }
  Shape out_shape = x.shape();  // (..., out)
  out_shape.back() = out_features;
  checked_numel(out_shape, "linear");  // here, before either device makes it
  if (x.device() == Device::cuda) return cuda_ops::linear(x, weight, bias);
  Tensor out = Tensor::empty(out_shape, x.device());
  Matrix y(out.data(), rows, out_features);
  ConstMatrix X(x.data(), rows, in), W(weight.data(), out_features, in);
  for_each_gemm_block(1, rows, in, out_features, [&](int64_t, int64_t j0, int64_t cols) {  // y = x @ W^T + b
    y.middleCols(j0, cols).noalias() = X * W.middleRows(j0, cols).transpose();
    if (bias.defined()) y.middleCols(j0, cols).rowwise() += Eigen::Map<const Eigen::RowVectorXf>(bias.data() + j0, cols);
  });

  std::vector<Tensor> inputs{x, weight};
  if (bias.defined()) inputs.push_back(bias);
  if (needs_grad(inputs))
    record(out, "linear", inputs, [x = x.detach(), w = weight.detach(), rx = x.requires_grad(),
                                   rw = weight.requires_grad(), has_bias = bias.defined(),
                                   rows, in, out_features](const Tensor& g) {
      ConstMatrix G(g.data(), rows, out_features);
      Grads grads(has_bias ? 3 : 2);
      if (rx) {  // dx = g @ W
        grads[0] = Tensor::empty(x.shape(), x.device());
        gemm(Matrix(grads[0].data(), rows, in), G, ConstMatrix(w.data(), out_features, in));
      }
      if (rw) {  // dW = g^T @ x
        grads[1] = Tensor::empty(w.shape(), w.device());
        gemm(Matrix(grads[1].data(), out_features, in), G.transpose(), ConstMatrix(x.data(), rows, in));
      }
      if (has_bias) {  // db = Σ_rows g
        grads[2] = Tensor::empty({out_features}, g.device());
        Matrix(grads[2].data(), 1, out_features) = G.colwise().sum();
      }
      return grads;
    });
  return out;
}

Tensor transpose(const Tensor& a) {
  if (a.dim() < 2) fail("transpose: needs at least 2 dims, got shape ", shape_str(a.shape()));
  Shape out_shape = a.shape();
  int64_t rows = out_shape[out_shape.size() - 2], cols = out_shape.back();
  std::swap(out_shape[out_shape.size() - 2], out_shape.back());
  Tensor out = Tensor::empty(out_shape, a.device());
  int64_t batches = rows * cols != 0 ? a.numel() / (rows * cols) : 0;
  if (a.device() == Device::cuda) cuda_ops::transpose(a, out, batches, rows, cols);
  else for (int64_t i = 0; i < batches; ++i)
    Matrix(out.data() + i * rows * cols, cols, rows) = ConstMatrix(a.data() + i * rows * cols, rows, cols).transpose();
  if (needs_grad({&a})) record(out, "transpose", {a}, [](const Tensor& g) { return Grads{transpose(g)}; });
  return out;
}

Tensor transpose(const Tensor& a, int64_t dim0, int64_t dim1) {
  int64_t d0 = normalize_dim("transpose", dim0, a.shape()), d1 = normalize_dim("transpose", dim1, a.shape());
  if (d0 > d1) std::swap(d0, d1);
  if (d0 == d1) return reshape(a, a.shape());  // nothing to swap: a copy, as every transpose is
  if (d0 == a.dim() - 2 && d1 == a.dim() - 1) return transpose(a);  // the last two: Eigen's blocked copy
  // a as (outer, n0, mid, n1, inner) -> out (outer, n1, mid, n0, inner): rows of `inner` floats move whole.
  const Shape& sa = a.shape();
  Split before = split_at(sa, d0);
  int64_t n0 = sa[static_cast<size_t>(d0)], n1 = sa[static_cast<size_t>(d1)], outer = before.outer;
  int64_t inner = split_at(sa, d1).inner, mid = n1 * inner != 0 ? before.inner / (n1 * inner) : 0;
  Shape out_shape = sa;
  std::swap(out_shape[static_cast<size_t>(d0)], out_shape[static_cast<size_t>(d1)]);
  Tensor out = Tensor::empty(out_shape, a.device());
  if (a.device() == Device::cuda) {
    cuda_ops::swap_dims(a, out, outer, n0, mid, n1, inner);
  } else {
    const float* x = a.data();
    float* y = out.data();
    int64_t rows = outer * n1 * mid * n0;  // out's rows of `inner`, in out's order (o, j1, m, j0)
    parallel_for(rows, rows_per_chunk(inner), [&](int64_t begin, int64_t end) {
      for (int64_t r = begin; r < end; ++r) {
        int64_t j0 = r % n0, m = r / n0 % mid, j1 = r / (n0 * mid) % n1, o = r / (n0 * mid * n1);
        std::memcpy(y + r * inner, x + (((o * n0 + j0) * mid + m) * n1 + j1) * inner, sizeof(float) * static_cast<size_t>(inner));
      }
    });
  }
  if (needs_grad({&a}))
    record(out, "transpose", {a}, [d0, d1](const Tensor& g) { return Grads{transpose(g, d0, d1)}; });  // dA = g swapped back
  return out;
}

Tensor reshape(const Tensor& a, const Shape& shape) {
  Shape target = shape;
  int64_t infer = -1;  // the dim given as -1, if any
  for (size_t d = 0; d < target.size(); ++d) {
    if (target[d] == -1 && infer < 0) infer = static_cast<int64_t>(d);
    else if (target[d] < 0) fail("reshape: invalid target shape ", shape_str(shape), " (sizes >= 0, at most one -1)");
  }
  if (infer >= 0) {
    target[static_cast<size_t>(infer)] = 1;
    int64_t known = 0;  // the product of the given sizes, checked: [-1, 2^62, 2^62] must not wrap to 0
    try {
      known = checked_numel(target, "reshape");
    } catch (const Error& e) {
      fail(e.what(), " (target shape ", shape_str(shape), ", its -1 counted as 1)");
    }
    if (known == 0 || a.numel() % known != 0)
      fail("reshape: cannot infer the -1 in ", shape_str(shape), " for ", a.numel(), " elements of shape ", shape_str(a.shape()));
    target[static_cast<size_t>(infer)] = a.numel() / known;
  }
  if (checked_numel(target, "reshape") != a.numel())
    fail("reshape: cannot reshape ", shape_str(a.shape()), " (", a.numel(), " elements) into ", shape_str(shape));
  Tensor out = a.clone();
  out.impl()->shape = target;
  if (needs_grad({&a}))
    record(out, "reshape", {a}, [sa = a.shape()](const Tensor& g) { return Grads{reshape(g, sa)}; });
  return out;
}

// ============================================================================
// reductions
// ============================================================================

// Σ of chunk_sum(begin, end) over the chunks of [0, n), added in chunk order (one chunk: that sum alone).
template <class ChunkSum>
float chunked_sum(int64_t n, const ChunkSum& chunk_sum) {
  return parallel_reduce(n, kElementsPerChunk, 0.0f, chunk_sum, [](float x, float y) { return x + y; });
}
float sum_of(const Tensor& a) {
  return chunked_sum(a.numel(), [p = a.data()](int64_t begin, int64_t end) { return ConstArray(p + begin, end - begin).sum(); });
}

Tensor sum(const Tensor& a) {
  Tensor out = a.device() == Device::cuda ? cuda_ops::sum_all(a) : Tensor::scalar(sum_of(a));
  if (needs_grad({&a})) record(out, "sum", {a}, [sa = a.shape()](const Tensor& g) { return Grads{broadcast_to(g, sa)}; });
  return out;
}

Tensor sum(const Tensor& a, int64_t dim, bool keepdim) {
  int64_t d = normalize_dim("sum", dim, a.shape());
  Split s = split_at(a.shape(), d);
  Shape kept = a.shape();
  kept[static_cast<size_t>(d)] = 1;
  Tensor out = Tensor::empty(kept, a.device());
  if (a.device() == Device::cuda) cuda_ops::sum_dim(a, out, s.outer, s.n, s.inner);
  else parallel_for(s.outer, rows_per_chunk(s.n * s.inner), [&](int64_t begin, int64_t end) {
    for (int64_t o = begin; o < end; ++o)  // each outer block is an (n, inner) matrix: sum its columns
      Matrix(out.data() + o * s.inner, 1, s.inner) = ConstMatrix(a.data() + o * s.n * s.inner, s.n, s.inner).colwise().sum();
  });
  if (!keepdim) {
    Shape squeezed = a.shape();
    squeezed.erase(squeezed.begin() + d);
    out.impl()->shape = squeezed;
  }
  if (needs_grad({&a}))
    record(out, "sum", {a}, [sa = a.shape(), kept](const Tensor& g) { return Grads{broadcast_to(reshape(g, kept), sa)}; });
  return out;
}

Tensor mean(const Tensor& a) {
  float n = static_cast<float>(a.numel());
  Tensor out = a.device() == Device::cuda ? cuda_ops::mean_all(a) : Tensor::scalar(sum_of(a) / n);
  if (needs_grad({&a}))
    record(out, "mean", {a}, [sa = a.shape(), n](const Tensor& g) { return Grads{broadcast_to(g / n, sa)}; });
  return out;
}

Tensor mean(const Tensor& a, int64_t dim, bool keepdim) {
  int64_t d = normalize_dim("mean", dim, a.shape());
  float n = static_cast<float>(a.shape()[static_cast<size_t>(d)]);
  Tensor out;
  {
    NoGradGuard plain;  // one "mean" node below instead of a sum node and a div node
    out = div(sum(a, d, keepdim), scalar_on(n, a));
  }
  if (needs_grad({&a})) {
    Shape kept = a.shape();
    kept[static_cast<size_t>(d)] = 1;
    record(out, "mean", {a}, [sa = a.shape(), kept, n](const Tensor& g) {
      return Grads{broadcast_to(reshape(g, kept) / n, sa)};  // da = g / n, broadcast back
    });
  }
  return out;
}

std::vector<int64_t> MaxResult::indices() const {
  if (!device_positions.defined()) return host_indices;
  std::vector<int64_t> out;
  for (float p : device_positions.to_vector()) out.push_back(static_cast<int64_t>(p));
  return out;
}

MaxResult max(const Tensor& a, int64_t dim, bool keepdim) {
  int64_t d = normalize_dim("max", dim, a.shape());
  Split s = split_at(a.shape(), d);
  if (s.n == 0) fail("max: dim ", dim, " of shape ", shape_str(a.shape()), " is empty; a maximum needs one element");
  Shape out_shape = a.shape();
  if (keepdim) out_shape[static_cast<size_t>(d)] = 1;
  else out_shape.erase(out_shape.begin() + d);
  if (a.device() == Device::cuda) return cuda_ops::max(a, d, out_shape);
  MaxResult result{Tensor::empty(out_shape, a.device()), std::vector<int64_t>(static_cast<size_t>(s.outer * s.inner)), {}};
  const float* x = a.data();
  float* values = result.values.data();
  parallel_for(s.outer * s.inner, rows_per_chunk(s.n), [&](int64_t begin, int64_t end) {
    for (int64_t k = begin; k < end; ++k) {  // output k = (o, i)
      int64_t o = k / s.inner, i = k % s.inner, best = 0;
      const float* column = x + o * s.n * s.inner + i;
      for (int64_t j = 1; j < s.n; ++j)  // a NaN wins, as in PyTorch
        if (column[j * s.inner] > column[best * s.inner] || (std::isnan(column[j * s.inner]) && !std::isnan(column[best * s.inner])))
          best = j;
      values[k] = column[best * s.inner];
      result.host_indices[static_cast<size_t>(k)] = best;
    }
  });
  if (needs_grad({&a}))
    record(result.values, "max", {a}, [sa = a.shape(), s, indices = result.host_indices](const Tensor& g) {
      Tensor ga = Tensor::zeros(sa, g.device());  // da = g at the argmax, 0 elsewhere
      for (int64_t o = 0; o < s.outer; ++o)
        for (int64_t i = 0; i < s.inner; ++i) {
          int64_t k = o * s.inner + i;
          ga.data()[o * s.n * s.inner + indices[static_cast<size_t>(k)] * s.inner + i] = g.data()[k];
        }
      return Grads{ga};
    });
  return result;
}

// ============================================================================
// pointwise functions (formulas shared with CUDA in elementwise.hpp)
// ============================================================================
namespace ew = elementwise;

Tensor exp(const Tensor& a) {
  return pointwise("exp", a, [](float x) { return expf(x); }, [](float, float y) { return y; });
}
Tensor log(const Tensor& a) {
  return pointwise("log", a, [](float x) { return logf(x); }, [](float x, float) { return 1.0f / x; });
}
Tensor sqrt(const Tensor& a) {
  return pointwise("sqrt", a, [](float x) { return sqrtf(x); }, [](float, float y) { return 0.5f / y; });
}
Tensor pow(const Tensor& a, float p) {
  return pointwise("pow", a, [p](float x) { return powf(x, p); }, [p](float x, float) { return ew::pow_grad(x, p); }, p);
}
Tensor relu(const Tensor& a) {
  return pointwise("relu", a, ew::relu, [](float x, float) { return ew::relu_grad(x); });
}
Tensor gelu(const Tensor& a) {
  return pointwise("gelu", a, ew::gelu, [](float x, float) { return ew::gelu_grad(x); });
}
// The exact GELU. glibc's erff and expf are scalar calls, about ten times the cost of a multiply here, so
// the CPU computes x Φ(x) and Φ(x) + x φ(x) with Eigen's vectorized erf (a rational fit, within a few ulps
// of erff) and exp, in chunks; the cuda kernels use erff and expf (elementwise.hpp): the same formula,
// last-bit differences (tests/cuda states the tolerance).
Tensor gelu_erf(const Tensor& a) {
  if (a.device() == Device::cuda) return pointwise("gelu_erf", a, ew::gelu_erf, [](float x, float) { return ew::gelu_erf_grad(x); });
  Tensor out = Tensor::empty(a.shape(), a.device());
  parallel_for(a.numel(), kElementsPerChunk, [&](int64_t begin, int64_t end) {
    ConstArray x(a.data() + begin, end - begin);
    Array(out.data() + begin, end - begin) = x * 0.5f * (1.0f + (x * ew::kInvSqrt2).erf());  // x Φ(x)
  });
  if (needs_grad({&a}))
    record(out, "gelu_erf", {a}, [x = a.detach()](const Tensor& g) {
      Tensor gx = Tensor::empty(g.shape(), g.device());  // da = g * (Φ(a) + a φ(a))
      parallel_for(g.numel(), kElementsPerChunk, [&](int64_t begin, int64_t end) {
        ConstArray xa(x.data() + begin, end - begin), ga(g.data() + begin, end - begin);
        Array(gx.data() + begin, end - begin) =
            ga * (0.5f * (1.0f + (xa * ew::kInvSqrt2).erf()) + xa * ew::kInvSqrt2Pi * (-0.5f * xa.square()).exp());
      });
      return Grads{gx};
    });
  return out;
}
Tensor tanh(const Tensor& a) {
  return pointwise("tanh", a, [](float x) { return tanhf(x); },
                   [](float, float y) { return ew::tanh_grad_from_output(y); });
}
Tensor sigmoid(const Tensor& a) {
  return pointwise("sigmoid", a, ew::sigmoid, [](float, float y) { return ew::sigmoid_grad_from_output(y); });
}

// ============================================================================
// the last dim as a distribution
// ============================================================================
namespace {

// Calls f(r, in_row, out_row) for each row r along the last dim, as Eigen arrays; rows in chunks on the threads.
template <class F>
void for_each_row(const Tensor& in, Tensor& out, F f) {
  int64_t n = in.dim() ? in.shape().back() : 1;
  int64_t rows = n ? in.numel() / n : 0;
  parallel_for(rows, rows_per_chunk(n), [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) f(r, ConstArray(in.data() + r * n, n), Array(out.data() + r * n, n));
  });
}

void check_has_classes(const char* op, const Tensor& a) {
  if (a.dim() == 0 || a.shape().back() == 0)
    fail(op, ": needs a last dim of size >= 1, got shape ", shape_str(a.shape()));
}

}  // namespace

Tensor softmax(const Tensor& a) {
  check_has_classes("softmax", a);
  if (a.device() == Device::cuda) return cuda_ops::softmax(a);
  Tensor out = Tensor::empty(a.shape(), a.device());
  for_each_row(a, out, [](int64_t, ConstArray x, Array y) {
    y = (x - x.maxCoeff()).exp();  // subtracting the max keeps exp from overflowing
    y /= y.sum();
  });
  if (needs_grad({&a}))
    record(out, "softmax", {a}, [y = out.detach()](const Tensor& g) {
      Tensor ga = Tensor::empty(g.shape(), g.device());  // da = y * (g - Σ g y)
      for_each_row(g, ga, [&](int64_t r, ConstArray gr, Array out_row) {
        ConstArray yr(y.data() + r * gr.size(), gr.size());
        out_row = yr * (gr - (gr * yr).sum());
      });
      return Grads{ga};
    });
  return out;
}

Tensor log_softmax(const Tensor& a) {
  check_has_classes("log_softmax", a);
  if (a.device() == Device::cuda) return cuda_ops::log_softmax(a);
  Tensor out = Tensor::empty(a.shape(), a.device());
  for_each_row(a, out, [](int64_t, ConstArray x, Array y) {
    float max = x.maxCoeff();
    y = x - max - std::log((x - max).exp().sum());  // x - log Σ e^x, via log-sum-exp
  });
  if (needs_grad({&a}))
    record(out, "log_softmax", {a}, [y = out.detach()](const Tensor& g) {
      Tensor ga = Tensor::empty(g.shape(), g.device());  // da = g - softmax * Σ g
      for_each_row(g, ga, [&](int64_t r, ConstArray gr, Array out_row) {
        ConstArray yr(y.data() + r * gr.size(), gr.size());
        out_row = gr - yr.exp() * gr.sum();
      });
      return Grads{ga};
    });
  return out;
}

namespace {

void check_causal_scores(const char* op, const Tensor& scores) {
  if (scores.dim() < 2 || scores.size(-1) != scores.size(-2))
    fail(op, ": scores must be (..., T, T), square in the last two dims, got shape ", shape_str(scores.shape()));
}

// Row r of (..., T, T) scores is row i = r mod T of its block: y[0..i] = softmax(scale · x[0..i]), y[i+1..] = 0.
void causal_softmax_row(int64_t r, ConstArray x, Array y, float scale) {
  int64_t t = x.size(), seen = r % t + 1;  // position i sees positions 0..i
  y.head(seen) = x.head(seen) * scale;
  y.head(seen) = (y.head(seen) - y.head(seen).maxCoeff()).exp();  // max-subtracted, as softmax
  y.head(seen) /= y.head(seen).sum();
  y.tail(t - seen).setZero();
}

// dx = scale · y (g - Σ g y) on row r's columns 0..i, 0 beyond (where y is 0).
void causal_softmax_backward_row(int64_t r, ConstArray g, ConstArray y, Array dx, float scale) {
  int64_t t = g.size(), seen = r % t + 1;
  float g_dot_y = (g.head(seen) * y.head(seen)).sum();
  dx.head(seen) = scale * y.head(seen) * (g.head(seen) - g_dot_y);
  dx.tail(t - seen).setZero();
}

}  // namespace

Tensor causal_softmax(const Tensor& scores, float scale) {
  check_causal_scores("causal_softmax", scores);
  if (!std::isfinite(scale)) fail("causal_softmax: scale must be finite, got ", scale);
  if (scores.device() == Device::cuda) return cuda_ops::causal_softmax(scores, scale);
  Tensor out = Tensor::empty(scores.shape(), scores.device());
  for_each_row(scores, out, [scale](int64_t r, ConstArray x, Array y) { causal_softmax_row(r, x, y, scale); });
  if (needs_grad({&scores}))
    record(out, "causal_softmax", {scores}, [y = out.detach(), scale](const Tensor& g) {
      Tensor ga = Tensor::empty(g.shape(), g.device());  // da = s y * (g - Σ g y)
      for_each_row(g, ga, [&](int64_t r, ConstArray gr, Array out_row) {
        causal_softmax_backward_row(r, gr, ConstArray(y.data() + r * gr.size(), gr.size()), out_row, scale);
      });
      return Grads{ga};
    });
  return out;
}

// One (T, D) head at a time on one thread: S = q k^T (T, T), P = causal_softmax(S, 1/√D), o = P v.
// The heads are spread over the threads; each writes only its own slices, so the bits do not depend
// on the thread count. P and dS are lower triangular: the products that read them are Eigen's
// triangular ones, which skip the zeros above the diagonal (one head of T = 64, D = 32: backward 12.4 µs
// of CPU time against 14.1 with full products, forward 9.2 against 9.5); S and dP are computed whole.
Tensor causal_self_attention(const Tensor& q, const Tensor& k, const Tensor& v) {
  use_fixed_gemm_blocking();
  check_device("causal_self_attention", q, k);
  check_device("causal_self_attention", q, v);
  if (q.dim() < 2 || k.shape() != q.shape() || v.shape() != q.shape())
    fail("causal_self_attention: q ", shape_str(q.shape()), ", k ", shape_str(k.shape()), " and v ", shape_str(v.shape()),
         " must share one shape (..., T, D)");
  if (q.device() == Device::cuda) return cuda_ops::causal_self_attention(q, k, v);
  const int64_t t = q.size(-2), d = q.size(-1), heads = t * d != 0 ? q.numel() / (t * d) : 0;
  const float scale = 1.0f / std::sqrt(static_cast<float>(std::max<int64_t>(d, 1)));
  Shape p_shape(q.shape().begin(), q.shape().end() - 1);  // (..., T, T)
  p_shape.push_back(t);
  Tensor out = Tensor::empty(q.shape(), q.device());  // (..., T, D), every float written
  Tensor p = Tensor::empty(p_shape, q.device());     // (..., T, T) the attention weights, kept for backward
  const int64_t per_chunk = std::max<int64_t>(1, kGemmFlopsPerChunk / std::max<int64_t>(1, 2 * t * t * d));
  parallel_for(t > 0 ? heads : 0, per_chunk, [&](int64_t begin, int64_t end) {
    for (int64_t h = begin; h < end; ++h) {
      ConstMatrix Q(q.data() + h * t * d, t, d), K(k.data() + h * t * d, t, d), V(v.data() + h * t * d, t, d);
      Matrix P(p.data() + h * t * t, t, t);
      P.noalias() = Q * K.transpose();  // S = q k^T
      for (int64_t i = 0; i < t; ++i)   // P = causal_softmax(S, 1/√D), row i in place
        causal_softmax_row(i, ConstArray(P.data() + i * t, t), Array(P.data() + i * t, t), scale);
      Matrix(out.data() + h * t * d, t, d).noalias() = P.triangularView<Eigen::Lower>() * V;  // o = P v
    }
  });
  if (needs_grad({&q, &k, &v}))
    record(out, "causal_self_attention", {q, k, v},
           [q = q.detach(), k = k.detach(), v = v.detach(), p, heads, t, d, scale, per_chunk](const Tensor& g) {
             Tensor gq = Tensor::empty(q.shape(), q.device()), gk = Tensor::empty(q.shape(), q.device());
             Tensor gv = Tensor::empty(q.shape(), q.device());  // (..., T, D) each, every float written
             parallel_for(t > 0 ? heads : 0, per_chunk, [&](int64_t begin, int64_t end) {
               RowMatrix dP(t, t);  // dP = g v^T, then dS in place
               for (int64_t h = begin; h < end; ++h) {
                 const int64_t o = h * t * d;
                 ConstMatrix Q(q.data() + o, t, d), K(k.data() + o, t, d), V(v.data() + o, t, d), G(g.data() + o, t, d);
                 ConstMatrix P(p.data() + h * t * t, t, t);
                 dP.noalias() = G * V.transpose();
                 for (int64_t i = 0; i < t; ++i)  // dS = P * (dP - Σ_j dP P) / √D, row i
                   causal_softmax_backward_row(i, ConstArray(dP.data() + i * t, t), ConstArray(P.data() + i * t, t),
                                               Array(dP.data() + i * t, t), scale);
                 Matrix(gq.data() + o, t, d).noalias() = dP.triangularView<Eigen::Lower>() * K;              // dq = dS k
                 Matrix(gk.data() + o, t, d).noalias() = dP.transpose().triangularView<Eigen::Upper>() * Q;  // dk = dS^T q
                 Matrix(gv.data() + o, t, d).noalias() = P.transpose().triangularView<Eigen::Upper>() * G;   // dv = P^T g
               }
             });
             return Grads{gq, gk, gv};
           });
  return out;
}

// ============================================================================
// losses
// ============================================================================

Tensor cross_entropy(const Tensor& logits, const std::vector<int64_t>& targets) {
  if (logits.dim() != 2 || logits.size(1) == 0 || logits.size(0) == 0)
    fail("cross_entropy: logits must be (N, C) with N, C >= 1, got ", shape_str(logits.shape()));
  int64_t n = logits.size(0), classes = logits.size(1);
  if (static_cast<int64_t>(targets.size()) != n)
    fail("cross_entropy: ", targets.size(), " targets for logits of shape ", shape_str(logits.shape()), " (expected ", n, ")");
  for (size_t i = 0; i < targets.size(); ++i)
    if (targets[i] < 0 || targets[i] >= classes)
      fail("cross_entropy: target ", targets[i], " at index ", i, " is not a class in [0, ", classes, ")");
  if (logits.device() == Device::cuda) return cuda_ops::cross_entropy(logits, targets);
  Tensor probs;
  {
    NoGradGuard plain;
    probs = softmax(logits);
  }
  Tensor log_probs = Tensor::empty(logits.shape(), logits.device());
  for_each_row(logits, log_probs, [](int64_t, ConstArray x, Array y) {
    float max = x.maxCoeff();
    y = x - max - std::log((x - max).exp().sum());
  });
  float total = 0.0f;
  for (int64_t i = 0; i < n; ++i) total -= log_probs.data()[i * classes + targets[static_cast<size_t>(i)]];
  Tensor out = Tensor::scalar(total / static_cast<float>(n));
  if (needs_grad({&logits}))
    record(out, "cross_entropy", {logits}, [probs, targets, n, classes](const Tensor& g) {
      Tensor gz = probs.clone();  // dz = (softmax(z) - onehot(t)) * g / N
      for (int64_t i = 0; i < n; ++i) gz.data()[i * classes + targets[static_cast<size_t>(i)]] -= 1.0f;
      Array(gz.data(), gz.numel()) *= g.item() / static_cast<float>(n);
      return Grads{gz};
    });
  return out;
}

std::vector<int64_t> sample_labels(const Tensor& logits, Generator& gen) {
  if (logits.dim() != 2 || logits.size(1) == 0 || logits.size(0) == 0)
    fail("sample_labels: logits must be (N, C) with N, C >= 1, got ", shape_str(logits.shape()));
  const int64_t n = logits.size(0), classes = logits.size(1);
  const std::vector<float> z = logits.to_vector();  // a host copy, from either device
  std::vector<int64_t> labels(static_cast<size_t>(n));
  std::vector<double> weight(static_cast<size_t>(classes));
  for (int64_t i = 0; i < n; ++i) {
    const float* row = z.data() + i * classes;
    double max = row[0];
    for (int64_t c = 0; c < classes; ++c) {
      if (!std::isfinite(row[c])) fail("sample_labels: logit ", row[c], " at row ", i, ", class ", c, " is not finite");
      max = std::max(max, static_cast<double>(row[c]));
    }
    double total = 0.0;  // softmax's denominator, max-subtracted
    for (int64_t c = 0; c < classes; ++c) total += weight[static_cast<size_t>(c)] = std::exp(row[c] - max);
    double u = gen.uniform() * total;  // u ~ U[0, Σ e^(z − max)): the class whose cumulative weight passes u
    int64_t label = 0;                  // the argmax has weight 1, so some class has weight > 0
    for (int64_t c = 0; c < classes; ++c) {
      const double w = weight[static_cast<size_t>(c)];
      if (w > 0.0) label = c;  // the last class that can be drawn, should rounding leave u past every weight
      if (u < w) break;
      u -= w;
    }
    labels[static_cast<size_t>(i)] = label;
  }
  return labels;
}

Tensor mse_loss(const Tensor& prediction, const Tensor& target) {
  check_device("mse_loss", prediction, target);
  if (prediction.shape() != target.shape())
    fail("mse_loss: prediction ", shape_str(prediction.shape()), " and target ", shape_str(target.shape()),
         " must have the same shape");
  if (prediction.device() == Device::cuda) return cuda_ops::mse_loss(prediction, target);
  float n = static_cast<float>(prediction.numel());
  const float* p = prediction.data();
  const float* t = target.data();
  Tensor out = Tensor::scalar(chunked_sum(prediction.numel(), [&](int64_t begin, int64_t end) {
                                return (ConstArray(p + begin, end - begin) - ConstArray(t + begin, end - begin)).square().sum();
                              }) / n);
  if (needs_grad({&prediction, &target}))
    record(out, "mse_loss", {prediction, target}, [p = prediction.detach(), t = target.detach(), n](const Tensor& g) {
      Tensor gp = Tensor::empty(p.shape(), p.device());  // dp = 2 (p - t) g / n, dt = -dp
      Array(gp.data(), gp.numel()) = (ConstArray(p.data(), p.numel()) - ConstArray(t.data(), t.numel())) * (2.0f * g.item() / n);
      return Grads{gp, neg(gp)};
    });
  return out;
}

// ============================================================================
// layers as functions
// ============================================================================

Tensor embedding(const Tensor& weight, const std::vector<int64_t>& ids, const Shape& ids_shape) {
  if (weight.dim() != 2) fail("embedding: weight must be (V, D), got ", shape_str(weight.shape()));
  if (static_cast<int64_t>(ids.size()) != checked_numel(ids_shape, "embedding"))
    fail("embedding: ", ids.size(), " ids do not fill ids_shape ", shape_str(ids_shape));
  int64_t vocab = weight.size(0), width = weight.size(1);
  Shape out_shape = ids_shape;  // (ids..., D)
  out_shape.push_back(width);
  checked_numel(out_shape, "embedding");  // here, before either device makes it
  for (size_t i = 0; i < ids.size(); ++i)
    if (ids[i] < 0 || ids[i] >= vocab)
      fail("embedding: id ", ids[i], " at index ", i, " is out of range for weight ", shape_str(weight.shape()),
           " (expected [0, ", vocab, "))");
  if (weight.device() == Device::cuda) return cuda_ops::embedding(weight, ids, ids_shape);
  Tensor out = Tensor::empty(out_shape, weight.device());
  for (size_t i = 0; i < ids.size(); ++i)
    std::memcpy(out.data() + static_cast<int64_t>(i) * width, weight.data() + ids[i] * width, sizeof(float) * static_cast<size_t>(width));
  if (needs_grad({&weight}))
    record(out, "embedding", {weight}, [ids, sw = weight.shape(), width](const Tensor& g) {
      Tensor gw = Tensor::zeros(sw, g.device());  // dW[id] += g[i]
      for (size_t i = 0; i < ids.size(); ++i)
        Array(gw.data() + ids[i] * width, width) += ConstArray(g.data() + static_cast<int64_t>(i) * width, width);
      return Grads{gw};
    });
  return out;
}

Tensor layer_norm(const Tensor& x, const Tensor& weight, const Tensor& bias, float eps) {
  check_device("layer_norm", x, weight);
  check_device("layer_norm", x, bias);
  if (x.dim() == 0) fail("layer_norm: input must have at least one dim, got shape []");
  int64_t width = x.shape().back();
  if (weight.shape() != Shape{width} || bias.shape() != Shape{width})
    fail("layer_norm: weight ", shape_str(weight.shape()), " and bias ", shape_str(bias.shape()),
         " must both be [", width, "] for input ", shape_str(x.shape()));
  if (!(eps >= 0.0f)) fail("layer_norm: eps must be >= 0, got ", eps);
  if (x.device() == Device::cuda) return cuda_ops::layer_norm(x, weight, bias, eps);
  int64_t rows = width ? x.numel() / width : 0;
  Tensor out = Tensor::empty(x.shape(), x.device());
  Tensor x_hat = Tensor::empty(x.shape(), x.device());  // (rows, D) normalized input, kept for backward
  Tensor inv_std = Tensor::empty({rows}, x.device());   // (rows) 1/√(σ² + ε)
  ConstArray w(weight.data(), width), b(bias.data(), width);
  parallel_for(rows, rows_per_chunk(width), [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) {
      ConstArray xr(x.data() + r * width, width);
      float mu = xr.mean();
      float var = (xr - mu).square().mean();  // biased variance, as PyTorch
      float rstd = 1.0f / std::sqrt(var + eps);
      Array xh(x_hat.data() + r * width, width);
      xh = (xr - mu) * rstd;
      Array(out.data() + r * width, width) = xh * w + b;
      inv_std.data()[r] = rstd;
    }
  });
  if (needs_grad({&x, &weight, &bias}))
    record(out, "layer_norm", {x, weight, bias}, [x_hat, inv_std, w = weight.detach(), rows, width](const Tensor& g) {
      Tensor gx = Tensor::empty(x_hat.shape(), g.device());
      Tensor gw = Tensor::zeros({width}, g.device());
      Tensor gb = Tensor::zeros({width}, g.device());
      ConstArray wa(w.data(), width);
      parallel_for(rows, rows_per_chunk(width), [&](int64_t begin, int64_t end) {
        for (int64_t r = begin; r < end; ++r) {
          ConstArray gr(g.data() + r * width, width), xh(x_hat.data() + r * width, width);
          Eigen::ArrayXf g_hat = gr * wa;  // ĝ = g w
          Array(gx.data() + r * width, width) =
              inv_std.data()[r] * (g_hat - g_hat.mean() - xh * (g_hat * xh).mean());  // dx
        }
      });
      for (int64_t r = 0; r < rows; ++r) {  // one thread: every row adds into the same dw and db
        ConstArray gr(g.data() + r * width, width), xh(x_hat.data() + r * width, width);
        Array(gw.data(), width) += gr * xh;  // dw = Σ_rows g x̂
        Array(gb.data(), width) += gr;       // db = Σ_rows g
      }
      return Grads{gx, gw, gb};
    });
  return out;
}

Tensor dropout(const Tensor& a, float p, Generator& gen, bool training) {
  if (!(p >= 0.0f && p < 1.0f))
    fail("dropout: p must be in [0, 1), got ", p, " (input of shape ", shape_str(a.shape()), ")");
  if (!training || p == 0.0f) return a;  // the identity: the same tensor, nothing allocated or drawn
  const float keep_scale = 1.0f / (1.0f - p);
  Tensor mask = Tensor::empty(a.shape());  // 0 or 1/(1-p), drawn on the host in element order
  float* m = mask.data();
  for (int64_t i = 0; i < mask.numel(); ++i) m[i] = gen.uniform() < p ? 0.0f : keep_scale;
  if (a.device() == Device::cuda) mask = mask.to(Device::cuda);  // the same mask: the kernels multiply by it
  Tensor out;
  {
    NoGradGuard plain;  // one "dropout" node below
    out = mul(a, mask);
  }
  if (needs_grad({&a})) record(out, "dropout", {a}, [mask](const Tensor& g) { return Grads{mul(g, mask)}; });  // da = g * m
  return out;
}

// ============================================================================
// joining and cutting
// ============================================================================

Tensor concat(const std::vector<Tensor>& parts, int64_t dim) {
  if (parts.empty()) fail("concat: needs at least one tensor");
  const Shape& first = parts[0].shape();
  int64_t d = normalize_dim("concat", dim, first);
  Shape out_shape = first;
  out_shape[static_cast<size_t>(d)] = 0;
  for (size_t i = 0; i < parts.size(); ++i) {
    check_device("concat", parts[0], parts[i]);
    Shape expect = first, got = parts[i].shape();
    if (got.size() == expect.size()) expect[static_cast<size_t>(d)] = got[static_cast<size_t>(d)];
    if (got != expect)
      fail("concat: tensor ", i, " has shape ", shape_str(got), ", tensor 0 has ", shape_str(first),
           " (all sizes must match except along dim ", dim, ")");
    if (__builtin_add_overflow(out_shape[static_cast<size_t>(d)], got[static_cast<size_t>(d)], &out_shape[static_cast<size_t>(d)]))
      fail("concat: the sizes along dim ", dim, " of ", parts.size(), " tensors overflow int64_t");
  }
  Tensor out = Tensor::empty(out_shape, parts[0].device(), "concat");
  Split s = split_at(out_shape, d);
  int64_t offset = 0;  // where along dim this part starts
  std::vector<int64_t> starts;
  for (const Tensor& part : parts) {
    int64_t chunk = part.size(d) * s.inner;  // contiguous floats per outer index
    if (part.device() == Device::cuda) cuda_ops::copy_chunks(part, out, offset * s.inner, s.n * s.inner, s.outer, chunk);
    else for (int64_t o = 0; o < s.outer; ++o)
      std::memcpy(out.data() + o * s.n * s.inner + offset * s.inner, part.data() + o * chunk, sizeof(float) * static_cast<size_t>(chunk));
    starts.push_back(offset);
    offset += part.size(d);
  }
  if (needs_grad(parts))
    record(out, "concat", parts, [starts, d, sizes = [&] {
      std::vector<int64_t> v;
      for (const Tensor& p : parts) v.push_back(p.size(d));
      return v;
    }()](const Tensor& g) {
      Grads grads;  // each part's gradient is the slice of g it filled
      for (size_t i = 0; i < starts.size(); ++i) grads.push_back(slice(g, d, starts[i], starts[i] + sizes[i]));
      return grads;
    });
  return out;
}

Tensor slice(const Tensor& a, int64_t dim, int64_t start, int64_t end) {
  int64_t d = normalize_dim("slice", dim, a.shape());
  int64_t size = a.size(d);
  if (start < 0 || start > end || end > size)
    fail("slice: [", start, ", ", end, ") is not a range within dim ", dim, " of shape ", shape_str(a.shape()),
         " (expected 0 <= start <= end <= ", size, ")");
  if (a.device() == Device::cuda) return cuda_ops::slice(a, d, start, end);
  Shape out_shape = a.shape();
  out_shape[static_cast<size_t>(d)] = end - start;
  Tensor out = Tensor::empty(out_shape, a.device());
  Split s = split_at(a.shape(), d);
  int64_t chunk = (end - start) * s.inner;
  for (int64_t o = 0; o < s.outer; ++o)
    std::memcpy(out.data() + o * chunk, a.data() + o * s.n * s.inner + start * s.inner, sizeof(float) * static_cast<size_t>(chunk));
  if (needs_grad({&a}))
    record(out, "slice", {a}, [sa = a.shape(), s, start, chunk](const Tensor& g) {
      Tensor ga = Tensor::zeros(sa, g.device());  // g placed where the slice came from
      for (int64_t o = 0; o < s.outer; ++o)
        std::memcpy(ga.data() + o * s.n * s.inner + start * s.inner, g.data() + o * chunk, sizeof(float) * static_cast<size_t>(chunk));
      return Grads{ga};
    });
  return out;
}

}  // namespace moments
