// Suite `tensor`: storage, factories, element access, the shared-handle rule,
// printing, and the seeded generator.
#include <climits>
#include <cmath>
#include <fstream>
#include <random>

#include "testing.hpp"

using namespace moments;
using testing::check_error;

TEST_CASE("factories fill shapes with the right values") {
  CHECK(Tensor::zeros({2, 3}).to_vector() == std::vector<float>(6, 0.0f));
  CHECK(Tensor::ones({4}).to_vector() == std::vector<float>(4, 1.0f));
  CHECK(Tensor::full({2, 2}, 7.5f).to_vector() == std::vector<float>(4, 7.5f));
  CHECK(Tensor::arange(4).to_vector() == std::vector<float>{0, 1, 2, 3});
  CHECK(Tensor::arange(1.0f, 2.0f, 0.25f).to_vector() == std::vector<float>{1.0f, 1.25f, 1.5f, 1.75f});
  CHECK(Tensor::arange(3.0f, 0.0f, -1.0f).to_vector() == std::vector<float>{3, 2, 1});
  CHECK(Tensor::arange(0).numel() == 0);
  Tensor long_range = Tensor::arange(int64_t{1} << 24 | 1);  // 2^24 + 1: not a float, but a count
  CHECK(long_range.numel() == (int64_t{1} << 24 | 1));
  CHECK(long_range.data()[(int64_t{1} << 24) - 1] == 16777215.0f);
  Tensor s = Tensor::scalar(2.5f);
  CHECK(s.dim() == 0);
  CHECK(s.numel() == 1);
  CHECK(s.item() == 2.5f);
  Tensor t = Tensor::from({1, 2, 3, 4, 5, 6}, {2, 3});
  CHECK(t.shape() == Shape{2, 3});
  CHECK(t.size(-1) == 3);
  CHECK(t.at({1, 0}) == 4.0f);
  CHECK(t.device() == Device::cpu);
  CHECK(Tensor::zeros({0, 5}).numel() == 0);
}

TEST_CASE("a Tensor copy is a handle on the same storage; clone is a deep copy") {
  Tensor a = Tensor::zeros({3});
  Tensor b = a;
  b.at({1}) = 5.0f;
  CHECK(a.at({1}) == 5.0f);
  Tensor c = a.clone();
  c.at({1}) = 9.0f;
  CHECK(a.at({1}) == 5.0f);
  Tensor d = a.detach();
  d.at({0}) = 1.0f;
  CHECK(a.at({0}) == 1.0f);  // detach shares storage
}

TEST_CASE("bad factory arguments and bad element access raise clear errors") {
  check_error([] { Tensor::from({1, 2, 3}, {2, 2}); }, {"Tensor::from", "3 values", "[2, 2]"});
  check_error([] { Tensor::zeros({2, -1}); }, {"[2, -1]", ">= 0"});
  check_error([] { Tensor::arange(0.0f, 1.0f, 0.0f); }, {"arange", "step"});
  check_error([] { Tensor::arange(-1); }, {"arange", "-1", ">= 0"});
  Tensor t = Tensor::zeros({2, 3});
  check_error([&] { t.at({2, 0}); }, {"at", "index 2", "[2, 3]"});
  check_error([&] { t.at({0}); }, {"at", "1 coordinates", "[2, 3]"});
  check_error([&] { (void)t.item(); }, {"item", "[2, 3]"});
  check_error([&] { (void)t.size(2); }, {"size", "dim 2", "[2, 3]"});
  check_error([] { Tensor().numel(); }, {"undefined"});
}

