// moments_plot.cpp — the moments-plot command: a CSV training log in, a PNG
// chart out.
//
//   moments-plot LOG.csv --out chart.png [--x step] [--y col1,col2,...]
//                [--log-y] [--log-x] [--smooth 0.9] [--title TEXT] [--panels]
//                [--width PX] [--height PX]
//   moments-plot LOG.csv --out chart.png --heatmap 'update_ratio.*' [--linear-z] [--title TEXT]
//   moments-plot LOG.csv --out chart.png --small-multiples 'update_ratio.*' [--log-y|--linear-y]
//   moments-plot --report DIR LOG.csv [LOG2.csv ...] [--title TEXT] [--smooth 0.9]
//
// --x picks the x column (default: "step" if there is one, else the first);
// --y the columns to draw (default: all the others). Without --panels they
// share one chart; with --panels each gets its own panel of a figure.
// --width and --height size the chart, or each panel with --panels.
// --heatmap PATTERN draws the columns matching a glob ('*' any text, '?' one
// character) as a heat map, one row per column (per layer, for the monitor's
// per-parameter columns), one cell per step, on a log colour scale (--linear-z:
// linear). --small-multiples PATTERN draws them as one small line chart each,
// on a log y axis (--linear-y: linear). See heatmap_chart.hpp.
// --report DIR writes DIR/index.html, a page with no script and no external
// resource: a summary table with a row per log, every chart the logs' columns
// make as a PNG beside it (several logs: overlaid), and every column's range
// (see report.hpp). DIR is created if missing. Every log is read and every chart
// drawn before anything is written; then the PNGs and, last, index.html are
// each written atomically (lib/io/atomic_file.hpp, compiled into this program:
// its one file outside plots/), so a bad log leaves an earlier report as it was.
//
// A log whose last line has no line break (its writer was interrupted) is drawn
// without that line: a warning on stderr and a note on the chart say so.
// Messages quote text from the log escaped and cut short (see plot_error.hpp).
//
// Exit status: 0 when the chart (or report) was written; 1 when the log or the output is
// at fault (missing file, unknown column, malformed row, empty log: the
// message names it); 2 for a usage error.
#include <charconv>
#include <cstdio>
#include <exception>
#include <filesystem>
#include <iostream>
#include <optional>
#include <string>
#include <vector>

#include "../lib/io/atomic_file.hpp"
#include "plots.hpp"
#include "report.hpp"

// (quoted() is written moments::plots::quoted below: <filesystem> brings std::quoted, which
// argument-dependent lookup would find beside it for a std::string.)

using namespace moments::plots;

