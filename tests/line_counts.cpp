// line_counts SOURCE_ROOT [--check README.md | --write README.md]
// Counts the lines of code in each top-level folder of moments (.cpp, .hpp, .cu,
// .py and meson.build files) and prints the README's tables: one line per folder,
// then one line per file of the library itself (lib/, cuda/, plots/), so a reader
// sees what each piece costs to read and we notice when one grows. With --check,
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
    {"lib", "tensor, autograd, ops, nn, optim/, monitor/, data/, io/ (the readable mainline)"},
    {"cuda", "the CUDA backend and its CPU emulator"},
    {"plots", "charts drawn by our own rasterizer"},
    {"tutorials", "the numbered course"},
    {"tests", "doctest suites, PyTorch reference scripts"},
};

bool is_code(const fs::path& p) {
  std::string ext = p.extension().string();
  return ext == ".cpp" || ext == ".hpp" || ext == ".cu" || ext == ".py" || p.filename() == "meson.build";
}

long lines_of(const fs::path& file) {
  std::ifstream in(file);
  long lines = 0;
  for (std::string line; std::getline(in, line);) ++lines;
  return lines;
}

// The code files under `folder` with their line counts, sorted by path.
std::map<std::string, long> files_of(const fs::path& root, const std::string& folder) {
  std::map<std::string, long> files;
  if (!fs::exists(root / folder)) return files;
  for (const auto& entry : fs::recursive_directory_iterator(root / folder))
    if (entry.is_regular_file() && is_code(entry.path()))
      files[fs::relative(entry.path(), root).generic_string()] = lines_of(entry.path());
  return files;
}

std::string table(const fs::path& root) {
  std::ostringstream out;
  out << "| folder | what | files | lines |\n|---|---|---:|---:|\n";
  long total_files = 0, total_lines = 0;
  for (const auto& [folder, what] : kFolders) {
    long lines = 0;
    auto files = files_of(root, folder);
    for (const auto& [path, n] : files) lines += n;
    total_files += static_cast<long>(files.size());
    total_lines += lines;
    out << "| `" << folder << "/` | " << what << " | " << files.size() << " | " << lines << " |\n";
  }
  out << "| total | | " << total_files << " | " << total_lines << " |\n";
  out << "\n<details><summary>Lines per file of the library (lib/, cuda/, plots/)</summary>\n\n";
  out << "| file | lines |\n|---|---:|\n";
  for (const char* folder : {"lib", "cuda", "plots"})
    for (const auto& [path, n] : files_of(root, folder)) out << "| `" << path << "` | " << n << " |\n";
  out << "\n</details>\n";
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
