// dist/communicator.cpp — shard_range, all_reduce_sum, the one-process backend and the backend choice.
#include "communicator.hpp"

#include <algorithm>
#include <cstdlib>

#include "../error.hpp"
#include "shard_checks.hpp"
#ifdef MOMENTS_WITH_MPI
#include "mpi_communicator.hpp"
#endif

namespace moments {

Range shard_range(int64_t count, int size, int rank) {
  if (count < 0 || size < 1 || rank < 0 || rank >= size)
    fail("shard_range: count ", count, ", size ", size, ", rank ", rank, " (expected count >= 0 and 0 <= rank < size)");
  // ⌊r·n/N⌋ without overflow: with n = q·N + rem it is r·q + ⌊r·rem/N⌋ (r·q <= n, r·rem < N² < 2^62).
  const int64_t q = count / size, rem = count % size;
  auto edge = [&](int r) { return r * q + r * rem / size; };
  return {edge(rank), edge(rank + 1)};
}

std::vector<int64_t> shard_counts(int64_t count, int size) {
  std::vector<int64_t> counts(static_cast<size_t>(std::max(size, 0)));
  for (int r = 0; r < size; ++r) counts[static_cast<size_t>(r)] = shard_range(count, size, r).size();
  return counts;
}

void Communicator::all_reduce_sum(std::span<float> data) {
  Range mine = shard_range(static_cast<int64_t>(data.size()), size(), rank());
  all_reduce_shard_.resize(static_cast<size_t>(mine.size()));  // kept: no fresh pages on every call
  reduce_scatter_sum(data, all_reduce_shard_);
  all_gather(all_reduce_shard_, data);
}

void LocalCommunicator::broadcast(std::span<float>, int root) {
  if (root != 0) fail("broadcast: root ", root, " is not a rank of this one-process communicator (size 1)");
}

void LocalCommunicator::broadcast_bytes(std::span<std::byte>, int root) {
  if (root != 0) fail("broadcast_bytes: root ", root, " is not a rank of this one-process communicator (size 1)");
}

void LocalCommunicator::reduce_scatter_sum_uneven(std::span<const float> data, std::span<float> shard,
                                                  std::span<const int64_t> counts) {
  dist_detail::check_shard("reduce_scatter_sum", data.size(), shard.size(), counts, 1, 0);
  std::copy(data.begin(), data.end(), shard.begin());
}

void LocalCommunicator::all_gather_uneven(std::span<const float> shard, std::span<float> data, std::span<const int64_t> counts) {
  dist_detail::check_shard("all_gather", data.size(), shard.size(), counts, 1, 0);
  std::copy(shard.begin(), shard.end(), data.begin());
}

bool mpi_available() {
#ifdef MOMENTS_WITH_MPI
  return true;
#else
  return false;
#endif
}

// Open MPI's mpirun (through PMIx) sets OMPI_COMM_WORLD_SIZE in every rank's environment.
bool launched_by_mpirun() { return std::getenv("OMPI_COMM_WORLD_SIZE") != nullptr; }

std::unique_ptr<Communicator> make_communicator() {
#ifdef MOMENTS_WITH_MPI
  if (launched_by_mpirun()) return std::make_unique<MpiCommunicator>();
#endif
  return std::make_unique<LocalCommunicator>();
}

}  // namespace moments
