// Suite `cpu_baseline`: the start-up check that stops a program built for one CPU baseline
// (-Dcpu_baseline, x86-64-v3 by default) on a CPU without it (lib/cpu_baseline.cpp).
// The check function is tested with faked feature sets; with MOMENTS_QEMU set (meson does,
// when qemu-user is installed and no sanitizer is on) this very binary is also run on an
// emulated Nehalem (SSE4.2, no AVX), where the default build must stop with the message and
// status 1, not an illegal instruction, and the portable build must run.
#include <doctest/doctest.h>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>

#include "cpu_baseline.hpp"

using namespace moments;

namespace {

bool has_everything(const char*) { return true; }
bool lacks_avx2_and_fma(const char* feature) {
  return std::strcmp(feature, "avx2") != 0 && std::strcmp(feature, "fma") != 0;
}

// What a command prints on stdout and stderr, and its exit status.
std::pair<std::string, int> run(const std::string& command) {
  FILE* pipe = popen((command + " 2>&1").c_str(), "r");
  REQUIRE(pipe != nullptr);
  std::string output;
  std::array<char, 4096> buffer{};
  for (size_t n; (n = fread(buffer.data(), 1, buffer.size(), pipe)) > 0;) output.append(buffer.data(), n);
  int status = pclose(pipe);
  return {output, WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status)};
}

}  // namespace

TEST_CASE("a CPU with every feature of the baseline passes, with no message") {
  char message[512] = "untouched";
  CHECK(cpu_baseline::check("x86-64-v3", "avx,avx2,fma", has_everything, message, sizeof message));
  CHECK(std::string(message).empty());
  CHECK(cpu_baseline::check("x86-64", "", lacks_avx2_and_fma, message, sizeof message));  // nothing required
}

TEST_CASE("a CPU without AVX2 and FMA is told which features it lacks and how to rebuild") {
  char message[1024];
  CHECK_FALSE(cpu_baseline::check("x86-64-v3", "sse4.2,avx,avx2,fma,bmi2", lacks_avx2_and_fma, message,
                                  sizeof message));
  std::string text = message;
  CAPTURE(text);
  CHECK(text.find("built for x86-64-v3") != std::string::npos);
  CHECK(text.find("needs sse4.2, avx, avx2, fma, bmi2") != std::string::npos);
  CHECK(text.find("this CPU lacks avx2, fma.") != std::string::npos);
  CHECK(text.find("-Dcpu_baseline=x86-64") != std::string::npos);
  // A short buffer still ends in a NUL, cut off.
  char short_message[16];
  CHECK_FALSE(cpu_baseline::check("x86-64-v3", "avx2", lacks_avx2_and_fma, short_message, sizeof short_message));
  CHECK(std::strlen(short_message) == sizeof short_message - 1);
}

TEST_CASE("the features this build checks are known to the check, and this CPU has them") {
  std::string features = cpu_baseline::built_features();
  CAPTURE(cpu_baseline::built_baseline());
  CAPTURE(features);
  for (size_t start = 0; start < features.size();) {
    size_t comma = features.find(',', start);
    std::string name = features.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    CAPTURE(name);
    CHECK(cpu_baseline::known_feature(name.c_str()));
    CHECK(cpu_baseline::cpu_has(name.c_str()));  // this test runs, so the start-up check passed
    start = comma == std::string::npos ? features.size() : comma + 1;
  }
  if (std::string(cpu_baseline::built_baseline()) == "x86-64-v3") {
    CHECK(features.find("avx2") != std::string::npos);
    CHECK(features.find("fma") != std::string::npos);
  }
  CHECK_FALSE(cpu_baseline::known_feature("not-a-feature"));
}

TEST_CASE("on an emulated CPU without AVX (qemu-user, Nehalem) the program stops with the message") {
  const char* qemu = std::getenv("MOMENTS_QEMU");
  if (!qemu || !*qemu) {
    MESSAGE("MOMENTS_QEMU is not set (no qemu-x86_64, or a sanitizer build): not run");
    return;
  }
  // --no-run: under qemu the program starts and ends without running these tests again.
  std::string self = std::filesystem::read_symlink("/proc/self/exe").string();
  auto [output, status] = run(std::string(qemu) + " -cpu Nehalem '" + self + "' --no-run");
  CAPTURE(output);
  std::string baseline = cpu_baseline::built_baseline();
  if (baseline == "x86-64" || baseline == "default") {
    CHECK(status == 0);  // the portable build runs on any x86-64
  } else if (std::string(cpu_baseline::built_features()).find("avx") != std::string::npos) {
    CHECK(status == 1);  // not 132 (128 + SIGILL)
    CHECK(output.find("this CPU lacks") != std::string::npos);
    CHECK(output.find("-Dcpu_baseline=x86-64") != std::string::npos);
  }
}
