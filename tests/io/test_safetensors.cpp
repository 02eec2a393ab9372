// Suite `io`: safetensors save() / load() — bit-exact round trips, the layout on
// disk, one malformed file per loader rule, and moments-inspect.
#include "io_testing.hpp"
#include <bit>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <sys/wait.h>
#include <unistd.h>

#include "malformed_files.hpp"
#include "safetensors.hpp"
#include "testing.hpp"

using namespace moments;
using testing::check_error;
using testing::pattern;

namespace fs = std::filesystem;

namespace {

// A fresh directory per test binary run, removed at the end of each test.
using io_testing::read_bytes;
using io_testing::TempDir;

void write_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary) << bytes;
}

// Bit patterns, so -0, NaN payloads and denormals are compared exactly.
std::vector<uint32_t> bits_of(const Tensor& t) {
  std::vector<uint32_t> bits;
  for (int64_t i = 0; i < t.numel(); ++i) bits.push_back(std::bit_cast<uint32_t>(t.data()[i]));
  return bits;
}

Tensor from_bits(const std::vector<uint32_t>& bits) {
  Tensor t = Tensor::empty({static_cast<int64_t>(bits.size())});
  for (size_t i = 0; i < bits.size(); ++i) t.data()[i] = std::bit_cast<float>(bits[i]);
  return t;
}

// Runs a command; its stdout and stderr, and its exit status.
std::pair<std::string, int> run(const std::string& command) {
  FILE* pipe = popen((command + " 2>&1").c_str(), "r");
  REQUIRE(pipe != nullptr);
  std::string output;
  char buffer[4096];
  size_t n = 0;
  while ((n = fread(buffer, 1, sizeof buffer, pipe)) > 0) output.append(buffer, n);
  int status = pclose(pipe);
  return {output, WIFEXITED(status) ? WEXITSTATUS(status) : -1};
}

}  // namespace

TEST_CASE("save then load gives the same tensors bit for bit: ranks 0 to 4, zero-sized dims, special values") {
  TempDir dir;
  NamedTensors tensors = {
      {"scalar", Tensor::scalar(-2.5f)},
      {"vector", pattern({7}, 1)},
      {"matrix", pattern({3, 4}, 2)},
      {"cube", pattern({2, 3, 4}, 3)},
      {"rank4", pattern({2, 1, 3, 2}, 4)},
      {"empty", Tensor::empty({0})},
      {"empty_middle", Tensor::empty({3, 0, 2})},
      {"empty_scalar_like", Tensor::empty({1, 0})},
      {"specials", from_bits({0x00000000u, 0x80000000u, 0x00000001u, 0x007fffffu, 0x7f7fffffu, 0x7f800000u, 0xff800000u,
                              0x7fc00000u, 0xffc12345u, 0x3eaaaaabu})},
      {"layers.0.weight", pattern({5, 3}, 5)},
      {"ünïcode ✓", pattern({2}, 6)},
  };
  Metadata metadata = {{"epoch", "3"}, {"note", "héllo \"quoted\"\n"}, {"", "empty key"}};
  std::string path = dir.file("round.safetensors");
  save(path, tensors, metadata);
  SafetensorsFile file = load(path);

  REQUIRE(file.tensors.size() == tensors.size());
  for (size_t i = 0; i < tensors.size(); ++i) {
    CAPTURE(tensors[i].first);
    CHECK(file.tensors[i].first == tensors[i].first);  // the order they were saved
    CHECK(file.tensors[i].second.shape() == tensors[i].second.shape());
    CHECK(bits_of(file.tensors[i].second) == bits_of(tensors[i].second));
  }
  CHECK(file.metadata == metadata);
  CHECK(file.contains("cube"));
  CHECK_FALSE(file.contains("nope"));
  check_error([&] { file.get("nope"); }, {"no tensor named 'nope'"});

  // Saving what was loaded writes the same bytes.
  std::string again = dir.file("again.safetensors");
  save(again, file.tensors, file.metadata);
  CHECK(read_bytes(again) == read_bytes(path));
}

TEST_CASE("the file follows the safetensors layout byte for byte") {
  TempDir dir;
  std::string path = dir.file("layout.safetensors");
  save(path, {{"b", Tensor::from({1.0f, -2.0f})}, {"a", Tensor::scalar(0.5f)}}, {{"k", "v"}});
  std::string bytes = read_bytes(path);
  std::string header =
      R"({"__metadata__":{"k":"v"},"b":{"data_offsets":[0,8],"dtype":"F32","shape":[2]},"a":{"data_offsets":[8,12],"dtype":"F32","shape":[]}})";
  header.append((8 - header.size() % 8) % 8, ' ');
  CHECK(header.size() % 8 == 0);
  std::string expected = io_testing::u64_le(header.size()) + header;
  for (float v : {1.0f, -2.0f, 0.5f}) {  // little-endian float32
    uint32_t bits = std::bit_cast<uint32_t>(v);
    for (int k = 0; k < 4; ++k) expected += static_cast<char>((bits >> (8 * k)) & 0xff);
  }
  CHECK(bytes == expected);
  // An empty file list is valid too: "{}" padded to 8 bytes.
  save(path, {});
  CHECK(read_bytes(path) == io_testing::u64_le(8) + "{}      ");
  CHECK(load(path).tensors.empty());
}

