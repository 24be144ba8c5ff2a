#include "engine/tokenizer/byte_tokenizer.h"

#include <array>

namespace gf {
namespace {

constexpr std::string_view kEndOfText = "<|endoftext|>";

// Every byte value once, so TokenBytes can return a view of one of them.
constexpr std::array<char, 256> MakeAllBytes() {
  std::array<char, 256> bytes{};
  for (int b = 0; b < 256; ++b) bytes[static_cast<size_t>(b)] = static_cast<char>(b);
  return bytes;
}
constexpr std::array<char, 256> kAllBytes = MakeAllBytes();

}  // namespace

std::vector<TokenId> ByteTokenizer::Encode(std::string_view text) const {
  std::vector<TokenId> ids;
  ids.reserve(text.size());
  size_t i = 0;
  while (i < text.size()) {
    if (text.substr(i, kEndOfText.size()) == kEndOfText) {
      ids.push_back(0);
      i += kEndOfText.size();
    } else {
      ids.push_back(static_cast<TokenId>(static_cast<uint8_t>(text[i])) + 1);
      ++i;
    }
  }
  return ids;
}

std::vector<TokenId> ByteTokenizer::EncodeOrdinary(std::string_view text) const {
  std::vector<TokenId> ids;
  ids.reserve(text.size());
  for (char c : text) ids.push_back(static_cast<TokenId>(static_cast<uint8_t>(c)) + 1);
  return ids;
}

std::string_view ByteTokenizer::TokenBytes(TokenId id) const {
  if (id == 0) return kEndOfText;
  if (id >= 1 && id <= 256) return std::string_view(&kAllBytes[static_cast<size_t>(id - 1)], 1);
  return {};
}

}  // namespace gf
