// tests/cuda/test_cuda_counts.cpp — what a training step asks of the device, counted
// (cuda::Backend::counters): cudaMalloc/cudaFree calls, launches, copies each way and the
// calls that make the host wait. None of this shows in a timing on the emulator, so it is
// counted there and asserted: a steady-state step allocates nothing, frees nothing and does
// not wait for the device; the caching allocator (cuda/device_memory.hpp) makes it so.
//   meson test -C build --suite cuda
#include "cuda_testing.hpp"
#include "size_cache.hpp"  // device_bucket_bytes
#include "moments.hpp"

using namespace moments;

namespace {

cuda::Counters now() { return cuda::active_backend().counters(); }

std::string describe(const cuda::Counters& c) {
  return "allocations " + std::to_string(c.allocations) + ", frees " + std::to_string(c.frees) + ", launches " +
         std::to_string(c.launches) + ", copies to device " + std::to_string(c.copies_to_device) +
         ", copies to host " + std::to_string(c.copies_to_host) + ", synchronizations " +
         std::to_string(c.synchronizations);
}

using Make = std::function<std::unique_ptr<Optimizer>(const std::vector<Tensor>&, const std::vector<Tensor>&)>;

// An optimizer O over two groups, both with `options`.
template <class O, class Options>
Make two(Options options) {
  return [options](const std::vector<Tensor>& a, const std::vector<Tensor>& b) -> std::unique_ptr<Optimizer> {
    auto opt = std::make_unique<O>(a, options);
    opt->add_param_group(b, options);
    return opt;
  };
}

// A (64, 48) matrix and a (48,) bias on cuda, and their copies on the cpu.
struct Twins {
  Generator gen;
  Tensor w, b, w_cpu, b_cpu;
  explicit Twins(uint64_t seed) : gen(seed) {
    w = randn({64, 48}, gen).to(Device::cuda).requires_grad_(), b = randn({48}, gen).to(Device::cuda).requires_grad_();
    w_cpu = w.to(Device::cpu).requires_grad_(), b_cpu = b.to(Device::cpu).requires_grad_();
  }
  // Three steps of on_device (over w, b) and on_cpu (over the copies) with the same random gradients;
  // checks that the last step on cuda allocated nothing, copied nothing back and did not wait.
  void step(Optimizer& on_device, Optimizer& on_cpu) {
    cuda::Counters used;
    for (int step = 0; step < 3; ++step) {
      Tensor gw = randn({64, 48}, gen), gb = randn({48}, gen);
      w.set_grad(gw.to(Device::cuda));
      b.set_grad(gb.to(Device::cuda));
      w_cpu.set_grad(gw);
      b_cpu.set_grad(gb);
      const cuda::Counters before = now();
      on_device.step();
      used = now() - before;
      on_cpu.step();
    }
    INFO(describe(used));
    CHECK(used.allocations == 0);
    CHECK(used.copies_to_host == 0);
    CHECK(used.synchronizations == 0);
  }
};

}  // namespace

TEST_CASE("device buckets: 512-byte steps up to 1 MiB, sixteenths of the next power of two above") {
  CHECK(device_bucket_bytes(4) == 512);
  CHECK(device_bucket_bytes(512) == 512);
  CHECK(device_bucket_bytes(513) == 1024);
  CHECK(device_bucket_bytes(size_t{1} << 20) == size_t{1} << 20);
  CHECK(device_bucket_bytes((size_t{1} << 20) + 1) == (size_t{1} << 20) + (size_t{1} << 17));  // 2 MiB / 16 steps
  CHECK(device_bucket_bytes(size_t{40} << 20) == size_t{40} << 20);                           // 64 MiB / 16 = 4 MiB steps
  CHECK(device_bucket_bytes((size_t{40} << 20) + 1) == size_t{44} << 20);
  for (size_t bytes = 4; bytes < (size_t{1} << 34); bytes = bytes * 3 + 1) {  // never below, at most 12.5 % above
    CAPTURE(bytes);
    CHECK(device_bucket_bytes(bytes) >= bytes);
    CHECK(device_bucket_bytes(bytes) - bytes <= std::max<size_t>(511, bytes / 8 + 1));
  }
}