TEST_CASE("shapes whose sizes overflow, are negative or exceed the size limit are refused by every factory") {
  const int64_t two31 = int64_t{1} << 31, two62 = int64_t{1} << 62;
  // 2^31 · 2^31 = 2^62 floats: once a 0-byte buffer that claimed 2^62 elements.
  check_error([&] { Tensor::empty({two31, two31}); }, {"Tensor::empty", "[2147483648, 2147483648]", "elements"});
  // 2^62 · 2^62 wrapped to 0 elements, and at({0, 1000000}) passed the bounds check.
  check_error([&] { Tensor::empty({two62, two62}); }, {"Tensor::empty", "[4611686018427387904, 4611686018427387904]", "overflow"});
  check_error([&] { Tensor::empty({two62, two62, 0}); }, {"Tensor::empty", "overflow"});  // a 0 does not excuse the rest
  check_error([&] { Tensor::zeros({two31, two31}); }, {"Tensor::zeros", "[2147483648, 2147483648]"});
  check_error([&] { Tensor::ones({two62, two62}); }, {"Tensor::ones", "[4611686018427387904, 4611686018427387904]"});
  check_error([&] { Tensor::full({two31, two31}, 1.0f); }, {"Tensor::full", "[2147483648, 2147483648]"});
  check_error([&] { Tensor::from({}, {two62, two62}); }, {"Tensor::from", "[4611686018427387904, 4611686018427387904]"});
  check_error([&] { Tensor::zeros({3, -2}); }, {"Tensor::zeros", "[3, -2]", ">= 0"});
  check_error([&] { Tensor::arange(0.0f, 1e30f); }, {"arange", "elements"});
  check_error([&] { Tensor::arange(int64_t{1} << 50); }, {"arange", "elements"});
  Generator gen(1);
  check_error([&] { randn({two31, two31}, gen); }, {"randn", "[2147483648, 2147483648]"});
  check_error([&] { rand({two62, two62}, gen); }, {"rand", "[4611686018427387904, 4611686018427387904]"});
  // The limit itself: kMaxTensorBytes of floats is accepted by the check, one more element is not.
  CHECK(checked_numel({kMaxTensorNumel}, "test") == kMaxTensorNumel);
  CHECK(checked_numel({two31, 0, 4}, "test") == 0);
  check_error([&] { checked_numel({two31, 0, two31}, "test"); }, {"test", "nonzero sizes multiply to 4611686018427387904"});
  CHECK(checked_numel({}, "test") == 1);
  check_error([&] { checked_numel({kMaxTensorNumel + 1}, "test"); }, {"test", "bytes"});
  check_error([&] { Tensor::empty({kMaxTensorNumel + 1}); }, {"Tensor::empty", "bytes"});
  check_error([&] { Tensor::empty({INT64_MAX}); }, {"Tensor::empty", "[9223372036854775807]"});
}

TEST_CASE("an allocation the system refuses is a moments::Error naming the shape and the bytes") {
#if defined(__SANITIZE_ADDRESS__)
  MESSAGE("AddressSanitizer build: its allocator aborts on requests it cannot honour instead of throwing");
#else
  // 2^44 floats = 64 TiB, under the 128 TiB limit but more than this machine's memory and swap. With
  // overcommit_memory = 1 (always) Linux would hand out the address space, so the test needs 0 or 2.
  std::ifstream policy("/proc/sys/vm/overcommit_memory");
  int mode = -1;
  policy >> mode;
  if (mode == 1) {
    MESSAGE("vm.overcommit_memory is 1: the kernel grants any size, nothing to check");
    return;
  }
  const int64_t n = int64_t{1} << 44;
  check_error([&] { Tensor::zeros({n, 1}); }, {"Tensor::zeros", "[17592186044416, 1]", "70368744177664 bytes"});
#endif
}

TEST_CASE("at() checks every coordinate, and the offset against the storage") {
  Tensor t = Tensor::zeros({2, 3, 4});
  t.at({1, 2, 3}) = 5.0f;
  CHECK(t.to_vector().back() == 5.0f);
  check_error([&] { t.at({0, 3, 0}); }, {"at", "index 3", "dim 1", "[2, 3, 4]"});
  check_error([&] { t.at({0, 0, -1}); }, {"at", "index -1", "dim 2"});
  Tensor empty = Tensor::zeros({0, 5});
  check_error([&] { empty.at({0, 0}); }, {"at", "index 0", "[0, 5]"});
  // A shape that disagrees with the storage (only reachable through impl(), as ops do) is caught too.
  Tensor small = Tensor::zeros({4});
  small.impl()->shape = {4, 1000};
  check_error([&] { small.at({0, 999}); }, {"at", "[4, 1000]", "4 elements"});
}

TEST_CASE("CUDA tensors fail clearly when there is no device or no backend") {
  if (cuda_available()) return;  // the CUDA suite covers real devices
  check_error([] { Tensor::zeros({2}).to(Device::cuda); }, {"cuda", "CUDA"});
  check_error([] { Tensor::zeros({2}, Device::cuda); }, {"CUDA"});
}

TEST_CASE("printing shows values and shape, and summarizes large tensors") {
  CHECK(to_string(Tensor::from({1, 2, 3, 4}, {2, 2})) == "tensor([[1., 2.],\n        [3., 4.]], shape=[2, 2])");
  CHECK(to_string(Tensor::from({0.5f, -1.25f})) == "tensor([0.5000, -1.2500], shape=[2])");
  CHECK(to_string(Tensor::scalar(3.0f)) == "tensor(3., shape=[])");
  CHECK(to_string(Tensor::from({1e-5f, 2e-5f})) == "tensor([1.0000e-05, 2.0000e-05], shape=[2])");
  std::string big = to_string(Tensor::arange(5000));
  CHECK(big == "tensor([0., 1., 2., ..., 4997., 4998., 4999.], shape=[5000])");
  std::string grid = to_string(Tensor::zeros({100, 100}));
  CHECK(grid.find("...") != std::string::npos);
  CHECK(grid.size() < 400);
  Tensor p = Tensor::ones({1}).requires_grad_();
  CHECK(to_string(p) == "tensor([1.], shape=[1], requires_grad)");
}

