#include "engine/serving/output_processor.h"

#include <algorithm>
#include <utility>

namespace gf {
namespace {

bool IsUtf8Continuation(char c) { return (static_cast<uint8_t>(c) & 0xC0) == 0x80; }

}  // namespace

OutputProcessor::OutputProcessor(const Tokenizer& tokenizer, OutputRules rules)
    : detokenizer_(tokenizer), rules_(std::move(rules)) {
  // An empty stop string would match everywhere; the request validation rejects them anyway.
  std::erase_if(rules_.stop, [](const std::string& s) { return s.empty(); });
}

OutputProcessor::Step OutputProcessor::Push(TokenId token) {
  if (finished_) return {};
  ++num_tokens_;
  const bool is_stop_token = std::find(rules_.stop_token_ids.begin(), rules_.stop_token_ids.end(),
                                       token) != rules_.stop_token_ids.end() ||
                             (!rules_.ignore_eos && token == rules_.eos_id);
  if (is_stop_token) return FinishWith(FinishReason::kStop);

  held_ += detokenizer_.Push(token);
  if (const size_t stop = FindEarliestStop(); stop != std::string::npos) {
    Step step{held_.substr(0, stop), FinishReason::kStop};
    held_.clear();
    finished_ = true;
    return step;
  }
  if (num_tokens_ >= rules_.max_tokens) return FinishWith(FinishReason::kLength);

  const size_t release = held_.size() - HoldBackLength();
  Step step{held_.substr(0, release), FinishReason::kNone};
  held_.erase(0, release);
  return step;
}

std::string OutputProcessor::Flush() {
  if (finished_) return {};
  // The reason is the caller's (cancelled / error); only the text matters here.
  return FinishWith(FinishReason::kCancelled).text;
}

OutputProcessor::Step OutputProcessor::FinishWith(FinishReason reason) {
  held_ += detokenizer_.Flush();
  // The flushed bytes may complete a stop string: then it is a stop, cut before the match.
  if (const size_t stop = FindEarliestStop(); stop != std::string::npos) {
    held_.resize(stop);
    reason = FinishReason::kStop;
  }
  Step step{std::move(held_), reason};
  held_.clear();
  finished_ = true;
  return step;
}

size_t OutputProcessor::FindEarliestStop() const {
  size_t earliest = std::string::npos;
  for (const std::string& stop : rules_.stop) {
    // Only matches that start on a character boundary (a stop string can never cut a
    // character in two).
    size_t pos = held_.find(stop);
    while (pos != std::string::npos && pos < earliest && IsUtf8Continuation(held_[pos])) {
      pos = held_.find(stop, pos + 1);
    }
    earliest = std::min(earliest, pos);
  }
  return earliest;
}

size_t OutputProcessor::HoldBackLength() const {
  size_t longest_stop = 0;
  for (const std::string& stop : rules_.stop) longest_stop = std::max(longest_stop, stop.size());
  if (longest_stop < 2 || held_.empty()) return 0;
  // Candidate suffixes are shorter than the longest stop string (a proper prefix of it).
  const size_t first = held_.size() > longest_stop - 1 ? held_.size() - (longest_stop - 1) : 0;
  for (size_t start = first; start < held_.size(); ++start) {
    if (IsUtf8Continuation(held_[start])) continue;  // never split a character
    const std::string_view suffix = std::string_view(held_).substr(start);
    for (const std::string& stop : rules_.stop) {
      if (stop.size() > suffix.size() && stop.compare(0, suffix.size(), suffix) == 0) {
        return suffix.size();
      }
    }
  }
  return 0;
}

}  // namespace gf
