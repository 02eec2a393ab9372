// Suite `ops`: every differentiable op against central finite differences,
// forward values against PyTorch (reference/ops_golden.hpp), and the errors.
//
// Tolerances: the default GradCheck (h = 1e-2, atol = rtol = 1e-2) unless an op
// states its own next to its test. Inputs of ops with kinks (relu, max) keep
// every element more than h away from the kink, so the difference quotient
// never straddles it.
#include "reference/ops_golden.hpp"
#include "testing.hpp"

using namespace moments;
using testing::check_close;
using testing::check_error;
using testing::check_gradients;
using testing::pattern;
using Inputs = std::vector<Tensor>;

namespace {
Generator gen(2024);
Tensor random(const Shape& shape) { return randn(shape, gen); }
Tensor positive(const Shape& shape) { return rand(shape, gen, 0.5f, 2.0f); }
// Values spread at least 0.05 apart, shuffled: safe for max and relu.
Tensor spread(const Shape& shape) {
  Tensor t = Tensor::empty(shape);
  int64_t n = t.numel();
  for (int64_t i = 0; i < n; ++i) t.data()[i] = 0.05f * static_cast<float>((i * 37) % n) - 0.025f * static_cast<float>(n) + 0.0125f;
  return t;
}
}  // namespace

// ---- finite-difference checks ------------------------------------------------

TEST_CASE("add, sub, mul, div: gradients, with broadcasting reduced back to input shapes") {
  for (auto [a, b] : std::vector<std::pair<Shape, Shape>>{{{3, 4}, {3, 4}}, {{3, 4}, {4}}, {{2, 1, 4}, {3, 1}}, {{5}, {}}}) {
    CAPTURE(shape_str(a));
    CAPTURE(shape_str(b));
    check_gradients("add", [](const Inputs& x) { return x[0] + x[1]; }, {random(a), random(b)});
    check_gradients("sub", [](const Inputs& x) { return x[0] - x[1]; }, {random(a), random(b)});
    check_gradients("mul", [](const Inputs& x) { return x[0] * x[1]; }, {random(a), random(b)});
    check_gradients("div", [](const Inputs& x) { return x[0] / x[1]; }, {random(a), positive(b)});
  }
}

TEST_CASE("neg and the scalar forms: gradients") {
  check_gradients("neg", [](const Inputs& x) { return -x[0]; }, {random({2, 3})});
  check_gradients("scalar forms", [](const Inputs& x) { return (2.0f * x[0] + 1.0f) / 3.0f - 0.5f * (1.0f - x[0]); },
                  {random({4})});
  check_gradients("scalar / tensor", [](const Inputs& x) { return 2.0f / x[0]; }, {positive({4})});
}

TEST_CASE("matmul: gradients for 2-D, 3-D@3-D and 3-D@2-D") {
  check_gradients("matmul 2-D", [](const Inputs& x) { return matmul(x[0], x[1]); }, {random({3, 4}), random({4, 5})});
  check_gradients("matmul 3-D@3-D", [](const Inputs& x) { return matmul(x[0], x[1]); }, {random({2, 3, 4}), random({2, 4, 2})});
  check_gradients("matmul 3-D@2-D", [](const Inputs& x) { return matmul(x[0], x[1]); }, {random({2, 3, 4}), random({4, 5})});
}

TEST_CASE("linear: gradients with and without bias, 2-D and 3-D input") {
  check_gradients("linear", [](const Inputs& x) { return linear(x[0], x[1], x[2]); }, {random({5, 3}), random({4, 3}), random({4})});
  check_gradients("linear 3-D", [](const Inputs& x) { return linear(x[0], x[1], x[2]); },
                  {random({2, 5, 3}), random({4, 3}), random({4})});
  check_gradients("linear no bias", [](const Inputs& x) { return linear(x[0], x[1], Tensor()); }, {random({5, 3}), random({4, 3})});
  // linear is matmul with the transposed weight plus a broadcast bias:
  Tensor x = random({5, 3}), w = random({4, 3}), b = random({4});
  check_close(linear(x, w, b), (matmul(x, transpose(w)) + b).to_vector(), 1e-6f, 1e-6f, "linear == x @ W^T + b");
}

