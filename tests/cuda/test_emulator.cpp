// tests/cuda/test_emulator.cpp — the CPU emulator of cuda/emulator/ on its own:
// block semantics (__syncthreads, shared memory, 1-D/2-D/3-D indexing), launch
// limits, and the device memory checks. The kernels here are compiled by g++ only,
// so they always run on the emulator, GPU or not.
//   meson test -C build --suite cuda
#include <doctest/doctest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <functional>
#include <numeric>
#include <string>
#include <vector>

#include "device_buffer.hpp"
#include "launch.hpp"
#include "testing.hpp"

namespace moments::cuda::emu {
namespace {

constexpr unsigned int kBlock = 64;

// Each block sums its 64 inputs with a tree in shared memory. Without the
// barriers, thread 0 (which the emulator runs first, as a GPU may) reads partial
// sums that the other threads have not written yet.
__global__ void block_sum_kernel(const float* x, float* sums, bool sync) {
  MOMENTS_SHARED(float[kBlock], partial);
  unsigned int t = threadIdx.x;
  partial[t] = x[blockIdx.x * blockDim.x + t];
  if (sync) __syncthreads();
  for (unsigned int stride = blockDim.x / 2; stride > 0; stride /= 2) {
    if (t < stride) partial[t] += partial[t + stride];
    if (sync) __syncthreads();
  }
  if (t == 0) sums[blockIdx.x] = partial[0];
}

// Writes, for every thread, a code of its block and thread coordinates at its
// global row-major position in a (grid.z·block.z, grid.y·block.y, grid.x·block.x) array.
__global__ void index_kernel(float* out) {
  unsigned int x = blockIdx.x * blockDim.x + threadIdx.x;
  unsigned int y = blockIdx.y * blockDim.y + threadIdx.y;
  unsigned int z = blockIdx.z * blockDim.z + threadIdx.z;
  unsigned int width = gridDim.x * blockDim.x, height = gridDim.y * blockDim.y;
  out[(z * height + y) * width + x] = static_cast<float>(x + 100 * y + 10000 * z);
}

// Dynamic shared memory: reverse each block's slice through it.
__global__ void reverse_kernel(const float* x, float* out) {
  MOMENTS_DYNAMIC_SHARED(float, staged);
  unsigned int t = threadIdx.x, base = blockIdx.x * blockDim.x;
  staged[t] = x[base + t];
  __syncthreads();
  out[base + t] = staged[blockDim.x - 1 - t];
}

__global__ void count_kernel(float* counter) { atomicAdd(counter, 1.0f); }

// Block 0 writes its static shared array; every block then reports what slot 1 holds. On a GPU a
// block's shared memory starts undefined, so only block 0's report is meaningful.
__global__ void shared_leftovers_kernel(float* out) {
  MOMENTS_SHARED(float[2], slots);
  if (blockIdx.x == 0 && threadIdx.x == 0) slots[0] = slots[1] = 7.0f;
  __syncthreads();
  if (threadIdx.x == 0) out[blockIdx.x] = slots[1];
}

// More static shared memory than a block may have: 40 KiB here plus the launch's dynamic bytes.
__global__ void large_shared_kernel(float* out) {
  MOMENTS_SHARED(float[10 * 1024], big);
  big[threadIdx.x] = 1.0f;
  out[0] = big[0];
}

// Reads one element past the end of x: x has n elements.
__global__ void overrun_kernel(const float* x, float* out, int64_t n) {
  int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i <= n) out[0] = x[i];  // the bug: <= instead of <
}

std::vector<float> to_host(const DeviceBuffer<float>& buffer) { return buffer.to_host(); }
void upload(DeviceBuffer<float>& buffer, const std::vector<float>& values) {
  check(cudaMemcpy(buffer.data(), values.data(), values.size() * sizeof(float), cudaMemcpyHostToDevice), "cudaMemcpy");
}

// Runs f in a child process; returns what it wrote to stderr, and whether it was
// killed by SIGABRT (how the emulator stops on an illegal memory access).
struct Death {
  bool aborted;
  std::string message;
};
Death run_child(const std::function<void()>& f) {
  int pipe_ends[2];
  REQUIRE(pipe(pipe_ends) == 0);
  pid_t pid = fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    signal(SIGABRT, SIG_DFL);  // die quietly: doctest's crash report belongs to the parent
    dup2(pipe_ends[1], STDERR_FILENO);
    close(pipe_ends[0]);
    f();
    _exit(0);  // reached only if f did not die
  }
  close(pipe_ends[1]);
  std::string message;
  char chunk[512];
  ssize_t got;
  while ((got = read(pipe_ends[0], chunk, sizeof chunk)) > 0) message.append(chunk, static_cast<size_t>(got));
  close(pipe_ends[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  return {WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT, message};
}

TEST_CASE("a shared-memory reduction is wrong without __syncthreads and right with it") {
  const unsigned int blocks = 3;
  std::vector<float> x(blocks * kBlock);
  std::iota(x.begin(), x.end(), 1.0f);  // 1, 2, ..., 192
  DeviceBuffer<float> input(static_cast<int64_t>(x.size())), sums(blocks);
  upload(input, x);
  std::vector<float> expected;
  for (unsigned int b = 0; b < blocks; ++b)
    expected.push_back(std::accumulate(x.begin() + b * kBlock, x.begin() + (b + 1) * kBlock, 0.0f));

  launch("block_sum_kernel", block_sum_kernel, blocks, kBlock, 0, input.data(), sums.data(), true);
  CHECK(to_host(sums) == expected);

  launch("block_sum_kernel", block_sum_kernel, blocks, kBlock, 0, input.data(), sums.data(), false);
  std::vector<float> racy = to_host(sums);
  for (unsigned int b = 0; b < blocks; ++b) {
    CAPTURE(b);
    CHECK(std::isnan(racy[b]));
  }
  // Thread 0 ran alone: it added partial[32], partial[16], ... before their threads wrote them, and
  // found the emulator's poison there (0xFF bytes, a NaN), so the sum is NaN rather than plausible.
}

TEST_CASE("static shared memory starts as poison in every block, and its size is limited as on a GPU") {
  DeviceBuffer<float> out(3);
  launch("shared_leftovers_kernel", shared_leftovers_kernel, 3, 4, 0, out.data());
  std::vector<float> got = to_host(out);
  CHECK(got[0] == 7.0f);
  CHECK(std::isnan(got[1]));  // not block 0's 7: each block gets its own, freshly poisoned copy
  CHECK(std::isnan(got[2]));

  Death death = run_child([] {
    DeviceBuffer<float> one(1);
    launch("large_shared_kernel", large_shared_kernel, 1, 32, 16 * 1024, one.data());  // 40 + 16 KiB > 48 KiB
  });
  CHECK(death.aborted);
  CHECK(death.message.find("large_shared_kernel") != std::string::npos);
  CHECK(death.message.find("48 KiB") != std::string::npos);
}

TEST_CASE("block and grid indexing in 1-D, 2-D and 3-D") {
  struct Case {
    dim3 grid, block;
  };
  for (Case c : {Case{dim3(5), dim3(7)}, Case{dim3(3, 2), dim3(4, 5)}, Case{dim3(2, 3, 2), dim3(3, 2, 4)}}) {
    unsigned int width = c.grid.x * c.block.x, height = c.grid.y * c.block.y, depth = c.grid.z * c.block.z;
    CAPTURE(width);
    CAPTURE(height);
    CAPTURE(depth);
    DeviceBuffer<float> out(width * height * depth);
    check(cudaMemset(out.data(), 0xFF, out.bytes()), "cudaMemset");  // NaN everywhere: every slot must be written
    launch("index_kernel", index_kernel, c.grid, c.block, 0, out.data());
    std::vector<float> got = to_host(out);
    std::vector<float> expected;
    for (unsigned int z = 0; z < depth; ++z)
      for (unsigned int y = 0; y < height; ++y)
        for (unsigned int x = 0; x < width; ++x) expected.push_back(static_cast<float>(x + 100 * y + 10000 * z));
    CHECK(got == expected);
  }
}

TEST_CASE("dynamic shared memory and atomics") {
  std::vector<float> x(2 * 32);
  std::iota(x.begin(), x.end(), 0.0f);
  DeviceBuffer<float> input(64), out(64), counter(1);
  upload(input, x);
  launch("reverse_kernel", reverse_kernel, 2, 32, 32 * sizeof(float), input.data(), out.data());
  std::vector<float> got = to_host(out);
  CHECK(got[0] == 31.0f);
  CHECK(got[31] == 0.0f);
  CHECK(got[32] == 63.0f);

  upload(counter, {0.0f});
  launch("count_kernel", count_kernel, dim3(4, 3), dim3(8, 2, 2), 0, counter.data());
  CHECK(to_host(counter)[0] == 4 * 3 * 8 * 2 * 2);
}

TEST_CASE("invalid launches fail as on a GPU, naming the kernel") {
  DeviceBuffer<float> out(1);
  using testing::check_error;
  check_error([&] { launch("count_kernel", count_kernel, 1, 0, 0, out.data()); },
              {"count_kernel", "invalid configuration argument", "at least one thread"});
  check_error([&] { launch("count_kernel", count_kernel, 1, 2048, 0, out.data()); },
              {"count_kernel", "invalid configuration argument", "more than 1024 threads"});
  check_error([&] { launch("count_kernel", count_kernel, 1, dim3(1, 1, 65), 0, out.data()); },
              {"invalid configuration argument", "(1024, 1024, 64)"});
  check_error([&] { launch("count_kernel", count_kernel, dim3(1, 70000), 1, 0, out.data()); },
              {"invalid configuration argument", "65535"});
  check_error([&] { launch("count_kernel", count_kernel, 0, 32, 0, out.data()); }, {"the grid is empty"});
  check_error([&] { launch("reverse_kernel", reverse_kernel, 1, 32, 64 * 1024, out.data(), out.data()); },
              {"reverse_kernel", "invalid argument", "dynamic shared memory", "49152"});
  // A block count past a grid's 2^31 - 1 is refused before any launch, not cut to 32 bits; the capped grids stop
  // at 65,535 blocks whatever the size.
  check_error([] { blocks_for(int64_t{1} << 40, 256); }, {"1099511627776 elements", "2^31 - 1"});
  CHECK(blocks_for((int64_t{1} << 31) - 1, 1) == 2147483647u);
  CHECK(element_blocks(int64_t{1} << 40, 256) == 65535u);
  CHECK(row_blocks(int64_t{1} << 33) == 65535u);
  // The error is cleared: the next launch works.
  upload(out, {0.0f});
  launch("count_kernel", count_kernel, 1, 5, 0, out.data());
  CHECK(to_host(out)[0] == 5.0f);
}

TEST_CASE("device memory: a double free and copies outside an allocation are caught") {
  size_t before = live_allocations();
  void* p = nullptr;
  REQUIRE(cudaMalloc(&p, 40) == cudaSuccess);
  CHECK(live_allocations() == before + 1);
  CHECK(cudaFree(p) == cudaSuccess);
  CHECK(cudaFree(p) == cudaErrorInvalidValue);
  CHECK(std::string(last_error_detail()).find("freed twice") != std::string::npos);
  testing::check_error([&] { check(cudaFree(p), "cudaFree"); }, {"cudaFree", "invalid argument", "freed twice"});
  CHECK(live_allocations() == before);

  DeviceBuffer<float> buffer(10);
  std::vector<float> host(11, 1.0f);
  CHECK(cudaMemcpy(buffer.data(), host.data(), 11 * sizeof(float), cudaMemcpyHostToDevice) == cudaErrorInvalidValue);
  CHECK(cudaMemcpy(host.data(), buffer.data() + 1, 10 * sizeof(float), cudaMemcpyDeviceToHost) == cudaErrorInvalidValue);
  CHECK(cudaMemset(buffer.data() + 5, 0, 6 * sizeof(float)) == cudaErrorInvalidValue);
  CHECK(cudaMemcpy(host.data(), host.data() + 1, 4, cudaMemcpyDeviceToHost) == cudaErrorInvalidValue);  // not device memory
  testing::check_error(
      [&] {
        check(cudaMemcpy(buffer.data(), host.data(), 11 * sizeof(float), cudaMemcpyHostToDevice), "cudaMemcpy");
      },
      {"cudaMemcpy", "invalid argument", "not inside one device allocation"});
  CHECK(cudaMemcpy(buffer.data(), host.data(), 10 * sizeof(float), cudaMemcpyHostToDevice) == cudaSuccess);
  cudaGetLastError();
}

TEST_CASE("a kernel reading past the end of its buffer stops with a clear message") {
  Death death = run_child([] {
    DeviceBuffer<float> x(31), out(1);
    launch("overrun_kernel", overrun_kernel, 1, 32, 0, x.data(), out.data(), int64_t{31});
  });
  INFO(death.message);
  CHECK(death.aborted);
  CHECK(death.message.find("kernel overrun_kernel") != std::string::npos);
  CHECK(death.message.find("thread (31, 0, 0)") != std::string::npos);
  CHECK(death.message.find("byte offset 124 of device buffer") != std::string::npos);
  CHECK(death.message.find("which has 124 bytes (past its end)") != std::string::npos);
}

TEST_CASE("host code dereferencing a device pointer stops with a clear message") {
  Death death = run_child([] {
    DeviceBuffer<float> x(8);
    volatile float value = x.data()[3];  // works on neither a GPU nor the emulator
    (void)value;
  });
  INFO(death.message);
  CHECK(death.aborted);
  CHECK(death.message.find("host code touched emulated device memory") != std::string::npos);
  CHECK(death.message.find("byte offset 12") != std::string::npos);
}

TEST_CASE("a kernel without barriers pays no fiber switch per thread") {
  const int64_t n = 1000003;
  DeviceBuffer<float> out(blocks_for(n, 256) * 256);  // index_kernel has no bounds check: round up
  auto start = std::chrono::steady_clock::now();
  launch("index_kernel", index_kernel, blocks_for(n, 256), 256, 0, out.data());
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  MESSAGE("1,000,003 threads (3907 blocks of 256) in ", seconds * 1e3, " ms");
  CHECK(seconds < 1.0);
}

}  // namespace
}  // namespace moments::cuda::emu
