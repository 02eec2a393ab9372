// test_parallel.cpp — the thread pool (lib/parallel.hpp) and the promise built on it: every op and every
// optimizer step gives the same bits on 1, 2, 3 and 8 threads, and a matrix product split into column blocks
// gives the bits of one Eigen product.
// Run: meson test -C build --suite parallel
#include <Eigen/Core>
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstring>
#include <functional>
#include <memory>
#include <stdexcept>
#include <thread>

#include "testing.hpp"

using namespace moments;

namespace {

const std::vector<int> kThreadCounts = {1, 2, 3, 8};

// Restores the default thread count when a test ends, however it ends.
struct ThreadsGuard {
  ~ThreadsGuard() { set_num_threads(0); }
};

// The raw bytes of tensors, for byte-for-byte comparison (NaN payloads and signed zeros included).
std::vector<unsigned char> bytes_of(const std::vector<Tensor>& tensors) {
  std::vector<unsigned char> out;
  for (const Tensor& t : tensors) {
    Tensor c = t.to(Device::cpu);
    auto p = reinterpret_cast<const unsigned char*>(c.data());
    out.insert(out.end(), p, p + c.numel() * static_cast<int64_t>(sizeof(float)));
  }
  return out;
}

// Runs `compute` once per thread count; every run must give the bytes of the one-thread run.
void check_same_bits_on_every_thread_count(const std::string& what,
                                           const std::function<std::vector<Tensor>()>& compute) {
  ThreadsGuard restore;
  set_num_threads(1);
  std::vector<unsigned char> one = bytes_of(compute());
  for (int threads : kThreadCounts) {
    set_num_threads(threads);
    INFO(what << " on " << threads << " threads");
    CHECK(bytes_of(compute()) == one);
  }
}

using RowMatrix = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using ConstMatrix = Eigen::Map<const RowMatrix>;

}  // namespace

TEST_CASE("parallel_for runs every index exactly once, in chunks fixed by n and chunk alone") {
  ThreadsGuard restore;
  for (int threads : kThreadCounts) {
    set_num_threads(threads);
    CHECK(num_threads() == threads);
    for (int64_t n : {0, 1, 7, 64, 1000, 100003})
      for (int64_t chunk : {1, 3, 64, 4096, 200000}) {
        CAPTURE(threads);
        CAPTURE(n);
        CAPTURE(chunk);
        std::vector<std::atomic<int>> hits(static_cast<size_t>(n));
        std::vector<int64_t> ends(static_cast<size_t>(num_chunks(n, chunk)), -1);
        parallel_for(n, chunk, [&](int64_t begin, int64_t end) {
          REQUIRE(begin % chunk == 0);  // boundaries are multiples of chunk...
          ends[static_cast<size_t>(begin / chunk)] = end;
          for (int64_t i = begin; i < end; ++i) hits[static_cast<size_t>(i)]++;
        });
        bool once = true;
        for (auto& h : hits) once = once && h.load() == 1;
        CHECK(once);
        for (size_t c = 0; c < ends.size(); ++c)  // ...and each chunk ends at the next one or at n
          CHECK(ends[c] == std::min<int64_t>(n, static_cast<int64_t>(c + 1) * chunk));
      }
  }
}

TEST_CASE("parallel_for rethrows a chunk's exception in the caller, and the pool keeps working") {
  ThreadsGuard restore;
  for (int threads : kThreadCounts) {
    set_num_threads(threads);
    CAPTURE(threads);
    auto body = [](int64_t begin, int64_t) {
      if (begin == 5 * 10) throw std::runtime_error("chunk 5 failed");
    };
    CHECK_THROWS_WITH_AS(parallel_for(1000, 10, body), "chunk 5 failed", std::runtime_error);
    std::atomic<int64_t> total{0};
    parallel_for(1000, 10, [&](int64_t begin, int64_t end) { total += end - begin; });
    CHECK(total.load() == 1000);
  }
  // When several chunks throw, the caller sees the one of the lowest chunk index that ran.
  set_num_threads(1);
  CHECK_THROWS_WITH(parallel_for(100, 10, [](int64_t begin, int64_t) { throw std::runtime_error(std::to_string(begin)); }),
                    "0");
}

