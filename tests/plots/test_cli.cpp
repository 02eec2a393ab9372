// test_cli.cpp — the moments-plot command, run as a user would: its error cases
// give a clear message and exit status 1 (2 for usage), never a crash.
// Run: meson test -C build --suite plots
// (meson passes the path of the program in MOMENTS_PLOT and the fixtures' folder
// in PLOTS_TEST_DATA; the output goes to the current directory, the build folder.)
#include <stb/stb_image.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>

#include "plots_testing.hpp"

using namespace plots_testing;

namespace {

std::string fixture(const std::string& name) { return data_dir() + "/fixtures/" + name; }

// Writes `log` to NAME.csv in the current directory and draws it to NAME.png.
Outcome run_on(const std::string& name, const std::string& log) {
  write_text(name + ".csv", log);
  return run({name + ".csv", "--out", name + ".png"});
}


}  // namespace

TEST_CASE("a good log becomes a PNG of the requested size") {
  std::remove("cli_chart.png");
  Outcome outcome =
      run({fixture("good.csv"), "--out", "cli_chart.png", "--log-y", "--smooth", "0.6", "--title", "run 1"});
  INFO(outcome.output);
  REQUIRE(outcome.status == 0);
  int w = 0, h = 0, channels = 0;
  uint8_t* pixels = stbi_load("cli_chart.png", &w, &h, &channels, 3);
  REQUIRE(pixels != nullptr);
  stbi_image_free(pixels);
  CHECK(w == 800);
  CHECK(h == 500);

  outcome = run({fixture("good.csv"), "--out=cli_panels.png", "--y", "loss,lr", "--panels", "--width", "400"});
  INFO(outcome.output);
  CHECK(outcome.status == 0);
  CHECK(outcome.output.find("2 series") != std::string::npos);
  CHECK(run({"--help"}).status == 0);
}

TEST_CASE("usage errors exit with 2 and show the usage") {
  check_fails({}, 2, {"no log file given", "usage: moments-plot"});
  check_fails({fixture("good.csv")}, 2, {"--out chart.png is required"});
  check_fails({fixture("good.csv"), "--out", "x.png", "--bogus"}, 2, {"unknown option --bogus"});
  check_fails({fixture("good.csv"), "--out", "x.png", "--smooth", "1.5"}, 2, {"--smooth must be in [0, 1)"});
  check_fails({fixture("good.csv"), "--out", "x.png", "--smooth", "lots"}, 2,
              {"--smooth expects a number, got \"lots\""});
  check_fails({fixture("good.csv"), "--out"}, 2, {"--out needs a value"});
}

TEST_CASE("problems with the log exit with 1 and name the file, the line, the column") {
  check_fails({fixture("missing.csv"), "--out", "x.png"}, 1, {"cannot open", "missing.csv"});
  check_fails({fixture("good.csv"), "--out", "x.png", "--y", "loss,nope"}, 1,
              {"good.csv: no column \"nope\" (columns: step, loss, lr)"});
  check_fails({fixture("good.csv"), "--out", "x.png", "--x", "time"}, 1, {"no column \"time\""});
  check_fails({fixture("malformed.csv"), "--out", "x.png"}, 1,
              {"malformed.csv:4: expected 3 fields (step, loss, lr), found 2"});
  check_fails({fixture("bad_number.csv"), "--out", "x.png"}, 1,
              {"bad_number.csv:3: field 2 (\"loss\") is not a number: \"0.9x\""});
  check_fails({fixture("empty.csv"), "--out", "x.png"}, 1, {"empty.csv: empty file, expected a header row"});
  check_fails({fixture("header_only.csv"), "--out", "x.png"}, 1, {"header_only.csv: no data rows after the header"});
  check_fails({fixture("good.csv"), "--out", "/nonexistent-dir/x.png"}, 1, {"cannot write /nonexistent-dir/x.png"});
}

TEST_CASE("the CSV reader, directly: blanks, missing values, CRLF, quoted names") {
  CsvLog log = parse_csv("\xEF\xBB\xBF\"step\", loss\r\n0, 1.5\r\n\r\n10,\r\n20, nan\r\n", "log.csv");
  CHECK(log.columns == std::vector<std::string>{"step", "loss"});
  CHECK(log.rows() == 3);
  CHECK(log.column("step") == std::vector<double>{0, 10, 20});
  CHECK(std::isnan(log.column("loss")[1]));
  CHECK(log.lines == std::vector<int>{2, 4, 5});
  check_error([] { parse_csv("a,a\n1,2\n", "log.csv"); }, "log.csv:1: column \"a\" appears twice");
  check_error([] { parse_csv("a,\n1,2\n", "log.csv"); }, "log.csv:1: column 2 has no name");
}

