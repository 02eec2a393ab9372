// test_ticks.cpp — nice ticks, log ticks, compact labels and scales, over many
// ranges: tiny, huge, negative, zero-width, a single point.
// Run: meson test -C build --suite plots
#include <cmath>
#include <limits>
#include <set>

#include "plots_testing.hpp"

using namespace plots_testing;

namespace {

std::vector<std::string> labels_of(const std::vector<Tick>& ticks, bool major_only = true) {
  std::vector<std::string> labels;
  for (const Tick& t : ticks)
    if (t.major || !major_only) labels.push_back(t.label);
  return labels;
}

// Reads a compact label back: "2.5k" → 2500, "-5e-3" → -0.005, "1.5 MiB" → 1572864.
double read_label(std::string label) {
  double unit = 1;
  const std::pair<const char*, double> units[] = {
      {" KiB", 1024.0}, {" MiB", 1048576.0}, {" GiB", 1073741824.0}, {" B", 1.0}};
  for (auto [suffix, size] : units) {
    std::string s(suffix);
    if (label.size() > s.size() && label.compare(label.size() - s.size(), s.size(), s) == 0) {
      label.resize(label.size() - s.size());
      unit = size;
      break;
    }
  }
  const std::string si = "kMGTP";
  if (!label.empty() && si.find(label.back()) != std::string::npos) {
    unit *= std::pow(1000.0, static_cast<double>(si.find(label.back()) + 1));
    label.pop_back();
  }
  return std::stod(label) * unit;
}

}  // namespace

TEST_CASE("exact decimals print exactly, compactly") {
  CHECK(format_decimal({0, 5}, false) == "0");
  CHECK(format_decimal({25, -2}, false) == "0.25");
  CHECK(format_decimal({3, -1}, false) == "0.3");
  CHECK(format_decimal({100, 0}, false) == "100");
  CHECK(format_decimal({1, 3}, false) == "1k");
  CHECK(format_decimal({15, 2}, false) == "1.5k");
  CHECK(format_decimal({12345, 0}, false) == "12.345k");
  CHECK(format_decimal({-25, 3}, false) == "-25k");
  CHECK(format_decimal({2, 6}, false) == "2M");
  CHECK(format_decimal({1, 15}, false) == "1P");
  CHECK(format_decimal({1, 18}, false) == "1e18");
  CHECK(format_decimal({25, 19}, false) == "2.5e20");
  CHECK(format_decimal({25, -4}, false) == "0.0025");
  CHECK(format_decimal({25, -4}, true) == "2.5e-3");
  CHECK(format_decimal({1, -2}, true) == "0.01");
  CHECK(format_decimal({-5, -1}, true) == "-0.5");
  CHECK(format_decimal({1, -12}, false) == "1e-12");  // never a long row of zeros
}

TEST_CASE("any double, rounded to 3 digits; byte counts in binary units") {
  CHECK(format_number(1234.5) == "1.23k");
  CHECK(format_number(999.9) == "1k");
  CHECK(format_number(0.0025) == "2.5e-3");
  CHECK(format_number(0.01) == "0.01");
  CHECK(format_number(-40) == "-40");
  CHECK(format_number(1e-10) == "1e-10");
  CHECK(format_number(0.1 + 0.2) == "0.3");
  CHECK(format_number(0) == "0");
  CHECK(format_number(std::nan("")) == "nan");
  CHECK(format_number(-std::numeric_limits<double>::infinity()) == "-inf");
  CHECK(format_bytes(0) == "0 B");
  CHECK(format_bytes(512) == "512 B");
  CHECK(format_bytes(1536) == "1.5 KiB");
  CHECK(format_bytes(4.2e6) == "4.01 MiB");
  CHECK(format_bytes(3.0 * (1 << 30)) == "3 GiB");
}

TEST_CASE("powers of ten are exact and decided by exact comparisons") {
  CHECK(pow10(0) == 1.0);
  CHECK(pow10(22) == 1e22);
  CHECK(pow10(-3) == 0.001);
  CHECK(floor_log10(1000) == 3);
  CHECK(floor_log10(999.999) == 2);
  CHECK(floor_log10(0.001) == -3);
  CHECK(floor_log10(0.00099999) == -4);
  CHECK(floor_log10(1e-300) == -300);
  CHECK(floor_log10(1.7e308) == 308);
  CHECK(floor_log10(5e-324) == -324);
}

