// tests/io/io_testing.hpp — helpers shared by the io suite: a scratch
// directory removed at the end of a test, and reading a file's bytes.
#pragma once
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "../temp_files.hpp"

namespace io_testing {

namespace fs = std::filesystem;

// A fresh directory under the system's temp dir, named by `tag` and the process id.
struct TempDir {
  fs::path path;
  explicit TempDir(const std::string& tag = "io") {
    path = fs::temp_directory_path() / ("moments_" + tag + "_test_" + std::to_string(getpid()));
    fs::create_directories(path);
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
  std::string file(const std::string& name) const { return (path / name).string(); }
};

// The whole file, byte for byte ("" when it cannot be read): tests/temp_files.hpp's.
using testing::read_file;
inline std::string read_bytes(const std::string& path) { return read_file(path); }

}  // namespace io_testing
