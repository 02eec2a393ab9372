// dist/zero.hpp — ZeRO stages 1 and 2 (Rajbhandari et al. 2020, "ZeRO: Memory Optimizations Toward
// Training Trillion Parameter Models"): data parallel in which each rank keeps the optimizer state of
// its own part of the parameters only.
//
// USAGE (every rank runs the same code; see dist/data_parallel.hpp for the batch arithmetic)
//   auto comm = make_communicator();
//   MLP model({784, 1024, 1024, 10}, gen);
//   ZeroOptimizer zero(*comm, model.parameters(),
//                      [](const std::vector<Tensor>& shard) { return std::make_unique<Adam>(shard, AdamOptions{}); },
//                      {.stage = 2});
//   for (...) {
//     Range mine = zero.shard(begin, begin + 256);   // this rank's rows of the global batch
//     zero.zero_grad();
//     Tensor loss = cross_entropy(model.forward(rows(x, mine.begin, mine.end)), ...);   // forward
//     loss.backward();                                                                   // backward
//     zero.step(mine.size(), 256);   // gradients reduced, this rank's shard stepped, parameters gathered
//   }
//   zero.state_bytes();              // this rank's optimizer state: about 1/N of one process's
//   save_checkpoint("run.safetensors", model, zero);   // one file, as a one-process run writes it
//
// THE PARTITION. The parameters are one flat stream of Ψ floats in the order given (the same on every
// rank). What a rank owns depends on what the optimizer's update of an element reads (Optimizer::sharding):
//   flat           (element-wise optimizers: SGD, Adam, AdamW, Lion, Adagrad, RMSprop, Adadelta, Adamax,
//                  NAdam, RAdam, schedule-free AdamW) rank r owns the contiguous slice shard_range(Ψ, N, r)
//                  of the stream, which may cut a tensor in two: the cut part becomes a 1-D piece.
//   whole_tensors  (Adafactor, Muon, Shampoo, SOAP, Adam-mini, 8-bit Adam, LAMB without clipping) every
//                  tensor stays whole on one rank; tensors go, largest first, to the rank with the fewest
//                  elements so far (ties: the lower rank, then the earlier tensor), and the stream is
//                  reordered rank by rank so that each rank's tensors are one contiguous slice.
//   automatic      (the default) flat where the optimizer allows it, else whole_tensors.
// An optimizer that needs every gradient at once (LAMB with global-norm clipping) is refused by name.
// The optimizer of rank r is built by `make` on r's pieces: a whole tensor is the parameter itself,
// stepped in place; a tensor the flat partition cuts is stepped through a 1-D copy of r's slice of it
// (master_bytes(): at most two such slices per rank, and none with whole_tensors).
//
// A STEP (stage s, N ranks, Ψ parameters):
//   1. every rank scales its gradient by n_r / B (its rows of the global batch) into the stream;
//   2. stage 1: all-reduce (every rank then holds the whole averaged gradient, in its parameters' grad(),
//      which clipping by the global norm or a Monitor can read); stage 2: reduce-scatter, so each rank
//      receives the sum of its own slice only, and the parameters' gradients are dropped;
//   3. each rank's optimizer steps its pieces;
//   4. all-gather: every rank's updated slice is sent to every rank, which writes it into the parameters.
// Every sum is the communicator's rank-ordered one and every update an element's own, so the parameters
// are bit for bit those of DataParallel with the same rank count (tests/dist/test_dist.cpp checks every
// optimizer of the list), and the same run after run.
//
// MEMORY, per rank, in bytes, for an optimizer keeping K bytes of state per parameter (Adam: K = 8):
//   data parallel     4Ψ weights + 4Ψ gradients + KΨ state
//   ZeRO stage 1      4Ψ weights + 4Ψ gradients + KΨ/N state
//   ZeRO stage 2      4Ψ weights                + KΨ/N state
// plus the copies of cut tensors' slices (master_bytes). The paper's figures are for mixed precision:
// 2Ψ fp16 weights + 2Ψ fp16 gradients + 12Ψ of fp32 weights, m and v (K = 12), so its stage 1 is
// 4Ψ + 12Ψ/N and its stage 2 is 2Ψ + 14Ψ/N (the fp16 gradient shard joins the 12). In float32 the
// weights are their own master copy. state_bytes(), gradient_bytes() and master_bytes() measure the real
// allocations between steps, and staging_bytes() the buffers the collectives go through (a bucket of
// bucket_elements floats and this rank's slice, Ψ/N floats). What this simple version does not do: it
// reduces after backward, not during it as each bucket's gradients are ready, so a stage-2 rank still
// holds whole gradients until step() (DeepSpeed overlaps the two and frees each bucket as it goes).
//
// TRAFFIC per rank and step, in floats: stage 1 sends an all-reduce (2Ψ) and an all-gather (Ψ), 3Ψ, as
// PyTorch's ZeroRedundancyOptimizer beside DDP does; stage 2 a reduce-scatter (Ψ) and an all-gather (Ψ),
// 2Ψ, the paper's figure for stages 1 and 2 (its stage 1 reduce-scatters as well, keeping no averaged
// gradient); data parallel 2Ψ.
//
// CHECKPOINTS (save_checkpoint / load_checkpoint below) are the one-process format of io/checkpoint.hpp:
// full_state_dict() gathers every rank's pieces into the state one optimizer on the whole model would hold,
// and rank 0 writes it atomically; a load builds that optimizer on every rank and takes each rank's part,
// so a checkpoint resumes with any rank count, one process included.
//
// DEVICES. Parameters may be Device::cuda tensors: the optimizer then steps its pieces on the device, and
// the gradients and weights go through host memory for each collective (dist/staging.hpp).
//
// LIMITS. One parameter group (make must build an optimizer with one group); SophiaG's separate Hessian
// step (update_hessian) is not sharded, nor is schedule-free AdamW's eval()/train() swap (it would swap
// the pieces, not the parameters); global-norm clipping needs stage 1 (at stage 2 no rank holds the whole
// gradient).
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "../io/checkpoint.hpp"
#include "../nn.hpp"
#include "../optim/optimizer.hpp"
#include "../optim/schedule.hpp"
#include "../tensor.hpp"
#include "communicator.hpp"