TEST_CASE("nice ticks for ordinary ranges") {
  CHECK(labels_of(linear_ticks(0, 1, 6)) == std::vector<std::string>{"0", "0.2", "0.4", "0.6", "0.8", "1"});
  CHECK(labels_of(linear_ticks(0, 10000, 6)) == std::vector<std::string>{"0", "2k", "4k", "6k", "8k", "10k"});
  CHECK(labels_of(linear_ticks(-3, 3, 7)) == std::vector<std::string>{"-3", "-2", "-1", "0", "1", "2", "3"});
  CHECK(labels_of(linear_ticks(0, 0.003, 7)) ==
        std::vector<std::string>{"0", "5e-4", "1e-3", "1.5e-3", "2e-3", "2.5e-3", "3e-3"});
  CHECK(labels_of(linear_ticks(0.005, 0.02, 4)) == std::vector<std::string>{"0.005", "0.01", "0.015", "0.02"});
  CHECK(labels_of(linear_ticks(1.93, 2.41, 6)) == std::vector<std::string>{"2", "2.1", "2.2", "2.3", "2.4"});
  CHECK(labels_of(linear_ticks(0, 1e15, 6)) == std::vector<std::string>{"0", "200T", "400T", "600T", "800T", "1P"});
  CHECK(labels_of(linear_ticks(3, -3, 4)) == std::vector<std::string>{"-2", "0", "2"});  // given backwards
  auto tenth = linear_ticks(0, 0.3, 4);
  CHECK(tenth.back().label == "0.3");
  CHECK(tenth.back().value == 0.3);  // the double nearest 0.3, not 3 × 0.1
}

TEST_CASE("nice ticks for degenerate ranges: a single point, nothing, non-finite") {
  auto one = linear_ticks(5, 5, 6);
  REQUIRE(one.size() == 1);
  CHECK(one[0].value == 5);
  CHECK(one[0].label == "5");
  CHECK(linear_ticks(std::nan(""), 1, 5).empty());
  CHECK(linear_ticks(0, std::numeric_limits<double>::infinity(), 5).empty());
  auto narrow = linear_ticks(1e20, 1e20 + 1e5, 5);  // too narrow for its size to hold distinct doubles
  CHECK(!narrow.empty());
  auto full = linear_ticks(-1.7e308, 1.7e308, 5);  // the widest there is: no overflow
  CHECK(full.size() >= 2);
  for (const Tick& t : full) CHECK(std::isfinite(t.value));
}

TEST_CASE("nice ticks over many ranges keep their promises") {
  // Ranges from 1e-12 wide to 1e12 wide, around 0, positive, negative and far from 0.
  std::vector<std::pair<double, double>> ranges;
  for (int e = -12; e <= 12; e += 3)
    for (double width : {1.0, 1.7, 3.3, 7.9})
      for (double offset : {0.0, -0.5, 0.3, 123.0, -9e3})
        ranges.emplace_back(offset * std::pow(10.0, e), (offset + width) * std::pow(10.0, e));
  ranges.push_back({0.0, 1e-300});
  ranges.push_back({1e299, 1e300});
  for (auto [lo, hi] : ranges) {
    for (int most : {2, 3, 5, 8, 12}) {
      auto ticks = linear_ticks(lo, hi, most);
      INFO("range [", lo, ", ", hi, "], at most ", most);
      REQUIRE(!ticks.empty());
      CHECK(static_cast<int>(ticks.size()) <= most);
      std::set<std::string> labels;
      for (size_t i = 0; i < ticks.size(); ++i) {
        const Tick& t = ticks[i];
        double slack = 1e-9 * (hi - lo);
        CHECK(t.value >= lo - slack);
        CHECK(t.value <= hi + slack);
        CHECK(labels.insert(t.label).second);  // no two labels alike
        CHECK(read_label(t.label) == doctest::Approx(t.value).epsilon(1e-9).scale(hi - lo));
        if (i >= 2) {  // evenly spaced
          double step = ticks[1].value - ticks[0].value;
          CHECK(t.value - ticks[i - 1].value == doctest::Approx(step).epsilon(1e-6));
        }
      }
      if (ticks.size() >= 2) {  // the step is 1, 2 or 5 times a power of ten
        double step = ticks[1].value - ticks[0].value;
        double mantissa = step / pow10(floor_log10(step * 1.000001));  // the difference may fall just short
        bool nice = std::fabs(mantissa - 1) < 1e-6 || std::fabs(mantissa - 2) < 1e-6 || std::fabs(mantissa - 5) < 1e-6;
        CHECK_MESSAGE(nice, "step ", step);
      }
    }
  }
}

TEST_CASE("byte ticks use one binary unit for the axis") {
  CHECK(labels_of(linear_ticks(0, 1e6, 5, NumberFormat::bytes)) ==
        std::vector<std::string>{"0", "200 KiB", "400 KiB", "600 KiB", "800 KiB"});
  auto mib = linear_ticks(0, 8.4e6, 5, NumberFormat::bytes);
  CHECK(labels_of(mib) == std::vector<std::string>{"0", "2 MiB", "4 MiB", "6 MiB", "8 MiB"});
  CHECK(mib[1].value == 2.0 * 1048576);
  CHECK(labels_of(linear_ticks(512, 512, 5, NumberFormat::bytes)) == std::vector<std::string>{"512 B"});
}

