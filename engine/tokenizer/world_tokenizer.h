// The RWKV "World" tokenizer (rwkv_vocab_v20230424.txt), with the exact upstream semantics:
// greedy longest byte match through a trie; str literals decode \xNN and \uNNNN as code points
// (then UTF-8), bytes literals b'...' decode \xNN as raw bytes; each entry is checked against its
// stated length; id 0 <-> "<|endoftext|>" (13 bytes, also in the trie). EncodeOrdinary runs the
// same greedy match with id 0 left out, so the marker becomes the ids of its ordinary pieces.
// Immutable after Load, so one instance may be shared by all threads.
//
// Vocabulary errors (InvalidArgument naming the 1-based line): a line that is not
// `ID LITERAL LEN`; an id outside 1..65535 (0 is reserved for <|endoftext|>) or repeated; a
// literal that is not a single '...', "...", b'...' or b"..." Python literal; an escape other
// than \\ \' \" \a \b \f \n \r \t \v \ooo \xNN \uNNNN \UNNNNNNNN (\u, \U: str only); a
// surrogate or out-of-range code point; raw non-UTF-8 text (or non-ASCII in a bytes literal);
// an empty token; LEN different from the byte length; two ids with the same bytes; a blank line
// (a final newline is fine, and a trailing \r on any line is ignored). The whole
// vocabulary must contain all 256 single bytes (so Encode always progresses). Load returns
// NotFound when the file cannot be read (InvalidArgument above 1 GiB). TokenBytes of an id
// without entry is empty.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "engine/tokenizer/tokenizer.h"

namespace gf {

class WorldTokenizer final : public Tokenizer {
 public:
  // Parses the vocabulary file; InvalidArgument with the line number on any malformed line.
  static StatusOr<std::unique_ptr<WorldTokenizer>> Load(const std::string& path);
  static StatusOr<std::unique_ptr<WorldTokenizer>> FromText(std::string_view text);

  std::vector<TokenId> Encode(std::string_view text) const override;
  std::vector<TokenId> EncodeOrdinary(std::string_view text) const override;
  std::string_view TokenBytes(TokenId id) const override;
  int vocab_size() const override { return 65536; }
  // Number of entries read from the file (65,529 for v20230424).
  int num_entries() const { return num_entries_; }

 private:
  WorldTokenizer() = default;
  // Builds the trie from the id-ordered tokens; rejects duplicate byte strings and a missing
  // single-byte token. `line_of_id` gives file lines for error messages.
  Status BuildTrie(const std::vector<int32_t>& line_of_id);
  // Greedy longest match; id 0 (<|endoftext|>) is a candidate only when `allow_end_of_text`.
  std::vector<TokenId> EncodeGreedy(std::string_view text, bool allow_end_of_text) const;
  // The child of `node` reached by `byte`, or -1.
  int32_t FindChild(int32_t node, uint8_t byte) const;

  // Token bytes, id-ordered: id i is token_blob_[token_offset_[i], token_offset_[i + 1]).
  std::string token_blob_;
  std::vector<uint32_t> token_offset_;
  // Trie in breadth-first order (node 0 = root). The children of node n are the nodes
  // [child_begin_[n], child_begin_[n + 1]), sorted by their byte; node_byte_[c] is the byte on
  // the edge into c, node_token_[c] the id of the token ending at c (or -1).
  std::vector<int32_t> child_begin_;
  std::vector<uint8_t> node_byte_;
  std::vector<TokenId> node_token_;
  int num_entries_ = 0;
};

}  // namespace gf
