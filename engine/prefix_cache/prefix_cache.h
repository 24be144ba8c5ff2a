// PrefixCache: stores and finds GoldFinch sequence snapshots by token prefix, on top of a
// cache::CacheStore (memory, disk or tiered). This is where token ids, compressed rows and
// recurrent states become cache records, and where a hit is verified before it is trusted.
//
// Records (docs/cache_format.md, "prefix cache"):
// - a *row segment* (RecordKind::kCompressedRows) holds the token ids and compressed rows
//   c_p of positions [begin, end) of a prefix. It is keyed by RowsKey(prefix key at end, begin),
//   so two snapshots that extend the same prefix with the same segmentation share it: the
//   compressed rows of a prefix are stored once.
// - a *snapshot* (RecordKind::kStateSnapshot) at position p holds the full token ids 0..p (in the
//   envelope), the list of segment ends that cover 0..p and the recurrent state at p
//   (SequenceState::SerializeRecurrent). Keyed by SnapshotKey(prefix key at p).
// Keys are SHA-256 chains over length-prefixed, type-tagged segments of token ids, seeded with the
// model fingerprint and the namespace's salt hash (prefix_keys.h): equal keys need equal model,
// namespace and tokens, and every hit is still checked token by token against the request.
//
// Lookup finds the longest stored snapshot at a position <= max_position whose tokens equal the
// request's, reads its row segments, verifies everything and assembles a SequenceState without
// materialised K/V (the caller runs GoldFinchModel::Rematerialize on its model thread). A snapshot
// whose segments fail (missing = evicted, corrupt, token mismatch) is skipped and the next shorter
// candidate is tried; the miss is counted once per Lookup with the reason of the longest
// candidate (kNoEntry when no candidate key was present at all).
//
// Threads: Lookup and Store do blocking I/O and must not run on the engine thread; every method
// is thread-safe. Ownership: owns its store.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "cache_store/cache_store.h"
#include "common/sha256.h"
#include "common/status.h"
#include "engine/model/config.h"
#include "engine/sequence_state.h"
#include "kernels/tensor.h"

namespace gf {

// Who may share entries: requests with equal salt hashes share, others never do. The server
// derives the salt (HMAC of a server secret and the tenant); the engine only sees its hash.
struct CacheNamespace {
  Sha256Digest salt_hash{};
};

struct PrefixCacheOptions {
  // No snapshot is stored at positions below this (tiny prefixes are cheaper to recompute).
  int64_t min_snapshot_tokens = 32;
  // Spaced snapshots inside long prompts: every multiple of this many tokens.
  int64_t snapshot_interval = 2048;
  // Tail ladder: snapshots at P-1-d (rounded down to a multiple of ladder_align) for
  // d = ladder_min, 2*ladder_min, ... < snapshot_interval, so that a new question after a long
  // document finds a snapshot at most about one question length before the document's end.
  int64_t ladder_min = 32;
  int64_t ladder_align = 16;
  // Store the compressed rows in BF16 (half the bytes) when the model's rows are exactly
  // representable in BF16; F32 otherwise. (The codec is recorded per segment.)
  bool allow_bf16_rows = true;

