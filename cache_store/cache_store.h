// CacheStore: the interface of every cache tier: opaque record bytes (normally built by
// EncodeRecord, record_format.h) stored under a 32-byte key. Tiers: "memory" (MemoryStore),
// "disk" (DiskStore), and TieredStore, memory in front of disk.
//
// Contract for every implementation:
// - Thread-safe: any method may be called from any thread concurrently.
// - Put stores a copy under the key, replacing an older record; it may evict least recently used
//   unpinned entries to stay within the tier's byte budget. A record larger than the budget, or
//   one that cannot fit because the rest is pinned, fails with ResourceExhausted; I/O failures
//   with the error of that I/O. A failed Put counts write_failures; the store keeps working.
// - Get returns the bytes (NotFound on a miss). A tier that can detect corruption (disk) deletes
//   the bad record, counts corrupt_deleted and returns DataLoss; callers treat it as a miss.
//   Callers must still decode the bytes with DecodeRecord and compare the token ids.
// - Contains is an index probe: it does not read or verify the record, so a later Get may still
//   miss. It is not counted as a lookup.
// - Erase removes the record regardless of any pin (NotFound when absent).
// - Pins: an entry pinned until time T is never evicted before T (wall clock, so that a TTL means
//   the same thing after a restart; the disk tier does not persist pins across restarts: the
//   owner of pinned contexts re-pins them at start-up).
// - Budgets count record bytes only, not index overhead.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "cache_store/key.h"
#include "common/status.h"

namespace gf::cache {

using PinClock = std::chrono::system_clock;

struct PutOptions {
  // The entry is not evicted before this time; unset = not pinned. A Put that replaces an entry
  // keeps the later of the old and the new pin.
  std::optional<PinClock::time_point> pinned_until;
};

// Counters of one tier (or of a whole TieredStore, tier "tiered"). All monotonic except
// bytes_stored and entries, which are current values.
struct CacheTierStats {
  std::string tier;                  // "memory", "disk" or "tiered"
  uint64_t lookups = 0;              // Get calls
  uint64_t hits = 0;                 // Gets that returned bytes
  uint64_t misses_not_found = 0;     // Gets with no entry
  uint64_t corrupt_deleted = 0;      // records that failed verification, deleted
  uint64_t evictions = 0;            // entries removed to make room (not Erase)
  uint64_t bytes_stored = 0;         // current record bytes held
  uint64_t bytes_written_total = 0;  // record bytes of successful Puts
  uint64_t bytes_read_total = 0;     // record bytes returned by hits
  uint64_t write_failures = 0;       // failed Puts (too large, no room, I/O error)
  uint64_t entries = 0;              // current number of records
};

class CacheStore {
 public:
  virtual ~CacheStore() = default;

  virtual Status Put(const Key& key, std::vector<uint8_t> record_bytes,
                     const PutOptions& options = {}) = 0;
  virtual StatusOr<std::vector<uint8_t>> Get(const Key& key) = 0;
  virtual bool Contains(const Key& key) = 0;
  virtual Status Erase(const Key& key) = 0;
  // Sets (or, with nullopt, clears) the pin of an existing entry; NotFound when absent.
  virtual Status Pin(const Key& key, std::optional<PinClock::time_point> pinned_until) = 0;
  virtual CacheTierStats Stats() const = 0;
};

}  // namespace gf::cache
