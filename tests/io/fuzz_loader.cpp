// fuzz_loader.cpp — libFuzzer target for the safetensors loader's rules.
//
// Each input is a whole file. It goes through the same steps as load() — the
// header length against the file size, every header rule, then the decoding of
// each tensor's bytes — and the only acceptable failure is a moments::Error:
// any other exception, crash, sanitizer report, leak or hang is a bug. A header
// that passes must also survive a round trip: written again by make_header and
// parsed again, it describes the same tensors and metadata.
//
// Built with clang only (tests/io/meson.build finds it):
//   clang++ -std=c++20 -g -O1 -fsanitize=fuzzer,address,undefined -Ilib -Ilib/io \
//       tests/io/fuzz_loader.cpp lib/io/safetensors_format.cpp -o fuzz_loader
//   ./fuzz_loader -max_len=4096 NEW_DIR tests/io/fuzz_corpus    (new finds go to NEW_DIR)
#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

#include "error.hpp"
#include "safetensors_format.hpp"

using namespace moments::safetensors;

namespace {

bool same(const Header& a, const Header& b) {
  if (a.metadata != b.metadata || a.tensors.size() != b.tensors.size()) return false;
  for (size_t i = 0; i < a.tensors.size(); ++i) {
    const Entry &x = a.tensors[i], &y = b.tensors[i];
    if (x.name != y.name || x.shape != y.shape || x.begin != y.begin || x.end != y.end) return false;
  }
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    const uint64_t header_length = size >= 8 ? read_u64_le(data) : 0;
    check_header_length(header_length, size, "fuzz");
    std::string_view text(reinterpret_cast<const char*>(data) + 8, static_cast<size_t>(header_length));
    const uint64_t data_size = size - 8 - header_length;
    const Header header = parse_header(text, data_size, "fuzz");

    const unsigned char* section = data + 8 + header_length;
    std::vector<float> values;
    for (const Entry& e : header.tensors) {
      values.resize(static_cast<size_t>((e.end - e.begin) / 4));
      decode_f32(section + e.begin, values.size(), values.data());
    }

    const std::string again = make_header(header.tensors, header.metadata);
    if (!same(parse_header(again, data_size, "fuzz (written again)"), header)) __builtin_trap();
  } catch (const moments::Error&) {
    // a rejected file: the expected outcome for almost every input
  }
  return 0;
}
