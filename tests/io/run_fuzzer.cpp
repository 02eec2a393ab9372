// run_fuzzer [FUZZER ARGS...] — how the `fuzz` suite starts the libFuzzer target
// (Meson 1.0 cannot run a custom target as a test directly). With no FUZZER,
// because clang was not found, it exits 77: meson reports the test as skipped.
#include <unistd.h>

#include <cstdio>

int main(int argc, char** argv) {
  if (argc < 2) {
    std::printf("run_fuzzer: clang++ was not found, so the libFuzzer target was not built (apt install clang)\n");
    return 77;
  }
  execv(argv[1], argv + 1);
  std::perror("run_fuzzer: cannot start the fuzzer");
  return 1;
}
