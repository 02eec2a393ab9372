// malformed_files.hpp — one hand-made file per rule of the safetensors loader
// (lib/io/safetensors_format.hpp), with the words its error must contain.
//
// Used by test_safetensors.cpp (each file must be rejected with its message) and
// by make_fuzz_corpus.cpp, which wrote them into fuzz_corpus/ as the fuzzer's seeds.
#pragma once
#include <bit>
#include <cstdint>
#include <string>
#include <vector>

namespace io_testing {

// N as the file stores it: 8 bytes, little-endian.
inline std::string u64_le(uint64_t n) {
  std::string bytes(8, '\0');
  for (int i = 0; i < 8; ++i) bytes[static_cast<size_t>(i)] = static_cast<char>((n >> (8 * i)) & 0xff);
  return bytes;
}

// `count` float32 values 1, 2, 3, ... as little-endian bytes.
inline std::string f32_data(size_t count) {
  std::string bytes;
  for (size_t i = 0; i < count; ++i) {
    auto bits = std::bit_cast<uint32_t>(static_cast<float>(i + 1));
    for (int k = 0; k < 4; ++k) bytes += static_cast<char>((bits >> (8 * k)) & 0xff);
  }
  return bytes;
}

// A whole file: N, the header padded with spaces to a multiple of 8, then the data.
inline std::string file_of(std::string header, const std::string& data) {
  header.append((8 - header.size() % 8) % 8, ' ');
  return u64_le(header.size()) + header + data;
}

struct MalformedFile {
  std::string name;                   // its file name in fuzz_corpus/
  std::string rule;                   // the rule it breaks
  std::string bytes;                  // the whole file
  std::vector<std::string> expected;  // pieces of the error message
};

inline std::vector<MalformedFile> malformed_files() {
  const std::string w2 = R"("w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]})";  // a good entry: 2 floats
  const std::string good = file_of("{" + w2 + "}", f32_data(2));
  std::string nested = R"({"w":)";
  for (int i = 0; i < 1000; ++i) nested += "[";
  for (int i = 0; i < 1000; ++i) nested += "]";
  nested += "}";
  return {
      {"short_file", "the file holds the 8 bytes of N", "abc", {"3 bytes", "too short"}},
      {"header_too_long", "N <= 100,000,000", u64_le(100'000'001) + "{}      ", {"100000001", "above the limit"}},
      {"header_past_end", "the header ends inside the file", u64_le(64) + "{}      ", {"64", "runs past the end of the file"}},
      {"empty_header", "the header is not empty", u64_le(0), {"header is empty"}},
      {"not_an_object", "the header starts with '{'", file_of("[1, 2]", ""), {"does not start with '{'", "0x5b"}},
      {"leading_space", "the header starts with '{'", file_of(" {}", ""), {"does not start with '{'", "0x20"}},
      {"invalid_utf8", "the header is valid UTF-8", file_of("{\"w\xff\":1}", ""), {"not valid UTF-8", "0xff", "offset 3"}},
      {"overlong_utf8", "the header is valid UTF-8", file_of("{\"\xc0\xaf\":1}", ""), {"not valid UTF-8", "0xc0"}},
      {"invalid_json", "the header is valid JSON", file_of(R"({"w": })", ""), {"not valid JSON"}},
      {"trailing_junk", "the header is valid JSON", file_of("{}x", ""), {"not valid JSON"}},
      {"deep_nesting", "no absurd nesting", file_of(nested, ""), {"nests 1001 levels deep"}},
      {"duplicate_name", "no name twice", file_of("{" + w2 + "," + w2 + "}", f32_data(2)), {"\"w\" twice"}},
      {"duplicate_field", "no name twice", file_of(R"({"w":{"dtype":"F32","dtype":"F32","shape":[2],"data_offsets":[0,8]}})", f32_data(2)),
       {"\"dtype\" twice"}},
      {"metadata_not_object", "__metadata__ maps strings to strings", file_of(R"({"__metadata__":["a"]})", ""),
       {"__metadata__ is a list", "object of strings"}},
      {"metadata_number", "metadata values are strings", file_of(R"({"__metadata__":{"epoch":3}})", ""),
       {"\"epoch\"", "a number (3)", "must be strings"}},
      {"entry_not_object", "an entry is an object", file_of(R"({"w":5})", ""), {"tensor \"w\"", "a number (5)", "expected an object"}},
      {"missing_field", "an entry has dtype, shape, data_offsets", file_of(R"({"w":{"dtype":"F32","data_offsets":[0,0]}})", ""),
       {"tensor \"w\"", "no \"shape\""}},
      {"unknown_field", "an entry has nothing else", file_of(R"({"w":{"dtype":"F32","shape":[],"data_offsets":[0,4],"x":1}})", f32_data(1)),
       {"unknown field \"x\""}},
      {"unknown_dtype", "dtype is known", file_of(R"({"w":{"dtype":"F33","shape":[2],"data_offsets":[0,8]}})", f32_data(2)),
       {"unknown dtype \"F33\""}},
      {"unsupported_dtype", "dtype is F32", file_of(R"({"w":{"dtype":"F16","shape":[2],"data_offsets":[0,4]}})", f32_data(1)),
       {"dtype \"F16\"", "float32 only"}},
      {"dtype_not_string", "dtype is a string", file_of(R"({"w":{"dtype":32,"shape":[2],"data_offsets":[0,8]}})", f32_data(2)),
       {"dtype a number (32)"}},
      {"negative_shape", "sizes are >= 0", file_of(R"({"w":{"dtype":"F32","shape":[2,-3],"data_offsets":[0,8]}})", f32_data(2)),
       {"shape dimension 1 is negative (-3)"}},
      {"shape_not_list", "shape is a list", file_of(R"({"w":{"dtype":"F32","shape":2,"data_offsets":[0,8]}})", f32_data(2)),
       {"shape a number (2)", "list of sizes"}},
      {"fractional_shape", "sizes are integers", file_of(R"({"w":{"dtype":"F32","shape":[2.5],"data_offsets":[0,8]}})", f32_data(2)),
       {"shape dimension 0 is a number (2.5)", "expected an integer"}},
      {"shape_overflow", "the byte size fits in 64 bits",
       file_of(R"({"w":{"dtype":"F32","shape":[4611686018427387904,2,0],"data_offsets":[0,0]}})", ""), {"overflows 64 bits"}},
      // [2^31, 2^31]: 2^62 elements fit in int64, their 2^64 bytes do not; [2^31, 2^30] is exactly 2^63 bytes, one past
      // int64; [2^62, 2^62] overflows the element count itself. Each would wrap to a small size (0) if multiplied unchecked.
      {"shape_2e31_squared", "the byte size fits in 64 bits",
       file_of(R"({"w":{"dtype":"F32","shape":[2147483648,2147483648],"data_offsets":[0,0]}})", ""),
       {"tensor \"w\" has shape [2147483648,2147483648]", "overflows 64 bits"}},
      {"shape_2e63_bytes", "the byte size fits in 64 bits",
       file_of(R"({"w":{"dtype":"F32","shape":[2147483648,1073741824],"data_offsets":[0,0]}})", ""),
       {"tensor \"w\" has shape [2147483648,1073741824]", "overflows 64 bits"}},
      {"shape_2e62_squared", "the byte size fits in 64 bits",
       file_of(R"({"w":{"dtype":"F32","shape":[4611686018427387904,4611686018427387904],"data_offsets":[0,0]}})", ""),
       {"tensor \"w\" has shape [4611686018427387904,4611686018427387904]", "overflows 64 bits"}},
      {"huge_size", "the byte size fits in 64 bits",
       file_of(R"({"w":{"dtype":"F32","shape":[18446744073709551615],"data_offsets":[0,8]}})", f32_data(2)), {"overflows 64 bits"}},
      {"offsets_not_integers", "data_offsets are integers", file_of(R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[0,"8"]}})", f32_data(2)),
       {"data_offsets[1] is a string (\"8\")", "expected an integer"}},
      {"offsets_not_pair", "data_offsets has two entries", file_of(R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[8]}})", f32_data(2)),
       {"data_offsets a list", "two integers"}},
      {"negative_offset", "data_offsets are >= 0", file_of(R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[-8,0]}})", f32_data(2)),
       {"data_offsets[0] is negative (-8)"}},
      {"reversed_offsets", "begin <= end", file_of(R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[8,0]}})", f32_data(2)),
       {"reversed data_offsets [8, 0]"}},
      {"size_mismatch", "the offsets span the shape's bytes", file_of(R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[0,12]}})", f32_data(3)),
       {"spanning 12 bytes", "[2]", "needs 8"}},
      {"offsets_past_data", "the tensor ends inside the data", file_of(R"({"w":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}})", f32_data(2)),
       {"past the end of the data section (8 bytes)"}},
      {"truncated", "the data is complete", good.substr(0, good.size() - 3), {"truncated"}},
      {"trailing_bytes", "no bytes after the last tensor", good + "xyz", {"3 trailing bytes"}},
      {"overlap", "tensors do not overlap",
       file_of(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})", f32_data(3)),
       {"\"a\" [0, 8]", "\"b\" [4, 12]", "overlap"}},
      {"gap", "no gaps between tensors",
       file_of(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"b":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}})", f32_data(3)),
       {"gap", "bytes [4, 8)", "before \"b\""}},
      {"gap_at_start", "no gaps between tensors", file_of(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})", f32_data(2)),
       {"gap", "bytes [0, 4)"}},
  };
}

}  // namespace io_testing
