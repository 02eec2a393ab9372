// plot_error.hpp — the one exception type plots/ throws, and the one way its
// messages quote text that came from a file.
//
// Messages name what was wrong and where: the file, its line, the column, the
// option, e.g.
//   log.csv:7: field 2 ("loss") is not a number: "abc"
// Text from a file is quoted with quoted(): control bytes are escaped (a
// terminal escape code is printed as \x1b[31m, a NUL as \0, so nothing is
// hidden and nothing is sent to the terminal), and a long field is cut:
//   "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx…" (10485760 bytes)
#pragma once
#include <cstddef>
#include <stdexcept>
#include <string>
#include <string_view>

namespace moments::plots {

class PlotError : public std::runtime_error {
 public:
  explicit PlotError(const std::string& message) : std::runtime_error(message) {}
};

// Quoted text is cut once this many bytes of it are printed (escapes included).
inline constexpr size_t kQuotedMaxBytes = 60;

// text in double quotes, safe to print: \" \\ \0 \t \n \r and \xNN for the other
// control bytes (C0, DEL, the UTF-8 encoded C1 controls) and for bytes that are
// not UTF-8; other UTF-8 passes. Once about max_bytes are printed the text is
// cut, at a character, and its size follows: "abc…" (12345 bytes).
std::string quoted(std::string_view text, size_t max_bytes = kQuotedMaxBytes);

}  // namespace moments::plots
