#include "server/config_file.h"

#include <charconv>
#include <cmath>
#include <fstream>
#include <set>
#include <sstream>

namespace gf::server {
namespace {

constexpr std::size_t kMaxConfigFileBytes = 1 << 20;

bool IsKeyChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
         c == '-';
}
bool IsDigit(char c) { return c >= '0' && c <= '9'; }
bool IsHexDigit(char c) { return IsDigit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }
int HexValue(char c) {
  if (IsDigit(c)) return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return c - 'A' + 10;
}

void AppendUtf8(std::string& out, std::uint32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

// Reads one line's `key = value [# comment]`. `pos` walks the line; every access is bounds-checked.
class LineParser {
 public:
  explicit LineParser(std::string_view line) : s_(line) {}

  void SkipSpaces() {
    while (pos_ < s_.size() && (s_[pos_] == ' ' || s_[pos_] == '\t')) ++pos_;
  }
  bool AtEnd() const { return pos_ >= s_.size(); }
  char Peek() const { return pos_ < s_.size() ? s_[pos_] : '\0'; }

  // After the value: only spaces and an optional comment may follow.
  Status ExpectEndOfLine() {
    SkipSpaces();
    if (AtEnd() || Peek() == '#') return Status::Ok();
    return InvalidArgument("unexpected text after the value: '" + Excerpt() + "'");
  }

  StatusOr<std::string> ParseKey() {
    const std::size_t start = pos_;
    while (pos_ < s_.size() && IsKeyChar(s_[pos_])) ++pos_;
    if (pos_ == start) {
      if (Peek() == '[') return InvalidArgument("tables ([section]) are not supported");
      if (Peek() == '"' || Peek() == '\'') return InvalidArgument("quoted keys are not supported");
      return InvalidArgument("expected 'key = value', got '" + Excerpt() + "'");
    }
    std::string key(s_.substr(start, pos_ - start));
    if (Peek() == '.') return InvalidArgument("dotted keys are not supported ('" + key + ".')");
    return key;
  }

  Status ExpectEquals() {
    SkipSpaces();
    if (Peek() != '=') return InvalidArgument("expected '=' after the key");
    ++pos_;
    SkipSpaces();
    return Status::Ok();
  }

  StatusOr<ConfigValue> ParseValue() {
    const char c = Peek();
    if (AtEnd() || c == '#') return InvalidArgument("missing value after '='");
    if (c == '"') {
      GF_ASSIGN_OR_RETURN(std::string str, ParseString());
      return ConfigValue(std::move(str));
    }
    if (c == '[') return ParseArray();
    if (c == '\'') return InvalidArgument("literal strings ('...') are not supported; use \"...\"");
    return ParseScalarToken();
  }

 private:
  std::string Excerpt() const {
    std::string rest(s_.substr(pos_, 40));
    for (char& ch : rest) {
      if (static_cast<unsigned char>(ch) < 0x20 || ch == 0x7F) ch = '?';
    }
    return rest;
  }

  StatusOr<std::string> ParseString() {
    ++pos_;  // opening quote
    std::string out;
    while (true) {
      if (AtEnd()) return InvalidArgument("unterminated string (strings must end on their line)");
      const char c = s_[pos_++];
      if (c == '"') return out;
      if (c == '\\') {
        if (AtEnd()) return InvalidArgument("unterminated string (strings must end on their line)");
        const char e = s_[pos_++];
        switch (e) {
          case '"':
            out += '"';
            break;
          case '\\':
            out += '\\';
            break;
          case 'n':
            out += '\n';
            break;
          case 't':
            out += '\t';
            break;
          case 'r':
            out += '\r';
            break;
          case 'u': {
            if (s_.size() - pos_ < 4) return InvalidArgument("bad \\u escape: need 4 hex digits");
            std::uint32_t cp = 0;
            for (int i = 0; i < 4; ++i) {
              const char h = s_[pos_++];
              if (!IsHexDigit(h)) return InvalidArgument("bad \\u escape: need 4 hex digits");
              cp = cp * 16 + static_cast<std::uint32_t>(HexValue(h));
            }
            if (cp == 0) return InvalidArgument("\\u0000 is not allowed in strings");
            if (cp >= 0xD800 && cp <= 0xDFFF) return InvalidArgument("bad \\u escape: surrogate");
            AppendUtf8(out, cp);
            break;
          }
          default:
            return InvalidArgument(std::string("unsupported escape '\\") +
                                   (static_cast<unsigned char>(e) < 0x20 ? '?' : e) +
                                   "' (use \\\" \\\\ \\n \\t \\r \\uXXXX)");
        }
        continue;
      }
      if ((static_cast<unsigned char>(c) < 0x20 && c != '\t') || c == 0x7F) {
        return InvalidArgument("control character in a string (escape it)");
      }
      out += c;
    }
  }

  StatusOr<ConfigValue> ParseArray() {
    ++pos_;  // '['
    std::vector<std::string> items;
    while (true) {
      SkipSpaces();
      if (AtEnd()) return InvalidArgument("unterminated array (arrays must end on their line)");
      if (Peek() == ']') {
        ++pos_;
        return ConfigValue(std::move(items));
      }
      if (Peek() != '"') return InvalidArgument("arrays may hold only strings (\"...\")");
      GF_ASSIGN_OR_RETURN(std::string item, ParseString());
      items.push_back(std::move(item));
      SkipSpaces();
      if (Peek() == ',') {
        ++pos_;
      } else if (Peek() != ']') {
        return InvalidArgument("expected ',' or ']' in the array");
      }
    }
  }

  StatusOr<ConfigValue> ParseScalarToken() {
    const std::size_t start = pos_;
    while (pos_ < s_.size() && s_[pos_] != ' ' && s_[pos_] != '\t' && s_[pos_] != '#') ++pos_;
    const std::string_view tok = s_.substr(start, pos_ - start);
    if (tok == "true") return ConfigValue(true);
    if (tok == "false") return ConfigValue(false);
    std::string_view body = tok;
    bool negative = false;
    if (!body.empty() && (body[0] == '+' || body[0] == '-')) {
      negative = body[0] == '-';
      body.remove_prefix(1);
    }
    // Shape check: digits [. digits] [e [sign] digits].
    std::size_t i = 0;
    auto digits = [&] {
      const std::size_t d0 = i;
      while (i < body.size() && IsDigit(body[i])) ++i;
      return i - d0;
    };
    const std::size_t int_digits = digits();
    bool is_float = false;
    bool ok_shape = int_digits > 0;
    if (ok_shape && i < body.size() && body[i] == '.') {
      ++i;
      is_float = true;
      ok_shape = digits() > 0;
    }
    if (ok_shape && i < body.size() && (body[i] == 'e' || body[i] == 'E')) {
      ++i;
      is_float = true;
      if (i < body.size() && (body[i] == '+' || body[i] == '-')) ++i;
      ok_shape = digits() > 0;
    }
    if (!ok_shape || i != body.size()) {
      return InvalidArgument("bad value '" + std::string(tok.substr(0, 40)) +
                             "' (strings need double quotes; numbers, true, false and "
                             "[\"arrays\"] are bare)");
    }
    if (!is_float) {
      std::int64_t v = 0;
      // Parse with the sign so INT64_MIN works.
      const std::string with_sign = (negative ? "-" : "") + std::string(body);
      const char* const last = with_sign.data() + with_sign.size();
      const auto [end, ec] = std::from_chars(with_sign.data(), last, v);
      if (ec != std::errc() || end != last) {
        return InvalidArgument("integer out of range: '" + std::string(tok) + "'");
      }
      return ConfigValue(v);
    }
    double v = 0;
    const auto [end, ec] = std::from_chars(body.data(), body.data() + body.size(), v);
    if (ec != std::errc() || end != body.data() + body.size() || !std::isfinite(v)) {
      return InvalidArgument("float out of range: '" + std::string(tok) + "'");
    }
    return ConfigValue(negative ? -v : v);
  }

  std::string_view s_;
  std::size_t pos_ = 0;
};

Status ParseLine(std::string_view line, std::vector<ConfigEntry>& out, int line_no) {
  LineParser p(line);
  p.SkipSpaces();
  if (p.AtEnd() || p.Peek() == '#') return Status::Ok();
  ConfigEntry entry;
  entry.line = line_no;
  GF_ASSIGN_OR_RETURN(entry.key, p.ParseKey());
  GF_RETURN_IF_ERROR(p.ExpectEquals());
  GF_ASSIGN_OR_RETURN(entry.value, p.ParseValue());
  GF_RETURN_IF_ERROR(p.ExpectEndOfLine());
  out.push_back(std::move(entry));
  return Status::Ok();
}

}  // namespace

StatusOr<std::vector<ConfigEntry>> ParseConfigText(std::string_view text) {
  std::vector<ConfigEntry> entries;
  std::set<std::string> seen;
  int line_no = 0;
  std::size_t start = 0;
  while (start < text.size()) {
    ++line_no;
    std::size_t end = text.find('\n', start);
    if (end == std::string_view::npos) end = text.size();
    std::string_view line = text.substr(start, end - start);
    start = end + 1;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    const std::string where = "config file line " + std::to_string(line_no);
    if (line.find('\0') != std::string_view::npos) return InvalidArgument(where + ": NUL byte");
    Status st = ParseLine(line, entries, line_no);
    if (!st.ok()) return InvalidArgument(where + ": " + st.message());
    if (!entries.empty() && entries.back().line == line_no &&
        !seen.insert(entries.back().key).second) {
      return InvalidArgument(where + ": duplicate key '" + entries.back().key + "'");
    }
  }
  return entries;
}

StatusOr<std::vector<ConfigEntry>> ParseConfigFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return NotFound("cannot open config file '" + path + "'");
  std::string text;
  char buf[4096];
  while (in.read(buf, sizeof buf) || in.gcount() > 0) {
    text.append(buf, static_cast<std::size_t>(in.gcount()));
    if (text.size() > kMaxConfigFileBytes) {
      return InvalidArgument("config file '" + path + "' is larger than 1 MiB");
    }
  }
  if (in.bad()) return InvalidArgument("cannot read config file '" + path + "'");
  return ParseConfigText(text);
}

std::string TomlQuote(std::string_view s) {
  std::string out = "\"";
  for (const char c : s) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\t':
        out += "\\t";
        break;
      case '\r':
        out += "\\r";
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20 || c == 0x7F) {
          static const char kHex[] = "0123456789abcdef";
          const auto u = static_cast<unsigned char>(c);
          out += "\\u00";
          out += kHex[u >> 4];
          out += kHex[u & 0xF];
        } else {
          out += c;
        }
    }
  }
  out += '"';
  return out;
}

const char* ConfigValueTypeName(const ConfigValue& value) {
  switch (value.index()) {
    case 0:
      return "boolean";
    case 1:
      return "integer";
    case 2:
      return "float";
    case 3:
      return "string";
    default:
      return "array";
  }
}

}  // namespace gf::server
