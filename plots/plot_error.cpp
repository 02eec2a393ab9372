// plot_error.cpp — quoting file content in error messages (see plot_error.hpp).
#include "plot_error.hpp"

namespace moments::plots {

namespace {

// The length of the UTF-8 sequence that starts text[at], or 0 when it is not a
// well-formed one (overlong forms, surrogates and code points past U+10FFFF
// included) or encodes a C1 control (U+0080..U+009F), which terminals obey.
size_t utf8_length(std::string_view text, size_t at) {
  const auto byte = [&](size_t i) { return static_cast<unsigned char>(text[i]); };
  const unsigned char lead = byte(at);
  size_t length = lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : 2;
  if (lead < 0xC2 || lead > 0xF4 || at + length > text.size()) return 0;
  unsigned code = lead & (0x7F >> length);
  for (size_t i = 1; i < length; ++i) {
    if ((byte(at + i) & 0xC0) != 0x80) return 0;
    code = code << 6 | (byte(at + i) & 0x3F);
  }
  const unsigned smallest[] = {0, 0, 0x80, 0x800, 0x10000};
  if (code < smallest[length] || code > 0x10FFFF || (code >= 0xD800 && code <= 0xDFFF) || code <= 0x9F) return 0;
  return length;
}

}  // namespace

std::string quoted(std::string_view text, size_t max_bytes) {
  std::string out = "\"";
  size_t at = 0;
  for (; at < text.size() && out.size() <= max_bytes;) {  // counting what is printed: an escape is 2-4 of it
    const auto c = static_cast<unsigned char>(text[at]);
    if (c >= 0x80) {
      if (size_t length = utf8_length(text, at)) {
        out.append(text.substr(at, length));
        at += length;
        continue;
      }
    }
    ++at;
    switch (c) {
      case '"': out += "\\\""; continue;
      case '\\': out += "\\\\"; continue;
      case '\0': out += "\\0"; continue;
      case '\t': out += "\\t"; continue;
      case '\n': out += "\\n"; continue;
      case '\r': out += "\\r"; continue;
      default: break;
    }
    if (c < 0x20 || c >= 0x7F) {
      const char* hex = "0123456789abcdef";
      out += {'\\', 'x', hex[c >> 4], hex[c & 15]};
    } else {
      out += static_cast<char>(c);
    }
  }
  if (at >= text.size()) return out + "\"";
  return out + "\xE2\x80\xA6\" (" + std::to_string(text.size()) + " bytes)";  // "…"
}

}  // namespace moments::plots
