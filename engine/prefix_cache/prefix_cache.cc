// PrefixCache: lookup, store, pins and counters (the contract is in prefix_cache.h; the record
// formats in snapshot_payload.h and docs/cache_format.md; the policy in snapshot_policy.cc).
//
// Every record read is verified in full before use: the store's own checks (the disk tier
// verifies the envelope), DecodeRecord (checksums, model fingerprint, salt hash, key), the record
// kind, token equality with the request, then the payload structure. A record that fails any
// check is erased (it sits under our key, so it would otherwise block the Store that repairs it);
// only a missing row segment leaves its snapshot in place (a later Store of any snapshot that
// covers the segment writes it again).
#include "engine/prefix_cache/prefix_cache.h"

#include <algorithm>
#include <chrono>
#include <cstring>
#include <mutex>
#include <utility>

#include "cache_store/disk_store.h"
#include "cache_store/record_format.h"
#include "cache_store/tiered_store.h"
#include "engine/prefix_cache/prefix_keys.h"
#include "engine/prefix_cache/snapshot_payload.h"

namespace gf {

namespace {

using Clock = std::chrono::steady_clock;

size_t TierIndex(CacheTier tier) { return static_cast<size_t>(tier); }

bool SameTokens(std::span<const int32_t> a, std::span<const int32_t> b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin());
}

// The outcome of trying one candidate snapshot: a restored prefix, or why it failed.
struct Attempt {
  std::optional<RestoredPrefix> restored;
  CacheMissReason reason = CacheMissReason::kNoEntry;
};

}  // namespace

size_t SnapshotCapture::bytes() const {
  return sizeof(*this) + tokens.capacity() * sizeof(int32_t) + rows.capacity() * sizeof(float) +
         recurrent.capacity() + segment_ends.capacity() * sizeof(int64_t);
}

SnapshotCapture CaptureSnapshot(const CacheNamespace& ns, const SequenceState& state,
                                std::vector<int64_t> segment_ends) {
  SnapshotCapture capture;
  capture.ns = ns;
  capture.tokens.assign(state.tokens().begin(), state.tokens().end());
  capture.rows.assign(state.compressed_rows().begin(), state.compressed_rows().end());
  capture.recurrent = state.SerializeRecurrent();
  capture.segment_ends = std::move(segment_ends);
  return capture;
}

struct PrefixCache::Impl {
  std::unique_ptr<cache::CacheStore> store;
  cache::TieredStore* tiered = nullptr;       // set when the store is a TieredStore
  CacheTier plain_tier = CacheTier::kMemory;  // the tier of a store that is not tiered
  ModelConfig config;
  kernels::DType kv_dtype = kernels::DType::kF32;
  Sha256Digest fingerprint{};
  PrefixCacheOptions options;

  mutable std::mutex mu;   // guards the two members below
  PrefixCacheStats stats;  // own counters; the store's tier counters are merged in Stats()
  std::array<uint64_t, kNumCacheTiers> corrupt_found{};  // records this cache found bad, erased

  // Get with tier attribution and byte accounting.
  StatusOr<std::vector<uint8_t>> Read(const cache::Key& key, CacheTier* tier) {
    StatusOr<std::vector<uint8_t>> bytes = NotFound("");
    if (tiered != nullptr) {
      cache::TieredStore::ServedBy served = cache::TieredStore::ServedBy::kFront;
      bytes = tiered->Get(key, &served);
      *tier =
          served == cache::TieredStore::ServedBy::kFront ? CacheTier::kMemory : CacheTier::kDisk;
    } else {
      bytes = store->Get(key);
      *tier = plain_tier;
    }
    if (bytes.ok()) {
      std::lock_guard lock(mu);
      stats.tiers[TierIndex(*tier)].bytes_read += bytes->size();
    }
    return bytes;
  }

  // Erases a record this cache found unusable; `corrupt` counts it in the tier's corrupt_deleted.
  void Discard(const cache::Key& key, CacheTier tier, bool corrupt) {
    (void)store->Erase(key);  // NotFound when a concurrent reader erased it first
    if (corrupt) {
      std::lock_guard lock(mu);
      ++corrupt_found[TierIndex(tier)];
    }
  }