TEST_CASE("transpose and reshape: gradients") {
  check_gradients("transpose 2-D", [](const Inputs& x) { return transpose(x[0]); }, {random({3, 4})});
  check_gradients("transpose 3-D", [](const Inputs& x) { return transpose(x[0]); }, {random({2, 3, 4})});
  check_gradients("reshape", [](const Inputs& x) { return reshape(x[0], {4, -1}); }, {random({2, 3, 2})});
}

TEST_CASE("sum, mean and max: gradients, all elements and over a dim") {
  check_gradients("sum all", [](const Inputs& x) { return sum(x[0]); }, {random({3, 4})});
  for (int64_t dim : {0, 1, -1}) {
    for (bool keepdim : {false, true}) {
      CAPTURE(dim);
      CAPTURE(keepdim);
      check_gradients("sum dim", [=](const Inputs& x) { return sum(x[0], dim, keepdim); }, {random({2, 3, 4})});
      check_gradients("mean dim", [=](const Inputs& x) { return mean(x[0], dim, keepdim); }, {random({2, 3, 4})});
      check_gradients("max dim", [=](const Inputs& x) { return max(x[0], dim, keepdim).values; }, {spread({2, 3, 4})});
    }
  }
  check_gradients("mean all", [](const Inputs& x) { return mean(x[0]); }, {random({3, 4})});
}

TEST_CASE("pointwise functions: gradients") {
  testing::GradCheck curved{.h = 1e-3f, .atol = 1e-2f, .rtol = 1e-2f};  // exp and pow curve fast; a smaller step
  check_gradients("exp", [](const Inputs& x) { return exp(x[0]); }, {random({3, 4})}, curved);
  check_gradients("log", [](const Inputs& x) { return log(x[0]); }, {positive({3, 4})});
  check_gradients("sqrt", [](const Inputs& x) { return sqrt(x[0]); }, {positive({3, 4})});
  for (float p : {3.0f, 0.5f, -1.5f}) {
    CAPTURE(p);
    check_gradients("pow", [p](const Inputs& x) { return pow(x[0], p); }, {positive({3, 4})}, curved);
  }
  check_gradients("relu", [](const Inputs& x) { return relu(x[0]); }, {spread({3, 4})});
  check_gradients("gelu", [](const Inputs& x) { return gelu(x[0]); }, {random({3, 4})});
  check_gradients("tanh", [](const Inputs& x) { return tanh(x[0]); }, {random({3, 4})});
  check_gradients("sigmoid", [](const Inputs& x) { return sigmoid(x[0]); }, {random({3, 4})});
}

TEST_CASE("softmax, log_softmax and the losses: gradients") {
  check_gradients("softmax", [](const Inputs& x) { return softmax(x[0]); }, {random({3, 5})});
  check_gradients("log_softmax", [](const Inputs& x) { return log_softmax(x[0]); }, {random({2, 2, 5})});
  check_gradients("cross_entropy", [](const Inputs& x) { return cross_entropy(x[0], {2, 0, 4}); }, {random({3, 5})});
  check_gradients("mse_loss", [](const Inputs& x) { return mse_loss(x[0], x[1]); }, {random({3, 4}), random({3, 4})});
}

TEST_CASE("embedding, layer_norm, concat and slice: gradients") {
  // ids repeat, so the embedding gradient must add the rows that share an id.
  check_gradients("embedding", [](const Inputs& x) { return embedding(x[0], {1, 3, 1, 0, 3, 3}, {2, 3}); }, {random({4, 3})});
  check_gradients("layer_norm", [](const Inputs& x) { return layer_norm(x[0], x[1], x[2]); },
                  {random({2, 3, 6}), random({6}), random({6})});
  for (int64_t dim : {0, 1, -1}) {
    CAPTURE(dim);
    Shape a{2, 3, 4}, b{2, 3, 4};
    b[static_cast<size_t>(dim < 0 ? 2 : dim)] = 2;
    check_gradients("concat", [dim](const Inputs& x) { return concat({x[0], x[1]}, dim); }, {random(a), random(b)});
    check_gradients("slice", [dim](const Inputs& x) { return slice(x[0], dim, 1, 2); }, {random(a)});
  }
}

// ---- forward values ------------------------------------------------------------

