// tests/temp_files.hpp — temporary files for the tests that write logs and checkpoints.
#pragma once
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

namespace testing {

// `name` in the system's temporary folder.
inline std::string temp_path(const char* name) { return (std::filesystem::temp_directory_path() / name).string(); }

// A temporary path with no file at it yet.
inline std::string fresh_path(const char* name) {
  std::string path = temp_path(name);
  std::filesystem::remove(path);
  return path;
}

// The whole file, byte for byte ("" when it cannot be read).
inline std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream bytes;
  bytes << in.rdbuf();
  return bytes.str();
}

}  // namespace testing
