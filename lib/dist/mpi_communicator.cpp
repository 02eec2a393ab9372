// dist/mpi_communicator.cpp — Communicator on Open MPI: counts checked across ranks, then one MPI
// collective per call, error codes turned into moments::Error.
#include "mpi_communicator.hpp"

#include <algorithm>
#include <climits>
#include <sstream>
#include <vector>

#include "../error.hpp"
#include "shard_checks.hpp"

namespace moments {
namespace {

int live_communicators = 0;   // MpiCommunicators alive in this process
bool we_initialised = false;  // MPI_Init was ours, so MPI_Finalize is too

// An MPI return code other than MPI_SUCCESS becomes moments::Error: "<op>: MPI error: <text> (<details>)".
void check(int code, const char* op, const std::string& details) {
  if (code == MPI_SUCCESS) return;
  char text[MPI_MAX_ERROR_STRING];
  int length = 0;
  if (MPI_Error_string(code, text, &length) != MPI_SUCCESS) length = 0;
  fail(op, ": MPI error ", code, ": ", std::string(text, static_cast<size_t>(length)), " (", details, ")");
}

// MPI counts are int: a buffer of more than INT_MAX elements is refused by name.
int as_count(const char* op, size_t count) {
  if (count > static_cast<size_t>(INT_MAX))
    fail(op, ": ", count, " elements is more than one MPI call takes (", INT_MAX, ")");
  return static_cast<int>(count);
}

}  // namespace

MpiCommunicator::MpiCommunicator() {
  int initialised = 0;
  check(MPI_Initialized(&initialised), "MpiCommunicator", "MPI_Initialized");
  if (!initialised) {
    // MPI_Init's own errors are fatal by the standard's default handler; it prints them and exits.
    check(MPI_Init(nullptr, nullptr), "MpiCommunicator", "MPI_Init");
    we_initialised = true;
  }
  check(MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN), "MpiCommunicator", "MPI_Comm_set_errhandler");
  check(MPI_Comm_dup(MPI_COMM_WORLD, &comm_), "MpiCommunicator", "MPI_Comm_dup");
  check(MPI_Comm_set_errhandler(comm_, MPI_ERRORS_RETURN), "MpiCommunicator", "MPI_Comm_set_errhandler");
  check(MPI_Comm_rank(comm_, &rank_), "MpiCommunicator", "MPI_Comm_rank");
  check(MPI_Comm_size(comm_, &size_), "MpiCommunicator", "MPI_Comm_size");
  ++live_communicators;
}

MpiCommunicator::~MpiCommunicator() {
  if (comm_ != MPI_COMM_NULL) MPI_Comm_free(&comm_);
  if (--live_communicators == 0 && we_initialised) {
    MPI_Finalize();
    we_initialised = false;
  }
}

void MpiCommunicator::check_same_count(const char* op, int64_t count, int64_t root) {
  int64_t mine[2] = {count, root};
  std::vector<int64_t> all(2 * static_cast<size_t>(size_));
  check(MPI_Allgather(mine, 2, MPI_INT64_T, all.data(), 2, MPI_INT64_T, comm_), op, "comparing element counts");
  bool same = true;
  for (int r = 0; r < size_; ++r) same = same && all[2 * r] == count && all[2 * r + 1] == root;
  if (same) return;
  std::ostringstream counts;
  for (int r = 0; r < size_; ++r)
    counts << (r ? ", " : "") << "rank " << r << ": " << all[2 * r] << (root != 0 || all[2 * r + 1] != 0 ? " (root " + std::to_string(all[2 * r + 1]) + ")" : "");
  fail(op, ": the ranks passed different element counts (", counts.str(), "); every rank must pass the same");
}

void MpiCommunicator::barrier() { check(MPI_Barrier(comm_), "barrier", std::to_string(size_) + " ranks"); }

void MpiCommunicator::broadcast(std::span<float> data, int root) {
  if (root < 0 || root >= size_) fail("broadcast: root ", root, " is not a rank (size ", size_, ")");
  check_same_count("broadcast", static_cast<int64_t>(data.size()), root);
  check(MPI_Bcast(data.data(), as_count("broadcast", data.size()), MPI_FLOAT, root, comm_), "broadcast",
        std::to_string(data.size()) + " floats from rank " + std::to_string(root));
}

