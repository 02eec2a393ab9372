// io/checkpoint_metadata.hpp — the numbers a checkpoint keeps in its __metadata__
// strings (the keys are listed in checkpoint.hpp), read into a plain struct and
// checked against sane bounds, with no model or optimizer at hand.
//
// load_checkpoint reads the metadata here first, then compares the result with the
// model, optimizer and schedule it was given; save_checkpoint writes its metadata
// here and reads it back before saving, so every file it writes passes these rules.
// This part knows nothing of Tensor, so the fuzzer (tests/io/fuzz_metadata.cpp)
// builds it alone with safetensors_format.cpp.
//
// USAGE
//   CheckpointMetadata meta = read_checkpoint_metadata(file.metadata, "load_checkpoint 'run.safetensors'");
//   meta.groups[0].hyperparameters.at("learning_rate");   // 0.003
//   meta.steps[3];                                        // std::nullopt: parameter 3 has no state
//   std::map<std::string, std::string> strings = write_checkpoint_metadata(meta);   // the inverse
//
// THE RULES (each failure a moments::Error naming the file, the key and the value):
//   format is "moments.checkpoint.v1"; optimizer is a string;
//   optimizer.groups is JSON: a list of {"hyperparameters": {name: number}, "params": [...],
//     "shapes": [[...], ...]}, params and shapes of equal length, the params the flat
//     indices 0, 1, 2, ... counted group by group, every shape a list of sizes >= 0 whose
//     float32 byte size fits in int64;
//   optimizer.steps is JSON: one entry per parameter of the groups, null or an integer
//     in [0, max_checkpoint_step];
//   optimizer.scalars is optional JSON (written when some parameter's state has scalars, such
//     as schedule-free AdamW's lr_max and weight_sum): one entry per parameter, null or an
//     object {name: finite number}; an object only where the step count is not null. Doubles
//     are written with 17 significant digits, so they read back exactly;
//   schedule.step and schedule.base_learning_rates come together or not at all: an
//     integer in [0, max_checkpoint_step], and one rate >= 0 per group;
//   step is an integer in [0, max_checkpoint_step].
// Hyperparameter values are numbers or the strings "inf", "-inf", "nan" (JSON has no
// such numbers); which values are valid is the optimizer's to say. Keys other than
// these and "user.<key>" are ignored.
#pragma once
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace moments {

inline constexpr const char* checkpoint_format = "moments.checkpoint.v1";

// The largest step count a checkpoint may hold: 2^53. Up to here a count is exact as
// a double, which is how the steps use it (β^t, t^-0.8, (t + 1)/warmup), and the next
// step cannot overflow; at a billion steps a second it is 285 years of training.
inline constexpr int64_t max_checkpoint_step = int64_t{1} << 53;

struct CheckpointMetadata {
  struct Group {
    std::map<std::string, double> hyperparameters;  // bools as 0 / 1
    std::vector<int64_t> params;                    // flat indices
    std::vector<std::vector<int64_t>> shapes;       // one per parameter
  };
  std::string optimizer;                          // Optimizer::name()
  std::vector<Group> groups;
  std::vector<std::optional<int64_t>> steps;      // per flat index; nullopt: no state yet
  std::vector<std::map<std::string, double>> scalars;  // per flat index (as many as steps); empty: none
  std::optional<int64_t> schedule_step;           // set when saved with an LrScheduler
  std::vector<double> schedule_base_learning_rates;  // per group, when schedule_step is set
  int64_t step = 0;                               // CheckpointInfo::step
  std::map<std::string, std::string> user;        // "user.<key>" without the prefix
};

// Reads and checks every rule above; `who` starts every message.
CheckpointMetadata read_checkpoint_metadata(const std::map<std::string, std::string>& metadata, const std::string& who);

// The strings read_checkpoint_metadata reads (format included).
std::map<std::string, std::string> write_checkpoint_metadata(const CheckpointMetadata& meta);

// A double as the metadata writes it, for messages: 0.003, 1.0, "inf", "nan".
std::string exact_number(double value);

}  // namespace moments
