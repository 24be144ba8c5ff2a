// DiskStore: the "disk" cache tier, one immutable file per record in one directory.
//
// Files: "<64 lowercase hex of the key>.gfc" (names come from the key only, never from request
// data); writes go to "<hex>.tmp.<random>" in the same directory, are fdatasync'ed, renamed over
// the final name, and the directory is fsync'ed (once per Put). Published files are never
// modified; eviction and deletion are unlink (safe for readers holding the file open). A crash
// may lose entries, never produce a wrong hit: a half-written record only ever exists under a
// temp name, and every Get verifies the record envelope (magic, version, lengths, CRCs and that
// the stored key is the file's key) before returning it. Open takes an exclusive flock on
// "<dir>/LOCK" (one store per directory; released by the kernel when the process dies), deletes
// every leftover temp file, and rebuilds the index from the file names and sizes (LRU order from
// the modification times); records are read and verified lazily, on Get.
//
// Budget: byte_budget bounds the bytes of published records plus writes in flight; Put evicts
// least recently used unpinned records first (pins are in memory only: see cache_store.h).
// Errors: a failed write (ENOSPC, EFBIG, EIO, ...) removes the temp file, counts
// write_failures and returns ResourceExhausted (no space) or Unavailable (other I/O); the store
// keeps serving. A corrupt record is deleted, counted in corrupt_deleted and Get returns DataLoss.
//
// Thread-safety: all methods are thread-safe. The index is guarded by one mutex that is never
// held during file I/O; file operations on one key are ordered by a per-key (striped)
// reader/writer lock, so Gets of different keys read in parallel and a rename or unlink never
// races a concurrent reader's verification of the same key.
//
// Fault injection (crash tests): options.write_delay sleeps between the synced temp file and the
// rename. Whoever builds the options may set it from the environment variable
// GOLDFINCH_CACHE_FAULT_DELAY_MS with FaultDelayFromEnvironment().
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <list>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <unordered_map>

#include "cache_store/cache_store.h"

namespace gf::cache {

struct DiskStoreOptions {
  std::string directory;                       // created if missing
  uint64_t byte_budget = uint64_t{8} << 30;    // bytes of records on disk
  std::chrono::nanoseconds write_delay{0};     // fault injection: sleep before the rename
  bool sync = true;                            // fdatasync files and fsync the directory
};

// The delay named by GOLDFINCH_CACHE_FAULT_DELAY_MS (milliseconds, 0..600000); 0 when the variable
// is unset or not a valid number.
std::chrono::milliseconds FaultDelayFromEnvironment();

// File names used in the directory (exposed for tests and tools).
std::string RecordFileName(const Key& key);      // "<hex>.gfc"
bool IsRecordFileName(const std::string& name);  // 64 lowercase hex + ".gfc"
bool IsTempFileName(const std::string& name);    // 64 lowercase hex + ".tmp." + hex

class DiskStore final : public CacheStore {
 public:
  // Opens (creating if needed) the directory. FailedPrecondition when another store holds it;
  // Unavailable when it cannot be created or read.
  static StatusOr<std::unique_ptr<DiskStore>> Open(const DiskStoreOptions& options);
  ~DiskStore() override;
  DiskStore(const DiskStore&) = delete;
  DiskStore& operator=(const DiskStore&) = delete;

  Status Put(const Key& key, std::vector<uint8_t> record_bytes,
             const PutOptions& options = {}) override;
  StatusOr<std::vector<uint8_t>> Get(const Key& key) override;
  bool Contains(const Key& key) override;
  Status Erase(const Key& key) override;
  Status Pin(const Key& key, std::optional<PinClock::time_point> pinned_until) override;
  CacheTierStats Stats() const override;

  const std::string& directory() const { return options_.directory; }
  // Temp files deleted by Open.
  size_t temp_files_swept() const { return temp_files_swept_; }

 private:
  struct Entry {
    uint64_t size = 0;
    uint64_t generation = 0;  // changes whenever the file under this name is replaced
    std::list<Key>::iterator lru_position;
    std::optional<PinClock::time_point> pinned_until;
  };
  using Index = std::unordered_map<Key, Entry, KeyHash>;
  static constexpr size_t kStripes = 64;

  DiskStore(const DiskStoreOptions& options, int dir_fd, int lock_fd);
  Status Load();
  std::shared_mutex& StripeFor(const Key& key);
  void RemoveLocked(Index::iterator it);
  // Unlinks the files of keys already removed from the index, unless re-published meanwhile.
  void DeleteEvicted(const std::vector<Key>& victims);
  // Removes `key` from the index and unlinks its file if it still has `generation`; returns
  // whether it did. Caller holds the key's stripe exclusively.
  bool DropIfGeneration(const Key& key, uint64_t generation, bool corrupt);
  Status WriteTemp(const std::string& temp_name, const std::vector<uint8_t>& bytes);
  void SyncDirectory();

  const DiskStoreOptions options_;
  const int dir_fd_;
  const int lock_fd_;
  size_t temp_files_swept_ = 0;
  uint64_t temp_salt_ = 0;
  std::atomic<uint64_t> temp_counter_{0};
  std::array<std::shared_mutex, kStripes> stripes_;

  mutable std::mutex mu_;  // guards everything below; never held during file I/O
  Index index_;
  std::list<Key> lru_;  // front = most recently used
  uint64_t reserved_bytes_ = 0;  // writes in flight
  uint64_t next_generation_ = 1;
  CacheTierStats stats_;
};

}  // namespace gf::cache
