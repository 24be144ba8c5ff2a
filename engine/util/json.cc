#include "engine/util/json.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstring>
#include <limits>
#include <system_error>

namespace gf {

namespace {

constexpr int kMaxDepth = 64;
constexpr size_t kMaxInputBytes = size_t{256} << 20;

// Decodes one UTF-8 sequence starting at s[i]; returns its length (1..4) and the code point,
// or 0 when the bytes are not well-formed UTF-8 (overlong forms, surrogates, > U+10FFFF,
// truncated sequences).
size_t DecodeUtf8(std::string_view s, size_t i, uint32_t* cp) {
  const auto byte = [&](size_t k) { return static_cast<uint8_t>(s[k]); };
  const uint8_t b0 = byte(i);
  if (b0 < 0x80) {
    *cp = b0;
    return 1;
  }
  size_t len;
  uint32_t value;
  uint32_t min_value;
  if ((b0 & 0xE0) == 0xC0) {
    len = 2, value = b0 & 0x1Fu, min_value = 0x80;
  } else if ((b0 & 0xF0) == 0xE0) {
    len = 3, value = b0 & 0x0Fu, min_value = 0x800;
  } else if ((b0 & 0xF8) == 0xF0) {
    len = 4, value = b0 & 0x07u, min_value = 0x10000;
  } else {
    return 0;
  }
  if (s.size() - i < len) return 0;
  for (size_t k = 1; k < len; ++k) {
    const uint8_t b = byte(i + k);
    if ((b & 0xC0) != 0x80) return 0;
    value = (value << 6) | (b & 0x3Fu);
  }
  if (value < min_value || value > 0x10FFFF || (value >= 0xD800 && value <= 0xDFFF)) return 0;
  *cp = value;
  return len;
}

void AppendUtf8(uint32_t cp, std::string* out) {
  if (cp < 0x80) {
    out->push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out->push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out->push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out->push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

bool IsDigit(char c) { return c >= '0' && c <= '9'; }

class Parser {
 public:
  explicit Parser(std::string_view text) : text_(text) {}

  StatusOr<JsonValue> ParseDocument() {
    // A leading UTF-8 byte order mark is ignored (RFC 8259 section 8.1 allows it).
    if (text_.substr(0, 3) == "\xEF\xBB\xBF") pos_ = 3;
    SkipWhitespace();
    JsonValue value;
    GF_RETURN_IF_ERROR(ParseValue(0, &value));
    SkipWhitespace();
    if (pos_ != text_.size()) return Error("unexpected trailing characters");
    return value;
  }

 private:
  Status Error(const std::string& what) const { return ErrorAt(what, pos_); }
  Status ErrorAt(const std::string& what, size_t offset) const {
    return InvalidArgument("JSON: " + what + " at byte offset " + std::to_string(offset));
  }

  bool AtEnd() const { return pos_ >= text_.size(); }
  char Peek() const { return text_[pos_]; }

  void SkipWhitespace() {
    while (!AtEnd()) {
      const char c = Peek();
      if (c != ' ' && c != '\t' && c != '\n' && c != '\r') break;
      ++pos_;
    }
  }

  Status ParseValue(int depth, JsonValue* out) {
    if (AtEnd()) return Error("unexpected end of input, expected a value");
    switch (Peek()) {
      case '{': return ParseObject(depth + 1, out);
      case '[': return ParseArray(depth + 1, out);
      case '"': {
        std::string s;
        GF_RETURN_IF_ERROR(ParseString(&s));
        *out = JsonValue::String(std::move(s));
        return Status::Ok();
      }
      case 't': return ParseLiteral("true", JsonValue::Bool(true), out);
      case 'f': return ParseLiteral("false", JsonValue::Bool(false), out);
      case 'n': return ParseLiteral("null", JsonValue::Null(), out);
      default:
        if (Peek() == '-' || IsDigit(Peek())) return ParseNumber(out);
        return Error("unexpected character, expected a value");
    }
  }

  Status ParseLiteral(std::string_view word, JsonValue value, JsonValue* out) {
    if (text_.substr(pos_, word.size()) != word) return Error("invalid literal");
    pos_ += word.size();
    *out = std::move(value);
    return Status::Ok();
  }

  Status ParseObject(int depth, JsonValue* out) {
    if (depth > kMaxDepth) return Error("nesting deeper than " + std::to_string(kMaxDepth));
    const size_t start = pos_;
    ++pos_;  // '{'
    std::vector<std::pair<std::string, JsonValue>> members;
    SkipWhitespace();
    if (!AtEnd() && Peek() == '}') {
      ++pos_;
      *out = JsonValue::Object(std::move(members));
      return Status::Ok();
    }
    while (true) {
      SkipWhitespace();
      if (AtEnd() || Peek() != '"') return Error("expected a string key");
      std::string key;
      GF_RETURN_IF_ERROR(ParseString(&key));
      SkipWhitespace();
      if (AtEnd() || Peek() != ':') return Error("expected ':'");
      ++pos_;
      SkipWhitespace();
      JsonValue value;
      GF_RETURN_IF_ERROR(ParseValue(depth, &value));
      members.emplace_back(std::move(key), std::move(value));
      SkipWhitespace();
      if (AtEnd()) return Error("unexpected end of input in object");
      if (Peek() == ',') {
        ++pos_;
        continue;
      }
      if (Peek() == '}') {
        ++pos_;
        break;
      }
      return Error("expected ',' or '}'");
    }
    GF_RETURN_IF_ERROR(CheckUniqueKeys(members, start));
    *out = JsonValue::Object(std::move(members));
    return Status::Ok();
  }

  // Duplicate keys are rejected: a reader could otherwise see a different value than a
  // validator that looked at the other copy.
  Status CheckUniqueKeys(const std::vector<std::pair<std::string, JsonValue>>& members,
                         size_t object_offset) const {
    if (members.size() < 2) return Status::Ok();
    std::vector<const std::string*> keys;
    keys.reserve(members.size());
    for (const auto& m : members) keys.push_back(&m.first);
    std::sort(keys.begin(), keys.end(),
              [](const std::string* a, const std::string* b) { return *a < *b; });
    for (size_t i = 1; i < keys.size(); ++i) {
      if (*keys[i] == *keys[i - 1]) {
        return ErrorAt("duplicate key " + JsonQuote(*keys[i]) + " in the object", object_offset);
      }
    }
    return Status::Ok();
  }

  Status ParseArray(int depth, JsonValue* out) {
    if (depth > kMaxDepth) return Error("nesting deeper than " + std::to_string(kMaxDepth));
    ++pos_;  // '['
    std::vector<JsonValue> items;
    SkipWhitespace();
    if (!AtEnd() && Peek() == ']') {
      ++pos_;
      *out = JsonValue::Array(std::move(items));
      return Status::Ok();
    }
    while (true) {
      SkipWhitespace();
      JsonValue value;
      GF_RETURN_IF_ERROR(ParseValue(depth, &value));
      items.push_back(std::move(value));
      SkipWhitespace();
      if (AtEnd()) return Error("unexpected end of input in array");
      if (Peek() == ',') {
        ++pos_;
        continue;
      }
      if (Peek() == ']') {
        ++pos_;
        break;
      }
      return Error("expected ',' or ']'");
    }
    *out = JsonValue::Array(std::move(items));
    return Status::Ok();
  }

  // Reads 4 hex digits at pos_.
  Status ParseHex4(uint32_t* value) {
    if (text_.size() - pos_ < 4) return Error("truncated \\u escape");
    uint32_t v = 0;
    for (int k = 0; k < 4; ++k) {
      const char c = text_[pos_ + static_cast<size_t>(k)];
      uint32_t digit;
      if (c >= '0' && c <= '9') {
        digit = static_cast<uint32_t>(c - '0');
      } else if (c >= 'a' && c <= 'f') {
        digit = static_cast<uint32_t>(c - 'a' + 10);
      } else if (c >= 'A' && c <= 'F') {
        digit = static_cast<uint32_t>(c - 'A' + 10);
      } else {
        return Error("invalid hex digit in \\u escape");
      }
      v = (v << 4) | digit;
    }
    pos_ += 4;
    *value = v;
    return Status::Ok();
  }

  Status ParseUnicodeEscape(std::string* out) {
    // pos_ is just after "\u".
    const size_t escape_start = pos_ - 2;
    uint32_t cp = 0;
    GF_RETURN_IF_ERROR(ParseHex4(&cp));
    if (cp >= 0xDC00 && cp <= 0xDFFF) return ErrorAt("unpaired low surrogate", escape_start);
    if (cp >= 0xD800 && cp <= 0xDBFF) {
      if (text_.substr(pos_, 2) != "\\u") return ErrorAt("unpaired high surrogate", escape_start);
      pos_ += 2;
      uint32_t low = 0;
      GF_RETURN_IF_ERROR(ParseHex4(&low));
      if (low < 0xDC00 || low > 0xDFFF) return ErrorAt("unpaired high surrogate", escape_start);
      cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
    }
    AppendUtf8(cp, out);
    return Status::Ok();
  }

  Status ParseString(std::string* out) {
    ++pos_;  // opening quote
    while (true) {
      if (AtEnd()) return Error("unterminated string");
      const char c = Peek();
      if (c == '"') {
        ++pos_;
        return Status::Ok();
      }
      if (static_cast<uint8_t>(c) < 0x20) return Error("unescaped control character in string");
      if (c == '\\') {
        ++pos_;
        if (AtEnd()) return Error("unterminated escape");
        const char e = Peek();
        ++pos_;
        switch (e) {
          case '"': out->push_back('"'); break;
          case '\\': out->push_back('\\'); break;
          case '/': out->push_back('/'); break;
          case 'b': out->push_back('\b'); break;
          case 'f': out->push_back('\f'); break;
          case 'n': out->push_back('\n'); break;
          case 'r': out->push_back('\r'); break;
          case 't': out->push_back('\t'); break;
          case 'u': GF_RETURN_IF_ERROR(ParseUnicodeEscape(out)); break;
          default: return ErrorAt("invalid escape character", pos_ - 1);
        }
        continue;
      }
      uint32_t cp;
      const size_t len = DecodeUtf8(text_, pos_, &cp);
      if (len == 0) return Error("invalid UTF-8 in string");
      out->append(text_.substr(pos_, len));
      pos_ += len;
    }
  }

  Status ParseNumber(JsonValue* out) {
    const size_t start = pos_;
    if (Peek() == '-') ++pos_;
    if (AtEnd() || !IsDigit(Peek())) return ErrorAt("invalid number", start);
    if (Peek() == '0') {
      ++pos_;
      if (!AtEnd() && IsDigit(Peek())) return ErrorAt("leading zero in number", start);
    } else {
      while (!AtEnd() && IsDigit(Peek())) ++pos_;
    }
    bool is_integer = true;
    if (!AtEnd() && Peek() == '.') {
      is_integer = false;
      ++pos_;
      if (AtEnd() || !IsDigit(Peek())) return ErrorAt("invalid number (digit expected after '.')", start);
      while (!AtEnd() && IsDigit(Peek())) ++pos_;
    }
    if (!AtEnd() && (Peek() == 'e' || Peek() == 'E')) {
      is_integer = false;
      ++pos_;
      if (!AtEnd() && (Peek() == '+' || Peek() == '-')) ++pos_;
      if (AtEnd() || !IsDigit(Peek())) return ErrorAt("invalid number (exponent digits expected)", start);
      while (!AtEnd() && IsDigit(Peek())) ++pos_;
    }
    const char* first = text_.data() + start;
    const char* last = text_.data() + pos_;
    if (is_integer) {
      int64_t i = 0;
      const auto [ptr, ec] = std::from_chars(first, last, i);
      if (ec == std::errc() && ptr == last) {
        *out = JsonValue::Integer(i);
        return Status::Ok();
      }
      // Too large for int64: falls through to a double.
    }
    double d = 0;
    const auto [ptr, ec] = std::from_chars(first, last, d);
    if (ec == std::errc::result_out_of_range) {
      if (!MagnitudeIsTiny(text_.substr(start, pos_ - start))) {
        return ErrorAt("number out of range", start);
      }
      d = text_[start] == '-' ? -0.0 : 0.0;  // underflow rounds to zero
    } else if (ec != std::errc() || ptr != last) {
      return ErrorAt("invalid number", start);
    }
    *out = JsonValue::Number(d);
    return Status::Ok();
  }

  // For a grammatically valid number that from_chars reported out of range: true when its
  // decimal exponent is negative (underflow), false when it is too large (overflow).
  static bool MagnitudeIsTiny(std::string_view number) {
    size_t i = 0;
    if (number[i] == '-') ++i;
    int64_t position = 0;  // decimal exponent of the first significant digit, before 'e'
    bool seen_significant = false;
    int64_t int_digits = 0;
    for (; i < number.size() && IsDigit(number[i]); ++i) {
      if (number[i] != '0' || seen_significant) {
        seen_significant = true;
        ++int_digits;
      }
    }
    position = int_digits;
    if (i < number.size() && number[i] == '.') {
      ++i;
      for (; i < number.size() && IsDigit(number[i]); ++i) {
        if (!seen_significant) {
          if (number[i] != '0') seen_significant = true;
          else --position;
        }
      }
    }
    int64_t exponent = 0;
    if (i < number.size() && (number[i] == 'e' || number[i] == 'E')) {
      ++i;
      bool negative = false;
      if (number[i] == '+' || number[i] == '-') negative = number[i++] == '-';
      for (; i < number.size(); ++i) {
        exponent = std::min<int64_t>(exponent * 10 + (number[i] - '0'), int64_t{1} << 40);
      }
      if (negative) exponent = -exponent;
    }
    return position + exponent < 0;
  }

  std::string_view text_;
  size_t pos_ = 0;
};

void AppendJson(const JsonValue& value, std::string* out) {
  switch (value.type()) {
    case JsonValue::Type::kNull: out->append("null"); return;
    case JsonValue::Type::kBool: out->append(value.as_bool() ? "true" : "false"); return;
    case JsonValue::Type::kNumber: {
      char buf[64];
      if (value.is_integer()) {
        const auto r = std::to_chars(buf, buf + sizeof(buf), value.as_int());
        out->append(buf, r.ptr);
      } else if (!std::isfinite(value.as_double())) {
        out->append("null");  // JSON has no representation for NaN or infinities
      } else {
        const auto r = std::to_chars(buf, buf + sizeof(buf), value.as_double());
        out->append(buf, r.ptr);
      }
      return;
    }
    case JsonValue::Type::kString: out->append(JsonQuote(value.as_string())); return;
    case JsonValue::Type::kArray: {
      out->push_back('[');
      bool first = true;
      for (const auto& item : value.items()) {
        if (!first) out->push_back(',');
        first = false;
        AppendJson(item, out);
      }
      out->push_back(']');
      return;
    }
    case JsonValue::Type::kObject: {
      out->push_back('{');
      bool first = true;
      for (const auto& [key, item] : value.members()) {
        if (!first) out->push_back(',');
        first = false;
        out->append(JsonQuote(key));
        out->push_back(':');
        AppendJson(item, out);
      }
      out->push_back('}');
      return;
    }
  }
}

}  // namespace

const JsonValue* JsonValue::Find(std::string_view key) const {
  if (type_ != Type::kObject) return nullptr;
  for (const auto& [k, v] : members_) {
    if (k == key) return &v;
  }
  return nullptr;
}

JsonValue JsonValue::Bool(bool b) {
  JsonValue v;
  v.type_ = Type::kBool;
  v.bool_ = b;
  return v;
}

JsonValue JsonValue::Number(double d) {
  JsonValue v;
  v.type_ = Type::kNumber;
  v.number_ = d;
  // Integer-valued doubles keep as_int() meaningful; is_integer() stays false.
  if (std::isfinite(d) && d >= -9.2e18 && d <= 9.2e18) v.integer_ = static_cast<int64_t>(d);
  return v;
}

JsonValue JsonValue::Integer(int64_t i) {
  JsonValue v;
  v.type_ = Type::kNumber;
  v.is_integer_ = true;
  v.integer_ = i;
  v.number_ = static_cast<double>(i);
  return v;
}

JsonValue JsonValue::String(std::string s) {
  JsonValue v;
  v.type_ = Type::kString;
  v.string_ = std::move(s);
  return v;
}

JsonValue JsonValue::Array(std::vector<JsonValue> items) {
  JsonValue v;
  v.type_ = Type::kArray;
  v.items_ = std::move(items);
  return v;
}

JsonValue JsonValue::Object(std::vector<std::pair<std::string, JsonValue>> members) {
  JsonValue v;
  v.type_ = Type::kObject;
  v.members_ = std::move(members);
  return v;
}

StatusOr<JsonValue> ParseJson(std::string_view text) {
  if (text.size() > kMaxInputBytes) {
    return InvalidArgument("JSON: input of " + std::to_string(text.size()) +
                           " bytes exceeds the 256 MiB limit");
  }
  return Parser(text).ParseDocument();
}

std::string ToJson(const JsonValue& value) {
  std::string out;
  AppendJson(value, &out);
  return out;
}

std::string JsonQuote(std::string_view s) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(s.size() + 2);
  out.push_back('"');
  size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<uint8_t>(s[i]);
    if (c >= 0x80) {
      uint32_t cp;
      const size_t len = DecodeUtf8(s, i, &cp);
      if (len == 0) {
        out.append("\\ufffd");  // invalid UTF-8 byte: replacement character keeps output valid
        ++i;
      } else {
        out.append(s.substr(i, len));
        i += len;
      }
      continue;
    }
    switch (c) {
      case '"': out.append("\\\""); break;
      case '\\': out.append("\\\\"); break;
      case '\b': out.append("\\b"); break;
      case '\f': out.append("\\f"); break;
      case '\n': out.append("\\n"); break;
      case '\r': out.append("\\r"); break;
      case '\t': out.append("\\t"); break;
      default:
        if (c < 0x20 || c == 0x7F) {
          out.append("\\u00");
          out.push_back(kHex[c >> 4]);
          out.push_back(kHex[c & 0xF]);
        } else {
          out.push_back(static_cast<char>(c));
        }
    }
    ++i;
  }
  out.push_back('"');
  return out;
}

StatusOr<std::string> ReadFileToString(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    const int err = errno;
    const std::string why = std::strerror(err);
    if (err == ENOENT || err == ENOTDIR) return NotFound("cannot open '" + path + "': " + why);
    return DataLoss("cannot open '" + path + "': " + why);
  }
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    return DataLoss("'" + path + "' is not a regular file");
  }
  std::string data;
  char buf[1 << 16];
  while (true) {
    const ssize_t n = ::read(fd, buf, sizeof(buf));
    if (n < 0) {
      if (errno == EINTR) continue;
      const std::string why = std::strerror(errno);
      ::close(fd);
      return DataLoss("cannot read '" + path + "': " + why);
    }
    if (n == 0) break;
    data.append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  return data;
}

}  // namespace gf
