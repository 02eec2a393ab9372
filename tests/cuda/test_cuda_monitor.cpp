// tests/cuda/test_cuda_monitor.cpp — the Monitor on a model trained on Device::cuda
// records what it records on the CPU: the same norms, update ratios, cosines and state
// statistics (the passes copy cuda tensors to the host), and the optimizer-state bytes
// under the cuda device, summed from the device allocations.
//   meson test -C build --suite cuda
#include <cmath>

#include "cuda_testing.hpp"

using namespace moments;

namespace {

// Trains a copy of one MLP on `device` for five Adam steps with a Monitor; returns its records.
std::vector<Record> monitored_run(Device device) {
  Generator gen(3);
  MLP model({12, 8, 3}, gen);
  model.to(device);
  Tensor x = randn({5, 12}, gen).to(device);
  std::vector<int64_t> y{0, 1, 2, 1, 0};
  Adam adam(model.parameters(), {.learning_rate = 1e-2});
  Monitor monitor(adam, model.named_parameters());
  for (int64_t step = 1; step <= 5; ++step) {
    adam.zero_grad();
    Tensor loss = cross_entropy(model.forward(x), y);  // forward
    loss.backward();                                   // backward
    monitor.before_step();
    adam.step();                                       // update
    monitor.record(step, loss.item());
  }
  return monitor.history();
}

void check_near(double cuda, double cpu, const char* what, int64_t step) {
  INFO(what << " at step " << step << ": cuda " << cuda << ", cpu " << cpu);
  CHECK(std::abs(cuda - cpu) <= 1e-5 * std::abs(cpu) + 1e-7);
}

}  // namespace

TEST_CASE("the Monitor records the same statistics for a model on cuda as on the cpu") {
  std::vector<Record> cpu = monitored_run(Device::cpu), cuda = monitored_run(Device::cuda);
  REQUIRE(cpu.size() == 5);
  REQUIRE(cuda.size() == cpu.size());
  for (size_t s = 0; s < cpu.size(); ++s) {
    const Record &a = cuda[s], &b = cpu[s];
    check_near(a.loss, b.loss, "loss", b.step);
    check_near(a.grad_norm, b.grad_norm, "grad_norm", b.step);
    check_near(a.param_norm, b.param_norm, "param_norm", b.step);
    check_near(a.update_norm, b.update_norm, "update_norm", b.step);
    check_near(a.update_ratio, b.update_ratio, "update_ratio", b.step);
    check_near(a.cosine, b.cosine, "cosine", b.step);
    REQUIRE(a.params.size() == b.params.size());
    for (size_t i = 0; i < b.params.size(); ++i) check_near(a.params[i].grad_norm, b.params[i].grad_norm, "param grad_norm", b.step);
    REQUIRE(a.buffers.size() == b.buffers.size());
    for (size_t i = 0; i < b.buffers.size(); ++i) {
      CHECK(a.buffers[i].buffer == b.buffers[i].buffer);
      check_near(a.buffers[i].mean_abs, b.buffers[i].mean_abs, "buffer mean_abs", b.step);
      check_near(a.buffers[i].max_abs, b.buffers[i].max_abs, "buffer max_abs", b.step);
    }
    CHECK(a.nonfinite.empty());
    // The same bytes, but on the other device: m and v, 4 bytes per weight each.
    REQUIRE(a.memory.size() == b.memory.size());
    for (size_t i = 0; i < b.memory.size(); ++i) {
      CHECK(a.memory[i].buffer == b.memory[i].buffer);
      CHECK(a.memory[i].device == Device::cuda);
      CHECK(b.memory[i].device == Device::cpu);
      CHECK(a.memory[i].bytes == b.memory[i].bytes);
      CHECK(a.memory[i].bytes == 4 * (12 * 8 + 8 + 8 * 3 + 3));
    }
  }
}