// Issue 15, item 4: a log whose writer was interrupted ends in a line with no
// line break. That line is ignored (never parsed: "3,0." must not become 0) and
// the reader says so; a malformed number anywhere else is an error.
TEST_CASE("a torn last row is ignored and reported; everything before it is read") {
  for (const char* torn : {"3", "3,0.", "3,0.7", "3,0.7\r"}) {
    INFO("torn last line: ", torn);
    CsvLog log = parse_csv(std::string("step,loss\n1,0.5\n2,0.6\n") + torn, "log.csv");
    CHECK(log.rows() == 2);
    CHECK(log.column("loss") == std::vector<double>{0.5, 0.6});
    CHECK(log.torn_line == 4);
  }
  CsvLog complete = parse_csv("step,loss\n1,0.5\n3,0.\n", "log.csv");  // "0." on a complete line is a number
  CHECK(complete.column("loss") == std::vector<double>{0.5, 0.0});
  CHECK(complete.torn_line == 0);
  CHECK(parse_csv("step,loss\n1,0.5\n  ", "log.csv").torn_line == 0);  // a blank tail loses nothing
  check_error([] { parse_csv("step,loss\n1,0.5", "log.csv"); },
              "log.csv: no data rows after the header (line 2, the last, has no line break");
  check_error([] { parse_csv("step,loss\n1,0.\n2,0.5x\n3,0.4\n", "log.csv"); },
              "log.csv:3: field 2 (\"loss\") is not a number: \"0.5x\"");
  check_error([] { parse_csv("step,loss\n1,+-5\n", "log.csv"); }, "log.csv:2: field 2 (\"loss\") is not a number: \"+-5\"");
  check_error([] { parse_csv("step,loss\n1,1e999\n", "log.csv"); }, "is out of range for a double: \"1e999\"");

  // The command draws the rows before it and warns, on stderr.
  Outcome outcome = run_on("cli_torn", "step,loss\n1,0.5\n2,0.4\n3");
  INFO("output: ", outcome.output);
  CHECK(outcome.status == 0);
  CHECK(outcome.output.find("warning: cli_torn.csv:4: the last line has no line break") != std::string::npos);
  CHECK(outcome.output.find("(1 series, 2 rows)") != std::string::npos);
}

