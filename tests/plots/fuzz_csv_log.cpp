// fuzz_csv_log.cpp — libFuzzer target for the CSV log reader (plots/csv_log.*).
//
// Each input is a whole log file. The only acceptable failure is a PlotError,
// and its message must be safe to print: no control bytes (file content is
// escaped) and short (long fields are cut). A log that is read must hold
// together (one value per column per row, rising line numbers, a torn last
// line after every row) and survive a round trip: written again as CSV, every
// name quoted and every number printed exactly, it reads back the same.
//
// Built with clang only (tests/plots/meson.build finds it):
//   clang++ -std=c++20 -g -O1 -fsanitize=fuzzer,address,undefined -Iplots \
//       tests/plots/fuzz_csv_log.cpp plots/csv_log.cpp plots/plot_error.cpp -o fuzz_csv_log
//   ./fuzz_csv_log -max_len=4096 NEW_DIR tests/plots/fuzz_corpus    (new finds go to NEW_DIR)
#include <charconv>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "csv_log.hpp"
#include "plot_error.hpp"

using namespace moments::plots;

namespace {

constexpr size_t kLongestMessage = 2000;

// The log as CSV again: names in quotes (a quote doubled), numbers in the
// shortest form that reads back exactly, NaN as "nan" (an empty field would
// leave a one-column row blank, and a blank line is skipped).
std::string written_again(const CsvLog& log) {
  std::string out;
  for (size_t c = 0; c < log.columns.size(); ++c) {
    out += c ? ",\"" : "\"";
    for (char ch : log.columns[c]) out += ch == '"' ? "\"\"" : std::string(1, ch);
    out += '"';
  }
  out += '\n';
  for (size_t r = 0; r < log.rows(); ++r) {
    for (size_t c = 0; c < log.columns.size(); ++c) {
      if (c) out += ',';
      double v = log.values[c][r];
      char text[64];
      if (std::isnan(v))
        out += "nan";
      else
        out.append(text, std::to_chars(text, text + sizeof text, v).ptr);
    }
    out += '\n';
  }
  return out;
}

bool same_values(const CsvLog& a, const CsvLog& b) {
  if (a.columns != b.columns || a.rows() != b.rows()) return false;
  for (size_t c = 0; c < a.columns.size(); ++c)
    for (size_t r = 0; r < a.rows(); ++r) {
      double x = a.values[c][r], y = b.values[c][r];
      if (std::isnan(x) && std::isnan(y)) continue;  // a NaN's sign is not kept
      if (x != y || std::signbit(x) != std::signbit(y)) return false;
    }
  return true;
}

void check(const CsvLog& log) {
  if (log.columns.empty() || log.values.size() != log.columns.size() || log.rows() == 0) __builtin_trap();
  for (const auto& column : log.values)
    if (column.size() != log.rows()) __builtin_trap();
  for (size_t r = 0; r < log.rows(); ++r)
    if (log.lines[r] < 2 || (r > 0 && log.lines[r] <= log.lines[r - 1])) __builtin_trap();
  if (log.torn_line != 0 && log.torn_line <= log.lines.back()) __builtin_trap();
  for (size_t c = 0; c < log.columns.size(); ++c)
    if (&log.column(log.columns[c]) != &log.values[c]) __builtin_trap();  // names are unique
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  try {
    const CsvLog log = parse_csv(text, "fuzz.csv");
    check(log);
    if (!same_values(parse_csv(written_again(log), "fuzz.csv (written again)"), log)) __builtin_trap();
  } catch (const PlotError& e) {
    // a rejected log: the message must be printable as it stands
    const std::string_view message = e.what();
    if (message.size() > kLongestMessage) __builtin_trap();
    for (char c : message)
      if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) __builtin_trap();
  }
  return 0;
}
