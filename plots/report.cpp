// report.cpp — the static HTML report of training logs (see report.hpp): which
// columns make which chart, the summary and column tables, the page itself.
#include "report.hpp"

#include <algorithm>
#include <cmath>
#include <set>

#include "heatmap_chart.hpp"
#include "line_chart.hpp"
#include "plot_error.hpp"
#include "png_io.hpp"
#include "ticks.hpp"

namespace moments::plots {

namespace {

// The page's only style, inline: no external resource.
const char* kStyle =
    "body{font-family:'DejaVu Sans',Verdana,sans-serif;margin:2em;color:#222;max-width:1700px}"
    "table{border-collapse:collapse;margin:0.5em 0 1.5em}"
    "th,td{border:1px solid #ccc;padding:0.25em 0.6em;text-align:right}"
    "th{background:#f2f2f2}td.name,th.name{text-align:left}"
    "figure{display:inline-block;margin:0 1em 1.5em 0;vertical-align:top}"
    "img{max-width:100%;height:auto;border:1px solid #eee}"
    "figcaption{font-size:0.9em;color:#555}"
    "details{margin:0.3em 0}summary{cursor:pointer}";

bool ends_with(const std::string& text, const std::string& tail) {
  return text.size() >= tail.size() && text.compare(text.size() - tail.size(), tail.size(), tail) == 0;
}

std::string number(double value) { return format_number(value, 4); }

// A top-level column of 0s and 1s (NaN allowed, at least one value): a flag, counted, not drawn.
bool is_flag(const std::vector<double>& values) {
  bool any = false;
  for (double v : values) {
    if (std::isnan(v)) continue;
    if (v != 0.0 && v != 1.0) return false;
    any = true;
  }
  return any;
}

// A run: one log, its x column and the parameters its per-parameter columns name.
struct Run {
  const CsvLog* log = nullptr;
  std::string stem;                 // for file names
  std::string x;                    // the x column
  std::vector<std::string> params;  // what follows "grad_norm." in its columns
};

// Where a column is drawn: the chart's key, whether it is a per-parameter
// family, and the column's name within the chart (its series or row).
struct Place {
  std::string key;
  bool per_parameter = false;
  std::string member;
};

Place place_of(const Run& run, const std::string& column) {
  const std::string* best = nullptr;  // the longest parameter name that ends the column after a '.'
  for (const std::string& p : run.params)
    if (column.size() > p.size() + 1 && ends_with(column, "." + p) && (!best || p.size() > best->size())) best = &p;
  if (best) return {column.substr(0, column.size() - best->size() - 1), true, *best};
  size_t dot = column.find('.');
  if (dot != std::string::npos) return {column.substr(0, dot), false, column.substr(dot + 1)};
  const std::string smoothed = "smoothed_";
  if (column.rfind(smoothed, 0) == 0 && run.log->has_column(column.substr(smoothed.size())))
    return {column.substr(smoothed.size()), false, column};
  return {column, false, column};
}

// One chart of the report: its columns, over every run, in the order first seen.
struct ChartSpec {
  std::string key;
  bool per_parameter = false;
  std::vector<std::string> columns;
};

// Log when every finite value is positive and they span more than two decades.
Scale auto_scale(const std::vector<const std::vector<double>*>& series) {
  double lo = INFINITY, hi = -INFINITY;
  for (const auto* values : series)
    for (double v : *values) {
      if (!std::isfinite(v)) continue;
      if (v <= 0) return Scale::linear;
      lo = std::min(lo, v), hi = std::max(hi, v);
    }
  return lo < hi && hi > 100 * lo ? Scale::log : Scale::linear;
}

// File names unique within the report (index.html is never one: every name ends in .png).
struct Names {
  std::set<std::string> taken;
  std::string unique(const std::string& stem) {
    std::string name = stem + ".png";
    for (int n = 2; !taken.insert(name).second; ++n) name = stem + "-" + std::to_string(n) + ".png";
    return name;
  }
};

struct Drawn {
  std::string file, caption;
  int width = 0, height = 0;
};

Drawn add_png(Report& report, Names& names, const std::string& stem, const Canvas& canvas, std::string caption) {
  Drawn drawn{names.unique(stem), std::move(caption), canvas.width(), canvas.height()};
  report.files.push_back({drawn.file, encode_png(canvas)});
  return drawn;
}

std::vector<ChartSpec> chart_specs(const std::vector<Run>& runs, std::set<std::string>& flags) {
  // A flag is a top-level column that is 0/1 in every run that has it.
  std::set<std::string> not_flags;
  for (const Run& run : runs)
    for (size_t c = 0; c < run.log->columns.size(); ++c) {
      const std::string& name = run.log->columns[c];
      if (name.find('.') != std::string::npos || name == run.x) continue;
      (is_flag(run.log->values[c]) ? flags : not_flags).insert(name);
    }
  for (const std::string& name : not_flags) flags.erase(name);
  std::vector<ChartSpec> specs;
  for (const Run& run : runs)
    for (const std::string& column : run.log->columns) {
      if (column == run.x || flags.count(column)) continue;
      Place place = place_of(run, column);
      auto spec = std::find_if(specs.begin(), specs.end(), [&](const ChartSpec& s) {
        return s.key == place.key && s.per_parameter == place.per_parameter;
      });
      if (spec == specs.end()) spec = specs.insert(specs.end(), ChartSpec{place.key, place.per_parameter, {}});
      if (std::find(spec->columns.begin(), spec->columns.end(), column) == spec->columns.end())
        spec->columns.push_back(column);
    }
  return specs;
}

// Several runs' columns of one chart, overlaid.
Drawn draw_lines(Report& report, Names& names, const ChartSpec& spec, const std::vector<Run>& runs,
                 const ReportOptions& options) {
  LineChartOptions o;
  o.title = spec.key + (spec.per_parameter ? " (per parameter)" : "");
  o.x_label = runs[0].x;
  if (spec.columns.size() == 1) o.y_label = spec.columns[0];
  o.smoothing = options.smoothing;
  if (spec.key == "bytes") o.y_format = NumberFormat::bytes;  // the monitor's state bytes: KiB, MiB
  LineChart chart(o);
  std::vector<const std::vector<double>*> all;
  for (const Run& run : runs)
    for (const std::string& column : spec.columns) {
      if (!run.log->has_column(column)) continue;
      std::string name = runs.size() == 1 ? column
                         : spec.columns.size() == 1 ? run.log->source
                                                    : run.log->source + ": " + column;
      chart.add_series(name, run.log->column(run.x), run.log->column(column));
      all.push_back(&run.log->column(column));
    }
  chart.options.y_scale = auto_scale(all);
  std::string caption = spec.key + (spec.columns.size() > 1 ? ": " + std::to_string(spec.columns.size()) + " columns" : "");
  return add_png(report, names, file_stem(spec.key + (spec.per_parameter ? "-per-parameter" : "")), chart.render(),
                 caption);
}

// One run's per-parameter family as a heat map: one row per parameter.
Drawn draw_heatmap(Report& report, Names& names, const ChartSpec& spec, const Run& run, bool several_runs) {
  HeatmapChart chart({.title = spec.key + (several_runs ? " - " + run.log->source : std::string()),
                      .x_label = run.x,
                      .z_label = spec.key});
  // A row whose step is missing (NaN) has no column in a heat map: it is left out.
  const std::vector<double>& x = run.log->column(run.x);
  auto finite_x = [&](const std::vector<double>& values) {
    std::vector<double> kept;
    for (size_t i = 0; i < x.size(); ++i)
      if (std::isfinite(x[i])) kept.push_back(values[i]);
    return kept;
  };
  std::vector<const std::vector<double>*> all;
  try {
    chart.set_steps(finite_x(x));
    for (const std::string& column : spec.columns)
      if (run.log->has_column(column)) {
        chart.add_row(place_of(run, column).member, finite_x(run.log->column(column)));
        all.push_back(&run.log->column(column));
      }
  } catch (const PlotError& e) {
    throw PlotError(run.log->source + ": " + e.what());
  }
  chart.options.z_scale = auto_scale(all) == Scale::log ? Scale::log : Scale::linear;
  std::string stem = file_stem(spec.key) + "-per-parameter" + (several_runs ? "-" + run.stem : std::string());
  return add_png(report, names, stem, chart.render(),
                 spec.key + " per parameter" + (several_runs ? ", " + run.log->source : std::string()) + ": " +
                     std::to_string(chart.rows()) + " parameters");
}

// The summary table: one row per run; a column for what at least one run has.
void summary_table(std::string& html, const std::vector<Run>& runs, const std::set<std::string>& flag_set) {
  auto any = [&](auto has) { return std::any_of(runs.begin(), runs.end(), has); };
  auto has_column = [&](const char* name) { return any([&](const Run& r) { return r.log->has_column(name); }); };
  auto bytes_columns = [](const CsvLog& log) {
    std::vector<const std::vector<double>*> out;
    for (size_t c = 0; c < log.columns.size(); ++c)
      if (log.columns[c].rfind("bytes.", 0) == 0) out.push_back(&log.values[c]);
    return out;
  };
  const bool loss = has_column("loss"), smoothed = has_column("smoothed_loss"), step_ms = has_column("step_ms");
  const bool bytes = any([&](const Run& r) { return !bytes_columns(*r.log).empty(); });
  const bool torn = any([](const Run& r) { return r.log->torn_line != 0; });
  std::vector<std::string> flags;  // in the order of the first log that has them
  for (const Run& run : runs)
    for (const std::string& c : run.log->columns)
      if (flag_set.count(c) && std::find(flags.begin(), flags.end(), c) == flags.end()) flags.push_back(c);

  html += "<table>\n<tr><th class=\"name\">run</th><th>rows</th><th>steps</th>";
  if (loss) html += "<th>final loss</th><th>best loss (step)</th><th>loss NaN/inf</th>";
  if (smoothed) html += "<th>final smoothed_loss</th>";
  for (const std::string& f : flags) html += "<th>" + html_escape(f) + " (first steps)</th>";
  if (bytes) html += "<th>state bytes</th>";
  if (step_ms) html += "<th>mean step_ms</th>";
  if (torn) html += "<th class=\"name\">note</th>";
  html += "</tr>\n";
  for (const Run& run : runs) {
    const CsvLog& log = *run.log;
    const std::vector<double>& x = log.column(run.x);
    auto cell = [&](const std::string& text) { html += "<td>" + text + "</td>"; };
    html += "<tr><td class=\"name\">" + html_escape(log.source) + "</td>";
    cell(std::to_string(log.rows()));
    cell(html_escape(run.x) + " " + number(x.front()) + " &ndash; " + number(x.back()));
    if (loss) {
      if (log.has_column("loss")) {
        const std::vector<double>& l = log.column("loss");
        size_t best = l.size(), bad = 0;
        for (size_t i = 0; i < l.size(); ++i) {
          if (!std::isfinite(l[i])) ++bad;
          else if (best == l.size() || l[i] < l[best]) best = i;
        }
        cell(number(l.back()));
        cell(best == l.size() ? "&ndash;" : number(l[best]) + " (" + number(x[best]) + ")");
        cell(std::to_string(bad));
      } else {
        cell(""), cell(""), cell("");
      }
    }
    if (smoothed) cell(log.has_column("smoothed_loss") ? number(log.column("smoothed_loss").back()) : "");
    for (const std::string& f : flags) {
      if (!log.has_column(f)) {
        cell("");
        continue;
      }
      const std::vector<double>& v = log.column(f);
      std::string steps;
      size_t count = 0;
      for (size_t i = 0; i < v.size(); ++i)
        if (v[i] == 1.0 && ++count <= 5) steps += (count > 1 ? ", " : "") + number(x[i]);
      if (count > 5) steps += ", &hellip;";
      cell(std::to_string(count) + (count ? " (" + steps + ")" : ""));
    }
    if (bytes) {
      double total = 0;
      for (const auto* values : bytes_columns(log)) total += values->back();
      cell(bytes_columns(log).empty() ? "" : html_escape(format_bytes(total)));
    }
    if (step_ms) {
      double sum = 0;
      size_t n = 0;
      if (log.has_column("step_ms"))
        for (double v : log.column("step_ms"))
          if (std::isfinite(v)) sum += v, ++n;
      cell(n ? number(sum / static_cast<double>(n)) : "&ndash;");
    }
    if (torn)
      html += "<td class=\"name\">" +
              (log.torn_line ? "line " + std::to_string(log.torn_line) + " ignored: no line break (cut short)"
                             : std::string()) +
              "</td>";
    html += "</tr>\n";
  }
  html += "</table>\n";
}

// Every column of a run: last, minimum, maximum, NaN/inf.
void columns_table(std::string& html, const Run& run) {
  const CsvLog& log = *run.log;
  html += "<details><summary>" + html_escape(log.source) + ": " + std::to_string(log.columns.size()) +
          " columns</summary>\n<table>\n<tr><th class=\"name\">column</th><th>last</th><th>min</th><th>max</th>"
          "<th>NaN/inf</th></tr>\n";
  for (size_t c = 0; c < log.columns.size(); ++c) {
    double lo = INFINITY, hi = -INFINITY;
    size_t bad = 0;
    for (double v : log.values[c])
      if (std::isfinite(v)) lo = std::min(lo, v), hi = std::max(hi, v);
      else ++bad;
    bool none = bad == log.rows();
    html += "<tr><td class=\"name\">" + html_escape(log.columns[c]) + "</td><td>" + number(log.values[c].back()) +
            "</td><td>" + (none ? "&ndash;" : number(lo)) + "</td><td>" + (none ? "&ndash;" : number(hi)) +
            "</td><td>" + std::to_string(bad) + "</td></tr>\n";
  }
  html += "</table>\n</details>\n";
}

}  // namespace

std::string html_escape(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&#39;"; break;
      default:
        // Control bytes have no place in a page: shown as the replacement character.
        if ((static_cast<unsigned char>(c) < 0x20 && c != '\t') || c == 0x7f) out += "&#xFFFD;";
        else out += c;
    }
  }
  return out;
}