TEST_CASE("parallel_for really runs chunks on several threads at once") {
  ThreadsGuard restore;
  set_num_threads(2);
  // Each of the two chunks waits (up to 10 s) until both have started: only two threads can get past.
  std::atomic<int> started{0};
  std::atomic<bool> both{true};
  parallel_for(2, 1, [&](int64_t, int64_t) {
    started++;
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (started.load() < 2 && std::chrono::steady_clock::now() < deadline) std::this_thread::yield();
    if (started.load() < 2) both = false;
  });
  CHECK(both.load());
}

TEST_CASE("a parallel_for inside a chunk runs inline and covers its own range") {
  ThreadsGuard restore;
  for (int threads : kThreadCounts) {
    set_num_threads(threads);
    CAPTURE(threads);
    std::vector<std::atomic<int>> hits(64 * 50);
    parallel_for(64, 1, [&](int64_t row, int64_t) {
      parallel_for(50, 7, [&](int64_t begin, int64_t end) {
        for (int64_t i = begin; i < end; ++i) hits[static_cast<size_t>(row * 50 + i)]++;
      });
    });
    bool once = true;
    for (auto& h : hits) once = once && h.load() == 1;
    CHECK(once);
  }
}

TEST_CASE("set_num_threads checks its argument; 0 restores the default") {
  ThreadsGuard restore;
  CHECK_THROWS_AS(set_num_threads(-1), Error);
  set_num_threads(5);
  CHECK(num_threads() == 5);
  set_num_threads(0);
  CHECK(num_threads() >= 1);
  CHECK_THROWS_WITH_AS(parallel_for(10, 0, [](int64_t, int64_t) {}), doctest::Contains("chunk must be >= 1"), Error);
}

TEST_CASE("parallel_reduce combines the chunks in chunk order, whatever the thread count") {
  Generator gen(3);
  Tensor x = randn({300001}, gen);
  auto sum_in_chunks = [&] {
    return parallel_reduce(x.numel(), 1000, 0.0f, [&](int64_t b, int64_t e) {
      float s = 0.0f;
      for (int64_t i = b; i < e; ++i) s += x.data()[i];
      return s;
    }, [](float a, float b) { return a + b; });
  };
  ThreadsGuard restore;
  set_num_threads(1);
  float one = sum_in_chunks();
  float serial = 0.0f;  // the same partials, added by hand in chunk order
  for (int64_t b = 0; b < x.numel(); b += 1000) {
    float s = 0.0f;
    for (int64_t i = b; i < std::min<int64_t>(x.numel(), b + 1000); ++i) s += x.data()[i];
    serial = b == 0 ? s : serial + s;
  }
  CHECK(std::memcmp(&one, &serial, sizeof(float)) == 0);
  for (int threads : kThreadCounts) {
    set_num_threads(threads);
    float got = sum_in_chunks();
    CAPTURE(threads);
    CHECK(std::memcmp(&got, &one, sizeof(float)) == 0);
  }
}

// Shapes that straddle the column blocks (64), Eigen's register blocks and its depth blocking.
const std::vector<std::array<int64_t, 3>> kProductShapes = {
    {1, 1, 1}, {3, 5, 7}, {1, 300, 700}, {700, 300, 1}, {64, 64, 64}, {65, 129, 200}, {100, 784, 256},
    {256, 64, 784}, {33, 1000, 127}, {777, 790, 772}, {512, 512, 512}, {130, 7, 1001}, {17, 2049, 191}};

