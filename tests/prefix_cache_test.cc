// PrefixCache (engine/prefix_cache/prefix_cache.h) with real snapshots of the built-in model and
// of a tiny random model: Lookup returns the longest stored snapshot <= max_position whose tokens
// match, a restored state is lossless (its serialised state equals the original's and, after
// Rematerialize and the rest of the prompt, the last logits are bit-identical to those of the
// original state with its K/V rebuilt the same way), the disk tier still hits after a restart,
// row segments are shared, the counters are exact, and the snapshot policy.
//
// Integrity (mismatches, corruption, eviction, pins) is in prefix_cache_integrity_test.cc.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <bit>
#include <cmath>
#include <thread>

#include "cache_store/record_format.h"
#include "engine/prefix_cache/snapshot_payload.h"
#include "tests/prefix_cache_fixture.h"

namespace gf::testing {
namespace {

// Max |a - b| (for the loose comparison with a straight prefill).
float MaxAbsDiff(const std::vector<float>& a, const std::vector<float>& b) {
  float m = 0.0f;
  for (size_t i = 0; i < a.size() && i < b.size(); ++i) m = std::max(m, std::fabs(a[i] - b[i]));
  return m;
}

// Runs `prompt` through `cache` (Lookup with max_position = size - 1), checks the restore against
// the capture run and returns the position restored (0 on a miss).
int64_t LookupAndCheck(PrefixCache& cache, GoldFinchModel& model, const CacheNamespace& ns,
                       const std::vector<int32_t>& prompt, const CaptureRun& run,
                       CacheTier expected_tier) {
  auto hit = cache.Lookup(ns, prompt, static_cast<int64_t>(prompt.size()) - 1);
  if (!hit.ok()) {
    EXPECT_EQ(hit.status().code(), StatusCode::kNotFound);
    return 0;
  }
  EXPECT_EQ(hit->tier, expected_tier);
  EXPECT_EQ(hit->position, hit->state.num_tokens());
  EXPECT_FALSE(hit->state.kv_materialised());
  const auto original = std::find_if(run.states.begin(), run.states.end(), [&](const auto& s) {
    return s.num_tokens() == hit->position;
  });
  EXPECT_NE(original, run.states.end());
  if (original == run.states.end()) return hit->position;
  // Lossless: tokens, compressed rows and recurrent part are the stored ones, bit for bit.
  EXPECT_EQ(hit->state.Serialize(), original->Serialize());
  EXPECT_EQ(hit->segment_ends,
            run.captures[static_cast<size_t>(original - run.states.begin())].segment_ends);
  SequenceState restored = std::move(hit->state);
  EXPECT_TRUE(model.Rematerialize(restored).ok());
  const std::vector<float> logits = ContinueLogits(model, std::move(restored), prompt);
  EXPECT_EQ(logits, RebuiltLogits(model, *original, prompt)) << "restored at " << hit->position;
  // And close to a straight prefill of the whole prompt (chunking changes rounding only).
  SequenceState straight = model.NewState();
  std::vector<float> reference;
  EXPECT_TRUE(model.Prefill(straight, prompt, PrefillOptions{}, &reference).ok());
  EXPECT_LE(MaxAbsDiff(logits, reference), 1e-4f) << "restored at " << hit->position;
  return hit->position;
}

TEST(PrefixCacheTest, LookupServesTheLongestMatchingSnapshotLosslessly) {
  TestModel& m = BuiltinModel();
  ASSERT_NE(m.model, nullptr);
  const CacheNamespace ns = Ns(1);
  const std::vector<int32_t> base = Prompt(150);
  const CaptureRun run = Capture(*m.model, ns, base, {32, 64, 100, 128});
  auto cache = MakeCache(Memory(), m);
  for (const SnapshotCapture& c : run.captures) ASSERT_TRUE(cache->Store(c).ok());

  GoldFinchModel& model = *m.model;
  const CacheTier mem = CacheTier::kMemory;
  EXPECT_EQ(LookupAndCheck(*cache, model, ns, base, run, mem), 128);
  EXPECT_EQ(LookupAndCheck(*cache, model, ns, Prompt(129), run, mem), 128) << "max_position 128";
  EXPECT_EQ(LookupAndCheck(*cache, model, ns, Prompt(128), run, mem), 100) << "max_position 127";
  EXPECT_EQ(LookupAndCheck(*cache, model, ns, Diverge(base, 80), run, mem), 64);
  EXPECT_EQ(LookupAndCheck(*cache, model, ns, Diverge(base, 64), run, mem), 64) << "0..63 equal";
  EXPECT_EQ(LookupAndCheck(*cache, model, ns, Diverge(base, 63), run, mem), 32);
  EXPECT_EQ(LookupAndCheck(*cache, model, ns, Diverge(base, 10), run, mem), 0);
  EXPECT_EQ(LookupAndCheck(*cache, model, ns, Prompt(32), run, mem), 0) << "max_position 31";
  EXPECT_EQ(LookupAndCheck(*cache, model, Ns(2), base, run, mem), 0) << "other namespace";

  // An explicit max_position below the prompt length, and one below min_snapshot_tokens.
  auto capped = cache->Lookup(ns, base, 99);
  ASSERT_TRUE(capped.ok());
  EXPECT_EQ(capped->position, 64);
  EXPECT_EQ(cache->Lookup(ns, base, 15).status().code(), StatusCode::kNotFound);

  const PrefixCacheStats s = cache->Stats();
  EXPECT_EQ(s.lookups, 11u);
  EXPECT_EQ(s.hits, 7u);
  EXPECT_EQ(s.hit_tokens, 128u + 128 + 100 + 64 + 64 + 32 + 64);
  EXPECT_EQ(s.misses[static_cast<size_t>(CacheMissReason::kNoEntry)], 4u);
  EXPECT_EQ(s.tiers[0].lookups, 11u);
  EXPECT_EQ(s.tiers[0].hits, 7u);
  EXPECT_EQ(s.tiers[1].lookups, 0u);
  EXPECT_EQ(s.restore_count, 7u);
}

TEST(PrefixCacheTest, DiskTierHitsAfterARestartWithIdenticalLogits) {
  TestModel& m = BuiltinModel();
  ASSERT_NE(m.model, nullptr);
  const CacheNamespace ns = Ns(3);
  const std::vector<int32_t> base = Prompt(120);
  const CaptureRun run = Capture(*m.model, ns, base, {48, 96});
  const std::string dir = MakeTempDir("gf-prefix-cache-disk");
  {
    auto cache = MakeCache(std::make_unique<cache::TieredStore>(Memory(), Disk(dir)), m);
    for (const SnapshotCapture& c : run.captures) ASSERT_TRUE(cache->Store(c).ok());
    EXPECT_EQ(LookupAndCheck(*cache, *m.model, ns, base, run, CacheTier::kMemory), 96);
    const PrefixCacheStats s = cache->Stats();
    EXPECT_EQ(s.tiers[0].entries, 4u);  // 2 segments + 2 snapshots in each tier
    EXPECT_EQ(s.tiers[1].entries, 4u);
    EXPECT_EQ(s.tiers[1].bytes_written, s.snapshot_bytes + s.segment_bytes);
    EXPECT_EQ(s.tiers[0].lookups, 1u);
    EXPECT_EQ(s.tiers[1].lookups, 0u) << "memory served it";
  }
  // A fresh process: empty memory tier, the disk directory reopened.
  auto cache = MakeCache(std::make_unique<cache::TieredStore>(Memory(), Disk(dir)), m);
  EXPECT_TRUE(cache->HasSnapshot(ns, std::span<const int32_t>(base).first(48)));
  EXPECT_EQ(LookupAndCheck(*cache, *m.model, ns, base, run, CacheTier::kDisk), 96);
  EXPECT_EQ(LookupAndCheck(*cache, *m.model, ns, base, run, CacheTier::kMemory), 96)
      << "promoted into memory by the first hit";
  EXPECT_EQ(LookupAndCheck(*cache, *m.model, ns, Diverge(base, 60), run, CacheTier::kDisk), 48);
  const PrefixCacheStats s = cache->Stats();
  EXPECT_EQ(s.hits, 3u);
  EXPECT_EQ(s.tiers[1].hits, 2u);
  EXPECT_EQ(s.tiers[1].hit_tokens, 96u + 48);
  EXPECT_EQ(s.tiers[0].hits, 1u);
  EXPECT_EQ(s.tiers[0].lookups, 3u);
  EXPECT_EQ(s.tiers[1].lookups, 2u);
  // Bytes read per tier: the first hit read all three records of the 96 snapshot from disk, the
  // second from memory; the third read the 48 snapshot from disk and its segment from memory.
  const uint64_t disk_read = s.tiers[1].bytes_read, memory_read = s.tiers[0].bytes_read;
  auto tiers = static_cast<cache::TieredStore&>(cache->store()).TierStats();
  EXPECT_EQ(disk_read, tiers[1].bytes_read_total);
  EXPECT_EQ(memory_read, tiers[0].bytes_read_total);
  EXPECT_GT(disk_read, 0u);
  EXPECT_GT(memory_read, 0u);
  std::filesystem::remove_all(dir);
}

TEST(PrefixCacheTest, SnapshotsExtendingOnePrefixShareItsSegments) {
  TestModel& m = TinyModel();
  ASSERT_NE(m.model, nullptr);
  const CacheNamespace ns = Ns(4);
  const std::vector<int32_t> a = Prompt(100);
  const std::vector<int32_t> b = Diverge(a, 70);  // shares 0..69
  const CaptureRun run_a = Capture(*m.model, ns, a, {32, 64, 96});
  const CaptureRun run_b = Capture(*m.model, ns, b, {32, 64, 90});
  auto cache = MakeCache(Memory(), m);
  for (const SnapshotCapture& c : run_a.captures) ASSERT_TRUE(cache->Store(c).ok());
  PrefixCacheStats s = cache->Stats();
  EXPECT_EQ(s.segments_stored, 3u);
  EXPECT_EQ(s.segment_tokens, 96u);
  EXPECT_EQ(s.snapshots_stored, 3u);
  for (const SnapshotCapture& c : run_b.captures) ASSERT_TRUE(cache->Store(c).ok());
  s = cache->Stats();
  EXPECT_EQ(s.segments_stored, 4u) << "only [64, 90) is new";
  EXPECT_EQ(s.segment_tokens, 96u + 26);
  EXPECT_EQ(s.snapshots_stored, 4u) << "the snapshots at 32 and 64 exist already";
  EXPECT_EQ(LookupAndCheck(*cache, *m.model, ns, b, run_b, CacheTier::kMemory), 90);
  EXPECT_EQ(LookupAndCheck(*cache, *m.model, ns, a, run_a, CacheTier::kMemory), 96);
}

TEST(PrefixCacheTest, CountersAreExact) {
  TestModel& m = TinyModel();
  ASSERT_NE(m.model, nullptr);
  const CacheNamespace ns = Ns(5);
  const std::vector<int32_t> prompt = Prompt(80);
  const CaptureRun run = Capture(*m.model, ns, prompt, {32, 64});
  PrefixCacheOptions options = SmallOptions();
  options.allow_bf16_rows = false;
  auto cache = MakeCache(Memory(), m, options);
  for (const SnapshotCapture& c : run.captures) ASSERT_TRUE(cache->Store(c).ok());

  const size_t c = 4;  // compressed_dim of the tiny model
  const size_t recurrent = run.captures[0].recurrent.size();
  EXPECT_EQ(recurrent, 56 + run.states[0].recurrent_bytes() + 4);
  const size_t segment = cache::EncodedRecordSize(32, kRowSegmentHeaderBytes + 32 * c * 4);
  const size_t snap32 = cache::EncodedRecordSize(32, kSnapshotHeaderBytes + 8 + 8 + recurrent);
  const size_t snap64 = cache::EncodedRecordSize(64, kSnapshotHeaderBytes + 16 + 8 + recurrent);

  ASSERT_TRUE(cache->Lookup(ns, prompt, 79).ok());
  EXPECT_FALSE(cache->Lookup(Ns(6), prompt, 79).ok());
  cache->CountDisabled();

  const PrefixCacheStats s = cache->Stats();
  EXPECT_EQ(s.lookups, 3u);
  EXPECT_EQ(s.hits, 1u);
  EXPECT_EQ(s.hit_tokens, 64u);
  const std::array<uint64_t, kNumCacheMissReasons> misses = {1, 0, 0, 0, 0, 1};
  EXPECT_EQ(s.misses, misses);
  EXPECT_EQ(s.snapshots_stored, 2u);
  EXPECT_EQ(s.segments_stored, 2u);
  EXPECT_EQ(s.snapshot_bytes, snap32 + snap64);
  EXPECT_EQ(s.segment_bytes, 2 * segment);
  EXPECT_EQ(s.segment_tokens, 64u);
  EXPECT_EQ(s.store_failures, 0u);
  const PrefixCacheStats::Tier& mem = s.tiers[0];
  EXPECT_EQ(mem.lookups, 2u);
  EXPECT_EQ(mem.hits, 1u);
  EXPECT_EQ(mem.hit_tokens, 64u);
  EXPECT_EQ(mem.bytes_read, snap64 + 2 * segment);
  EXPECT_EQ(mem.bytes_written, snap32 + snap64 + 2 * segment);
  EXPECT_EQ(mem.bytes_stored, snap32 + snap64 + 2 * segment);
  EXPECT_EQ(mem.entries, 4u);
  EXPECT_EQ(mem.evictions, 0u);
  EXPECT_EQ(mem.write_failures, 0u);
  EXPECT_EQ(mem.corrupt_deleted, 0u);
  const PrefixCacheStats::Tier& disk = s.tiers[1];
  EXPECT_EQ(disk.lookups + disk.hits + disk.bytes_read + disk.bytes_written + disk.entries, 0u);
  EXPECT_EQ(s.restore_count, 1u);
  EXPECT_GT(s.restore_seconds_sum, 0.0);
  EXPECT_EQ(s.restore_buckets.back(), 1u) << "a tiny restore takes well under a second";
  for (size_t i = 1; i < s.restore_buckets.size(); ++i) {
    EXPECT_LE(s.restore_buckets[i - 1], s.restore_buckets[i]) << "cumulative";
  }
}

TEST(PrefixCacheTest, Bf16RowsOnlyWhenExactAndStillLossless) {
  TestModel& m = TinyModel();
  ASSERT_NE(m.model, nullptr);
  const CacheNamespace ns = Ns(7);
  const std::vector<int32_t> prompt = Prompt(40);
  CaptureRun run = Capture(*m.model, ns, prompt, {32});
  auto cache = MakeCache(Memory(), m);  // allow_bf16_rows = true
  // Real rows are not BF16-exact: stored as F32.
  ASSERT_TRUE(cache->Store(run.captures[0]).ok());
  EXPECT_EQ(cache->Stats().segment_bytes,
            cache::EncodedRecordSize(32, kRowSegmentHeaderBytes + 32 * 4 * 4));
  // Rows rounded to BF16 (another namespace, so new keys): stored in half the row bytes.
  SnapshotCapture rounded = run.captures[0];
  rounded.ns = Ns(8);
  for (float& v : rounded.rows) v = kernels::Bf16ToF32(kernels::F32ToBf16(v));
  ASSERT_TRUE(cache->Store(rounded).ok());
  EXPECT_EQ(cache->Stats().segment_bytes,
            cache::EncodedRecordSize(32, kRowSegmentHeaderBytes + 32 * 4 * 4) +
                cache::EncodedRecordSize(32, kRowSegmentHeaderBytes + 32 * 4 * 2));
  auto hit = cache->Lookup(Ns(8), prompt, 39);
  ASSERT_TRUE(hit.ok()) << hit.status().ToString();
  ASSERT_EQ(hit->state.compressed_rows().size(), rounded.rows.size());
  EXPECT_TRUE(
      std::equal(rounded.rows.begin(), rounded.rows.end(), hit->state.compressed_rows().begin()));
}

TEST(PrefixCacheTest, StoreRejectsMalformedCaptures) {
  TestModel& m = TinyModel();
  ASSERT_NE(m.model, nullptr);
  const CaptureRun run = Capture(*m.model, Ns(9), Prompt(40), {32});
  auto cache = MakeCache(Memory(), m);
  SnapshotCapture bad = run.captures[0];
  bad.segment_ends = {16, 31};
  EXPECT_EQ(cache->Store(bad).code(), StatusCode::kInvalidArgument);
  bad = run.captures[0];
  bad.rows.pop_back();
  EXPECT_EQ(cache->Store(bad).code(), StatusCode::kInvalidArgument);
  bad = run.captures[0];
  bad.recurrent[100] ^= 1;
  EXPECT_EQ(cache->Store(bad).code(), StatusCode::kDataLoss);
  bad = run.captures[0];
  bad.tokens.clear();
  bad.rows.clear();
  bad.segment_ends.clear();
  EXPECT_EQ(cache->Store(bad).code(), StatusCode::kInvalidArgument);
  const PrefixCacheStats s = cache->Stats();
  EXPECT_EQ(s.store_failures, 4u);
  EXPECT_EQ(s.snapshots_stored + s.segments_stored, 0u);
  EXPECT_EQ(s.tiers[0].entries, 0u) << "nothing half-written";
  // A store that cannot hold the records: counted, and the cache keeps working.
  auto tiny_store = MakeCache(Memory(1000), m);
  EXPECT_EQ(tiny_store->Store(run.captures[0]).code(), StatusCode::kResourceExhausted);
  EXPECT_EQ(tiny_store->Stats().store_failures, 1u);
  EXPECT_EQ(tiny_store->Stats().tiers[0].write_failures, 1u);
}

TEST(PrefixCacheTest, CreateValidatesItsInputs) {
  TestModel& m = TinyModel();
  ASSERT_NE(m.model, nullptr);
  const ModelConfig& config = m.model->config();
  EXPECT_EQ(
      PrefixCache::Create(nullptr, config, kernels::DType::kF32, m.fingerprint, {}).status().code(),
      StatusCode::kInvalidArgument);
  PrefixCacheOptions bad;
  bad.snapshot_interval = 0;
  auto r = PrefixCache::Create(Memory(), config, kernels::DType::kF32, m.fingerprint, bad);
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(r.status().message().find("snapshot_interval"), std::string::npos);
  EXPECT_EQ(PrefixCache::Create(Memory(), ModelConfig{}, kernels::DType::kF32, m.fingerprint, {})
                .status()
                .code(),
            StatusCode::kInvalidArgument);
}

TEST(PrefixCacheTest, ConcurrentStoresAndLookupsAreSafe) {
  TestModel& m = TinyModel();
  ASSERT_NE(m.model, nullptr);
  const std::vector<int32_t> prompt = Prompt(72);
  const CaptureRun run = Capture(*m.model, Ns(30), prompt, {32, 64});
  const std::string dir = MakeTempDir("gf-prefix-cache-threads");
  auto cache = MakeCache(std::make_unique<cache::TieredStore>(Memory(), Disk(dir)), m);
  constexpr int kThreads = 4, kRounds = 6;
  std::vector<std::thread> threads;
  std::atomic<int> hits{0};
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int r = 0; r < kRounds; ++r) {
        // Every thread stores the same records under a shared namespace (racing Puts of equal
        // records) and under its own, then looks both up.
        for (uint8_t tag : {uint8_t{31}, static_cast<uint8_t>(40 + t)}) {
          for (SnapshotCapture c : run.captures) {
            c.ns = Ns(tag);
            EXPECT_TRUE(cache->Store(c).ok());
          }
          auto hit = cache->Lookup(Ns(tag), prompt, 71);
          if (hit.ok() && hit->position == 64 &&
              hit->state.Serialize() == run.states[1].Serialize()) {
            ++hits;
          }
        }
      }
    });
  }
  for (std::thread& th : threads) th.join();
  EXPECT_EQ(hits.load(), kThreads * kRounds * 2);
  const PrefixCacheStats s = cache->Stats();
  EXPECT_EQ(s.hits, static_cast<uint64_t>(kThreads * kRounds * 2));
  EXPECT_EQ(s.store_failures, 0u);
  // Every record is written once per namespace except when two threads race past Contains.
  EXPECT_GE(s.snapshots_stored, 2u * (kThreads + 1));
  std::filesystem::remove_all(dir);
}

