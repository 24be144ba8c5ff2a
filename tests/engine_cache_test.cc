// The serving engine with the prefix cache, on the built-in model: greedy output with the cache
// equals greedy output without it for many prompt pairs that share prefixes of different lengths
// (from the memory tier, and from the disk tier after the engine and its cache are recreated);
// cached_tokens is exactly the longest stored snapshot position the pair shares; per-request
// opt-out and namespaces; a cancelled request still stores its prefix.
#include <gtest/gtest.h>

#include <algorithm>
#include <condition_variable>
#include <mutex>
#include <random>

#include "cache_store/disk_store.h"
#include "cache_store/memory_store.h"
#include "cache_store/tiered_store.h"
#include "engine/model/goldfinch.h"
#include "engine/serving/engine.h"
#include "engine/serving/hot_kv_cache.h"
#include "engine/tokenizer/tokenizer.h"
#include "tests/engine_fixture.h"
#include "tests/test_support.h"

namespace gf::testing {
namespace {

PrefixCacheOptions SmallPolicy() {
  PrefixCacheOptions options;
  options.min_snapshot_tokens = 16;
  options.snapshot_interval = 128;
  options.ladder_min = 16;
  options.ladder_align = 8;
  return options;
}

Sha256Digest TestFingerprint() { return Sha256Hash("engine_cache_test model"); }

std::shared_ptr<PrefixCache> MakeCache(std::unique_ptr<cache::CacheStore> store,
                                       const GoldFinchModel& model) {
  auto cache = PrefixCache::Create(std::move(store), model.config(), model.kv_dtype(),
                                   TestFingerprint(), SmallPolicy());
  EXPECT_TRUE(cache.ok()) << cache.status().ToString();
  return cache.ok() ? std::shared_ptr<PrefixCache>(std::move(*cache)) : nullptr;
}

std::unique_ptr<Engine> MakeEngine(std::shared_ptr<PrefixCache> cache,
                                   std::unique_ptr<GoldFinchModel> model,
                                   uint64_t hot_kv_bytes = 0) {
  EngineOptions options;
  options.hot_kv_bytes = hot_kv_bytes;
  options.scheduler.max_running = 8;
  options.scheduler.token_budget = 96;
  options.scheduler.max_prefill_chunk = 64;
  options.prefix_cache = std::move(cache);
  auto tokenizer = MakeTokenizer("byte", "");
  EXPECT_TRUE(tokenizer.ok());
  auto engine = Engine::Create(std::move(model), std::move(*tokenizer), options);
  EXPECT_TRUE(engine.ok()) << engine.status().ToString();
  return engine.ok() ? std::move(*engine) : nullptr;
}

std::vector<TokenId> RandomText(std::mt19937& rng, size_t n) {
  static const std::string alphabet = "abcdefghijklmnopqrstuvwxyz      ,.\n";
  std::vector<TokenId> ids;
  for (size_t i = 0; i < n; ++i) {
    ids.push_back(
        static_cast<TokenId>(static_cast<unsigned char>(alphabet[rng() % alphabet.size()])) + 1);
  }
  return ids;
}

struct RunResult {
  std::vector<TokenId> tokens;
  int64_t cached_tokens = -1;
};

RunResult Generate(Engine& engine, const std::vector<TokenId>& prompt, int max_tokens,
                   const Sha256Digest& salt = {}, bool enabled = true) {
  GenerateRequest request;
  request.prompt = prompt;
  request.max_tokens = max_tokens;
  request.sampling.temperature = 0.0f;
  request.ignore_eos = false;
  request.cache.salt_hash = salt;
  request.cache.enabled = enabled;
  auto sink = std::make_shared<CollectingSink>();
  auto id = engine.Submit(request, sink);
  EXPECT_TRUE(id.ok()) << id.status().ToString();
  if (!id.ok()) return {};
  EXPECT_TRUE(sink->WaitFinal());
  EXPECT_TRUE(engine.WaitForCacheWrites(std::chrono::seconds(60)));
  return {sink->Tokens(), sink->Last().cached_tokens};
}

// The snapshot positions a completed request leaves: the policy's positions inside the prompt
// plus the final state (prompt + generated tokens except the last).
std::vector<int64_t> StoredPositions(const PrefixCache& cache, const std::vector<TokenId>& prompt,
                                     const std::vector<TokenId>& generated) {
  std::vector<int64_t> positions =
      const_cast<PrefixCache&>(cache).SnapshotPositions(static_cast<int64_t>(prompt.size()), {});
  if (!generated.empty()) {
    positions.push_back(static_cast<int64_t>(prompt.size() + generated.size()) - 1);
  }
  return positions;
}

int64_t ExpectedCached(const std::vector<int64_t>& stored, int64_t shared, int64_t prompt_len,
                       int64_t min_tokens) {
  int64_t best = 0;
  for (int64_t p : stored) {
    if (p <= shared && p <= prompt_len - 1 && p >= min_tokens) best = std::max(best, p);
  }
  return best;
}

// Parameter: the hot K/V tier's budget (0 = every restore rebuilds its K/V from the compressed
// rows; otherwise restores copy K/V from kept finished states when they can).
class EngineCacheEquivalenceTest : public ::testing::TestWithParam<uint64_t> {};

TEST_P(EngineCacheEquivalenceTest, SharedPrefixesGiveTheUncachedOutputFromMemory) {
  auto reference = LoadBuiltinModel();
  ASSERT_NE(reference, nullptr);
  auto model = LoadBuiltinModel();
  auto cache = MakeCache(
      std::make_unique<cache::MemoryStore>(cache::MemoryStoreOptions{uint64_t{1} << 30}), *model);
  ASSERT_NE(cache, nullptr);
  auto engine = MakeEngine(cache, std::move(model), GetParam());
  ASSERT_NE(engine, nullptr);

  std::mt19937 rng(1234);
  int hits = 0;
  for (int round = 0; round < 6; ++round) {
    // A fresh base prompt per round (a different first token keeps rounds apart).
    std::vector<TokenId> base = RandomText(rng, 150 + 60 * static_cast<size_t>(round));
    base[0] = static_cast<TokenId>('A' + round + 1);
    const RunResult first = Generate(*engine, base, 8);
    ASSERT_EQ(first.tokens, DirectGreedy(*reference, base, 8)) << "round " << round;
    EXPECT_EQ(first.cached_tokens, 0);
    const std::vector<int64_t> stored = StoredPositions(*cache, base, first.tokens);
    // Prompts sharing k tokens of the base, then diverging (k inside a "word", at the end, and
    // beyond it: the same prompt again and the prompt extended by its own output).
    const size_t ks[] = {
        10, 17, 40, 97, base.size() / 2 + 3, base.size() - 20, base.size() - 1, base.size()};
    for (size_t k : ks) {
      std::vector<TokenId> prompt(base.begin(), base.begin() + static_cast<std::ptrdiff_t>(k));
      if (k < base.size()) {
        const std::vector<TokenId> tail = RandomText(rng, 5 + rng() % 30);
        prompt.insert(prompt.end(), tail.begin(), tail.end());
        if (prompt[k] == base[k]) prompt[k] = prompt[k] == 'q' + 1 ? 'z' + 1 : 'q' + 1;
      }
      // Stored positions of *this* namespace that are prefixes of `prompt` (stores of the
      // earlier ks in this loop add more).
      const RunResult got = Generate(*engine, prompt, 8);
      ASSERT_EQ(got.tokens, DirectGreedy(*reference, prompt, 8)) << "round " << round << " k " << k;
      EXPECT_GE(got.cached_tokens,
                ExpectedCached(stored, static_cast<int64_t>(k), static_cast<int64_t>(prompt.size()),
                               SmallPolicy().min_snapshot_tokens))
          << "round " << round << " k " << k;
      EXPECT_LE(got.cached_tokens, static_cast<int64_t>(std::min(k, prompt.size() - 1)));
      if (got.cached_tokens > 0) ++hits;
    }
    // The base followed by its own continuation hits the final-state snapshot exactly.
    std::vector<TokenId> extended = base;
    extended.insert(extended.end(), first.tokens.begin(), first.tokens.end());
    extended.push_back('\n' + 1);
    const RunResult cont = Generate(*engine, extended, 4);
    EXPECT_EQ(cont.tokens, DirectGreedy(*reference, extended, 4));
    EXPECT_EQ(cont.cached_tokens, static_cast<int64_t>(base.size() + first.tokens.size()) - 1);
  }
  EXPECT_GE(hits, 30);
  const auto stats = engine->CacheStats();
  ASSERT_TRUE(stats.has_value());
  EXPECT_GT(stats->cache.hits, 0u);
  EXPECT_EQ(stats->cache.misses[static_cast<int>(CacheMissReason::kCorrupt)], 0u);
  if (GetParam() == 0) {
    EXPECT_GT(stats->rematerialize_tokens, 0u);
    EXPECT_EQ(stats->hot.hits, 0u);
  } else {
    // Every restored prefix here is a prefix of an earlier, kept, finished state.
    EXPECT_EQ(stats->rematerialize_tokens, 0u);
    EXPECT_GE(stats->hot.hits, static_cast<uint64_t>(hits));
  }
}

INSTANTIATE_TEST_SUITE_P(HotTier, EngineCacheEquivalenceTest,
                         ::testing::Values(uint64_t{0}, uint64_t{1} << 30));

// The hot tier alone: namespaces, token prefixes, replacement of covered states, the budget.
TEST(HotKvCacheTest, CopiesKvOnlyForTheSameNamespaceAndTokens) {
  auto model = LoadBuiltinModel();
  ASSERT_NE(model, nullptr);
  std::mt19937 rng(5);
  const std::vector<TokenId> prompt = RandomText(rng, 80);
  auto prefilled = [&](size_t n) {
    SequenceState state = model->NewState();
    std::vector<float> logits;
    EXPECT_TRUE(model->Prefill(state, std::span(prompt).first(n), PrefillOptions{}, &logits).ok());
    return state;
  };
  const Sha256Digest a = Sha256Hash("a"), b = Sha256Hash("b");
  const uint64_t one =
      prefilled(80).kv_bytes() + prefilled(80).token_bytes() + prefilled(80).recurrent_bytes();
  HotKvCache hot(2 * one + one / 2);
  hot.Offer(a, prefilled(60), 16);
  hot.Offer(a, prefilled(80), 16);  // covers the 60-token state: replaces it
  EXPECT_EQ(hot.stats().entries, 1u);
  hot.Offer(a, prefilled(70), 16);  // covered by the kept 80-token state: not kept
  hot.Offer(a, prefilled(10), 16);  // below min_tokens
  EXPECT_EQ(hot.stats().entries, 1u);

  // A restored 50-token prefix (no K/V) takes rows 0..50 by copy from the kept 80-token state;
  // they equal those of a 50-token prefill up to rounding.
  SequenceState original = prefilled(50);
  auto restore = [&](const SequenceState& from) {
    auto parts = SequenceState::FromParts(model->config(), model->kv_dtype(), from.tokens(),
                                          from.compressed_rows(), from.SerializeRecurrent());
    EXPECT_TRUE(parts.ok()) << parts.status().ToString();
    return std::move(*parts);
  };
  SequenceState copied = restore(original);
  EXPECT_FALSE(hot.FillKv(b, copied));  // another namespace
  EXPECT_EQ(copied.kv_rows(), 0);
  ASSERT_TRUE(hot.FillKv(a, copied));
  ASSERT_EQ(copied.kv_rows(), 50);
  for (int g = 0; g < original.n_gold(); ++g) {
    const auto* x = original.keys(g).ptr<float>();
    const auto* y = copied.keys(g).ptr<float>();
    for (int64_t i = 0; i < 50 * model->config().dim_att; ++i) ASSERT_NEAR(x[i], y[i], 1e-5);
  }
  // Different tokens at position 3: no match.
  std::vector<TokenId> other(prompt.begin(), prompt.begin() + 50);
  other[3] = other[3] == 'x' + 1 ? 'y' + 1 : 'x' + 1;
  SequenceState other_state = model->NewState();
  std::vector<float> logits;
  ASSERT_TRUE(model->Prefill(other_state, other, PrefillOptions{}, &logits).ok());
  SequenceState other_restored = restore(other_state);
  EXPECT_FALSE(hot.FillKv(a, other_restored));
  // The budget: a third state evicts the least recently used one.
  hot.Offer(b, prefilled(80), 16);
  hot.Offer(b, std::move(other_state), 16);
  EXPECT_EQ(hot.stats().entries, 2u);
  EXPECT_EQ(hot.stats().evictions, 1u);
  EXPECT_EQ(hot.stats().hits, 1u);
  EXPECT_EQ(hot.stats().misses, 2u);
}

TEST(EngineCacheTest, DiskTierServesAfterTheEngineIsRecreated) {
  const std::string dir = MakeTempDir("engine_cache_disk");
  auto reference = LoadBuiltinModel();
  std::mt19937 rng(99);
  std::vector<TokenId> document = RandomText(rng, 300);
  std::vector<TokenId> q1 = document, q2 = document;
  for (TokenId t : RandomText(rng, 12)) q1.push_back(t);
  for (TokenId t : RandomText(rng, 9)) q2.push_back(t);
  auto tiered = [&](uint64_t memory_budget) {
    cache::DiskStoreOptions disk;
    disk.directory = dir;
    auto store = cache::DiskStore::Open(disk);
    EXPECT_TRUE(store.ok()) << store.status().ToString();
    return std::make_unique<cache::TieredStore>(
        std::make_unique<cache::MemoryStore>(cache::MemoryStoreOptions{memory_budget}),
        std::move(*store));
  };
  {
    auto model = LoadBuiltinModel();
    auto first_cache = MakeCache(tiered(uint64_t{1} << 30), *model);
    auto engine = MakeEngine(first_cache, std::move(model));
    const RunResult cold = Generate(*engine, q1, 6);
    EXPECT_EQ(cold.cached_tokens, 0);
    EXPECT_EQ(cold.tokens, DirectGreedy(*reference, q1, 6));
  }  // engine, cache and stores closed: only the files remain
  auto model = LoadBuiltinModel();
  auto cache = MakeCache(tiered(uint64_t{1} << 30), *model);
  auto engine = MakeEngine(cache, std::move(model));
  const RunResult warm = Generate(*engine, q2, 6);
  EXPECT_EQ(warm.tokens, DirectGreedy(*reference, q2, 6));
  // The tail ladder put a snapshot within a question's length of the document's end.
  EXPECT_GT(warm.cached_tokens, static_cast<int64_t>(document.size()) - 40);
  EXPECT_LE(warm.cached_tokens, static_cast<int64_t>(document.size()));
  const PrefixCacheStats stats = cache->Stats();
  EXPECT_EQ(stats.tiers[static_cast<int>(CacheTier::kDisk)].hits, 1u);
  EXPECT_EQ(stats.tiers[static_cast<int>(CacheTier::kMemory)].hits, 0u);
  // The same again now hits the memory tier (promoted).
  const RunResult again = Generate(*engine, q2, 6);
  EXPECT_EQ(again.tokens, warm.tokens);
  EXPECT_EQ(cache->Stats().tiers[static_cast<int>(CacheTier::kMemory)].hits, 1u);
}

// Restored prefixes get their K/V on the cache thread (a rebuild here: no hot tier) while the
// engine thread keeps stepping a decoding stream: every output still equals the uncached greedy
// run, and the rebuilt rows are counted.
TEST(EngineCacheTest, KvRebuildsRunBesideADecodingStream) {
  auto reference = LoadBuiltinModel();
  auto model = LoadBuiltinModel();
  auto cache = MakeCache(
      std::make_unique<cache::MemoryStore>(cache::MemoryStoreOptions{uint64_t{1} << 30}), *model);
  auto engine = MakeEngine(cache, std::move(model), /*hot_kv_bytes=*/0);
  std::mt19937 rng(5);
  const std::vector<TokenId> document = RandomText(rng, 700);
  std::vector<TokenId> first = document;
  for (TokenId t : RandomText(rng, 10)) first.push_back(t);
  ASSERT_EQ(Generate(*engine, first, 2).cached_tokens, 0);

  // A long-running stream, then questions about the document while it decodes.
  const std::vector<TokenId> other = RandomText(rng, 40);
  GenerateRequest stream_request;
  stream_request.prompt = other;
  stream_request.max_tokens = 48;
  stream_request.sampling.temperature = 0.0f;
  stream_request.ignore_eos = true;  // (so it surely runs 48 steps)
  stream_request.cache.enabled = false;
  auto stream = std::make_shared<CollectingSink>();
  ASSERT_TRUE(engine->Submit(stream_request, stream).ok());
  ASSERT_TRUE(stream->WaitEvents(1));  // decoding
  std::vector<std::vector<TokenId>> questions;
  std::vector<std::shared_ptr<CollectingSink>> sinks;
  for (int q = 0; q < 3; ++q) {
    questions.push_back(document);
    for (TokenId t : RandomText(rng, 8 + q)) questions.back().push_back(t);
    GenerateRequest request;
    request.prompt = questions.back();
    request.max_tokens = 5;
    request.sampling.temperature = 0.0f;
    request.ignore_eos = false;
    sinks.push_back(std::make_shared<CollectingSink>());
    ASSERT_TRUE(engine->Submit(request, sinks.back()).ok());
  }
  for (int q = 0; q < 3; ++q) {
    ASSERT_TRUE(sinks[static_cast<size_t>(q)]->WaitFinal());
    EXPECT_EQ(sinks[static_cast<size_t>(q)]->Tokens(),
              DirectGreedy(*reference, questions[static_cast<size_t>(q)], 5))
        << "question " << q;
    EXPECT_GT(sinks[static_cast<size_t>(q)]->Last().cached_tokens, 600) << "question " << q;
  }
  ASSERT_TRUE(stream->WaitFinal());
  // The uncached greedy run of the stream, not stopping at eos.
  std::vector<TokenId> direct;
  SequenceState state = reference->NewState();
  std::vector<float> logits;
  ASSERT_TRUE(reference->Prefill(state, other, PrefillOptions{}, &logits).ok());
  for (int i = 0; i < 48; ++i) {
    direct.push_back(
        static_cast<TokenId>(std::max_element(logits.begin(), logits.end()) - logits.begin()));
    SequenceState* states[] = {&state};
    ASSERT_TRUE(
        reference->DecodeStep(states, std::span<const TokenId>(&direct.back(), 1), &logits).ok());
  }
  EXPECT_EQ(stream->Tokens(), direct);
  const auto stats = engine->CacheStats();
  ASSERT_TRUE(stats.has_value());
  EXPECT_GE(stats->rematerialize_tokens, 3u * 600u);
}

TEST(EngineCacheTest, OptOutAndNamespaces) {
  auto reference = LoadBuiltinModel();
  auto model = LoadBuiltinModel();
  auto cache = MakeCache(
      std::make_unique<cache::MemoryStore>(cache::MemoryStoreOptions{uint64_t{1} << 30}), *model);
  auto engine = MakeEngine(cache, std::move(model));
  std::mt19937 rng(7);
  const std::vector<TokenId> prompt = RandomText(rng, 120);
  const Sha256Digest tenant_a = Sha256Hash("a"), tenant_b = Sha256Hash("b");
  const RunResult a = Generate(*engine, prompt, 4, tenant_a);
  EXPECT_EQ(a.cached_tokens, 0);
  // The final snapshot (prompt + generated tokens but the last) was queued before the final
  // event, so WaitForCacheWrites after that event covers it.
  std::vector<TokenId> final_tokens = prompt;
  final_tokens.insert(final_tokens.end(), a.tokens.begin(), a.tokens.end() - 1);
  EXPECT_TRUE(cache->HasSnapshot(CacheNamespace{tenant_a}, final_tokens));
  EXPECT_FALSE(cache->HasSnapshot(CacheNamespace{tenant_b}, final_tokens));
  const RunResult b = Generate(*engine, prompt, 4, tenant_b);
  EXPECT_EQ(b.cached_tokens, 0);  // another namespace never sees A's entries
  EXPECT_EQ(b.tokens, DirectGreedy(*reference, prompt, 4));
  EXPECT_EQ(Generate(*engine, prompt, 4, tenant_a).cached_tokens,
            static_cast<int64_t>(prompt.size()) - 1);
  // Opt-out: no lookup (counted as disabled) and nothing stored.
  const uint64_t stored_before = cache->Stats().snapshots_stored;
  const RunResult off = Generate(*engine, prompt, 4, tenant_a, /*enabled=*/false);
  EXPECT_EQ(off.cached_tokens, 0);
  EXPECT_EQ(off.tokens, b.tokens);
  EXPECT_EQ(cache->Stats().misses[static_cast<int>(CacheMissReason::kDisabled)], 1u);
  EXPECT_EQ(cache->Stats().snapshots_stored, stored_before);
}

TEST(EngineCacheTest, CancelledRequestStoresItsPrefix) {
  auto model = LoadBuiltinModel();
  auto cache = MakeCache(
      std::make_unique<cache::MemoryStore>(cache::MemoryStoreOptions{uint64_t{1} << 30}), *model);
  auto engine = MakeEngine(cache, std::move(model));
  std::mt19937 rng(3);
  const std::vector<TokenId> prompt = RandomText(rng, 100);
  GenerateRequest request;
  request.prompt = prompt;
  request.max_tokens = 400;
  request.ignore_eos = true;
  request.sampling.temperature = 0.0f;
  auto sink = std::make_shared<CollectingSink>();
  auto id = engine->Submit(request, sink);
  ASSERT_TRUE(id.ok());
  ASSERT_TRUE(sink->WaitEvents(3));
  engine->Cancel(*id);
  ASSERT_TRUE(sink->WaitFinal());
  EXPECT_EQ(sink->Last().finish, FinishReason::kCancelled);
  ASSERT_TRUE(engine->WaitForCacheWrites(std::chrono::seconds(60)));
  const std::vector<TokenId> generated = sink->Tokens();
  ASSERT_GE(generated.size(), 3u);
  // The client comes back with the prompt plus what it had received so far.
  std::vector<TokenId> resumed = prompt;
  resumed.insert(resumed.end(), generated.begin(), generated.end());
  const RunResult got = Generate(*engine, resumed, 2);
  EXPECT_GE(got.cached_tokens, static_cast<int64_t>(resumed.size()) - 2);
}

}  // namespace
}  // namespace gf::testing
