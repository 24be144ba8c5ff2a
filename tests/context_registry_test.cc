// ContextRegistry (engine/prefix_cache/context_registry.h) over a real PrefixCache on a
// MemoryStore, with snapshots made by the built-in byte model: create/get/list per namespace
// (another namespace's id is indistinguishable from a missing one), TTL expiry on an injected
// clock, pin/unpin, delete (erases the snapshot; shared snapshots survive until the last
// context), the per-namespace bound, persistence (reload, expired files, corrupt files, stray
// temp files, a snapshot that is gone) and pins that keep snapshots alive under eviction pressure.
#include "engine/prefix_cache/context_registry.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <iterator>

#include "cache_store/memory_store.h"
#include "engine/model/goldfinch.h"
#include "tests/test_support.h"

namespace gf {
namespace {

namespace fs = std::filesystem;

std::string ModelDir() { return testing::SourceDir() + "/models/goldfinch-byte-small"; }

CacheNamespace Ns(const char* name) { return CacheNamespace{Sha256Hash(name)}; }

// A settable wall clock, starting at the real time (so pins mean the same to the store).
struct FakeClock {
  std::shared_ptr<cache::PinClock::time_point> now = std::make_shared<cache::PinClock::time_point>(
      std::chrono::time_point_cast<std::chrono::seconds>(cache::PinClock::now()));
  std::function<cache::PinClock::time_point()> fn() const {
    auto t = now;
    return [t] { return *t; };
  }
  void Advance(int64_t seconds) { *now += std::chrono::seconds(seconds); }
  int64_t Seconds() const {
    return std::chrono::duration_cast<std::chrono::seconds>(now->time_since_epoch()).count();
  }
};

std::vector<int32_t> Tokens(const std::string& text) {
  std::vector<int32_t> ids;
  for (unsigned char c : text) ids.push_back(static_cast<int32_t>(c) + 1);  // byte vocabulary
  return ids;
}

class ContextRegistryTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    auto model = GoldFinchModel::Load(ModelDir(), WeightLoadOptions{});
    ASSERT_TRUE(model.ok()) << model.status().ToString();
    model_ = model->release();
  }
  static void TearDownTestSuite() {
    delete model_;
    model_ = nullptr;
  }
  void SetUp() override { ASSERT_NE(model_, nullptr); }

  static std::shared_ptr<PrefixCache> NewCache(size_t budget = size_t{64} << 20) {
    PrefixCacheOptions options;
    options.min_snapshot_tokens = 4;
    auto cache = PrefixCache::Create(
        std::make_unique<cache::MemoryStore>(cache::MemoryStoreOptions{budget}), model_->config(),
        model_->kv_dtype(), Sha256Hash("registry test"), options);
    EXPECT_TRUE(cache.ok()) << cache.status().ToString();
    return cache.ok() ? std::shared_ptr<PrefixCache>(std::move(*cache)) : nullptr;
  }

  // Runs `tokens` through the model and stores the snapshot at their end.
  static void StoreSnapshot(PrefixCache& cache, const CacheNamespace& ns,
                            const std::vector<int32_t>& tokens) {
    SequenceState state = model_->NewState();
    std::vector<float> logits;
    ASSERT_TRUE(model_->Prefill(state, tokens, PrefillOptions{}, &logits).ok());
    const Status stored =
        cache.Store(CaptureSnapshot(ns, state, {static_cast<int64_t>(tokens.size())}));
    ASSERT_TRUE(stored.ok()) << stored.ToString();
    ASSERT_TRUE(cache.HasSnapshot(ns, tokens));
  }

  std::unique_ptr<ContextRegistry> Open(PrefixCache& cache, const std::string& dir = "",
                                        size_t max_per_namespace = 1024,
                                        ContextLoadReport* report = nullptr) {
    ContextRegistryOptions options;
    options.dir = dir;
    options.max_per_namespace = max_per_namespace;
    options.clock = clock_.fn();
    auto registry = ContextRegistry::Open(cache, options, report);
    EXPECT_TRUE(registry.ok()) << registry.status().ToString();
    return registry.ok() ? std::move(*registry) : nullptr;
  }

