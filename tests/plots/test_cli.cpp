// test_cli.cpp — the moments-plot command, run as a user would: its error cases
// give a clear message and exit status 1 (2 for usage), never a crash.
// Run: meson test -C build --suite plots
// (meson passes the path of the program in MOMENTS_PLOT and the fixtures' folder
// in PLOTS_TEST_DATA; the output goes to the current directory, the build folder.)
#include <stb/stb_image.h>
#include <sys/wait.h>

#include <cstdio>
#include <cstdlib>

#include "plots_testing.hpp"

using namespace plots_testing;

namespace {

struct Outcome {
  int status = -1;     // the exit status, or -1 if it did not exit normally (a crash)
  std::string output;  // stdout and stderr together
};

// Runs moments-plot with arguments (each quoted for the shell).
Outcome run(const std::vector<std::string>& args) {
  const char* program = std::getenv("MOMENTS_PLOT");
  REQUIRE_MESSAGE(program != nullptr, "MOMENTS_PLOT is not set (run the tests through meson test)");
  std::string command = std::string("'") + program + "'";
  for (const std::string& arg : args) command += " '" + arg + "'";
  command += " 2>&1";
  FILE* pipe = popen(command.c_str(), "r");
  REQUIRE(pipe != nullptr);
  Outcome outcome;
  char buffer[512];
  while (size_t n = std::fread(buffer, 1, sizeof buffer, pipe)) outcome.output.append(buffer, n);
  int status = pclose(pipe);
  outcome.status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return outcome;
}

std::string fixture(const std::string& name) { return data_dir() + "/fixtures/" + name; }

void check_fails(const std::vector<std::string>& args, int status, const std::vector<std::string>& pieces) {
  Outcome outcome = run(args);
  INFO("output: ", outcome.output);
  CHECK(outcome.status == status);
  CHECK(outcome.output.rfind("moments-plot: ", 0) == 0);
  for (const std::string& piece : pieces)
    CHECK_MESSAGE(outcome.output.find(piece) != std::string::npos, "missing '", piece, "'");
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
