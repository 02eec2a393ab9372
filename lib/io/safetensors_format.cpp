// io/safetensors_format.cpp — the safetensors header, checked rule by rule.
//
// parse_header() reads top to bottom as the list of rules in safetensors_format.hpp:
// one check per rule, each with a comment, each failing with a message that names
// the file, the tensor and the offending values. Order matters only in that no
// value is used (as a size, an offset or an index) before it has been checked.
#include "safetensors_format.hpp"

#include <algorithm>
#include <bit>
#include <cstring>
#include <iomanip>
#include <limits>
#include <set>
#include <sstream>

#include "error.hpp"

namespace moments::safetensors {

using json = nlohmann::json;

namespace {

constexpr uint64_t int64_max = static_cast<uint64_t>(std::numeric_limits<int64_t>::max());

// A name as JSON would write it: quoted, with control characters escaped, so a
// hostile name cannot garble a terminal. Invalid UTF-8 shows as U+FFFD.
std::string quote(const std::string& text) { return json(text).dump(-1, ' ', false, json::error_handler_t::replace); }

// What a JSON value is, for messages: "a number (1.5)", "an array", ...
std::string describe(const json& value) {
  if (value.is_object()) return "an object";
  if (value.is_array()) return "a list";
  if (value.is_null()) return "null";
  std::string text = value.dump(-1, ' ', false, json::error_handler_t::replace);
  if (text.size() > 40) text = text.substr(0, 37) + "...";
  std::string kind = value.is_string() ? "a string" : value.is_boolean() ? "a boolean" : "a number";
  return kind + " (" + text + ")";
}

std::string hex_byte(unsigned char byte) {
  std::ostringstream out;
  out << "0x" << std::hex << std::setw(2) << std::setfill('0') << static_cast<int>(byte);
  return out.str();
}

// The deepest nesting of [ and { outside strings, found without recursion.
int json_depth(std::string_view text) {
  int depth = 0, deepest = 0;
  bool in_string = false, escaped = false;
  for (char c : text) {
    if (in_string) {
      if (escaped) escaped = false;
      else if (c == '\\') escaped = true;
      else if (c == '"') in_string = false;
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      deepest = std::max(deepest, ++depth);
    } else if ((c == ']' || c == '}') && depth > 0) {
      --depth;
    }
  }
  return deepest;
}

// A JSON integer >= 0, or a message saying what it is instead.
uint64_t non_negative_integer(const json& value, const std::string& where, const std::string& what) {
  if (!value.is_number_integer()) fail(where, ": ", what, " is ", describe(value), ", expected an integer");
  // nlohmann stores integers >= 0 as unsigned and negative ones as signed.
  if (!value.is_number_unsigned()) fail(where, ": ", what, " is negative (", value.get<int64_t>(), ")");
  return value.get<uint64_t>();
}

bool is_known_dtype(const std::string& dtype) {
  static const std::set<std::string> known = {"BOOL", "U8",  "I8",  "I16",  "U16",    "F16",   "BF16",    "I32",
                                              "U32",  "F32", "F64", "I64",  "U64",    "F8_E4M3", "F8_E5M2"};
  return known.count(dtype) > 0;
}

std::map<std::string, std::string> read_metadata(const json& value, const std::string& where) {
  // Rule: __metadata__ maps strings to strings (safetensors' HashMap<String, String>).
  if (!value.is_object()) fail(where, ": __metadata__ is ", describe(value), ", expected an object of strings");
  std::map<std::string, std::string> metadata;
  for (const auto& [key, item] : value.items()) {
    if (!item.is_string())
      fail(where, ": __metadata__ value for ", quote(key), " is ", describe(item), "; metadata values must be strings");
    metadata[key] = item.get<std::string>();
  }
  return metadata;
}

Entry read_entry(const std::string& name, const json& value, uint64_t data_size, const std::string& where) {
  const std::string tensor = "tensor " + quote(name);

  // Rule: an entry is an object with exactly the fields dtype, shape and data_offsets.
  if (!value.is_object())
    fail(where, ": ", tensor, " is ", describe(value), ", expected an object with dtype, shape and data_offsets");
  for (const char* field : {"dtype", "shape", "data_offsets"})
    if (!value.contains(field)) fail(where, ": ", tensor, " has no \"", field, "\" field");
  for (const auto& [field, item] : value.items())
    if (field != "dtype" && field != "shape" && field != "data_offsets")
      fail(where, ": ", tensor, " has an unknown field ", quote(field), " (expected dtype, shape, data_offsets)");

  // Rule: dtype is "F32". Other safetensors dtypes are real but not float32;
  // anything else is not a dtype at all.
  const json& dtype = value["dtype"];
  if (!dtype.is_string()) fail(where, ": ", tensor, " has dtype ", describe(dtype), ", expected a string such as \"F32\"");
  const std::string dtype_name = dtype.get<std::string>();
  if (dtype_name != "F32") {
    if (is_known_dtype(dtype_name))
      fail(where, ": ", tensor, " has dtype ", quote(dtype_name), ", which moments does not read (float32 only: \"F32\")");
    fail(where, ": ", tensor, " has unknown dtype ", quote(dtype_name), " (moments reads \"F32\")");
  }

  // Rule: shape is a list of sizes, each an integer >= 0.
  const json& shape = value["shape"];
  if (!shape.is_array()) fail(where, ": ", tensor, " has shape ", describe(shape), ", expected a list of sizes");
  Entry entry{name, {}, 0, 0};
  for (size_t d = 0; d < shape.size(); ++d) {
    uint64_t size = non_negative_integer(shape[d], where, tensor + " shape dimension " + std::to_string(d));
    entry.shape.push_back(size > int64_max ? -1 : static_cast<int64_t>(size));  // -1: caught just below
  }

  // Rule: the byte size 4 · Π sizes fits in 63 bits (in any order of multiplication).
  const int64_t bytes = f32_bytes(entry.shape);
  if (bytes < 0) fail(where, ": ", tensor, " has shape ", shape.dump(), ", whose byte size overflows 64 bits");

  // Rule: data_offsets is [begin, end], two integers >= 0.
  const json& offsets = value["data_offsets"];
  if (!offsets.is_array() || offsets.size() != 2)
    fail(where, ": ", tensor, " has data_offsets ", describe(offsets), ", expected a list of two integers [begin, end]");
  entry.begin = non_negative_integer(offsets[0], where, tensor + " data_offsets[0]");
  entry.end = non_negative_integer(offsets[1], where, tensor + " data_offsets[1]");
  const std::string range = "[" + std::to_string(entry.begin) + ", " + std::to_string(entry.end) + "]";

  // Rule: begin <= end.
  if (entry.begin > entry.end) fail(where, ": ", tensor, " has reversed data_offsets ", range, " (begin > end)");

  // Rule: the offsets span exactly the bytes the shape needs.
  if (entry.end - entry.begin != static_cast<uint64_t>(bytes))
    fail(where, ": ", tensor, " has data_offsets ", range, " spanning ", entry.end - entry.begin, " bytes, but shape ",
         shape.dump(), " of F32 needs ", bytes);

  // Rule: the tensor ends inside the data section (else the file was cut short).
  if (entry.end > data_size)
    fail(where, ": ", tensor, " has data_offsets ", range, " past the end of the data section (", data_size,
         " bytes): the file is truncated, or the offsets are wrong");
  return entry;
}

// Rule: sorted by offset, the tensors tile [0, data_size) exactly.
void check_layout(const std::vector<Entry>& tensors, uint64_t data_size, const std::string& where) {
  std::vector<const Entry*> by_offset;
  for (const Entry& e : tensors) by_offset.push_back(&e);
  std::sort(by_offset.begin(), by_offset.end(),
            [](const Entry* a, const Entry* b) { return a->begin != b->begin ? a->begin < b->begin : a->end < b->end; });
  uint64_t covered = 0;  // bytes [0, covered) belong to the tensors seen so far
  const Entry* previous = nullptr;
  for (const Entry* e : by_offset) {
    if (e->begin < covered)
      fail(where, ": tensors ", quote(previous->name), " [", previous->begin, ", ", previous->end, "] and ",
           quote(e->name), " [", e->begin, ", ", e->end, "] overlap");
    if (e->begin > covered)
      fail(where, ": a gap: bytes [", covered, ", ", e->begin, ") of the data section belong to no tensor (before ",
           quote(e->name), ")");
    covered = e->end;
    previous = e;
  }
  if (covered != data_size)
    fail(where, ": ", data_size - covered, " trailing bytes after the last tensor (the tensors end at byte ", covered,
         " of the ", data_size, "-byte data section)");
}

}  // namespace

uint64_t read_u64_le(const unsigned char* bytes) {
  uint64_t value = 0;
  for (int i = 7; i >= 0; --i) value = (value << 8) | bytes[i];
  return value;
}

void write_u64_le(uint64_t value, unsigned char* bytes) {
  for (int i = 0; i < 8; ++i) bytes[i] = static_cast<unsigned char>(value >> (8 * i));
}

void check_header_length(uint64_t header_length, uint64_t file_size, const std::string& where) {
  // Rule: the file holds the 8 bytes of N.
  if (file_size < 8) fail(where, ": the file is ", file_size, " bytes, too short for the 8-byte header length");
  // Rule: N is at most 100,000,000 (safetensors' limit, so a reader never buffers more).
  if (header_length > max_header_bytes)
    fail(where, ": header length ", header_length, " is above the limit of ", max_header_bytes, " bytes");
  // Rule: the header ends inside the file.
  if (header_length > file_size - 8)
    fail(where, ": header length ", header_length, " runs past the end of the file (", file_size - 8,
         " bytes after the length)");
}

Header parse_header(std::string_view text, uint64_t data_size, const std::string& where) {
  // Rule: the header is a JSON object, so its first byte is '{' (no leading space, no byte-order mark).
  if (text.empty()) fail(where, ": the header is empty, expected a JSON object starting with '{'");
  if (text.front() != '{')
    fail(where, ": the header does not start with '{' (its first byte is ", hex_byte(static_cast<unsigned char>(text.front())), ")");

  // Rules: valid UTF-8, bounded nesting, valid JSON, no name twice (all in parse_json).
  std::vector<std::string> names;  // the outermost object's names, in the header's order
  json header = parse_json(text, where, "the header", &names);

  Header out;
  for (const std::string& name : names) {
    if (name == "__metadata__") {
      out.metadata = read_metadata(header[name], where);
    } else {
      out.tensors.push_back(read_entry(name, header[name], data_size, where));
    }
  }
  check_layout(out.tensors, data_size, where);
  return out;
}

std::string make_header(const std::vector<Entry>& tensors, const std::map<std::string, std::string>& metadata) {
  // Built piece by piece rather than as one json object, whose keys would come out
  // sorted: the header lists the tensors in the order they were given.
  std::string text = "{";
  auto add = [&text](const std::string& name, const json& value) {
    if (text.size() > 1) text += ',';
    text += json(name).dump() + ':' + value.dump();
  };
  if (!metadata.empty()) add("__metadata__", json(metadata));
  for (const Entry& e : tensors) {
    json entry = json::object();
    entry["dtype"] = "F32";
    entry["shape"] = e.shape;
    entry["data_offsets"] = {e.begin, e.end};
    add(e.name, entry);
  }
  text += '}';
  text.append((8 - text.size() % 8) % 8, ' ');  // pad N to a multiple of 8, as safetensors does
  return text;
}

int64_t f32_bytes(const std::vector<int64_t>& shape) {
  // Multiply the non-zero sizes only: then no partial product can overflow
  // whatever order a later reader multiplies in, even when a size is 0.
  int64_t bytes = 4;
  bool empty = false;
  for (int64_t size : shape) {
    if (size < 0) return -1;
    if (size == 0) {
      empty = true;
      continue;
    }
    if (bytes > std::numeric_limits<int64_t>::max() / size) return -1;
    bytes *= size;
  }
  return empty ? 0 : bytes;
}

size_t first_invalid_utf8(std::string_view text) {
  size_t i = 0;
  while (i < text.size()) {
    const auto lead = static_cast<unsigned char>(text[i]);
    if (lead < 0x80) {  // ASCII
      ++i;
      continue;
    }
    size_t length = 0;
    uint32_t code = 0, smallest = 0;  // smallest code point this length may encode (else overlong)
    if ((lead & 0xE0) == 0xC0) length = 2, code = lead & 0x1Fu, smallest = 0x80;
    else if ((lead & 0xF0) == 0xE0) length = 3, code = lead & 0x0Fu, smallest = 0x800;
    else if ((lead & 0xF8) == 0xF0) length = 4, code = lead & 0x07u, smallest = 0x10000;
    else return i;  // a continuation byte with no lead, or 0xF8..0xFF
    if (text.size() - i < length) return i;
    for (size_t k = 1; k < length; ++k) {
      const auto next = static_cast<unsigned char>(text[i + k]);
      if ((next & 0xC0) != 0x80) return i;
      code = (code << 6) | (next & 0x3Fu);
    }
    if (code < smallest || code > 0x10FFFF || (code >= 0xD800 && code <= 0xDFFF)) return i;
    i += length;
  }
  return i;
}

json parse_json(std::string_view text, const std::string& where, const std::string& what,
                std::vector<std::string>* top_level_keys) {
  // Rule: the text is UTF-8. (nlohmann checks inside strings only, and says less.)
  if (size_t bad = first_invalid_utf8(text); bad != text.size())
    fail(where, ": ", what, " is not valid UTF-8 (byte ", hex_byte(static_cast<unsigned char>(text[bad])),
         " at offset ", bad, ")");

  // Rule: no absurd nesting, checked before the parser sees the text.
  if (int depth = json_depth(text); depth > max_json_depth)
    fail(where, ": ", what, " nests ", depth, " levels deep, more than the ", max_json_depth, " allowed");

  // Rule: valid JSON, with no name twice in one object. nlohmann keeps the last of
  // repeated names silently, so a callback watches every name as it is read.
  std::vector<std::set<std::string>> names;  // the names seen, one set per object being read
  auto watch = [&](int /*depth*/, json::parse_event_t event, json& parsed) {
    if (event == json::parse_event_t::object_start) {
      names.emplace_back();
    } else if (event == json::parse_event_t::object_end) {
      names.pop_back();
    } else if (event == json::parse_event_t::key) {
      const std::string& name = parsed.get_ref<const std::string&>();
      if (!names.back().insert(name).second) fail(where, ": ", what, " names ", quote(name), " twice in one object");
      if (top_level_keys && names.size() == 1) top_level_keys->push_back(name);
    }
    return true;
  };
  try {
    return json::parse(text.begin(), text.end(), watch);
  } catch (const json::exception& e) {
    std::string reason = e.what();  // "[json.exception.parse_error.101] parse error at line 1, ..."
    if (size_t close = reason.find("] "); close != std::string::npos) reason = reason.substr(close + 2);
    fail(where, ": ", what, " is not valid JSON (", reason, ")");
  }
}

void decode_f32(const unsigned char* bytes, size_t count, float* values) {
  if (count == 0) return;
  if constexpr (std::endian::native == std::endian::little) {
    std::memcpy(values, bytes, count * 4);  // the file's byte order is the host's
  } else {
    for (size_t i = 0; i < count; ++i) {
      const unsigned char* b = bytes + 4 * i;
      uint32_t bits = uint32_t{b[0]} | uint32_t{b[1]} << 8 | uint32_t{b[2]} << 16 | uint32_t{b[3]} << 24;
      values[i] = std::bit_cast<float>(bits);
    }
  }
}

void encode_f32(const float* values, size_t count, unsigned char* bytes) {
  if (count == 0) return;
  if constexpr (std::endian::native == std::endian::little) {
    std::memcpy(bytes, values, count * 4);
  } else {
    for (size_t i = 0; i < count; ++i) {
      uint32_t bits = std::bit_cast<uint32_t>(values[i]);
      for (int k = 0; k < 4; ++k) bytes[4 * i + k] = static_cast<unsigned char>(bits >> (8 * k));
    }
  }
}

}  // namespace moments::safetensors
