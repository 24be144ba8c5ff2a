// HotKvCache: the "hot" tier in front of the prefix cache. It keeps the complete states (with
// their materialised GOLD K/V) of recently finished sequences in memory, so that a prefix
// restored from the prefix cache can take its K/V rows by copying them from a kept state that
// starts with the same tokens, instead of rebuilding them from the compressed rows
// (GoldFinchModel::Rematerialize costs n * (M_kc + G * M_gkv) MACs; a copy is a memcpy of
// 2 * G * A * dtype bytes per token). This is what makes many questions about one long document
// cheap: every question's finished state holds the document's K/V.
//
// Only namespaces match namespaces (a kept state is used only for a restore in the same
// namespace) and only token-identical prefixes match (compared id by id). Byte budget over
// SequenceState::kv_bytes() + token_bytes() + recurrent_bytes(); least recently used states go
// first; budget 0 = off.
//
// Threads: any (one mutex). Offer runs on the engine thread, FillKv on the cache thread; the copy
// of FillKv runs outside the lock (a kept state is shared with the copier until it finishes, even
// when it is evicted meanwhile). Ownership: owns the kept states.
#pragma once

#include <cstdint>
#include <list>
#include <memory>
#include <mutex>

#include "common/sha256.h"
#include "engine/sequence_state.h"

namespace gf {

struct HotKvStats {
  uint64_t hits = 0;        // restores that copied their K/V from a kept state
  uint64_t misses = 0;      // restores that had to rebuild
  uint64_t hit_tokens = 0;  // K/V rows copied
  uint64_t bytes = 0;       // current
  uint64_t entries = 0;     // current
  uint64_t evictions = 0;
};

class HotKvCache {
 public:
  explicit HotKvCache(uint64_t byte_budget) : budget_(byte_budget) {}

  // Keeps `state` (which must have materialised K/V) for namespace `ns`; states shorter than
  // `min_tokens`, larger than the budget, or whose tokens are a prefix of a kept state's are not
  // kept. Evicts least recently used states to fit.
  void Offer(const Sha256Digest& ns, SequenceState state, int64_t min_tokens);

  // For a restored `target` (no K/V, num_tokens() = p): copies K/V rows 0..p from a kept state
  // of namespace `ns` whose first p tokens equal target's. True on a hit; false leaves `target`
  // unchanged (the caller rebuilds).
  bool FillKv(const Sha256Digest& ns, SequenceState& target);

  HotKvStats stats() const;

 private:
  struct Entry {
    Sha256Digest ns{};
    std::shared_ptr<const SequenceState> state;
    uint64_t bytes = 0;
  };
  static uint64_t BytesOf(const SequenceState& state);

  const uint64_t budget_;
  mutable std::mutex mu_;
  std::list<Entry> entries_;  // front = most recently used; guarded by mu_
  HotKvStats stats_;          // guarded by mu_
};

}  // namespace gf