  // Reads `key` and verifies the envelope, the kind and the token ids; nullopt when usable.
  std::optional<CacheMissReason> ReadVerified(const cache::Key& key, cache::RecordKind kind,
                                              const Sha256Digest& salt_hash,
                                              std::span<const int32_t> expected_tokens,
                                              cache::Record* out, CacheTier* tier) {
    auto bytes = Read(key, tier);
    if (!bytes.ok()) {
      // DataLoss: the disk tier found it corrupt and already deleted and counted it. NotFound
      // (gone since Contains) and I/O errors: the record is not available.
      return bytes.status().code() == StatusCode::kDataLoss ? CacheMissReason::kCorrupt
                                                            : CacheMissReason::kEvicted;
    }
    cache::RecordExpectation expected;
    expected.model_fingerprint = fingerprint;
    expected.salt_hash = salt_hash;
    expected.key = key;
    auto record = cache::DecodeRecord(*bytes, expected);
    if (!record.ok()) {
      const bool mismatch = record.status().code() == StatusCode::kFailedPrecondition;
      Discard(key, *tier, /*corrupt=*/!mismatch);
      return mismatch ? CacheMissReason::kFingerprintMismatch : CacheMissReason::kCorrupt;
    }
    if (record->meta.kind != kind) {
      Discard(key, *tier, /*corrupt=*/true);
      return CacheMissReason::kCorrupt;
    }
    if (!SameTokens(record->tokens, expected_tokens)) {
      Discard(key, *tier, /*corrupt=*/false);
      return CacheMissReason::kTokenMismatch;
    }
    *out = std::move(*record);
    return std::nullopt;
  }

  // Reads, verifies and assembles the snapshot stored under `key` for prefix [0, q).
  Attempt TryRestore(const PrefixKeyChain& chain, const CacheNamespace& ns,
                     std::span<const int32_t> prefix, const cache::Key& key) {
    const auto q = static_cast<int64_t>(prefix.size());
    Attempt attempt;
    cache::Record snapshot_record;
    CacheTier tier = CacheTier::kMemory;
    if (auto failed = ReadVerified(key, cache::RecordKind::kStateSnapshot, ns.salt_hash, prefix,
                                   &snapshot_record, &tier)) {
      attempt.reason = *failed;
      return attempt;
    }
    auto snapshot = DecodeSnapshotPayload(snapshot_record.payload);
    if (!snapshot.ok() || snapshot->position != q) {
      Discard(key, tier, /*corrupt=*/true);
      attempt.reason = CacheMissReason::kCorrupt;
      return attempt;
    }
    const auto c = static_cast<size_t>(config.compressed_dim);
    std::vector<float> rows(static_cast<size_t>(q) * c);
    int64_t begin = 0;
    for (int64_t end : snapshot->segment_ends) {
      const cache::Key segment_key = chain.RowsKey(end, begin);
      const auto ids = prefix.subspan(static_cast<size_t>(begin), static_cast<size_t>(end - begin));
      cache::Record segment_record;
      CacheTier segment_tier = CacheTier::kMemory;
      if (auto failed = ReadVerified(segment_key, cache::RecordKind::kCompressedRows, ns.salt_hash,
                                     ids, &segment_record, &segment_tier)) {
        attempt.reason = *failed;
        return attempt;
      }
      auto segment = DecodeRowSegment(segment_record.payload, config.compressed_dim);
      if (!segment.ok() || segment->begin != begin || segment->end != end) {
        Discard(segment_key, segment_tier, /*corrupt=*/true);
        attempt.reason = CacheMissReason::kCorrupt;
        return attempt;
      }
      std::copy(segment->rows.begin(), segment->rows.end(),
                rows.begin() + static_cast<std::ptrdiff_t>(static_cast<size_t>(begin) * c));
      begin = end;
    }
    auto state = SequenceState::FromParts(config, kv_dtype, prefix, rows, snapshot->recurrent);
    if (!state.ok()) {
      Discard(key, tier, /*corrupt=*/true);
      attempt.reason = CacheMissReason::kCorrupt;
      return attempt;
    }
    RestoredPrefix restored;
    restored.state = std::move(*state);
    restored.position = q;
    restored.segment_ends = std::move(snapshot->segment_ends);
    restored.tier = tier;
    attempt.restored = std::move(restored);
    return attempt;
  }

