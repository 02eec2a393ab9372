// ticks.cpp — nice ticks, log ticks and their labels (see ticks.hpp).
#include "ticks.hpp"

#include <algorithm>
#include <charconv>
#include <cstdlib>
#include <iterator>

namespace moments::plots {

namespace {

constexpr double kExactPowers[] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,  1e8,  1e9,  1e10, 1e11,
                                   1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};

// Ticks whose k would exceed this cannot be told apart in a double.
constexpr double kMaxMultiple = 1e15;

// "123", exponent -1 → "12.3"; "5", -3 → "0.005"; "25", 2 → "2500".
std::string plain(const std::string& digits, int exponent) {
  if (exponent >= 0) return digits + std::string(static_cast<size_t>(exponent), '0');
  int point = static_cast<int>(digits.size()) + exponent;  // digits before the decimal point
  if (point > 0) return digits.substr(0, static_cast<size_t>(point)) + "." + digits.substr(static_cast<size_t>(point));
  return "0." + std::string(static_cast<size_t>(-point), '0') + digits;
}

// The ticks m × 10^e × k for k in [k_lo, k_hi], labelled for one axis.
std::vector<Tick> ticks_from(int64_t k_lo, int64_t k_hi, int m, int e, double unit, const std::string& suffix) {
  std::vector<Decimal> decimals;
  int largest_power = -400;  // of the largest |tick|, to pick the label style for the whole axis
  for (int64_t k = k_lo; k <= k_hi; ++k) {
    Decimal d{k * m, e};
    decimals.push_back(d);
    if (d.digits != 0)
      largest_power = std::max(largest_power, static_cast<int>(std::to_string(std::llabs(d.digits)).size()) - 1 + e);
  }
  // Below 0.01 everywhere: exponents for all. Byte labels (a unit suffix) stay plain.
  bool scientific = suffix.empty() && largest_power <= -3;
  std::vector<Tick> ticks;
  for (const Decimal& d : decimals) {
    std::string label = suffix.empty()  ? format_decimal(d, scientific)
                        : d.digits == 0 ? "0"
                                        : format_decimal(d, false) + suffix;
    ticks.push_back({d.value() * unit, label, true});
  }
  return ticks;
}

// Nice ticks of [lo, hi] in units of `unit` (1 for plain numbers, 1024^g for bytes).
std::vector<Tick> nice_ticks(double lo, double hi, int max_count, double unit, const std::string& suffix) {
  max_count = std::clamp(max_count, 1, 100);
  // The step that would give max_count ticks, computed without overflow for huge ranges.
  double raw = hi / max_count - lo / max_count;
  if (!(raw > 0.0)) return {};
  // Try 1, 2, 5 × 10^e upwards from just below `raw` until the ticks fit.
  for (int e = floor_log10(raw); e <= 308; ++e) {
    for (int m : {1, 2, 5}) {
      double step = Decimal{m, e}.value();
      double q_lo = lo / step, q_hi = hi / step;
      if (!std::isfinite(step) || std::fabs(q_lo) > kMaxMultiple || std::fabs(q_hi) > kMaxMultiple) {
        // The range is too narrow for its size to hold distinct ticks: label its middle.
        double middle = lo / 2 + hi / 2;
        return {{middle * unit, suffix.empty() ? format_number(middle, 6) : format_number(middle, 6) + suffix, true}};
      }
      // Multiples of step inside [lo, hi], allowing for rounding in lo / step.
      auto k_lo = static_cast<int64_t>(std::ceil(q_lo - 1e-9)), k_hi = static_cast<int64_t>(std::floor(q_hi + 1e-9));
      if (k_hi - k_lo + 1 <= max_count) return ticks_from(k_lo, k_hi, m, e, unit, suffix);
    }
  }
  return {};
}

}  // namespace

double pow10(int e) {
  if (e >= 0 && e <= 22) return kExactPowers[e];
  if (e < 0 && e >= -22) return 1.0 / kExactPowers[-e];  // one correctly rounded division
  if (e > 22) return e > 400 ? HUGE_VAL : pow10(e - 22) * kExactPowers[22];
  return e < -400 ? 0.0 : pow10(e + 22) / kExactPowers[22];
}

int floor_log10(double v) {
  int e = static_cast<int>(std::floor(std::log10(v)));  // a guess, made exact below
  while (e > -330 && pow10(e) > v) --e;
  while (e < 310 && pow10(e + 1) <= v) ++e;
  return e;
}

double Decimal::value() const {
  return exponent >= 0 ? static_cast<double>(digits) * pow10(exponent) : static_cast<double>(digits) / pow10(-exponent);
}

std::string format_decimal(Decimal d, bool small_as_scientific) {
  if (d.digits == 0) return "0";
  while (d.digits % 10 == 0) d.digits /= 10, ++d.exponent;
  bool negative = d.digits < 0;
  std::string digits = std::to_string(negative ? -static_cast<uint64_t>(d.digits) : static_cast<uint64_t>(d.digits));
  int power = static_cast<int>(digits.size()) - 1 + d.exponent;  // the value is about 10^power
  std::string body;
  if (power >= 18 || power < -9 || (small_as_scientific && power <= -3)) {
    body = digits.substr(0, 1) + (digits.size() > 1 ? "." + digits.substr(1) : "") + "e" + std::to_string(power);
  } else if (power >= 3) {
    int group = power / 3;  // thousands: k, M, G, T, P
    body = plain(digits, d.exponent - 3 * group) + "kMGTP"[group - 1];
  } else {
    body = plain(digits, d.exponent);
  }
  return negative ? "-" + body : body;
}

