#include "engine/tokenizer/tokenizer.h"

#include "engine/tokenizer/byte_tokenizer.h"
#include "engine/tokenizer/utf8.h"
#include "engine/tokenizer/world_tokenizer.h"

namespace gf {

std::string Tokenizer::Decode(std::span<const TokenId> ids) const {
  std::string out;
  for (TokenId id : ids) out.append(TokenBytes(id));
  return out;
}

std::string StreamingDetokenizer::Push(TokenId id) { return PushBytes(tokenizer_->TokenBytes(id)); }

std::string StreamingDetokenizer::PushBytes(std::string_view bytes) {
  pending_.append(bytes);
  std::string out;
  size_t pos = 0;
  while (pos < pending_.size()) {
    const Utf8Scan scan = ScanUtf8Char(std::string_view(pending_).substr(pos));
    if (scan.kind == Utf8Scan::Kind::kIncomplete) break;  // wait for the rest of the character
    if (scan.kind == Utf8Scan::Kind::kComplete) {
      out.append(pending_, pos, static_cast<size_t>(scan.length));
    } else {
      out.append(kUtf8Replacement);
    }
    pos += static_cast<size_t>(scan.length);
  }
  pending_.erase(0, pos);
  return out;
}

std::string StreamingDetokenizer::Flush() {
  std::string out = PushBytes({});
  // Whatever remains is one unfinished (but so far valid) character: its maximal subpart.
  if (!pending_.empty()) out.append(kUtf8Replacement);
  pending_.clear();
  return out;
}

StatusOr<std::unique_ptr<Tokenizer>> MakeTokenizer(const std::string& kind,
                                                   const std::string& vocab_path) {
  if (kind == "byte") return std::unique_ptr<Tokenizer>(std::make_unique<ByteTokenizer>());
  if (kind == "world") {
    GF_ASSIGN_OR_RETURN(std::unique_ptr<WorldTokenizer> world, WorldTokenizer::Load(vocab_path));
    return std::unique_ptr<Tokenizer>(std::move(world));
  }
  return InvalidArgument("unknown tokenizer kind \"" + kind +
                         "\" (expected \"world\" or \"byte\")");
}

}  // namespace gf