TEST_CASE("a released tensor's memory serves the next tensor of its size without cudaMalloc or cudaFree") {
  { Tensor warm = Tensor::zeros({1000}, Device::cuda); }
  cuda::Counters before = now();
  for (int i = 0; i < 5; ++i) {
    Tensor t = Tensor::zeros({1000}, Device::cuda);
    CHECK(t.to_vector() == std::vector<float>(1000, 0.0f));  // a recycled buffer is filled as a new one
  }
  cuda::Counters used = now() - before;
  INFO(describe(used));
  CHECK(used.allocations == 0);
  CHECK(used.frees == 0);
  CHECK(used.launches == 5);        // the fills
  CHECK(used.copies_to_host == 5);  // to_vector
  CHECK(cuda::active_backend().cached_bytes() >= 4000);

  cuda::active_backend().empty_cache();  // everything kept goes back through cudaFree
  CHECK(cuda::active_backend().cached_bytes() == 0);
  before = now();
  { Tensor t = Tensor::zeros({1000}, Device::cuda); }
  CHECK((now() - before).allocations == 1);
}

TEST_CASE("a steady-state MLP training step on cuda: no allocation, no free, no wait for the device") {
  // The tutorial's MLP (784-128-10, batch 64, cross-entropy, Adam), its batch uploaded each
  // step as a training loop does. The loss stays on the device until the host asks for it.
  Generator gen(0);
  MLP model({784, 128, 10}, gen);
  model.to(Device::cuda);
  Adam adam(model.parameters(), {.learning_rate = 1e-3});
  Generator data(1);
  Tensor x = randn({64, 784}, data);
  std::vector<int64_t> targets;
  for (int64_t i = 0; i < 64; ++i) targets.push_back((i * 7) % 10);
  Tensor loss;
  auto step = [&] {
    Tensor input = x.to(Device::cuda);                     // the batch: one copy to the device
    loss = cross_entropy(model.forward(input), targets);   // forward (the targets: one more copy)
    model.zero_grad();
    loss.backward();                                       // backward
    adam.step();                                           // update
  };
  for (int i = 0; i < 3; ++i) step();  // the first steps fill the cache and create Adam's state
  cuda::Counters before = now();
  step();
  cuda::Counters used = now() - before;
  INFO(describe(used));
  CHECK(used.allocations == 0);
  CHECK(used.frees == 0);
  CHECK(used.copies_to_host == 0);
  CHECK(used.synchronizations == 0);
  CHECK(used.copies_to_device == 2);  // the batch and the targets
  CHECK(used.launches > 0);
  const std::string report = std::string("one steady-state step of MLP 784-128-10 (batch 64, Adam) on the ") +
                             cuda::active_backend().name() + ": " + describe(used);
  MESSAGE(report);
  before = now();
  float printed = loss.item();  // what the user asks for: one copy, one wait
  CHECK(std::isfinite(printed));
  CHECK((now() - before).copies_to_host == 1);
}

TEST_CASE("an element-wise optimizer steps 100 parameter tensors in at most 2 launches per group, bit for bit") {
  // 100 tensors of 1 to 2,971 elements in two groups of 50: each group's updates go out as one list
  // (cuda/tensor_list.hpp: up to 64 tensors per launch), and the parameters after three steps equal
  // the CPU loop's bit for bit.
  const std::vector<std::pair<std::string, Make>> optimizers = {
      {"SGD (momentum, nesterov)", two<SGD>(SgdOptions{.learning_rate = 0.1, .momentum = 0.9, .nesterov = true})},
      {"Adam (amsgrad)", two<Adam>(AdamOptions{.learning_rate = 1e-2, .amsgrad = true})},
      {"AdamW", two<AdamW>(AdamWOptions{.learning_rate = 1e-2, .weight_decay = 0.1})},
      {"Adagrad", two<Adagrad>(AdagradOptions{.learning_rate = 1e-2})},
      {"RMSprop (centered, momentum)", two<RMSprop>(RmspropOptions{.learning_rate = 1e-2, .momentum = 0.9, .centered = true})},
      {"Adadelta", two<Adadelta>(AdadeltaOptions{})},
      {"Adamax", two<Adamax>(AdamaxOptions{})},
      {"NAdam", two<NAdam>(NadamOptions{})},
      {"RAdam", two<RAdam>(RadamOptions{})},
      {"Lion", two<Lion>(LionOptions{.learning_rate = 1e-3})},
      {"schedule-free AdamW", two<AdamWScheduleFree>(ScheduleFreeOptions{.warmup_steps = 2})},
      {"8-bit Adam (every tensor under min_8bit_size: the 32-bit rule)", two<Adam8bit>(Adam8bitOptions{})},
  };
  for (const auto& [name, make] : optimizers) {
    CAPTURE(name);
    std::vector<std::vector<float>> finals[2];
    int64_t launches = 0;
    for (Device device : {Device::cpu, Device::cuda}) {
      std::vector<Tensor> params[2];
      for (int k = 0; k < 100; ++k) {
        const int64_t n = 1 + (k * 2971) % 2971 + k;
        Tensor p = Tensor::from(testing::pattern({n}, k, 0.01f).to_vector()).to(device).requires_grad_();
        params[k % 2].push_back(p);
      }
      std::unique_ptr<Optimizer> opt = make(params[0], params[1]);
      for (int step = 0; step < 3; ++step) {
        for (int g = 0; g < 2; ++g)
          for (size_t k = 0; k < params[g].size(); ++k)
            params[g][k].set_grad(testing::pattern(params[g][k].shape(), 7 * step + static_cast<int>(k) + g, 0.1f).to(device));
        const cuda::Counters before = device == Device::cuda ? now() : cuda::Counters{};
        opt->step();
        if (device == Device::cuda && step == 2) launches = (now() - before).launches;
      }
      for (int g = 0; g < 2; ++g)
        for (const Tensor& p : params[g]) finals[device == Device::cuda].push_back(p.to_vector());
    }
    CHECK(launches <= 4);  // two groups, at most 2 each
    CHECK(launches >= 2);
    REQUIRE(finals[0].size() == finals[1].size());
    for (size_t k = 0; k < finals[0].size(); ++k) {
      CAPTURE(k);
      CHECK(finals[1][k] == finals[0][k]);
    }
  }
}