TEST_CASE("forward values match PyTorch (reference/make_ops_golden.py)") {
  // Tolerance: a few float32 ulps of the values (1e-6 absolute, 4e-7 relative ≈ 3 ulp).
  const float atol = 1e-6f, rtol = 4e-7f;
  Tensor x = pattern({4, 6}, 3);
  check_close(gelu(x), golden::gelu_tanh, atol, rtol, "gelu (tanh form)");
  check_close(sigmoid(x), golden::sigmoid, atol, rtol, "sigmoid");
  check_close(tanh(x), golden::tanh, atol, rtol, "tanh");
  check_close(exp(x), golden::exp, atol, rtol, "exp");
  check_close(softmax(x), golden::softmax, atol, rtol, "softmax");
  check_close(log_softmax(x), golden::log_softmax, atol, rtol, "log_softmax");
  check_close(matmul(pattern({2, 3, 4}, 1), pattern({2, 4, 5}, 2)), golden::matmul_batched, atol, rtol, "matmul batched");
  check_close(pattern({3, 4}, 5) / (pattern({4}, 6) + 3.0f), golden::div_broadcast, atol, rtol, "div broadcast");
  Tensor base = pattern({12}, 0);
  for (int64_t i = 0; i < base.numel(); ++i) base.data()[i] = std::fabs(base.data()[i]) + 0.5f;
  check_close(pow(base, 1.5f), golden::pow_1_5, atol, rtol, "pow");
}

TEST_CASE("losses and layer_norm, forward and backward, match PyTorch") {
  const float atol = 2e-6f, rtol = 1e-6f;
  Tensor logits = pattern({4, 5}, 4, 0.5f).requires_grad_();
  Tensor ce = cross_entropy(logits, {1, 0, 4, 2});
  ce.backward();
  check_close(ce, golden::cross_entropy, atol, rtol, "cross_entropy");
  check_close(logits.grad(), golden::cross_entropy_grad, atol, rtol, "cross_entropy grad");

  Tensor x = pattern({3, 8}, 2).requires_grad_();
  Tensor w = (pattern({8}, 5) + 1.0f).detach().requires_grad_();
  Tensor b = pattern({8}, 9).requires_grad_();
  Tensor y = layer_norm(x, w, b);
  sum(y * pattern({3, 8}, 11)).backward();
  check_close(y, golden::layer_norm, atol, rtol, "layer_norm");
  check_close(x.grad(), golden::layer_norm_grad_x, 1e-5f, 1e-5f, "layer_norm grad x");
  check_close(w.grad(), golden::layer_norm_grad_w, 1e-5f, 1e-5f, "layer_norm grad w");
  check_close(b.grad(), golden::layer_norm_grad_b, atol, rtol, "layer_norm grad b");

  Tensor p = pattern({10}, 1).requires_grad_();
  Tensor mse = mse_loss(p, pattern({10}, 8));
  mse.backward();
  check_close(mse, golden::mse_loss, atol, rtol, "mse_loss");
  check_close(p.grad(), golden::mse_loss_grad, atol, rtol, "mse_loss grad");
}

TEST_CASE("forward results of shape ops and reductions") {
  Tensor a = Tensor::from({1, 5, 3, 4, 2, 6}, {2, 3});
  CHECK(transpose(a).to_vector() == std::vector<float>{1, 4, 5, 2, 3, 6});
  CHECK(reshape(a, {3, -1}).shape() == Shape{3, 2});
  CHECK(sum(a).item() == 21.0f);
  CHECK(sum(a, 0).to_vector() == std::vector<float>{5, 7, 9});
  CHECK(sum(a, 1, true).shape() == Shape{2, 1});
  CHECK(mean(a, 1).to_vector() == std::vector<float>{3, 4});
  MaxResult m = max(a, 1);
  CHECK(m.values.to_vector() == std::vector<float>{5, 6});
  CHECK(m.indices() == std::vector<int64_t>{1, 2});
  CHECK(concat({a, a}, 0).shape() == Shape{4, 3});
  CHECK(slice(a, 1, 1, 3).to_vector() == std::vector<float>{5, 3, 2, 6});
  CHECK(embedding(a, {1, 0}, {2}).to_vector() == std::vector<float>{4, 2, 6, 1, 5, 3});
  Tensor huge = Tensor::from({1000.0f, 0.0f});
  CHECK(softmax(huge).to_vector() == std::vector<float>{1.0f, 0.0f});  // no overflow
  CHECK(log_softmax(huge).at({1}) == -1000.0f);
}

// ---- errors ------------------------------------------------------------------

