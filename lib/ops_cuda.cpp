// ops_cuda.cpp — ops on Device::cuda tensors: the kernels of cuda/ (through the
// cuda::Backend interface, plain C++) behind ops.cpp's checks and nodes. What lives
// here and why is in ops_cuda.hpp; the derivative rules are ops.hpp's index.
//
// Nothing here reads device memory on the host or waits for the device: buffers are
// passed to kernels, and the values a backward pass needs (a loss's seed gradient,
// argmax positions) stay on the device. Host data going in (class targets, embedding
// ids) is copied to the device once per call.
#include "ops_cuda.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "autograd.hpp"

namespace moments::cuda_ops {

namespace {

using Grads = std::vector<Tensor>;

cuda::Backend& backend_of(const Tensor& t) { return t.cuda_backend(); }

// A shape-[] cuda tensor holding `value`.
Tensor scalar(float value) { return Tensor::full({}, value, Device::cuda); }

// Index lists (class targets, embedding ids) as floats on the device: exact while
// every index is below 2^24, which `limit` (the number of classes or rows) guarantees.
bool limit_exceeded(int64_t limit) { return limit > (int64_t{1} << 24); }
Tensor index_tensor(const char* op, const std::vector<int64_t>& indices, int64_t limit) {
  if (limit_exceeded(limit))
    fail(op, ": cuda tensors index at most 2^24 classes or rows (indices travel as floats), got ", limit);
  std::vector<float> values(indices.begin(), indices.end());
  return Tensor::from(values).to(Device::cuda);
}

// Rows along the last dim: (rows, n).
int64_t last_dim(const Tensor& a) { return a.dim() ? a.shape().back() : 1; }
int64_t rows_of(const Tensor& a) {
  int64_t n = last_dim(a);
  return n ? a.numel() / n : 0;
}

}  // namespace

// ============================================================================
// forward kernels
// ============================================================================

namespace {
// out = a ∘ b, broadcast to out's shape: the kernel reads a and b through their
// strides along each of out's dims, 0 where broadcast (trailing dims align).
void binary_into(cuda::Binary op, const Tensor& a, const Tensor& b, Tensor& out) {
  static const char* const names[] = {"add", "sub", "mul", "div"};
  const Shape& out_shape = out.shape();
  if (out_shape.size() > static_cast<size_t>(cuda::kMaxDims))
    fail(names[static_cast<int>(op)], ": cuda tensors broadcast over at most ", cuda::kMaxDims, " dims, got ",
         shape_str(out_shape));
  cuda::BroadcastLayout layout;
  layout.rank = static_cast<int>(out_shape.size());
  auto strides = [&](const Shape& in, int64_t* stride) {
    int64_t step = 1;
    for (size_t i = 0; i < in.size(); ++i) {
      size_t d_in = in.size() - 1 - i, d_out = out_shape.size() - 1 - i;
      stride[d_out] = in[d_in] == 1 ? 0 : step;
      step *= in[d_in];
    }
  };
  for (int d = 0; d < layout.rank; ++d) layout.size[d] = out_shape[static_cast<size_t>(d)];
  strides(a.shape(), layout.a_stride);
  strides(b.shape(), layout.b_stride);
  backend_of(a).binary(op, a.data(), b.data(), out.data(), layout);
}
}  // namespace

Tensor binary(cuda::Binary op, const Tensor& a, const Tensor& b, const Shape& out_shape) {
  Tensor out = Tensor::empty(out_shape, Device::cuda);
  binary_into(op, a, b, out);
  return out;
}

// In place is safe: a has out's shape, so thread i reads a[i] and writes a[i] only.
void add_in_place(Tensor& a, const Tensor& b) { binary_into(cuda::Binary::add, a, b, a); }

Tensor broadcast_to(const Tensor& t, const Shape& shape) {
  return binary(cuda::Binary::add, t, scalar(0.0f), shape);
}

Tensor sum_to(const Tensor& grad, const Shape& shape) {
  // Sum each broadcast dim away (keeping it as 1), then drop the leading dims that
  // `shape` does not have. One reduction per dim: the sums group differently from the
  // CPU's single pass (last-bit differences).
  Tensor g = grad;
  size_t lead = grad.dim() - shape.size();
  for (size_t d = 0; d < grad.shape().size(); ++d) {
    bool broadcast = d < lead || shape[d - lead] == 1;
    if (!broadcast || grad.shape()[d] == 1) continue;
    Shape kept = g.shape();
    int64_t outer = 1, inner = 1;
    for (size_t e = 0; e < kept.size(); ++e) {
      if (e < d) outer *= kept[e];
      if (e > d) inner *= kept[e];
    }
    kept[d] = 1;
    Tensor reduced = Tensor::empty(kept, Device::cuda);
    sum_dim(g, reduced, outer, g.shape()[d], inner);
    g = reduced;
  }
  Tensor out = g.clone();
  out.impl()->shape = shape;
  return out;
}

namespace {
cuda::Unary unary_op(const char* op) {
  static const std::pair<const char*, cuda::Unary> table[] = {
      {"neg", cuda::Unary::neg},   {"exp", cuda::Unary::exp},   {"log", cuda::Unary::log},
      {"sqrt", cuda::Unary::sqrt}, {"pow", cuda::Unary::pow},   {"relu", cuda::Unary::relu},
      {"gelu", cuda::Unary::gelu}, {"tanh", cuda::Unary::tanh}, {"sigmoid", cuda::Unary::sigmoid},
      {"gelu_erf", cuda::Unary::gelu_erf}};
  for (const auto& [name, value] : table)
    if (std::strcmp(name, op) == 0) return value;
  fail(op, ": not implemented for cuda tensors");
}
}  // namespace

Tensor unary(const char* op, const Tensor& a, float p) {
  Tensor out = Tensor::empty(a.shape(), Device::cuda);
  backend_of(a).unary(unary_op(op), a.data(), out.data(), a.numel(), p);
  return out;
}

Tensor unary_backward(const char* op, const Tensor& g, const Tensor& x, const Tensor& y, float p) {
  Tensor dx = Tensor::empty(g.shape(), Device::cuda);
  backend_of(g).unary_backward(unary_op(op), g.data(), x.data(), y.data(), dx.data(), g.numel(), p);
  return dx;
}

Tensor sum_all(const Tensor& a) {
  Tensor out = Tensor::empty({}, Device::cuda);
  if (a.numel() == 0) return Tensor::zeros({}, Device::cuda);
  backend_of(a).sum_dim(a.data(), out.data(), 1, a.numel(), 1);
  return out;
}

Tensor mean_all(const Tensor& a) {
  return binary(cuda::Binary::div, sum_all(a), scalar(static_cast<float>(a.numel())), {});
}

void sum_dim(const Tensor& a, Tensor& out, int64_t outer, int64_t n, int64_t inner) {
  backend_of(a).sum_dim(a.data(), out.data(), outer, n, inner);
}

void matmul(const Tensor& a, const Tensor& b, Tensor& out, int64_t batches, int64_t m, int64_t k, int64_t n,
            bool transpose_a, bool transpose_b) {
  backend_of(a).matmul(cuda::MatmulKernel::fastest, a.data(), b.data(), out.data(), batches, m, k, n, m * k,
                       b.dim() == 2 ? 0 : k * n, transpose_a, transpose_b);
}

Tensor product(const Tensor& a, bool transpose_a, const Tensor& b, bool transpose_b) {
  const int64_t batches = a.dim() == 3 ? a.size(0) : 1;
  const int64_t m = transpose_a ? a.size(-1) : a.size(-2), k = transpose_a ? a.size(-2) : a.size(-1);
  const int64_t n = transpose_b ? b.size(-2) : b.size(-1);
  Tensor out = Tensor::empty(a.dim() == 3 ? Shape{batches, m, n} : Shape{m, n}, Device::cuda);
  if (out.numel() > 0) matmul(a, b, out, batches, m, k, n, transpose_a, transpose_b);
  return out;
}

void transpose(const Tensor& a, Tensor& out, int64_t batches, int64_t rows, int64_t cols) {
  backend_of(a).transpose(a.data(), out.data(), batches, rows, cols);
}

void swap_dims(const Tensor& a, Tensor& out, int64_t outer, int64_t n0, int64_t mid, int64_t n1, int64_t inner) {
  backend_of(a).swap_dims(a.data(), out.data(), outer, n0, mid, n1, inner);
}

void copy_chunks(const Tensor& part, Tensor& out, int64_t destination_offset, int64_t destination_stride,
                 int64_t outer, int64_t chunk) {
  backend_of(part).copy_chunks(part.data(), chunk, out.data() + destination_offset, destination_stride, outer, chunk);
}

// ============================================================================
// whole ops
// ============================================================================

Tensor linear(const Tensor& x, const Tensor& weight, const Tensor& bias) {
  // rows: the product of x's leading dims (not numel / in, which is 0 for every x of width 0)
  int64_t in = weight.size(1), out_features = weight.size(0);
  int64_t rows = checked_numel(Shape(x.shape().begin(), x.shape().end() - 1), "linear");
  Shape out_shape = x.shape();
  out_shape.back() = out_features;
  Tensor out;
  {
    NoGradGuard plain;  // one "linear" node below, as on the CPU
    Tensor y = product(reshape(x, {rows, in}), false, weight, true);  // x @ W^T, W read in place
    if (bias.defined()) y = add(y, bias);
    out = reshape(y, out_shape);
  }
  std::vector<Tensor> inputs{x, weight};
  if (bias.defined()) inputs.push_back(bias);
  if (needs_grad(inputs))
    record(out, "linear", inputs, [x = x.detach(), w = weight.detach(), rx = x.requires_grad(),
                                   rw = weight.requires_grad(), has_bias = bias.defined(), rows, in,
                                   out_features](const Tensor& g) {
      Tensor g2 = reshape(g, {rows, out_features});
      Grads grads(has_bias ? 3 : 2);
      if (rx) grads[0] = reshape(moments::matmul(g2, w), x.shape());                       // dx = g @ W
      if (rw) grads[1] = product(g2, true, reshape(x, {rows, in}), false);                 // dW = g^T @ x
      if (has_bias) grads[2] = sum(g2, 0);                                                 // db = Σ_rows g
      return grads;
    });
  return out;
}

MaxResult max(const Tensor& a, int64_t dim, const Shape& out_shape) {
  int64_t outer = 1, n = a.size(dim), inner = 1;
  for (int64_t d = 0; d < a.dim(); ++d) {
    if (d < dim) outer *= a.size(d);
    if (d > dim) inner *= a.size(d);
  }
  if (n > (int64_t{1} << 24)) fail("max: cuda tensors find maxima along at most 2^24 elements, got ", n);
  Tensor positions = Tensor::empty(out_shape, Device::cuda);  // the indices, as floats: they stay on the device
  MaxResult result{Tensor::empty(out_shape, Device::cuda), {}, positions};
  backend_of(a).max_dim(a.data(), result.values.data(), positions.data(), outer, n, inner);
  if (needs_grad({&a}))
    record(result.values, "max", {a}, [sa = a.shape(), positions, outer, n, inner](const Tensor& g) {
      Tensor ga = Tensor::zeros(sa, Device::cuda);  // da = g at the argmax, 0 elsewhere
      backend_of(g).scatter_dim(g.data(), positions.data(), ga.data(), outer, n, inner);
      return Grads{ga};
    });
  return result;
}

namespace {
// softmax (log = false) or log_softmax (log = true) over the last dim, with its node.
Tensor softmax_node(const char* op, const Tensor& a, bool log) {
  int64_t rows = rows_of(a), n = last_dim(a);
  Tensor out = Tensor::empty(a.shape(), Device::cuda);
  backend_of(a).softmax_rows(a.data(), out.data(), rows, n, log);
  if (needs_grad({&a}))
    record(out, op, {a}, [y = out.detach(), rows, n, log](const Tensor& g) {
      Tensor ga = Tensor::empty(g.shape(), Device::cuda);  // softmax: y (g - Σ g y); log_softmax: g - e^y Σ g
      backend_of(g).softmax_rows_backward(g.data(), y.data(), ga.data(), rows, n, log);
      return Grads{ga};
    });
  return out;
}
}  // namespace

Tensor softmax(const Tensor& a) { return softmax_node("softmax", a, false); }
Tensor log_softmax(const Tensor& a) { return softmax_node("log_softmax", a, true); }

Tensor causal_softmax(const Tensor& scores, float scale) {
  int64_t rows = rows_of(scores), n = last_dim(scores);
  Tensor out = Tensor::empty(scores.shape(), Device::cuda);
  backend_of(scores).causal_softmax_rows(scores.data(), out.data(), rows, n, scale);
  if (needs_grad({&scores}))
    record(out, "causal_softmax", {scores}, [y = out.detach(), rows, n, scale](const Tensor& g) {
      Tensor ga = Tensor::empty(g.shape(), Device::cuda);  // da = s y * (g - Σ g y)
      backend_of(g).causal_softmax_rows_backward(g.data(), y.data(), ga.data(), rows, n, scale);
      return Grads{ga};
    });
  return out;
}

Tensor causal_self_attention(const Tensor& q, const Tensor& k, const Tensor& v) {
  // As (heads, T, D): the batched matmul kernels take 3-D operands.
  const int64_t t = q.size(-2), d = q.size(-1), heads = t * d != 0 ? q.numel() / (t * d) : 0;
  const float scale = 1.0f / std::sqrt(static_cast<float>(std::max<int64_t>(d, 1)));
  const Shape flat{heads, t, d};
  Tensor out, p;
  {
    NoGradGuard plain;  // one "causal_self_attention" node below, as on the CPU
    p = moments::causal_softmax(matmul_transposed(reshape(q, flat), reshape(k, flat)), scale);  // P (heads, T, T)
    out = reshape(moments::matmul(p, reshape(v, flat)), q.shape());                    // o = P v
  }
  if (needs_grad({&q, &k, &v}))
    record(out, "causal_self_attention", {q, k, v},
           [q = q.detach(), k = k.detach(), v = v.detach(), p, flat, heads, t, scale](const Tensor& g) {
             Tensor g3 = reshape(g, flat);
             Tensor dp = matmul_transposed(g3, reshape(v, flat));  // dP = g v^T
             Tensor ds = Tensor::empty(dp.shape(), Device::cuda);  // dS = P * (dP - Σ_j dP P) / √D
             backend_of(g).causal_softmax_rows_backward(dp.data(), p.data(), ds.data(), heads * t, t, scale);
             return Grads{reshape(moments::matmul(ds, reshape(k, flat)), q.shape()),                          // dq = dS k
                          reshape(product(ds, true, reshape(q, flat), false), q.shape()),  // dk = dS^T q
                          reshape(product(p, true, g3, false), q.shape())};                // dv = P^T g
           });
  return out;
}

Tensor cross_entropy(const Tensor& logits, const std::vector<int64_t>& targets) {
  int64_t n = logits.size(0), classes = logits.size(1);
  cuda::Backend& backend = backend_of(logits);
  Tensor target_index = index_tensor("cross_entropy", targets, classes);
  Tensor probs = Tensor::empty(logits.shape(), Device::cuda);      // (N, C) softmax(z), kept for backward
  Tensor log_probs = Tensor::empty(logits.shape(), Device::cuda);  // (N, C)
  Tensor picked = Tensor::empty({n}, Device::cuda);                // (N) log p[i, t_i]
  backend.softmax_rows(logits.data(), probs.data(), n, classes, false);
  backend.softmax_rows(logits.data(), log_probs.data(), n, classes, true);
  backend.pick(log_probs.data(), target_index.data(), picked.data(), n, classes);
  Tensor out;
  {
    NoGradGuard plain;
    out = div(neg(sum_all(picked)), scalar(static_cast<float>(n)));  // mean_i -log p[i, t_i]
  }
  if (needs_grad({&logits}))
    record(out, "cross_entropy", {logits}, [probs, target_index, n, classes](const Tensor& g) {
      Tensor gz = probs.clone();  // dz = (softmax(z) - onehot(t)) * g / N
      backend_of(gz).add_at(gz.data(), target_index.data(), n, classes, -1.0f);
      return Grads{mul(gz, div(g, scalar(static_cast<float>(n))))};  // g / N stays on the device: no wait
    });
  return out;
}

Tensor mse_loss(const Tensor& prediction, const Tensor& target) {
  float n = static_cast<float>(prediction.numel());
  Tensor out;
  {
    NoGradGuard plain;
    Tensor difference = sub(prediction, target);
    out = div(sum_all(mul(difference, difference)), scalar(n));  // mean (p - t)^2
  }
  if (needs_grad({&prediction, &target}))
    record(out, "mse_loss", {prediction, target}, [p = prediction.detach(), t = target.detach(), n](const Tensor& g) {
      Tensor gp = mul(sub(p, t), div(mul(g, scalar(2.0f)), scalar(n)));  // dp = 2 (p - t) g / n, dt = -dp
      return Grads{gp, neg(gp)};
    });
  return out;
}

Tensor embedding(const Tensor& weight, const std::vector<int64_t>& ids, const Shape& ids_shape) {
  int64_t vocab = weight.size(0), width = weight.size(1), count = static_cast<int64_t>(ids.size());
  const bool backward = needs_grad({&weight});
  // One upload: the ids (count), and for the backward each id's positions in ascending order, as
  // first (vocab + 1: where each id's run starts) and positions (count), built by a counting sort.
  if (limit_exceeded(vocab) || (backward && limit_exceeded(count)))
    fail("embedding: cuda tensors index at most 2^24 rows and positions (indices travel as floats), got ", vocab,
         " rows and ", count, " ids");
  std::vector<float> host(ids.begin(), ids.end());
  if (backward) {
    std::vector<int64_t> first(static_cast<size_t>(vocab) + 1, 0);
    for (int64_t id : ids) ++first[static_cast<size_t>(id) + 1];
    for (size_t v = 0; v < static_cast<size_t>(vocab); ++v) first[v + 1] += first[v];
    std::vector<float> positions(ids.size());
    std::vector<int64_t> next(first.begin(), first.end() - 1);
    for (size_t i = 0; i < ids.size(); ++i) positions[static_cast<size_t>(next[static_cast<size_t>(ids[i])]++)] = static_cast<float>(i);
    host.insert(host.end(), first.begin(), first.end());
    host.insert(host.end(), positions.begin(), positions.end());
  }
  Tensor lists = Tensor::from(host).to(Device::cuda);
  Shape out_shape = ids_shape;
  out_shape.push_back(width);
  Tensor out = Tensor::empty(out_shape, Device::cuda);
  backend_of(weight).gather_rows(weight.data(), lists.data(), out.data(), count, width);
  if (backward)
    record(out, "embedding", {weight}, [lists, sw = weight.shape(), count, vocab, width](const Tensor& g) {
      Tensor gw = Tensor::empty(sw, Device::cuda);  // dW[id] = Σ of g[i] over the positions i of id
      const float* first = lists.data() + count;
      backend_of(g).scatter_add_rows(g.data(), first, first + vocab + 1, gw.data(), vocab, width);
      return Grads{gw};
    });
  return out;
}

Tensor layer_norm(const Tensor& x, const Tensor& weight, const Tensor& bias, float eps) {
  int64_t width = x.shape().back();
  int64_t rows = width ? x.numel() / width : 0;
  Tensor out = Tensor::empty(x.shape(), Device::cuda);
  Tensor x_hat = Tensor::empty(x.shape(), Device::cuda);  // (rows, D) normalized input, kept for backward
  Tensor inv_std = Tensor::empty({rows}, Device::cuda);   // (rows) 1/√(σ² + ε)
  backend_of(x).layer_norm(x.data(), weight.data(), bias.data(), out.data(), x_hat.data(), inv_std.data(), rows,
                           width, eps);
  if (needs_grad({&x, &weight, &bias}))
    record(out, "layer_norm", {x, weight, bias}, [x_hat, inv_std, w = weight.detach(), rows, width](const Tensor& g) {
      Tensor gx = Tensor::empty(x_hat.shape(), Device::cuda);
      backend_of(g).layer_norm_backward(g.data(), x_hat.data(), inv_std.data(), w.data(), gx.data(), rows, width);
      Tensor g2 = reshape(g, {rows, width});
      Tensor gw = sum(mul(g2, reshape(x_hat, {rows, width})), 0);  // dw = Σ_rows g x̂
      Tensor gb = sum(g2, 0);                                       // db = Σ_rows g
      return Grads{gx, gw, gb};
    });
  return out;
}

Tensor slice(const Tensor& a, int64_t dim, int64_t start, int64_t end) {
  int64_t outer = 1, n = a.size(dim), inner = 1;
  for (int64_t d = 0; d < a.dim(); ++d) {
    if (d < dim) outer *= a.size(d);
    if (d > dim) inner *= a.size(d);
  }
  Shape out_shape = a.shape();
  out_shape[static_cast<size_t>(dim)] = end - start;
  Tensor out = Tensor::empty(out_shape, Device::cuda);
  int64_t chunk = (end - start) * inner;  // contiguous floats per outer index
  backend_of(a).copy_chunks(a.data() + start * inner, n * inner, out.data(), chunk, outer, chunk);
  if (needs_grad({&a}))
    record(out, "slice", {a}, [sa = a.shape(), outer, n, inner, start, chunk](const Tensor& g) {
      Tensor ga = Tensor::zeros(sa, Device::cuda);  // g placed where the slice came from
      backend_of(g).copy_chunks(g.data(), chunk, ga.data() + start * inner, n * inner, outer, chunk);
      return Grads{ga};
    });
  return out;
}

}  // namespace moments::cuda_ops
