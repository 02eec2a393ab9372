// fuzz_probe.cpp — compiled once when Meson configures, to learn whether this
// clang can build a libFuzzer target (its runtime comes in a separate Debian
// package, libclang-rt-14-dev). If not, the `fuzz` suite is skipped.
#include <cstddef>
#include <cstdint>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t*, size_t) { return 0; }
