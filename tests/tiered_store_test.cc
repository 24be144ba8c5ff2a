// TieredStore: write-through to memory and disk, memory-first Get, promotion of disk hits, a
// restart served from disk, records too large for memory, corruption on disk, and the counters.
#include "cache_store/tiered_store.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "cache_store/disk_store.h"
#include "cache_store/memory_store.h"
#include "tests/cache_test_records.h"
#include "tests/test_support.h"

namespace gf::cache {
namespace {

namespace fs = std::filesystem;
using testing::TestKey;
using testing::TestRecord;

std::unique_ptr<TieredStore> MakeTiered(const std::string& dir, size_t memory_budget) {
  DiskStoreOptions disk_options;
  disk_options.directory = dir;
  disk_options.byte_budget = 1 << 20;
  auto disk = DiskStore::Open(disk_options);
  EXPECT_TRUE(disk.ok()) << disk.status().ToString();
  if (!disk.ok()) return nullptr;
  return std::make_unique<TieredStore>(
      std::make_unique<MemoryStore>(MemoryStoreOptions{.byte_budget = memory_budget}),
      std::move(disk).value());
}

TEST(TieredStoreTest, WriteThroughAndMemoryFirst) {
  const std::string dir = gf::testing::MakeTempDir("gf-tiered");
  auto store = MakeTiered(dir, 1 << 20);
  const auto record = TestRecord(TestKey(1), 10, 200);
  ASSERT_TRUE(store->Put(TestKey(1), record).ok());
  EXPECT_TRUE(store->front().Contains(TestKey(1)));
  EXPECT_TRUE(store->back().Contains(TestKey(1)));
  EXPECT_TRUE(fs::exists(dir + "/" + RecordFileName(TestKey(1))));
  EXPECT_EQ(*store->Get(TestKey(1)), record);
  EXPECT_EQ(store->Get(TestKey(2)).status().code(), StatusCode::kNotFound);

  const auto tiers = store->TierStats();
  ASSERT_EQ(tiers.size(), 2u);
  EXPECT_EQ(tiers[0].tier, "memory");
  EXPECT_EQ(tiers[0].lookups, 2u);
  EXPECT_EQ(tiers[0].hits, 1u);
  EXPECT_EQ(tiers[1].tier, "disk");
  EXPECT_EQ(tiers[1].lookups, 1u);  // only the miss reached the disk
  EXPECT_EQ(tiers[1].hits, 0u);
  const CacheTierStats total = store->Stats();
  EXPECT_EQ(total.tier, "tiered");
  EXPECT_EQ(total.lookups, 2u);
  EXPECT_EQ(total.hits, 1u);
  EXPECT_EQ(total.misses_not_found, 1u);
  EXPECT_EQ(total.bytes_read_total, record.size());
  EXPECT_EQ(total.bytes_stored, record.size());
  EXPECT_EQ(total.entries, 1u);

  ASSERT_TRUE(store->Erase(TestKey(1)).ok());
  EXPECT_FALSE(store->Contains(TestKey(1)));
  EXPECT_FALSE(fs::exists(dir + "/" + RecordFileName(TestKey(1))));
  EXPECT_EQ(store->Erase(TestKey(1)).code(), StatusCode::kNotFound);
  store.reset();
  fs::remove_all(dir);
}

TEST(TieredStoreTest, RestartServesFromDiskAndPromotes) {
  const std::string dir = gf::testing::MakeTempDir("gf-tiered-restart");
  const auto record = TestRecord(TestKey(3), 50, 1000);
  {
    auto store = MakeTiered(dir, 1 << 20);
    ASSERT_TRUE(store->Put(TestKey(3), record).ok());
  }
  auto store = MakeTiered(dir, 1 << 20);
  EXPECT_FALSE(store->front().Contains(TestKey(3)));
  EXPECT_TRUE(store->Contains(TestKey(3)));
  EXPECT_EQ(*store->Get(TestKey(3)), record);  // disk hit, promoted
  EXPECT_TRUE(store->front().Contains(TestKey(3)));
  EXPECT_EQ(*store->Get(TestKey(3)), record);  // memory hit
  const auto tiers = store->TierStats();
  EXPECT_EQ(tiers[0].hits, 1u);
  EXPECT_EQ(tiers[0].misses_not_found, 1u);
  EXPECT_EQ(tiers[1].hits, 1u);
  EXPECT_EQ(tiers[1].lookups, 1u);
  EXPECT_EQ(store->Stats().hits, 2u);
  store.reset();
  fs::remove_all(dir);
}

TEST(TieredStoreTest, RecordTooLargeForMemoryLivesOnDisk) {
  const std::string dir = gf::testing::MakeTempDir("gf-tiered-large");
  auto store = MakeTiered(dir, 1000);
  const auto big = TestRecord(TestKey(4), 10, 5000);
  ASSERT_TRUE(store->Put(TestKey(4), big).ok());
  EXPECT_FALSE(store->front().Contains(TestKey(4)));
  EXPECT_EQ(store->TierStats()[0].write_failures, 1u);
  EXPECT_EQ(*store->Get(TestKey(4)), big);  // promotion skipped, still served
  EXPECT_FALSE(store->front().Contains(TestKey(4)));
  EXPECT_EQ(store->Stats().write_failures, 2u);  // the Put and the skipped promotion
  store.reset();
  fs::remove_all(dir);
}

TEST(TieredStoreTest, CorruptDiskRecordIsAMissAndCounted) {
  const std::string dir = gf::testing::MakeTempDir("gf-tiered-corrupt");
  const auto record = TestRecord(TestKey(5), 10, 100);
  {
    auto store = MakeTiered(dir, 1 << 20);
    ASSERT_TRUE(store->Put(TestKey(5), record).ok());
  }
  {
    auto bad = record;
    bad[bad.size() - 1] ^= 0x40;
    std::ofstream out(dir + "/" + RecordFileName(TestKey(5)), std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char*>(bad.data()), static_cast<std::streamsize>(bad.size()));
  }
  auto store = MakeTiered(dir, 1 << 20);
  EXPECT_EQ(store->Get(TestKey(5)).status().code(), StatusCode::kDataLoss);
  EXPECT_FALSE(store->Contains(TestKey(5)));
  const CacheTierStats total = store->Stats();
  EXPECT_EQ(total.corrupt_deleted, 1u);
  EXPECT_EQ(total.hits, 0u);
  EXPECT_EQ(total.misses_not_found, 1u);
  EXPECT_EQ(total.entries, 0u);
  store.reset();
  fs::remove_all(dir);
}

TEST(TieredStoreTest, PinReachesBothTiers) {
  const std::string dir = gf::testing::MakeTempDir("gf-tiered-pin");
  auto store = MakeTiered(dir, 1 << 20);
  ASSERT_TRUE(store->Put(TestKey(6), TestRecord(TestKey(6), 1, 1)).ok());
  EXPECT_TRUE(store->Pin(TestKey(6), PinClock::now() + std::chrono::hours(1)).ok());
  EXPECT_EQ(store->Pin(TestKey(7), std::nullopt).code(), StatusCode::kNotFound);
  store.reset();
  fs::remove_all(dir);
}

}  // namespace
}  // namespace gf::cache
