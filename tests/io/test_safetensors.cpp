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
#include <sys/stat.h>
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
using io_testing::run;
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

TEST_CASE("a file name of up to 255 bytes saves and loads: the temporary name always fits") {
  TempDir dir("long_names");
  for (size_t length : {200, 244, 245, 250, 254, 255}) {
    CAPTURE(length);
    const std::string name = std::string(length - 12, 'n') + ".safetensors";  // length bytes in all
    REQUIRE(name.size() == length);
    const std::string path = dir.file(name);
    save(path, {{"w", Tensor::from({1.0f, 2.0f})}});
    save(path, {{"w", Tensor::from({3.0f})}});  // and over an existing file
    CHECK(load(path).get("w").to_vector() == std::vector<float>{3.0f});
  }
  // 256 bytes is past the limit of the filesystem, and the error says so.
  check_error([&] { save(dir.file(std::string(256, 'n')), {}); }, {"save '", "File name too long"});
  int entries = 0;
  for (const auto& entry : fs::directory_iterator(dir.path)) entries += entry.path().filename().string()[0] == '.';
  CHECK(entries == 0);  // no temporary left behind
}

TEST_CASE("saving through a symbolic link writes the link's final target; the link stays a link") {
  TempDir dir("symlinks");
  fs::create_directories(dir.path / "real");
  const std::string target = dir.file("real/target.safetensors");
  save(target, {{"w", Tensor::from({1.0f})}});
  fs::create_symlink("real/target.safetensors", dir.path / "link.safetensors");  // relative to the link's directory
  fs::create_symlink(dir.path / "link.safetensors", dir.path / "chain.safetensors");  // a link to the link

  save(dir.file("link.safetensors"), {{"w", Tensor::from({2.0f})}});
  CHECK(fs::is_symlink(dir.path / "link.safetensors"));
  CHECK(load(target).get("w").to_vector() == std::vector<float>{2.0f});
  save(dir.file("chain.safetensors"), {{"w", Tensor::from({3.0f})}});
  CHECK(fs::is_symlink(dir.path / "chain.safetensors"));
  CHECK(fs::is_symlink(dir.path / "link.safetensors"));
  CHECK(load(target).get("w").to_vector() == std::vector<float>{3.0f});
  CHECK(load(dir.file("chain.safetensors")).get("w").to_vector() == std::vector<float>{3.0f});

  // A dangling link: its target is created.
  fs::create_symlink("real/new.safetensors", dir.path / "dangling.safetensors");
  save(dir.file("dangling.safetensors"), {{"w", Tensor::from({4.0f})}});
  CHECK(fs::is_symlink(dir.path / "dangling.safetensors"));
  CHECK(load(dir.file("real/new.safetensors")).get("w").to_vector() == std::vector<float>{4.0f});

  // The temporaries went to the target's directory and are gone.
  for (const auto& entry : fs::recursive_directory_iterator(dir.path)) {
    CAPTURE(entry.path());
    CHECK(entry.path().filename().string()[0] != '.');
  }
}

TEST_CASE("a save keeps the mode of the file it replaces; a new file gets 0666 & ~umask") {
  TempDir dir("modes");
  const std::string path = dir.file("secret.safetensors");
  const mode_t old_umask = ::umask(022);
  save(path, {{"w", Tensor::from({1.0f})}});
  CHECK((fs::status(path).permissions() & fs::perms::all) == fs::perms(0644));
  fs::permissions(path, fs::perms(0600));
  save(path, {{"w", Tensor::from({2.0f})}});
  CHECK((fs::status(path).permissions() & fs::perms::all) == fs::perms(0600));
  fs::permissions(path, fs::perms(0640));
  save(path, {{"w", Tensor::from({3.0f})}});
  CHECK((fs::status(path).permissions() & fs::perms::all) == fs::perms(0640));
  ::umask(077);
  save(dir.file("new.safetensors"), {});
  CHECK((fs::status(dir.file("new.safetensors")).permissions() & fs::perms::all) == fs::perms(0600));
  ::umask(old_umask);
  CHECK(load(path).get("w").to_vector() == std::vector<float>{3.0f});
}

