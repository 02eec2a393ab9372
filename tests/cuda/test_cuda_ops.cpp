// tests/cuda/test_cuda_ops.cpp — every op on cuda tensors against the CPU, forward and
// backward, on random inputs of awkward sizes (1, 31 and 1000003 elements; shapes that
// are not multiples of the 16 × 16 matmul tile; broadcasting); matmul v1 against v2
// (and cuBLAS on a GPU); mixed-device errors; and a short MLP training run on both
// devices. On the GPU when one is present, else on the CPU emulator.
//
// TOLERANCES. Each op runs the CPU's per-element formula (lib/elementwise.hpp, the same
// expressions in the same order), so on the emulator the pointwise ops and the
// broadcast arithmetic agree bit for bit (checked: `exact`). Reductions add in a tree
// of __shared__ memory (block_reduce.hpp) where the CPU adds in Eigen's order, and
// matmul adds left to right where Eigen blocks: those compare within a relative
// 1e-5 (2e-4 with an absolute 1e-3 for sums of 10^6 terms). On a GPU the CUDA math
// library's expf/logf/tanhf/powf may differ from glibc in the last bits: 1e-5 there too.
//   meson test -C build --suite cuda
#include <algorithm>

#include "cuda_testing.hpp"

using namespace moments;
using testing::check_close;
using testing::check_error;

namespace {

using Inputs = std::vector<Tensor>;
using Op = std::function<Tensor(const Inputs&)>;

struct Tolerance {
  float rtol = 1e-5f;
  float atol = 1e-6f;
  bool exact = false;  // bit for bit on the emulator (a GPU's math library may round otherwise)
};
constexpr Tolerance exact{0.0f, 0.0f, true};

struct Run {
  std::string op;  // the node the output recorded
  std::vector<float> out;
  std::vector<std::vector<float>> grads;
};

// f on copies of `inputs` living on `device`, all requiring grad; backward from a fixed
// random seed gradient of the output's shape.
Run run(const Op& f, const Inputs& inputs, Device device) {
  Inputs leaves;
  for (const Tensor& x : inputs) leaves.push_back(x.to(device).clone().requires_grad_());
  Tensor y = f(leaves);
  REQUIRE(y.device() == device);
  Generator gen(99);
  y.backward(randn(y.shape(), gen).to(device));
  Run r{y.node() ? y.node()->op : "", y.to_vector(), {}};
  for (const Tensor& leaf : leaves) {
    REQUIRE(leaf.grad().defined());
    CHECK(leaf.grad().device() == device);
    r.grads.push_back(leaf.grad().to_vector());
  }
  return r;
}

void compare(const std::string& what, const Op& f, const Inputs& inputs, Tolerance tolerance = {}) {
  INFO(what);
  Run cpu = run(f, inputs, Device::cpu);
  Run gpu = run(f, inputs, Device::cuda);
  CHECK(gpu.op == cpu.op);  // the same autograd node on both devices
  if (tolerance.exact && cuda::emulating()) {
    CHECK_MESSAGE(gpu.out == cpu.out, what, ": forward differs from the CPU");
    for (size_t i = 0; i < cpu.grads.size(); ++i)
      CHECK_MESSAGE(gpu.grads[i] == cpu.grads[i], what, ": gradient of input ", i, " differs from the CPU");
    return;
  }
  float rtol = tolerance.exact ? 1e-5f : tolerance.rtol, atol = tolerance.exact ? 1e-6f : tolerance.atol;
  check_close(gpu.out, cpu.out, atol, rtol, what + ": forward");
  for (size_t i = 0; i < cpu.grads.size(); ++i)
    check_close(gpu.grads[i], cpu.grads[i], atol, rtol, what + ": gradient of input " + std::to_string(i));
}

Tensor normal(const Shape& shape, uint64_t seed) {
  Generator gen(seed);
  return randn(shape, gen);
}
Tensor positive(const Shape& shape, uint64_t seed) {  // in [0.5, 2): for log, sqrt, pow
  Generator gen(seed);
  return rand(shape, gen, 0.5f, 2.0f);
}

// Element counts: 1, 31 and one that fills no block of 256 evenly. The million-element
// size (1000003) runs for a few ops per family only, so the suite stays well under a
// minute on the emulator and under AddressSanitizer.
const int64_t kSizes[] = {1, 31, 4099};
constexpr int64_t kMillion = 1000003;

}  // namespace

