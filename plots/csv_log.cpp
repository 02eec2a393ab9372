// csv_log.cpp — a small, strict CSV reader for training logs (see csv_log.hpp).
#include "csv_log.hpp"

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstring>
#include <fstream>
#include <limits>
#include <sstream>

#include "plot_error.hpp"

namespace moments::plots {

namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) s.remove_suffix(1);
  return s;
}

std::vector<std::string_view> split(std::string_view line) {
  std::vector<std::string_view> fields;
  size_t start = 0;
  for (size_t at; (at = line.find(',', start)) != std::string_view::npos; start = at + 1)
    fields.push_back(trim(line.substr(start, at - start)));
  fields.push_back(trim(line.substr(start)));
  return fields;
}

// A number, or NaN for an empty field; false if the field is not a number.
bool parse_number(std::string_view field, double& out) {
  if (field.empty()) {
    out = std::numeric_limits<double>::quiet_NaN();
    return true;
  }
  if (field.front() == '+') field.remove_prefix(1);  // from_chars takes no '+'
  auto [end, error] = std::from_chars(field.data(), field.data() + field.size(), out);
  return error == std::errc() && end == field.data() + field.size();
}

std::string joined(const std::vector<std::string>& names) {
  std::string out;
  for (const std::string& name : names) out += (out.empty() ? "" : ", ") + name;
  return out;
}

}  // namespace

bool CsvLog::has_column(std::string_view name) const {
  return std::find(columns.begin(), columns.end(), name) != columns.end();
}

const std::vector<double>& CsvLog::column(std::string_view name) const {
  auto at = std::find(columns.begin(), columns.end(), name);
  if (at == columns.end())
    throw PlotError(source + ": no column \"" + std::string(name) + "\" (columns: " + joined(columns) + ")");
  return values[static_cast<size_t>(at - columns.begin())];
}

CsvLog parse_csv(std::string_view text, const std::string& source) {
  CsvLog log;
  log.source = source;
  if (text.substr(0, 3) == "\xEF\xBB\xBF") text.remove_prefix(3);  // a UTF-8 byte-order mark, as spreadsheets write
  int line_number = 0;
  bool header_seen = false;
  while (!text.empty()) {
    size_t end = text.find('\n');
    std::string_view line = text.substr(0, end);
    text.remove_prefix(end == std::string_view::npos ? text.size() : end + 1);
    ++line_number;
    if (trim(line).empty()) continue;
    auto where = [&] { return source + ":" + std::to_string(line_number) + ": "; };
    std::vector<std::string_view> fields = split(line);

    if (!header_seen) {  // the header: one name per column
      header_seen = true;
      for (size_t c = 0; c < fields.size(); ++c) {
        std::string_view name = fields[c];
        if (name.size() >= 2 && name.front() == '"' && name.back() == '"') name = name.substr(1, name.size() - 2);
        if (name.empty()) throw PlotError(where() + "column " + std::to_string(c + 1) + " has no name");
        if (log.has_column(name)) throw PlotError(where() + "column \"" + std::string(name) + "\" appears twice");
        log.columns.emplace_back(name);
      }
      log.values.resize(log.columns.size());
      continue;
    }
    if (fields.size() != log.columns.size())
      throw PlotError(where() + "expected " + std::to_string(log.columns.size()) + " fields (" + joined(log.columns) +
                      "), found " + std::to_string(fields.size()));
    for (size_t c = 0; c < fields.size(); ++c) {
      double v;
      if (!parse_number(fields[c], v))
        throw PlotError(where() + "field " + std::to_string(c + 1) + " (\"" + log.columns[c] +
                        "\") is not a number: \"" + std::string(fields[c]) + "\"");
      log.values[c].push_back(v);
    }
    log.lines.push_back(line_number);
  }
  if (!header_seen) throw PlotError(source + ": empty file, expected a header row of column names");
  if (log.rows() == 0) throw PlotError(source + ": no data rows after the header");
  return log;
}

CsvLog read_csv(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw PlotError("cannot open " + path + ": " + std::strerror(errno));
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) throw PlotError("cannot read " + path + ": " + std::strerror(errno));
  return parse_csv(text.str(), path);
}

}  // namespace moments::plots
