// report.hpp — a static HTML report of one or more training logs: a summary
// table with one row per run, every chart as a PNG, and a table of every column.
// moments-plot --report DIR LOG.csv... writes it (moments_plot.cpp); this file
// builds it in memory and touches no file, so the caller decides how it is
// written (moments-plot: into DIR, each file atomically, index.html last).
//
//   std::vector<CsvLog> logs = {read_csv("adam.csv"), read_csv("sgd.csv")};
//   Report report = build_report(logs, {.title = "Adam against SGD"});
//   for (const ReportFile& f : report.files) ...   // write f.bytes to DIR/f.name
//   ... then report.html to DIR/index.html
//
// WHAT IT SHOWS, from the column names alone (a column the monitor gains later
// appears without a change here):
//   x        "step" when the log has it, else its first column.
//   Summary  per run: the rows and the steps they cover; for a "loss" column the
//            final and best values (with the step of the best) and how many are
//            NaN/inf; "smoothed_loss"'s final value; the count of 1s of every flag
//            column (a top-level column whose values are all 0 or 1: the monitor's
//            loss_spike and nonfinite), with the first steps flagged; the state
//            bytes (the sum of the "bytes.*" columns in the last row); the mean
//            "step_ms"; a torn last line the reader ignored.
//   Charts   one line chart per top-level column (no '.'), a "smoothed_NAME"
//            column drawn in NAME's chart, flags left to the table; one chart
//            per family of dotted columns (what comes before the first '.':
//            "lr.0", "lr.1" -> "lr"; "state.exp_avg.max_abs" -> "state"), except
//            per-parameter families: a column PREFIX.P where P is a parameter
//            (a name that follows "grad_norm." in the log, as the monitor writes
//            them) belongs to the family PREFIX ("update_ratio", "adam.m_norm"),
//            drawn as a heat map (parameters x steps), one per run, or as a line
//            chart when there is one parameter. Several runs share each line
//            chart, one series per run and column. A y axis (or colour scale) is
//            logarithmic when every finite value is positive and they span more
//            than two decades.
//   Columns  per run, every column's last, minimum and maximum value and its count
//            of NaN/inf, in a <details> block.
// The HTML has no script and no external resource: inline CSS, images by their
// file names. Every string from a log (column names, file names) is escaped.
// File names are made of [A-Za-z0-9_-] from the run and family names, unique
// within the report, never "index.html".
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "csv_log.hpp"

namespace moments::plots {

struct ReportOptions {
  std::string title{};      // default: "moments report: " and the logs' names
  double smoothing = 0.0;   // of the line charts, as LineChartOptions::smoothing
};

struct ReportFile {
  std::string name;            // a file name in the report's folder (no '/')
  std::vector<uint8_t> bytes;  // a PNG
};

struct Report {
  std::string html;               // index.html
  std::vector<ReportFile> files;  // the charts it shows, by name
};

// Logs are named by their CsvLog::source (the path given to read_csv). Throws
// PlotError for no logs, or for a chart that cannot be drawn (naming the log).
Report build_report(const std::vector<CsvLog>& logs, const ReportOptions& options = {});

// Text made safe inside HTML elements and attribute values: & < > " ' escaped.
std::string html_escape(std::string_view text);

// A file-name stem from any text: runs of characters other than [A-Za-z0-9_-]
// become one '_', no leading '_' or '-', at most 60 bytes; "run" if nothing is left.
std::string file_stem(std::string_view text);

}  // namespace moments::plots
