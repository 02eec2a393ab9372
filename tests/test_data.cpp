// Suite `data`: the Fashion-MNIST IDX reader against the installed files and
// against hand-made corrupt ones.
#include <zlib.h>

#include <filesystem>

#include "testing.hpp"

using namespace moments;
using testing::check_error;

namespace {

std::string temp_path(const char* name) { return (std::filesystem::temp_directory_path() / name).string(); }

// Writes `bytes` gzipped to `path`.
void write_gz(const std::string& path, const std::vector<uint8_t>& bytes) {
  gzFile f = gzopen(path.c_str(), "wb");
  REQUIRE(f != nullptr);
  if (!bytes.empty()) gzwrite(f, bytes.data(), static_cast<unsigned>(bytes.size()));
  gzclose(f);
}

std::vector<uint8_t> idx_header(uint32_t magic, const std::vector<uint32_t>& dims) {
  std::vector<uint8_t> out;
  auto word = [&](uint32_t v) {
    for (int shift = 24; shift >= 0; shift -= 8) out.push_back(static_cast<uint8_t>(v >> shift));
  };
  word(magic);
  for (uint32_t d : dims) word(d);
  return out;
}

}  // namespace

TEST_CASE("Fashion-MNIST loads from Debian's files with the right shapes and labels") {
  if (!std::filesystem::exists(std::string(kFashionMnistDir) + "/t10k-images-idx3-ubyte.gz")) {
    MESSAGE("dataset-fashion-mnist is not installed; skipping");
    return;
  }
  Dataset test = load_fashion_mnist("test");
  CHECK(test.inputs.shape() == Shape{10000, 784});
  CHECK(test.size() == 10000);
  std::vector<int64_t> per_class(10, 0);
  for (int64_t label : test.labels) per_class[static_cast<size_t>(label)]++;
  CHECK(per_class == std::vector<int64_t>(10, 1000));  // the test split is balanced
  float lo = 1, hi = 0;
  for (float v : test.inputs.to_vector()) lo = std::min(lo, v), hi = std::max(hi, v);
  CHECK(lo == 0.0f);
  CHECK(hi == 1.0f);
}

TEST_CASE("a missing Fashion-MNIST names the apt-get line; corrupt IDX files are rejected") {
  check_error([] { load_fashion_mnist("test", "/nonexistent"); },
              {"/nonexistent/t10k-images-idx3-ubyte.gz", "sudo apt-get install dataset-fashion-mnist"});
  check_error([] { load_fashion_mnist("validation"); }, {"load_fashion_mnist", "validation"});
  std::string path = temp_path("moments_test.idx.gz");
  write_gz(path, idx_header(0x00000801, {3}));  // labels magic where images are expected
  check_error([&] { read_idx_gz(path, 0x00000803); }, {path, "magic number 0x801", "expected 0x803"});
  std::vector<uint8_t> truncated = idx_header(0x00000803, {2, 2, 2});
  truncated.insert(truncated.end(), {1, 2, 3});  // 3 of 8 bytes
  write_gz(path, truncated);
  check_error([&] { read_idx_gz(path, 0x00000803); }, {path, "truncated", "wanted 8 bytes, got 3"});
  std::vector<uint8_t> trailing = idx_header(0x00000801, {2});
  trailing.insert(trailing.end(), {1, 2, 3});
  write_gz(path, trailing);
  check_error([&] { read_idx_gz(path, 0x00000801); }, {path, "bytes after"});
  write_gz(path, idx_header(0x00000803, {0x7fffffff, 0x7fffffff, 1}));  // would need 4 EiB
  check_error([&] { read_idx_gz(path, 0x00000803); }, {path, "limit"});
  write_gz(path, {});
  check_error([&] { read_idx_gz(path, 0x00000803); }, {path, "magic number"});
  std::vector<uint8_t> ok = idx_header(0x00000801, {3});
  ok.insert(ok.end(), {7, 0, 9});
  write_gz(path, ok);
  IdxData data = read_idx_gz(path, 0x00000801);
  CHECK(data.dims == std::vector<int64_t>{3});
  CHECK(data.bytes == std::vector<uint8_t>{7, 0, 9});
  std::filesystem::remove(path);
}