TEST_CASE("pointwise functions match the CPU bit for bit, forward and backward") {
  for (int64_t n : kSizes) {
    std::string size = " on " + std::to_string(n) + " elements";
    compare("neg" + size, [](const Inputs& x) { return neg(x[0]); }, {normal({n}, 1)}, exact);
    compare("exp" + size, [](const Inputs& x) { return exp(x[0]); }, {normal({n}, 2)}, exact);
    compare("log" + size, [](const Inputs& x) { return log(x[0]); }, {positive({n}, 3)}, exact);
    compare("sqrt" + size, [](const Inputs& x) { return sqrt(x[0]); }, {positive({n}, 4)}, exact);
    compare("pow 1.5" + size, [](const Inputs& x) { return pow(x[0], 1.5f); }, {positive({n}, 5)}, exact);
    compare("relu" + size, [](const Inputs& x) { return relu(x[0]); }, {normal({n}, 6)}, exact);
    compare("gelu" + size, [](const Inputs& x) { return gelu(x[0]); }, {normal({n}, 7)}, exact);
    compare("tanh" + size, [](const Inputs& x) { return tanh(x[0]); }, {normal({n}, 8)}, exact);
    compare("sigmoid" + size, [](const Inputs& x) { return sigmoid(x[0]); }, {normal({n}, 9)}, exact);
  }
  compare("exp on 1000003 elements", [](const Inputs& x) { return exp(x[0]); }, {normal({kMillion}, 2)}, exact);
  compare("gelu on 1000003 elements", [](const Inputs& x) { return gelu(x[0]); }, {normal({kMillion}, 7)}, exact);
}

TEST_CASE("arithmetic with broadcasting, its gradient reduction sum_to, and the scalar forms") {
  for (int64_t n : kSizes) {
    std::string size = " on " + std::to_string(n) + " elements";
    Inputs same{normal({n}, 10), positive({n}, 11)};
    compare("add" + size, [](const Inputs& x) { return x[0] + x[1]; }, same, exact);
    compare("sub" + size, [](const Inputs& x) { return x[0] - x[1]; }, same, exact);
    compare("mul" + size, [](const Inputs& x) { return x[0] * x[1]; }, same, exact);
    compare("div" + size, [](const Inputs& x) { return x[0] / x[1]; }, same, exact);
    compare("scalar forms" + size, [](const Inputs& x) { return 2.0f - (x[0] * 3.0f + 1.0f) / 4.0f; },
            {normal({n}, 12)}, exact);
  }
  Inputs million{normal({kMillion}, 10), positive({kMillion}, 11)};
  compare("add on 1000003 elements", [](const Inputs& x) { return x[0] + x[1]; }, million, exact);
  compare("div on 1000003 elements", [](const Inputs& x) { return x[0] / x[1]; }, million, exact);
  // Broadcast shapes: the gradients of the smaller inputs are sums (sum_to).
  struct Pair {
    Shape a, b;
  };
  for (const Pair& p : {Pair{{31, 17}, {17}}, Pair{{5, 1, 7}, {3, 1}}, Pair{{4, 1, 6, 1}, {1, 5, 1, 3}},
                        Pair{{1}, {31, 1}}, Pair{{}, {2, 3}}, Pair{{100, 1003}, {100, 1}}}) {
    std::string shapes = " of " + shape_str(p.a) + " and " + shape_str(p.b);
    Inputs ab{normal(p.a, 13), positive(p.b, 14)};
    // A gradient summed over 1003 terms of either sign: the error scales with Σ|term|
    // (about 30 here), not with the small result, hence an absolute 1e-4.
    Tolerance t = shape_numel(p.a) > 1000 ? Tolerance{1e-4f, 1e-4f} : Tolerance{};
    compare("add" + shapes, [](const Inputs& x) { return x[0] + x[1]; }, ab, t);
    compare("sub" + shapes, [](const Inputs& x) { return x[0] - x[1]; }, ab, t);
    compare("mul" + shapes, [](const Inputs& x) { return x[0] * x[1]; }, ab, t);
    compare("div" + shapes, [](const Inputs& x) { return x[0] / x[1]; }, ab, t);
  }
  // sum_to by itself, and add_ (the gradient accumulation) with a broadcast operand.
  Tensor g = normal({6, 5, 7}, 15);
  for (const Shape& target : {Shape{5, 7}, Shape{6, 1, 7}, Shape{5, 1}, Shape{1}, Shape{}}) {
    CAPTURE(shape_str(target));
    check_close(sum_to(g.to(Device::cuda), target), sum_to(g, target).to_vector(), 1e-5f, 1e-5f, "sum_to");
  }
  Tensor a = normal({31, 17}, 16), b = normal({17}, 17);
  Tensor a_cuda = a.to(Device::cuda);
  add_(a, b);
  add_(a_cuda, b.to(Device::cuda));
  CHECK(a_cuda.to_vector() == a.to_vector());
}