TEST_CASE("shape mismatches name the op and the shapes") {
  Tensor a = Tensor::zeros({2, 3}), b = Tensor::zeros({4}), c = Tensor::zeros({3, 5});
  check_error([&] { add(a, b); }, {"add", "[2, 3]", "[4]"});
  check_error([&] { sub(a, b); }, {"sub", "[2, 3]", "[4]"});
  check_error([&] { mul(a, b); }, {"mul", "[2, 3]", "[4]"});
  check_error([&] { div(a, b); }, {"div", "[2, 3]", "[4]"});
  check_error([&] { matmul(a, a); }, {"matmul", "[2, 3]", "[2, 3]"});
  check_error([&] { matmul(Tensor::zeros({2, 2, 3}), Tensor::zeros({3, 3, 2})); }, {"matmul", "[2, 2, 3]", "[3, 3, 2]"});
  check_error([&] { matmul(b, b); }, {"matmul", "[4]"});
  check_error([&] { linear(a, c, Tensor()); }, {"linear", "[2, 3]", "[3, 5]"});
  check_error([&] { linear(a, Tensor::zeros({5, 3}), b); }, {"linear", "bias", "[4]", "[5]"});
  check_error([&] { transpose(b); }, {"transpose", "[4]"});
  check_error([&] { reshape(a, {4, 2}); }, {"reshape", "[2, 3]", "[4, 2]"});
  check_error([&] { reshape(a, {-1, -1}); }, {"reshape", "[-1, -1]"});
  check_error([&] { sum(a, 2); }, {"sum", "dim 2", "[2, 3]"});
  check_error([&] { mean(a, -3); }, {"mean", "dim -3", "[2, 3]"});
  check_error([&] { max(a, 5); }, {"max", "dim 5", "[2, 3]"});
  check_error([&] { max(Tensor::zeros({2, 0}), 1); }, {"max", "[2, 0]", "empty"});
  check_error([&] { softmax(Tensor::scalar(1.0f)); }, {"softmax", "[]"});
  check_error([&] { log_softmax(Tensor::zeros({3, 0})); }, {"log_softmax", "[3, 0]"});
  check_error([&] { mse_loss(a, c); }, {"mse_loss", "[2, 3]", "[3, 5]"});
  check_error([&] { layer_norm(a, b, b); }, {"layer_norm", "[4]", "[2, 3]"});
  check_error([&] { concat({a, c}, 0); }, {"concat", "[3, 5]", "[2, 3]"});
  check_error([&] { concat({}, 0); }, {"concat", "at least one"});
  check_error([&] { add_(b, a); }, {"add_", "[2, 3]", "[4]"});
}

TEST_CASE("ops whose output shape overflows or exceeds the size limit name the op and the shape") {
  const int64_t two31 = int64_t{1} << 31, two62 = int64_t{1} << 62;
  // 2^62 · 2^62 wrapped to 0 elements, so a 0-element tensor took the shape and at() walked off the end.
  check_error([&] { reshape(Tensor::zeros({0}), {two62, two62}); },
              {"reshape", "[4611686018427387904, 4611686018427387904]", "overflow"});
  check_error([&] { reshape(Tensor::zeros({0}), {-1, two62, two62}); }, {"reshape", "[-1, 4611686018427387904, 4611686018427387904]"});
  check_error([&] { reshape(Tensor::zeros({2, 0}), {0, -1, two31, two31}); }, {"reshape", "[0, -1, 2147483648, 2147483648]"});
  check_error([&] { reshape(Tensor::zeros({4}), {2, -3}); }, {"reshape", "[2, -3]"});
  // (2^31, 0) @ (0, 2^31) is a (2^31, 2^31) product: its 2^62 floats once made a 0-byte buffer.
  check_error([&] { matmul(Tensor::zeros({two31, 0}), Tensor::zeros({0, two31})); }, {"matmul", "[2147483648, 2147483648]"});
  // Broadcasting (2^23, 1) with (1, 2^23) asks for 2^46 floats, past the limit.
  const int64_t two23 = int64_t{1} << 23;
  Tensor column = Tensor::zeros({two23, 1}), row = Tensor::zeros({1, two23});
  check_error([&] { add(column, row); }, {"add", "[8388608, 8388608]", "bytes"});
  check_error([&] { mul(column, row); }, {"mul", "[8388608, 8388608]", "bytes"});
  check_error([&] { (void)broadcast_shapes({two62, 1}, {1, two62}, "sub"); }, {"sub", "[4611686018427387904, 4611686018427387904]"});
  check_error([&] { embedding(Tensor::zeros({2, 4}), {}, {two62, two62}); }, {"embedding", "[4611686018427387904, 4611686018427387904]"});
}