// Issue 15, item 8: what an error quotes from a file is escaped and cut, and
// RFC 4180 quoting is understood.
TEST_CASE("errors quote file content escaped and cut short; RFC 4180 quoted fields") {
  CHECK(quoted("loss") == "\"loss\"");
  CHECK(quoted("a\x1b[31mb") == "\"a\\x1b[31mb\"");
  CHECK(quoted(std::string("a\0b", 3)) == "\"a\\0b\"");
  CHECK(quoted("tab\there\nnew \"q\" back\\") == "\"tab\\there\\nnew \\\"q\\\" back\\\\\"");
  CHECK(quoted("caf\xC3\xA9") == "\"caf\xC3\xA9\"");                 // UTF-8 passes
  CHECK(quoted("\xC2\x9B" "2J \xFF") == "\"\\xc2\\x9b2J \\xff\"");  // C1 controls and stray bytes do not
  std::string long_text(10'000'000, 'x');
  std::string cut = quoted(long_text);
  CHECK(cut.size() < 100);
  CHECK(cut.find("\xE2\x80\xA6\" (10000000 bytes)") != std::string::npos);
  // Found by the long fuzzer run: the cut counts what is printed, so escapes
  // (four characters a byte) do not make a field four times as long.
  std::string controls = quoted(std::string(100, '\x01'));
  CHECK(controls.size() < 100);
  CHECK(controls.find("\\x01\\x01\xE2\x80\xA6\" (100 bytes)") != std::string::npos);

  auto message = [](const std::string& csv) { return error_of([&] { parse_csv(csv, "log.csv"); }); };
  std::string escape = message("step,loss\n1,\x1b]0;pwned\x07\n");
  CHECK(escape.find('\x1b') == std::string::npos);
  CHECK(escape.find("\"\\x1b]0;pwned\\x07\"") != std::string::npos);
  std::string nul = message(std::string("step,loss\n1,ab\0cd\n", 19));
  CHECK(nul.find("\"ab\\0cd\"") != std::string::npos);
  std::string huge = message("step,loss\n1," + long_text + "\n");
  CHECK(huge.size() < 200);
  CHECK(huge.find("(10000000 bytes)") != std::string::npos);

  // Found by the fuzzer: a long name whose escapes made up for its cut was listed bare.
  std::string listed = message("s,2," + std::string("0.0\xe0\xe8\t`") + std::string(128, '\0') + "\n .1\n");
  CHECK(listed.find("expected 3 fields (s, 2, \"0.0\\xe0\\xe8\\t`\\0") != std::string::npos);
  CHECK(std::none_of(listed.begin(), listed.end(), [](char c) { return static_cast<unsigned char>(c) < 0x20; }));

  CsvLog log = parse_csv("step,\"loss, smoothed\",\"say \"\"hi\"\"\"\n1,\"0.5\",2\n", "log.csv");
  CHECK(log.columns == std::vector<std::string>{"step", "loss, smoothed", "say \"hi\""});
  CHECK(log.column("loss, smoothed") == std::vector<double>{0.5});
  check_error([&] { log.column("nope"); }, "no column \"nope\" (columns: step, \"loss, smoothed\", \"say \\\"hi\\\"\")");
  check_error([] { parse_csv("step,\"loss\n1,2\n", "log.csv"); },
              "log.csv:1: field 2: a quoted field has no closing quote on its line");
  check_error([] { parse_csv("step,\"lo\"ss\n1,2\n", "log.csv"); },
              "log.csv:1: field 2: text after the closing quote: \"ss\"");

  // Through the command: nothing raw reaches the terminal.
  Outcome outcome = run_on("cli_escape", "step,loss\n1,\x1b[2J\n");
  INFO("output: ", outcome.output);
  CHECK(outcome.status == 1);
  CHECK(outcome.output.find('\x1b') == std::string::npos);
  CHECK(outcome.output.find("cli_escape.csv:2: field 2 (\"loss\") is not a number: \"\\x1b[2J\"") != std::string::npos);
}

TEST_CASE("moments-plot --heatmap and --small-multiples: per-layer charts, clear errors") {
  const std::string log =
      "step,loss,update_ratio.fc1.weight,update_ratio.fc1.bias\n1,2.0,0.01,0.1\n2,1.5,0.001,nan\n";
  run_on("per_layer", log);  // writes per_layer.csv (and a line chart of it)
  Outcome heatmap = run({"per_layer.csv", "--out", "per_layer_heatmap.png", "--heatmap", "update_ratio.*"});
  INFO("output: ", heatmap.output);
  CHECK(heatmap.status == 0);
  CHECK(heatmap.output.find("wrote per_layer_heatmap.png (2 rows, 2 steps)") != std::string::npos);
  Outcome panels = run({"per_layer.csv", "--out", "per_layer_panels.png", "--small-multiples", "update_ratio.*"});
  CHECK(panels.status == 0);
  CHECK(panels.output.find("(2 panels, 2 steps)") != std::string::npos);
  int w = 0, h = 0, n = 0;
  unsigned char* pixels = stbi_load("per_layer_heatmap.png", &w, &h, &n, 4);
  REQUIRE(pixels != nullptr);
  stbi_image_free(pixels);
  CHECK(w == 800);
  check_fails({"per_layer.csv", "--out", "x.png", "--heatmap", "adam.*"}, 1, {"no column matches \"adam.*\"", "update_ratio.fc1.bias"});
  check_fails({"per_layer.csv", "--out", "x.png", "--heatmap", ""}, 2, {"--heatmap has an empty PATTERN"});
  check_fails({"per_layer.csv", "--out", "x.png", "--heatmap", "a*", "--y", "loss"}, 2, {"drop --y and --panels"});
  check_fails({"per_layer.csv", "--out", "x.png", "--heatmap", "a*", "--small-multiples", "b*"}, 2, {"give one of them"});
  check_fails({"per_layer.csv", "--out", "x.png", "--linear-z"}, 2, {"--linear-z applies to --heatmap only"});
}
