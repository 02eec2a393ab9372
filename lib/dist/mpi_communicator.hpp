// dist/mpi_communicator.hpp — the Open MPI backend of Communicator (built with -Dmpi).
//
// It works on a duplicate of MPI_COMM_WORLD with MPI_ERRORS_RETURN, so an MPI error becomes a
// moments::Error naming the collective and the sizes instead of aborting the job without a word.
// The first MpiCommunicator of a process calls MPI_Init (unless the program did); MPI_Finalize runs
// when the last one is destroyed, if this code initialised MPI. The collectives are the portable
// MPI-3 ones on the host: the buffers are CPU memory.
#pragma once
#include <mpi.h>

#include <vector>

#include "communicator.hpp"

namespace moments {

class MpiCommunicator : public Communicator {
 public:
  MpiCommunicator();
  ~MpiCommunicator() override;
  MpiCommunicator(const MpiCommunicator&) = delete;
  MpiCommunicator& operator=(const MpiCommunicator&) = delete;

  std::string backend() const override { return "mpi"; }
  int rank() const override { return rank_; }
  int size() const override { return size_; }
  void barrier() override;
  void broadcast(std::span<float> data, int root) override;
  void broadcast_bytes(std::span<std::byte> data, int root) override;
  void reduce_scatter_sum_uneven(std::span<const float> data, std::span<float> shard, std::span<const int64_t> counts) override;
  void all_gather_uneven(std::span<const float> shard, std::span<float> data, std::span<const int64_t> counts) override;
  int64_t scratch_bytes() const override { return Communicator::scratch_bytes() + 4 * static_cast<int64_t>(received_.capacity()); }

 private:
  // Every rank's `count` and `root` must agree (one MPI_Allgather of two int64 per rank), else
  // every rank throws the same message naming `op` and the counts.
  void check_same_count(const char* op, int64_t count, int64_t root = 0);
  // Every rank's `counts` must be the same (compared through one MPI_Allgather), else every rank throws.
  void check_same_counts(const char* op, std::span<const int64_t> counts);
  MPI_Comm comm_ = MPI_COMM_NULL;
  std::vector<float> received_;  // reduce_scatter_sum's copies of this rank's slice, one row per rank
  int rank_ = 0, size_ = 1;
};

}  // namespace moments
