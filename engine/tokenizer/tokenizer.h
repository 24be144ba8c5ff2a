// Tokenizer interface and the streaming detokenizer.
//
// A Tokenizer maps UTF-8 text (any bytes, in fact) to token ids and back. Implementations are
// immutable after construction, so one instance may be shared by all threads.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace gf {

using TokenId = int32_t;

class Tokenizer {
 public:
  virtual ~Tokenizer() = default;
  // Encodes bytes to ids (never fails: every byte has a token). The text "<|endoftext|>"
  // becomes the end-of-text id (for trusted text such as chat templates).
  virtual std::vector<TokenId> Encode(std::string_view text) const = 0;
  // Like Encode, but never produces the end-of-text id or any other control id: such markers
  // are encoded as their ordinary bytes. Use it for untrusted (user) text, so that no input can
  // smuggle in a control token. Decode(EncodeOrdinary(text)) == text.
  virtual std::vector<TokenId> EncodeOrdinary(std::string_view text) const = 0;
  // The bytes of one id; empty for ids with no entry (and for out-of-range ids).
  virtual std::string_view TokenBytes(TokenId id) const = 0;
  // Number of model ids this tokenizer can produce (max id + 1).
  virtual int vocab_size() const = 0;
  // The end-of-text id (0 for World and byte tokenizers).
  virtual TokenId eot_id() const { return 0; }

  // Concatenated bytes of the ids (may contain invalid UTF-8 if the ids split a character).
  std::string Decode(std::span<const TokenId> ids) const;
};

// Buffers the bytes of generated tokens and releases only complete UTF-8 characters, so a
// stream never shows half a character. Bytes that can never become valid UTF-8 (a stray
// continuation byte, an invalid lead byte, an overlong/surrogate/out-of-range sequence) are
// released as U+FFFD so the stream cannot stall. Not thread-safe (one per request).
class StreamingDetokenizer {
 public:
  explicit StreamingDetokenizer(const Tokenizer& tokenizer) : tokenizer_(&tokenizer) {}
  // Appends the token's bytes; returns the newly completed text (possibly empty).
  std::string Push(TokenId id);
  // Appends raw bytes (same rules as Push).
  std::string PushBytes(std::string_view bytes);
  // Releases whatever is pending at the end of the stream (an incomplete tail becomes U+FFFD).
  std::string Flush();
  // Number of bytes held back.
  size_t pending() const { return pending_.size(); }

 private:
  const Tokenizer* tokenizer_;
  std::string pending_;
};

// Creates the tokenizer named by kind: "world" (loads `vocab_path`) or "byte".
StatusOr<std::unique_ptr<Tokenizer>> MakeTokenizer(const std::string& kind,
                                                   const std::string& vocab_path);

}  // namespace gf
