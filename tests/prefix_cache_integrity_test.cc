// PrefixCache integrity (engine/prefix_cache/prefix_cache.h): a record with other tokens or
// made for another model is never served; corrupt records on disk (a flipped bit, a truncated
// file, a zero-filled file; snapshot or row segment) are counted, deleted and never served, and
// the next shorter valid snapshot is served instead; an evicted row segment is a miss until a
// Store repairs it; pins keep a snapshot and its segments through eviction pressure; erase.
#include <gtest/gtest.h>

#include <chrono>

#include "cache_store/record_format.h"
#include "tests/prefix_cache_fixture.h"

namespace gf::testing {
namespace {

uint64_t Misses(const PrefixCacheStats& s, CacheMissReason r) {
  return s.misses[static_cast<size_t>(r)];
}

class PrefixCacheIntegrityTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_NE(m().model, nullptr);
    prompt_ = Prompt(80);
    run_ = Capture(*m().model, ns_, prompt_, {32, 64});
  }
  static TestModel& m() { return TinyModel(); }
  std::span<const int32_t> First(size_t n) const {
    return std::span<const int32_t>(prompt_).first(n);
  }

  const CacheNamespace ns_ = Ns(20);
  std::vector<int32_t> prompt_;
  CaptureRun run_;
};

TEST_F(PrefixCacheIntegrityTest, RecordWithOtherTokensUnderTheKeyIsErasedNotServed) {
  auto cache = MakeCache(Memory(), m());
  ASSERT_TRUE(cache->Store(run_.captures[0]).ok());  // the snapshot at 32
  // Forge the snapshot at 64 of `other`'s key with this prompt's tokens (a collision or a bug).
  const std::vector<int32_t> other = Diverge(prompt_, 40);
  const cache::Key key = Keys(m(), ns_, other).SnapshotKey(64);
  auto real = cache::DecodeRecord(
      *cache->store().Get(Keys(m(), ns_, prompt_).SnapshotKey(32)),
      {m().fingerprint, ns_.salt_hash, Keys(m(), ns_, prompt_).SnapshotKey(32)});
  ASSERT_TRUE(real.ok());
  cache::RecordMeta meta = real->meta;
  meta.key = key;
  std::vector<int32_t> ids(prompt_.begin(), prompt_.begin() + 64);
  ASSERT_TRUE(cache->store().Put(key, cache::EncodeRecord(meta, ids, real->payload)).ok());

  auto hit = cache->Lookup(ns_, other, 79);
  ASSERT_TRUE(hit.ok()) << "the valid snapshot at 32 is still served";
  EXPECT_EQ(hit->position, 32);
  EXPECT_FALSE(cache->store().Contains(key)) << "the mismatching record was erased";
  // Without the shorter snapshot the same forgery is a token_mismatch miss.
  ASSERT_TRUE(cache->store().Put(key, cache::EncodeRecord(meta, ids, real->payload)).ok());
  ASSERT_TRUE(cache->EraseSnapshot(ns_, First(32)).ok());
  EXPECT_EQ(cache->Lookup(ns_, other, 79).status().code(), StatusCode::kNotFound);
  const PrefixCacheStats s = cache->Stats();
  EXPECT_EQ(Misses(s, CacheMissReason::kTokenMismatch), 1u);
  EXPECT_EQ(s.hits, 1u);
  EXPECT_EQ(s.tiers[0].corrupt_deleted, 0u) << "a mismatch is not corruption";
}

TEST_F(PrefixCacheIntegrityTest, RecordOfAnotherModelIsAFingerprintMismatch) {
  auto cache = MakeCache(Memory(), m());
  ASSERT_TRUE(cache->Store(run_.captures[1]).ok());  // snapshot at 64 and its two segments
  const cache::Key key = Keys(m(), ns_, prompt_).SnapshotKey(64);
  auto real = cache::DecodeRecord(*cache->store().Get(key), {m().fingerprint, ns_.salt_hash, key});
  ASSERT_TRUE(real.ok());
  cache::RecordMeta meta = real->meta;
  meta.model_fingerprint[0] ^= 1;
  ASSERT_TRUE(cache->store().Put(key, cache::EncodeRecord(meta, real->tokens, real->payload)).ok());
  EXPECT_EQ(cache->Lookup(ns_, prompt_, 79).status().code(), StatusCode::kNotFound);
  EXPECT_FALSE(cache->HasSnapshot(ns_, First(64))) << "erased: it blocked the repairing Store";
  PrefixCacheStats s = cache->Stats();
  EXPECT_EQ(Misses(s, CacheMissReason::kFingerprintMismatch), 1u);
  // A Store puts it back and it hits again.
  ASSERT_TRUE(cache->Store(run_.captures[1]).ok());
  EXPECT_TRUE(cache->Lookup(ns_, prompt_, 79).ok());
}

enum class Damage { kFlipBit, kTruncate, kZeroFill };

