#include "engine/serving/hot_kv_cache.h"

#include <algorithm>
#include <utility>

namespace gf {
namespace {

// Whether the first n tokens of `a` and `b` are equal (both must have at least n).
bool SamePrefix(std::span<const int32_t> a, std::span<const int32_t> b, int64_t n) {
  if (static_cast<int64_t>(a.size()) < n || static_cast<int64_t>(b.size()) < n) return false;
  return std::equal(a.begin(), a.begin() + n, b.begin());
}

}  // namespace

uint64_t HotKvCache::BytesOf(const SequenceState& state) {
  return static_cast<uint64_t>(state.kv_bytes() + state.token_bytes() + state.recurrent_bytes());
}

void HotKvCache::Offer(const Sha256Digest& ns, SequenceState state, int64_t min_tokens) {
  const int64_t n = state.num_tokens();
  if (budget_ == 0 || n < std::max<int64_t>(min_tokens, 1) || !state.kv_materialised()) return;
  const uint64_t bytes = BytesOf(state);
  if (bytes > budget_) return;
  auto kept_state = std::make_shared<const SequenceState>(std::move(state));
  std::lock_guard<std::mutex> lock(mu_);
  for (auto it = entries_.begin(); it != entries_.end();) {
    if (it->ns == ns) {
      const int64_t kept = it->state->num_tokens();
      // Already covered by a kept state: nothing new to keep.
      if (kept >= n && SamePrefix(it->state->tokens(), kept_state->tokens(), n)) return;
      // The new state covers a kept one: replace it.
      if (kept < n && SamePrefix(it->state->tokens(), kept_state->tokens(), kept)) {
        stats_.bytes -= it->bytes;
        it = entries_.erase(it);
        continue;
      }
    }
    ++it;
  }
  while (!entries_.empty() && stats_.bytes + bytes > budget_) {
    stats_.bytes -= entries_.back().bytes;
    entries_.pop_back();
    ++stats_.evictions;
  }
  entries_.push_front(Entry{ns, std::move(kept_state), bytes});
  stats_.bytes += bytes;
}

bool HotKvCache::FillKv(const Sha256Digest& ns, SequenceState& target) {
  const int64_t p = target.num_tokens();
  if (budget_ == 0 || p == 0 || target.kv_rows() != 0) return false;
  std::shared_ptr<const SequenceState> source;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (auto it = entries_.begin(); it != entries_.end(); ++it) {
      if (it->ns != ns || it->state->kv_rows() < p) continue;
      if (!SamePrefix(it->state->tokens(), target.tokens(), p)) continue;
      entries_.splice(entries_.begin(), entries_, it);
      source = it->state;
      break;
    }
  }
  const bool copied = source != nullptr && target.CopyKvPrefix(*source, p).ok();
  std::lock_guard<std::mutex> lock(mu_);
  if (copied) {
    ++stats_.hits;
    stats_.hit_tokens += static_cast<uint64_t>(p);
  } else {
    ++stats_.misses;
  }
  return copied;
}

HotKvStats HotKvCache::stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  HotKvStats s = stats_;
  s.entries = entries_.size();
  return s;
}

}  // namespace gf
