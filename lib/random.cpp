// random.cpp — our own uniform and normal transforms over std::mt19937_64.
#include "random.hpp"

#include <cmath>
#include <numbers>

namespace moments {

float Generator::uniform() {
  return static_cast<float>(engine_() >> 40) * 0x1.0p-24f;  // 24 random bits: exact floats k/2^24
}

float Generator::normal() {
  if (has_spare_) {
    has_spare_ = false;
    return static_cast<float>(spare_);
  }
  // u1 in (0, 1] so log(u1) is finite; u2 in [0, 1). 53-bit doubles.
  double u1 = (static_cast<double>(engine_() >> 11) + 1.0) * 0x1.0p-53;
  double u2 = static_cast<double>(engine_() >> 11) * 0x1.0p-53;
  double radius = std::sqrt(-2.0 * std::log(u1));
  double angle = 2.0 * std::numbers::pi * u2;
  spare_ = radius * std::sin(angle);
  has_spare_ = true;
  return static_cast<float>(radius * std::cos(angle));
}

Tensor rand(const Shape& shape, Generator& gen, float low, float high) {
  if (!(low <= high) || !std::isfinite(low) || !std::isfinite(high))
    fail("rand: need finite low <= high, got low ", low, ", high ", high);
  Tensor t = Tensor::empty(shape, Device::cpu, "rand");
  float* x = t.data();
  for (int64_t i = 0, n = t.numel(); i < n; ++i) x[i] = low + (high - low) * gen.uniform();
  return t;
}

Tensor randn(const Shape& shape, Generator& gen, float mean, float std) {
  if (!(std >= 0.0f) || !std::isfinite(mean) || !std::isfinite(std))
    fail("randn: need finite mean and std >= 0, got mean ", mean, ", std ", std);
  Tensor t = Tensor::empty(shape, Device::cpu, "randn");
  float* x = t.data();
  for (int64_t i = 0, n = t.numel(); i < n; ++i) x[i] = mean + std * gen.normal();
  return t;
}

}  // namespace moments
