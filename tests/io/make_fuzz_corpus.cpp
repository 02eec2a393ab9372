// make_fuzz_corpus DIR — writes the fuzzer's seed corpus: one file per rule of
// the loader (malformed_files.hpp) and a few valid files (ranks 0 to 4, a
// zero-sized tensor, metadata, a small checkpoint). Its output is committed in
// tests/io/fuzz_corpus/; test_safetensors.cpp checks that the two agree.
//   ./build/tests/io/make_fuzz_corpus tests/io/fuzz_corpus
#include <cstdio>
#include <fstream>
#include <string>

#include "checkpoint.hpp"
#include "malformed_files.hpp"
#include "moments.hpp"

using namespace moments;

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: make_fuzz_corpus DIR\n");
    return 2;
  }
  const std::string dir = argv[1];
  for (const io_testing::MalformedFile& bad : io_testing::malformed_files())
    std::ofstream(dir + "/" + bad.name, std::ios::binary) << bad.bytes;

  save(dir + "/valid_ranks", {{"r0", Tensor::scalar(1.5f)}, {"r1", Tensor::arange(3)}, {"r2", Tensor::ones({2, 2})},
                              {"r3", Tensor::zeros({1, 2, 1})}, {"r4", Tensor::full({1, 1, 2, 1}, -2.0f)}, {"none", Tensor::empty({2, 0})}},
       {{"epoch", "3"}, {"note", "h\u00e9llo"}});
  save(dir + "/valid_empty", {});
  Generator gen(0);
  MLP model({3, 2}, gen);
  Adam adam(model.parameters());
  for (Tensor p : model.parameters()) p.set_grad(Tensor::ones(p.shape()));
  adam.step();
  LrScheduler schedule(adam, linear_warmup(2));
  schedule.step();
  save_checkpoint(dir + "/valid_checkpoint", model, adam, &schedule, {.step = 1});
  return 0;
}
