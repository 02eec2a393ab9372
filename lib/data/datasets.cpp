// data/datasets.cpp — dataset readers that trust no file.
#include "datasets.hpp"

#include <charconv>
#include <cstring>
#include <fstream>
#include <iterator>
#include <sstream>

#include <zlib.h>

#include "ops.hpp"
#include "random.hpp"

namespace moments {

Dataset load_digits_csv(const std::string& path) {
  constexpr int64_t kPixels = 64, kMaxValue = 16, kClasses = 10;
  std::ifstream in(path);
  if (!in) fail("load_digits_csv: cannot open '", path, "': ", std::strerror(errno));
  std::vector<float> pixels;
  Dataset data;
  data.classes = kClasses;
  std::string line;
  int64_t line_number = 0;
  while (std::getline(in, line)) {
    ++line_number;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty()) continue;
    std::vector<int64_t> fields;
    const char* p = line.data();
    const char* end = line.data() + line.size();
    while (p <= end) {
      const char* comma = std::find(p, end, ',');
      int64_t value = 0;
      auto [stop, error] = std::from_chars(p, comma, value);
      if (error != std::errc() || stop != comma || p == comma)
        fail("load_digits_csv: ", path, ":", line_number, ": field ", fields.size() + 1, " '", std::string(p, comma),
             "' is not an integer");
      fields.push_back(value);
      p = comma + 1;
    }
    if (static_cast<int64_t>(fields.size()) != kPixels + 1)
      fail("load_digits_csv: ", path, ":", line_number, ": ", fields.size(), " fields, expected ", kPixels + 1,
           " (64 pixels and a label)");
    for (int64_t i = 0; i < kPixels; ++i) {
      if (fields[static_cast<size_t>(i)] < 0 || fields[static_cast<size_t>(i)] > kMaxValue)
        fail("load_digits_csv: ", path, ":", line_number, ": pixel ", i, " is ", fields[static_cast<size_t>(i)],
             ", expected 0..16");
      pixels.push_back(static_cast<float>(fields[static_cast<size_t>(i)]) / kMaxValue);
    }
    int64_t label = fields.back();
    if (label < 0 || label >= kClasses)
      fail("load_digits_csv: ", path, ":", line_number, ": label ", label, " is not a digit 0..9");
    data.labels.push_back(label);
  }
  if (data.labels.empty()) fail("load_digits_csv: ", path, " holds no rows");
  data.inputs = Tensor::from(pixels, {data.size(), kPixels});
  return data;
}

IdxData read_idx_gz(const std::string& path, uint32_t expected_magic) {
  constexpr int64_t kMaxBytes = int64_t{1} << 30;  // no dataset here is near 1 GiB: refuse to allocate more
  gzFile file = gzopen(path.c_str(), "rb");  // reads plain files too
  if (!file)
    fail("read_idx: cannot open '", path, "' (", std::strerror(errno),
         "); Fashion-MNIST is installed by: sudo apt-get install dataset-fashion-mnist");
  struct Closer {
    gzFile f;
    ~Closer() { gzclose(f); }
  } closer{file};
  auto read_exact = [&](void* into, size_t n, const char* what) {
    int got = gzread(file, into, static_cast<unsigned>(n));
    if (got < 0 || static_cast<size_t>(got) != n)
      fail("read_idx: '", path, "' is truncated or corrupt while reading ", what, " (wanted ", n, " bytes, got ",
           got < 0 ? 0 : got, ")");
  };
  auto big_endian = [](const uint8_t* b) {
    return (uint32_t{b[0]} << 24) | (uint32_t{b[1]} << 16) | (uint32_t{b[2]} << 8) | uint32_t{b[3]};
  };
  uint8_t word[4];
  read_exact(word, 4, "the magic number");
  uint32_t magic = big_endian(word);
  if (magic != expected_magic)
    fail("read_idx: '", path, "' has magic number 0x", std::hex, magic, ", expected 0x", expected_magic,
         " (unsigned bytes, ", expected_magic & 0xff, " dims)");
  IdxData data;
  int64_t total = 1;
  for (uint32_t d = 0; d < (expected_magic & 0xff); ++d) {
    read_exact(word, 4, "the dimension sizes");
    int64_t size = big_endian(word);
    if (size > kMaxBytes || total * size > kMaxBytes)
      fail("read_idx: '", path, "' claims dimension ", d, " of size ", size, ", over the ", kMaxBytes, "-byte limit");
    data.dims.push_back(size);
    total *= size;
  }
  data.bytes.resize(static_cast<size_t>(total));
  read_exact(data.bytes.data(), data.bytes.size(), "the data");
  if (gzread(file, word, 1) != 0) fail("read_idx: '", path, "' has bytes after its ", total, " data bytes");
  return data;
}