std::string file_stem(std::string_view text) {
  std::string stem;
  for (char c : text) {
    bool keep = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
    if (keep) stem += c;
    else if (!stem.empty() && stem.back() != '_') stem += '_';
    if (stem.size() >= 60) break;
  }
  while (!stem.empty() && (stem.back() == '_' || stem.back() == '-')) stem.pop_back();
  size_t start = stem.find_first_not_of("_-");
  stem = start == std::string::npos ? std::string() : stem.substr(start);
  return stem.empty() ? "run" : stem;
}

Report build_report(const std::vector<CsvLog>& logs, const ReportOptions& options) {
  if (logs.empty()) throw PlotError("report: no logs given");
  std::vector<Run> runs;
  for (const CsvLog& log : logs) {
    if (log.columns.empty() || log.rows() == 0) throw PlotError(log.source + ": no data rows after the header");
    Run run{&log, "", log.has_column("step") ? "step" : log.columns[0], {}};
    std::string base = log.source.substr(log.source.find_last_of('/') + 1);
    if (ends_with(base, ".csv")) base.resize(base.size() - 4);
    run.stem = file_stem(base);
    for (const std::string& c : log.columns)
      if (c.rfind("grad_norm.", 0) == 0 && c.size() > 10) run.params.push_back(c.substr(10));
    runs.push_back(std::move(run));
  }
  {  // run stems are unique too, so heat maps of two "run.csv" from different folders keep apart
    Names stems;
    for (Run& run : runs) {
      std::string name = stems.unique(run.stem);
      run.stem = name.substr(0, name.size() - 4);
    }
  }

  Report report;
  Names names;
  std::set<std::string> flags;
  std::vector<Drawn> charts;
  for (const ChartSpec& spec : chart_specs(runs, flags)) {
    try {
      if (!spec.per_parameter || spec.columns.size() == 1) {
        charts.push_back(draw_lines(report, names, spec, runs, options));
        continue;
      }
      for (const Run& run : runs)
        if (std::any_of(spec.columns.begin(), spec.columns.end(), [&](auto& c) { return run.log->has_column(c); }))
          charts.push_back(draw_heatmap(report, names, spec, run, runs.size() > 1));
    } catch (const PlotError& e) {
      throw PlotError("report: the chart of " + quoted(spec.key) + " cannot be drawn: " + e.what());
    }
  }

  std::string title = options.title;
  if (title.empty()) {
    title = "moments report:";
    for (size_t i = 0; i < logs.size(); ++i) title += (i ? ", " : " ") + logs[i].source;
  }
  std::string& html = report.html;
  html = "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>" + html_escape(title) +
         "</title>\n<style>" + kStyle + "</style>\n</head>\n<body>\n<h1>" + html_escape(title) + "</h1>\n";
  html += "<p>" + std::to_string(logs.size()) + (logs.size() == 1 ? " run, " : " runs, ") +
          std::to_string(charts.size()) + (charts.size() == 1 ? " chart" : " charts") + ", drawn by moments-plot.</p>\n<h2>Summary</h2>\n";
  summary_table(html, runs, flags);
  html += "<h2>Charts</h2>\n";
  for (const Drawn& d : charts)
    html += "<figure><a href=\"" + html_escape(d.file) + "\"><img src=\"" + html_escape(d.file) + "\" width=\"" +
            std::to_string(d.width) + "\" height=\"" + std::to_string(d.height) + "\" alt=\"" +
            html_escape(d.caption) + "\"></a><figcaption>" + html_escape(d.caption) + "</figcaption></figure>\n";
  html += "<h2>Columns</h2>\n";
  for (const Run& run : runs) columns_table(html, run);
  html += "</body>\n</html>\n";
  return report;
}

}  // namespace moments::plots
