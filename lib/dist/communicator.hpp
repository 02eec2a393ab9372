// dist/communicator.hpp — the collectives distributed training needs, on flat float buffers.
//
// USAGE (run with `mpirun -np 3 ./train`, or alone: one rank)
//   std::unique_ptr<Communicator> comm = make_communicator();   // MPI under mpirun, else one process
//   comm->broadcast(values, /*root*/ 0);        // every rank now holds rank 0's values
//   comm->all_reduce_sum(grads);                // every rank holds Σ_r grads_r, the same bits on each
//   Range mine = shard_range(n, comm->size(), comm->rank());   // this rank's slice of n elements
//   comm->reduce_scatter_sum(grads, shard);     // shard = (Σ_r grads_r)[mine]
//   comm->all_gather(shard, params);            // params = every rank's shard, in rank order
//   comm->all_gather_uneven(mine, all, counts);  // the same with rank r's slice counts[r] long (ZeRO's
//                                                // whole-tensor shards: dist/zero.hpp)
//   comm->broadcast_bytes(bytes, owner);        // raw bytes (a serialized optimizer state) from `owner`
//
// BACKENDS. LocalCommunicator is one process (size 1: every collective is a copy), so the same
// training code runs without MPI. MpiCommunicator (mpi_communicator.hpp, built with -Dmpi) runs on
// Open MPI's MPI_COMM_WORLD; make_communicator() picks it when the program was launched by mpirun.
//
// SHARDS. n elements over N ranks: rank r owns [⌊r·n/N⌋, ⌊(r+1)·n/N⌋), so shards differ by at most one
// element and their concatenation in rank order is the whole buffer. reduce_scatter_sum, all_gather and
// data parallel's batch slices all use this one rule (shard_range).
//
// DETERMINISM. all_reduce_sum is reduce_scatter_sum followed by all_gather, and reduce_scatter_sum adds
// the ranks' contributions to each element in rank order 0, 1, ..., N−1 (one fixed expression per
// element). So every rank gets the same bits, and so does every run with the same rank count. MPI_Allreduce
// promises neither: MPI leaves the order of a floating-point reduction to the implementation, and Open MPI
// chooses its algorithm (and so the order of the additions) by message size, rank count and its tuning
// parameters. Measured here (Open MPI 4.1.4, one machine): the same bits on every rank and in two runs, the
// rank-ordered sum on 2 and 3 ranks, but on 4 ranks another grouping ((x0 + x1) + (x2 + x3): 3 of 7 and
// 229,944 of 1,048,576 elements differ from the rank-ordered sum), which another network or tuning file
// may change again. A different rank count adds different partial gradients, so results across rank
// counts agree only to rounding. The price: one extra copy of the buffer and N − 1 additions per element on
// the owning rank, the same traffic as a ring all-reduce (each rank sends and receives (N − 1)/N of it twice).
//
// ERRORS. Every collective first compares its element count (and root) across the ranks, so a mismatch
// throws moments::Error on every rank, naming the collective and each rank's count, instead of hanging
// or truncating. MPI errors are returned (MPI_ERRORS_RETURN), not fatal, and become moments::Error naming
// the collective and the sizes. What MPI cannot detect: a rank that never arrives at a collective (an
// endless loop, or a rank that skipped it) leaves the others waiting, as MPI has no collective timeout.
// A rank that dies or exits with an error is seen by mpirun, which then kills the whole job
// ("mpirun has detected that one or more processes exited with non-zero status"); the tests rely on that
// and on meson test's timeout for the case no one can detect.
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

namespace moments {

// Elements [begin, end) of a flat buffer.
struct Range {
  int64_t begin = 0, end = 0;
  int64_t size() const { return end - begin; }
};
// Rank `rank`'s slice of `count` elements over `size` ranks (see SHARDS above).
Range shard_range(int64_t count, int size, int rank);
// Every rank's shard_range(count, size, r).size(), r = 0 .. size−1: the counts of the even collectives.
std::vector<int64_t> shard_counts(int64_t count, int size);

class Communicator {
 public:
  virtual ~Communicator() = default;
  virtual std::string backend() const = 0;  // "local" or "mpi"
  virtual int rank() const = 0;             // 0 .. size()−1
  virtual int size() const = 0;             // number of ranks
  // Waits until every rank has arrived.
  virtual void barrier() = 0;
  // `data` (the same count on every rank) becomes rank `root`'s values.
  virtual void broadcast(std::span<float> data, int root) = 0;
  // The same for raw bytes (what is not float data: a serialized optimizer state, a length).
  virtual void broadcast_bytes(std::span<std::byte> data, int root) = 0;
  // `data`: n elements on every rank; `shard`: counts[rank] elements, set to this rank's slice of
  // Σ_r data_r, added in rank order. Rank r's slice starts at counts[0] + ... + counts[r−1]; `counts`
  // (one per rank, >= 0, summing to n) must be the same on every rank.
  virtual void reduce_scatter_sum_uneven(std::span<const float> data, std::span<float> shard,
                                         std::span<const int64_t> counts) = 0;
  // `shard`: this rank's slice (counts[rank] elements); `data` (n = Σ counts) becomes every rank's slice,
  // in rank order.
  virtual void all_gather_uneven(std::span<const float> shard, std::span<float> data, std::span<const int64_t> counts) = 0;

  // The even collectives: rank r's slice is shard_range(n, size, r) (see SHARDS).
  void reduce_scatter_sum(std::span<const float> data, std::span<float> shard) {
    reduce_scatter_sum_uneven(data, shard, shard_counts(static_cast<int64_t>(data.size()), size()));
  }
  void all_gather(std::span<const float> shard, std::span<float> data) {
    all_gather_uneven(shard, data, shard_counts(static_cast<int64_t>(data.size()), size()));
  }
  // `data` becomes Σ_r data_r on every rank: reduce_scatter_sum, then all_gather (see DETERMINISM).
  void all_reduce_sum(std::span<float> data);
  // Bytes of the buffers the collectives keep between calls (all_reduce_sum's shard, the MPI backend's
  // received copies): they grow to the largest call's needs and are reused.
  virtual int64_t scratch_bytes() const { return 4 * static_cast<int64_t>(all_reduce_shard_.capacity()); }

 private:
  std::vector<float> all_reduce_shard_;  // all_reduce_sum's shard, reused from call to call
};

// One process: rank 0 of 1.
class LocalCommunicator : public Communicator {
 public:
  std::string backend() const override { return "local"; }
  int rank() const override { return 0; }
  int size() const override { return 1; }
  void barrier() override {}
  void broadcast(std::span<float> data, int root) override;
  void broadcast_bytes(std::span<std::byte> data, int root) override;
  void reduce_scatter_sum_uneven(std::span<const float> data, std::span<float> shard, std::span<const int64_t> counts) override;
  void all_gather_uneven(std::span<const float> shard, std::span<float> data, std::span<const int64_t> counts) override;
};

// Whether this build has the MPI backend (-Dmpi), and whether this process was started by mpirun.
bool mpi_available();
bool launched_by_mpirun();
// MpiCommunicator when mpi_available() and launched_by_mpirun(), else LocalCommunicator.
std::unique_ptr<Communicator> make_communicator();

}  // namespace moments