TEST_CASE("linear of width 0 gives the bias in every row, and its gradients count every row") {
  { Tensor stale = Tensor::full({128, 128}, 7.0f); }  // its freed 64 KiB buffer is what the output gets next
  Tensor x = Tensor::zeros({128, 0}).requires_grad_(), w = Tensor::zeros({128, 0}).requires_grad_();
  Tensor b = Tensor::ones({128}).requires_grad_();
  Tensor y = linear(x, w, b);  // x @ W^T is a (128, 128) of zeros: y = b in every row
  CHECK(y.shape() == Shape{128, 128});
  CHECK(y.to_vector() == std::vector<float>(128 * 128, 1.0f));
  sum(y).backward();
  CHECK(b.grad().to_vector() == std::vector<float>(128, 128.0f));  // db = Σ over the 128 rows of g = 1
  CHECK(x.grad().shape() == Shape{128, 0});
}

TEST_CASE("invalid arguments name the op and the value") {
  Tensor logits = Tensor::zeros({2, 3});
  check_error([&] { cross_entropy(logits, {0, 3}); }, {"cross_entropy", "target 3", "index 1", "[0, 3)"});
  check_error([&] { cross_entropy(logits, {0}); }, {"cross_entropy", "1 targets", "[2, 3]"});
  check_error([&] { cross_entropy(Tensor::zeros({3}), {0}); }, {"cross_entropy", "[3]", "(N, C)"});
  check_error([&] { embedding(logits, {0, 2}, {2}); }, {"embedding", "id 2", "[2, 3]"});
  check_error([&] { embedding(logits, {0, -1}, {2}); }, {"embedding", "id -1"});
  check_error([&] { embedding(logits, {0, 1}, {3}); }, {"embedding", "2 ids", "[3]"});
  check_error([&] { embedding(Tensor::zeros({3}), {0}, {1}); }, {"embedding", "(V, D)", "[3]"});
  check_error([&] { slice(logits, 1, 2, 4); }, {"slice", "[2, 4)", "[2, 3]"});
  check_error([&] { slice(logits, 0, 2, 1); }, {"slice", "[2, 1)"});
  check_error([&] { layer_norm(logits, Tensor::ones({3}), Tensor::zeros({3}), -1.0f); }, {"layer_norm", "eps", "-1"});
}

// ---- the GPT's ops (issue 21): heads, causal attention, exact GELU, dropout, tied weights ----------

TEST_CASE("transpose of two dims and matmul_transposed: gradients, forward layout, errors") {
  for (auto [d0, d1] : std::vector<std::pair<int64_t, int64_t>>{{1, 2}, {0, 3}, {-1, 0}, {2, 3}, {1, 1}}) {
    CAPTURE(d0);
    CAPTURE(d1);
    check_gradients("transpose dims", [=](const Inputs& x) { return transpose(x[0], d0, d1); }, {random({2, 3, 4, 2})});
  }
  Tensor x = random({2, 3, 4, 5});  // (B, T, H, D) -> (B, H, T, D): y[b, h, t, d] = x[b, t, h, d]
  Tensor y = transpose(x, 1, 2);
  REQUIRE(y.shape() == Shape{2, 4, 3, 5});
  bool same = true;
  for (int64_t b = 0; b < 2; ++b)
    for (int64_t t = 0; t < 3; ++t)
      for (int64_t h = 0; h < 4; ++h)
        for (int64_t d = 0; d < 5; ++d) same = same && y.at({b, h, t, d}) == x.at({b, t, h, d});
  CHECK(same);
  CHECK(transpose(y, 2, 1).to_vector() == x.to_vector());         // its own inverse
  CHECK(transpose(x, -1, -2).to_vector() == transpose(x).to_vector());  // the last two: the old transpose
  check_error([&] { transpose(x, 1, 4); }, {"transpose", "dim 4", "[2, 3, 4, 5]"});
  check_error([&] { transpose(x, -5, 0); }, {"transpose", "dim -5", "[2, 3, 4, 5]"});

  check_gradients("matmul_transposed 2-D", [](const Inputs& v) { return matmul_transposed(v[0], v[1]); },
                  {random({3, 4}), random({5, 4})});
  check_gradients("matmul_transposed 3-D", [](const Inputs& v) { return matmul_transposed(v[0], v[1]); },
                  {random({2, 3, 4}), random({2, 5, 4})});
  Tensor a = random({6, 64, 32}), b = random({6, 64, 32});
  check_close(matmul_transposed(a, b), matmul(a, transpose(b)).to_vector(), 1e-5f, 1e-5f, "a @ b^T == matmul(a, transpose(b))");
  check_error([&] { matmul_transposed(a, random({6, 64, 31})); }, {"matmul_transposed", "[6, 64, 32]", "[6, 64, 31]"});
  check_error([&] { matmul_transposed(a, random({5, 64, 32})); }, {"matmul_transposed", "[5, 64, 32]"});
}