TEST_CASE("log ticks: decades, every few decades when there are many, minor ticks between") {
  auto ticks = log_ticks(1e-3, 1e3, 10);
  CHECK(labels_of(ticks) == std::vector<std::string>{"1e-3", "0.01", "0.1", "1", "10", "100", "1k"});
  size_t minor = 0;
  for (const Tick& t : ticks) minor += t.major ? 0 : 1;
  CHECK(minor == 6 * 8);  // 2..9 in each of the 6 decades
  CHECK(labels_of(log_ticks(1e-10, 1e10, 6)) == std::vector<std::string>{"1e-8", "1e-4", "1", "10k", "100M"});
  CHECK(labels_of(log_ticks(0.3, 30, 8)) == std::vector<std::string>{"0.5", "1", "2", "5", "10", "20"});
  CHECK(labels_of(log_ticks(1.5, 6, 8)) == std::vector<std::string>{"2", "3", "4", "5", "6"});
  CHECK(labels_of(log_ticks(1.93, 2.41, 6)) == std::vector<std::string>{"2", "2.1", "2.2", "2.3", "2.4"});
  CHECK(labels_of(log_ticks(7, 7, 6)) == std::vector<std::string>{"7"});
}

TEST_CASE("log ticks of ranges that are not all positive are empty, never a crash") {
  CHECK(log_ticks(0, 10, 5).empty());
  CHECK(log_ticks(-1, 10, 5).empty());
  CHECK(log_ticks(-10, -1, 5).empty());
  CHECK(log_ticks(std::nan(""), 10, 5).empty());
}

TEST_CASE("scales map data to pixels") {
  ScaleMap linear(Scale::linear, -1, 3, 100, 500);
  CHECK(linear.to_pixel(-1) == 100);
  CHECK(linear.to_pixel(3) == 500);
  CHECK(linear.to_pixel(1) == 300);
  ScaleMap y(Scale::linear, 0, 10, 400, 0);  // a y axis grows down
  CHECK(y.to_pixel(10) == 0);
  ScaleMap log(Scale::log, 1, 100, 0, 200);
  CHECK(log.to_pixel(10) == doctest::Approx(100));
  CHECK(log.accepts(1e-300));
  CHECK(!log.accepts(0));
  CHECK(!log.accepts(-5));
  CHECK(!linear.accepts(std::nan("")));
}

// Issue 15, item 7: scales and ticks over ranges whose width overflows a double.
TEST_CASE("scales and ticks over ranges wider than the largest double") {
  const double big = std::numeric_limits<double>::max();
  ScaleMap y(Scale::linear, -big, big, 400, 0);
  CHECK(y.to_pixel(big) == doctest::Approx(0));
  CHECK(y.to_pixel(-big) == doctest::Approx(400));
  CHECK(y.to_pixel(0) == doctest::Approx(200));
  CHECK(y.to_pixel(1e308) == doctest::Approx(200 - 200 * (1e308 / big)));
  ScaleMap narrow(Scale::linear, -1, 3, 100, 500);  // ordinary ranges map as exactly as before
  CHECK(narrow.to_pixel(1) == 300);
  ScaleMap log(Scale::log, 1e-320, big, 0, 600);
  CHECK(std::isfinite(log.to_pixel(1.0)));
  CHECK(log.to_pixel(1.0) > 0);
  CHECK(log.to_pixel(1.0) < 600);
  for (auto [lo, hi] : {std::pair{-1.1e308, 1.1e308}, std::pair{-big, big}, std::pair{-big, 0.0}}) {
    INFO("[", lo, ", ", hi, "]");
    auto ticks = linear_ticks(lo, hi, 6);
    REQUIRE(ticks.size() >= 2);
    for (size_t i = 0; i < ticks.size(); ++i) {
      CHECK(std::isfinite(ticks[i].value));
      CHECK(ticks[i].value >= lo);
      CHECK(ticks[i].value <= hi);
      if (i > 0) CHECK(ticks[i].value > ticks[i - 1].value);
    }
  }
  for (auto [lo, hi] : {std::pair{1e-320, big}, std::pair{1e300, big}}) {
    INFO("log [", lo, ", ", hi, "]");
    auto ticks = log_ticks(lo, hi, 6);
    REQUIRE(ticks.size() >= 2);
    for (size_t i = 0; i < ticks.size(); ++i) {
      CHECK(std::isfinite(ticks[i].value));
      if (i > 0) CHECK(ticks[i].value > ticks[i - 1].value);
    }
  }
}
