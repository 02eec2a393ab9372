// io/checkpoint.hpp — save and resume training: the model, the optimizer's full
// state, the learning-rate schedule and the loop's step, in one safetensors file.
//
// USAGE
//   MLP model({64, 32, 10}, gen);
//   AdamW opt(model.parameters(), {.learning_rate = 3e-3});
//   LrScheduler sched(opt, warmup_cosine(100, 1000));
//   ... train ...
//   save_checkpoint("run.safetensors", model, opt, &sched, {.step = step});
//
//   // later, in a fresh process: build the same model, optimizer and schedule, then
//   CheckpointInfo info = load_checkpoint("run.safetensors", model, opt, &sched);
//   for (int64_t step = info.step; step < 1000; ++step) ...   // continues bit for bit
//
// THE FILE is a plain safetensors file (see safetensors_format.hpp), readable by
// PyTorch and NumPy users. Tensors, in this order:
//   model.<name>               each parameter, named as Module::named_parameters() names it:
//                              "model.layers.0.weight", "model.layers.0.bias", ...
//   optimizer.<i>.<buffer>     the state buffer <buffer> of the optimizer's parameter with flat
//                              index i, counted group by group as Optimizer::all_params() lists
//                              them: "optimizer.0.exp_avg", "optimizer.0.exp_avg_sq", ...
//                              (PyTorch's optimizer.state_dict()["state"][i]["exp_avg"])
// and in __metadata__, where every value is a string (JSON text where marked):
//   format                       "moments.checkpoint.v1"
//   optimizer                    Optimizer::name(): "SGD", "Adam", "AdamW", "Adafactor"
//   optimizer.groups             JSON, one object per parameter group, as PyTorch's param_groups:
//                                [{"hyperparameters": {"learning_rate": 0.003, "beta1": 0.9, ...},
//                                  "params": [0, 1], "shapes": [[32, 64], [32]]}, ...]
//                                (bools as 0 / 1; inf and nan as the strings "inf", "-inf", "nan")
//   optimizer.steps              JSON, per flat index the step count t of that parameter's state,
//                                or null before its first step: [30, 30, 30, null]
//   optimizer.scalars            JSON, only when some state has named scalars (ParamState::scalars):
//                                per flat index null or {name: number}: [{"lr_max": 0.0025, ...}, null]
//   schedule.step                the LrScheduler's t, e.g. "120" (only when saved with a schedule)
//   schedule.base_learning_rates JSON, the schedule's base rate per group: [0.003]
//   step                         CheckpointInfo::step, e.g. "120"
//   user.<key>                   CheckpointInfo::metadata, your own strings
//
// LOADING is all or nothing: it checks everything before changing anything, and names
// the first problem: a metadata number out of its bounds (checkpoint_metadata.hpp: step
// counts, the schedule's step and the loop's step are integers in [0, 2^53]), a model
// parameter missing from the file or of another shape, a tensor in the file the model
// lacks, another optimizer, another group structure, a state buffer of the wrong shape,
// a hyperparameter the optimizer rejects. On any error the model, the optimizer and the
// schedule are as they were. A schedule is restored by LrScheduler::set_step(t), which
// computes f(t) directly (no replay of t steps), and must have the same base rates; then
// the optimizer's saved hyperparameters are set exactly. save_checkpoint refuses to
// write what load_checkpoint would refuse to read (a negative step, say).
#pragma once
#include <cstdint>
#include <string>

#include "../nn.hpp"
#include "../optim/optimizer.hpp"
#include "../optim/schedule.hpp"
#include "safetensors.hpp"

namespace moments {

// What a checkpoint holds besides tensors and optimizer state.
struct CheckpointInfo {
  int64_t step = 0;  // the training loop's step, e.g. the one given to Monitor::record(): the loop resumes from it
  Metadata metadata = {};  // your own strings, stored as "user.<key>"
};

// Writes the model's parameters, the optimizer's state and hyperparameters, the
// schedule's step (if given) and `info` to `path`, atomically (io/atomic_file.hpp).
void save_checkpoint(const std::string& path, const Module& model, const Optimizer& optimizer,
                     const LrScheduler* schedule = nullptr, const CheckpointInfo& info = {});

// Restores what save_checkpoint wrote into a model and optimizer built the same
// way (same parameter names and shapes, same optimizer type and groups). Pass the
// schedule exactly when one was saved; it must be fresh or behind the saved step.
CheckpointInfo load_checkpoint(const std::string& path, Module& model, Optimizer& optimizer,
                               LrScheduler* schedule = nullptr);

}  // namespace moments