TEST_CASE("causal_softmax: gradients, the masked softmax it fuses, errors") {
  for (float scale : {1.0f, 0.5f}) {
    CAPTURE(scale);
    check_gradients("causal_softmax", [=](const Inputs& x) { return causal_softmax(x[0], scale); }, {random({2, 4, 4})});
  }
  // softmax(s · x + mask), mask = -inf above the diagonal; the masked entries are exactly 0.
  const int64_t t = 7;
  Tensor x = random({3, t, t}), mask = Tensor::zeros({t, t});
  for (int64_t i = 0; i < t; ++i)
    for (int64_t j = i + 1; j < t; ++j) mask.data()[i * t + j] = -INFINITY;
  Tensor y = causal_softmax(x, 0.3f);
  check_close(y, softmax(x * 0.3f + mask).to_vector(), 1e-6f, 1e-6f, "causal_softmax == softmax(s x + mask)");
  bool zero_above = true;
  for (int64_t b = 0; b < 3; ++b)
    for (int64_t i = 0; i < t; ++i)
      for (int64_t j = i + 1; j < t; ++j) zero_above = zero_above && y.at({b, i, j}) == 0.0f;
  CHECK(zero_above);
  check_error([&] { causal_softmax(Tensor::zeros({2, 3})); }, {"causal_softmax", "(..., T, T)", "[2, 3]"});
  check_error([&] { causal_softmax(Tensor::zeros({4})); }, {"causal_softmax", "[4]"});
  check_error([&] { causal_softmax(x, NAN); }, {"causal_softmax", "scale", "nan"});
}

TEST_CASE("causal_self_attention: gradients, the composition it fuses, PyTorch's numbers, thread counts") {
  check_gradients("causal_self_attention", [](const Inputs& x) { return causal_self_attention(x[0], x[1], x[2]); },
                  {random({2, 2, 4, 3}), random({2, 2, 4, 3}), random({2, 2, 4, 3})});
  // nanoGPT's attention, from PyTorch (reference/make_ops_golden.py), forward and the three gradients.
  Tensor q = pattern({1, 2, 4, 3}, 1).requires_grad_(), k = pattern({1, 2, 4, 3}, 5).requires_grad_();
  Tensor v = pattern({1, 2, 4, 3}, 9).requires_grad_();
  Tensor o = causal_self_attention(q, k, v);
  sum(o * pattern({1, 2, 4, 3}, 11)).backward();
  check_close(o, golden::attention, 1e-6f, 1e-5f, "attention");
  check_close(q.grad(), golden::attention_grad_q, 1e-5f, 1e-5f, "attention grad q");
  check_close(k.grad(), golden::attention_grad_k, 1e-5f, 1e-5f, "attention grad k");
  check_close(v.grad(), golden::attention_grad_v, 1e-5f, 1e-5f, "attention grad v");
  // The model's size (B, H, T, D) = (3, 4, 64, 32) against the composition of the unfused ops.
  Inputs leaves{random({3, 4, 64, 32}), random({3, 4, 64, 32}), random({3, 4, 64, 32})};
  auto run = [&](bool fused) {
    Inputs x;
    for (const Tensor& l : leaves) x.push_back(l.clone().requires_grad_());
    Tensor out;
    if (fused) {
      out = causal_self_attention(x[0], x[1], x[2]);
    } else {
      Shape flat{12, 64, 32};
      Tensor p = causal_softmax(matmul_transposed(reshape(x[0], flat), reshape(x[1], flat)), 1.0f / std::sqrt(32.0f));
      out = reshape(matmul(p, reshape(x[2], flat)), {3, 4, 64, 32});
    }
    Generator g(5);
    out.backward(randn(out.shape(), g));
    return std::vector<std::vector<float>>{out.to_vector(), x[0].grad().to_vector(), x[1].grad().to_vector(), x[2].grad().to_vector()};
  };
  std::vector<std::vector<float>> fused = run(true), composed = run(false);
  const char* names[] = {"output", "grad q", "grad k", "grad v"};
  for (size_t i = 0; i < 4; ++i) check_close(fused[i], composed[i], 1e-5f, 1e-4f, std::string("fused vs composed: ") + names[i]);
  // Thread counts: the same bits on 1 and 3 threads.
  set_num_threads(1);
  std::vector<std::vector<float>> one = run(true);
  set_num_threads(3);
  std::vector<std::vector<float>> three = run(true);
  set_num_threads(0);
  for (size_t i = 0; i < 4; ++i) CHECK_MESSAGE(one[i] == three[i], names[i], " differs between 1 and 3 threads");
  CHECK(one[0] == fused[0]);
  check_error([&] { causal_self_attention(leaves[0], leaves[1], random({3, 4, 64, 31})); },
              {"causal_self_attention", "[3, 4, 64, 31]", "(..., T, D)"});
  check_error([&] { causal_self_attention(Tensor::zeros({3}), Tensor::zeros({3}), Tensor::zeros({3})); },
              {"causal_self_attention", "[3]"});
}

