// MemoryStore: round trips, exact counters, LRU eviction order under the byte budget, pins that
// hold until they expire, and concurrent use from 8 threads.
#include "cache_store/memory_store.h"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>
#include <vector>

#include "tests/cache_test_records.h"

namespace gf::cache {
namespace {

using testing::TestKey;

std::vector<uint8_t> Bytes(size_t n, uint8_t fill) { return std::vector<uint8_t>(n, fill); }

TEST(MemoryStoreTest, PutGetAndCounters) {
  MemoryStore store({.byte_budget = 1000});
  ASSERT_TRUE(store.Put(TestKey(1), Bytes(100, 1)).ok());
  auto hit = store.Get(TestKey(1));
  ASSERT_TRUE(hit.ok());
  EXPECT_EQ(*hit, Bytes(100, 1));
  auto miss = store.Get(TestKey(2));
  EXPECT_EQ(miss.status().code(), StatusCode::kNotFound);
  EXPECT_TRUE(store.Contains(TestKey(1)));
  EXPECT_FALSE(store.Contains(TestKey(2)));

  const CacheTierStats s = store.Stats();
  EXPECT_EQ(s.tier, "memory");
  EXPECT_EQ(s.lookups, 2u);
  EXPECT_EQ(s.hits, 1u);
  EXPECT_EQ(s.misses_not_found, 1u);
  EXPECT_EQ(s.corrupt_deleted, 0u);
  EXPECT_EQ(s.evictions, 0u);
  EXPECT_EQ(s.bytes_stored, 100u);
  EXPECT_EQ(s.bytes_written_total, 100u);
  EXPECT_EQ(s.bytes_read_total, 100u);
  EXPECT_EQ(s.write_failures, 0u);
  EXPECT_EQ(s.entries, 1u);

  ASSERT_TRUE(store.Erase(TestKey(1)).ok());
  EXPECT_EQ(store.Erase(TestKey(1)).code(), StatusCode::kNotFound);
  EXPECT_EQ(store.Stats().bytes_stored, 0u);
  EXPECT_EQ(store.Stats().entries, 0u);
}

TEST(MemoryStoreTest, LruEvictionOrderAndBudget) {
  MemoryStore store({.byte_budget = 300});
  ASSERT_TRUE(store.Put(TestKey(1), Bytes(100, 1)).ok());
  ASSERT_TRUE(store.Put(TestKey(2), Bytes(100, 2)).ok());
  ASSERT_TRUE(store.Put(TestKey(3), Bytes(100, 3)).ok());
  ASSERT_TRUE(store.Get(TestKey(1)).ok());  // 2 is now the least recently used
  ASSERT_TRUE(store.Put(TestKey(4), Bytes(100, 4)).ok());
  EXPECT_TRUE(store.Contains(TestKey(1)));
  EXPECT_FALSE(store.Contains(TestKey(2)));
  EXPECT_TRUE(store.Contains(TestKey(3)));
  EXPECT_TRUE(store.Contains(TestKey(4)));
  // A 200-byte record evicts the two least recent: 3 then 1.
  ASSERT_TRUE(store.Put(TestKey(5), Bytes(200, 5)).ok());
  EXPECT_FALSE(store.Contains(TestKey(3)));
  EXPECT_FALSE(store.Contains(TestKey(1)));
  EXPECT_TRUE(store.Contains(TestKey(4)));
  EXPECT_TRUE(store.Contains(TestKey(5)));
  CacheTierStats s = store.Stats();
  EXPECT_EQ(s.evictions, 3u);
  EXPECT_EQ(s.bytes_stored, 300u);
  EXPECT_EQ(s.entries, 2u);

  // Larger than the whole budget: refused, nothing evicted.
  auto too_big = store.Put(TestKey(6), Bytes(301, 6));
  EXPECT_EQ(too_big.code(), StatusCode::kResourceExhausted);
  s = store.Stats();
  EXPECT_EQ(s.write_failures, 1u);
  EXPECT_EQ(s.evictions, 3u);
  EXPECT_EQ(s.entries, 2u);

  // Replacing a key counts only the new size.
  ASSERT_TRUE(store.Put(TestKey(5), Bytes(150, 7)).ok());
  EXPECT_EQ(store.Stats().bytes_stored, 250u);
  EXPECT_EQ(*store.Get(TestKey(5)), Bytes(150, 7));
  // Exactly the budget fits.
  ASSERT_TRUE(store.Put(TestKey(8), Bytes(300, 8)).ok());
  EXPECT_EQ(store.Stats().bytes_stored, 300u);
  EXPECT_EQ(store.Stats().entries, 1u);
}

TEST(MemoryStoreTest, PinnedEntriesAreNotEvicted) {
  MemoryStore store({.byte_budget = 300});
  const auto later = PinClock::now() + std::chrono::hours(1);
  ASSERT_TRUE(store.Put(TestKey(1), Bytes(100, 1), {.pinned_until = later}).ok());
  ASSERT_TRUE(store.Put(TestKey(2), Bytes(100, 2)).ok());
  ASSERT_TRUE(store.Put(TestKey(3), Bytes(100, 3)).ok());
  for (uint32_t k = 4; k < 10; ++k) ASSERT_TRUE(store.Put(TestKey(k), Bytes(100, 4)).ok());
  EXPECT_TRUE(store.Contains(TestKey(1)));
  EXPECT_TRUE(store.Contains(TestKey(9)));
  EXPECT_TRUE(store.Contains(TestKey(8)));
  EXPECT_EQ(store.Stats().evictions, 6u);

  // With the whole budget pinned, a Put fails and changes nothing.
  ASSERT_TRUE(store.Pin(TestKey(8), later).ok());
  ASSERT_TRUE(store.Pin(TestKey(9), later).ok());
  EXPECT_EQ(store.Put(TestKey(20), Bytes(100, 9)).code(), StatusCode::kResourceExhausted);
  EXPECT_EQ(store.Stats().entries, 3u);
  EXPECT_EQ(store.Stats().write_failures, 1u);
  EXPECT_EQ(store.Pin(TestKey(20), later).code(), StatusCode::kNotFound);

  // Unpinning makes an entry evictable again; Erase ignores pins.
  ASSERT_TRUE(store.Pin(TestKey(8), std::nullopt).ok());
  ASSERT_TRUE(store.Put(TestKey(21), Bytes(100, 9)).ok());
  EXPECT_FALSE(store.Contains(TestKey(8)));
  ASSERT_TRUE(store.Erase(TestKey(1)).ok());
  EXPECT_FALSE(store.Contains(TestKey(1)));
}

TEST(MemoryStoreTest, PinExpires) {
  MemoryStore store({.byte_budget = 200});
  const auto soon = PinClock::now() + std::chrono::milliseconds(300);
  ASSERT_TRUE(store.Put(TestKey(1), Bytes(100, 1), {.pinned_until = soon}).ok());
  ASSERT_TRUE(store.Put(TestKey(2), Bytes(100, 2)).ok());
  ASSERT_TRUE(store.Put(TestKey(3), Bytes(100, 3)).ok());  // evicts 2: 1 is pinned
  EXPECT_TRUE(store.Contains(TestKey(1)));
  EXPECT_FALSE(store.Contains(TestKey(2)));
  std::this_thread::sleep_until(soon + std::chrono::milliseconds(20));
  ASSERT_TRUE(store.Put(TestKey(4), Bytes(100, 4)).ok());  // 1 is least recent and unpinned now
  EXPECT_FALSE(store.Contains(TestKey(1)));
  EXPECT_TRUE(store.Contains(TestKey(3)));
  EXPECT_TRUE(store.Contains(TestKey(4)));
}

TEST(MemoryStoreTest, ConcurrentPutGet) {
  MemoryStore store({.byte_budget = 64 * 1024});
  constexpr int kThreads = 8;
  constexpr int kOps = 2000;
  std::atomic<int> wrong{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kOps; ++i) {
        const uint32_t k = static_cast<uint32_t>((i * 7 + t * 13) % 97);
        const size_t size = 500 + k * 10;
        if ((i + t) % 3 == 0) {
          if (!store.Put(TestKey(k), Bytes(size, static_cast<uint8_t>(k))).ok()) ++wrong;
        } else {
          auto got = store.Get(TestKey(k));
          if (got.ok() && *got != Bytes(size, static_cast<uint8_t>(k))) ++wrong;
          if (!got.ok() && got.status().code() != StatusCode::kNotFound) ++wrong;
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(wrong.load(), 0);
  const CacheTierStats s = store.Stats();
  EXPECT_EQ(s.lookups, s.hits + s.misses_not_found);
  EXPECT_LE(s.bytes_stored, 64u * 1024);
  EXPECT_GT(s.hits, 0u);
  EXPECT_GT(s.evictions, 0u);
  uint64_t present = 0, bytes = 0;
  for (uint32_t k = 0; k < 97; ++k) {
    if (store.Contains(TestKey(k))) {
      ++present;
      bytes += 500 + k * 10;
    }
  }
  EXPECT_EQ(s.entries, present);
  EXPECT_EQ(s.bytes_stored, bytes);
}

}  // namespace
}  // namespace gf::cache
