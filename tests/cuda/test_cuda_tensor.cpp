// tests/cuda/test_cuda_tensor.cpp — cuda tensors: copies both ways, fills, clones,
// printing, errors, and optimizer state counted on the cuda device. On the GPU when
// one is present, else on the CPU emulator.
//   meson test -C build --suite cuda
#include "cuda_testing.hpp"

using namespace moments;
using testing::check_error;
using testing::pattern;

TEST_CASE("to(cuda) and back returns the same values, on awkward sizes") {
  for (int64_t n : {1, 31, 1000003}) {
    CAPTURE(n);
    Tensor x = pattern({n}, 3, 0.125f);
    Tensor on_device = x.to(Device::cuda);
    CHECK(on_device.device() == Device::cuda);
    CHECK(on_device.shape() == x.shape());
    CHECK(on_device.to_vector() == x.to_vector());
    Tensor back = on_device.to(Device::cpu);
    CHECK(back.device() == Device::cpu);
    CHECK(back.to_vector() == x.to_vector());
    CHECK(on_device.to(Device::cuda).impl() == on_device.impl());  // already there: the same tensor
  }
}

TEST_CASE("factories, clone and item on cuda") {
  Tensor z = Tensor::zeros({3, 5}, Device::cuda);
  Tensor o = Tensor::ones({31}, Device::cuda);
  Tensor f = Tensor::full({2, 2, 2}, -2.5f, Device::cuda);
  CHECK(z.to_vector() == std::vector<float>(15, 0.0f));
  CHECK(o.to_vector() == std::vector<float>(31, 1.0f));
  CHECK(f.to_vector() == std::vector<float>(8, -2.5f));

  Tensor x = pattern({4, 3}).to(Device::cuda);
  Tensor copy = x.clone();
  CHECK(copy.device() == Device::cuda);
  CHECK(copy.impl()->storage != x.impl()->storage);
  CHECK(copy.to_vector() == x.to_vector());
  CHECK(Tensor::full({1}, 7.0f, Device::cuda).item() == 7.0f);
  CHECK(Tensor::zeros({0}, Device::cuda).to_vector().empty());
}

TEST_CASE("a cuda tensor prints its values and its device") {
  Tensor x = pattern({2, 3});
  std::string cpu = to_string(x);
  CHECK(to_string(x.to(Device::cuda)) == cpu.substr(0, cpu.size() - 1) + ", device=cuda)");
  CHECK(to_string(Tensor::zeros({2}, Device::cuda)) == "tensor([0., 0.], shape=[2], device=cuda)");
}

TEST_CASE("element access on cuda tensors and mixed devices are errors that say what to do") {
  Tensor x = Tensor::zeros({2}, Device::cuda);
  check_error([&] { x.at({0}); }, {"at", "cuda", ".to(Device::cpu)"});
  check_error([&] { add(x, Tensor::zeros({2})); }, {"add", "different devices", "cuda", "cpu"});
  check_error([] { Tensor::zeros({2}).cuda_backend(); }, {"cuda_backend", "cpu"});
}

TEST_CASE("without a GPU and without emulation, asking for a cuda tensor says how to get one") {
  if (cuda::gpu_backend()) return;  // a GPU is always used when present
  cuda::set_emulation(false);
  CHECK_FALSE(cuda_available());
  check_error([] { Tensor::zeros({2}, Device::cuda); }, {"cannot make a cuda tensor", "set_emulation(true)",
                                                          "MOMENTS_CUDA_EMULATION=1", "-Dgpu_emulation=enabled"});
  check_error([] { Tensor::zeros({2}).to(Device::cuda); }, {"Tensor::to(cuda)", "MOMENTS_CUDA_EMULATION=1"});
  cuda::set_emulation(true);
  CHECK(cuda_available());
  CHECK(cuda::emulating());
}

TEST_CASE("optimizer state on cuda is counted on the cuda device") {
  Tensor w = pattern({4, 8}).to(Device::cuda).requires_grad_();
  Tensor b = pattern({8}).requires_grad_();  // a cpu parameter beside it
  w.set_grad(pattern({4, 8}, 5).to(Device::cuda));
  b.set_grad(pattern({8}, 5));
  Adam adam({w, b}, {.amsgrad = true});
  adam.step();
  int64_t cuda_bytes = 0, cpu_bytes = 0;
  for (const StateMemory& row : adam.state_bytes()) (row.device == Device::cuda ? cuda_bytes : cpu_bytes) += row.bytes;
  CHECK(cuda_bytes == 3 * 32 * 4);  // exp_avg, exp_avg_sq, max_exp_avg_sq of the 4 × 8 matrix
  CHECK(cpu_bytes == 3 * 8 * 4);
  CHECK(adam.state(w)->buffers.at("exp_avg").device() == Device::cuda);
}
