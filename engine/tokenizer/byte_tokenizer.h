// Byte-level tokenizer for small models: id 0 <-> "<|endoftext|>", byte b <-> id b + 1 (the
// same ids the World tokenizer gives single bytes), vocab_size 257. Encoding maps each byte to
// its id, except that the exact 13-byte sequence "<|endoftext|>" becomes id 0 (EncodeOrdinary
// maps every byte, including those of the marker, to its id). Stateless.
#pragma once

#include "engine/tokenizer/tokenizer.h"

namespace gf {

class ByteTokenizer final : public Tokenizer {
 public:
  std::vector<TokenId> Encode(std::string_view text) const override;
  std::vector<TokenId> EncodeOrdinary(std::string_view text) const override;
  std::string_view TokenBytes(TokenId id) const override;
  int vocab_size() const override { return 257; }
};

}  // namespace gf