namespace {
// value rounded to `significant` digits, as an exact decimal (std::to_chars is
// exact and ignores the locale).
Decimal round_to_decimal(double value, int significant) {
  significant = std::clamp(significant, 1, 17);
  char text[64];
  auto result = std::to_chars(std::begin(text), std::end(text), value, std::chars_format::scientific, significant - 1);
  std::string s(text, result.ptr);  // "-1.234e+05"
  size_t e_at = s.find('e');
  Decimal d;
  bool negative = s[0] == '-';
  for (size_t i = negative ? 1 : 0; i < e_at; ++i)
    if (s[i] != '.') d.digits = d.digits * 10 + (s[i] - '0');
  if (negative) d.digits = -d.digits;
  d.exponent = std::stoi(s.substr(e_at + 1)) - (significant - 1);
  return d;
}

const char* kByteUnits[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};

// The binary unit for numbers up to `magnitude`: 1024^group.
int byte_group(double magnitude) {
  int group = 0;
  while (group < 5 && magnitude >= 1024.0) magnitude /= 1024.0, ++group;
  return group;
}
}  // namespace

std::string format_number(double value, int significant) {
  if (std::isnan(value)) return "nan";
  if (std::isinf(value)) return value > 0 ? "inf" : "-inf";
  if (value == 0.0) return "0";
  return format_decimal(round_to_decimal(value, significant), true);
}

std::string format_bytes(double bytes, int significant) {
  if (!std::isfinite(bytes)) return format_number(bytes);
  int group = byte_group(std::fabs(bytes));
  double in_unit = bytes / static_cast<double>(1ull << (10 * group));
  std::string number = in_unit == 0.0 ? "0" : format_decimal(round_to_decimal(in_unit, significant), false);
  return number + " " + kByteUnits[group];
}

std::vector<Tick> linear_ticks(double lo, double hi, int max_count, NumberFormat format) {
  if (!std::isfinite(lo) || !std::isfinite(hi)) return {};
  if (lo > hi) std::swap(lo, hi);
  if (format == NumberFormat::bytes) {
    int group = byte_group(std::max(std::fabs(lo), std::fabs(hi)));
    double unit = static_cast<double>(1ull << (10 * group));
    if (lo == hi) return {{lo, format_bytes(lo), true}};
    return nice_ticks(lo / unit, hi / unit, max_count, unit, std::string(" ") + kByteUnits[group]);
  }
  if (lo == hi) return {{lo, format_number(lo), true}};
  return nice_ticks(lo, hi, max_count, 1.0, "");
}

std::vector<Tick> log_ticks(double lo, double hi, int max_count) {
  if (!std::isfinite(lo) || !std::isfinite(hi) || !(lo > 0.0) || !(hi > 0.0)) return {};
  if (lo > hi) std::swap(lo, hi);
  if (lo == hi) return {{lo, format_number(lo), true}};
  max_count = std::clamp(max_count, 1, 100);
  int first = floor_log10(lo), last = floor_log10(hi);  // decades holding lo and hi
  int first_inside = pow10(first) >= lo ? first : first + 1;
  int decades = last - first_inside + 1;  // whole decades 10^k inside [lo, hi]

  // m × 10^k for the given m, inside [lo, hi], all labelled.
  auto multiples = [&](std::initializer_list<int> mantissas) {
    std::vector<Tick> ticks;
    for (int k = first; k <= last; ++k)
      for (int m : mantissas) {
        Decimal d{m, k};
        double v = d.value();
        if (v >= lo && v <= hi) ticks.push_back({v, format_decimal(d, true), true});
      }
    return ticks;
  };
  if (decades < 3) {
    for (auto mantissas :
         {std::initializer_list<int>{1, 2, 5}, std::initializer_list<int>{1, 2, 3, 4, 5, 6, 7, 8, 9}}) {
      std::vector<Tick> ticks = multiples(mantissas);
      if (ticks.size() >= 3 && static_cast<int>(ticks.size()) <= max_count) return ticks;
    }
    if (decades < 2) return linear_ticks(lo, hi, max_count);
  }
  // Whole decades; every stride-th one (multiples of stride, so 1 stays) when too many.
  int stride = (decades + max_count - 1) / max_count;
  std::vector<Tick> ticks;
  for (int k = first; k <= last; ++k) {
    for (int m = 1; m <= 9; ++m) {
      double v = Decimal{m, k}.value();
      if (v < lo || v > hi) continue;
      if (m == 1 && ((k % stride) + stride) % stride == 0)
        ticks.push_back({v, format_decimal({1, k}, true), true});
      else if (stride == 1 && m > 1)
        ticks.push_back({v, "", false});  // minor ticks between decades
    }
  }
  return ticks;
}

ScaleMap::ScaleMap(Scale scale, double lo, double hi, double pixel_lo, double pixel_hi)
    : scale_(scale), lo_(lo), hi_(hi), pixel_lo_(pixel_lo) {
  t_lo_ = transform(lo);
  double half_span = transform(hi) / 2 - t_lo_ / 2;  // finite for any finite lo and hi
  factor_ = half_span != 0.0 && std::isfinite(half_span) ? (pixel_hi - pixel_lo) / half_span : 0.0;
}

}  // namespace moments::plots
