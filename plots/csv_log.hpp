// csv_log.hpp — reading a training log: a CSV file with a header row of column
// names and one row of numbers per recorded step, as lib/monitor writes it.
//
//   step,loss,lr
//   0,2.302,0.0003
//   10,2.117,0.0003
//   20,,0.0003        <- an empty cell is a missing value (NaN): a gap in the chart
//
// Numbers are read with std::from_chars (no locale), and must be the whole
// field: 12, -3.5, +1e-4, nan, inf (not 0.9x, +-5, nor 1e999, out of range).
// Fields are trimmed of spaces. Quoting is RFC 4180's, within a line: a field in
// double quotes may hold commas, and "" in it is one quote ("loss, smoothed",
// "say ""hi"""); a line break inside quotes is an error. Blank lines, CRLF line
// ends and a UTF-8 byte-order mark are fine.
//
// A TORN LAST ROW: a log whose writer was interrupted ends in a line with no line
// break. That line is ignored, never parsed (a torn "3,0." is not read as 0),
// and torn_line says which it was, for the caller to report (moments-plot warns
// and notes it on the chart). Every row before it is read.
//
// Anything else is an error that names the file, the line and the column, and
// quotes the offending text escaped and cut short (plot_error.hpp's quoted()):
//   log.csv:7: field 2 ("loss") is not a number: "abc"
//   log.csv:8: field 2 ("loss") is not a number: "\x1b[2J"
//   log.csv:9: expected 3 fields (step, loss, lr), found 2
//   log.csv: no data rows after the header
#pragma once
#include <string>
#include <string_view>
#include <vector>

namespace moments::plots {

struct CsvLog {
  std::string source;                       // the file name, for messages
  std::vector<std::string> columns;         // the header's names, in file order
  std::vector<std::vector<double>> values;  // values[c][r]: column c, data row r
  std::vector<int> lines;                   // lines[r]: the file line of data row r (1-based)
  int torn_line = 0;                        // the file line of a torn last row, ignored; 0: none

  size_t rows() const { return lines.size(); }
  bool has_column(std::string_view name) const;
  // Throws PlotError naming the file and listing the columns it has.
  const std::vector<double>& column(std::string_view name) const;
};

// Parses CSV text; `source` names it in messages. Throws PlotError.
CsvLog parse_csv(std::string_view text, const std::string& source = "<csv>");
// Reads and parses a file. Throws PlotError (also when it cannot be opened).
CsvLog read_csv(const std::string& path);

}  // namespace moments::plots