Dataset load_fashion_mnist(const std::string& which, const std::string& directory) {
  if (which != "train" && which != "test")
    fail("load_fashion_mnist: split '", which, "' is not \"train\" or \"test\"");
  std::string prefix = directory + "/" + (which == "train" ? "train" : "t10k");
  IdxData images = read_idx_gz(prefix + "-images-idx3-ubyte.gz", 0x00000803);
  IdxData labels = read_idx_gz(prefix + "-labels-idx1-ubyte.gz", 0x00000801);
  if (images.dims[0] != labels.dims[0])
    fail("load_fashion_mnist: ", images.dims[0], " images but ", labels.dims[0], " labels in ", prefix, "-*");
  Dataset data;
  data.classes = 10;
  int64_t n = images.dims[0], pixels = images.dims[1] * images.dims[2];
  data.inputs = Tensor::empty({n, pixels});
  float* pixels_out = data.inputs.data();
  for (size_t i = 0; i < images.bytes.size(); ++i) pixels_out[i] = static_cast<float>(images.bytes[i]) / 255.0f;
  for (int64_t i = 0; i < n; ++i) {
    int64_t label = labels.bytes[static_cast<size_t>(i)];
    if (label >= data.classes) fail("load_fashion_mnist: label ", label, " of example ", i, " is not a class 0..9");
    data.labels.push_back(label);
  }
  return data;
}

std::pair<Dataset, Dataset> split(const Dataset& data, int64_t first_count) {
  if (first_count < 0 || first_count > data.size())
    fail("split: cannot take ", first_count, " of ", data.size(), " examples");
  Dataset a{rows(data.inputs, 0, first_count), labels_of(data, 0, first_count), data.classes};
  Dataset b{rows(data.inputs, first_count, data.size()), labels_of(data, first_count, data.size()), data.classes};
  return {a, b};
}

Tensor rows(const Tensor& inputs, int64_t begin, int64_t end) { return slice(inputs, 0, begin, end); }

std::vector<int64_t> labels_of(const Dataset& data, int64_t begin, int64_t end) {
  if (begin < 0 || begin > end || end > data.size())
    fail("labels_of: [", begin, ", ", end, ") is not within ", data.size(), " examples");
  return {data.labels.begin() + begin, data.labels.begin() + end};
}

double accuracy(const Tensor& logits, const std::vector<int64_t>& labels) {
  if (logits.dim() != 2 || logits.size(0) != static_cast<int64_t>(labels.size()))
    fail("accuracy: logits ", shape_str(logits.shape()), " do not match ", labels.size(), " labels");
  std::vector<int64_t> best = max(logits, 1).indices();
  int64_t correct = 0;
  for (size_t i = 0; i < labels.size(); ++i) correct += best[i] == labels[i];
  return labels.empty() ? 0.0 : static_cast<double>(correct) / static_cast<double>(labels.size());
}

// ---- character-level text -------------------------------------------------------------------------

