// ops_cuda.hpp — the Device::cuda side of ops.cpp (internal: lib/ only). ops.cpp checks
// its arguments, then, for cuda tensors, calls these instead of its Eigen loops:
//   - forward kernels of ops whose backward ops.cpp writes with ops (add, mul, matmul,
//     sum, the pointwise functions, ...): the node ops.cpp records already runs on
//     cuda, because the ops inside it dispatch again;
//   - whole ops (forward and node) where the CPU backward reads buffers on the host
//     (linear, max, softmax, log_softmax, causal_softmax, causal_self_attention,
//     cross_entropy, mse_loss, embedding, layer_norm, slice): the nodes carry the same op name, inputs and derivative rule
//     (ops.hpp's index) as on the CPU, with the backward done by kernels.
// The kernels are in cuda/ (backend.hpp lists them); a tensor's kernels run on the
// executor that holds its memory (Tensor::cuda_backend()).
#pragma once
#include <cstdint>
#include <vector>

#include "backend.hpp"
#include "ops.hpp"

namespace moments::cuda_ops {

// ---- forward kernels (ops.cpp records the nodes) ----------------------------
Tensor binary(cuda::Binary op, const Tensor& a, const Tensor& b, const Shape& out_shape);  // a ∘ b, broadcast
void add_in_place(Tensor& a, const Tensor& b);                                            // add_
Tensor broadcast_to(const Tensor& t, const Shape& shape);
Tensor sum_to(const Tensor& grad, const Shape& shape);
Tensor unary(const char* op, const Tensor& a, float p);  // op: a pointwise op's name ("exp", "pow", ...)
Tensor unary_backward(const char* op, const Tensor& g, const Tensor& x, const Tensor& y, float p);
Tensor sum_all(const Tensor& a);   // shape []
Tensor mean_all(const Tensor& a);  // shape []
void sum_dim(const Tensor& a, Tensor& out, int64_t outer, int64_t n, int64_t inner);
// transpose_a / transpose_b: the operand's last two dims are read transposed where it is stored (no copy).
void matmul(const Tensor& a, const Tensor& b, Tensor& out, int64_t batches, int64_t m, int64_t k, int64_t n,
            bool transpose_a = false, bool transpose_b = false);
// op(a) @ op(b), op the transpose of the last two dims where asked, read in place: 2-D @ 2-D or
// 3-D @ 3-D (batched). No node: for forward and backward passes that record their own.
Tensor product(const Tensor& a, bool transpose_a, const Tensor& b, bool transpose_b);
void transpose(const Tensor& a, Tensor& out, int64_t batches, int64_t rows, int64_t cols);
// a (outer, n0, mid, n1, inner) → out (outer, n1, mid, n0, inner): transpose(a, dim0, dim1).
void swap_dims(const Tensor& a, Tensor& out, int64_t outer, int64_t n0, int64_t mid, int64_t n1, int64_t inner);
// out's floats [destination_offset + o * destination_stride, + chunk) ← part's o-th chunk.
void copy_chunks(const Tensor& part, Tensor& out, int64_t destination_offset, int64_t destination_stride,
                 int64_t outer, int64_t chunk);

// ---- whole ops (arguments already checked by ops.cpp) -------------------------
Tensor linear(const Tensor& x, const Tensor& weight, const Tensor& bias);
MaxResult max(const Tensor& a, int64_t dim, const Shape& out_shape);
Tensor softmax(const Tensor& a);
Tensor log_softmax(const Tensor& a);
Tensor causal_softmax(const Tensor& scores, float scale);
// composed of the kernels (matmul, transpose, causal softmax), with one "causal_self_attention" node
Tensor causal_self_attention(const Tensor& q, const Tensor& k, const Tensor& v);
Tensor cross_entropy(const Tensor& logits, const std::vector<int64_t>& targets);
Tensor mse_loss(const Tensor& prediction, const Tensor& target);
Tensor embedding(const Tensor& weight, const std::vector<int64_t>& ids, const Shape& ids_shape);
Tensor layer_norm(const Tensor& x, const Tensor& weight, const Tensor& bias, float eps);
Tensor slice(const Tensor& a, int64_t dim, int64_t start, int64_t end);

}  // namespace moments::cuda_ops