TEST_CASE("reductions: sum and mean over everything and over a dim, max over a dim with indices") {
  Tolerance big{2e-4f, 1e-3f};  // sums of a million terms, added in another order
  for (int64_t n : {int64_t{1}, int64_t{31}, kMillion}) {
    std::string size = " of " + std::to_string(n) + " elements";
    Tolerance t = n > 1000 ? big : Tolerance{};
    compare("sum" + size, [](const Inputs& x) { return sum(x[0]); }, {normal({n}, 20)}, t);
    compare("mean" + size, [](const Inputs& x) { return mean(x[0]); }, {normal({n}, 21)}, t);
  }
  for (const Shape& shape : {Shape{1}, Shape{31, 17}, Shape{3, 1000, 5}, Shape{7, 1, 3}}) {
    for (int64_t dim = -1; dim < static_cast<int64_t>(shape.size()); ++dim) {
      std::string where = " of " + shape_str(shape) + " over dim " + std::to_string(dim);
      compare("sum" + where, [dim](const Inputs& x) { return sum(x[0], dim); }, {normal(shape, 22)});
      compare("mean keepdim" + where, [dim](const Inputs& x) { return mean(x[0], dim, true); }, {normal(shape, 23)});
      compare("max" + where, [dim](const Inputs& x) { return max(x[0], dim).values; }, {normal(shape, 24)}, exact);
      Tensor x = normal(shape, 25);
      CHECK(max(x.to(Device::cuda), dim).indices() == max(x, dim).indices());
    }
  }
  Tensor ties = Tensor::from({1, 3, 3, NAN, 2, 2}, {2, 3});  // first maximum wins; a NaN wins
  CHECK(max(ties.to(Device::cuda), 1).indices() == std::vector<int64_t>{1, 0});
}

TEST_CASE("softmax, log_softmax, cross_entropy and mse_loss") {
  for (const Shape& shape : {Shape{1}, Shape{31, 10}, Shape{3, 4, 1000}, Shape{2, 1}}) {
    std::string where = " of " + shape_str(shape);
    compare("softmax" + where, [](const Inputs& x) { return softmax(x[0]); }, {normal(shape, 30)});
    compare("log_softmax" + where, [](const Inputs& x) { return log_softmax(x[0]); }, {normal(shape, 31)});
  }
  for (const Shape& shape : {Shape{1, 1}, Shape{31, 10}, Shape{64, 1000}}) {
    std::vector<int64_t> targets;
    for (int64_t i = 0; i < shape[0]; ++i) targets.push_back((i * 7 + 3) % shape[1]);
    compare("cross_entropy of " + shape_str(shape),
            [targets](const Inputs& x) { return cross_entropy(x[0], targets); }, {normal(shape, 32)});
  }
  for (int64_t n : {int64_t{1}, int64_t{31}, kMillion}) {
    Tolerance t = n > 1000 ? Tolerance{2e-4f, 1e-5f} : Tolerance{};
    compare("mse_loss of " + std::to_string(n) + " elements",
            [](const Inputs& x) { return mse_loss(x[0], x[1]); }, {normal({n}, 33), normal({n}, 34)}, t);
  }
}

TEST_CASE("layer_norm, embedding, concat, slice, transpose and reshape") {
  for (const Shape& shape : {Shape{1, 1}, Shape{31, 17}, Shape{2, 3, 1000}}) {
    int64_t width = shape.back();
    compare("layer_norm of " + shape_str(shape),
            [](const Inputs& x) { return layer_norm(x[0], x[1], x[2]); },
            {normal(shape, 40), normal({width}, 41), normal({width}, 42)}, Tolerance{1e-5f, 1e-5f});
  }
  std::vector<int64_t> ids;
  for (int64_t i = 0; i < 31; ++i) ids.push_back((i * 5) % 13);  // repeats: their gradients add up
  compare("embedding", [ids](const Inputs& x) { return embedding(x[0], ids, {31}); }, {normal({13, 17}, 43)}, exact);
  compare("embedding of shape [1] ids", [](const Inputs& x) { return embedding(x[0], {0}, {1, 1}); },
          {normal({1, 1}, 44)}, exact);

  compare("concat along dim 1", [](const Inputs& x) { return concat({x[0], x[1], x[2]}, 1); },
          {normal({3, 1, 5}, 45), normal({3, 31, 5}, 46), normal({3, 2, 5}, 47)}, exact);
  compare("concat along dim 0", [](const Inputs& x) { return concat({x[0], x[1]}, 0); },
          {normal({1}, 48), normal({kMillion}, 49)}, exact);
  compare("slice", [](const Inputs& x) { return slice(x[0], 1, 3, 20); }, {normal({5, 31, 3}, 50)}, exact);
  compare("slice of everything", [](const Inputs& x) { return slice(x[0], 0, 0, 1); }, {normal({1}, 51)}, exact);
  compare("transpose", [](const Inputs& x) { return transpose(x[0]); }, {normal({3, 31, 17}, 52)}, exact);
  compare("transpose over several 32 x 32 tiles", [](const Inputs& x) { return transpose(x[0]); }, {normal({2, 70, 45}, 53)}, exact);
  compare("reshape", [](const Inputs& x) { return reshape(x[0], {17, -1}); }, {normal({31, 17}, 53)}, exact);
}