TEST_CASE("the generator is mt19937_64 with our own transforms") {
  // The standard fixes mt19937_64's 10000th output for the default seed.
  std::mt19937_64 reference;
  reference.discard(9999);
  CHECK(reference() == 9981545732273789042ULL);

  Generator gen(7);
  std::mt19937_64 engine(7);
  for (int i = 0; i < 5; ++i) CHECK(gen.uniform() == static_cast<float>(engine() >> 40) / 16777216.0f);

  Generator a(42), b(42);
  CHECK(randn({100}, a).to_vector() == randn({100}, b).to_vector());
  Generator c(43);
  CHECK(randn({100}, a).to_vector() != randn({100}, c).to_vector());
}

TEST_CASE("rand and randn have the right range, mean and spread") {
  Generator gen(0);
  Tensor u = rand({100000}, gen, -2.0f, 2.0f);
  double total = 0.0;
  for (float v : u.to_vector()) {
    REQUIRE(v >= -2.0f);
    REQUIRE(v < 2.0f);
    total += v;
  }
  CHECK(std::fabs(total / 100000.0) < 0.02);  // mean 0, std of the mean 2/√3/√1e5 ≈ 0.004
  Tensor z = randn({100000}, gen, 1.0f, 3.0f);
  double mean = 0.0, square = 0.0;
  for (float v : z.to_vector()) mean += v;
  mean /= 100000.0;
  for (float v : z.to_vector()) square += (v - mean) * (v - mean);
  CHECK(std::fabs(mean - 1.0) < 0.05);  // std of the mean 3/√1e5 ≈ 0.0095
  CHECK(std::fabs(std::sqrt(square / 100000.0) - 3.0) < 0.05);
  check_error([&] { rand({2}, gen, 1.0f, 0.0f); }, {"rand", "low 1", "high 0"});
  check_error([&] { randn({2}, gen, 0.0f, -1.0f); }, {"randn", "std -1"});
}

TEST_CASE("a freed large cpu buffer is recycled for the next tensor of its size") {
#if defined(__SANITIZE_ADDRESS__)
  MESSAGE("AddressSanitizer build: buffers are freed at once, so use-after-free stays detectable");
#else
  const int64_t n = 123457;  // a size no other test uses, and over the 64 KiB threshold
  const float* first = nullptr;
  {
    Tensor a = Tensor::full({n}, 3.0f);
    first = a.data();
  }
  Tensor b = Tensor::zeros({n});
  CHECK(b.data() == first);  // the same memory: no new pages, no page faults
  CHECK(b.data()[n - 1] == 0.0f);
  Tensor c = Tensor::zeros({n});  // b still holds the recycled buffer, so c gets another
  CHECK(c.data() != first);
  Tensor small = Tensor::zeros({16});  // small buffers go straight to malloc
  CHECK(small.data() != nullptr);
#endif
}

TEST_CASE("large cpu buffers are 64-byte aligned and start at different offsets within their pages") {
  // lib/tensor.cpp staggers them, so that a loop over θ, g, m and v does not see the same low 12
  // address bits in every stream (4K aliasing); the alignment Eigen relies on stays.
  const int64_t n = 300007;  // 1.2 MB: over the 1 MiB threshold, a size no other test uses
  std::vector<Tensor> buffers;
  std::vector<uintptr_t> offsets;
  for (int k = 0; k < 4; ++k) {
    buffers.push_back(Tensor::full({n}, static_cast<float>(k)));
    auto address = reinterpret_cast<uintptr_t>(buffers.back().data());
    CHECK(address % 64 == 0);
    offsets.push_back(address % 4096);
  }
  for (size_t i = 0; i < offsets.size(); ++i)
    for (size_t j = i + 1; j < offsets.size(); ++j) CHECK(offsets[i] != offsets[j]);
  for (int k = 0; k < 4; ++k) {  // every element is the buffer's own: the shift does not cut into it
    CHECK(buffers[static_cast<size_t>(k)].data()[0] == static_cast<float>(k));
    CHECK(buffers[static_cast<size_t>(k)].data()[n - 1] == static_cast<float>(k));
  }
}
