// python_check PYTHON SCRIPT DIR — moments and an independent Python reader agree.
//
// Writes DIR/python_check_ours.safetensors with moments' save(), runs
//   PYTHON SCRIPT check OURS THEIRS       (tests/reference/make_safetensors_check.py)
// which checks our file bit for bit with json, struct and numpy and writes THEIRS
// laid out as the safetensors Python package does; then loads THEIRS with moments
// and checks its values. Both sides compute the values from the same formula.
// Exits 77 (meson: skipped) when there is no Python or no numpy.
#include <sys/wait.h>
#include <unistd.h>

#include <bit>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <string>
#include <vector>

#include "safetensors.hpp"

using namespace moments;

namespace {

// The tensors a writer ("moments" or "numpy") puts in its file; as the script's expected_tensors().
NamedTensors expected_tensors(const std::string& writer) {
  struct Spec {
    const char* name;
    Shape shape;
    int k;
  };
  const std::vector<Spec> specs = {{"scalar", {}, 1},         {"vector", {5}, 2},          {"matrix", {3, 4}, 3},
                                   {"rank3", {2, 3, 4}, 4},   {"rank4", {2, 1, 3, 2}, 5},  {"empty", {3, 0}, 6}};
  NamedTensors out;
  for (const Spec& s : specs) {
    const int k = s.k + (writer == "numpy" ? 10 : 0);
    Tensor t = Tensor::empty(s.shape);
    for (int64_t i = 0; i < t.numel(); ++i) t.data()[i] = static_cast<float>(((7 * i + k) % 17) - 8) * 0.25f;
    out.emplace_back(writer + "." + s.name, t);
  }
  const std::vector<uint32_t> specials = {0x00000000u, 0x80000000u, 0x00000001u, 0x007FFFFFu, 0x7F7FFFFFu,
                                          0x7F800000u, 0xFF800000u, 0x7FC00000u, 0xFFC12345u, 0x3EAAAAABu};
  Tensor t = Tensor::empty({static_cast<int64_t>(specials.size())});
  for (size_t i = 0; i < specials.size(); ++i) t.data()[i] = std::bit_cast<float>(specials[i]);
  out.emplace_back(writer + ".specials", t);
  return out;
}

bool same_bits(const Tensor& a, const Tensor& b) {
  if (a.shape() != b.shape()) return false;
  for (int64_t i = 0; i < a.numel(); ++i)
    if (std::bit_cast<uint32_t>(a.data()[i]) != std::bit_cast<uint32_t>(b.data()[i])) return false;
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 4) {
    std::fprintf(stderr, "usage: python_check PYTHON SCRIPT DIR\n");
    return 2;
  }
  const std::string python = argv[1], script = argv[2], dir = argv[3];
  if (python.empty() || access(python.c_str(), X_OK) != 0) {
    std::printf("python_check: no python3 found, skipping\n");
    return 77;
  }
  try {
    const std::string ours = dir + "/python_check_ours.safetensors", theirs = dir + "/python_check_theirs.safetensors";
    save(ours, expected_tensors("moments"), {{"writer", "moments"}, {"note", "h\u00e9llo \u2713"}});
    std::remove(theirs.c_str());
    const std::string command = "'" + python + "' '" + script + "' check '" + ours + "' '" + theirs + "'";
    std::printf("%s\n", command.c_str());
    std::fflush(stdout);
    const int status = std::system(command.c_str());
    const int code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    if (code == 77) return 77;  // no numpy
    if (code != 0) {
      std::printf("python_check: the Python reader rejected our file (exit %d)\n", code);
      return 1;
    }

    const SafetensorsFile file = load(theirs);
    const NamedTensors expected = expected_tensors("numpy");
    bool ok = file.tensors.size() == expected.size();
    for (const auto& [name, tensor] : expected) {
      if (!file.contains(name) || !same_bits(file.get(name), tensor)) {
        std::printf("python_check: tensor %s from the Python writer differs or is missing\n", name.c_str());
        ok = false;
      }
    }
    const Metadata expected_metadata = {{"writer", "numpy"}, {"note", "na\u00efve \u2713"}};
    if (file.metadata != expected_metadata) {
      std::printf("python_check: the Python writer's metadata differs\n");
      ok = false;
    }
    if (!ok) return 1;
    std::printf("python_check: %zu tensors written by Python load bit for bit\n", file.tensors.size());
  } catch (const std::exception& e) {
    std::printf("python_check: %s\n", e.what());
    return 1;
  }
  return 0;
}
