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
  CHECK(m.indices == std::vector<int64_t>{1, 2});
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
