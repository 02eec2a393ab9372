// io/safetensors_format.hpp — the safetensors file format at the level of bytes:
// the header's rules, checked one by one, and the little-endian float32 codec.
//
// A safetensors file (https://github.com/huggingface/safetensors, "Format") is
//
//   bytes [0, 8)          N, the header length: an unsigned 64-bit little-endian integer
//   bytes [8, 8 + N)      the header: UTF-8 JSON text holding one object, e.g.
//                           {"__metadata__": {"epoch": "3"},
//                            "layers.0.weight": {"dtype": "F32", "shape": [32, 64], "data_offsets": [0, 8192]},
//                            "layers.0.bias": {"dtype": "F32", "shape": [32], "data_offsets": [8192, 8320]}}
//                         padded at the end with spaces so that N is a multiple of 8
//   bytes [8 + N, end)    the data section: each tensor's elements, row-major, little-endian;
//                         data_offsets = [begin, end) count bytes from the start of this section
//
// This part knows nothing of moments::Tensor, so the fuzzer (tests/io/fuzz_loader.cpp)
// builds it alone; safetensors.hpp turns it into save() and load() for tensors.
//
// USAGE (what load() does; here on a file already in memory)
//   uint64_t n = read_u64_le(bytes);                                  // N
//   check_header_length(n, size, "load 'x.safetensors'");             // N fits the rules and the file
//   Header header = parse_header({chars + 8, n}, size - 8 - n, "load 'x.safetensors'");
//   for (const Entry& e : header.tensors)                             // offsets now checked
//     decode_f32(bytes + 8 + n + e.begin, (e.end - e.begin) / 4, values);
//
// THE LOADER'S RULES (parse_header, in the order it checks them; each failure is a
// moments::Error naming the file, the rule and the offending values):
//   the file holds at least the 8 bytes of N; N <= 100,000,000; N fits in the file;
//   the header starts with '{'; is valid UTF-8; nests at most max_json_depth deep;
//   is valid JSON with no name twice in any object;
//   __metadata__, if present, maps strings to strings;
//   every other entry is {"dtype", "shape", "data_offsets"} and nothing else;
//   dtype is "F32" (other safetensors dtypes are named as unsupported, the rest as unknown);
//   shape is a list of integers >= 0 whose byte size fits in 63 bits;
//   data_offsets is a list of two integers, begin <= end, end - begin = the byte size,
//   end within the data section;
//   the tensors tile the data section exactly: no overlap, no gap, no trailing bytes.
// Nothing is allocated from a size before that size has been checked against the file.
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

namespace moments::safetensors {

inline constexpr uint64_t max_header_bytes = 100'000'000;  // the safetensors limit on N
// A valid header nests 3 deep ({ "name": { "shape": [ ). Anything deeper than this is
// refused before parsing, so no input can drive nlohmann's recursive routines
// (dump, comparisons) deep enough to exhaust the stack.
inline constexpr int max_json_depth = 64;

// One tensor as the header describes it.
struct Entry {
  std::string name;
  std::vector<int64_t> shape;  // sizes, each >= 0; [] is a scalar
  uint64_t begin = 0;          // data_offsets[0]: first byte, counted from the start of the data section
  uint64_t end = 0;            // data_offsets[1]: one past the last byte
};

struct Header {
  std::vector<Entry> tensors;                   // in the order the header lists them
  std::map<std::string, std::string> metadata;  // "__metadata__", empty when absent
};

// N from the first 8 bytes, whatever the host's byte order.
uint64_t read_u64_le(const unsigned char* bytes);
void write_u64_le(uint64_t value, unsigned char* bytes);

// The rules on N: the file must hold the 8 bytes of N, N <= max_header_bytes, and the
// header must end inside the file. `where` starts every message ("load 'ckpt.safetensors'").
void check_header_length(uint64_t header_length, uint64_t file_size, const std::string& where);

// Every rule on the header text (the N bytes after the length). data_size is the
// number of bytes after the header, which the tensors must tile exactly.
Header parse_header(std::string_view text, uint64_t data_size, const std::string& where);

// The header text for these tensors and metadata, in this order, padded with
// spaces to a multiple of 8 bytes. Entries must already have their offsets;
// names and metadata must be valid UTF-8 (see first_invalid_utf8).
std::string make_header(const std::vector<Entry>& tensors, const std::map<std::string, std::string>& metadata);

// Bytes of float32 data for a shape: 4 · Π sizes, or -1 if it does not fit in int64.
int64_t f32_bytes(const std::vector<int64_t>& shape);

// The offset of the first byte that breaks UTF-8 (overlong forms, surrogates and
// code points past U+10FFFF included), or text.size() when the text is valid.
size_t first_invalid_utf8(std::string_view text);

// JSON text from an untrusted source (a header, or JSON stored in metadata):
// checks UTF-8 and nesting depth first, then parses, rejecting repeated names.
// Errors read "<where>: <what> is not valid JSON (...)". When top_level_keys is
// given, it receives the outermost object's names in the order the text lists them.
nlohmann::json parse_json(std::string_view text, const std::string& where, const std::string& what,
                          std::vector<std::string>* top_level_keys = nullptr);

// float32 values <-> little-endian bytes (4 per value), on any host.
void decode_f32(const unsigned char* bytes, size_t count, float* values);
void encode_f32(const float* values, size_t count, unsigned char* bytes);

}  // namespace moments::safetensors