TEST_CASE("the GPT's ops: transpose of two dims, matmul_transposed, causal softmax and attention, gelu_erf, dropout") {
  // Copies and dropout's multiply agree bit for bit; gelu_erf's kernel calls erff where the CPU runs Eigen's
  // vectorized erf (a few ulps); the row sums of the causal softmax add in a tree
  // (1e-5 relative); the products add as the matmul kernels do (tolerance as for matmul below).
  compare("transpose(x, 1, 2), the heads' split", [](const Inputs& x) { return transpose(x[0], 1, 2); },
          {normal({2, 31, 4, 17}, 90)}, exact);
  compare("transpose(x, 0, -1)", [](const Inputs& x) { return transpose(x[0], 0, -1); }, {normal({3, 5, 7}, 91)}, exact);
  for (int64_t n : kSizes) {
    compare("gelu_erf on " + std::to_string(n) + " elements", [](const Inputs& x) { return gelu_erf(x[0]); },
            {normal({n}, 92)}, Tolerance{2e-6f, 1e-6f});  // the CPU's vectorized erf vs erff: a few ulps
  }
  for (const Shape& shape : {Shape{1, 1}, Shape{3, 31, 31}, Shape{2, 300, 300}}) {
    compare("causal_softmax of " + shape_str(shape), [](const Inputs& x) { return causal_softmax(x[0], 0.7f); },
            {normal(shape, 93)});
  }
  compare("matmul_transposed", [](const Inputs& x) { return matmul_transposed(x[0], x[1]); },
          {normal({3, 31, 17}, 94), normal({3, 20, 17}, 95)}, Tolerance{1e-5f, 1e-6f * 31});
  compare("causal_self_attention (B, H, T, D) = (2, 3, 33, 8)",
          [](const Inputs& x) { return causal_self_attention(x[0], x[1], x[2]); },
          {normal({2, 3, 33, 8}, 96), normal({2, 3, 33, 8}, 97), normal({2, 3, 33, 8}, 98)}, Tolerance{1e-4f, 1e-5f});
  // The mask is drawn on the host from the same generator, so both devices drop the same elements.
  compare("dropout p = 0.3", [](const Inputs& x) { Generator gen(5); return dropout(x[0], 0.3f, gen); },
          {normal({4099}, 99)}, exact);
}

TEST_CASE("matmul and linear match the CPU, 2-D and batched, on shapes that are not multiples of the tile") {
  struct Shapes {
    Shape a, b;
  };
  // A sum of k products of normal numbers is of size √k but can cancel to near 0, and two summation
  // orders (the kernel's one FMA-free loop; Eigen's GEMM in FMA packets on x86-64-v3) differ by a few
  // ulps of the terms, not of the sum: the absolute tolerance grows with the longest sum, forward
  // (k) or backward (m, n).
  auto for_sums_of = [](int64_t longest) { return Tolerance{1e-5f, 1e-6f * static_cast<float>(longest)}; };
  for (const Shapes& s : {Shapes{{1, 1}, {1, 1}}, Shapes{{31, 17}, {17, 33}}, Shapes{{65, 70}, {70, 16}},
                          Shapes{{3, 31, 17}, {3, 17, 20}}, Shapes{{3, 31, 17}, {17, 20}}}) {
    int64_t k = s.a.back(), rows = 1;  // rows: every row of a, batches × m (the sum into a shared b's gradient)
    for (size_t d = 0; d + 1 < s.a.size(); ++d) rows *= s.a[d];
    int64_t longest = std::max({rows, k, s.b.back()});
    compare("matmul " + shape_str(s.a) + " @ " + shape_str(s.b), [](const Inputs& x) { return matmul(x[0], x[1]); },
            {normal(s.a, 60), normal(s.b, 61)}, for_sums_of(longest));
  }
  compare("linear with bias", [](const Inputs& x) { return linear(x[0], x[1], x[2]); },
          {normal({31, 17}, 62), normal({10, 17}, 63), normal({10}, 64)}, for_sums_of(31));
  compare("linear without bias, batched input", [](const Inputs& x) { return linear(x[0], x[1], Tensor()); },
          {normal({2, 5, 17}, 65), normal({33, 17}, 66)}, for_sums_of(33));
}

