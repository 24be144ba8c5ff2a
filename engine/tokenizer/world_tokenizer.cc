#include "engine/tokenizer/world_tokenizer.h"

#include <algorithm>
#include <fstream>
#include <iterator>
#include <optional>
#include <sstream>
#include <utility>

#include "engine/tokenizer/utf8.h"

namespace gf {
namespace {

constexpr std::string_view kEndOfText = "<|endoftext|>";
constexpr int kVocabSize = 65536;

// Decimal digits only, at most 9 of them (no sign, no spaces).
std::optional<int64_t> ParseDecimal(std::string_view text) {
  if (text.empty() || text.size() > 9) return std::nullopt;
  int64_t value = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return std::nullopt;
    value = value * 10 + (c - '0');
  }
  return value;
}

std::optional<uint32_t> ParseHex(std::string_view digits) {
  uint32_t value = 0;
  for (char c : digits) {
    uint32_t d = 0;
    if (c >= '0' && c <= '9') {
      d = static_cast<uint32_t>(c - '0');
    } else if (c >= 'a' && c <= 'f') {
      d = static_cast<uint32_t>(c - 'a' + 10);
    } else if (c >= 'A' && c <= 'F') {
      d = static_cast<uint32_t>(c - 'A' + 10);
    } else {
      return std::nullopt;
    }
    value = value * 16 + d;
  }
  return value;
}

// Appends an escaped value: a raw byte in a bytes literal, a code point (UTF-8) in a str.
Status AppendEscapedValue(uint32_t value, bool is_bytes, std::string& out) {
  if (is_bytes) {
    if (value > 0xFF) return InvalidArgument("escape value above 0xFF in a bytes literal");
    out.push_back(static_cast<char>(value));
    return Status::Ok();
  }
  if (!AppendUtf8(value, out)) return InvalidArgument("escape is not a Unicode scalar value");
  return Status::Ok();
}

std::string DescribeByte(char c) {
  const auto b = static_cast<uint8_t>(c);
  if (b >= 0x21 && b < 0x7F) return std::string(1, c);
  static constexpr char kHex[] = "0123456789abcdef";
  return std::string("byte 0x") + kHex[b >> 4] + kHex[b & 15];
}

// Decodes the escape starting at literal[pos] == '\\'; advances pos past it.
Status ParseEscape(std::string_view literal, size_t& pos, bool is_bytes, std::string& out) {
  if (pos + 1 >= literal.size()) return InvalidArgument("unterminated literal");
  const char kind = literal[pos + 1];
  pos += 2;
  switch (kind) {
    case '\\':
      out.push_back('\\');
      return Status::Ok();
    case '\'':
      out.push_back('\'');
      return Status::Ok();
    case '"':
      out.push_back('"');
      return Status::Ok();
    case 'a':
      out.push_back('\a');
      return Status::Ok();
    case 'b':
      out.push_back('\b');
      return Status::Ok();
    case 'f':
      out.push_back('\f');
      return Status::Ok();
    case 'n':
      out.push_back('\n');
      return Status::Ok();
    case 'r':
      out.push_back('\r');
      return Status::Ok();
    case 't':
      out.push_back('\t');
      return Status::Ok();
    case 'v':
      out.push_back('\v');
      return Status::Ok();
    case 'x':
    case 'u':
    case 'U': {
      if (kind != 'x' && is_bytes) {
        return InvalidArgument(std::string("escape \\") + kind + " in a bytes literal");
      }
      const size_t digits = kind == 'x' ? 2 : kind == 'u' ? 4 : 8;
      const std::optional<uint32_t> value =
          pos + digits <= literal.size() ? ParseHex(literal.substr(pos, digits)) : std::nullopt;
      if (!value) {
        return InvalidArgument(std::string("truncated \\") + kind + " escape (needs " +
                               std::to_string(digits) + " hex digits)");
      }
      pos += digits;
      return AppendEscapedValue(*value, is_bytes, out);
    }
    default:
      break;
  }
  if (kind >= '0' && kind <= '7') {  // \o, \oo or \ooo
    uint32_t value = static_cast<uint32_t>(kind - '0');
    for (int i = 0; i < 2 && pos < literal.size() && literal[pos] >= '0' && literal[pos] <= '7';
         ++i) {
      value = value * 8 + static_cast<uint32_t>(literal[pos] - '0');
      ++pos;
    }
    return AppendEscapedValue(value, is_bytes, out);
  }
  return InvalidArgument("unsupported escape \\" + DescribeByte(kind));
}

// Parses one whole Python str ('...' or "...") or bytes (b'...' or b"...") literal and
// appends its bytes to `out`.
Status ParsePythonLiteral(std::string_view literal, std::string& out) {
  size_t pos = 0;
  const bool is_bytes = !literal.empty() && (literal[0] == 'b' || literal[0] == 'B');
  if (is_bytes) pos = 1;
  if (pos >= literal.size() || (literal[pos] != '\'' && literal[pos] != '"')) {
    return InvalidArgument("the token is not a quoted Python str or bytes literal");
  }
  const char quote = literal[pos++];
  while (true) {
    if (pos >= literal.size()) return InvalidArgument("unterminated literal");
    const char c = literal[pos];
    if (c == quote) {
      if (pos + 1 != literal.size()) return InvalidArgument("text after the closing quote");
      return Status::Ok();
    }
    if (c == '\\') {
      GF_RETURN_IF_ERROR(ParseEscape(literal, pos, is_bytes, out));
      continue;
    }
    if (static_cast<uint8_t>(c) < 0x80) {
      out.push_back(c);
      ++pos;
      continue;
    }
    if (is_bytes) return InvalidArgument("non-ASCII character in a bytes literal");
    const Utf8Scan scan = ScanUtf8Char(literal.substr(pos));
    if (scan.kind != Utf8Scan::Kind::kComplete)
      return InvalidArgument("invalid UTF-8 in the literal");
    out.append(literal.substr(pos, static_cast<size_t>(scan.length)));
    pos += static_cast<size_t>(scan.length);
  }
}

struct ParsedEntry {
  TokenId id;
  uint32_t offset;  // into the parse blob
  uint32_t length;
};

// Parses `ID LITERAL LEN` (LITERAL is everything between the first and the last space).
Status ParseLine(std::string_view line, std::string& blob, ParsedEntry& entry) {
  const size_t first_space = line.find(' ');
  const size_t last_space = line.rfind(' ');
  if (first_space == std::string_view::npos || first_space == last_space) {
    return InvalidArgument("expected `ID LITERAL LEN`");
  }
  const std::optional<int64_t> id = ParseDecimal(line.substr(0, first_space));
  if (!id) return InvalidArgument("the id is not a decimal number");
  if (*id == 0) return InvalidArgument("id 0 is reserved for <|endoftext|>");
  if (*id >= kVocabSize) {
    return InvalidArgument("id " + std::to_string(*id) + " is outside 1.." +
                           std::to_string(kVocabSize - 1));
  }
  const std::optional<int64_t> stated_length = ParseDecimal(line.substr(last_space + 1));
  if (!stated_length) return InvalidArgument("the length is not a decimal number");
  const size_t offset = blob.size();
  GF_RETURN_IF_ERROR(
      ParsePythonLiteral(line.substr(first_space + 1, last_space - first_space - 1), blob));
  const size_t length = blob.size() - offset;
  if (length == 0) return InvalidArgument("empty token");
  if (static_cast<int64_t>(length) != *stated_length) {
    return InvalidArgument("the token has " + std::to_string(length) + " bytes but the line says " +
                           std::to_string(*stated_length));
  }
  entry = {static_cast<TokenId>(*id), static_cast<uint32_t>(offset), static_cast<uint32_t>(length)};
  return Status::Ok();
}

std::string LinePrefix(int line) { return "line " + std::to_string(line); }

}  // namespace

