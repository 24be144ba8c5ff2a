// DiskStore: files named by the key, restart recovery, temp-file sweep (also after a SIGKILL in
// the middle of a write), LRU eviction and pins under the byte budget, every corruption class
// detected + deleted + counted, write failures that leave the store serving, the write_delay
// fault hook, and concurrent use from 8 threads.
#include "cache_store/disk_store.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <thread>
#include <vector>

#include "cache_store/record_format.h"
#include "tests/cache_test_records.h"
#include "tests/test_support.h"

namespace gf::cache {
namespace {

namespace fs = std::filesystem;
using testing::TestKey;
using testing::TestRecord;

std::unique_ptr<DiskStore> OpenOrDie(const std::string& dir, uint64_t budget = 1 << 20) {
  DiskStoreOptions options;
  options.directory = dir;
  options.byte_budget = budget;
  auto store = DiskStore::Open(options);
  EXPECT_TRUE(store.ok()) << store.status().ToString();
  return store.ok() ? std::move(store).value() : nullptr;
}

std::vector<std::string> TempFiles(const std::string& dir) {
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(dir)) {
    const std::string name = e.path().filename().string();
    if (name.find(".tmp.") != std::string::npos) names.push_back(name);
  }
  return names;
}

void WriteFile(const std::string& path, const std::vector<uint8_t>& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
}

std::string PathOf(const std::string& dir, const Key& key) { return dir + "/" + RecordFileName(key); }

TEST(DiskStoreTest, FileNames) {
  Key key{};
  key[0] = 0xab;
  key[31] = 0x01;
  EXPECT_EQ(RecordFileName(key), "ab" + std::string(60, '0') + "01.gfc");
  EXPECT_TRUE(IsRecordFileName(RecordFileName(key)));
  EXPECT_FALSE(IsRecordFileName("AB" + std::string(62, '0') + ".gfc"));
  EXPECT_FALSE(IsRecordFileName(std::string(63, '0') + ".gfc"));
  EXPECT_FALSE(IsRecordFileName("../" + std::string(61, '0') + ".gfc"));
  EXPECT_TRUE(IsTempFileName(std::string(64, 'f') + ".tmp.0123abcd"));
  EXPECT_FALSE(IsTempFileName(std::string(64, 'f') + ".tmp."));
  EXPECT_FALSE(IsTempFileName(std::string(64, 'f') + ".tmp.xyz"));
  EXPECT_FALSE(IsTempFileName("notes.tmp.1"));
}

TEST(DiskStoreTest, PutGetRestart) {
  const std::string dir = gf::testing::MakeTempDir("gf-disk-store");
  const auto a = TestRecord(TestKey(1), 10, 100);
  const auto b = TestRecord(TestKey(2), 0, 0);
  const auto c = TestRecord(TestKey(3), 1000, 5000);
  {
    auto store = OpenOrDie(dir);
    ASSERT_TRUE(store->Put(TestKey(1), a).ok());
    ASSERT_TRUE(store->Put(TestKey(2), b).ok());
    ASSERT_TRUE(store->Put(TestKey(3), c).ok());
    EXPECT_TRUE(fs::is_regular_file(PathOf(dir, TestKey(1))));
    EXPECT_EQ(fs::file_size(PathOf(dir, TestKey(3))), c.size());
    EXPECT_TRUE(TempFiles(dir).empty());
    auto got = store->Get(TestKey(1));
    ASSERT_TRUE(got.ok()) << got.status().ToString();
    EXPECT_EQ(*got, a);
    EXPECT_EQ(store->Get(TestKey(4)).status().code(), StatusCode::kNotFound);
    const CacheTierStats s = store->Stats();
    EXPECT_EQ(s.tier, "disk");
    EXPECT_EQ(s.lookups, 2u);
    EXPECT_EQ(s.hits, 1u);
    EXPECT_EQ(s.misses_not_found, 1u);
    EXPECT_EQ(s.entries, 3u);
    EXPECT_EQ(s.bytes_stored, a.size() + b.size() + c.size());
    EXPECT_EQ(s.bytes_written_total, a.size() + b.size() + c.size());
    EXPECT_EQ(s.bytes_read_total, a.size());
    // One store per directory.
    DiskStoreOptions options;
    options.directory = dir;
    EXPECT_EQ(DiskStore::Open(options).status().code(), StatusCode::kFailedPrecondition);
  }
  auto store = OpenOrDie(dir);
  const CacheTierStats s = store->Stats();
  EXPECT_EQ(s.entries, 3u);
  EXPECT_EQ(s.bytes_stored, a.size() + b.size() + c.size());
  EXPECT_EQ(s.bytes_written_total, 0u);
  EXPECT_EQ(*store->Get(TestKey(1)), a);
  EXPECT_EQ(*store->Get(TestKey(2)), b);
  EXPECT_EQ(*store->Get(TestKey(3)), c);
  ASSERT_TRUE(store->Erase(TestKey(2)).ok());
  EXPECT_FALSE(fs::exists(PathOf(dir, TestKey(2))));
  EXPECT_EQ(store->Erase(TestKey(2)).code(), StatusCode::kNotFound);
  fs::remove_all(dir);
}

TEST(DiskStoreTest, OpenSweepsTempFilesAndIgnoresForeignFiles) {
  const std::string dir = gf::testing::MakeTempDir("gf-disk-sweep");
  const std::string hex = KeyToHex(TestKey(5));
  WriteFile(dir + "/" + hex + ".tmp.abc123", {1, 2, 3});
  WriteFile(dir + "/" + hex + ".tmp.0", {});
  WriteFile(dir + "/notes.txt", {4});
  WriteFile(dir + "/" + RecordFileName(TestKey(6)), TestRecord(TestKey(6), 3, 3));
  auto store = OpenOrDie(dir);
  EXPECT_EQ(store->temp_files_swept(), 2u);
  EXPECT_TRUE(TempFiles(dir).empty());
  EXPECT_TRUE(fs::exists(dir + "/notes.txt"));
  EXPECT_EQ(store->Stats().entries, 1u);
  EXPECT_TRUE(store->Get(TestKey(6)).ok());
  store.reset();
  fs::remove_all(dir);
}

TEST(DiskStoreTest, OpenTrimsToBudgetOldestFirst) {
  const std::string dir = gf::testing::MakeTempDir("gf-disk-trim");
  const auto r = TestRecord(TestKey(1), 4, 100);
  {
    auto store = OpenOrDie(dir);
    for (uint32_t k = 1; k <= 4; ++k) {
      ASSERT_TRUE(store->Put(TestKey(k), TestRecord(TestKey(k), 4, 100)).ok());
      // Distinct modification times give a defined order after the restart.
      const auto t = fs::file_time_type::clock::now() - std::chrono::hours(10 - k);
      fs::last_write_time(PathOf(dir, TestKey(k)), t);
    }
  }
  auto store = OpenOrDie(dir, 2 * r.size());
  EXPECT_EQ(store->Stats().entries, 2u);
  EXPECT_EQ(store->Stats().evictions, 2u);
  EXPECT_FALSE(fs::exists(PathOf(dir, TestKey(1))));
  EXPECT_FALSE(fs::exists(PathOf(dir, TestKey(2))));
  EXPECT_TRUE(store->Get(TestKey(3)).ok());
  EXPECT_TRUE(store->Get(TestKey(4)).ok());
  store.reset();
  fs::remove_all(dir);
}

TEST(DiskStoreTest, LruEvictionAndPins) {
  const std::string dir = gf::testing::MakeTempDir("gf-disk-lru");
  const size_t size = TestRecord(TestKey(1), 4, 100).size();
  auto store = OpenOrDie(dir, 3 * size);
  auto put = [&](uint32_t k, PutOptions o = {}) {
    return store->Put(TestKey(k), TestRecord(TestKey(k), 4, 100), o);
  };
  ASSERT_TRUE(put(1, {.pinned_until = PinClock::now() + std::chrono::hours(1)}).ok());
  ASSERT_TRUE(put(2).ok());
  ASSERT_TRUE(put(3).ok());
  ASSERT_TRUE(store->Get(TestKey(2)).ok());  // order, least recent first: 1 (pinned), 3, 2
  ASSERT_TRUE(put(4).ok());
  EXPECT_TRUE(fs::exists(PathOf(dir, TestKey(1))));
  EXPECT_FALSE(fs::exists(PathOf(dir, TestKey(3))));
  EXPECT_FALSE(store->Contains(TestKey(3)));
  EXPECT_TRUE(store->Contains(TestKey(2)));
  ASSERT_TRUE(put(5).ok());  // evicts 2
  EXPECT_FALSE(fs::exists(PathOf(dir, TestKey(2))));
  EXPECT_TRUE(store->Contains(TestKey(1)));
  CacheTierStats s = store->Stats();
  EXPECT_EQ(s.evictions, 2u);
  EXPECT_EQ(s.entries, 3u);
  EXPECT_EQ(s.bytes_stored, 3 * size);

  // Everything pinned: refused; the refused record is not on disk.
  ASSERT_TRUE(store->Pin(TestKey(4), PinClock::now() + std::chrono::hours(1)).ok());
  ASSERT_TRUE(store->Pin(TestKey(5), PinClock::now() + std::chrono::milliseconds(300)).ok());
  EXPECT_EQ(put(6).code(), StatusCode::kResourceExhausted);
  EXPECT_FALSE(fs::exists(PathOf(dir, TestKey(6))));
  EXPECT_EQ(store->Stats().write_failures, 1u);
  // Pin 5 expires, then it is the least recent unpinned entry.
  std::this_thread::sleep_for(std::chrono::milliseconds(350));
  ASSERT_TRUE(put(6).ok());
  EXPECT_FALSE(store->Contains(TestKey(5)));
  EXPECT_TRUE(store->Contains(TestKey(1)));
  EXPECT_TRUE(store->Contains(TestKey(4)));
  store.reset();
  fs::remove_all(dir);
}

// Stores a good record, replaces its file with `bad`, and checks that Get refuses, deletes and
// counts it.
void ExpectCorruptionDetected(DiskStore& store, const std::string& dir, const Key& key,
                              const std::vector<uint8_t>& good, const std::vector<uint8_t>& bad,
                              const std::string& what) {
  ASSERT_TRUE(store.Put(key, good).ok()) << what;
  const uint64_t before = store.Stats().corrupt_deleted;
  WriteFile(PathOf(dir, key), bad);
  auto got = store.Get(key);
  ASSERT_FALSE(got.ok()) << what;
  ASSERT_EQ(got.status().code(), StatusCode::kDataLoss) << what;
  ASSERT_FALSE(fs::exists(PathOf(dir, key))) << what;
  ASSERT_FALSE(store.Contains(key)) << what;
  ASSERT_EQ(store.Stats().corrupt_deleted, before + 1) << what;
  ASSERT_EQ(store.Get(key).status().code(), StatusCode::kNotFound) << what;
}

TEST(DiskStoreTest, EveryCorruptionIsDetectedDeletedAndCounted) {
  const std::string dir = gf::testing::MakeTempDir("gf-disk-corrupt");
  auto store = OpenOrDie(dir);
  const Key key = TestKey(7);
  const auto good = TestRecord(key, 3, 5);
  uint64_t expected = 0;
  for (size_t i = 0; i < good.size(); ++i) {
    auto bad = good;
    bad[i] ^= static_cast<uint8_t>(1u << (i % 8));
    ExpectCorruptionDetected(*store, dir, key, good, bad, "flip at byte " + std::to_string(i));
    ++expected;
  }
  for (size_t len = 0; len < good.size(); ++len) {
    const std::vector<uint8_t> bad(good.begin(), good.begin() + static_cast<std::ptrdiff_t>(len));
    ExpectCorruptionDetected(*store, dir, key, good, bad, "truncated to " + std::to_string(len));
    ++expected;
  }
  ExpectCorruptionDetected(*store, dir, key, good, std::vector<uint8_t>(good.size(), 0), "zeros");
  // A valid record of another key under this key's name.
  ExpectCorruptionDetected(*store, dir, key, good, TestRecord(TestKey(8), 3, 5), "misplaced");
  expected += 2;
  EXPECT_EQ(store->Stats().corrupt_deleted, expected);
  EXPECT_EQ(store->Stats().entries, 0u);
  EXPECT_EQ(store->Stats().bytes_stored, 0u);

  // A symlink planted at a record name is never followed.
  ASSERT_TRUE(store->Put(key, good).ok());
  WriteFile(dir + "/target", good);
  fs::remove(PathOf(dir, key));
  fs::create_symlink(dir + "/target", PathOf(dir, key));
  EXPECT_EQ(store->Get(key).status().code(), StatusCode::kDataLoss);
  EXPECT_FALSE(fs::is_symlink(PathOf(dir, key)));
  EXPECT_TRUE(fs::exists(dir + "/target"));
  // The store keeps working.
  ASSERT_TRUE(store->Put(key, good).ok());
  EXPECT_EQ(*store->Get(key), good);
  store.reset();
  fs::remove_all(dir);
}

TEST(DiskStoreTest, WriteFailuresKeepServing) {
  const std::string dir = gf::testing::MakeTempDir("gf-disk-fail");
  const auto small = TestRecord(TestKey(1), 4, 100);
  const auto big = TestRecord(TestKey(2), 4, 20000);
  auto store = OpenOrDie(dir, 10000);
  ASSERT_TRUE(store->Put(TestKey(1), small).ok());
  // Larger than the budget.
  EXPECT_EQ(store->Put(TestKey(2), big).code(), StatusCode::kResourceExhausted);
  EXPECT_EQ(store->Stats().write_failures, 1u);
  store.reset();

  // A write error in the middle of the file (file size limit: EFBIG, as ENOSPC would).
  store = OpenOrDie(dir, 1 << 20);
  struct rlimit old_limit {};
  ASSERT_EQ(getrlimit(RLIMIT_FSIZE, &old_limit), 0);
  auto old_handler = signal(SIGXFSZ, SIG_IGN);
  struct rlimit limit = old_limit;
  limit.rlim_cur = 4096;
  ASSERT_EQ(setrlimit(RLIMIT_FSIZE, &limit), 0);
  const Status failed = store->Put(TestKey(2), big);
  ASSERT_EQ(setrlimit(RLIMIT_FSIZE, &old_limit), 0);
  signal(SIGXFSZ, old_handler);
  EXPECT_EQ(failed.code(), StatusCode::kResourceExhausted) << failed.ToString();
  EXPECT_TRUE(TempFiles(dir).empty());
  EXPECT_FALSE(store->Contains(TestKey(2)));
  CacheTierStats s = store->Stats();
  EXPECT_EQ(s.write_failures, 1u);
  EXPECT_EQ(s.bytes_stored, small.size());  // the reservation was released
  EXPECT_EQ(*store->Get(TestKey(1)), small);
  ASSERT_TRUE(store->Put(TestKey(2), big).ok());
  EXPECT_EQ(*store->Get(TestKey(2)), big);

  store.reset();
  fs::remove_all(dir);
}

TEST(DiskStoreTest, WriteDelayLeavesTempFileVisible) {
  const std::string dir = gf::testing::MakeTempDir("gf-disk-delay");
  DiskStoreOptions options;
  options.directory = dir;
  options.write_delay = std::chrono::milliseconds(200);
  auto opened = DiskStore::Open(options);
  ASSERT_TRUE(opened.ok());
  auto store = std::move(opened).value();
  const auto record = TestRecord(TestKey(1), 4, 100);
  const auto start = std::chrono::steady_clock::now();
  std::thread writer([&] { EXPECT_TRUE(store->Put(TestKey(1), record).ok()); });
  bool saw_temp = false;
  while (!saw_temp && std::chrono::steady_clock::now() - start < std::chrono::milliseconds(180)) {
    saw_temp = !TempFiles(dir).empty();
    if (!saw_temp) std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  EXPECT_TRUE(saw_temp);
  EXPECT_FALSE(store->Contains(TestKey(1)));
  writer.join();
  EXPECT_GE(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(200));
  EXPECT_TRUE(TempFiles(dir).empty());
  EXPECT_EQ(*store->Get(TestKey(1)), record);
  store.reset();
  fs::remove_all(dir);
}

TEST(DiskStoreTest, FaultDelayFromEnvironment) {
  unsetenv("GOLDFINCH_CACHE_FAULT_DELAY_MS");
  EXPECT_EQ(FaultDelayFromEnvironment().count(), 0);
  setenv("GOLDFINCH_CACHE_FAULT_DELAY_MS", "250", 1);
  EXPECT_EQ(FaultDelayFromEnvironment().count(), 250);
  for (const char* bad : {"abc", "-5", "12x", "", "99999999999999999999"}) {
    setenv("GOLDFINCH_CACHE_FAULT_DELAY_MS", bad, 1);
    EXPECT_EQ(FaultDelayFromEnvironment().count(), 0) << bad;
  }
  unsetenv("GOLDFINCH_CACHE_FAULT_DELAY_MS");
}

// A process killed with SIGKILL between writing the temp file and renaming it leaves a temp file
// that the next Open sweeps; records published earlier stay valid.
TEST(DiskStoreTest, KillDuringWriteThenRecover) {
  const std::string dir = gf::testing::MakeTempDir("gf-disk-kill");
  const auto kept = TestRecord(TestKey(1), 8, 64);
  {
    auto store = OpenOrDie(dir);
    ASSERT_TRUE(store->Put(TestKey(1), kept).ok());
  }
  for (int round = 0; round < 5; ++round) {
    const pid_t child = fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
      DiskStoreOptions options;
      options.directory = dir;
      options.write_delay = std::chrono::seconds(30);
      auto store = DiskStore::Open(options);
      if (store.ok()) (void)(*store)->Put(TestKey(2), TestRecord(TestKey(2), 8, 64));
      _exit(0);
    }
    const auto start = std::chrono::steady_clock::now();
    while (TempFiles(dir).empty() && std::chrono::steady_clock::now() - start < std::chrono::seconds(20)) {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    ASSERT_EQ(TempFiles(dir).size(), 1u) << "round " << round;
    kill(child, SIGKILL);
    int status = 0;
    ASSERT_EQ(waitpid(child, &status, 0), child);
    ASSERT_TRUE(WIFSIGNALED(status));

    auto store = OpenOrDie(dir);  // the dead child's flock is gone
    EXPECT_EQ(store->temp_files_swept(), 1u);
    EXPECT_TRUE(TempFiles(dir).empty());
    EXPECT_FALSE(store->Contains(TestKey(2)));
    EXPECT_EQ(*store->Get(TestKey(1)), kept);
  }
  fs::remove_all(dir);
}

TEST(DiskStoreTest, ConcurrentPutGetErase) {
  const std::string dir = gf::testing::MakeTempDir("gf-disk-threads");
  constexpr uint32_t kKeys = 40;
  std::vector<std::vector<uint8_t>> records;
  uint64_t total = 0;
  for (uint32_t k = 0; k < kKeys; ++k) {
    records.push_back(TestRecord(TestKey(k), 16 + k, 300 + 20 * k));
    total += records.back().size();
  }
  auto store = OpenOrDie(dir, total / 3);  // forces evictions
  std::atomic<int> wrong{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 300; ++i) {
        const uint32_t k = static_cast<uint32_t>((i * 11 + t * 5) % kKeys);
        const int op = (i + t) % 5;
        if (op < 2) {
          if (!store->Put(TestKey(k), records[k]).ok()) ++wrong;
        } else if (op < 4) {
          auto got = store->Get(TestKey(k));
          if (got.ok() ? *got != records[k] : got.status().code() != StatusCode::kNotFound) ++wrong;
        } else {
          const Status s = store->Erase(TestKey(k));
          if (!s.ok() && s.code() != StatusCode::kNotFound) ++wrong;
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(wrong.load(), 0);
  CacheTierStats s = store->Stats();
  EXPECT_EQ(s.corrupt_deleted, 0u);
  EXPECT_EQ(s.lookups, s.hits + s.misses_not_found);
  EXPECT_LE(s.bytes_stored, total / 3);
  EXPECT_GT(s.evictions, 0u);
  // The index and the directory agree, and every file is a valid record.
  uint64_t present = 0;
  for (uint32_t k = 0; k < kKeys; ++k) {
    const bool in_index = store->Contains(TestKey(k));
    EXPECT_EQ(in_index, fs::exists(PathOf(dir, TestKey(k)))) << k;
    if (in_index) {
      ++present;
      EXPECT_EQ(*store->Get(TestKey(k)), records[k]);
    }
  }
  EXPECT_EQ(s.entries, present);
  EXPECT_TRUE(TempFiles(dir).empty());
  store.reset();
  fs::remove_all(dir);
}

}  // namespace
}  // namespace gf::cache
