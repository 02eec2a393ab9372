// data/datasets.hpp — small real datasets as tensors.
//
// USAGE
//   Dataset digits = load_digits_csv(MOMENTS_DATA_DIR "/digits.csv");  // 1797 × 64, labels 0..9
//   auto [train, test] = split(digits, 1400);                           // first 1400 / the rest
//   Tensor batch = rows(train.inputs, 0, 64);                            // the first 64 images
//   Dataset fashion = load_fashion_mnist("train");                      // 60000 × 784
//
// Every reader treats its file as untrusted: a missing file, a short row, a
// value out of range or a label outside the classes throws moments::Error
// naming the file and the line.
#pragma once
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "../tensor.hpp"

namespace moments {

struct Dataset {
  Tensor inputs;                // (N, features), float32
  std::vector<int64_t> labels;  // N class indices in [0, classes)
  int64_t classes = 0;
  int64_t size() const { return static_cast<int64_t>(labels.size()); }
};

// The UCI digits CSV (64 pixel values in 0..16, then the label): pixels / 16.
Dataset load_digits_csv(const std::string& path);

// Fashion-MNIST (Xiao, Rasul, Vollgraf 2017; MIT license) from its gzipped IDX
// files: split "train" (60,000) or "test" (10,000), 28×28 pixels / 255 → (N, 784),
// labels 0..9. Debian's package dataset-fashion-mnist installs them in
// kFashionMnistDir. A missing file names the apt-get line that installs it.
inline constexpr const char* kFashionMnistDir = "/usr/share/datasets/fashion-mnist";
Dataset load_fashion_mnist(const std::string& split, const std::string& directory = kFashionMnistDir);
// The IDX reader underneath: a gzipped (or plain) IDX file of unsigned bytes
// with the given magic number; returns its dimension sizes and bytes.
struct IdxData {
  std::vector<int64_t> dims;
  std::vector<uint8_t> bytes;
};
IdxData read_idx_gz(const std::string& path, uint32_t expected_magic);

// The first `first_count` examples, and the rest (no shuffling: the file's order).
std::pair<Dataset, Dataset> split(const Dataset& data, int64_t first_count);

// Rows [begin, end) of a 2-D tensor (a minibatch), and the matching labels.
Tensor rows(const Tensor& inputs, int64_t begin, int64_t end);
std::vector<int64_t> labels_of(const Dataset& data, int64_t begin, int64_t end);

// Fraction of rows whose largest logit is at the label.
double accuracy(const Tensor& logits, const std::vector<int64_t>& labels);

}  // namespace moments
