// tutorial_check PROGRAM README.md [ARGS...]
// Runs PROGRAM and checks that its standard output equals the README's output
// block: the first ```text fence after a line starting with "## Output".
// On a mismatch prints the first differing line of each and exits 1.
#include <array>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

namespace {

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

std::string expected_block(const std::string& readme_path) {
  std::ifstream in(readme_path);
  if (!in) throw std::runtime_error("cannot open " + readme_path);
  std::string line, block;
  bool in_section = false, in_block = false;
  while (std::getline(in, line)) {
    if (in_block) {
      if (line.rfind("```", 0) == 0) return block;
      block += line + "\n";
    } else if (line.rfind("## Output", 0) == 0) {
      in_section = true;
    } else if (in_section && line.rfind("```text", 0) == 0) {
      in_block = true;
    }
  }
  throw std::runtime_error(readme_path + ": no ```text block after a '## Output' heading");
}

std::string run(const std::string& command) {
  FILE* pipe = popen(command.c_str(), "r");
  if (!pipe) throw std::runtime_error("cannot run " + command);
  std::string output;
  std::array<char, 4096> buffer{};
  size_t n = 0;
  while ((n = fread(buffer.data(), 1, buffer.size(), pipe)) > 0) output.append(buffer.data(), n);
  int status = pclose(pipe);
  if (status != 0) throw std::runtime_error(command + " exited with status " + std::to_string(status));
  return output;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) {
    std::cerr << "usage: tutorial_check PROGRAM README.md [ARGS...]\n";
    return 2;
  }
  try {
    std::string command = std::string("'") + argv[1] + "'";
    for (int i = 3; i < argc; ++i) command += std::string(" '") + argv[i] + "'";
    std::vector<std::string> expected = lines_of(expected_block(argv[2]));
    std::vector<std::string> actual = lines_of(run(command));
    for (size_t i = 0; i < std::max(expected.size(), actual.size()); ++i) {
      std::string e = i < expected.size() ? expected[i] : "<end of README block>";
      std::string a = i < actual.size() ? actual[i] : "<end of program output>";
      if (e != a) {
        std::cerr << argv[2] << ": line " << i + 1 << " differs\n  README:  " << e << "\n  program: " << a << "\n";
        return 1;
      }
    }
    std::cout << "README output block matches (" << actual.size() << " lines)\n";
    return 0;
  } catch (const std::exception& e) {
    std::cerr << "tutorial_check: " << e.what() << "\n";
    return 1;
  }
}