void MpiCommunicator::broadcast_bytes(std::span<std::byte> data, int root) {
  if (root < 0 || root >= size_) fail("broadcast_bytes: root ", root, " is not a rank (size ", size_, ")");
  check_same_count("broadcast_bytes", static_cast<int64_t>(data.size()), root);
  check(MPI_Bcast(data.data(), as_count("broadcast_bytes", data.size()), MPI_BYTE, root, comm_), "broadcast_bytes",
        std::to_string(data.size()) + " bytes from rank " + std::to_string(root));
}

void MpiCommunicator::check_same_counts(const char* op, std::span<const int64_t> counts) {
  std::vector<int64_t> all(counts.size() * static_cast<size_t>(size_));
  check(MPI_Allgather(counts.data(), static_cast<int>(counts.size()), MPI_INT64_T, all.data(), static_cast<int>(counts.size()),
                      MPI_INT64_T, comm_), op, "comparing shard counts");
  for (int r = 0; r < size_; ++r)
    if (!std::equal(counts.begin(), counts.end(), all.begin() + static_cast<std::ptrdiff_t>(r * counts.size())))
      fail(op, ": rank ", r, " passed other shard counts than rank ", rank_, "; every rank must pass the same");
}

// Each rank sends rank j its slice j (MPI_Alltoallv) and receives every rank's copy of its own slice,
// then adds them in rank order: element k of the shard is ((d_0[k] + d_1[k]) + d_2[k]) + ..., the same
// expression on every run, whatever order the messages arrive in.
void MpiCommunicator::reduce_scatter_sum_uneven(std::span<const float> data, std::span<float> shard,
                                                std::span<const int64_t> counts) {
  const int64_t n = static_cast<int64_t>(data.size());
  check_same_count("reduce_scatter_sum", n);
  dist_detail::check_shard("reduce_scatter_sum", data.size(), shard.size(), counts, size_, rank_);
  check_same_counts("reduce_scatter_sum", counts);
  as_count("reduce_scatter_sum", shard.size() * static_cast<size_t>(size_));  // the received copies' offsets
  as_count("reduce_scatter_sum", data.size());
  const int mine = static_cast<int>(shard.size());
  std::vector<int> send_counts(size_), send_offsets(size_), recv_counts(size_, mine), recv_offsets(size_);
  int64_t begin = 0;
  for (int r = 0; r < size_; ++r) {
    send_counts[r] = static_cast<int>(counts[static_cast<size_t>(r)]);
    send_offsets[r] = static_cast<int>(begin);
    recv_offsets[r] = r * mine;  // (size, mine): rank r's copy of this shard in row r
    begin += counts[static_cast<size_t>(r)];
  }
  std::vector<float>& received = received_;  // kept from call to call: a fresh buffer costs its page faults
  received.resize(static_cast<size_t>(size_) * static_cast<size_t>(mine));
  check(MPI_Alltoallv(data.data(), send_counts.data(), send_offsets.data(), MPI_FLOAT, received.data(),
                      recv_counts.data(), recv_offsets.data(), MPI_FLOAT, comm_),
        "reduce_scatter_sum", std::to_string(n) + " floats, shard of " + std::to_string(mine) + " on rank " + std::to_string(rank_));
  for (int k = 0; k < mine; ++k) {
    float sum = received[static_cast<size_t>(k)];
    for (int r = 1; r < size_; ++r) sum += received[static_cast<size_t>(r) * static_cast<size_t>(mine) + static_cast<size_t>(k)];
    shard[static_cast<size_t>(k)] = sum;
  }
}

void MpiCommunicator::all_gather_uneven(std::span<const float> shard, std::span<float> data, std::span<const int64_t> counts) {
  const int64_t n = static_cast<int64_t>(data.size());
  check_same_count("all_gather", n);
  dist_detail::check_shard("all_gather", data.size(), shard.size(), counts, size_, rank_);
  check_same_counts("all_gather", counts);
  as_count("all_gather", data.size());
  std::vector<int> sizes(size_), offsets(size_);
  int64_t begin = 0;
  for (int r = 0; r < size_; ++r) {
    sizes[r] = static_cast<int>(counts[static_cast<size_t>(r)]);
    offsets[r] = static_cast<int>(begin);
    begin += counts[static_cast<size_t>(r)];
  }
  check(MPI_Allgatherv(shard.data(), static_cast<int>(shard.size()), MPI_FLOAT, data.data(), sizes.data(),
                       offsets.data(), MPI_FLOAT, comm_),
        "all_gather", std::to_string(n) + " floats, shard of " + std::to_string(shard.size()) + " on rank " + std::to_string(rank_));
}

}  // namespace moments