namespace moments {

enum class ZeroPartition { automatic, flat, whole_tensors };

struct ZeroOptions {
  int stage = 1;                                        // 1: optimizer state sharded; 2: gradients too
  ZeroPartition partition = ZeroPartition::automatic;  // see THE PARTITION
  int64_t bucket_elements = int64_t{1} << 20;           // floats per collective (4 MiB), as DataParallel's; > 0
};

// Builds the optimizer of one rank's pieces (or, for checkpoints, of the whole model): the same
// optimizer and hyperparameters on every rank.
using OptimizerFactory = std::function<std::unique_ptr<Optimizer>(const std::vector<Tensor>& params)>;

class ZeroOptimizer {
 public:
  // Elements [begin, end) (flat, row-major) of parameter `param` (an index into the constructor's list).
  struct Piece {
    size_t param = 0;
    int64_t begin = 0, end = 0;
  };

  // Broadcasts every parameter from rank 0 (as DataParallel does), partitions them and builds this rank's
  // optimizer with `make`. Throws if the ranks' parameter lists differ, if a rank would own nothing (more
  // ranks than elements, or than tensors with whole_tensors), or if the optimizer cannot be sharded so.
  ZeroOptimizer(Communicator& comm, std::vector<Tensor> params, OptimizerFactory make, ZeroOptions options = {});

  // This rank's rows of the global batch [global_begin, global_end) (DataParallel::shard's rule).
  Range shard(int64_t global_begin, int64_t global_end) const;
  // Drops every parameter's gradient.
  void zero_grad();
  // One training step, collective (see A STEP): gradients of the global mean over `global_rows` rows, of
  // which this rank computed `local_rows` (a rank with none may have no gradients).
  void step(int64_t local_rows, int64_t global_rows);

