// metadata_fuzz_input.hpp — how the checkpoint-metadata fuzzer (fuzz_metadata.cpp)
// reads its input as metadata strings, and how make_fuzz_corpus writes its seeds.
//
// One line per key: "key=value\n", split at the first '='; a later line with the same
// key wins, a line without '=' is skipped. Metadata values that checkpoints write hold
// no newline (JSON without spaces, decimal integers), so every checkpoint's metadata
// has a seed in this form.
#pragma once
#include <map>
#include <string>
#include <string_view>

namespace io_testing {

inline std::map<std::string, std::string> metadata_from_lines(std::string_view bytes) {
  std::map<std::string, std::string> metadata;
  while (!bytes.empty()) {
    const size_t end = std::min(bytes.find('\n'), bytes.size());
    const std::string_view line = bytes.substr(0, end);
    bytes.remove_prefix(end == bytes.size() ? end : end + 1);
    const size_t equals = line.find('=');
    if (equals != std::string_view::npos) metadata[std::string(line.substr(0, equals))] = std::string(line.substr(equals + 1));
  }
  return metadata;
}

inline std::string metadata_to_lines(const std::map<std::string, std::string>& metadata) {
  std::string out;
  for (const auto& [key, value] : metadata) out += key + "=" + value + "\n";
  return out;
}

}  // namespace io_testing
