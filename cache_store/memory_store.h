// MemoryStore: the "memory" cache tier. Records live in process memory under a byte budget;
// least recently used (by Get or Put) unpinned entries are evicted to make room. Pinned entries
// are skipped by eviction until their pin time passes.
//
// Thread-safety: one mutex guards the index; record bytes are shared immutable buffers, so Get
// copies them out after releasing the lock. Errors: see CacheStore; a record larger than the
// budget, or one that cannot fit beside the pinned entries, is ResourceExhausted. Memory records
// are not verified (they never left the process); DecodeRecord still checks them on use.
#pragma once

#include <cstddef>
#include <list>
#include <memory>
#include <mutex>
#include <unordered_map>

#include "cache_store/cache_store.h"

namespace gf::cache {

struct MemoryStoreOptions {
  size_t byte_budget = size_t{1} << 30;
};

class MemoryStore final : public CacheStore {
 public:
  explicit MemoryStore(const MemoryStoreOptions& options);

  Status Put(const Key& key, std::vector<uint8_t> record_bytes,
             const PutOptions& options = {}) override;
  StatusOr<std::vector<uint8_t>> Get(const Key& key) override;
  bool Contains(const Key& key) override;
  Status Erase(const Key& key) override;
  Status Pin(const Key& key, std::optional<PinClock::time_point> pinned_until) override;
  CacheTierStats Stats() const override;

 private:
  struct Entry {
    std::shared_ptr<const std::vector<uint8_t>> bytes;
    std::list<Key>::iterator lru_position;  // in lru_, front = most recent
    std::optional<PinClock::time_point> pinned_until;
  };

  void RemoveLocked(std::unordered_map<Key, Entry, KeyHash>::iterator it);

  const size_t byte_budget_;
  mutable std::mutex mu_;
  std::unordered_map<Key, Entry, KeyHash> entries_;
  std::list<Key> lru_;
  CacheTierStats stats_;
};

}  // namespace gf::cache
