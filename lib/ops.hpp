// ops.hpp — every differentiable operation, forward and backward side by side (ops.cpp).
//
// INDEX OF DERIVATIVE RULES (g = dL/d(out); broadcast inputs get their gradient
// summed back to their own shape)
//   add      out = a + b           da = g                  db = g
//   sub      out = a - b           da = g                  db = -g
//   mul      out = a * b           da = g * b              db = g * a
//   div      out = a / b           da = g / b              db = -g * a / b^2
//   neg      out = -a              da = -g
//   matmul   out = A @ B           dA = g @ B^T            dB = A^T @ g   (batched: per batch; 3-D@2-D sums dB over the batch)
//   linear   out = x @ W^T + b     dx = g @ W              dW = g^T @ x   db = sum of g over rows
//   matmul_transposed out = A @ B^T (last two dims)   dA = g @ B          dB = g^T @ A
//   transpose out = A^T (last two) dA = g^T
//   transpose(a, d0, d1) swaps two dims                dA = g with d0, d1 swapped back
//   reshape  out = A viewed anew   dA = g reshaped back
//   sum      out = sum a           da = g broadcast back
//   mean     out = sum a / n       da = g / n broadcast back
//   max      out = max over dim    da = g at the argmax, 0 elsewhere
//   exp      out = e^a             da = g * out
//   log      out = ln a            da = g / a
//   sqrt     out = √a              da = g / (2 out)
//   pow      out = a^p             da = g * p a^(p-1)
//   relu     out = max(a, 0)       da = g * [a > 0]
//   gelu     out = a/2 (1 + tanh(k (a + 0.044715 a^3))), k = √(2/π)
//                                  da = g * (1/2 (1 + t) + a/2 (1 - t^2) k (1 + 3·0.044715 a^2)), t = tanh(...)
//   gelu_erf out = a Φ(a) = a/2 (1 + erf(a/√2))      da = g * (Φ(a) + a φ(a)), φ(a) = e^(-a²/2)/√(2π)
//   tanh     out = tanh a          da = g * (1 - out^2)
//   sigmoid  out = 1/(1 + e^-a)    da = g * out (1 - out)
//   softmax  y = e^a / Σ e^a (last dim)      da = y * (g - Σ g y)
//   log_softmax y = a - log Σ e^a (last dim) da = g - softmax(a) * Σ g
//   causal_softmax y_ij = softmax_j≤i (s a_ij), 0 for j > i   da = s y * (g - Σ g y)
//   causal_self_attention o = P v, P = causal_softmax(q k^T, 1/√D)
//                                  dP = g v^T, dS = P * (dP - Σ_j dP P) / √D
//                                  dq = dS k    dk = dS^T q    dv = P^T g
//   cross_entropy L = mean_i -log_softmax(z_i)[t_i]   dz_i = (softmax(z_i) - onehot(t_i)) * g / N
//   mse_loss L = mean (p - t)^2    dp = 2 (p - t) g / n    dt = -dp
//   embedding out[i] = W[ids[i]]   dW[ids[i]] += g[i]
//   dropout  out = a * m, m_i = 0 with probability p, else 1/(1-p)   da = g * m
//   layer_norm y = x̂ w + b, x̂ = (x - μ) / √(σ² + ε)  (last dim, biased σ²)
//                                  dx = (1/σ̃)(ĝ - mean ĝ - x̂ mean(ĝ x̂)), ĝ = g w, σ̃ = √(σ² + ε)
//                                  dw = Σ_rows g x̂    db = Σ_rows g
//   concat   out = [a; b; ...]     da = the slice of g that a filled
//   slice    out = a[start:end]    da = g placed into zeros of a's shape
//
// Shapes follow NumPy broadcasting: align trailing dims; each pair must be equal
// or contain a 1. Every shape error throws moments::Error naming the op and the shapes.
//
// DEVICES. Every op takes cpu tensors or Device::cuda tensors (a GPU, or the CPU
// emulator), never a mix (an error names both devices). On cuda the kernels of cuda/
// run (via ops_cuda.cpp) and the same autograd nodes are recorded, so backward() and
// the optimizers run there too.
#pragma once
#include <cstdint>
#include <vector>

