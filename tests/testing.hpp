// testing.hpp — helpers shared by the doctest suites: closeness checks that say
// where and by how much, the error-message matcher, the shared input pattern,
// and the finite-difference gradient checker.
#pragma once
#include <doctest/doctest.h>

#include <cmath>
#include <functional>
#include <string>
#include <vector>

#include "moments.hpp"

namespace testing {
using namespace moments;

// The same exact inputs as tests/reference/*.py: v_i = (((7 i + k) mod 17) - 8) * scale.
inline Tensor pattern(const Shape& shape, int k = 0, float scale = 0.25f) {
  Tensor t = Tensor::empty(shape);
  for (int64_t i = 0; i < t.numel(); ++i) t.data()[i] = static_cast<float>(((7 * i + k) % 17) - 8) * scale;
  return t;
}

// Every element within atol + rtol·|expected|; on failure reports the first
// mismatch, its index and the largest error.
inline void check_close(const std::vector<float>& actual, const std::vector<float>& expected, float atol, float rtol,
                        const std::string& what) {
  INFO(what);
  REQUIRE(actual.size() == expected.size());
  size_t first_bad = actual.size();
  float max_error = 0.0f;
  for (size_t i = 0; i < actual.size(); ++i) {
    float error = std::fabs(actual[i] - expected[i]);
    max_error = std::max(max_error, error);
    bool ok = error <= atol + rtol * std::fabs(expected[i]);
    if (!ok && first_bad == actual.size()) first_bad = i;
  }
  if (first_bad != actual.size()) {
    CAPTURE(first_bad);
    CAPTURE(actual[first_bad]);
    CAPTURE(expected[first_bad]);
    CAPTURE(max_error);
    FAIL_CHECK("values differ beyond atol ", atol, " + rtol ", rtol, "·|expected|");
  }
}

inline void check_close(const Tensor& actual, const std::vector<float>& expected, float atol, float rtol,
                        const std::string& what) {
  check_close(actual.to_vector(), expected, atol, rtol, what);
}

// The message of the moments::Error that f throws ("" if it throws none).
inline std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const moments::Error& e) {
    return e.what();
  }
  return "";
}

// f must throw moments::Error whose message contains every piece.
inline void check_error(const std::function<void()>& f, const std::vector<std::string>& pieces) {
  std::string message = error_of(f);
  INFO("message: ", message);
  REQUIRE_MESSAGE(!message.empty(), "expected a moments::Error");
  for (const std::string& piece : pieces) CHECK_MESSAGE(message.find(piece) != std::string::npos, "missing '", piece, "'");
}

// Finite-difference gradient check. The scalar L = Σ f(inputs) ⊙ R with fixed
// random weights R; each input element x gets (L(x+h) - L(x-h)) / 2h (central
// differences, in float32, L summed in double) and is compared with autograd's
// dL/dx within atol + rtol·|numeric|.
struct GradCheck {
  float h = 1e-2f;     // step
  float atol = 1e-2f;  // float32 central differences with h = 1e-2 carry ~1e-4·|f'''| truncation
  float rtol = 1e-2f;  // and ~1e-5·|L|/h rounding error
};

inline void check_gradients(const std::string& op, const std::function<Tensor(const std::vector<Tensor>&)>& f,
                            std::vector<Tensor> inputs, GradCheck tolerance = {}) {
  INFO("gradient check of ", op);
  for (Tensor& x : inputs) x = x.clone().requires_grad_();
  Tensor out = f(inputs);
  Generator gen(1234);
  Tensor weights = randn(out.shape(), gen);
  auto loss_value = [&]() {
    NoGradGuard off;
    Tensor y = f(inputs);
    double total = 0.0;
    for (int64_t i = 0; i < y.numel(); ++i) total += static_cast<double>(y.data()[i]) * weights.data()[i];
    return total;
  };
  sum(out * weights).backward();
  for (size_t k = 0; k < inputs.size(); ++k) {
    Tensor& x = inputs[k];
    REQUIRE_MESSAGE(x.grad().defined(), "no gradient reached input ", k);
    std::vector<float> numeric(static_cast<size_t>(x.numel()));
    for (int64_t i = 0; i < x.numel(); ++i) {
      float saved = x.data()[i];
      x.data()[i] = saved + tolerance.h;
      double plus = loss_value();
      x.data()[i] = saved - tolerance.h;
      double minus = loss_value();
      x.data()[i] = saved;
      numeric[static_cast<size_t>(i)] = static_cast<float>((plus - minus) / (2.0 * tolerance.h));
    }
    check_close(x.grad().to_vector(), numeric, tolerance.atol, tolerance.rtol,
                op + ": d/d(input " + std::to_string(k) + ") of shape " + shape_str(x.shape()));
  }
}

}  // namespace testing
