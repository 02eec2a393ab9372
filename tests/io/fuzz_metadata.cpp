// fuzz_metadata.cpp — libFuzzer target for the checkpoint metadata reader
// (lib/io/checkpoint_metadata.cpp), the part of load_checkpoint that turns the
// file's __metadata__ strings into numbers and checks their bounds.
//
// Each input is a set of metadata strings, one "key=value" per line
// (metadata_fuzz_input.hpp). The only acceptable failure is a moments::Error: any
// other exception, crash, sanitizer report, leak or hang is a bug. Metadata that
// passes must hold what the rules promise (every count within [0, 2^53], consecutive
// flat indices, shapes whose byte size fits in int64, one step count per parameter,
// finite scalars only where there is state, one base rate >= 0 per group), and must survive a round trip: written again by
// write_checkpoint_metadata and read again, it gives the same numbers.
//
// Built with clang only (tests/io/meson.build finds it):
//   clang++ -std=c++20 -g -O1 -fsanitize=fuzzer,address,undefined -Ilib -Ilib/io -Itests/io \
//       tests/io/fuzz_metadata.cpp lib/io/checkpoint_metadata.cpp lib/io/safetensors_format.cpp -o fuzz_metadata
//   ./fuzz_metadata -max_len=4096 NEW_DIR tests/io/fuzz_corpus_metadata    (new finds go to NEW_DIR)
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "checkpoint_metadata.hpp"
#include "error.hpp"
#include "metadata_fuzz_input.hpp"
#include "safetensors_format.hpp"

using moments::CheckpointMetadata;

namespace {

bool same_number(double a, double b) { return (std::isnan(a) && std::isnan(b)) || a == b; }

bool same(const CheckpointMetadata& a, const CheckpointMetadata& b) {
  if (a.optimizer != b.optimizer || a.groups.size() != b.groups.size() || a.steps != b.steps ||
      a.schedule_step != b.schedule_step || a.step != b.step || a.user != b.user ||
      a.scalars != b.scalars || a.schedule_base_learning_rates.size() != b.schedule_base_learning_rates.size())
    return false;
  for (size_t g = 0; g < a.groups.size(); ++g) {
    const auto &x = a.groups[g], &y = b.groups[g];
    if (x.params != y.params || x.shapes != y.shapes || x.hyperparameters.size() != y.hyperparameters.size()) return false;
    for (auto i = x.hyperparameters.begin(), j = y.hyperparameters.begin(); i != x.hyperparameters.end(); ++i, ++j)
      if (i->first != j->first || !same_number(i->second, j->second)) return false;
  }
  for (size_t g = 0; g < a.schedule_base_learning_rates.size(); ++g)
    if (!same_number(a.schedule_base_learning_rates[g], b.schedule_base_learning_rates[g])) return false;
  return true;
}

// What read_checkpoint_metadata promises about what it returns.
bool within_bounds(const CheckpointMetadata& m) {
  auto step_ok = [](int64_t t) { return t >= 0 && t <= moments::max_checkpoint_step; };
  int64_t flat = 0;
  for (const auto& g : m.groups) {
    if (g.params.size() != g.shapes.size()) return false;
    for (size_t k = 0; k < g.params.size(); ++k, ++flat)
      if (g.params[k] != flat || moments::safetensors::f32_bytes(g.shapes[k]) < 0) return false;
  }
  if (m.steps.size() != static_cast<size_t>(flat)) return false;
  for (const auto& t : m.steps)
    if (t && !step_ok(*t)) return false;
  if (m.scalars.size() != m.steps.size()) return false;  // per parameter, finite, only with state
  for (size_t i = 0; i < m.scalars.size(); ++i)
    for (const auto& [name, value] : m.scalars[i])
      if (!std::isfinite(value) || !m.steps[i]) return false;
  if (m.schedule_step) {
    if (!step_ok(*m.schedule_step) || m.schedule_base_learning_rates.size() != m.groups.size()) return false;
    for (double rate : m.schedule_base_learning_rates)
      if (!(rate >= 0.0)) return false;
  } else if (!m.schedule_base_learning_rates.empty()) {
    return false;
  }
  return step_ok(m.step);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const auto metadata = io_testing::metadata_from_lines({reinterpret_cast<const char*>(data), size});
  try {
    const CheckpointMetadata meta = moments::read_checkpoint_metadata(metadata, "fuzz");
    if (!within_bounds(meta)) __builtin_trap();
    const CheckpointMetadata again = moments::read_checkpoint_metadata(moments::write_checkpoint_metadata(meta), "fuzz (written again)");
    if (!same(meta, again)) __builtin_trap();
  } catch (const moments::Error&) {
    // refused metadata: the expected outcome for almost every input
  }
  return 0;
}