#include "tensor.hpp"

namespace moments {

class Generator;  // random.hpp

// ---- elementwise arithmetic with broadcasting ----------------------------
Tensor add(const Tensor& a, const Tensor& b);
Tensor sub(const Tensor& a, const Tensor& b);
Tensor mul(const Tensor& a, const Tensor& b);
Tensor div(const Tensor& a, const Tensor& b);
Tensor neg(const Tensor& a);
Tensor add(const Tensor& a, float b);
Tensor mul(const Tensor& a, float b);

Tensor operator+(const Tensor& a, const Tensor& b);
Tensor operator-(const Tensor& a, const Tensor& b);
Tensor operator*(const Tensor& a, const Tensor& b);
Tensor operator/(const Tensor& a, const Tensor& b);
Tensor operator-(const Tensor& a);
Tensor operator+(const Tensor& a, float b);
Tensor operator+(float a, const Tensor& b);
Tensor operator-(const Tensor& a, float b);
Tensor operator-(float a, const Tensor& b);
Tensor operator*(const Tensor& a, float b);
Tensor operator*(float a, const Tensor& b);
Tensor operator/(const Tensor& a, float b);
Tensor operator/(float a, const Tensor& b);

// In place, never recorded (for gradient accumulation and optimizer code):
// a += b, where b broadcasts to a's shape.
void add_(Tensor a, const Tensor& b);

// Sums `grad` over the dims that were broadcast, giving `shape` (backward of broadcasting).
Tensor sum_to(const Tensor& grad, const Shape& shape);
// The shape two shapes broadcast to; `op` names the caller in the error.
Shape broadcast_shapes(const Shape& a, const Shape& b, const char* op);

// ---- linear algebra and shape --------------------------------------------
// (M,K)@(K,N) -> (M,N); (B,M,K)@(B,K,N) -> (B,M,N); (B,M,K)@(K,N) -> (B,M,N)
Tensor matmul(const Tensor& a, const Tensor& b);
// x (..., in) @ weight(out, in)^T + bias(out): the Linear layer, without copying weight^T.
Tensor linear(const Tensor& x, const Tensor& weight, const Tensor& bias);
// a @ b^T over the last two dims, without copying b^T: (M,K)@(N,K)^T -> (M,N), (B,M,K)@(B,N,K)^T -> (B,M,N).
// Attention's scores q @ k^T.
Tensor matmul_transposed(const Tensor& a, const Tensor& b);
Tensor transpose(const Tensor& a);  // swaps the last two dims (a new contiguous tensor)
// Swaps dims dim0 and dim1 (negative counts from the end), a new contiguous tensor: the heads'
// split and merge, (B, T, H, D) <-> (B, H, T, D), is transpose(x, 1, 2).
Tensor transpose(const Tensor& a, int64_t dim0, int64_t dim1);
Tensor reshape(const Tensor& a, const Shape& shape);  // one size may be -1 (inferred)

// ---- reductions -----------------------------------------------------------
Tensor sum(const Tensor& a);                                   // all elements -> shape []
Tensor sum(const Tensor& a, int64_t dim, bool keepdim = false);
Tensor mean(const Tensor& a);
Tensor mean(const Tensor& a, int64_t dim, bool keepdim = false);
struct MaxResult {
  Tensor values;  // the maxima
  // Where they are along `dim` (first on ties), in values' layout. For a cuda tensor this copies
  // them from the device (the host waits for it), so max() itself never does.
  std::vector<int64_t> indices() const;
  std::vector<int64_t> host_indices;  // filled by max() on the cpu
  Tensor device_positions;            // filled by max() on cuda: the indices as floats, exact below 2^24
};
MaxResult max(const Tensor& a, int64_t dim, bool keepdim = false);

// ---- pointwise functions ---------------------------------------------------
Tensor exp(const Tensor& a);
Tensor log(const Tensor& a);
Tensor sqrt(const Tensor& a);
Tensor pow(const Tensor& a, float exponent);
Tensor relu(const Tensor& a);
Tensor gelu(const Tensor& a);  // the tanh approximation (PyTorch's approximate='tanh')
Tensor gelu_erf(const Tensor& a);  // the exact form with erf: PyTorch's nn.GELU() default (approximate='none')
Tensor tanh(const Tensor& a);
Tensor sigmoid(const Tensor& a);

// ---- the last dim as a distribution ----------------------------------------
Tensor softmax(const Tensor& a);      // over the last dim, max-subtracted for stability
Tensor log_softmax(const Tensor& a);  // over the last dim, via log-sum-exp
// scores (..., T, T): row i of each T x T block is softmax(scale * scores) over columns j <= i, and
// exactly 0 at j > i (the causal mask of a decoder: position i sees positions 0..i). One fused op:
// no mask tensor, no -inf, the same as softmax(scale * scores + mask) with mask -inf above the diagonal.
Tensor causal_softmax(const Tensor& scores, float scale = 1.0f);
// q, k, v (..., T, D), one shape (e.g. (B, H, T, D)): softmax(q k^T / √D) with the causal mask, times v,
// in one op. The same numbers as matmul(causal_softmax(matmul_transposed(q, k), 1/√D), v) to float
// rounding; on the CPU it keeps P (..., T, T) for backward and makes no other intermediate tensor (on
// cuda it runs those kernels in turn).
Tensor causal_self_attention(const Tensor& q, const Tensor& k, const Tensor& v);

// ---- losses -----------------------------------------------------------------
// logits (N, C), targets N class indices in [0, C): mean over the batch of -log p[target].
Tensor cross_entropy(const Tensor& logits, const std::vector<int64_t>& targets);
// Not an op (nothing to differentiate): logits (N, C) -> N class indices, row i's drawn from softmax(z_i)
// with one gen.uniform() per row (the inverse of the cumulative distribution, in double). The labels of
// Sophia's Gauss–Newton–Bartlett estimator (optim/sophia.hpp): cross_entropy(logits, sample_labels(logits,
// gen)) is the loss whose squared gradient estimates the Hessian's diagonal. A non-finite logit is refused.
std::vector<int64_t> sample_labels(const Tensor& logits, Generator& gen);
// mean of (prediction - target)^2 over all elements; shapes must be equal.
Tensor mse_loss(const Tensor& prediction, const Tensor& target);

// ---- layers as functions -------------------------------------------------
// weight (V, D); ids of any shape S with values in [0, V) -> shape S + [D].
Tensor embedding(const Tensor& weight, const std::vector<int64_t>& ids, const Shape& ids_shape);
// over the last dim D; weight and bias of shape [D]; biased variance, as PyTorch.
Tensor layer_norm(const Tensor& x, const Tensor& weight, const Tensor& bias, float eps = 1e-5f);
// Inverted dropout, as torch.nn.functional.dropout: while training, each element is zeroed with
// probability p (p in [0, 1)) and the rest scaled by 1/(1-p), with one gen.uniform() per element in
// element order (zeroed where u < p), so the mask is the same on every device and thread count.
// With p = 0 or training = false it returns `a` itself: no copy, no mask, no node, no draw.
Tensor dropout(const Tensor& a, float p, Generator& gen, bool training = true);

// ---- joining and cutting ------------------------------------------------------
Tensor concat(const std::vector<Tensor>& parts, int64_t dim);
Tensor slice(const Tensor& a, int64_t dim, int64_t start, int64_t end);  // [start, end), step 1

}  // namespace moments
