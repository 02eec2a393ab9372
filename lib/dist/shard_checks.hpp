// dist/shard_checks.hpp — the size check both backends make before a reduce-scatter or all-gather
// (private to lib/dist/).
#pragma once
#include <cstddef>

#include "../error.hpp"
#include "communicator.hpp"

namespace moments::dist_detail {

// `shard` must hold this rank's shard_range of `count` elements.
inline void check_shard(const char* op, size_t count, size_t shard, int size, int rank) {
  Range mine = shard_range(static_cast<int64_t>(count), size, rank);
  if (static_cast<int64_t>(shard) != mine.size())
    fail(op, ": rank ", rank, " of ", size, " passed a shard of ", shard, " elements for a buffer of ", count,
         " (expected ", mine.size(), ": elements [", mine.begin, ", ", mine.end, "))");
}

}  // namespace moments::dist_detail