  static inline GoldFinchModel* model_ = nullptr;
  FakeClock clock_;
};

TEST_F(ContextRegistryTest, ContextFileRoundTripAndIdFormat) {
  ContextRecord record;
  record.id = "ctx_0123456789abcdef01234567";
  record.ns = Ns("a");
  record.tokens = std::make_shared<const std::vector<int32_t>>(std::vector<int32_t>{1, 300, -2});
  record.created = 1700000000;
  record.expires_at = 1700003600;
  record.name = "docs";
  const std::string bytes = EncodeContextFile(record);
  // magic 8 + ns 32 + created 8 + expires 8 + id 4+28 + name 4+4 + count 8 + tokens 12 + crc 4
  EXPECT_EQ(bytes.size(), 120u);
  auto decoded = DecodeContextFile(bytes);
  ASSERT_TRUE(decoded.ok()) << decoded.status().ToString();
  EXPECT_EQ(decoded->id, record.id);
  EXPECT_EQ(decoded->ns.salt_hash, record.ns.salt_hash);
  EXPECT_EQ(*decoded->tokens, *record.tokens);
  EXPECT_EQ(decoded->created, record.created);
  EXPECT_EQ(decoded->expires_at, record.expires_at);
  EXPECT_EQ(decoded->name, "docs");
  for (size_t i = 0; i < bytes.size(); ++i) {  // every single-byte flip is detected
    std::string bad = bytes;
    bad[i] = static_cast<char>(bad[i] ^ 0x40);
    EXPECT_EQ(DecodeContextFile(bad).status().code(), StatusCode::kDataLoss) << "byte " << i;
  }
  for (size_t n = 0; n < bytes.size(); ++n) {  // every truncation too
    EXPECT_EQ(DecodeContextFile(bytes.substr(0, n)).status().code(), StatusCode::kDataLoss);
  }
  EXPECT_TRUE(IsValidContextId("ctx_0123456789abcdef01234567"));
  EXPECT_FALSE(IsValidContextId("ctx_0123456789ABCDEF01234567"));
  EXPECT_FALSE(IsValidContextId("ctx_0123456789abcdef0123456"));
  EXPECT_FALSE(IsValidContextId("ctx_0123456789abcdef012345678"));
  EXPECT_FALSE(IsValidContextId("cty_0123456789abcdef01234567"));
}