CharCorpus load_char_corpus(const std::string& path, double train_fraction) {
  if (!(train_fraction > 0.0 && train_fraction < 1.0))
    fail("load_char_corpus: train_fraction ", train_fraction, " is not in (0, 1)");
  std::ifstream in(path, std::ios::binary);
  if (!in) fail("load_char_corpus: cannot open '", path, "': ", std::strerror(errno));
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (in.bad()) fail("load_char_corpus: reading '", path, "' failed: ", std::strerror(errno));
  // Which bytes occur (and that each is ASCII, not a piece of a UTF-8 character or a NUL).
  bool seen[128] = {};
  int64_t line = 1;
  for (size_t i = 0; i < text.size(); ++i) {
    auto byte = static_cast<unsigned char>(text[i]);
    if (byte == 0 || byte >= 128)
      fail("load_char_corpus: ", path, ":", line, ": byte ", static_cast<int>(byte), " at offset ", i,
           " is not an ASCII character 1..127 (expected plain ASCII text)");
    seen[byte] = true;
    line += byte == '\n';
  }
  // int(n * 0.9) in Python: the product in double, truncated.
  const int64_t n = static_cast<int64_t>(text.size());
  const auto n_train = static_cast<int64_t>(static_cast<double>(n) * train_fraction);
  if (n_train < 2 || n - n_train < 2)
    fail("load_char_corpus: '", path, "' has ", n, " characters: its split at ", train_fraction, " gives ", n_train,
         " training and ", n - n_train, " validation characters (expected at least 2 in each)");
  CharCorpus corpus;
  int64_t id_of[128];
  for (int c = 0; c < 128; ++c)
    if (seen[c]) {  // sorted(set(text)): increasing byte values
      id_of[c] = corpus.vocab_size();
      corpus.vocabulary.push_back(static_cast<char>(c));
    }
  corpus.train.reserve(static_cast<size_t>(n_train));
  corpus.validation.reserve(static_cast<size_t>(n - n_train));
  for (int64_t i = 0; i < n; ++i)
    (i < n_train ? corpus.train : corpus.validation).push_back(id_of[static_cast<unsigned char>(text[static_cast<size_t>(i)])]);
  return corpus;
}

std::vector<int64_t> CharCorpus::encode(const std::string& text) const {
  std::vector<int64_t> ids;
  for (size_t i = 0; i < text.size(); ++i) {
    size_t at = vocabulary.find(text[i]);
    if (at == std::string::npos)
      fail("CharCorpus::encode: character ", static_cast<int>(static_cast<unsigned char>(text[i])), " at offset ", i,
           " is not in the vocabulary of ", vocab_size(), " characters");
    ids.push_back(static_cast<int64_t>(at));
  }
  return ids;
}

std::string CharCorpus::decode(const std::vector<int64_t>& ids) const {
  std::string text;
  for (size_t i = 0; i < ids.size(); ++i) {
    if (ids[i] < 0 || ids[i] >= vocab_size())
      fail("CharCorpus::decode: id ", ids[i], " at index ", i, " is outside [0, ", vocab_size(), ")");
    text.push_back(vocabulary[static_cast<size_t>(ids[i])]);
  }
  return text;
}

TokenBatch windows_at(const std::vector<int64_t>& ids, const std::vector<int64_t>& offsets, int64_t block) {
  const auto n = static_cast<int64_t>(ids.size());
  if (block < 1 || block >= n)
    fail("windows_at: block ", block, " does not fit ", n, " ids (expected 1 <= block < ", n, ")");
  TokenBatch out{static_cast<int64_t>(offsets.size()), block, {}, {}};
  out.inputs.reserve(offsets.size() * static_cast<size_t>(block));
  out.targets.reserve(offsets.size() * static_cast<size_t>(block));
  for (size_t b = 0; b < offsets.size(); ++b) {
    int64_t o = offsets[b];
    if (o < 0 || o >= n - block)
      fail("windows_at: offset ", o, " (window ", b, ") is outside [0, ", n - block, ") for block ", block);
    out.inputs.insert(out.inputs.end(), ids.begin() + o, ids.begin() + o + block);           // x = ids[o, o + T)
    out.targets.insert(out.targets.end(), ids.begin() + o + 1, ids.begin() + o + block + 1);  // y = ids[o + 1, o + T + 1)
  }
  return out;
}

TokenBatch sample_windows(const std::vector<int64_t>& ids, int64_t batch, int64_t block, Generator& gen) {
  const auto n = static_cast<int64_t>(ids.size());
  if (batch < 1) fail("sample_windows: batch ", batch, " must be >= 1");
  if (block < 1 || block >= n)
    fail("sample_windows: block ", block, " does not fit ", n, " ids (expected 1 <= block < ", n, ")");
  const auto range = static_cast<uint64_t>(n - block);
  std::vector<int64_t> offsets(static_cast<size_t>(batch));
  for (int64_t& o : offsets) {
    // uniform() is k · 2^-24 for an integer k < 2^24: two of them are the halves of a 48-bit integer.
    auto high = static_cast<uint64_t>(gen.uniform() * 16777216.0f);
    auto low = static_cast<uint64_t>(gen.uniform() * 16777216.0f);
    o = static_cast<int64_t>(((high << 24) | low) % range);
  }
  return windows_at(ids, offsets, block);
}

}  // namespace moments