StatusOr<std::unique_ptr<WorldTokenizer>> WorldTokenizer::Load(const std::string& path) {
  std::ifstream file(path, std::ios::binary);
  if (!file) return NotFound("cannot open the World vocabulary " + path);
  std::ostringstream contents;
  contents << file.rdbuf();
  if (file.bad()) return DataLoss("cannot read the World vocabulary " + path);
  auto tokenizer = FromText(contents.str());
  if (!tokenizer.ok()) return tokenizer.status().WithContext(path);
  return tokenizer;
}

StatusOr<std::unique_ptr<WorldTokenizer>> WorldTokenizer::FromText(std::string_view text) {
  // Offsets are 32-bit; real vocabularies are about 1 MB.
  if (text.size() > (size_t{1} << 30)) return InvalidArgument("the vocabulary exceeds 1 GiB");
  std::string blob;  // token bytes in file order
  blob.reserve(text.size() / 2);
  std::vector<ParsedEntry> entries;
  std::vector<int32_t> line_of_id(kVocabSize, 0);  // 0 = not seen
  int line_number = 0;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t end = text.find('\n', pos);
    if (end == std::string_view::npos) end = text.size();
    std::string_view line = text.substr(pos, end - pos);
    pos = end + 1;
    ++line_number;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    ParsedEntry entry{};
    Status status = ParseLine(line, blob, entry);
    if (!status.ok()) return status.WithContext(LinePrefix(line_number));
    int32_t& seen = line_of_id[static_cast<size_t>(entry.id)];
    if (seen != 0) {
      return InvalidArgument(LinePrefix(line_number) + ": duplicate id " +
                             std::to_string(entry.id) + " (first on line " + std::to_string(seen) +
                             ")");
    }
    seen = line_number;
    entries.push_back(entry);
  }

  if (entries.empty()) return InvalidArgument("the vocabulary is empty");
  std::unique_ptr<WorldTokenizer> tokenizer(new WorldTokenizer());
  tokenizer->num_entries_ = static_cast<int>(entries.size());
  // Lay the tokens out in id order, id 0 first.
  std::sort(entries.begin(), entries.end(),
            [](const ParsedEntry& a, const ParsedEntry& b) { return a.id < b.id; });
  std::string& ordered = tokenizer->token_blob_;
  ordered.reserve(blob.size() + kEndOfText.size());
  ordered.append(kEndOfText);
  std::vector<uint32_t>& offsets = tokenizer->token_offset_;
  offsets.assign(kVocabSize + 1, 0);
  offsets[1] = static_cast<uint32_t>(ordered.size());
  size_t next = 0;
  for (int id = 1; id < kVocabSize; ++id) {
    if (next < entries.size() && entries[next].id == id) {
      ordered.append(blob, entries[next].offset, entries[next].length);
      ++next;
    }
    offsets[static_cast<size_t>(id) + 1] = static_cast<uint32_t>(ordered.size());
  }
  GF_RETURN_IF_ERROR(tokenizer->BuildTrie(line_of_id));
  return tokenizer;
}

