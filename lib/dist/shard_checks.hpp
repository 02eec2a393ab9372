// dist/shard_checks.hpp — the size check both backends make before a reduce-scatter or all-gather
// (private to lib/dist/).
#pragma once
#include <cstddef>
#include <cstdint>
#include <span>

#include "../error.hpp"
#include "communicator.hpp"

namespace moments::dist_detail {

// `counts` must have one entry >= 0 per rank summing to `count`, and `shard` must hold counts[rank].
inline void check_shard(const char* op, size_t count, size_t shard, std::span<const int64_t> counts, int size, int rank) {
  if (counts.size() != static_cast<size_t>(size))
    fail(op, ": ", counts.size(), " shard counts for ", size, " ranks (expected one per rank)");
  int64_t total = 0, begin = 0;
  for (int r = 0; r < size; ++r) {
    if (counts[static_cast<size_t>(r)] < 0) fail(op, ": shard count ", counts[static_cast<size_t>(r)], " for rank ", r, " (expected >= 0)");
    if (r == rank) begin = total;
    total += counts[static_cast<size_t>(r)];
  }
  if (total != static_cast<int64_t>(count))
    fail(op, ": the shard counts add up to ", total, " for a buffer of ", count, " elements");
  const int64_t mine = counts[static_cast<size_t>(rank)];
  if (static_cast<int64_t>(shard) != mine)
    fail(op, ": rank ", rank, " of ", size, " passed a shard of ", shard, " elements for a buffer of ", count,
         " (expected ", mine, ": elements [", begin, ", ", begin + mine, "))");
}

}  // namespace moments::dist_detail