TEST_CASE("matmul v1 (naive) and v2 (tiled) agree bit for bit; cuBLAS within rounding") {
  cuda::Backend& backend = cuda::active_backend();
  struct Case {
    int64_t batches, m, k, n;
    bool shared_b;
  };
  for (const Case& c : {Case{1, 1, 1, 1, false}, Case{1, 31, 17, 33, false}, Case{2, 65, 100, 47, false},
                        Case{3, 16, 16, 16, true}, Case{1, 1, 1000, 3, false}}) {
    CAPTURE(c.batches);
    CAPTURE(c.m);
    CAPTURE(c.k);
    CAPTURE(c.n);
    Tensor a = normal({c.batches, c.m, c.k}, 70).to(Device::cuda);
    Tensor b = normal({c.shared_b ? 1 : c.batches, c.k, c.n}, 71).to(Device::cuda);
    int64_t b_stride = c.shared_b ? 0 : c.k * c.n;
    auto product = [&](cuda::MatmulKernel kernel) {
      Tensor out = Tensor::full({c.batches, c.m, c.n}, NAN, Device::cuda);  // every float must be written
      backend.matmul(kernel, a.data(), b.data(), out.data(), c.batches, c.m, c.k, c.n, c.m * c.k, b_stride);
      return out.to_vector();
    };
    std::vector<float> v1 = product(cuda::MatmulKernel::naive_v1), v2 = product(cuda::MatmulKernel::tiled_v2);
    CHECK(v1 == v2);
    if (backend.has_cublas()) check_close(product(cuda::MatmulKernel::cublas), v2, 1e-5f, 1e-5f, "cuBLAS against v2");
    // The same product from operands stored transposed, read in place: the same bits (the same sums in order).
    Tensor a_t = transpose(a), b_t = transpose(b);  // new contiguous tensors, (batches, k, m) and (·, n, k)
    for (cuda::MatmulKernel kernel : {cuda::MatmulKernel::naive_v1, cuda::MatmulKernel::tiled_v2, cuda::MatmulKernel::cublas}) {
      if (kernel == cuda::MatmulKernel::cublas && !backend.has_cublas()) continue;
      for (int flags = 1; flags < 4; ++flags) {
        const bool ta = flags & 1, tb = flags & 2;
        CAPTURE(ta);
        CAPTURE(tb);
        Tensor out = Tensor::full({c.batches, c.m, c.n}, NAN, Device::cuda);
        backend.matmul(kernel, (ta ? a_t : a).data(), (tb ? b_t : b).data(), out.data(), c.batches, c.m, c.k, c.n,
                       c.m * c.k, b_stride, ta, tb);
        if (kernel == cuda::MatmulKernel::cublas) check_close(out.to_vector(), v2, 1e-5f, 1e-5f, "cuBLAS, transposed");
        else CHECK(out.to_vector() == v2);
      }
    }
  }
  if (!backend.has_cublas()) {
    MESSAGE("skipped the cuBLAS comparison: the ", std::string(backend.name()), " has no cuBLAS (v2 stands in for it)");
    Tensor one = Tensor::ones({1}, Device::cuda);
    check_error([&] { backend.matmul(cuda::MatmulKernel::cublas, one.data(), one.data(), one.data(), 1, 1, 1, 1, 1, 1); },
                {"cuBLAS", "emulator", "tiled_v2"});
  }
}

TEST_CASE("matmul past the grid's y limit: 1,048,577 rows are 65,537 row tiles on a grid of at most 65,535") {
  // (m × 1) @ (1 × 2): every row of C is the row's one number times B's row, so each float is checkable.
  cuda::Backend& backend = cuda::active_backend();
  const int64_t m = (int64_t{65535} + 2) * 16 + 1;
  std::vector<float> column(static_cast<size_t>(m));
  for (int64_t i = 0; i < m; ++i) column[static_cast<size_t>(i)] = static_cast<float>(i % 1000);
  Tensor a = Tensor::from(column).to(Device::cuda), b = Tensor::from({1.0f, -2.0f}).to(Device::cuda);
#if defined(__SANITIZE_ADDRESS__)
  // 65,535 blocks of 256 emulated threads took 6 s in the plain tree, and the sanitizers multiply that; the plain
  // tree checks the bits.
  MESSAGE("skipped under AddressSanitizer: too slow on the emulator");
  return;
#endif
  for (cuda::MatmulKernel kernel : {cuda::MatmulKernel::naive_v1, cuda::MatmulKernel::tiled_v2}) {
    CAPTURE(static_cast<int>(kernel));
    Tensor out = Tensor::full({m, 2}, NAN, Device::cuda);
    backend.matmul(kernel, a.data(), b.data(), out.data(), 1, m, 1, 2, m, 0);
    std::vector<float> c = out.to_vector();
    int64_t wrong = 0;
    for (int64_t i = 0; i < m; ++i)
      wrong += c[static_cast<size_t>(2 * i)] != column[static_cast<size_t>(i)] ||
               c[static_cast<size_t>(2 * i + 1)] != -2.0f * column[static_cast<size_t>(i)];
    CHECK(wrong == 0);
  }
}

