// tests/io/io_testing.hpp — helpers shared by the io suite: a scratch
// directory removed at the end of a test, reading a file's bytes, running a command.
#pragma once
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <utility>

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

// Runs a shell command: its stdout and stderr together, and its exit status (-1 if it did not exit).
inline std::pair<std::string, int> run(const std::string& command) {
  FILE* pipe = popen((command + " 2>&1").c_str(), "r");
  if (!pipe) return {"popen failed", -1};
  std::string output;
  char buffer[4096];
  size_t n = 0;
  while ((n = fread(buffer, 1, sizeof buffer, pipe)) > 0) output.append(buffer, n);
  int status = pclose(pipe);
  return {output, WIFEXITED(status) ? WEXITSTATUS(status) : -1};
}

}  // namespace io_testing