  Status Validate() const;  // InvalidArgument naming the field
};

enum class CacheTier { kMemory = 0, kDisk = 1 };
inline constexpr int kNumCacheTiers = 2;
const char* CacheTierName(CacheTier tier);  // "memory", "disk"

enum class CacheMissReason {
  kNoEntry = 0,              // no candidate snapshot key present
  kTokenMismatch = 1,        // a record's token ids differ from the request's
  kFingerprintMismatch = 2,  // a record made for another model or namespace
  kCorrupt = 3,              // a record failed its checksums / structure (deleted)
  kEvicted = 4,              // the snapshot was found but a row segment it needs is gone
  kDisabled = 5,             // caching disabled (globally or for the request)
};
inline constexpr int kNumCacheMissReasons = 6;
// "no_entry", "token_mismatch", "fingerprint_mismatch", "corrupt", "evicted", "disabled".
const char* CacheMissReasonName(CacheMissReason reason);

// Counters read at scrape time. Monotonic unless marked "current".
struct PrefixCacheStats {
  struct Tier {
    // Lookups that reached this tier (a TieredStore Lookup always reaches memory, and disk unless
    // memory served the snapshot; a plain store is "memory" unless it is a DiskStore).
    uint64_t lookups = 0;
    uint64_t hits = 0;           // Lookups served from this tier (snapshot read there)
    uint64_t hit_tokens = 0;     // prompt tokens restored by those hits
    uint64_t bytes_read = 0;     // record bytes read from the tier
    uint64_t bytes_written = 0;  // record bytes written to the tier
    uint64_t bytes_stored = 0;   // current
    uint64_t entries = 0;        // current
    uint64_t evictions = 0;
    uint64_t write_failures = 0;
    uint64_t corrupt_deleted = 0;  // by the tier's own checks or by the cache's
  };
  std::array<Tier, kNumCacheTiers> tiers{};  // indexed by CacheTier
  uint64_t lookups = 0;  // Lookup calls plus CountDisabled calls: lookups == hits + sum(misses)
  uint64_t hits = 0;
  uint64_t hit_tokens = 0;
  std::array<uint64_t, kNumCacheMissReasons> misses{};  // indexed by CacheMissReason
  uint64_t snapshots_stored = 0;                        // snapshot records written
  uint64_t segments_stored = 0;                         // row segment records written
  uint64_t snapshot_bytes = 0;                          // record bytes of those snapshots
  uint64_t segment_bytes = 0;                           // record bytes of those segments
  uint64_t segment_tokens = 0;                          // tokens covered by those segments
  uint64_t store_failures = 0;                          // Store calls that failed
  // Restore time (Lookup of a hit, I/O + decode; not the K/V rebuild): sum and count, plus
  // cumulative-bucket counts for the upper bounds in kRestoreBuckets (seconds).
  double restore_seconds_sum = 0.0;
  uint64_t restore_count = 0;
  static constexpr std::array<double, 10> kRestoreBuckets = {0.001, 0.0025, 0.005, 0.01, 0.025,
                                                             0.05,  0.1,    0.25,  0.5,  1.0};
  std::array<uint64_t, kRestoreBuckets.size()> restore_buckets{};  // cumulative counts
};

// A restored prefix: the state at `position` without materialised K/V.
struct RestoredPrefix {
  SequenceState state;
  int64_t position = 0;                 // == state.num_tokens()
  std::vector<int64_t> segment_ends;    // the row segments covering 0..position (last == position)
  CacheTier tier = CacheTier::kMemory;  // where the snapshot record was read
};

// Everything needed to store a snapshot at position p = tokens.size(); copied out of a live
// SequenceState on the engine thread (CaptureSnapshot), stored later on a worker thread.
struct SnapshotCapture {
  CacheNamespace ns;
  std::vector<int32_t> tokens;  // 0..p
  std::vector<float> rows;      // [p, compressed_dim] compressed rows 0..p
  std::string recurrent;        // SequenceState::SerializeRecurrent() at p
  // Segment ends to use for 0..p, ascending, last == p; segments not yet in the store are
  // written from `rows` (so a lost earlier write never breaks this snapshot).
  std::vector<int64_t> segment_ends;
  size_t bytes() const;  // memory held by this capture
};

// Copies what a snapshot needs out of `state` (engine thread). `segment_ends` as above.
SnapshotCapture CaptureSnapshot(const CacheNamespace& ns, const SequenceState& state,
                                std::vector<int64_t> segment_ends);

class PrefixCache {
 public:
  // `model_fingerprint`: ModelFingerprint() of the model and tokenizer (model_fingerprint.h).
  static StatusOr<std::unique_ptr<PrefixCache>> Create(std::unique_ptr<cache::CacheStore> store,
                                                       const ModelConfig& config,
                                                       kernels::DType kv_dtype,
                                                       const Sha256Digest& model_fingerprint,
                                                       PrefixCacheOptions options);
  ~PrefixCache();

  // The longest stored snapshot of tokens[0..q) with min_snapshot_tokens <= q <= max_position.
  // NotFound on a miss (counted with its reason); never returns a state whose tokens differ.
  StatusOr<RestoredPrefix> Lookup(const CacheNamespace& ns, std::span<const int32_t> tokens,
                                  int64_t max_position);

  // Writes the missing row segments and the snapshot record (an existing snapshot under the same
  // key is kept). Errors are counted in store_failures and returned; the cache keeps working.
  Status Store(const SnapshotCapture& capture);

  // The snapshot positions for a prompt of `prompt_tokens` tokens (the policy, see
  // docs/cache_format.md): prompt_tokens - 1 (so that the same prompt again hits), multiples of
  // snapshot_interval, the tail ladder and every hint (chat message boundaries, client markers)
  // in [min_snapshot_tokens, prompt_tokens - 1]; ascending, unique.
  std::vector<int64_t> SnapshotPositions(int64_t prompt_tokens,
                                         std::span<const int64_t> hints) const;

  // Whether a snapshot at exactly tokens.size() is stored for `ns` (index probe, no read).
  bool HasSnapshot(const CacheNamespace& ns, std::span<const int32_t> tokens);
  // Pins (until `until`; nullopt unpins) the snapshot at exactly tokens.size() and every row
  // segment it references, in every tier that holds them. NotFound when no such snapshot is
  // stored (or it cannot be read and verified).
  Status PinSnapshot(const CacheNamespace& ns, std::span<const int32_t> tokens,
                     std::optional<cache::PinClock::time_point> until);
  // Erases the snapshot at exactly tokens.size() (its row segments stay: other snapshots may
  // share them; LRU eviction reclaims them). NotFound when absent.
  Status EraseSnapshot(const CacheNamespace& ns, std::span<const int32_t> tokens);

  // Counts a lookup that was not attempted (caching disabled for the request).
  void CountDisabled();

  PrefixCacheStats Stats() const;
  const PrefixCacheOptions& options() const;
  cache::CacheStore& store();

 private:
  struct Impl;
  explicit PrefixCache(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace gf
