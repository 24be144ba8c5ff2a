// UTF-8 helpers shared by the tokenizers (header-only, no state, thread-safe).
//
// ScanUtf8Char classifies the bytes at the start of a buffer following the Unicode "maximal
// subpart" rule (the same rule as Python's decode(errors="replace") and WHATWG): a complete
// well-formed character, a valid-but-unfinished prefix of one, or an ill-formed sequence whose
// length is the number of bytes one U+FFFD replaces. Well-formed means no overlongs, no
// surrogates (U+D800..U+DFFF) and nothing above U+10FFFF. Never reads past the buffer.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace gf {

struct Utf8Scan {
  enum class Kind { kComplete, kIncomplete, kInvalid };
  Kind kind;
  // kComplete: bytes in the character (1..4). kIncomplete: bytes available so far (1..3).
  // kInvalid: bytes to replace with one U+FFFD (>= 1).
  int length;
};

// The replacement character U+FFFD, UTF-8 encoded.
inline constexpr std::string_view kUtf8Replacement = "\xEF\xBF\xBD";

// Classifies the character starting at bytes[0]; `bytes` must be non-empty.
inline Utf8Scan ScanUtf8Char(std::string_view bytes) {
  const auto lead = static_cast<uint8_t>(bytes[0]);
  if (lead < 0x80) return {Utf8Scan::Kind::kComplete, 1};
  int needed = 0;
  uint8_t second_lo = 0x80;
  uint8_t second_hi = 0xBF;
  if (lead >= 0xC2 && lead <= 0xDF) {
    needed = 2;
  } else if (lead >= 0xE0 && lead <= 0xEF) {
    needed = 3;
    if (lead == 0xE0) second_lo = 0xA0;  // overlong
    if (lead == 0xED) second_hi = 0x9F;  // surrogates
  } else if (lead >= 0xF0 && lead <= 0xF4) {
    needed = 4;
    if (lead == 0xF0) second_lo = 0x90;  // overlong
    if (lead == 0xF4) second_hi = 0x8F;  // above U+10FFFF
  } else {
    return {Utf8Scan::Kind::kInvalid, 1};  // continuation byte, C0/C1, F5..FF
  }
  for (int i = 1; i < needed; ++i) {
    if (static_cast<size_t>(i) >= bytes.size()) return {Utf8Scan::Kind::kIncomplete, i};
    const auto b = static_cast<uint8_t>(bytes[static_cast<size_t>(i)]);
    const uint8_t lo = i == 1 ? second_lo : uint8_t{0x80};
    const uint8_t hi = i == 1 ? second_hi : uint8_t{0xBF};
    if (b < lo || b > hi) return {Utf8Scan::Kind::kInvalid, i};
  }
  return {Utf8Scan::Kind::kComplete, needed};
}

// Appends the UTF-8 encoding of a Unicode scalar value. Returns false (appending nothing) for
// surrogates and values above U+10FFFF.
inline bool AppendUtf8(uint32_t code_point, std::string& out) {
  if (code_point < 0x80) {
    out.push_back(static_cast<char>(code_point));
  } else if (code_point < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (code_point >> 6)));
    out.push_back(static_cast<char>(0x80 | (code_point & 0x3F)));
  } else if (code_point < 0x10000) {
    if (code_point >= 0xD800 && code_point <= 0xDFFF) return false;
    out.push_back(static_cast<char>(0xE0 | (code_point >> 12)));
    out.push_back(static_cast<char>(0x80 | ((code_point >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (code_point & 0x3F)));
  } else if (code_point <= 0x10FFFF) {
    out.push_back(static_cast<char>(0xF0 | (code_point >> 18)));
    out.push_back(static_cast<char>(0x80 | ((code_point >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((code_point >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (code_point & 0x3F)));
  } else {
    return false;
  }
  return true;
}

}  // namespace gf