TEST_CASE("row kernels past their grid: 131,074 rows on a grid capped at 65,535 blocks, every row computed") {
  // One block per row would need 131,074 blocks; the grid stops at kMaxGridBlocks = 65,535 and its blocks walk
  // the rows (runtime.hpp). Rows of 3 floats keep the emulator fast; every output is compared with the CPU.
  const int64_t rows = 2 * 65535 + 4;
  Tensor x = normal({rows, 3}, 80);
  compare("sum over the last dim", [](const Inputs& in) { return sum(in[0], -1); }, {x});
  compare("max over the last dim", [](const Inputs& in) { return max(in[0], -1).values; }, {x}, exact);
  CHECK(max(x.to(Device::cuda), -1).indices() == max(x, -1).indices());
  compare("softmax", [](const Inputs& in) { return softmax(in[0]); }, {x});
  compare("log_softmax", [](const Inputs& in) { return log_softmax(in[0]); }, {x});
  compare("causal_softmax", [](const Inputs& in) { return causal_softmax(in[0], 0.5f); }, {normal({rows / 2, 2, 2}, 81)});
  // w's and b's gradients add 131,074 terms (in segments on the device); a 3-wide row of nearly equal values has a
  // large 1/σ, which magnifies the last-bit differences of its tree sums in x's gradient.
  compare("layer_norm", [](const Inputs& in) { return layer_norm(in[0], in[1], in[2]); },
          {x, normal({3}, 82), normal({3}, 83)}, Tolerance{1e-4f, 1e-3f});
}

TEST_CASE("long rows and columns are summed in segments, one block or thread each, within rounding of the CPU") {
  // A row longer than 8192 floats is cut into segments summed by separate blocks, and a column longer than
  // 256 into segments summed by separate threads; a second pass adds the segments' sums in order.
  Tolerance big{1e-4f, 1e-4f};  // 20,000 terms of either sign added in another order than the CPU's
  compare("sum of [3, 20000] over dim 1", [](const Inputs& in) { return sum(in[0], 1); }, {normal({3, 20000}, 84)}, big);
  compare("sum of [20000, 3] over dim 0 (the bias gradient's shape)", [](const Inputs& in) { return sum(in[0], 0); },
          {normal({20000, 3}, 85)}, big);
  compare("max of [3, 20000] over dim 1", [](const Inputs& in) { return max(in[0], 1).values; },
          {normal({3, 20000}, 86)}, exact);
  // Summing twice gives the same bits: the segments depend on the shape alone.
  Tensor y = normal({5, 100000}, 87).to(Device::cuda);
  CHECK(sum(y, 1).to_vector() == sum(y, 1).to_vector());
  CHECK(sum(y).to_vector() == sum(y).to_vector());
}

TEST_CASE("element-wise kernels: four floats at a time where aligned, one at a time where not, the same bits") {
  // Tensors' buffers are 16-byte aligned, so exp and a same-shape add take the float4 kernels; one float
  // further in, they are not, and the kernels read float by float. Both must give the CPU's bits,
  // including the n mod 4 tail.
  cuda::Backend& backend = cuda::active_backend();
  const int64_t n = 1003;
  Tensor x = normal({n + 1}, 88), y = normal({n + 1}, 89);
  std::vector<float> cpu_exp = exp(x).to_vector(), cpu_sum = (x + y).to_vector();
  Tensor xd = x.to(Device::cuda), yd = y.to(Device::cuda);
  for (int64_t shift : {0, 1}) {
    CAPTURE(shift);
    Tensor out = Tensor::full({n + 1}, NAN, Device::cuda);
    backend.unary(cuda::Unary::exp, xd.data() + shift, out.data() + shift, n, 0.0f);
    std::vector<float> got = out.to_vector();
    CHECK(std::equal(got.begin() + shift, got.begin() + shift + n, cpu_exp.begin() + shift));
    cuda::BroadcastLayout same;
    same.rank = 2;  // (17, 59) = 1003, merged into one dim of 1003 by the kernel's host code
    same.size[0] = 17, same.size[1] = 59;
    same.a_stride[0] = same.b_stride[0] = 59, same.a_stride[1] = same.b_stride[1] = 1;
    backend.binary(cuda::Binary::add, xd.data() + shift, yd.data() + shift, out.data() + shift, same);
    got = out.to_vector();
    CHECK(std::equal(got.begin() + shift, got.begin() + shift + n, cpu_sum.begin() + shift));
  }
}