  Status StoreRecords(const SnapshotCapture& capture) {
    const auto p = static_cast<int64_t>(capture.tokens.size());
    const auto c = static_cast<size_t>(config.compressed_dim);
    if (p == 0 || capture.rows.size() != static_cast<size_t>(p) * c) {
      return InvalidArgument("prefix cache: capture of " + std::to_string(p) + " tokens has " +
                             std::to_string(capture.rows.size()) + " row values");
    }
    if (!ValidSegmentEnds(capture.segment_ends, p)) {
      return InvalidArgument("prefix cache: segment ends must ascend from > 0 to " +
                             std::to_string(p));
    }
    // Never write a snapshot that could not be restored (wrong shape, damaged bytes).
    GF_RETURN_IF_ERROR(
        SequenceState::FromParts(config, kv_dtype, {}, {}, capture.recurrent).status());

    const PrefixKeyChain chain(PrefixKeySeed(fingerprint, capture.ns.salt_hash), capture.tokens);
    const std::span<const int32_t> tokens(capture.tokens);
    const std::span<const float> all_rows(capture.rows);
    cache::RecordMeta meta;
    meta.model_fingerprint = fingerprint;
    meta.salt_hash = capture.ns.salt_hash;
    int64_t begin = 0;
    for (int64_t end : capture.segment_ends) {
      meta.kind = cache::RecordKind::kCompressedRows;
      meta.key = chain.RowsKey(end, begin);
      if (!store->Contains(meta.key)) {
        const auto rows =
            all_rows.subspan(static_cast<size_t>(begin) * c, static_cast<size_t>(end - begin) * c);
        const RowCodec codec = ChooseRowCodec(rows, options.allow_bf16_rows);
        const std::vector<uint8_t> payload =
            EncodeRowSegment(begin, end, config.compressed_dim, rows, codec);
        std::vector<uint8_t> record = cache::EncodeRecord(
            meta, tokens.subspan(static_cast<size_t>(begin), static_cast<size_t>(end - begin)),
            payload);
        const size_t size = record.size();
        GF_RETURN_IF_ERROR(store->Put(meta.key, std::move(record))
                               .WithContext("prefix cache: storing row segment"));
        std::lock_guard lock(mu);
        ++stats.segments_stored;
        stats.segment_bytes += size;
        stats.segment_tokens += static_cast<uint64_t>(end - begin);
      }
      begin = end;
    }
    meta.kind = cache::RecordKind::kStateSnapshot;
    meta.key = chain.SnapshotKey(p);
    if (store->Contains(meta.key)) return Status::Ok();
    SnapshotPayload snapshot;
    snapshot.position = p;
    snapshot.segment_ends = capture.segment_ends;
    snapshot.recurrent = capture.recurrent;
    std::vector<uint8_t> record =
        cache::EncodeRecord(meta, tokens, EncodeSnapshotPayload(snapshot));
    const size_t size = record.size();
    GF_RETURN_IF_ERROR(
        store->Put(meta.key, std::move(record)).WithContext("prefix cache: storing snapshot"));
    std::lock_guard lock(mu);
    ++stats.snapshots_stored;
    stats.snapshot_bytes += size;
    return Status::Ok();
  }

