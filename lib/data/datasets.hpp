// data/datasets.hpp — small real datasets as tensors.
//
// USAGE
//   Dataset digits = load_digits_csv(MOMENTS_DATA_DIR "/digits.csv");  // 1797 × 64, labels 0..9
//   auto [train, test] = split(digits, 1400);                           // first 1400 / the rest
//   Tensor batch = rows(train.inputs, 0, 64);                            // the first 64 images
//   Dataset fashion = load_fashion_mnist("train");                      // 60000 × 784
//   CharCorpus text = load_char_corpus(MOMENTS_DATA_DIR "/tinyshakespeare.txt");  // 65 characters
//   TokenBatch b = sample_windows(text.train, /*batch=*/12, /*block=*/64, gen);   // inputs and next ids
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

class Generator;  // random.hpp

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

// ---- character-level text -------------------------------------------------------------------------
// A text as character ids, split as nanoGPT's data/shakespeare_char/prepare.py splits it: the
// vocabulary is sorted(set(text)) (for ASCII, the distinct bytes in increasing order), the first
// int(n · 0.9) characters are the training ids and the rest the validation ids. Tiny Shakespeare
// (tests/data/tinyshakespeare.txt, 1,115,394 bytes) gives 65 characters, 1,003,854 training ids and
// 111,540 validation ids, as prepare.py prints.
struct CharCorpus {
  std::string vocabulary;           // id i is the character vocabulary[i]
  std::vector<int64_t> train;       // ids of the first part of the text
  std::vector<int64_t> validation;  // ids of the rest
  int64_t vocab_size() const { return static_cast<int64_t>(vocabulary.size()); }
  std::vector<int64_t> encode(const std::string& text) const;  // a character outside the vocabulary throws
  std::string decode(const std::vector<int64_t>& ids) const;   // an id outside [0, vocab_size) throws
};
// Reads a plain ASCII text (prepare.py decodes Unicode; bytes outside 1..127 are refused, naming the
// offset, so a byte never stands for part of a character). train_fraction in (0, 1); both parts must
// hold at least 2 characters (one window of one input and its target).
CharCorpus load_char_corpus(const std::string& path, double train_fraction = 0.9);

// `batch` windows of `block` ids and the ids one place later (the targets of next-character
// prediction): inputs[b][t] = ids[o_b + t], targets[b][t] = ids[o_b + t + 1], row-major (batch, block).
struct TokenBatch {
  int64_t batch = 0, block = 0;
  std::vector<int64_t> inputs, targets;  // batch · block ids each
};
// Offsets o_b drawn uniformly from [0, ids.size() − block), as nanoGPT's get_batch draws them
// (torch.randint(len(data) − block_size, (batch_size,))), but from our generator: two uniforms make a
// 48-bit integer, taken modulo the range (the bias is below 2^−20 for any corpus under 2^28 ids).
TokenBatch sample_windows(const std::vector<int64_t>& ids, int64_t batch, int64_t block, Generator& gen);
// The windows at given offsets (each in [0, ids.size() − block)): a fixed evaluation set.
TokenBatch windows_at(const std::vector<int64_t>& ids, const std::vector<int64_t>& offsets, int64_t block);

}  // namespace moments
