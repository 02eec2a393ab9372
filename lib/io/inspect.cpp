// io/inspect.cpp — moments-inspect FILE: what a safetensors file holds.
//
// Prints the metadata and, per tensor, its name, dtype, shape and a few summary
// statistics (min, max, mean, standard deviation; the count of NaN and inf when
// there are any). On a malformed file it prints load()'s error and exits 1.
//
//   $ ./build/lib/io/moments-inspect run.safetensors
//   run.safetensors: 6 tensors, 24 float32 values
//
//   metadata (7):
//     format = moments.checkpoint.v1
//     optimizer = Adam
//     ...
//   tensors (6):
//     name                             dtype shape                     min          max         mean          std
//     model.layers.0.weight            F32   [2, 3]               -0.53266      0.56728     -0.11869      0.39861
//     ...
//   $ ./build/lib/io/moments-inspect cut.safetensors; echo $?
//   moments-inspect: load 'cut.safetensors': tensor "b" has data_offsets [8, 16] past the end of the data ...
//   1
//
// Names and values come from the file, so control characters are shown escaped
// (\x1b, ...) rather than sent to the terminal.
#include <cmath>
#include <cstdio>
#include <exception>
#include <limits>
#include <string>

#include "safetensors.hpp"

namespace {

using namespace moments;

// Printable text: control bytes as \xNN, long values cut (with their length said).
std::string printable(const std::string& text, size_t limit = 0) {
  std::string out;
  for (char c : text) {
    auto byte = static_cast<unsigned char>(c);
    if (byte < 0x20 || byte == 0x7f) {
      char escaped[8];
      std::snprintf(escaped, sizeof escaped, "\\x%02x", byte);
      out += escaped;
    } else {
      out += c;
    }
  }
  if (limit > 0 && out.size() > limit) out = out.substr(0, limit) + "... (" + std::to_string(text.size()) + " bytes)";
  return out;
}

struct Summary {
  double min = std::numeric_limits<double>::infinity(), max = -min, mean = 0.0, std = 0.0;
  int64_t finite = 0, nan = 0, inf = 0;
};

// Statistics over the finite values, in double (Welford's running mean and variance).
Summary summarize(const Tensor& t) {
  Summary s;
  double m2 = 0.0;
  for (int64_t i = 0; i < t.numel(); ++i) {
    const double x = t.data()[i];
    if (std::isnan(x)) { ++s.nan; continue; }
    if (std::isinf(x)) { ++s.inf; continue; }
    ++s.finite;
    s.min = std::min(s.min, x);
    s.max = std::max(s.max, x);
    const double delta = x - s.mean;
    s.mean += delta / static_cast<double>(s.finite);
    m2 += delta * (x - s.mean);
  }
  if (s.finite > 0) s.std = std::sqrt(m2 / static_cast<double>(s.finite));
  return s;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2 || std::string(argv[1]) == "--help") {
    std::fprintf(stderr, "usage: moments-inspect FILE.safetensors\n");
    return 2;
  }
  const std::string path = argv[1];
  SafetensorsFile file;
  try {
    file = load(path);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "moments-inspect: %s\n", printable(e.what()).c_str());
    return 1;
  }

  int64_t elements = 0;
  for (const auto& [name, t] : file.tensors) elements += t.numel();
  std::printf("%s: %zu tensors, %lld float32 values\n", printable(path).c_str(), file.tensors.size(),
              static_cast<long long>(elements));

  std::printf("\nmetadata (%zu):\n", file.metadata.size());
  for (const auto& [key, value] : file.metadata)
    std::printf("  %s = %s\n", printable(key).c_str(), printable(value, 200).c_str());

  std::printf("\ntensors (%zu):\n", file.tensors.size());
  std::printf("  %-32s %-5s %-16s %12s %12s %12s %12s\n", "name", "dtype", "shape", "min", "max", "mean", "std");
  for (const auto& [name, t] : file.tensors) {
    const Summary s = summarize(t);
    std::printf("  %-32s %-5s %-16s", printable(name).c_str(), "F32", shape_str(t.shape()).c_str());
    if (s.finite > 0)
      std::printf(" %12.5g %12.5g %12.5g %12.5g", s.min, s.max, s.mean, s.std);
    else
      std::printf(" %12s %12s %12s %12s", "-", "-", "-", "-");
    if (s.nan > 0 || s.inf > 0) std::printf("  (%lld nan, %lld inf)", static_cast<long long>(s.nan), static_cast<long long>(s.inf));
    std::printf("\n");
  }
  return 0;
}