TEST_CASE("an element-wise kernel past its grid: 16,777,217 floats on at most 65,535 blocks of 256 threads") {
#if defined(__SANITIZE_ADDRESS__)
  MESSAGE("skipped under AddressSanitizer: 67 MB per buffer on the emulator is slow there; the plain tree checks it");
  return;
#endif
  const int64_t n = int64_t{65535} * 256 + 257;  // some threads take two elements
  Tensor x = Tensor::arange(n), x_cuda = x.to(Device::cuda);
  Tensor out = Tensor::full({n}, NAN, Device::cuda);
  cuda::active_backend().unary(cuda::Unary::neg, x_cuda.data() + 1, out.data(), n - 1, 0.0f);  // unaligned: float by float
  std::vector<float> got = out.to_vector(), want = x.to_vector();
  int64_t wrong = 0;
  for (int64_t i = 0; i + 1 < n; ++i) wrong += got[static_cast<size_t>(i)] != -want[static_cast<size_t>(i + 1)];
  CHECK(wrong == 0);
}

TEST_CASE("ops that mix devices name both devices") {
  Tensor gpu = Tensor::ones({2, 3}, Device::cuda), cpu = Tensor::ones({2, 3});
  check_error([&] { sub(gpu, cpu); }, {"sub", "different devices", "cuda", "cpu"});
  check_error([&] { matmul(cpu, transpose(gpu)); }, {"matmul", "cpu", "cuda"});
  check_error([&] { linear(gpu, cpu, Tensor()); }, {"linear", "cuda", "cpu"});
  check_error([&] { mse_loss(gpu, cpu); }, {"mse_loss", "cuda", "cpu"});
  check_error([&] { concat({gpu, cpu}, 0); }, {"concat", "cuda", "cpu"});
  check_error([&] { layer_norm(gpu, Tensor::ones({3}), Tensor::ones({3}, Device::cuda)); },
              {"layer_norm", "cuda", "cpu"});
  check_error([&] { matmul_transposed(gpu, cpu); }, {"matmul_transposed", "cuda", "cpu"});
  Tensor q = Tensor::ones({2, 3, 4}, Device::cuda);
  check_error([&] { causal_self_attention(q, q, Tensor::ones({2, 3, 4})); }, {"causal_self_attention", "cuda", "cpu"});
}

TEST_CASE("gradients accumulate on cuda as on the CPU, and zero_grad drops them") {
  Tensor w = normal({4, 3}, 80).to(Device::cuda).requires_grad_();
  Tensor x = normal({5, 3}, 81).to(Device::cuda);
  sum(relu(linear(x, w, Tensor()))).backward();
  std::vector<float> once = w.grad().to_vector();
  sum(relu(linear(x, w, Tensor()))).backward();
  std::vector<float> twice = w.grad().to_vector();
  for (size_t i = 0; i < once.size(); ++i) CHECK(twice[i] == 2.0f * once[i]);
  w.zero_grad();
  CHECK_FALSE(w.grad().defined());
}

TEST_CASE("clip_grad_norm and clip_grad_value work on cuda gradients as on the CPU, bit for bit") {
  // w spans three of the norm's chunks (65536 elements each), b one short one: the kernels sum in
  // the CPU's order (grad_norm_math.hpp), so the norms are equal as doubles, not only close.
  enum Way { by_norm, by_norm_tensor, by_norm_checked, by_value };
  for (Way way : {by_norm, by_norm_tensor, by_norm_checked, by_value}) {
    for (float size : {1.0f, 1e-4f}) {  // clipped, and under the cap
      std::vector<float> cpu_result, cuda_result;
      double cpu_norm = 0.0, cuda_norm = 0.0;
      for (Device device : {Device::cpu, Device::cuda}) {
        Tensor w = normal({331, 517}, 90).to(device).requires_grad_(), b = normal({17}, 91).to(device).requires_grad_();
        w.set_grad((normal({331, 517}, 92) * size).to(device));
        b.set_grad((normal({17}, 93) * size).to(device));
        double norm = 0.0;
        if (way == by_norm) norm = clip_grad_norm({w, b}, 1.0);
        if (way == by_norm_checked) norm = clip_grad_norm({w, b}, 1.0, /*error_if_nonfinite=*/true);
        if (way == by_norm_tensor) {
          Tensor t = clip_grad_norm_tensor({w, b}, 1.0);
          CHECK(t.device() == device);
          norm = t.item();
        }
        if (way == by_value) clip_grad_value({w, b}, 0.5 * size);
        (device == Device::cpu ? cpu_norm : cuda_norm) = norm;
        std::vector<float>& result = device == Device::cpu ? cpu_result : cuda_result;
        result = w.grad().to_vector();
        for (float v : b.grad().to_vector()) result.push_back(v);
      }
      CAPTURE(static_cast<int>(way));
      CAPTURE(size);
      CHECK(cuda_norm == cpu_norm);
      CHECK(cuda_result == cpu_result);
      if (way != by_value) CHECK(cpu_norm == doctest::Approx(size * std::sqrt(331.0 * 517 + 17)).epsilon(0.01));
    }
  }
}