// With Eigen's own GEMM a column block of C is computed exactly as inside one product, so the blocks give
// one Eigen call's bits. With -Dblas=openblas each block is an sgemm call of its own, and OpenBLAS picks its
// kernel and blocking by the CPU and the call's size (seen on a Xeon: 777 x 790 x 772 differs from the whole
// product in the last bit), so there the test holds the blocks to the one product within float32 rounding and
// still demands the same bits on every thread count: the blocks, not the threads, fix the roundings.
TEST_CASE("matmul: column blocks give the bits of one Eigen product, on any thread count") {
  Generator gen(11);
  for (auto [m, k, n] : kProductShapes) {
    CAPTURE(m);
    CAPTURE(k);
    CAPTURE(n);
    Tensor a = randn({m, k}, gen), b = randn({k, n}, gen);
    RowMatrix expected = ConstMatrix(a.data(), m, k) * ConstMatrix(b.data(), k, n);  // one Eigen call
    ThreadsGuard restore;
    set_num_threads(1);
    const Tensor one_thread = matmul(a, b);
    for (int threads : kThreadCounts) {
      set_num_threads(threads);
      Tensor c = matmul(a, b);
      CAPTURE(threads);
      CHECK(std::memcmp(c.data(), one_thread.data(), sizeof(float) * static_cast<size_t>(m * n)) == 0);
#ifdef MOMENTS_WITH_BLAS
      float worst = 0, scale = 0;
      for (int64_t i = 0; i < m * n; ++i) {
        worst = std::max(worst, std::fabs(c.data()[i] - expected.data()[i]));
        scale = std::max(scale, std::fabs(expected.data()[i]));
      }
      CHECK(worst <= 1e-5f * std::max(scale, 1.0f) * static_cast<float>(k));  // k roundings of |a b| <= scale
#else
      CHECK(std::memcmp(c.data(), expected.data(), sizeof(float) * static_cast<size_t>(m * n)) == 0);
#endif
    }
  }
}

TEST_CASE("matmul and linear, forward and backward, batched and broadcast, on any thread count") {
  Generator gen(12);
  for (auto [m, k, n] : kProductShapes) {
    if (m * k * n > 100'000'000) continue;
    CAPTURE(m);
    CAPTURE(k);
    CAPTURE(n);
    Tensor x = randn({m, k}, gen), w = randn({n, k}, gen), bias = randn({n}, gen), g = randn({m, n}, gen);
    check_same_bits_on_every_thread_count("linear", [&] {
      Tensor xi = x.clone().requires_grad_(), wi = w.clone().requires_grad_(), bi = bias.clone().requires_grad_();
      Tensor y = linear(xi, wi, bi);
      sum(mul(y, g)).backward();
      return std::vector<Tensor>{y, xi.grad(), wi.grad(), bi.grad()};
    });
  }
  Tensor a3 = randn({5, 70, 130}, gen), b3 = randn({5, 130, 300}, gen), b2 = randn({130, 300}, gen);
  check_same_bits_on_every_thread_count("batched matmul", [&] {
    Tensor a = a3.clone().requires_grad_(), b = b3.clone().requires_grad_(), bb = b2.clone().requires_grad_();
    Tensor y = matmul(a, b), z = matmul(a, bb);
    sum(mul(y, y)).backward();
    sum(mul(z, z)).backward();
    return std::vector<Tensor>{y, z, a.grad(), b.grad(), bb.grad()};
  });
  // Each batch of a batched product is the one-batch product, bit for bit.
  Tensor y = matmul(a3, b3);
  for (int64_t i = 0; i < 5; ++i) {
    Tensor yi = matmul(reshape(slice(a3, 0, i, i + 1), {70, 130}), reshape(slice(b3, 0, i, i + 1), {130, 300}));
    CHECK(std::memcmp(yi.data(), y.data() + i * 70 * 300, sizeof(float) * 70 * 300) == 0);
  }
}