TEST_CASE("gelu_erf: gradient, and PyTorch's nn.GELU() forward and backward") {
  check_gradients("gelu_erf", [](const Inputs& x) { return gelu_erf(x[0]); }, {random({3, 4})});
  Tensor x = pattern({4, 6}, 3).requires_grad_();
  Tensor y = gelu_erf(x);
  sum(y * pattern({4, 6}, 7)).backward();
  check_close(y, golden::gelu_erf, 1e-6f, 4e-7f, "gelu_erf");
  check_close(x.grad(), golden::gelu_erf_grad, 1e-6f, 1e-6f, "gelu_erf grad");
}

TEST_CASE("dropout: identity at p = 0 and in eval, inverted scaling, seeded mask, gradient, errors") {
  Generator g(3);
  Tensor x = random({1000});
  CHECK(dropout(x, 0.0f, g).impl() == x.impl());  // the same tensor: nothing allocated
  CHECK(dropout(x, 0.5f, g, /*training=*/false).impl() == x.impl());
  CHECK(g.uniform() == Generator(3).uniform());  // and nothing drawn
  Generator a(11), b(11);
  Tensor y = dropout(x, 0.25f, a);
  CHECK(y.to_vector() == dropout(x, 0.25f, b).to_vector());  // one seed, one mask
  int64_t dropped = 0;
  bool scaled = true;
  for (int64_t i = 0; i < x.numel(); ++i) {
    if (y.data()[i] == 0.0f) ++dropped;
    else scaled = scaled && y.data()[i] == x.data()[i] * (1.0f / 0.75f);
  }
  CHECK(scaled);
  CHECK(dropped > 200);  // 250 expected of 1000 (binomial sd 14)
  CHECK(dropped < 300);
  check_gradients("dropout", [](const Inputs& v) { Generator gen(7); return dropout(v[0], 0.4f, gen); }, {random({3, 5})});
  check_error([&] { dropout(x, 1.0f, g); }, {"dropout", "[0, 1)", "1", "[1000]"});
  check_error([&] { dropout(x, -0.1f, g); }, {"dropout", "-0.1"});
  check_error([&] { dropout(x, NAN, g); }, {"dropout", "nan"});
}

TEST_CASE("a weight used by embedding and by linear (tied) gets the sum of both gradients") {
  const std::vector<int64_t> ids{2, 0, 2, 1, 3};
  auto tied = [&](const Inputs& w) { return linear(embedding(w[0], ids, {5}), w[0], Tensor()); };  // logits = E[ids] E^T
  check_gradients("tied embedding and output", tied, {random({4, 3})});
  Tensor w = random({4, 3}).requires_grad_();
  Tensor h = embedding(w, ids, {5});
  sum(linear(h, w, Tensor()) * pattern({5, 4})).backward();
  Tensor w_in = w.detach().clone().requires_grad_(), w_out = w.detach().clone().requires_grad_();  // the two uses apart
  sum(linear(embedding(w_in, ids, {5}), w_out, Tensor()) * pattern({5, 4})).backward();
  check_close(w.grad(), (w_in.grad() + w_out.grad()).to_vector(), 1e-6f, 1e-6f, "tied grad == embedding's + linear's");
}
