// TieredStore: a fast tier (normally MemoryStore) in front of a slow one (normally DiskStore),
// behind the one CacheStore interface.
//
// Get tries the front, then the back; a back hit is promoted into the front (unpinned; a
// promotion that does not fit is skipped). Put is synchronous write-through: the record goes to
// both tiers, and succeeds when at least one tier stored it (each tier counts its own failures);
// callers that must not block on disk I/O call Put from a background thread. Contains and Erase
// apply to both tiers; Pin pins in every tier that has the entry.
//
// Stats() is the view of the whole store (tier "tiered"): lookups, hits and misses of TieredStore
// Gets; corrupt_deleted, evictions and write_failures summed over the tiers; bytes_stored,
// bytes_written_total and entries of the back tier (which holds every record written through).
// TierStats() gives each tier's own counters. Thread-safety: as thread-safe as the tiers
// (MemoryStore and DiskStore are); the tiered counters are atomics. Owns both tiers.
#pragma once

#include <atomic>
#include <memory>
#include <vector>

#include "cache_store/cache_store.h"

namespace gf::cache {

class TieredStore final : public CacheStore {
 public:
  TieredStore(std::unique_ptr<CacheStore> front, std::unique_ptr<CacheStore> back);

  Status Put(const Key& key, std::vector<uint8_t> record_bytes,
             const PutOptions& options = {}) override;
  StatusOr<std::vector<uint8_t>> Get(const Key& key) override;
  // Which tier returned the bytes of a Get.
  enum class ServedBy : uint8_t { kFront = 0, kBack = 1 };
  // Get that also reports the tier that served the hit (*served_by is set only on success;
  // nullptr is allowed). Counts and promotes exactly like Get(key).
  StatusOr<std::vector<uint8_t>> Get(const Key& key, ServedBy* served_by);
  bool Contains(const Key& key) override;
  Status Erase(const Key& key) override;
  Status Pin(const Key& key, std::optional<PinClock::time_point> pinned_until) override;
  CacheTierStats Stats() const override;
  // {front stats, back stats}, e.g. {"memory", "disk"}.
  std::vector<CacheTierStats> TierStats() const;

  CacheStore& front() { return *front_; }
  CacheStore& back() { return *back_; }

 private:
  std::unique_ptr<CacheStore> front_;
  std::unique_ptr<CacheStore> back_;
  std::atomic<uint64_t> lookups_{0}, hits_{0}, misses_{0}, bytes_read_{0};
};

}  // namespace gf::cache