TEST_CASE("element-wise ops, reductions and their backward give the same bits on any thread count") {
  Generator gen(13);
  Tensor big = randn({700, 1100}, gen), other = randn({700, 1100}, gen), row = randn({1100}, gen);
  Tensor column = randn({700, 1}, gen), target = randn({700, 1100}, gen), w = randn({1100}, gen), b = randn({1100}, gen);
  check_same_bits_on_every_thread_count("element-wise and reductions", [&] {
    Tensor x = big.clone().requires_grad_(), r = row.clone().requires_grad_(), c = column.clone().requires_grad_();
    Tensor wi = w.clone().requires_grad_(), bi = b.clone().requires_grad_();
    Tensor y = add(mul(x, r), div(x, add(c, 3.0f)));   // broadcasting both ways
    y = add(sub(gelu(y), tanh(y)), mul(sigmoid(y), relu(y)));
    y = add(y, sqrt(add(exp(mul(x, 0.01f)), 1.0f)));
    y = layer_norm(y, wi, bi, 1e-5f);
    Tensor losses = add(add(mean(softmax(y)), sum(log_softmax(y))), mse_loss(y, target));
    losses = add(losses, add(sum(mean(y, 0)), sum(sum(y, 1))));
    losses = add(losses, sum(max(y, 1).values));
    std::vector<int64_t> labels(700);
    for (size_t i = 0; i < labels.size(); ++i) labels[i] = static_cast<int64_t>((i * 37) % 1100);
    losses = add(losses, cross_entropy(y, labels));
    losses.backward();
    return std::vector<Tensor>{y, losses, x.grad(), r.grad(), c.grad(), wi.grad(), bi.grad()};
  });
}

namespace {

// Parameters large enough to be split into many chunks, plus a small one, with fixed gradients.
std::vector<Tensor> fresh_params() {
  Generator gen(21);
  std::vector<Tensor> params = {randn({300, 700}, gen).requires_grad_(), randn({100000}, gen).requires_grad_(),
                                randn({7}, gen).requires_grad_()};
  for (Tensor& p : params) sum(mul(p, randn(p.shape(), gen))).backward();  // .grad = that random tensor, exactly
  return params;
}

// Parameters and every state buffer after two steps of the optimizer make() builds.
std::vector<Tensor> after_two_steps(const std::function<std::unique_ptr<Optimizer>(const std::vector<Tensor>&)>& make) {
  std::vector<Tensor> params = fresh_params();
  std::unique_ptr<Optimizer> opt = make(params);
  opt->step();
  opt->step();
  std::vector<Tensor> out = params;
  for (const Tensor& p : params)
    for (const auto& [name, buffer] : opt->state(p)->buffers) out.push_back(buffer);
  return out;
}

}  // namespace