TEST(PrefixCachePolicyTest, WorkedExampleFromTheDocs) {
  TestModel& m = TinyModel();
  ASSERT_NE(m.model, nullptr);
  auto cache = MakeCache(Memory(), m, PrefixCacheOptions{});  // defaults
  // A 16,384-token document followed by a 40-token question.
  const std::vector<int64_t> expected = {2048,  4096,  6144,  8192,  10240, 12288, 14336,
                                         15392, 15904, 16160, 16288, 16352, 16384, 16423};
  EXPECT_EQ(cache->SnapshotPositions(16424, {}), expected);
  // Hints inside the range are added; outside it ignored.
  const std::vector<int64_t> hints = {5, 31, 32, 100, 16423, 16424, 20000};
  std::vector<int64_t> with_hints = {32, 100};
  for (int64_t p : expected) with_hints.push_back(p);
  EXPECT_EQ(cache->SnapshotPositions(16424, hints), with_hints);
  // Short prompts: P - 1 and the ladder only; nothing below min_snapshot_tokens.
  EXPECT_EQ(cache->SnapshotPositions(100, {}), (std::vector<int64_t>{32, 64, 99}));
  EXPECT_EQ(cache->SnapshotPositions(33, {}), (std::vector<int64_t>{32}));
  EXPECT_TRUE(cache->SnapshotPositions(32, {}).empty());
  EXPECT_TRUE(cache->SnapshotPositions(0, hints).empty());
  EXPECT_TRUE(cache->SnapshotPositions(-5, {}).empty());
}

TEST(PrefixCachePolicyTest, OptionsAndNames) {
  PrefixCacheOptions o;
  EXPECT_TRUE(o.Validate().ok());
  o.ladder_align = 0;
  EXPECT_NE(o.Validate().message().find("ladder_align"), std::string::npos);
  o = {};
  o.min_snapshot_tokens = -1;
  EXPECT_NE(o.Validate().message().find("min_snapshot_tokens"), std::string::npos);
  EXPECT_STREQ(CacheTierName(CacheTier::kDisk), "disk");
  EXPECT_STREQ(CacheMissReasonName(CacheMissReason::kFingerprintMismatch), "fingerprint_mismatch");
  EXPECT_STREQ(CacheMissReasonName(CacheMissReason::kDisabled), "disabled");
}

}  // namespace
}  // namespace gf::testing