Status WorldTokenizer::BuildTrie(const std::vector<int32_t>& line_of_id) {
  struct Item {
    std::string_view bytes;
    TokenId id;
    int32_t node;  // the node of bytes' prefix at the current depth
  };
  std::vector<Item> items;
  items.reserve(static_cast<size_t>(num_entries_) + 1);
  size_t max_length = 0;
  for (TokenId id = 0; id < kVocabSize; ++id) {
    const std::string_view bytes = TokenBytes(id);
    if (bytes.empty()) continue;
    items.push_back({bytes, id, 0});
    max_length = std::max(max_length, bytes.size());
  }
  std::sort(items.begin(), items.end(), [](const Item& a, const Item& b) {
    return a.bytes != b.bytes ? a.bytes < b.bytes : a.id < b.id;
  });
  for (size_t i = 1; i < items.size(); ++i) {
    if (items[i].bytes == items[i - 1].bytes) {
      const auto line_of = [&](TokenId id) {
        return id == 0 ? std::string("<|endoftext|>")
                       : LinePrefix(line_of_id[static_cast<size_t>(id)]);
      };
      return InvalidArgument(line_of(items[i].id) + ": id " + std::to_string(items[i].id) +
                             " has the same bytes as id " + std::to_string(items[i - 1].id) + " (" +
                             line_of(items[i - 1].id) + ")");
    }
  }

  // Level by level: the distinct prefixes of length d, in sorted order, are the nodes of depth
  // d; their parents appear in sorted order too, so each node's children are contiguous and
  // sorted by byte (breadth-first numbering).
  node_byte_.assign(1, 0);
  node_token_.assign(1, -1);
  std::vector<int32_t> parent(1, -1);
  std::vector<Item*> active;
  active.reserve(items.size());
  for (Item& item : items) active.push_back(&item);
  for (size_t depth = 1; depth <= max_length && !active.empty(); ++depth) {
    size_t kept = 0;
    int32_t last_parent = -1;
    int last_byte = -1;
    for (Item* item : active) {
      const auto byte = static_cast<uint8_t>(item->bytes[depth - 1]);
      if (item->node != last_parent || byte != last_byte) {
        last_parent = item->node;
        last_byte = byte;
        node_byte_.push_back(byte);
        node_token_.push_back(-1);
        parent.push_back(item->node);
      }
      item->node = static_cast<int32_t>(node_byte_.size()) - 1;
      if (item->bytes.size() == depth) {
        node_token_.back() = item->id;
      } else {
        active[kept++] = item;
      }
    }
    active.resize(kept);
  }
  const size_t num_nodes = node_byte_.size();
  child_begin_.assign(num_nodes + 1, 0);
  for (size_t n = 1; n < num_nodes; ++n) ++child_begin_[static_cast<size_t>(parent[n]) + 1];
  child_begin_[0] = 1;
  for (size_t n = 1; n <= num_nodes; ++n) child_begin_[n] += child_begin_[n - 1];

  // The root must have all 256 bytes as tokens (then its child for byte b is node 1 + b).
  for (int b = 0; b < 256; ++b) {
    const int32_t child = FindChild(0, static_cast<uint8_t>(b));
    if (child < 0 || node_token_[static_cast<size_t>(child)] < 0) {
      static constexpr char kHex[] = "0123456789abcdef";
      return InvalidArgument(std::string("the vocabulary has no single-byte token for 0x") +
                             kHex[b >> 4] + kHex[b & 15]);
    }
  }
  return Status::Ok();
}