TEST_CASE("every optimizer's step gives the same parameters and state on any thread count") {
  using Make = std::function<std::unique_ptr<Optimizer>(const std::vector<Tensor>&)>;
  std::vector<std::pair<std::string, Make>> optimizers = {
      {"SGD", [](const auto& p) { return std::make_unique<SGD>(p, SgdOptions{.learning_rate = 0.1}); }},
      {"SGD momentum", [](const auto& p) { return std::make_unique<SGD>(p, SgdOptions{.learning_rate = 0.1, .momentum = 0.9, .weight_decay = 0.01}); }},
      {"SGD nesterov", [](const auto& p) { return std::make_unique<SGD>(p, SgdOptions{.learning_rate = 0.1, .momentum = 0.9, .nesterov = true}); }},
      {"Adam", [](const auto& p) { return std::make_unique<Adam>(p, AdamOptions{.learning_rate = 1e-3, .weight_decay = 0.01}); }},
      {"Adam amsgrad", [](const auto& p) { return std::make_unique<Adam>(p, AdamOptions{.learning_rate = 1e-3, .amsgrad = true}); }},
      {"AdamW", [](const auto& p) { return std::make_unique<AdamW>(p, AdamWOptions{.learning_rate = 1e-3, .weight_decay = 0.1}); }},
      {"Adafactor", [](const auto& p) { return std::make_unique<Adafactor>(p, AdafactorOptions{}); }},
      {"Adafactor beta1", [](const auto& p) { return std::make_unique<Adafactor>(p, AdafactorOptions{.beta1 = 0.9}); }},
      {"Lion", [](const auto& p) { return std::make_unique<Lion>(p, LionOptions{.learning_rate = 1e-3, .weight_decay = 0.1}); }},
      // update_hessian's loop first (from the gradients set), so the steps divide by a nonzero h, partly clipped.
      {"SophiaG", [](const auto& p) {
         auto sophia = std::make_unique<SophiaG>(p, SophiaGOptions{.learning_rate = 1e-3, .batch_size = 1});
         sophia->update_hessian();
         return sophia;
       }},
      {"LAMB", [](const auto& p) { return std::make_unique<Lamb>(p, LambOptions{.learning_rate = 1e-3}); }},
      {"LAMB L2, nvlamb", [](const auto& p) { return std::make_unique<Lamb>(p, LambOptions{.weight_decay = 0.0, .adam_w_mode = false, .use_nvlamb = true}); }},
      {"Muon + AdamW", [](const auto& p) {
         return std::make_unique<MuonWithAuxAdamW>(MuonParamSplit{.muon = {p[0]}, .adamw = {p[1], p[2]}}, MuonOptions{.learning_rate = 0.02});
       }},
      {"AdamWScheduleFree", [](const auto& p) { return std::make_unique<AdamWScheduleFree>(p, ScheduleFreeOptions{.learning_rate = 1e-2, .weight_decay = 0.1, .warmup_steps = 1}); }},
      {"AdamMini rows, tensor, Adam", [](const auto& p) {
         return std::make_unique<AdamMini>(NamedTensors{{"mlp.weight", p[0]}, {"norm.weight", p[1]}, {"mlp.bias", p[2]}},
                                           AdamMiniOptions{.weight_decay = 0.1});
       }},
      {"AdamMini heads", [](const auto& p) {
         return std::make_unique<AdamMini>(NamedTensors{{"attn.wq.weight", p[0]}, {"layers.0.weight", p[1]}, {"x.bias", p[2]}},
                                           AdamMiniOptions{}, AdamMiniModel{.dim = 700, .n_heads = 7});
       }},
      // Step 1 is Adam's own loop (grafting only), step 2 computes the roots of 3,565 blocks of at most 32 and
      // grafts (blocks of 128 made this case 4,000 eigendecompositions of 128 x 128 over the five runs: most
      // of five minutes under the sanitizers; the blocks are what the threads share, and there are more now).
      {"Shampoo", [](const auto& p) { return std::make_unique<Shampoo>(p, ShampooOptions{.max_preconditioner_dim = 32, .precondition_frequency = 2, .grafting = ShampooGrafting::adam, .momentum = 0.5}); }},
      {"Adam8bit", [](const auto& p) { return std::make_unique<Adam8bit>(p, Adam8bitOptions{.learning_rate = 1e-3}); }},
      {"AdamW8bit", [](const auto& p) { return std::make_unique<AdamW8bit>(p, AdamW8bitOptions{.learning_rate = 1e-3, .weight_decay = 0.1}); }},
      // SOAP's second step is its first update; frequency 1 runs the QR refresh in it too (and 1-D preconditioning).
      // max_precond_dim 320: the 300-side of the matrix is rotated, its 700-side is not (both sides of 700 x 700
      // and 300 x 300 eigenbases took most of the case's time under the sanitizers).
      {"SOAP", [](const auto& p) { return std::make_unique<SOAP>(p, SoapOptions{.precondition_frequency = 1, .max_precond_dim = 320, .precondition_1d = true}); }},
  };
  for (const auto& [name, make] : optimizers)
    check_same_bits_on_every_thread_count(name, [&, make = make] { return after_two_steps(make); });
}

TEST_CASE("20 Adam steps of an MLP give the same weights and state on any thread count") {
  Generator data_gen(31);
  Tensor inputs = randn({256, 784}, data_gen);
  std::vector<int64_t> labels(256);
  for (size_t i = 0; i < labels.size(); ++i) labels[i] = static_cast<int64_t>((i * 7) % 10);
  check_same_bits_on_every_thread_count("MLP training", [&] {
    Generator gen(5);
    MLP model({784, 256, 256, 10}, gen);
    Adam opt(model.parameters(), {.learning_rate = 1e-3});
    for (int step = 0; step < 20; ++step) {
      int64_t begin = step % 2 * 128;
      Tensor loss = cross_entropy(model.forward(rows(inputs, begin, begin + 128)), labels_of({inputs, labels, 10}, begin, begin + 128));  // forward
      opt.zero_grad();
      loss.backward();  // backward
      opt.step();       // update
    }
    std::vector<Tensor> out = model.parameters();
    for (const Tensor& p : model.parameters())
      for (const auto& [name, buffer] : opt.state(p)->buffers) out.push_back(buffer);
    return out;
  });
}
