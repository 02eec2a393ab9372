// dist/data_parallel.hpp — data-parallel training: one model per rank, each rank's gradients from its
// slice of the global batch, averaged across the ranks before the optimizer step.
//
// USAGE
//   auto comm = make_communicator();                   // one rank without mpirun
//   MLP model({64, 32, 10}, gen);                      // every rank may start from other weights:
//   DataParallel dp(*comm, model.parameters());        // ... rank 0's are broadcast here
//   Adam opt(model.parameters(), {});
//   for (int64_t b = 0; b + 50 <= data.size(); b += 50) {
//     Range mine = dp.shard(b, b + 50);                // this rank's rows of the global batch
//     opt.zero_grad();
//     Tensor loss = cross_entropy(model.forward(rows(data.inputs, mine.begin, mine.end)),
//                                 labels_of(data, mine.begin, mine.end));   // forward: mean over MY rows
//     loss.backward();                                                      // backward
//     dp.average_gradients(mine.size(), 50);           // every rank: the gradient of the global mean
//     opt.step();                                      // update: the same on every rank
//   }
//
// THE ARITHMETIC. The loss of a global batch of B rows is the mean over all of them; rank r holds the
// mean over its n_r rows, so the global gradient is Σ_r (n_r / B) · g_r. average_gradients scales this
// rank's gradient by n_r / B (in float32) and sums over the ranks with the communicator's all-reduce,
// whose rank-ordered sum gives every rank the same bits; every rank then takes the same optimizer
// step on the same parameters, so the models stay identical without sending parameters again. One
// rank (n_0 = B) multiplies by 1 and adds nothing: the one-process run, bit for bit. With several ranks
// the per-row gradients are added in another grouping than one process's batch sum, so parameters
// agree with the one-process run to float32 rounding (the tests state the tolerance), and bit for bit
// between runs with the same rank count.
//
// BUCKETS. The gradients are treated as one flat stream in parameter order (the order given to the
// constructor, which must be the same on every rank) and all-reduced bucket_elements at a time: a bucket
// bounds the extra memory, and on a real network several buckets let communication overlap the backward
// pass (this simple version runs them one after another, after backward). The bucket size changes no bit
// of the result: every element is summed in rank order whatever bucket carries it.
//
// SHARDING. shard(begin, end) gives rank r the rows shard_range(end − begin, size, r) of the global batch,
// a contiguous slice chosen only by (begin, end, size, rank): deterministic, nothing random, and the
// concatenation of every rank's slices in rank order is the global batch.
#pragma once
#include <cstdint>
#include <vector>

#include "../tensor.hpp"
#include "communicator.hpp"

namespace moments {

struct DataParallelOptions {
  int64_t bucket_elements = int64_t{1} << 20;  // floats per all-reduce (4 MiB); > 0
};

class DataParallel {
 public:
  // Broadcasts every parameter from rank 0 (see broadcast_parameters). `params`: the same shapes in the
  // same order on every rank (their count and total size are checked across the ranks), on either device:
  // a Device::cuda tensor's values go through host memory for each collective (dist/staging.hpp).
  DataParallel(Communicator& comm, std::vector<Tensor> params, DataParallelOptions options = {});

  // Every rank's parameters become rank 0's (one broadcast per parameter).
  void broadcast_parameters();
  // This rank's rows [begin, end) of the global batch of rows [global_begin, global_end).
  Range shard(int64_t global_begin, int64_t global_end) const;
  // Every parameter's gradient becomes Σ_r (local_rows_r / global_rows) · g_r (see THE ARITHMETIC). A rank
  // with no rows (local_rows = 0, a batch smaller than the rank count) may have no gradients: it adds zeros.
  void average_gradients(int64_t local_rows, int64_t global_rows);

  Communicator& communicator() const { return comm_; }
  int64_t parameter_elements() const { return total_; }
  // Bytes of the bucket the gradients go through, kept between steps.
  int64_t staging_bytes() const { return 4 * static_cast<int64_t>(bucket_.size()); }

 private:
  Communicator& comm_;
  std::vector<Tensor> params_;
  DataParallelOptions options_;
  int64_t total_ = 0;         // Σ numel over params_
  std::vector<float> bucket_; // (min(bucket_elements, total_),): the flat stream, one bucket at a time
};

}  // namespace moments