  // The keys of the snapshot at exactly tokens.size() and of its row segments, all read and
  // verified; NotFound otherwise.
  StatusOr<std::vector<cache::Key>> VerifiedSnapshotKeys(const CacheNamespace& ns,
                                                         std::span<const int32_t> tokens) {
    if (tokens.empty()) return NotFound("prefix cache: no snapshot of an empty prefix");
    const PrefixKeyChain chain(PrefixKeySeed(fingerprint, ns.salt_hash), tokens);
    const auto p = static_cast<int64_t>(tokens.size());
    const cache::Key key = chain.SnapshotKey(p);
    if (!store->Contains(key)) return NotFound("prefix cache: no snapshot stored");
    cache::Record record;
    CacheTier tier = CacheTier::kMemory;
    if (auto failed = ReadVerified(key, cache::RecordKind::kStateSnapshot, ns.salt_hash, tokens,
                                   &record, &tier)) {
      return NotFound(std::string("prefix cache: snapshot unusable (") +
                      CacheMissReasonName(*failed) + ")");
    }
    auto snapshot = DecodeSnapshotPayload(record.payload);
    if (!snapshot.ok() || snapshot->position != p) {
      Discard(key, tier, /*corrupt=*/true);
      return NotFound("prefix cache: snapshot unusable (corrupt)");
    }
    std::vector<cache::Key> keys;
    int64_t begin = 0;
    for (int64_t end : snapshot->segment_ends) {
      const cache::Key segment_key = chain.RowsKey(end, begin);
      const auto ids = tokens.subspan(static_cast<size_t>(begin), static_cast<size_t>(end - begin));
      cache::Record segment_record;
      CacheTier segment_tier = CacheTier::kMemory;
      if (auto failed = ReadVerified(segment_key, cache::RecordKind::kCompressedRows, ns.salt_hash,
                                     ids, &segment_record, &segment_tier)) {
        return NotFound(std::string("prefix cache: row segment unusable (") +
                        CacheMissReasonName(*failed) + ")");
      }
      auto segment = DecodeRowSegment(segment_record.payload, config.compressed_dim);
      if (!segment.ok() || segment->begin != begin || segment->end != end) {
        Discard(segment_key, segment_tier, /*corrupt=*/true);
        return NotFound("prefix cache: row segment unusable (corrupt)");
      }
      keys.push_back(segment_key);
      begin = end;
    }
    keys.push_back(key);  // the snapshot last: pinned only once all its segments are
    return keys;
  }
};

