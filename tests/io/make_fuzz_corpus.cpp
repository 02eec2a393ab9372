// make_fuzz_corpus DIR [METADATA_DIR] — writes the fuzzers' seed corpora. In DIR, for
// fuzz_loader: one file per rule of the loader (malformed_files.hpp) and a few valid
// files (ranks 0 to 4, a zero-sized tensor, metadata, a small checkpoint). In
// METADATA_DIR, for fuzz_metadata: the metadata of a few checkpoints (with and without
// a schedule, parameters without state, inf hyperparameters, per-parameter scalars) as "key=value" lines
// (metadata_fuzz_input.hpp). The output is committed in tests/io/fuzz_corpus/ and
// tests/io/fuzz_corpus_metadata/; the io tests check that they agree with this program.
//   ./build/tests/io/make_fuzz_corpus tests/io/fuzz_corpus tests/io/fuzz_corpus_metadata
#include <cmath>
#include <cstdio>
#include <fstream>
#include <string>

#include "checkpoint.hpp"
#include "malformed_files.hpp"
#include "metadata_fuzz_input.hpp"
#include "moments.hpp"

using namespace moments;

int main(int argc, char** argv) {
  if (argc != 2 && argc != 3) {
    std::fprintf(stderr, "usage: make_fuzz_corpus DIR [METADATA_DIR]\n");
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
  if (argc == 2) return 0;

  const std::string metadata_dir = argv[2];
  auto write_metadata = [&](const std::string& name, const std::string& checkpoint) {
    std::ofstream(metadata_dir + "/" + name, std::ios::binary) << io_testing::metadata_to_lines(load(checkpoint).metadata);
  };
  write_metadata("valid_adam_schedule", dir + "/valid_checkpoint");
  // SGD with two groups, one parameter never stepped (null), no schedule, a user string.
  Tensor unused = Tensor::zeros({2}).requires_grad_();
  SGD sgd({model.layers[0].weight}, {.learning_rate = 0.1, .momentum = 0.9});
  sgd.add_param_group({model.layers[0].bias, unused}, {.learning_rate = 0.01});
  sgd.step();
  const std::string scratch = metadata_dir + "/.scratch.safetensors";
  save_checkpoint(scratch, model, sgd, nullptr, {.step = 7, .metadata = {{"note", "sgd"}}});
  write_metadata("valid_sgd_nulls", scratch);
  // Adafactor without update clipping: clip_threshold = inf is stored as the string "inf".
  Adafactor adafactor(model.parameters(), {.clip_threshold = INFINITY});
  save_checkpoint(scratch, model, adafactor);
  write_metadata("valid_adafactor_inf", scratch);
  // Schedule-free AdamW: per-parameter scalars (lr_max, weight_sum) in optimizer.scalars.
  AdamWScheduleFree schedule_free(model.parameters());
  schedule_free.step();
  save_checkpoint(scratch, model, schedule_free);
  write_metadata("valid_schedule_free_scalars", scratch);
  std::remove(scratch.c_str());
  return 0;
}
