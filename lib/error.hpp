// error.hpp — the one exception type moments throws.
//
// Every message names the operation, the offending shapes or values, and what
// was expected, e.g.
//   add: shapes [2, 3] and [4] cannot be broadcast (dim -1: 3 vs 4; sizes must match or be 1)
#pragma once
#include <cstdint>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

namespace moments {

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& message) : std::runtime_error(message) {}
};

// Builds a message from any streamable pieces: fail("matmul: ", a, " vs ", b).
template <class... Parts>
[[noreturn]] void fail(const Parts&... parts) {
  std::ostringstream out;
  (out << ... << parts);
  throw Error(out.str());
}

}  // namespace moments
