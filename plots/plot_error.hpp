// plot_error.hpp — the one exception type plots/ throws.
//
// Messages name what was wrong and where: the file, its line, the column, the
// option, e.g.
//   log.csv:7: field 2 ("loss") is not a number: "abc"
#pragma once
#include <stdexcept>
#include <string>

namespace moments::plots {

class PlotError : public std::runtime_error {
 public:
  explicit PlotError(const std::string& message) : std::runtime_error(message) {}
};

}  // namespace moments::plots
