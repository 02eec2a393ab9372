// csv_log.cpp — a small, strict CSV reader for training logs (see csv_log.hpp).
#include "csv_log.hpp"

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstring>
#include <deque>
#include <fstream>
#include <limits>
#include <sstream>
#include <unordered_set>

#include "plot_error.hpp"

namespace moments::plots {

namespace {

bool is_blank(char c) { return c == ' ' || c == '\t'; }

std::string_view trim(std::string_view s) {
  while (!s.empty() && is_blank(s.front())) s.remove_prefix(1);
  while (!s.empty() && (is_blank(s.back()) || s.back() == '\r')) s.remove_suffix(1);
  return s;
}

// One line's fields, RFC 4180 style: a field in double quotes may hold commas,
// and "" inside it stands for one quote. Blanks around a field are trimmed.
// Fields point into the line, or into `unescaped` for quoted fields that held a
// doubled quote. where() is "log.csv:7: ", for messages (made only for one).
template <class Where>
std::vector<std::string_view> split(std::string_view line, std::deque<std::string>& unescaped, const Where& where) {
  std::vector<std::string_view> fields;
  line = trim(line);
  for (size_t at = 0;;) {
    auto fail = [&](const std::string& what) {
      throw PlotError(where() + "field " + std::to_string(fields.size() + 1) + ": " + what);
    };
    while (at < line.size() && is_blank(line[at])) ++at;
    size_t end;  // where the field's text ends: at the comma, or the end of the line
    if (at < line.size() && line[at] == '"') {
      size_t close = at + 1;
      bool doubled = false;
      for (;; close += 2) {  // the closing quote is the first one not followed by another
        close = line.find('"', close);
        if (close == std::string_view::npos)
          fail("a quoted field has no closing quote on its line (line breaks inside fields are not supported): " +
               quoted(line.substr(at)));
        if (close + 1 >= line.size() || line[close + 1] != '"') break;
        doubled = true;
      }
      std::string_view inside = line.substr(at + 1, close - at - 1);
      if (doubled) {
        std::string& text = unescaped.emplace_back();
        for (size_t i = 0; i < inside.size(); ++i) {
          text += inside[i];
          if (inside[i] == '"') ++i;  // "" → "
        }
        inside = text;
      }
      end = std::min(line.find(',', close), line.size());
      std::string_view after = trim(line.substr(close + 1, end - close - 1));
      if (!after.empty()) fail("text after the closing quote: " + quoted(after));
      fields.push_back(inside);
    } else {
      end = std::min(line.find(',', at), line.size());
      fields.push_back(trim(line.substr(at, end - at)));
    }
    if (end >= line.size()) return fields;
    at = end + 1;
  }
}

// A number, or NaN for an empty field. Returns what is wrong with it, or nullptr.
const char* parse_number(std::string_view field, double& out) {
  if (field.empty()) {
    out = std::numeric_limits<double>::quiet_NaN();
    return nullptr;
  }
  if (field.front() == '+') {  // from_chars takes no '+', and must not see "+-5"
    field.remove_prefix(1);
    if (field.empty() || field.front() == '-' || field.front() == '+') return "is not a number";
  }
  auto [end, error] = std::from_chars(field.data(), field.data() + field.size(), out);
  if (error == std::errc::result_out_of_range && end == field.data() + field.size())
    return "is out of range for a double";
  if (error != std::errc() || end != field.data() + field.size()) return "is not a number";
  return nullptr;
}

// A column name as a list shows it: bare when that cannot mislead, else quoted.
std::string list_name(const std::string& name) {
  std::string q = quoted(name);
  bool plain = !name.empty() && name.find(',') == std::string::npos && q.compare(1, q.size() - 2, name) == 0 &&
               q.size() == name.size() + 2;  // nothing escaped, nothing cut
  return plain ? name : q;
}

// "step, loss, lr"; past 10 names, "…, and 90 more".
std::string joined(const std::vector<std::string>& names) {
  constexpr size_t kShown = 10;
  std::string out;
  for (size_t i = 0; i < names.size() && i < kShown; ++i) out += (i ? ", " : "") + list_name(names[i]);
  if (names.size() > kShown) out += ", and " + std::to_string(names.size() - kShown) + " more";
  return out;
}

}  // namespace

bool CsvLog::has_column(std::string_view name) const {
  return std::find(columns.begin(), columns.end(), name) != columns.end();
}

const std::vector<double>& CsvLog::column(std::string_view name) const {
  auto at = std::find(columns.begin(), columns.end(), name);
  if (at == columns.end()) throw PlotError(source + ": no column " + quoted(name) + " (columns: " + joined(columns) + ")");
  return values[static_cast<size_t>(at - columns.begin())];
}

CsvLog parse_csv(std::string_view text, const std::string& source) {
  CsvLog log;
  log.source = source;
  if (text.substr(0, 3) == "\xEF\xBB\xBF") text.remove_prefix(3);  // a UTF-8 byte-order mark, as spreadsheets write
  int line_number = 0;
  bool header_seen = false;
  std::deque<std::string> unescaped;  // quoted fields with "" in them, for the current line
  while (!text.empty()) {
    size_t end = text.find('\n');
    const bool complete = end != std::string_view::npos;
    std::string_view line = text.substr(0, end);
    text.remove_prefix(complete ? end + 1 : text.size());
    ++line_number;
    if (trim(line).empty()) continue;
    if (!complete && header_seen) {  // a row cut short as it was written: ignored, not parsed
      log.torn_line = line_number;
      break;
    }
    auto where = [&] { return source + ":" + std::to_string(line_number) + ": "; };
    unescaped.clear();
    std::vector<std::string_view> fields = split(line, unescaped, where);

    if (!header_seen) {  // the header: one name per column
      header_seen = true;
      std::unordered_set<std::string_view> seen;
      for (size_t c = 0; c < fields.size(); ++c) {
        std::string_view name = fields[c];
        if (name.empty()) throw PlotError(where() + "column " + std::to_string(c + 1) + " has no name");
        if (!seen.insert(name).second) throw PlotError(where() + "column " + quoted(name) + " appears twice");
      }
      log.columns.assign(fields.begin(), fields.end());
      log.values.resize(log.columns.size());
      continue;
    }
    if (fields.size() != log.columns.size())
      throw PlotError(where() + "expected " + std::to_string(log.columns.size()) + " fields (" + joined(log.columns) +
                      "), found " + std::to_string(fields.size()));
    for (size_t c = 0; c < fields.size(); ++c) {
      double v;
      if (const char* problem = parse_number(fields[c], v))
        throw PlotError(where() + "field " + std::to_string(c + 1) + " (" + quoted(log.columns[c]) + ") " + problem +
                        ": " + quoted(fields[c]));
      log.values[c].push_back(v);
    }
    log.lines.push_back(line_number);
  }
  if (!header_seen) throw PlotError(source + ": empty file, expected a header row of column names");
  if (log.rows() == 0)
    throw PlotError(source + ": no data rows after the header" +
                    (log.torn_line ? " (line " + std::to_string(log.torn_line) +
                                         ", the last, has no line break: a row cut short, ignored)"
                                   : std::string()));
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
