// tutorial_check [--section HEADING] [--varies UNIT]... PROGRAM README.md [ARGS...]
// Runs PROGRAM with ARGS and checks that its standard output equals the
// README's output block: the first ```text fence after the line HEADING
// (default "## Output"). On a mismatch prints the first differing line of each
// and exits 1.
// --varies UNIT (repeatable) marks measurements that differ from run to run:
// the word right before UNIT (e.g. "812" in "812 ms/epoch") is not compared.
// The READMEs show what the default build prints (x86-64-v3, no BLAS). Where
// matrix products round otherwise (-Dblas=openblas, another -Dcpu_baseline,
// another CPU family; meson.build defines MOMENTS_INEXACT_OUTPUT), a mismatch
// is reported and the check exits 77 (skipped) once the program has run to the
// end; a crash or a non-zero exit still fails.
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

// Replaces the word before each `unit` with "*", in place.
std::string mask(const std::string& line, const std::vector<std::string>& units) {
  std::vector<std::string> words;
  std::istringstream in(line);
  for (std::string w; in >> w;) words.push_back(w);
  for (size_t i = 1; i < words.size(); ++i)
    for (const std::string& unit : units)
      if (words[i] == unit) words[i - 1] = "*";
  std::string out;
  for (const std::string& w : words) out += (out.empty() ? "" : " ") + w;
  return units.empty() ? line : out;
}

std::string expected_block(const std::string& readme_path, const std::string& heading) {
  std::ifstream in(readme_path);
  if (!in) throw std::runtime_error("cannot open " + readme_path);
  std::string line, block;
  bool in_section = false, in_block = false;
  while (std::getline(in, line)) {
    if (in_block) {
      if (line.rfind("```", 0) == 0) return block;
      block += line + "\n";
    } else if (line == heading) {
      in_section = true;
    } else if (in_section && line.rfind("```text", 0) == 0) {
      in_block = true;
    }
  }
  throw std::runtime_error(readme_path + ": no ```text block after a '" + heading + "' line");
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
  std::string heading = "## Output";
  std::vector<std::string> units;
  int arg = 1;
  for (; arg + 1 < argc && std::string(argv[arg]).rfind("--", 0) == 0; arg += 2) {
    if (std::string(argv[arg]) == "--section") heading = argv[arg + 1];
    else if (std::string(argv[arg]) == "--varies") units.push_back(argv[arg + 1]);
    else break;
  }
  if (argc - arg < 2) {
    std::cerr << "usage: tutorial_check [--section HEADING] [--varies UNIT]... PROGRAM README.md [ARGS...]\n";
    return 2;
  }
  const char* program = argv[arg];
  const char* readme = argv[arg + 1];
  try {
    std::string command = std::string("'") + program + "'";
    for (int i = arg + 2; i < argc; ++i) command += std::string(" '") + argv[i] + "'";
    std::vector<std::string> expected = lines_of(expected_block(readme, heading));
    std::vector<std::string> actual = lines_of(run(command));
    for (size_t i = 0; i < std::max(expected.size(), actual.size()); ++i) {
      std::string e = i < expected.size() ? expected[i] : "<end of README block>";
      std::string a = i < actual.size() ? actual[i] : "<end of program output>";
      if (mask(e, units) != mask(a, units)) {
        std::cerr << readme << ": line " << i + 1 << " differs\n  README:  " << e << "\n  program: " << a << "\n";
#if defined(MOMENTS_INEXACT_OUTPUT)
        std::cout << "skipped: the README shows the default build's exact output, and here " MOMENTS_INEXACT_OUTPUT
                     "; the program ran to the end\n";
        return 77;
#else
        return 1;
#endif
      }
    }
    std::cout << "README output block matches (" << actual.size() << " lines)\n";
    return 0;
  } catch (const std::exception& e) {
    std::cerr << "tutorial_check: " << e.what() << "\n";
    return 1;
  }
}