TEST_CASE("LAMB on cuda: G, ‖θ‖ and ‖u‖ stay on the device; global_grad_norm() and trust() copy back when asked") {
  Twins t(5);
  Tensor &w = t.w, &b = t.b, &w_cpu = t.w_cpu, &b_cpu = t.b_cpu;
  const LambOptions options{.learning_rate = 0.01, .weight_decay = 0.01, .max_grad_norm = 1.0};  // G ≈ 56: clipped
  Lamb on_device({w, b}, options), on_cpu({w_cpu, b_cpu}, options);
  t.step(on_device, on_cpu);
  const cuda::Counters before = now();
  CHECK(on_device.global_grad_norm() == doctest::Approx(on_cpu.global_grad_norm()).epsilon(1e-6));
  CHECK(on_device.global_grad_norm() > 1.0);
  CHECK(on_device.trust_ratio(w) == doctest::Approx(on_cpu.trust_ratio(w_cpu)).epsilon(1e-5));
  CHECK(on_device.trust(w).param_norm == doctest::Approx(on_cpu.trust(w_cpu).param_norm).epsilon(1e-6));
  CHECK((now() - before).copies_to_host == 3);  // G², then ‖θ‖² and ‖u‖² of w, each once
  testing::check_close(w.to_vector(), w_cpu.to_vector(), 1e-6f, 1e-5f, "LAMB's matrix after 3 steps");
  testing::check_close(b.to_vector(), b_cpu.to_vector(), 1e-6f, 1e-5f, "LAMB's bias after 3 steps");

  // One optimizer over tensors on both devices: one G over every gradient, as on one device.
  Tensor m_cuda = w.detach().clone().requires_grad_(), m_cpu = b.detach().to(Device::cpu).requires_grad_();
  Tensor r_cuda = w.detach().to(Device::cpu).requires_grad_(), r_cpu = b.detach().to(Device::cpu).requires_grad_();
  Lamb mixed({m_cuda, m_cpu}, options), reference({r_cuda, r_cpu}, options);
  Tensor gw = randn({64, 48}, t.gen), gb = randn({48}, t.gen);
  m_cuda.set_grad(gw.to(Device::cuda)), m_cpu.set_grad(gb), r_cuda.set_grad(gw), r_cpu.set_grad(gb);
  mixed.step();
  reference.step();
  CHECK(mixed.global_grad_norm() == doctest::Approx(reference.global_grad_norm()).epsilon(1e-6));
  testing::check_close(m_cuda.to_vector(), r_cuda.to_vector(), 1e-6f, 1e-5f, "the cuda tensor of a mixed LAMB");
  testing::check_close(m_cpu.to_vector(), r_cpu.to_vector(), 1e-6f, 1e-5f, "the cpu tensor of a mixed LAMB");
}

TEST_CASE("Adafactor on cuda: RMS(X), RMS(U) and the step stay on the device; α_t comes back when asked") {
  Twins t(3);
  Adafactor on_device({t.w, t.b}, {}), on_cpu({t.w_cpu, t.b_cpu}, {});  // relative step, scale_parameter: α_t needs RMS(X)
  t.step(on_device, on_cpu);
  CHECK(on_device.effective_learning_rate(0) == doctest::Approx(on_cpu.effective_learning_rate(0)).epsilon(1e-6));
  testing::check_close(t.w.to_vector(), t.w_cpu.to_vector(), 1e-5f, 1e-5f, "Adafactor's matrix after 3 steps");
}
