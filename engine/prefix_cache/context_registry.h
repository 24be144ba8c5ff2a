// ContextRegistry: named, pinned prompt prefixes ("contexts", the explicit context API of the
// server). A context is a token sequence whose prefix-cache snapshot (at exactly its length) is
// pinned in the PrefixCache until the context expires, so that requests that start with its
// tokens restore it instead of recomputing it.
//
// Contract:
// - Create(ns, tokens, ttl) pins the snapshot stored for (ns, tokens) (the caller ran the tokens
//   through the engine and waited for the cache write first) until now + ttl and returns a new
//   record with a fresh random id. NotFound when no such snapshot is stored (PinSnapshot's
//   error); ResourceExhausted (message starting with kContextLimitMessage) when `ns` already
//   holds max_per_namespace contexts;
//   InvalidArgument for an empty token list, a ttl outside [1, kMaxContextTtlSeconds] or a name
//   longer than max_name_bytes.
// - Get / List / Pin / Delete see only the contexts of the caller's namespace: another
//   namespace's id is NotFound, exactly like an id that never existed.
// - Pin(ns, id, ttl) re-pins until now + ttl; ttl 0 unpins now and expires the context now (it
//   is forgotten; its snapshot stays in the cache, unpinned, for LRU eviction to reclaim). A
//   context whose snapshot is gone from the cache (deleted as corrupt, or the cache directory was
//   wiped) cannot be re-pinned: it is forgotten and Pin returns NotFound.
// - Delete unpins the snapshot, erases it from the cache and forgets the context.
// - Expiry is lazy: every call first forgets the contexts whose expires_at <= now and unpins their
//   snapshots. Contexts of one namespace with identical tokens share one snapshot: its pin lasts
//   until the latest of their expiries, and it is erased only when the last of them is deleted.
// - Persistence (options.dir non-empty): one file per context (context_file.h), rewritten on
//   Create and Pin, deleted on Delete and expiry. Open loads the directory: corrupt files are
//   deleted, expired contexts dropped, and live ones re-pinned (cache tiers keep pins in memory
//   only); contexts whose snapshot is no longer stored are dropped too. Without a directory the
//   registry lives in memory only. A failed file write fails the Create/Pin that needed it (and
//   leaves the previous state).
// - Memory: each context keeps its token ids; at most max_per_namespace contexts per namespace.
//
// Threads: every method is thread-safe. One mutex serialises all calls, including their cache
// I/O (pins read the snapshot record) and file writes, so calls may block for that I/O.
// Ownership: the PrefixCache is not owned and must outlive the registry.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/status.h"
#include "engine/prefix_cache/context_file.h"
#include "engine/prefix_cache/prefix_cache.h"

namespace gf {

inline constexpr int64_t kMaxContextTtlSeconds = int64_t{30} * 24 * 3600;  // 30 days
// The message of the per-namespace bound's ResourceExhausted starts with this.
inline constexpr std::string_view kContextLimitMessage = "too many contexts";

struct ContextRegistryOptions {
  std::string dir;  // "" = memory only; else the disk cache dir + "/contexts"
  size_t max_per_namespace = 1024;
  size_t max_name_bytes = 256;
  // The wall clock of expiries and pins (tests inject one); default std::chrono::system_clock.
  std::function<cache::PinClock::time_point()> clock;
};

// Counters of a registry since Open (for metrics).
struct ContextStats {
  uint64_t live = 0;     // contexts now, all namespaces
  uint64_t created = 0;  // Create calls that succeeded
  uint64_t deleted = 0;  // Delete calls that succeeded
  uint64_t expired = 0;  // contexts that reached their expiry (including a pin with ttl 0)
  uint64_t lost = 0;     // forgotten because their snapshot was no longer stored
};

// What Open found in the directory.
struct ContextLoadReport {
  size_t loaded = 0;            // live contexts re-pinned
  size_t expired = 0;           // dropped: expires_at already passed
  size_t corrupt = 0;           // malformed files, deleted
  size_t missing_snapshot = 0;  // dropped: their snapshot is no longer in the cache
};

class ContextRegistry {
 public:
  // Loads options.dir when set (see the file comment). Unavailable when the directory cannot be
  // created or read; InvalidArgument for a zero max_per_namespace.
  static StatusOr<std::unique_ptr<ContextRegistry>> Open(PrefixCache& cache,
                                                         ContextRegistryOptions options,
                                                         ContextLoadReport* report = nullptr);
  ~ContextRegistry();
  ContextRegistry(const ContextRegistry&) = delete;
  ContextRegistry& operator=(const ContextRegistry&) = delete;

  StatusOr<ContextRecord> Create(const CacheNamespace& ns, std::span<const int32_t> tokens,
                                 int64_t ttl_seconds, std::string name = "");
  StatusOr<ContextRecord> Get(const CacheNamespace& ns, std::string_view id);
  // Oldest first (by created, then id).
  std::vector<ContextRecord> List(const CacheNamespace& ns);
  // ttl_seconds in [0, kMaxContextTtlSeconds]; returns the updated record (ttl 0: expires_at =
  // now, and the context is gone afterwards).
  StatusOr<ContextRecord> Pin(const CacheNamespace& ns, std::string_view id, int64_t ttl_seconds);
  Status Delete(const CacheNamespace& ns, std::string_view id);

  size_t size();                           // live contexts, all namespaces
  size_t Count(const CacheNamespace& ns);  // live contexts of `ns`
  ContextStats Stats();                    // after forgetting the expired ones
  const ContextRegistryOptions& options() const { return options_; }

 private:
  ContextRegistry(PrefixCache& cache, ContextRegistryOptions options);
  int64_t NowSeconds() const;
  // Forgets the contexts with expires_at <= now and re-pins (or unpins) their snapshots.
  void SweepExpiredLocked(int64_t now);
  // Removes `id` from every index and deletes its file (no cache I/O).
  void ForgetLocked(const std::string& id);
  // Pins the snapshot of `group` until the latest expiry among its contexts and
  // `extra_expiry` (0 = none), or unpins it when that leaves nothing.
  Status RepinGroupLocked(const std::string& group, const CacheNamespace& ns,
                          std::span<const int32_t> tokens, int64_t extra_expiry);
  // Indexes a record (no I/O).
  void InsertLocked(ContextRecord record, std::string group);
  std::string NewIdLocked();
  // The record of `id` when it belongs to `ns`, else nullptr.
  const ContextRecord* FindLocked(const CacheNamespace& ns, std::string_view id) const;

  struct Entry {
    ContextRecord record;
    std::string group;  // ContextSnapshotGroup(record.ns, tokens)
  };

  PrefixCache& cache_;
  const ContextRegistryOptions options_;

  std::mutex mu_;
  std::map<std::string, Entry, std::less<>> contexts_;   // by id
  std::set<std::pair<int64_t, std::string>> by_expiry_;  // (expires_at, id)
  std::map<std::string, std::set<std::string>> groups_;  // snapshot group -> ids
  std::map<Sha256Digest, size_t> per_namespace_;         // live contexts per namespace
  ContextStats stats_;                                   // counters (live is filled in Stats)
};

// The snapshot group of a context: SHA-256 over the namespace and the token ids (hex).
std::string ContextSnapshotGroup(const CacheNamespace& ns, std::span<const int32_t> tokens);

}  // namespace gf