PrefixCache::PrefixCache(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
PrefixCache::~PrefixCache() = default;

StatusOr<std::unique_ptr<PrefixCache>> PrefixCache::Create(std::unique_ptr<cache::CacheStore> store,
                                                           const ModelConfig& config,
                                                           kernels::DType kv_dtype,
                                                           const Sha256Digest& model_fingerprint,
                                                           PrefixCacheOptions options) {
  if (store == nullptr) return InvalidArgument("prefix cache: no store");
  GF_RETURN_IF_ERROR(options.Validate());
  if (config.compressed_dim <= 0 || config.vocab_size <= 0) {
    return InvalidArgument("prefix cache: the model config is not finalized");
  }
  if (kv_dtype != kernels::DType::kF32 && kv_dtype != kernels::DType::kBF16) {
    return InvalidArgument("prefix cache: kv_dtype must be F32 or BF16");
  }
  auto impl = std::make_unique<Impl>();
  impl->tiered = dynamic_cast<cache::TieredStore*>(store.get());
  if (dynamic_cast<cache::DiskStore*>(store.get()) != nullptr) impl->plain_tier = CacheTier::kDisk;
  impl->store = std::move(store);
  impl->config = config;
  impl->kv_dtype = kv_dtype;
  impl->fingerprint = model_fingerprint;
  impl->options = options;
  return std::unique_ptr<PrefixCache>(new PrefixCache(std::move(impl)));
}

StatusOr<RestoredPrefix> PrefixCache::Lookup(const CacheNamespace& ns,
                                             std::span<const int32_t> tokens,
                                             int64_t max_position) {
  Impl& m = *impl_;
  const auto start = Clock::now();
  const int64_t hi = std::min(max_position, static_cast<int64_t>(tokens.size()));
  const int64_t lo = m.options.min_snapshot_tokens;
  std::optional<RestoredPrefix> found;
  std::optional<CacheMissReason> reason;  // of the longest candidate that failed
  if (hi >= lo) {
    const PrefixKeyChain chain(PrefixKeySeed(m.fingerprint, ns.salt_hash),
                               tokens.first(static_cast<size_t>(hi)));
    for (int64_t q = hi; q >= lo && !found; --q) {
      const cache::Key key = chain.SnapshotKey(q);
      if (!m.store->Contains(key)) continue;
      Attempt attempt = m.TryRestore(chain, ns, tokens.first(static_cast<size_t>(q)), key);
      if (attempt.restored) {
        found = std::move(attempt.restored);
      } else if (!reason) {
        reason = attempt.reason;
      }
    }
  }
  const double seconds = std::chrono::duration<double>(Clock::now() - start).count();

  std::lock_guard lock(m.mu);
  PrefixCacheStats& s = m.stats;
  ++s.lookups;
  // Tiers reached: a tiered store tries memory first and disk unless memory served the hit.
  if (m.tiered != nullptr) {
    ++s.tiers[TierIndex(CacheTier::kMemory)].lookups;
    if (!found || found->tier != CacheTier::kMemory) ++s.tiers[TierIndex(CacheTier::kDisk)].lookups;
  } else {
    ++s.tiers[TierIndex(m.plain_tier)].lookups;
  }
  if (!found) {
    const CacheMissReason why = reason.value_or(CacheMissReason::kNoEntry);
    ++s.misses[static_cast<size_t>(why)];
    return NotFound(std::string("prefix cache miss: ") + CacheMissReasonName(why));
  }
  ++s.hits;
  s.hit_tokens += static_cast<uint64_t>(found->position);
  PrefixCacheStats::Tier& tier = s.tiers[TierIndex(found->tier)];
  ++tier.hits;
  tier.hit_tokens += static_cast<uint64_t>(found->position);
  s.restore_seconds_sum += seconds;
  ++s.restore_count;
  for (size_t i = 0; i < PrefixCacheStats::kRestoreBuckets.size(); ++i) {
    if (seconds <= PrefixCacheStats::kRestoreBuckets[i]) ++s.restore_buckets[i];
  }
  return std::move(*found);
}

Status PrefixCache::Store(const SnapshotCapture& capture) {
  Status status = impl_->StoreRecords(capture);
  if (!status.ok()) {
    std::lock_guard lock(impl_->mu);
    ++impl_->stats.store_failures;
  }
  return status;
}

bool PrefixCache::HasSnapshot(const CacheNamespace& ns, std::span<const int32_t> tokens) {
  if (tokens.empty()) return false;
  const PrefixKeyChain chain(PrefixKeySeed(impl_->fingerprint, ns.salt_hash), tokens);
  return impl_->store->Contains(chain.SnapshotKey(static_cast<int64_t>(tokens.size())));
}

Status PrefixCache::PinSnapshot(const CacheNamespace& ns, std::span<const int32_t> tokens,
                                std::optional<cache::PinClock::time_point> until) {
  GF_ASSIGN_OR_RETURN(std::vector<cache::Key> keys, impl_->VerifiedSnapshotKeys(ns, tokens));
  for (const cache::Key& key : keys) {
    Status status = impl_->store->Pin(key, until);
    if (!status.ok()) {
      return NotFound("prefix cache: snapshot record vanished while pinning: " + status.message());
    }
  }
  return Status::Ok();
}

Status PrefixCache::EraseSnapshot(const CacheNamespace& ns, std::span<const int32_t> tokens) {
  if (tokens.empty()) return NotFound("prefix cache: no snapshot of an empty prefix");
  const PrefixKeyChain chain(PrefixKeySeed(impl_->fingerprint, ns.salt_hash), tokens);
  return impl_->store->Erase(chain.SnapshotKey(static_cast<int64_t>(tokens.size())));
}

void PrefixCache::CountDisabled() {
  std::lock_guard lock(impl_->mu);
  ++impl_->stats.lookups;
  ++impl_->stats.misses[static_cast<size_t>(CacheMissReason::kDisabled)];
}

PrefixCacheStats PrefixCache::Stats() const {
  PrefixCacheStats out;
  std::array<uint64_t, kNumCacheTiers> corrupt_found{};
  {
    std::lock_guard lock(impl_->mu);
    out = impl_->stats;
    corrupt_found = impl_->corrupt_found;
  }
  auto merge = [&out](CacheTier which, const cache::CacheTierStats& s) {
    PrefixCacheStats::Tier& t = out.tiers[TierIndex(which)];
    t.bytes_written = s.bytes_written_total;
    t.bytes_stored = s.bytes_stored;
    t.entries = s.entries;
    t.evictions = s.evictions;
    t.write_failures = s.write_failures;
    t.corrupt_deleted = s.corrupt_deleted;
  };
  if (impl_->tiered != nullptr) {
    const std::vector<cache::CacheTierStats> tiers = impl_->tiered->TierStats();
    merge(CacheTier::kMemory, tiers[0]);
    merge(CacheTier::kDisk, tiers[1]);
  } else {
    merge(impl_->plain_tier, impl_->store->Stats());
  }
  for (size_t i = 0; i < kNumCacheTiers; ++i) out.tiers[i].corrupt_deleted += corrupt_found[i];
  return out;
}

const PrefixCacheOptions& PrefixCache::options() const { return impl_->options; }

cache::CacheStore& PrefixCache::store() { return *impl_->store; }

}  // namespace gf