namespace {

const char* kUsage =
    "usage: moments-plot LOG.csv --out chart.png [--x COLUMN] [--y COL1,COL2,...]\n"
    "                    [--log-y] [--log-x] [--smooth WEIGHT] [--title TEXT] [--panels]\n"
    "                    [--width PX] [--height PX]\n"
    "       moments-plot LOG.csv --out chart.png --heatmap PATTERN [--linear-z] [--title TEXT]\n"
    "       moments-plot LOG.csv --out chart.png --small-multiples PATTERN [--linear-y] [--title TEXT]\n"
    "       moments-plot --report DIR LOG.csv [LOG2.csv ...] [--title TEXT] [--smooth WEIGHT]\n"
    "  PATTERN: a glob over column names, e.g. 'update_ratio.*'\n";

struct UsageError {
  std::string message;
};

struct Arguments {
  std::string log, out, x, title, heatmap, small_multiples, report;
  std::vector<std::string> y, logs;  // logs: every log given (more than one with --report only)
  bool log_x = false, log_y = false, panels = false, linear_z = false, linear_y = false;
  double smooth = 0.0;
  std::optional<int> width, height;
};

std::vector<std::string> split_commas(const std::string& text) {
  std::vector<std::string> parts;
  size_t start = 0;
  for (size_t at; (at = text.find(',', start)) != std::string::npos; start = at + 1)
    parts.push_back(text.substr(start, at - start));
  parts.push_back(text.substr(start));
  return parts;
}

template <class Number>
Number parse(const std::string& option, const std::string& text) {
  Number value{};
  auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (error != std::errc() || end != text.data() + text.size() || text.empty())
    throw UsageError{option + " expects a number, got " + moments::plots::quoted(text)};
  return value;
}

std::string pattern(const std::string& option, const std::string& text) {
  if (text.empty()) throw UsageError{option + " has an empty PATTERN (e.g. 'update_ratio.*')"};
  return text;
}

Arguments parse_arguments(int argc, char** argv) {
  Arguments a;
  std::vector<std::string> args(argv + 1, argv + argc);
  for (size_t i = 0; i < args.size(); ++i) {
    std::string arg = args[i], value;
    bool has_value = false;
    if (arg.rfind("--", 0) == 0 && arg.find('=') != std::string::npos) {  // --name=value
      value = arg.substr(arg.find('=') + 1);
      arg = arg.substr(0, arg.find('='));
      has_value = true;
    }
    auto next = [&]() -> std::string {
      if (has_value) return value;
      if (i + 1 >= args.size()) throw UsageError{arg + " needs a value"};
      return args[++i];
    };
    // clang-format off: one option a line reads best
    if (arg == "--out")
      a.out = next();
    else if (arg == "--x")
      a.x = next();
    else if (arg == "--y")
      a.y = split_commas(next());
    else if (arg == "--title")
      a.title = next();
    else if (arg == "--smooth")
      a.smooth = parse<double>(arg, next());
    else if (arg == "--width")
      a.width = parse<int>(arg, next());
    else if (arg == "--height")
      a.height = parse<int>(arg, next());
    else if (arg == "--log-y")
      a.log_y = true;
    else if (arg == "--log-x")
      a.log_x = true;
    else if (arg == "--panels")
      a.panels = true;
    else if (arg == "--heatmap" || arg == "--small-multiples")
      (arg == "--heatmap" ? a.heatmap : a.small_multiples) = pattern(arg, next());
    else if (arg == "--linear-z")
      a.linear_z = true;
    else if (arg == "--linear-y")
      a.linear_y = true;
    else if (arg == "--report")
      a.report = next();
    else if (arg.size() > 1 && arg[0] == '-')
      throw UsageError{"unknown option " + arg};
    else
      a.logs.push_back(arg);
    // clang-format on
  }
  if (a.logs.empty()) throw UsageError{"no log file given"};
  a.log = a.logs[0];
  if (!(a.smooth >= 0.0 && a.smooth < 1.0)) throw UsageError{"--smooth must be in [0, 1), e.g. 0.9"};
  if (!a.report.empty()) {
    if (!a.out.empty()) throw UsageError{"--report writes DIR/index.html and its charts: drop --out"};
    if (!a.x.empty() || !a.y.empty() || a.panels || a.log_x || a.log_y || a.width || a.height ||
        !a.heatmap.empty() || !a.small_multiples.empty() || a.linear_z || a.linear_y)
      throw UsageError{"--report chooses its charts from the columns: only --title and --smooth apply"};
    return a;
  }
  if (a.logs.size() > 1) throw UsageError{"one log at a time: got " + a.logs[0] + " and " + a.logs[1] + " (several logs: --report DIR)"};
  if (a.out.empty()) throw UsageError{"--out chart.png is required"};
  for (auto [size, name] : {std::pair{a.width, "--width"}, std::pair{a.height, "--height"}})
    if (size && (*size < 100 || *size > 10000)) throw UsageError{std::string(name) + " must be 100..10000 pixels"};
  for (const std::string& column : a.y)
    if (column.empty()) throw UsageError{"--y has an empty column name"};
  bool per_layer = !a.heatmap.empty() || !a.small_multiples.empty();
  if (!a.heatmap.empty() && !a.small_multiples.empty())
    throw UsageError{"--heatmap and --small-multiples draw different charts: give one of them"};
  if (per_layer && (!a.y.empty() || a.panels))
    throw UsageError{"--heatmap and --small-multiples pick their columns by PATTERN: drop --y and --panels"};
  if (a.linear_z && a.heatmap.empty()) throw UsageError{"--linear-z applies to --heatmap only"};
  if (a.linear_y && a.small_multiples.empty()) throw UsageError{"--linear-y applies to --small-multiples only"};
  return a;
}

LineChartOptions chart_options(const Arguments& a, const std::string& x_column, const CsvLog& log) {
  LineChartOptions o;
  if (log.torn_line) o.notes.push_back("line " + std::to_string(log.torn_line) + " ignored: no line break (cut short)");
  o.x_label = x_column;
  o.x_scale = a.log_x ? Scale::log : Scale::linear;
  o.y_scale = a.log_y ? Scale::log : Scale::linear;
  o.smoothing = a.smooth;
  return o;
}

// --heatmap and --small-multiples: one row or panel per matching column.
int run_per_layer(const Arguments& a, const CsvLog& log, const std::string& x_column) {
  size_t drawn = 0;
  if (!a.heatmap.empty()) {
    HeatmapChart chart = heatmap_from_log(log, a.heatmap,
                                          {.title = a.title,
                                           .x_label = x_column,
                                           .z_label = a.heatmap,
                                           .z_scale = a.linear_z ? Scale::linear : Scale::log,
                                           .width = a.width.value_or(800),
                                           .height = a.height.value_or(0)},
                                          x_column);
    chart.save_png(a.out);
    drawn = chart.rows();
  } else {
    Figure figure = small_multiples_from_log(log, a.small_multiples,
                                             {.title = a.title,
                                              .columns = 3,
                                              .panel_width = a.width.value_or(360),
                                              .panel_height = a.height.value_or(240)},
                                             a.linear_y ? Scale::linear : Scale::log, x_column);
    figure.save_png(a.out);
    drawn = figure.panels();
  }
  std::cout << "moments-plot: wrote " << a.out << " (" << drawn << (a.heatmap.empty() ? " panels, " : " rows, ")
            << log.rows() << " steps)\n";
  return 0;
}

CsvLog read_log(const std::string& path) {
  CsvLog log = read_csv(path);
  if (log.torn_line)
    std::cerr << "moments-plot: warning: " << path << ":" << log.torn_line
              << ": the last line has no line break and was ignored (a row cut short as the log was written)\n";
  return log;
}

// --report DIR: read every log and draw every chart, then write.
int run_report(const Arguments& a) {
  std::vector<CsvLog> logs;
  for (const std::string& path : a.logs) logs.push_back(read_log(path));
  Report report = build_report(logs, {.title = a.title, .smoothing = a.smooth});
  std::error_code error;
  std::filesystem::create_directories(a.report, error);
  if (!std::filesystem::is_directory(a.report))
    throw PlotError("--report " + moments::plots::quoted(a.report) + ": cannot make this folder" +
                    (error ? " (" + error.message() + ")" : std::string(" (a file of that name is there)")));
  auto write = [&](const std::string& name, const void* bytes, size_t size) {
    const std::string path = a.report + "/" + name;
    moments::write_file_atomically(path, [&](const moments::WriteBytes& out) { out(bytes, size); },
                                   "moments-plot: write " + moments::plots::quoted(path));
  };
  for (const ReportFile& file : report.files) write(file.name, file.bytes.data(), file.bytes.size());
  write("index.html", report.html.data(), report.html.size());  // last: it shows the new charts or the old ones
  std::cout << "moments-plot: wrote " << a.report << "/index.html (" << logs.size() << (logs.size() == 1 ? " log, " : " logs, ")
            << report.files.size() << (report.files.size() == 1 ? " chart)\n" : " charts)\n");
  return 0;
}

int run(const Arguments& a) {
  if (!a.report.empty()) return run_report(a);
  CsvLog log = read_log(a.log);
  std::string x_column = !a.x.empty() ? a.x : log.has_column("step") ? "step" : log.columns[0];
  if (!a.heatmap.empty() || !a.small_multiples.empty()) return run_per_layer(a, log, x_column);
  const std::vector<double>& x = log.column(x_column);
  std::vector<std::string> y_columns = a.y;
  if (y_columns.empty())
    for (const std::string& c : log.columns)
      if (c != x_column) y_columns.push_back(c);
  if (y_columns.empty()) throw PlotError(a.log + ": no columns to draw besides " + moments::plots::quoted(x_column));
  for (const std::string& c : y_columns) log.column(c);  // every name checked before anything is drawn

  if (a.panels) {
    Figure figure({.title = a.title,
                   .columns = y_columns.size() == 1 ? 1 : 2,
                   .panel_width = a.width.value_or(560),
                   .panel_height = a.height.value_or(360)});
    for (const std::string& c : y_columns) {
      LineChartOptions o = chart_options(a, x_column, log);
      o.title = c;
      figure.add(LineChart(o).add_series(c, x, log.column(c)));
    }
    figure.save_png(a.out);
  } else {
    LineChartOptions o = chart_options(a, x_column, log);
    o.title = a.title;
    if (y_columns.size() == 1) o.y_label = y_columns[0];
    o.width = a.width.value_or(800);
    o.height = a.height.value_or(500);
    LineChart chart(o);
    for (const std::string& c : y_columns) chart.add_series(c, x, log.column(c));
    chart.save_png(a.out);
  }
  std::cout << "moments-plot: wrote " << a.out << " (" << y_columns.size() << " series, " << log.rows() << " rows)\n";
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  for (int i = 1; i < argc; ++i)
    if (std::string(argv[i]) == "--help" || std::string(argv[i]) == "-h") {
      std::cout << kUsage;
      return 0;
    }
  try {
    return run(parse_arguments(argc, argv));
  } catch (const UsageError& e) {
    std::cerr << "moments-plot: " << e.message << "\n" << kUsage;
    return 2;
  } catch (const std::exception& e) {  // PlotError, and anything unexpected (out of memory)
    std::cerr << "moments-plot: " << e.what() << "\n";
    return 1;
  }
}