TEST_CASE("the loader rejects one hand-made malformed file per rule, with its message") {
  TempDir dir;
  for (const io_testing::MalformedFile& bad : io_testing::malformed_files()) {
    CAPTURE(bad.name);
    CAPTURE(bad.rule);
    std::string path = dir.file(bad.name + ".safetensors");
    write_bytes(path, bad.bytes);
    std::vector<std::string> pieces = bad.expected;
    pieces.push_back("load '" + path + "'");
    check_error([&] { load(path); }, pieces);
  }
  check_error([&] { load(dir.file("missing.safetensors")); }, {"missing.safetensors", "cannot open"});
  check_error([&] { load(dir.path.string()); }, {"not a regular file"});
}

TEST_CASE("zero-sized tensors may share an offset with their neighbours; the layout check still holds") {
  TempDir dir;
  std::string path = dir.file("zeros.safetensors");
  // Written by hand in another order than offsets: the loader sorts by offset to check the tiling.
  std::string header =
      R"({"z1":{"dtype":"F32","shape":[0,5],"data_offsets":[8,8]},"b":{"dtype":"F32","shape":[1],"data_offsets":[8,12]},)"
      R"("a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"z2":{"dtype":"F32","shape":[0],"data_offsets":[12,12]}})";
  write_bytes(path, io_testing::file_of(header, io_testing::f32_data(3)));
  SafetensorsFile file = load(path);
  REQUIRE(file.tensors.size() == 4);
  CHECK(file.tensors[0].first == "z1");  // the header's order
  CHECK(file.get("a").to_vector() == std::vector<float>{1.0f, 2.0f});
  CHECK(file.get("b").to_vector() == std::vector<float>{3.0f});
  CHECK(file.get("z1").shape() == Shape{0, 5});
  // A zero-sized tensor inside another's bytes is an overlap.
  std::string inside = R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"z":{"dtype":"F32","shape":[0],"data_offsets":[4,4]}})";
  write_bytes(path, io_testing::file_of(inside, io_testing::f32_data(2)));
  check_error([&] { load(path); }, {"\"a\" [0, 8]", "\"z\" [4, 4]", "overlap"});
}

TEST_CASE("save rejects what it cannot write faithfully, and leaves the old file in place") {
  TempDir dir;
  std::string path = dir.file("keep.safetensors");
  save(path, {{"w", Tensor::from({1.0f})}});
  std::string before = read_bytes(path);
  check_error([&] { save(path, {{"w", Tensor::from({1.0f})}, {"w", Tensor::from({2.0f})}}); }, {"save", "two tensors are named 'w'"});
  check_error([&] { save(path, {{"__metadata__", Tensor::from({1.0f})}}); }, {"reserved"});
  check_error([&] { save(path, {{"u", Tensor()}}); }, {"'u' is undefined"});
  check_error([&] { save(path, {{"bad\xff", Tensor::from({1.0f})}}); }, {"not valid UTF-8"});
  check_error([&] { save(path, {}, {{"k", "\xc3"}}); }, {"metadata 'k'", "not valid UTF-8"});
  check_error([&] { save(dir.file("no/such/dir/x.safetensors"), {}); }, {"save", "cannot create the temporary file"});
  CHECK(read_bytes(path) == before);
  // No temporary files are left behind by failed saves.
  int entries = 0;
  for (const auto& entry : fs::directory_iterator(dir.path)) entries += entry.path().filename() != "keep.safetensors";
  CHECK(entries == 0);
}

TEST_CASE("moments-inspect prints names, shapes, dtypes, statistics and metadata; a malformed file exits non-zero") {
  TempDir dir;
  std::string path = dir.file("inspect.safetensors");
  save(path, {{"w", Tensor::from({1.0f, 2.0f, 3.0f, 6.0f}, {2, 2})}, {"e", Tensor::empty({0, 3})},
              {"n", Tensor::from({1.0f, NAN, INFINITY})}},
       {{"epoch", "7"}, {"evil", "\x1b[31mred"}});
  const std::pair<std::string, int> result = run(std::string("'") + MOMENTS_INSPECT + "' '" + path + "'");
  const std::string& output = result.first;
  INFO(output);
  CHECK(result.second == 0);
  for (const char* piece : {"3 tensors, 7 float32 values", "epoch = 7", "evil = \\x1b[31mred", "w ", "[2, 2]", "F32",
                            "[0, 3]", "(1 nan, 1 inf)"})
    CHECK_MESSAGE(output.find(piece) != std::string::npos, "missing '", piece, "'");
  // w: min 1, max 6, mean 3, std sqrt(3.5) = 1.8708
  CHECK(output.find("1            6            3       1.8708") != std::string::npos);

  std::string bad = dir.file("bad.safetensors");
  write_bytes(bad, io_testing::malformed_files()[1].bytes);  // header length above the limit
  const std::pair<std::string, int> error = run(std::string("'") + MOMENTS_INSPECT + "' '" + bad + "'");
  INFO(error.first);
  CHECK(error.second == 1);
  CHECK(error.first.find("moments-inspect: load '" + bad + "': header length 100000001 is above the limit") != std::string::npos);
  CHECK(run(std::string("'") + MOMENTS_INSPECT + "'").second == 2);
}

TEST_CASE("the committed fuzz seed corpus holds every malformed file of the table") {
  for (const io_testing::MalformedFile& bad : io_testing::malformed_files()) {
    CAPTURE(bad.name);
    CHECK(read_bytes(std::string(IO_FUZZ_CORPUS) + "/" + bad.name) == bad.bytes);
  }
}
