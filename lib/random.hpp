// random.hpp — seeded random numbers that are identical on every machine.
//
// std::normal_distribution (and even std::uniform_real_distribution) may give
// different numbers under different standard libraries, so moments draws raw
// 64-bit words from std::mt19937_64 (fully specified by the standard) and turns
// them into floats with its own transforms:
//   uniform: the top 24 bits of a word, scaled by 2^-24  -> [0, 1), every value exact in float
//   normal:  Box–Muller on two uniforms in double         -> N(0, 1)
//
// USAGE
//   Generator gen(42);
//   Tensor w = randn({3, 4}, gen);            // N(0, 1)
//   Tensor u = rand({5}, gen, -1.0f, 1.0f);    // U[-1, 1)
#pragma once
#include <cstdint>
#include <random>

#include "tensor.hpp"

namespace moments {

class Generator {
 public:
  explicit Generator(uint64_t seed = 0) : engine_(seed) {}
  float uniform();  // [0, 1)
  float normal();   // N(0, 1)

 private:
  std::mt19937_64 engine_;
  bool has_spare_ = false;  // Box–Muller makes two normals at a time
  double spare_ = 0.0;
};

Tensor rand(const Shape& shape, Generator& gen, float low = 0.0f, float high = 1.0f);
Tensor randn(const Shape& shape, Generator& gen, float mean = 0.0f, float std = 1.0f);

}  // namespace moments