int32_t WorldTokenizer::FindChild(int32_t node, uint8_t byte) const {
  const auto begin = node_byte_.begin() + child_begin_[static_cast<size_t>(node)];
  const auto end = node_byte_.begin() + child_begin_[static_cast<size_t>(node) + 1];
  if (end - begin == 256) return static_cast<int32_t>(begin - node_byte_.begin()) + byte;
  if (end - begin <= 8) {
    for (auto it = begin; it != end; ++it) {
      if (*it == byte) return static_cast<int32_t>(it - node_byte_.begin());
    }
    return -1;
  }
  const auto it = std::lower_bound(begin, end, byte);
  if (it == end || *it != byte) return -1;
  return static_cast<int32_t>(it - node_byte_.begin());
}

std::vector<TokenId> WorldTokenizer::Encode(std::string_view text) const {
  return EncodeGreedy(text, /*allow_end_of_text=*/true);
}

std::vector<TokenId> WorldTokenizer::EncodeOrdinary(std::string_view text) const {
  return EncodeGreedy(text, /*allow_end_of_text=*/false);
}

std::vector<TokenId> WorldTokenizer::EncodeGreedy(std::string_view text,
                                                  bool allow_end_of_text) const {
  const TokenId lowest_allowed = allow_end_of_text ? 0 : 1;
  std::vector<TokenId> ids;
  ids.reserve(text.size() / 3 + 1);
  size_t pos = 0;
  while (pos < text.size()) {
    // The root has all 256 single bytes, so every step matches at least one byte.
    int32_t node = 1 + static_cast<uint8_t>(text[pos]);
    TokenId best_id = node_token_[static_cast<size_t>(node)];
    size_t best_end = pos + 1;
    for (size_t i = pos + 1; i < text.size(); ++i) {
      node = FindChild(node, static_cast<uint8_t>(text[i]));
      if (node < 0) break;
      const TokenId id = node_token_[static_cast<size_t>(node)];
      if (id >= lowest_allowed) {
        best_id = id;
        best_end = i + 1;
      }
    }
    ids.push_back(best_id);
    pos = best_end;
  }
  return ids;
}

std::string_view WorldTokenizer::TokenBytes(TokenId id) const {
  if (id < 0 || id >= kVocabSize) return {};
  const auto index = static_cast<size_t>(id);
  return std::string_view(token_blob_)
      .substr(token_offset_[index], token_offset_[index + 1] - token_offset_[index]);
}

}  // namespace gf
