// run_fuzzer [FUZZER ARGS...] — how the `fuzz` suite starts the libFuzzer target
// (Meson 1.0 cannot run a custom target as a test directly). With no FUZZER,
// because clang was not found, it exits 77: meson reports the test as skipped;
// `run_fuzzer --skip REASON` (a tree that does not build the targets) prints REASON and does the same.
#include <unistd.h>

#include <cstdio>
#include <string_view>

int main(int argc, char** argv) {
  if (argc < 2) {
    std::printf("run_fuzzer: clang++ was not found, so the libFuzzer target was not built (apt install clang)\n");
    return 77;
  }
  if (std::string_view(argv[1]) == "--skip") {  // --skip REASON: the tree does not build the target
    std::printf("run_fuzzer: skipped: %s\n", argc > 2 ? argv[2] : "no reason given");
    return 77;
  }
  execv(argv[1], argv + 1);
  std::perror("run_fuzzer: cannot start the fuzzer");
  return 1;
}
