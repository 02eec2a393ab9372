// moments_plot.cpp — the moments-plot command: a CSV training log in, a PNG
// chart out.
//
//   moments-plot LOG.csv --out chart.png [--x step] [--y col1,col2,...]
//                [--log-y] [--log-x] [--smooth 0.9] [--title TEXT] [--panels]
//                [--width PX] [--height PX]
//   moments-plot LOG.csv --out chart.png --heatmap 'update_ratio.*' [--linear-z] [--title TEXT]
//   moments-plot LOG.csv --out chart.png --small-multiples 'update_ratio.*' [--log-y|--linear-y]
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
//
// A log whose last line has no line break (its writer was interrupted) is drawn
// without that line: a warning on stderr and a note on the chart say so.
// Messages quote text from the log escaped and cut short (see plot_error.hpp).
//
// Exit status: 0 when the chart was written; 1 when the log or the output is
// at fault (missing file, unknown column, malformed row, empty log: the
// message names it); 2 for a usage error.
#include <charconv>
#include <cstdio>
#include <exception>
#include <iostream>
#include <optional>
#include <string>
#include <vector>

#include "plots.hpp"

using namespace moments::plots;

namespace {

const char* kUsage =
    "usage: moments-plot LOG.csv --out chart.png [--x COLUMN] [--y COL1,COL2,...]\n"
    "                    [--log-y] [--log-x] [--smooth WEIGHT] [--title TEXT] [--panels]\n"
    "                    [--width PX] [--height PX]\n"
    "       moments-plot LOG.csv --out chart.png --heatmap PATTERN [--linear-z] [--title TEXT]\n"
    "       moments-plot LOG.csv --out chart.png --small-multiples PATTERN [--linear-y] [--title TEXT]\n"
    "  PATTERN: a glob over column names, e.g. 'update_ratio.*'\n";

struct UsageError {
  std::string message;
};

struct Arguments {
  std::string log, out, x, title, heatmap, small_multiples;
  std::vector<std::string> y;
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
    throw UsageError{option + " expects a number, got " + quoted(text)};
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
    else if (arg.size() > 1 && arg[0] == '-')
      throw UsageError{"unknown option " + arg};
    else if (a.log.empty())
      a.log = arg;
    else
      throw UsageError{"one log at a time: got " + a.log + " and " + arg};
    // clang-format on
  }
  if (a.log.empty()) throw UsageError{"no log file given"};
  if (a.out.empty()) throw UsageError{"--out chart.png is required"};
  if (!(a.smooth >= 0.0 && a.smooth < 1.0)) throw UsageError{"--smooth must be in [0, 1), e.g. 0.9"};
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

int run(const Arguments& a) {
  CsvLog log = read_csv(a.log);
  if (log.torn_line)
    std::cerr << "moments-plot: warning: " << a.log << ":" << log.torn_line
              << ": the last line has no line break and was ignored (a row cut short as the log was written)\n";
  std::string x_column = !a.x.empty() ? a.x : log.has_column("step") ? "step" : log.columns[0];
  if (!a.heatmap.empty() || !a.small_multiples.empty()) return run_per_layer(a, log, x_column);
  const std::vector<double>& x = log.column(x_column);
  std::vector<std::string> y_columns = a.y;
  if (y_columns.empty())
    for (const std::string& c : log.columns)
      if (c != x_column) y_columns.push_back(c);
  if (y_columns.empty()) throw PlotError(a.log + ": no columns to draw besides " + quoted(x_column));
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