TEST_CASE("clip_grad_norm on cuda: an infinite norm is refused before anything is scaled; devices are not mixed") {
  Tensor w = normal({5, 7}, 1).to(Device::cuda).requires_grad_(), b = normal({7}, 2).to(Device::cuda).requires_grad_();
  std::vector<float> g = normal({5, 7}, 3).to_vector();
  g[12] = std::numeric_limits<float>::infinity();
  w.set_grad(Tensor::from(g, {5, 7}).to(Device::cuda));
  b.set_grad(normal({7}, 4).to(Device::cuda));
  const std::vector<float> before = b.grad().to_vector();
  check_error([&] { clip_grad_norm({w, b}, 1.0, true); }, {"clip_grad_norm", "inf"});
  CHECK(b.grad().to_vector() == before);
  Tensor c = normal({7}, 5).requires_grad_();
  c.set_grad(normal({7}, 6));
  check_error([&] { clip_grad_norm({b, c}, 1.0); }, {"clip_grad_norm", "on cuda and on cpu", "one device"});
  // Without the check, an infinite norm makes every gradient NaN or 0 (inf · 0), as on the CPU.
  clip_grad_norm({w, b}, 1.0);
  for (float v : b.grad().to_vector()) CHECK(v == 0.0f);
}

TEST_CASE("a short MLP training run: 10 Adam steps on the CPU and on cuda agree") {
  // MLP 64-32-10 on a fixed batch of 32, cross-entropy, Adam(lr 1e-2): the same model
  // (same seed), one copy moved to cuda. Tolerance: matmul and the reductions round
  // differently (see the top), Adam divides by √v, so parameters agree within 1e-4.
  Generator data_gen(5);
  Tensor x = randn({32, 64}, data_gen);
  std::vector<int64_t> targets;
  for (int64_t i = 0; i < 32; ++i) targets.push_back((i * 3) % 10);
  struct Trained {
    std::vector<float> losses;
    std::vector<std::vector<float>> params;
  };
  auto train = [&](Device device) {
    Generator gen(0);
    MLP model({64, 32, 10}, gen);
    model.to(device);
    CHECK(model.layers[0].weight.device() == device);
    Adam adam(model.parameters(), {.learning_rate = 1e-2});
    Tensor input = x.to(device);
    Trained out;
    for (int step = 0; step < 10; ++step) {
      Tensor loss = cross_entropy(model.forward(input), targets);  // forward
      model.zero_grad();
      loss.backward();  // backward
      adam.step();      // update
      out.losses.push_back(loss.item());
    }
    for (const Tensor& p : model.parameters()) out.params.push_back(p.to_vector());
    return out;
  };
  Trained cpu = train(Device::cpu), gpu = train(Device::cuda);
  check_close(gpu.losses, cpu.losses, 1e-5f, 1e-5f, "losses");
  CHECK(cpu.losses.back() < cpu.losses.front());  // it learns
  for (size_t i = 0; i < cpu.params.size(); ++i)
    check_close(gpu.params[i], cpu.params[i], 1e-4f, 1e-4f, "parameter " + std::to_string(i));
  float max_difference = 0.0f;
  for (size_t i = 0; i < cpu.params.size(); ++i)
    for (size_t j = 0; j < cpu.params[i].size(); ++j)
      max_difference = std::max(max_difference, std::fabs(gpu.params[i][j] - cpu.params[i][j]));
  MESSAGE("MLP 64-32-10, 10 Adam steps: loss ", cpu.losses.front(), " -> ", cpu.losses.back(),
          " on the CPU; largest parameter difference to ", std::string(cuda::active_backend().name()), ": ", max_difference);
}