TEST_F(ContextRegistryTest, CreateGetListWithinNamespace) {
  auto cache = NewCache();
  const auto t1 = Tokens("The first shared document.");
  const auto t2 = Tokens("Another, longer shared document text.");
  StoreSnapshot(*cache, Ns("a"), t1);
  StoreSnapshot(*cache, Ns("a"), t2);
  StoreSnapshot(*cache, Ns("b"), t1);
  auto registry = Open(*cache);
  ASSERT_NE(registry, nullptr);

  const int64_t t0 = clock_.Seconds();
  auto c1 = registry->Create(Ns("a"), t1, 100, "one");
  ASSERT_TRUE(c1.ok()) << c1.status().ToString();
  EXPECT_TRUE(IsValidContextId(c1->id)) << c1->id;
  EXPECT_EQ(c1->created, t0);
  EXPECT_EQ(c1->expires_at, t0 + 100);
  EXPECT_EQ(c1->name, "one");
  EXPECT_EQ(*c1->tokens, t1);
  clock_.Advance(1);
  auto c2 = registry->Create(Ns("a"), t2, 50);
  ASSERT_TRUE(c2.ok()) << c2.status().ToString();
  auto c3 = registry->Create(Ns("b"), t1, 100);
  ASSERT_TRUE(c3.ok()) << c3.status().ToString();
  EXPECT_NE(c1->id, c2->id);
  EXPECT_NE(c1->id, c3->id);
  EXPECT_EQ(c2->name, "");

  auto got = registry->Get(Ns("a"), c1->id);
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(*got->tokens, t1);
  EXPECT_EQ(got->expires_at, t0 + 100);
  // Another namespace's id looks exactly like an unknown id.
  auto foreign = registry->Get(Ns("b"), c1->id);
  EXPECT_EQ(foreign.status().code(), StatusCode::kNotFound);
  EXPECT_EQ(foreign.status().message(), "context '" + c1->id + "' not found");
  auto missing = registry->Get(Ns("a"), "ctx_000000000000000000000000");
  EXPECT_EQ(missing.status().code(), StatusCode::kNotFound);
  EXPECT_EQ(missing.status().message(), "context 'ctx_000000000000000000000000' not found");

  const auto list_a = registry->List(Ns("a"));
  ASSERT_EQ(list_a.size(), 2u);
  EXPECT_EQ(list_a[0].id, c1->id);  // oldest first
  EXPECT_EQ(list_a[1].id, c2->id);
  const auto list_b = registry->List(Ns("b"));
  ASSERT_EQ(list_b.size(), 1u);
  EXPECT_EQ(list_b[0].id, c3->id);
  EXPECT_TRUE(registry->List(Ns("c")).empty());
  EXPECT_EQ(registry->size(), 3u);

  // No snapshot stored for these tokens (or in this namespace): NotFound.
  EXPECT_EQ(registry->Create(Ns("c"), t1, 100).status().code(), StatusCode::kNotFound);
  EXPECT_EQ(registry->Create(Ns("a"), Tokens("never stored prefix"), 100).status().code(),
            StatusCode::kNotFound);
  // Field checks.
  EXPECT_EQ(registry->Create(Ns("a"), t1, 0).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(registry->Create(Ns("a"), t1, kMaxContextTtlSeconds + 1).status().code(),
            StatusCode::kInvalidArgument);
  EXPECT_TRUE(registry->Create(Ns("a"), t1, kMaxContextTtlSeconds).ok());
  EXPECT_EQ(registry->Create(Ns("a"), t1, 10, std::string(257, 'x')).status().code(),
            StatusCode::kInvalidArgument);
  EXPECT_TRUE(registry->Create(Ns("a"), t1, 10, std::string(256, 'x')).ok());
  EXPECT_EQ(registry->Create(Ns("a"), {}, 10).status().code(), StatusCode::kInvalidArgument);
}

TEST_F(ContextRegistryTest, ExpiresOnTheInjectedClock) {
  auto cache = NewCache();
  const auto tokens = Tokens("A context that lives for ten seconds.");
  StoreSnapshot(*cache, Ns("a"), tokens);
  auto registry = Open(*cache);
  auto created = registry->Create(Ns("a"), tokens, 10);
  ASSERT_TRUE(created.ok());
  clock_.Advance(9);
  EXPECT_TRUE(registry->Get(Ns("a"), created->id).ok());
  EXPECT_EQ(registry->List(Ns("a")).size(), 1u);
  clock_.Advance(1);  // expires_at <= now: gone
  EXPECT_EQ(registry->Get(Ns("a"), created->id).status().code(), StatusCode::kNotFound);
  EXPECT_TRUE(registry->List(Ns("a")).empty());
  EXPECT_EQ(registry->size(), 0u);
  EXPECT_EQ(registry->Pin(Ns("a"), created->id, 100).status().code(), StatusCode::kNotFound);
  // Expiry unpins but does not erase: the snapshot still serves ordinary prefix hits.
  EXPECT_TRUE(cache->HasSnapshot(Ns("a"), tokens));
}

TEST_F(ContextRegistryTest, PinExtendsAndTtlZeroExpiresNow) {
  auto cache = NewCache();
  const auto tokens = Tokens("Pinned context for the pin test.");
  StoreSnapshot(*cache, Ns("a"), tokens);
  auto registry = Open(*cache);
  auto created = registry->Create(Ns("a"), tokens, 10);
  ASSERT_TRUE(created.ok());
  clock_.Advance(5);
  auto pinned = registry->Pin(Ns("a"), created->id, 500);
  ASSERT_TRUE(pinned.ok()) << pinned.status().ToString();
  EXPECT_EQ(pinned->expires_at, clock_.Seconds() + 500);
  EXPECT_EQ(pinned->created, created->created);
  clock_.Advance(100);  // past the old expiry, before the new one
  auto got = registry->Get(Ns("a"), created->id);
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->expires_at, pinned->expires_at);
  EXPECT_EQ(registry->Pin(Ns("b"), created->id, 500).status().code(), StatusCode::kNotFound);
  EXPECT_EQ(registry->Pin(Ns("a"), created->id, -1).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(registry->Pin(Ns("a"), created->id, kMaxContextTtlSeconds + 1).status().code(),
            StatusCode::kInvalidArgument);

  auto expired = registry->Pin(Ns("a"), created->id, 0);
  ASSERT_TRUE(expired.ok());
  EXPECT_EQ(expired->expires_at, clock_.Seconds());
  EXPECT_EQ(registry->Get(Ns("a"), created->id).status().code(), StatusCode::kNotFound);
  EXPECT_TRUE(cache->HasSnapshot(Ns("a"), tokens));  // unpinned, not erased
}

TEST_F(ContextRegistryTest, DeleteErasesTheSnapshotOnceUnshared) {
  auto cache = NewCache();
  const auto tokens = Tokens("A snapshot shared by two contexts.");
  StoreSnapshot(*cache, Ns("a"), tokens);
  auto registry = Open(*cache);
  auto first = registry->Create(Ns("a"), tokens, 100);
  auto second = registry->Create(Ns("a"), tokens, 200);
  ASSERT_TRUE(first.ok() && second.ok());
  EXPECT_EQ(registry->Delete(Ns("b"), first->id).code(), StatusCode::kNotFound);
  EXPECT_TRUE(registry->Get(Ns("a"), first->id).ok());  // a foreign delete changed nothing

  ASSERT_TRUE(registry->Delete(Ns("a"), first->id).ok());
  EXPECT_EQ(registry->Get(Ns("a"), first->id).status().code(), StatusCode::kNotFound);
  EXPECT_EQ(registry->Delete(Ns("a"), first->id).code(), StatusCode::kNotFound);
  EXPECT_TRUE(cache->HasSnapshot(Ns("a"), tokens));  // the second context still uses it
  ASSERT_TRUE(registry->Delete(Ns("a"), second->id).ok());
  EXPECT_FALSE(cache->HasSnapshot(Ns("a"), tokens));
  EXPECT_EQ(registry->size(), 0u);
}

TEST_F(ContextRegistryTest, BoundedPerNamespace) {
  auto cache = NewCache();
  const auto tokens = Tokens("Limits apply per namespace.");
  StoreSnapshot(*cache, Ns("a"), tokens);
  StoreSnapshot(*cache, Ns("b"), tokens);
  auto registry = Open(*cache, "", 2);
  auto c1 = registry->Create(Ns("a"), tokens, 100);
  ASSERT_TRUE(c1.ok());
  ASSERT_TRUE(registry->Create(Ns("a"), tokens, 100).ok());
  const Status full = registry->Create(Ns("a"), tokens, 100).status();
  EXPECT_EQ(full.code(), StatusCode::kResourceExhausted);
  EXPECT_EQ(full.message().rfind(kContextLimitMessage, 0), 0u) << full.message();
  EXPECT_EQ(registry->Count(Ns("a")), 2u);
  EXPECT_TRUE(registry->Create(Ns("b"), tokens, 100).ok());
  EXPECT_EQ(registry->Count(Ns("b")), 1u);
  EXPECT_EQ(registry->Count(Ns("c")), 0u);
  ASSERT_TRUE(registry->Delete(Ns("a"), c1->id).ok());
  EXPECT_TRUE(registry->Create(Ns("a"), tokens, 100).ok());
  clock_.Advance(100);  // all expired: room again
  EXPECT_TRUE(registry->Create(Ns("a"), tokens, 100).ok());
  EXPECT_TRUE(registry->Create(Ns("a"), tokens, 100).ok());

  ContextRegistryOptions zero;
  zero.max_per_namespace = 0;
  EXPECT_EQ(ContextRegistry::Open(*cache, zero).status().code(), StatusCode::kInvalidArgument);
}

TEST_F(ContextRegistryTest, StatsCountCreatesDeletesAndExpiries) {
  auto cache = NewCache();
  const auto tokens = Tokens("Counted contexts for the metrics.");
  StoreSnapshot(*cache, Ns("a"), tokens);
  auto registry = Open(*cache);
  auto short_lived = registry->Create(Ns("a"), tokens, 10);
  auto deleted = registry->Create(Ns("a"), tokens, 100);
  auto unpinned = registry->Create(Ns("a"), tokens, 100);
  auto kept = registry->Create(Ns("a"), tokens, 100);
  ASSERT_TRUE(short_lived.ok() && deleted.ok() && unpinned.ok() && kept.ok());
  EXPECT_EQ(registry->Create(Ns("a"), Tokens("never stored"), 10).status().code(),
            StatusCode::kNotFound);  // a failed create is not counted
  ContextStats stats = registry->Stats();
  EXPECT_EQ(stats.live, 4u);
  EXPECT_EQ(stats.created, 4u);
  EXPECT_EQ(stats.deleted + stats.expired + stats.lost, 0u);

  ASSERT_TRUE(registry->Delete(Ns("a"), deleted->id).ok());
  EXPECT_EQ(registry->Delete(Ns("a"), deleted->id).code(), StatusCode::kNotFound);
  ASSERT_TRUE(registry->Pin(Ns("a"), unpinned->id, 0).ok());  // ttl 0 expires it now
  clock_.Advance(10);                                         // short_lived expires
  stats = registry->Stats();
  EXPECT_EQ(stats.live, 1u);
  EXPECT_EQ(stats.created, 4u);
  EXPECT_EQ(stats.deleted, 1u);
  EXPECT_EQ(stats.expired, 2u);
  EXPECT_EQ(stats.lost, 0u);

  // The snapshot disappears from the cache: re-pinning finds it gone and forgets the context.
  ASSERT_TRUE(cache->PinSnapshot(Ns("a"), tokens, std::nullopt).ok());
  ASSERT_TRUE(cache->EraseSnapshot(Ns("a"), tokens).ok());
  EXPECT_EQ(registry->Pin(Ns("a"), kept->id, 100).status().code(), StatusCode::kNotFound);
  stats = registry->Stats();
  EXPECT_EQ(stats.live, 0u);
  EXPECT_EQ(stats.lost, 1u);
}

TEST_F(ContextRegistryTest, PersistsAcrossReopen) {
  auto cache = NewCache();
  const std::string dir = testing::MakeTempDir("ctx_registry") + "/contexts";
  const auto long_lived = Tokens("This context outlives the restart.");
  const auto short_lived = Tokens("This one expires before the restart.");
  StoreSnapshot(*cache, Ns("a"), long_lived);
  StoreSnapshot(*cache, Ns("b"), short_lived);
  std::string keep_id;
  std::string gone_id;
  {
    auto registry = Open(*cache, dir);
    ASSERT_NE(registry, nullptr);
    auto keep = registry->Create(Ns("a"), long_lived, 1000, "kept");
    auto gone = registry->Create(Ns("b"), short_lived, 10);
    ASSERT_TRUE(keep.ok() && gone.ok());
    keep_id = keep->id;
    gone_id = gone->id;
    auto pinned = registry->Pin(Ns("a"), keep_id, 2000);  // rewritten on pin
    ASSERT_TRUE(pinned.ok());
  }
  EXPECT_TRUE(fs::exists(dir + "/" + keep_id + ".ctx"));
  EXPECT_TRUE(fs::exists(dir + "/" + gone_id + ".ctx"));
  std::ofstream(dir + "/" + "ctx_aaaaaaaaaaaaaaaaaaaaaaaa.tmp") << "interrupted write";
  std::ofstream(dir + "/README") << "not ours";

  clock_.Advance(20);
  ContextLoadReport report;
  auto registry = Open(*cache, dir, 1024, &report);
  ASSERT_NE(registry, nullptr);
  EXPECT_EQ(report.loaded, 1u);
  EXPECT_EQ(report.expired, 1u);
  EXPECT_EQ(report.corrupt, 0u);
  EXPECT_EQ(report.missing_snapshot, 0u);
  auto kept = registry->Get(Ns("a"), keep_id);
  ASSERT_TRUE(kept.ok()) << kept.status().ToString();
  EXPECT_EQ(*kept->tokens, long_lived);
  EXPECT_EQ(kept->name, "kept");
  EXPECT_EQ(kept->expires_at, clock_.Seconds() - 20 + 2000);
  EXPECT_EQ(registry->Get(Ns("b"), gone_id).status().code(), StatusCode::kNotFound);
  EXPECT_FALSE(fs::exists(dir + "/" + gone_id + ".ctx"));
  EXPECT_FALSE(fs::exists(dir + "/ctx_aaaaaaaaaaaaaaaaaaaaaaaa.tmp"));
  EXPECT_TRUE(fs::exists(dir + "/README"));

  // Deleting removes the file.
  ASSERT_TRUE(registry->Delete(Ns("a"), keep_id).ok());
  EXPECT_FALSE(fs::exists(dir + "/" + keep_id + ".ctx"));
}

TEST_F(ContextRegistryTest, CorruptFilesAreSkippedAndDeleted) {
  auto cache = NewCache();
  const std::string dir = testing::MakeTempDir("ctx_corrupt");
  const auto a = Tokens("First context of the corruption test.");
  const auto b = Tokens("Second context of the corruption test.");
  StoreSnapshot(*cache, Ns("a"), a);
  StoreSnapshot(*cache, Ns("a"), b);
  std::string flipped_id;
  std::string intact_id;
  {
    auto registry = Open(*cache, dir);
    flipped_id = registry->Create(Ns("a"), a, 1000)->id;
    intact_id = registry->Create(Ns("a"), b, 1000)->id;
  }
  const std::string path = dir + "/" + flipped_id + ".ctx";
  std::string bytes;
  {
    std::ifstream in(path, std::ios::binary);
    bytes.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }
  ASSERT_GT(bytes.size(), 100u);
  bytes[90] = static_cast<char>(bytes[90] ^ 1);
  std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes;
  std::ofstream(dir + "/ctx_bbbbbbbbbbbbbbbbbbbbbbbb.ctx") << "garbage";
  // A well-formed file under another id's name is corrupt too.
  fs::copy_file(dir + "/" + intact_id + ".ctx", dir + "/ctx_cccccccccccccccccccccccc.ctx");

  ContextLoadReport report;
  auto registry = Open(*cache, dir, 1024, &report);
  ASSERT_NE(registry, nullptr);
  EXPECT_EQ(report.loaded, 1u);
  EXPECT_EQ(report.corrupt, 3u);
  EXPECT_EQ(registry->Get(Ns("a"), flipped_id).status().code(), StatusCode::kNotFound);
  EXPECT_TRUE(registry->Get(Ns("a"), intact_id).ok());
  EXPECT_FALSE(fs::exists(path));
  EXPECT_FALSE(fs::exists(dir + "/ctx_bbbbbbbbbbbbbbbbbbbbbbbb.ctx"));
  EXPECT_FALSE(fs::exists(dir + "/ctx_cccccccccccccccccccccccc.ctx"));
}

TEST_F(ContextRegistryTest, ReloadDropsContextsWhoseSnapshotIsGone) {
  const std::string dir = testing::MakeTempDir("ctx_missing");
  const auto tokens = Tokens("Stored in a cache that is then lost.");
  std::string id;
  {
    auto cache = NewCache();
    StoreSnapshot(*cache, Ns("a"), tokens);
    auto registry = Open(*cache, dir);
    auto created = registry->Create(Ns("a"), tokens, 1000);
    ASSERT_TRUE(created.ok());
    id = created->id;
  }
  auto empty_cache = NewCache();
  ContextLoadReport report;
  auto registry = Open(*empty_cache, dir, 1024, &report);
  ASSERT_NE(registry, nullptr);
  EXPECT_EQ(report.loaded, 0u);
  EXPECT_EQ(report.missing_snapshot, 1u);
  EXPECT_EQ(registry->Get(Ns("a"), id).status().code(), StatusCode::kNotFound);
  EXPECT_FALSE(fs::exists(dir + "/" + id + ".ctx"));
}

TEST_F(ContextRegistryTest, PinsKeepSnapshotsAliveUnderEvictionPressure) {
  // Measure one snapshot's record bytes, then make a store that holds about three of them.
  const auto pinned_tokens = Tokens("The pinned context must survive this flood of prompts.");
  const auto length = pinned_tokens.size();
  auto same_length = [&](int i) {
    std::string text = "Filler prompt number " + std::to_string(i) + " ";
    while (text.size() < length) text += static_cast<char>('a' + (i % 26));
    return Tokens(text.substr(0, length));
  };
  size_t per_snapshot = 0;
  {
    auto probe = NewCache();
    StoreSnapshot(*probe, Ns("a"), pinned_tokens);
    per_snapshot = probe->store().Stats().bytes_stored;
  }
  ASSERT_GT(per_snapshot, 0u);
  auto cache = NewCache(per_snapshot * 3 + per_snapshot / 2);
  StoreSnapshot(*cache, Ns("a"), pinned_tokens);
  const auto expiring_tokens = same_length(1000);
  StoreSnapshot(*cache, Ns("a"), expiring_tokens);
  auto registry = Open(*cache);
  auto pinned = registry->Create(Ns("a"), pinned_tokens, 3600);
  auto expiring = registry->Create(Ns("a"), expiring_tokens, 60);
  ASSERT_TRUE(pinned.ok() && expiring.ok());
  const auto unpinned_tokens = same_length(2000);
  StoreSnapshot(*cache, Ns("a"), unpinned_tokens);

  for (int i = 0; i < 12; ++i) StoreSnapshot(*cache, Ns("a"), same_length(i));
  EXPECT_GT(cache->store().Stats().evictions, 0u);
  EXPECT_TRUE(cache->HasSnapshot(Ns("a"), pinned_tokens));
  EXPECT_TRUE(cache->HasSnapshot(Ns("a"), expiring_tokens));
  EXPECT_FALSE(cache->HasSnapshot(Ns("a"), unpinned_tokens));
  auto restored = cache->Lookup(Ns("a"), pinned_tokens, static_cast<int64_t>(length));
  ASSERT_TRUE(restored.ok()) << restored.status().ToString();
  EXPECT_EQ(restored->position, static_cast<int64_t>(length));

  // Once the second context expires (lazily, on the next call), its snapshot is unpinned and
  // the flood evicts it; the first stays pinned.
  clock_.Advance(60);
  EXPECT_EQ(registry->size(), 1u);
  for (int i = 100; i < 112; ++i) StoreSnapshot(*cache, Ns("a"), same_length(i));
  EXPECT_FALSE(cache->HasSnapshot(Ns("a"), expiring_tokens));
  EXPECT_TRUE(cache->HasSnapshot(Ns("a"), pinned_tokens));
  EXPECT_TRUE(cache->Lookup(Ns("a"), pinned_tokens, static_cast<int64_t>(length)).ok());
}

}  // namespace
}  // namespace gf