void DamageFile(const std::string& path, Damage damage) {
  std::vector<char> bytes = ReadFile(path);
  ASSERT_GT(bytes.size(), 200u) << path;
  switch (damage) {
    case Damage::kFlipBit:
      bytes[bytes.size() / 2] = static_cast<char>(bytes[bytes.size() / 2] ^ 0x08);
      break;
    case Damage::kTruncate:
      bytes.resize(bytes.size() - 7);
      break;
    case Damage::kZeroFill:
      std::fill(bytes.begin(), bytes.end(), '\0');
      break;
  }
  WriteFile(path, bytes);
}

TEST_F(PrefixCacheIntegrityTest, CorruptFilesOnDiskAreDeletedAndAShorterSnapshotServed) {
  const PrefixKeyChain keys = Keys(m(), ns_, prompt_);
  const struct {
    const char* what;
    cache::Key key;
  } targets[] = {{"snapshot at 64", keys.SnapshotKey(64)},
                 {"segment [32, 64)", keys.RowsKey(64, 32)}};
  for (const auto& target : targets) {
    for (Damage damage : {Damage::kFlipBit, Damage::kTruncate, Damage::kZeroFill}) {
      SCOPED_TRACE(std::string(target.what) + " damage " +
                   std::to_string(static_cast<int>(damage)));
      const std::string dir = MakeTempDir("gf-prefix-cache-corrupt");
      {
        auto cache = MakeCache(Disk(dir), m());
        for (const SnapshotCapture& c : run_.captures) ASSERT_TRUE(cache->Store(c).ok());
      }
      const std::string path = RecordPath(dir, target.key);
      DamageFile(path, damage);
      auto cache = MakeCache(Disk(dir), m());
      auto hit = cache->Lookup(ns_, prompt_, 79);
      ASSERT_TRUE(hit.ok()) << hit.status().ToString();
      EXPECT_EQ(hit->position, 32) << "the shorter valid snapshot";
      EXPECT_EQ(hit->tier, CacheTier::kDisk);
      EXPECT_EQ(hit->state.Serialize(), run_.states[0].Serialize());
      EXPECT_FALSE(std::filesystem::exists(path)) << "deleted";
      PrefixCacheStats s = cache->Stats();
      EXPECT_EQ(s.tiers[1].corrupt_deleted, 1u);
      EXPECT_EQ(s.tiers[1].hits, 1u);
      EXPECT_EQ(s.tiers[1].lookups, 1u);
      EXPECT_EQ(s.tiers[0].lookups, 0u) << "a plain disk store has no memory tier";
      // Storing again repairs it.
      ASSERT_TRUE(cache->Store(run_.captures[1]).ok());
      auto repaired = cache->Lookup(ns_, prompt_, 79);
      ASSERT_TRUE(repaired.ok());
      EXPECT_EQ(repaired->position, 64);
      std::filesystem::remove_all(dir);
    }
  }
}

TEST_F(PrefixCacheIntegrityTest, OnlyCandidateCorruptIsACorruptMiss) {
  const std::string dir = MakeTempDir("gf-prefix-cache-corrupt-miss");
  {
    auto cache = MakeCache(Disk(dir), m());
    ASSERT_TRUE(cache->Store(run_.captures[0]).ok());
  }
  const std::string path = RecordPath(dir, Keys(m(), ns_, prompt_).RowsKey(32, 0));
  DamageFile(path, Damage::kFlipBit);
  auto cache = MakeCache(Disk(dir), m());
  EXPECT_EQ(cache->Lookup(ns_, prompt_, 79).status().code(), StatusCode::kNotFound);
  // The segment is gone now, so the snapshot that needs it is an eviction miss.
  EXPECT_EQ(cache->Lookup(ns_, prompt_, 79).status().code(), StatusCode::kNotFound);
  const PrefixCacheStats s = cache->Stats();
  EXPECT_EQ(Misses(s, CacheMissReason::kCorrupt), 1u);
  EXPECT_EQ(Misses(s, CacheMissReason::kEvicted), 1u);
  EXPECT_EQ(s.tiers[1].corrupt_deleted, 1u);
  EXPECT_FALSE(std::filesystem::exists(path));
  std::filesystem::remove_all(dir);
}

TEST_F(PrefixCacheIntegrityTest, CorruptMemoryRecordIsCountedAndDeleted) {
  auto cache = MakeCache(Memory(), m());
  for (const SnapshotCapture& c : run_.captures) ASSERT_TRUE(cache->Store(c).ok());
  // A record whose checksums fail (memory tiers do not verify; the cache does).
  const cache::Key key = Keys(m(), ns_, prompt_).SnapshotKey(64);
  std::vector<uint8_t> bytes = *cache->store().Get(key);
  bytes[bytes.size() - 5] ^= 0x40;
  ASSERT_TRUE(cache->store().Put(key, bytes).ok());
  auto hit = cache->Lookup(ns_, prompt_, 79);
  ASSERT_TRUE(hit.ok());
  EXPECT_EQ(hit->position, 32);
  EXPECT_FALSE(cache->store().Contains(key));
  EXPECT_EQ(cache->Stats().tiers[0].corrupt_deleted, 1u);
}

