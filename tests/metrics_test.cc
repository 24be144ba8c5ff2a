// ServerMetrics (server/metrics.h): the text exposition, the engine series copied at scrape time,
// the prefix-cache series (every label from the start, exact values from EngineCacheStats, the
// restore histogram rebuilt from cumulative buckets), `promtool check metrics` acceptance, and the
// cache series of a real engine with a prefix cache.
#include "server/metrics.h"

#include <gtest/gtest.h>

#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <limits>
#include <mutex>
#include <sstream>
#include <string>
#include <vector>

#include "cache_store/memory_store.h"
#include "engine/model/goldfinch.h"
#include "engine/serving/engine.h"
#include "engine/tokenizer/tokenizer.h"
#include "tests/test_support.h"

namespace gf::server {
namespace {

bool HasLine(const std::string& text, const std::string& line) {
  std::istringstream lines(text);
  std::string l;
  while (std::getline(lines, l)) {
    if (l == line) return true;
  }
  return false;
}

// The value of the sample `series` (name with labels, exactly as printed), or NaN when absent.
double Value(const std::string& text, const std::string& series) {
  std::istringstream lines(text);
  std::string l;
  while (std::getline(lines, l)) {
    if (l.size() > series.size() && l.compare(0, series.size(), series) == 0 &&
        l[series.size()] == ' ') {
      return std::stod(l.substr(series.size() + 1));
    }
  }
  return std::numeric_limits<double>::quiet_NaN();
}

// Runs `promtool check metrics` on `text`; "" when it passes, else its output. Skips the caller
// (via *available = false) when promtool is not installed.
std::string PromtoolProblems(const std::string& text, bool* available) {
  *available = std::system("command -v promtool > /dev/null 2>&1") == 0;
  if (!*available) return "";
  const std::string dir = testing::MakeTempDir("gf-metrics-test");
  const std::string in = dir + "/metrics.txt";
  const std::string out = dir + "/promtool.txt";
  std::ofstream(in, std::ios::binary) << text;
  const int rc = std::system(("promtool check metrics < " + in + " > " + out + " 2>&1").c_str());
  std::ifstream result(out);
  std::stringstream output;
  output << result.rdbuf();
  return rc == 0 ? "" : "exit " + std::to_string(rc) + ": " + output.str();
}

EngineCacheStats SampleCacheStats() {
  EngineCacheStats s;
  PrefixCacheStats& c = s.cache;
  auto& memory = c.tiers[static_cast<size_t>(CacheTier::kMemory)];
  auto& disk = c.tiers[static_cast<size_t>(CacheTier::kDisk)];
  memory = {10, 4, 400, 5000, 7000, 6000, 12, 2, 1, 0};
  disk = {6, 3, 900, 8000, 7000, 90000, 40, 5, 2, 3};
  c.lookups = 10;
  c.hits = 7;
  c.hit_tokens = 1300;
  c.misses = {1, 2, 0, 3, 0, 4};
  c.snapshots_stored = 11;
  c.segments_stored = 9;
  c.snapshot_bytes = 2000;
  c.segment_bytes = 6000;
  c.segment_tokens = 1000;
  c.store_failures = 1;
  c.restore_seconds_sum = 0.75;
  c.restore_count = 7;
  c.restore_buckets = {0, 1, 1, 2, 3, 4, 5, 6, 6, 6};  // one restore took longer than 1 s
  s.captures_dropped = 13;
  s.pending_store_bytes = 4096;
  s.rematerialize_tokens = 777;
  s.rematerialize_seconds = 1.5;
  return s;
}

TEST(MetricsTest, CacheSeriesArePresentFromTheStart) {
  ServerMetrics metrics;
  const std::string text = metrics.Serialize(nullptr);
  for (const char* tier : {"memory", "disk"}) {
    const std::string label = std::string("{tier=\"") + tier + "\"}";
    for (const char* name :
         {"goldfinch_cache_lookups_total", "goldfinch_cache_hits_total",
          "goldfinch_cache_hit_tokens_total", "goldfinch_cache_bytes", "goldfinch_cache_entries",
          "goldfinch_cache_read_bytes_total", "goldfinch_cache_written_bytes_total",
          "goldfinch_cache_evictions_total", "goldfinch_cache_write_failures_total",
          "goldfinch_cache_corrupt_records_total"}) {
      EXPECT_TRUE(HasLine(text, std::string(name) + label + " 0")) << name << label;
    }
  }
  for (const char* reason :
       {"no_entry", "token_mismatch", "fingerprint_mismatch", "corrupt", "evicted", "disabled"}) {
    EXPECT_TRUE(
        HasLine(text, std::string("goldfinch_cache_misses_total{reason=\"") + reason + "\"} 0"))
        << reason;
  }
  for (const char* name :
       {"goldfinch_cache_snapshots_stored_total", "goldfinch_cache_segments_stored_total",
        "goldfinch_cache_store_failures_total", "goldfinch_cache_captures_dropped_total",
        "goldfinch_cache_pending_store_bytes", "goldfinch_cache_rematerialized_tokens_total",
        "goldfinch_cache_rematerialize_seconds_total", "goldfinch_cache_row_bytes_per_token",
        "goldfinch_cache_bytes_per_token", "goldfinch_cache_restore_seconds_count",
        "goldfinch_cache_restore_seconds_sum", "goldfinch_contexts",
        "goldfinch_contexts_created_total", "goldfinch_contexts_deleted_total",
        "goldfinch_contexts_expired_total", "goldfinch_contexts_lost_total"}) {
    EXPECT_TRUE(HasLine(text, std::string(name) + " 0")) << name;
  }
  EXPECT_TRUE(HasLine(text, "goldfinch_cache_restore_seconds_bucket{le=\"+Inf\"} 0"));
  EXPECT_TRUE(HasLine(text, "# TYPE goldfinch_cache_restore_seconds histogram"));
  EXPECT_TRUE(HasLine(text, "# TYPE goldfinch_cache_misses_total counter"));
  EXPECT_TRUE(HasLine(text, "# TYPE goldfinch_cache_bytes gauge"));
  // The older series are still there.
  EXPECT_TRUE(HasLine(text, "goldfinch_num_requests_running 0"));
  bool promtool = false;
  EXPECT_EQ(PromtoolProblems(text, &promtool), "");
}

TEST(MetricsTest, CacheSeriesCarryTheEngineValues) {
  ServerMetrics metrics;
  EngineStats engine;
  engine.running = 3;
  engine.waiting = 2;
  engine.prompt_tokens_total = 50;
  const std::string text = metrics.SerializeStats(&engine, SampleCacheStats());
  EXPECT_EQ(Value(text, "goldfinch_num_requests_running"), 3);
  EXPECT_EQ(Value(text, "goldfinch_prompt_tokens_total"), 50);

  EXPECT_EQ(Value(text, "goldfinch_cache_lookups_total{tier=\"memory\"}"), 10);
  EXPECT_EQ(Value(text, "goldfinch_cache_lookups_total{tier=\"disk\"}"), 6);
  EXPECT_EQ(Value(text, "goldfinch_cache_hits_total{tier=\"memory\"}"), 4);
  EXPECT_EQ(Value(text, "goldfinch_cache_hits_total{tier=\"disk\"}"), 3);
  EXPECT_EQ(Value(text, "goldfinch_cache_hit_tokens_total{tier=\"memory\"}"), 400);
  EXPECT_EQ(Value(text, "goldfinch_cache_hit_tokens_total{tier=\"disk\"}"), 900);
  EXPECT_EQ(Value(text, "goldfinch_cache_read_bytes_total{tier=\"memory\"}"), 5000);
  EXPECT_EQ(Value(text, "goldfinch_cache_read_bytes_total{tier=\"disk\"}"), 8000);
  EXPECT_EQ(Value(text, "goldfinch_cache_written_bytes_total{tier=\"disk\"}"), 7000);
  EXPECT_EQ(Value(text, "goldfinch_cache_bytes{tier=\"memory\"}"), 6000);
  EXPECT_EQ(Value(text, "goldfinch_cache_bytes{tier=\"disk\"}"), 90000);
  EXPECT_EQ(Value(text, "goldfinch_cache_entries{tier=\"memory\"}"), 12);
  EXPECT_EQ(Value(text, "goldfinch_cache_entries{tier=\"disk\"}"), 40);
  EXPECT_EQ(Value(text, "goldfinch_cache_evictions_total{tier=\"memory\"}"), 2);
  EXPECT_EQ(Value(text, "goldfinch_cache_evictions_total{tier=\"disk\"}"), 5);
  EXPECT_EQ(Value(text, "goldfinch_cache_write_failures_total{tier=\"memory\"}"), 1);
  EXPECT_EQ(Value(text, "goldfinch_cache_write_failures_total{tier=\"disk\"}"), 2);
  EXPECT_EQ(Value(text, "goldfinch_cache_corrupt_records_total{tier=\"memory\"}"), 0);
  EXPECT_EQ(Value(text, "goldfinch_cache_corrupt_records_total{tier=\"disk\"}"), 3);
  EXPECT_EQ(Value(text, "goldfinch_cache_misses_total{reason=\"no_entry\"}"), 1);
  EXPECT_EQ(Value(text, "goldfinch_cache_misses_total{reason=\"token_mismatch\"}"), 2);
  EXPECT_EQ(Value(text, "goldfinch_cache_misses_total{reason=\"fingerprint_mismatch\"}"), 0);
  EXPECT_EQ(Value(text, "goldfinch_cache_misses_total{reason=\"corrupt\"}"), 3);
  EXPECT_EQ(Value(text, "goldfinch_cache_misses_total{reason=\"evicted\"}"), 0);
  EXPECT_EQ(Value(text, "goldfinch_cache_misses_total{reason=\"disabled\"}"), 4);
  EXPECT_EQ(Value(text, "goldfinch_cache_snapshots_stored_total"), 11);
  EXPECT_EQ(Value(text, "goldfinch_cache_segments_stored_total"), 9);
  EXPECT_EQ(Value(text, "goldfinch_cache_store_failures_total"), 1);
  EXPECT_EQ(Value(text, "goldfinch_cache_captures_dropped_total"), 13);
  EXPECT_EQ(Value(text, "goldfinch_cache_pending_store_bytes"), 4096);
  EXPECT_EQ(Value(text, "goldfinch_cache_rematerialized_tokens_total"), 777);
  EXPECT_EQ(Value(text, "goldfinch_cache_rematerialize_seconds_total"), 1.5);
  EXPECT_EQ(Value(text, "goldfinch_cache_row_bytes_per_token"), 6.0);  // 6000 / 1000
  EXPECT_EQ(Value(text, "goldfinch_cache_bytes_per_token"), 8.0);      // (6000 + 2000) / 1000

  // The histogram: the stats' cumulative buckets as they are, +Inf = the count.
  const std::vector<std::pair<std::string, int>> buckets = {
      {"0.001", 0}, {"0.0025", 1}, {"0.005", 1}, {"0.01", 2}, {"0.025", 3}, {"0.05", 4},
      {"0.1", 5},   {"0.25", 6},   {"0.5", 6},   {"1", 6},    {"+Inf", 7}};
  for (const auto& [le, count] : buckets) {
    EXPECT_EQ(Value(text, "goldfinch_cache_restore_seconds_bucket{le=\"" + le + "\"}"), count)
        << le << "\n"
        << text;
  }
  EXPECT_EQ(Value(text, "goldfinch_cache_restore_seconds_count"), 7);
  EXPECT_EQ(Value(text, "goldfinch_cache_restore_seconds_sum"), 0.75);
  const std::string inf = "goldfinch_cache_restore_seconds_bucket{le=\"+Inf\"}";
  EXPECT_EQ(text.find(inf), text.rfind(inf)) << "exactly one +Inf bucket";

  // Counters move with the engine's values (no deltas kept): a later scrape shows the new totals.
  EngineCacheStats later = SampleCacheStats();
  later.cache.tiers[0].hits = 40;
  const std::string next = metrics.SerializeStats(&engine, later);
  EXPECT_EQ(Value(next, "goldfinch_cache_hits_total{tier=\"memory\"}"), 40);
  // Without a cache (or while loading) the series read 0 again.
  EXPECT_EQ(Value(metrics.SerializeStats(nullptr, std::nullopt),
                  "goldfinch_cache_hits_total{tier=\"memory\"}"),
            0);

  bool promtool = false;
  EXPECT_EQ(PromtoolProblems(text, &promtool), "");
  if (!promtool) GTEST_SKIP() << "promtool is not installed: the lint was not run";
}

class CollectingSink : public RequestSink {
 public:
  void OnEvent(GenerateEvent event) override {
    std::lock_guard<std::mutex> lock(mu_);
    if (event.finish != FinishReason::kNone) {
      done_ = true;
      last_ = std::move(event);
    }
    cv_.notify_all();
  }
  GenerateEvent WaitFinal() {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait_for(lock, std::chrono::seconds(120), [this] { return done_; });
    return last_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool done_ = false;
  GenerateEvent last_;
};

TEST(MetricsTest, ContextSeriesCarryTheRegistryValues) {
  ServerMetrics metrics;
  ContextStats contexts;
  contexts.live = 3;
  contexts.created = 9;
  contexts.deleted = 4;
  contexts.expired = 1;
  contexts.lost = 1;
  const std::string text = metrics.SerializeStats(nullptr, std::nullopt, contexts);
  EXPECT_EQ(Value(text, "goldfinch_contexts"), 3);
  EXPECT_EQ(Value(text, "goldfinch_contexts_created_total"), 9);
  EXPECT_EQ(Value(text, "goldfinch_contexts_deleted_total"), 4);
  EXPECT_EQ(Value(text, "goldfinch_contexts_expired_total"), 1);
  EXPECT_EQ(Value(text, "goldfinch_contexts_lost_total"), 1);
  EXPECT_TRUE(HasLine(text, "# TYPE goldfinch_contexts gauge"));
  EXPECT_TRUE(HasLine(text, "# TYPE goldfinch_contexts_created_total counter"));
  bool promtool = false;
  EXPECT_EQ(PromtoolProblems(text, &promtool), "");
}

TEST(MetricsTest, ScrapesTheCacheOfARealEngine) {
  auto model = GoldFinchModel::Load(testing::SourceDir() + "/models/goldfinch-byte-small",
                                    WeightLoadOptions{});
  ASSERT_TRUE(model.ok()) << model.status().ToString();
  auto tokenizer = MakeTokenizer("byte", "");
  ASSERT_TRUE(tokenizer.ok());
  PrefixCacheOptions policy;
  policy.min_snapshot_tokens = 16;
  auto cache = PrefixCache::Create(
      std::make_unique<cache::MemoryStore>(cache::MemoryStoreOptions{size_t{64} << 20}),
      (*model)->config(), (*model)->kv_dtype(), Sha256Hash("metrics_test"), policy);
  ASSERT_TRUE(cache.ok()) << cache.status().ToString();
  EngineOptions options;
  options.prefix_cache = std::move(*cache);
  auto engine = Engine::Create(std::move(*model), std::move(*tokenizer), options);
  ASSERT_TRUE(engine.ok()) << engine.status().ToString();

  const auto run = [&](bool enabled) {
    GenerateRequest request;
    for (int i = 0; i < 40; ++i) request.prompt.push_back(1 + (i * 7) % 200);
    request.max_tokens = 2;
    request.sampling.temperature = 0.0f;
    request.cache.enabled = enabled;
    auto sink = std::make_shared<CollectingSink>();
    EXPECT_TRUE((*engine)->Submit(std::move(request), sink).ok());
    const GenerateEvent final_event = sink->WaitFinal();
    EXPECT_TRUE((*engine)->WaitForCacheWrites(std::chrono::seconds(60)));
    return final_event.cached_tokens;
  };
  ServerMetrics metrics;
  EXPECT_EQ(run(true), 0);
  const std::string after_miss = metrics.Serialize(engine->get());
  EXPECT_EQ(Value(after_miss, "goldfinch_cache_misses_total{reason=\"no_entry\"}"), 1);
  EXPECT_EQ(Value(after_miss, "goldfinch_cache_lookups_total{tier=\"memory\"}"), 1);
  EXPECT_GE(Value(after_miss, "goldfinch_cache_snapshots_stored_total"), 1);
  EXPECT_GT(Value(after_miss, "goldfinch_cache_bytes{tier=\"memory\"}"), 0);
  EXPECT_GT(Value(after_miss, "goldfinch_cache_row_bytes_per_token"), 0);

  const int64_t cached = run(true);
  EXPECT_GT(cached, 0);
  EXPECT_EQ(run(false), 0);
  const std::string text = metrics.Serialize(engine->get());
  EXPECT_EQ(Value(text, "goldfinch_cache_hits_total{tier=\"memory\"}"), 1);
  EXPECT_EQ(Value(text, "goldfinch_cache_hit_tokens_total{tier=\"memory\"}"),
            static_cast<double>(cached));
  EXPECT_EQ(Value(text, "goldfinch_cache_misses_total{reason=\"disabled\"}"), 1);
  EXPECT_EQ(Value(text, "goldfinch_cache_restore_seconds_count"), 1);
  // The restored prefix's K/V came from the hot tier (the first request's kept final state).
  EXPECT_EQ(Value(text, "goldfinch_cache_rematerialized_tokens_total"), 0);
  EXPECT_EQ(Value(text, "goldfinch_cache_hot_hits_total"), 1);
  EXPECT_EQ(Value(text, "goldfinch_cache_hot_hit_tokens_total"), static_cast<double>(cached));
  EXPECT_GE(Value(text, "goldfinch_cache_hot_entries"), 1);
  EXPECT_GT(Value(text, "goldfinch_cache_hot_bytes"), 0);
  bool promtool = false;
  EXPECT_EQ(PromtoolProblems(text, &promtool), "");
}

}  // namespace
}  // namespace gf::server
