// OutputProcessor: turns one sequence's sampled tokens into released text and decides when the
// sequence stops (stop strings, stop token ids, eos, max_tokens). Not thread-safe: one per
// sequence, used by the engine thread only. Keeps a reference to the tokenizer, which must
// outlive it. Never fails: every token id is accepted (ids without bytes add no text).
//
// Text rules:
//   * text is released only as complete UTF-8 characters (StreamingDetokenizer);
//   * stop strings are matched in the decoded text, also across token boundaries; on a match
//     the text before it is released, the match and everything after it are dropped, and the
//     sequence finishes with kStop; when several stop strings match, the earliest one wins; a
//     match must start on a character boundary;
//   * text that could still begin a stop string (the longest suffix of the unreleased text that
//     is a proper prefix of some stop string, starting on a character boundary) is held back
//     until it cannot, and released when the sequence finishes for another reason;
//   * a stop token id, or eos_id unless ignore_eos, finishes with kStop: the token adds no text,
//     held-back text is released and the detokenizer flushed (an unfinished character
//     becomes U+FFFD);
//   * after max_tokens tokens (counting the stopping token) the sequence finishes with kLength
//     and everything is released, unless that same token also stopped it (stop wins).
// After a finish, Push is a no-op returning an empty Step.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "engine/serving/request.h"
#include "engine/tokenizer/tokenizer.h"

namespace gf {

struct OutputRules {
  std::vector<std::string> stop;        // stop strings (empty strings are ignored)
  std::vector<TokenId> stop_token_ids;  // finish with kStop; the token contributes no text
  TokenId eos_id = 0;
  bool ignore_eos = false;  // when false, eos_id finishes with kStop (no text)
  int64_t max_tokens = 16;  // finish kLength after this many tokens (<= 0: the first)
};

class OutputProcessor {
 public:
  OutputProcessor(const Tokenizer& tokenizer, OutputRules rules);

  struct Step {
    std::string text;  // newly released text (complete UTF-8 characters)
    FinishReason finish = FinishReason::kNone;
  };

  // Consumes one sampled token.
  Step Push(TokenId token);
  // At a forced end (cancel, error, prompt-only request): releases the held-back text and the
  // detokenizer's pending bytes (an unfinished character becomes U+FFFD), cut before a stop
  // string if that completes one; returns "" when the sequence already finished. Afterwards the
  // processor is closed: finished() is true and Push is a no-op.
  std::string Flush();

  int64_t num_tokens() const { return num_tokens_; }  // tokens pushed (before the finish)
  bool finished() const { return finished_; }

 private:
  // Byte offset in held_ of the earliest stop-string match, or npos.
  size_t FindEarliestStop() const;
  // Length of the longest suffix of held_ that is a proper prefix of a stop string.
  size_t HoldBackLength() const;
  // Releases held_ (cut before a stop string if one matches) and finishes with `reason`, or
  // with kStop when a stop string matched.
  Step FinishWith(FinishReason reason);

  StreamingDetokenizer detokenizer_;
  OutputRules rules_;
  std::string held_;  // decoded but unreleased text
  int64_t num_tokens_ = 0;
  bool finished_ = false;
};

}  // namespace gf
