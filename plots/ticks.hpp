// ticks.hpp — where the ticks of an axis go, what their labels say, and how data
// values map to pixels on a linear or a log10 scale.
//
// NICE TICKS sit at k × step, where step is 1, 2 or 5 times a power of ten:
// the smallest such step that gives at most max_count ticks inside [lo, hi].
// Each tick is built from an exact decimal (digits × 10^exponent) and its label
// is printed from that decimal, so a label reads 0.3, never 0.30000000000000004,
// and no locale or printf is involved.
//
// COMPACT LABELS: trailing zeros go, thousands take SI suffixes and very small
// numbers take an exponent:
//   0  0.25  1.5  800  1k  2.5k  20M  1e18     (linear axis)
//   0  5e-4  1e-3  1.5e-3                      (an axis whose largest tick is < 0.01)
//   1e-3  0.01  0.1  1  10  100  1k            (log axis decades)
// A byte axis picks one binary unit for all ticks: 0  256 KiB  512 KiB  768 KiB.
//
// LOG10 SCALE: ticks at whole decades (every 2nd or 3rd when there are many, with
// unlabelled ticks at 2..9 between decades when there are few); a range of less
// than about two decades gets 1-2-5 ticks (0.2 0.5 1 2 5), and a very narrow one
// (1.9 to 2.4) plain linear ticks, placed on the log scale.
#pragma once
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

namespace moments::plots {

enum class Scale { linear, log };
enum class NumberFormat { compact, bytes };  // how the ticks of a value axis are labelled

// digits × 10^exponent, exactly.
struct Decimal {
  int64_t digits = 0;
  int exponent = 0;
  double value() const;  // the nearest double (one rounding when |exponent| <= 22)
};

struct Tick {
  double value = 0;     // in data units
  std::string label{};  // empty for a minor tick
  bool major = true;
};

// Ticks inside [lo, hi] (swapped if given backwards); a zero-width range gets one
// tick, a non-finite one none.
std::vector<Tick> linear_ticks(double lo, double hi, int max_count, NumberFormat format = NumberFormat::compact);
// Ticks for a log10 axis over [lo, hi], both > 0 (otherwise none).
std::vector<Tick> log_ticks(double lo, double hi, int max_count);

// The label of an exact decimal, as above. small_as_scientific: write numbers
// below 0.01 as 2.5e-3 rather than 0.0025.
std::string format_decimal(Decimal d, bool small_as_scientific);
// Any double, rounded to `significant` digits: 1.23k, 0.5, 2.5e-3, -40, nan.
std::string format_number(double value, int significant = 3);
// A byte count in binary units: 0 B, 512 B, 1.5 KiB, 2.25 GiB.
std::string format_bytes(double bytes, int significant = 3);

// 10^e, exact for |e| <= 22 and the same on every machine beyond.
double pow10(int e);
// The largest e with 10^e <= v, for finite v > 0, decided by exact comparisons.
int floor_log10(double v);

// Maps data values in [lo, hi] to pixels, lo to pixel_lo and hi to pixel_hi
// (on a y axis pixel_lo is the bottom, the larger number). On a log scale equal
// ratios get equal distances. log10 comes from the C library; a last-bit
// difference between libraries would move a point by ~1e-13 pixel.
// Distances are taken in halves, v/2 - lo/2: the width of [-1e308, 1e308]
// overflows a double, half of it does not. Halving is exact (above 2^-1021),
// so any other range maps to the same pixels as v - lo would.
class ScaleMap {
 public:
  ScaleMap() = default;
  ScaleMap(Scale scale, double lo, double hi, double pixel_lo, double pixel_hi);
  Scale scale() const { return scale_; }
  double lo() const { return lo_; }
  double hi() const { return hi_; }
  // Finite, and positive on a log scale.
  bool accepts(double v) const { return std::isfinite(v) && (scale_ == Scale::linear || v > 0.0); }
  double to_pixel(double v) const { return pixel_lo_ + (transform(v) / 2 - t_lo_ / 2) * factor_; }
  double transform(double v) const { return scale_ == Scale::log ? std::log10(v) : v; }

 private:
  Scale scale_ = Scale::linear;
  double lo_ = 0, hi_ = 1, pixel_lo_ = 0, t_lo_ = 0, factor_ = 2;  // factor_: pixels per half unit
};

}  // namespace moments::plots