TEST_CASE("save and load errors name the path once and give the system's real reason") {
  TempDir dir("errno");
  const std::string missing_dir = dir.file("no/such/dir/x.safetensors");
  const std::string message = testing::error_of([&] { save(missing_dir, {}); });
  INFO(message);
  CHECK(message.find("save '" + missing_dir + "': cannot create the temporary file") == 0);
  CHECK(message.find("x.safetensors") == message.rfind("x.safetensors"));  // the path once
  CHECK(message.find("No such file or directory") != std::string::npos);

  // A symbolic link loop: ELOOP, on save and on load.
  fs::create_symlink("b.safetensors", dir.path / "a.safetensors");
  fs::create_symlink("a.safetensors", dir.path / "b.safetensors");
  check_error([&] { save(dir.file("a.safetensors"), {}); }, {"save '" + dir.file("a.safetensors") + "'", "Too many levels of symbolic links"});
  check_error([&] { load(dir.file("a.safetensors")); }, {"load '" + dir.file("a.safetensors") + "'", "Too many levels of symbolic links"});
  // A loop in a directory above the file: ELOOP too.
  fs::create_symlink("loop", dir.path / "loop");
  check_error([&] { save(dir.file("loop/x.safetensors"), {}); }, {"Too many levels of symbolic links"});
  check_error([&] { load(dir.file("loop/x.safetensors")); }, {"Too many levels of symbolic links"});
  // A regular file used as a directory: ENOTDIR.
  save(dir.file("plain"), {});
  check_error([&] { save(dir.file("plain/x.safetensors"), {}); }, {"save '" + dir.file("plain/x.safetensors") + "'", "Not a directory"});
  check_error([&] { load(dir.file("plain/x.safetensors")); }, {"load '", "Not a directory"});
  // A FIFO is not read (and does not block the load).
  REQUIRE(::mkfifo(dir.file("fifo").c_str(), 0600) == 0);
  check_error([&] { load(dir.file("fifo")); }, {"not a regular file"});

  // A directory we may not enter: EACCES. Root is not stopped by permissions, so there it is skipped.
  fs::create_directories(dir.path / "locked");
  save(dir.file("locked/x.safetensors"), {});
  fs::permissions(dir.path / "locked", fs::perms::none);
  if (::geteuid() == 0) {
    MESSAGE("running as root, where permission checks are bypassed: the EACCES case is skipped (ELOOP and ENOTDIR above check the errno reporting)");
  } else {
    check_error([&] { load(dir.file("locked/x.safetensors")); }, {"load '", "Permission denied"});
    check_error([&] { save(dir.file("locked/x.safetensors"), {}); }, {"save '", "Permission denied"});
  }
  fs::permissions(dir.path / "locked", fs::perms::owner_all);
}

TEST_CASE("temporaries of dead processes are removed by the next save into the directory; nothing else is") {
  TempDir dir("stale");
  pid_t child = fork();
  REQUIRE(child >= 0);
  if (child == 0) _exit(0);
  REQUIRE(waitpid(child, nullptr, 0) == child);  // a pid that no longer runs
  const std::string dead = dir.file(".moments-tmp." + std::to_string(child) + ".7");
  const std::string alive = dir.file(".moments-tmp." + std::to_string(getppid()) + ".0");  // our parent runs
  const std::vector<std::string> others = {dir.file(".moments-tmp.x.1"), dir.file("x.safetensors.tmp.1"),
                                           dir.file(".moments-tmp." + std::to_string(child))};
  for (const std::string& p : others) write_bytes(p, "keep");
  write_bytes(dead, "half a file");
  write_bytes(alive, "a save in progress");
  save(dir.file("x.safetensors"), {});
  CHECK_FALSE(fs::exists(dead));
  CHECK(fs::exists(alive));
  for (const std::string& p : others) {
    CAPTURE(p);
    CHECK(fs::exists(p));
  }
}
