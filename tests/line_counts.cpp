// line_counts SOURCE_ROOT [--check README.md | --write README.md]
// Counts the lines of code in each top-level folder of moments (.cpp, .hpp, .cu,
// .py and meson.build files) and prints the README's table. With --check,
// compares the table in README.md (between the line-counts markers) with the
// tree and exits 1 with both tables if they differ; --write puts the current
// table between the markers.
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

namespace fs = std::filesystem;

namespace {

const std::vector<std::pair<std::string, std::string>> kFolders = {
    {"lib", "tensor, autograd, ops, random, nn (the readable mainline)"},
    {"cuda", "the CUDA backend"},
    {"plots", "charts drawn by our own rasterizer"},
    {"tutorials", "the numbered course"},
    {"tests", "doctest suites, PyTorch reference scripts"},
};

bool is_code(const fs::path& p) {
  std::string ext = p.extension().string();
  return ext == ".cpp" || ext == ".hpp" || ext == ".cu" || ext == ".py" || p.filename() == "meson.build";
}

std::pair<long, long> count(const fs::path& folder) {  // files, lines
  long files = 0, lines = 0;
  if (!fs::exists(folder)) return {0, 0};
  for (const auto& entry : fs::recursive_directory_iterator(folder)) {
    if (!entry.is_regular_file() || !is_code(entry.path())) continue;
    ++files;
    std::ifstream in(entry.path());
    for (std::string line; std::getline(in, line);) ++lines;
  }
  return {files, lines};
}

std::string table(const fs::path& root) {
  std::ostringstream out;
  out << "| folder | what | files | lines |\n|---|---|---:|---:|\n";
  long total_files = 0, total_lines = 0;
  for (const auto& [folder, what] : kFolders) {
    auto [files, lines] = count(root / folder);
    total_files += files;
    total_lines += lines;
    out << "| `" << folder << "/` | " << what << " | " << files << " | " << lines << " |\n";
  }
  out << "| total | | " << total_files << " | " << total_lines << " |\n";
  return out.str();
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::cerr << "usage: line_counts SOURCE_ROOT [--check README.md]\n";
    return 2;
  }
  std::string actual = table(argv[1]);
  std::string mode = argc >= 4 ? argv[2] : "";
  if (mode != "--check" && mode != "--write") {
    std::cout << actual;
    return 0;
  }
  std::ifstream in(argv[3]);
  std::string line, shown, rewritten;
  bool inside = false, found = false;
  while (std::getline(in, line)) {
    if (line.find("<!-- line-counts:end -->") != std::string::npos) {
      inside = false;
      rewritten += actual;
    }
    if (inside) shown += line + "\n";
    else rewritten += line + "\n";
    if (line.find("<!-- line-counts:begin -->") != std::string::npos) inside = found = true;
  }
  if (!found) {
    std::cerr << argv[3] << ": no <!-- line-counts:begin --> marker\n";
    return 1;
  }
  if (mode == "--write") {
    in.close();
    std::ofstream(argv[3]) << rewritten;
    return 0;
  }
  if (shown == actual) {
    std::cout << "README line counts match the tree\n";
    return 0;
  }
  std::cerr << "README line counts are stale. README shows:\n" << shown << "The tree has:\n" << actual
            << "Update it with: ./build/tests/line_counts . --write README.md\n";
  return 1;
}