TEST_F(PrefixCacheIntegrityTest, EvictedSegmentIsAMissUntilAStoreRepairsIt) {
  auto cache = MakeCache(Memory(), m());
  ASSERT_TRUE(cache->Store(run_.captures[1]).ok());  // only the snapshot at 64
  const PrefixKeyChain keys = Keys(m(), ns_, prompt_);
  ASSERT_TRUE(cache->store().Erase(keys.RowsKey(32, 0)).ok());
  EXPECT_EQ(cache->Lookup(ns_, prompt_, 79).status().code(), StatusCode::kNotFound);
  EXPECT_TRUE(cache->HasSnapshot(ns_, First(64))) << "the snapshot itself is kept";
  EXPECT_EQ(Misses(cache->Stats(), CacheMissReason::kEvicted), 1u);
  ASSERT_TRUE(cache->Store(run_.captures[1]).ok());
  EXPECT_EQ(cache->Stats().segments_stored, 3u) << "2 + the missing one again";
  EXPECT_EQ(cache->Stats().snapshots_stored, 1u) << "the snapshot existed";
  auto hit = cache->Lookup(ns_, prompt_, 79);
  ASSERT_TRUE(hit.ok());
  EXPECT_EQ(hit->position, 64);
}

TEST_F(PrefixCacheIntegrityTest, PinsSurviveEvictionPressure) {
  // Room for about four snapshots of the tiny model (each ~35 KB with its segment).
  const size_t record = run_.captures[0].recurrent.size() + 2000;
  auto cache = MakeCache(Memory(4 * record), m());
  const SnapshotCapture& pinned = run_.captures[0];
  ASSERT_TRUE(cache->Store(pinned).ok());
  EXPECT_EQ(
      cache->PinSnapshot(ns_, First(31), cache::PinClock::now() + std::chrono::hours(1)).code(),
      StatusCode::kNotFound);
  ASSERT_TRUE(
      cache->PinSnapshot(ns_, First(32), cache::PinClock::now() + std::chrono::hours(1)).ok());
  auto pressure = [&](uint8_t first_tag) {
    for (uint8_t t = first_tag; t < first_tag + 8; ++t) {
      SnapshotCapture other = pinned;
      other.ns = Ns(t);  // same tokens, other namespaces: new keys
      ASSERT_TRUE(cache->Store(other).ok());
    }
  };
  pressure(100);
  EXPECT_GT(cache->Stats().tiers[0].evictions, 0u);
  EXPECT_TRUE(cache->Lookup(ns_, prompt_, 79).ok()) << "pinned snapshot and segment kept";
  ASSERT_TRUE(cache->PinSnapshot(ns_, First(32), std::nullopt).ok());  // unpin
  pressure(120);
  EXPECT_FALSE(cache->HasSnapshot(ns_, First(32))) << "evicted once unpinned";
  EXPECT_EQ(cache->PinSnapshot(ns_, First(32), std::nullopt).code(), StatusCode::kNotFound);
}

TEST_F(PrefixCacheIntegrityTest, PinNeedsEveryRecordAndEraseRemovesTheSnapshotOnly) {
  auto cache = MakeCache(Memory(), m());
  ASSERT_TRUE(cache->Store(run_.captures[1]).ok());
  const PrefixKeyChain keys = Keys(m(), ns_, prompt_);
  ASSERT_TRUE(cache->store().Erase(keys.RowsKey(64, 32)).ok());
  EXPECT_EQ(cache->PinSnapshot(ns_, First(64), std::nullopt).code(), StatusCode::kNotFound)
      << "a segment is missing";
  ASSERT_TRUE(cache->Store(run_.captures[1]).ok());
  EXPECT_TRUE(cache->PinSnapshot(ns_, First(64), std::nullopt).ok());
  EXPECT_TRUE(cache->HasSnapshot(ns_, First(64)));
  EXPECT_FALSE(cache->HasSnapshot(Ns(21), First(64)));
  EXPECT_FALSE(cache->HasSnapshot(ns_, {}));
  ASSERT_TRUE(cache->EraseSnapshot(ns_, First(64)).ok());
  EXPECT_FALSE(cache->HasSnapshot(ns_, First(64)));
  EXPECT_TRUE(cache->store().Contains(keys.RowsKey(32, 0))) << "segments stay";
  EXPECT_EQ(cache->EraseSnapshot(ns_, First(64)).code(), StatusCode::kNotFound);
  EXPECT_EQ(cache->EraseSnapshot(ns_, {}).code(), StatusCode::kNotFound);
}

}  // namespace
}  // namespace gf::testing
