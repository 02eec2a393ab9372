// index_check TUTORIALS_DIR — checks the course index tutorials/README.md against the tree.
//
//   1. every tutorial folder (NN_name/) is linked from the index as "](NN_name/)",
//      in increasing order of NN, and holds a README.md and a main.cpp;
//   2. every relative link and image in the index resolves, except on a line
//      that says the tutorial is "planned";
//   3. every image in each tutorial's README resolves, relative to its folder.
// Prints each problem on its own line and exits 1 if there is any.
//
// Run by `meson test --suite tutorials` (test tutorials_index).
#include <algorithm>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

namespace fs = std::filesystem;

namespace {

std::string read(const fs::path& path) {
  std::ifstream in(path);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

bool is_tutorial_folder(const fs::path& path) {
  std::string name = path.filename().string();
  return fs::is_directory(path) && name.size() > 3 && std::isdigit(static_cast<unsigned char>(name[0])) &&
         std::isdigit(static_cast<unsigned char>(name[1])) && name[2] == '_';
}

struct Link {
  std::string target;
  bool image;
  std::string line;
};

// Markdown links "[text](target)" and images "![alt](target)", with the line they are on.
std::vector<Link> links_of(const std::string& text) {
  std::vector<Link> links;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    for (size_t at = line.find("]("); at != std::string::npos; at = line.find("](", at + 2)) {
      size_t end = line.find(')', at + 2);
      if (end == std::string::npos) break;
      size_t open = line.rfind('[', at);
      bool image = open != std::string::npos && open > 0 && line[open - 1] == '!';
      links.push_back({line.substr(at + 2, end - at - 2), image, line});
    }
  }
  return links;
}

bool is_relative(const std::string& target) {
  return target.find("://") == std::string::npos && target.rfind('#', 0) != 0 && target.rfind("mailto:", 0) != 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: index_check TUTORIALS_DIR\n";
    return 2;
  }
  const fs::path dir = argv[1];
  const std::string index = read(dir / "README.md");
  std::vector<std::string> problems;
  if (index.empty()) problems.push_back(fs::path(dir / "README.md").string() + " is missing or empty");

  std::vector<fs::path> folders;
  for (const fs::directory_entry& entry : fs::directory_iterator(dir))
    if (is_tutorial_folder(entry.path())) folders.push_back(entry.path());
  std::sort(folders.begin(), folders.end());

  size_t previous = 0;
  std::string previous_name;
  for (const fs::path& folder : folders) {
    std::string name = folder.filename().string();
    size_t at = index.find("](" + name + "/)");
    if (at == std::string::npos) problems.push_back("the index does not link " + name + "/ as \"](" + name + "/)\"");
    else if (at < previous) problems.push_back("the index lists " + name + " before " + previous_name);
    else previous = at, previous_name = name;
    for (const char* file : {"README.md", "main.cpp"})
      if (!fs::exists(folder / file)) problems.push_back(name + "/ has no " + file);
    for (const Link& link : links_of(read(folder / "README.md")))
      if (link.image && is_relative(link.target) && !fs::exists(folder / link.target))
        problems.push_back(name + "/README.md shows " + link.target + ", which does not exist");
  }

  for (const Link& link : links_of(index))
    if (is_relative(link.target) && !fs::exists(dir / link.target) && link.line.find("planned") == std::string::npos)
      problems.push_back("the index links " + link.target + ", which does not exist");

  for (const std::string& problem : problems) std::cout << "index_check: " << problem << "\n";
  if (!problems.empty()) return 1;
  std::cout << "the index links all " << folders.size() << " tutorial folders, in order, and every link resolves\n";
  return 0;
}