  // The partition actually used (automatic resolved), and this rank's pieces in stream order.
  ZeroPartition partition() const { return partition_; }
  int stage() const { return options_.stage; }
  const std::vector<Piece>& pieces() const { return layout_.at(static_cast<size_t>(comm_.rank())); }
  // Elements each rank owns (Σ = every parameter's elements).
  const std::vector<int64_t>& shard_counts() const { return counts_; }
  int64_t parameter_elements() const { return total_; }

  // This rank's optimizer (of its pieces), e.g. for an LrScheduler: every rank's has the same hyperparameters.
  Optimizer& shard_optimizer() { return *optimizer_; }
  const Optimizer& shard_optimizer() const { return *optimizer_; }
  Communicator& communicator() const { return comm_; }

  // Bytes this rank holds between steps: the optimizer state of its pieces (Optimizer::state_bytes_total),
  // the copies of the cut tensors' slices it steps, and the gradients it keeps (the whole averaged gradient
  // at stage 1, none at stage 2, whose shard gradient lives only inside step()).
  int64_t state_bytes() const { return optimizer_->state_bytes_total(); }
  int64_t master_bytes() const;
  int64_t gradient_bytes() const;
  // The buffers the collectives go through, kept between steps: a bucket of the stream and this rank's slice.
  int64_t staging_bytes() const { return 4 * static_cast<int64_t>(bucket_.size() + shard_.size()); }

  // Collective: the state one optimizer built by `make` on the whole parameter list would hold (its
  // buffers the pieces' put together, its step counts and scalars), on every rank.
  StateDict full_state_dict() const;
  // Takes this rank's part of such a state (a one-process optimizer's, or full_state_dict()'s) and reloads
  // the pieces' values from the parameters. All or nothing on this rank, as Optimizer::load_state_dict.
  void load_full_state_dict(const StateDict& dict);
  // An optimizer on the whole parameter list, built by `make` (with the shard's current hyperparameters
  // and no state): what a checkpoint is written from and read into.
  std::unique_ptr<Optimizer> make_full_optimizer() const;

 private:
  void copy_pieces_from_parameters();

  Communicator& comm_;
  std::vector<Tensor> params_;
  OptimizerFactory make_;
  ZeroOptions options_;
  ZeroPartition partition_ = ZeroPartition::flat;
  int64_t total_ = 0;
  std::vector<std::vector<Piece>> layout_;  // per rank, its pieces in stream order
  std::vector<int64_t> counts_;             // per rank, Σ of its pieces' sizes
  std::vector<Tensor> pieces_;              // this rank's piece tensors (leaves), as layout_[rank]
  std::vector<bool> aliased_;               // per piece: the parameter itself (a whole tensor), not a copy
  struct Slot {
    Piece piece;
    int64_t offset = 0;  // where the piece starts in the stream
  };
  std::vector<Slot> stream_;                // every rank's pieces, in stream order
  std::vector<Range> rank_ranges_;          // per rank, its slice of the stream
  std::vector<float> bucket_;               // (min(bucket_elements, Ψ),): the stream, one bucket at a time
  std::vector<float> shard_;                // (counts_[rank],): this rank's slice, gradient in and weights out
  std::unique_ptr<Optimizer> optimizer_;    // built on pieces_
};

// Collective. Every rank passes its model and ZeRO optimizer; rank 0 writes the checkpoint a one-process
// run of the same optimizer writes (io/checkpoint.hpp), atomically; an error on rank 0 is thrown on every
// rank. `schedule`, if given, drives shard_optimizer().
void save_checkpoint(const std::string& path, const Module& model, const ZeroOptimizer& optimizer,
                     const LrScheduler* schedule = nullptr, const CheckpointInfo& info = {});
// Collective. Every rank reads `path` (written by either save_checkpoint, with any rank count) into its
// model, its part of the optimizer state and its schedule.
CheckpointInfo load_checkpoint(const std::string& path, Module& model, ZeroOptimizer& optimizer,
                               LrScheduler* schedule = nullptr);

}  // namespace moments
