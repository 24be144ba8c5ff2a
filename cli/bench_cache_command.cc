// `goldfinch bench cache`: what the prefix cache buys for "many questions about one long
// document". Runs the serving engine (the same Engine `goldfinch serve` uses) with a prefix cache
// over a memory tier in front of a disk tier in a directory, and measures time to first token
// (Submit -> first token event) of document + question requests:
//   cold          the first question (nothing cached),
//   warm memory   the other questions (the document's snapshot comes from the memory tier and
//                 its K/V is copied from the hot tier: an earlier question's kept state),
//   warm disk     new questions after the engine, its cache and model are destroyed and rebuilt
//                 ("restart"), with a disk-only cache and no hot tier, so every question reads
//                 the disk tier and rebuilds the document's K/V from the compressed rows,
//   uncached      one question with the cache disabled for the request (a second cold sample).
// It also reports the stored bytes per cached token next to a Llama-style KV cache
// (bf16 K and V of every layer: 4*L*C bytes per token) for the same shape.
// Ratios are measured within the run (the machine is shared; absolute times are noisy).
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "cache_store/disk_store.h"
#include "cache_store/memory_store.h"
#include "cache_store/tiered_store.h"
#include "cli/args.h"
#include "cli/bench_stats.h"
#include "cli/commands.h"
#include "cli/model_options.h"
#include "engine/prefix_cache/model_fingerprint.h"
#include "engine/serving/engine.h"
#include "engine/tokenizer/tokenizer.h"

namespace gf::cli {
namespace {

using Clock = std::chrono::steady_clock;

const char kUsage[] =
    "usage: goldfinch bench cache (--model DIR | --random-config L,D) [flags]\n"
    "\n"
    "Time to first token of document + question requests: cold, warm from the memory tier,\n"
    "warm from the disk tier after a restart; cached bytes per token.\n"
    "\n"
    "  --model DIR / --random-config L,D / --vocab V / --seed S / --dtype f32|bf16 / --threads N\n"
    "                           the model, as for `goldfinch bench`\n"
    "  --doc-tokens N           document length in tokens (default 16384)\n"
    "  --questions N            questions per phase (default 10)\n"
    "  --question-tokens N      tokens per question (default 32)\n"
    "  --cache-dir DIR          disk tier directory (default: a new temporary directory, removed)\n"
    "  --snapshot-interval N    spaced snapshots inside long prompts (default 2048)\n"
    "  --chunk N                prefill chunk (scheduler max_prefill_chunk and budget; default "
    "512)\n";

// Collects the first-token time and the final event of one request.
class TimingSink : public RequestSink {
 public:
  void OnEvent(GenerateEvent event) override {
    std::lock_guard<std::mutex> lock(mu_);
    if (!first_.has_value()) first_ = Clock::now();
    if (event.finish != FinishReason::kNone) {
      final_ = std::move(event);
      cv_.notify_all();
    }
  }
  GenerateEvent WaitFinal() {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [this] { return final_.has_value(); });
    return *final_;
  }
  Clock::time_point first() {
    std::lock_guard<std::mutex> lock(mu_);
    return *first_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::optional<Clock::time_point> first_;
  std::optional<GenerateEvent> final_;
};

struct Sample {
  double ttft = 0;
  int64_t cached = 0;
};

StatusOr<Sample> Ask(Engine& engine, const std::vector<TokenId>& prompt, bool use_cache) {
  GenerateRequest request;
  request.prompt = prompt;
  request.max_tokens = 1;
  request.ignore_eos = true;
  request.sampling.temperature = 0.0f;
  request.cache.enabled = use_cache;
  auto sink = std::make_shared<TimingSink>();
  const Clock::time_point start = Clock::now();
  GF_ASSIGN_OR_RETURN(SeqId id, engine.Submit(std::move(request), sink));
  (void)id;
  const GenerateEvent last = sink->WaitFinal();
  if (last.finish == FinishReason::kError) return last.error;
  Sample sample;
  sample.ttft = std::chrono::duration<double>(sink->first() - start).count();
  sample.cached = last.cached_tokens;
  // Stores run in the background; let them finish before the next measurement.
  if (!engine.WaitForCacheWrites(std::chrono::minutes(10)))
    return Unavailable("cache writes stuck");
  return sample;
}

struct Setup {
  std::string description;
  std::unique_ptr<Engine> engine;
  std::shared_ptr<PrefixCache> cache;
};

StatusOr<Setup> Build(const Args& args, std::unique_ptr<cache::CacheStore> store,
                      const PrefixCacheOptions& cache_options, int64_t chunk,
                      uint64_t hot_kv_bytes) {
  Setup setup;
  GF_ASSIGN_OR_RETURN(std::unique_ptr<GoldFinchModel> model,
                      BuildModelFromArgs(args, &setup.description));
  GF_ASSIGN_OR_RETURN(std::unique_ptr<Tokenizer> tokenizer, MakeTokenizer("byte", ""));
  const Sha256Digest fingerprint = ModelFingerprint(*model, *tokenizer);
  GF_ASSIGN_OR_RETURN(std::unique_ptr<PrefixCache> cache,
                      PrefixCache::Create(std::move(store), model->config(), model->kv_dtype(),
                                          fingerprint, cache_options));
  setup.cache = std::move(cache);
  EngineOptions options;
  options.scheduler.max_running = 4;
  options.scheduler.token_budget = std::max<int64_t>(chunk, 4);
  options.scheduler.max_prefill_chunk = chunk;
  options.max_model_len = 1 << 22;
  options.prefix_cache = setup.cache;
  options.hot_kv_bytes = hot_kv_bytes;
  GF_ASSIGN_OR_RETURN(setup.engine,
                      Engine::Create(std::move(model), std::move(tokenizer), options));
  return setup;
}

StatusOr<std::unique_ptr<cache::CacheStore>> OpenDisk(const std::string& dir) {
  cache::DiskStoreOptions disk;
  disk.directory = dir;
  disk.byte_budget = uint64_t{64} << 30;
  GF_ASSIGN_OR_RETURN(std::unique_ptr<cache::DiskStore> store, cache::DiskStore::Open(disk));
  return std::unique_ptr<cache::CacheStore>(std::move(store));
}

int Fail(const Status& status, int code) {
  std::fprintf(stderr, "goldfinch bench cache: %s\n", status.ToString().c_str());
  return code;
}

Status Run(const Args& args) {
  GF_ASSIGN_OR_RETURN(int64_t doc_tokens, args.GetInt("doc-tokens", 16384, 1, 1 << 22));
  GF_ASSIGN_OR_RETURN(int64_t questions, args.GetInt("questions", 10, 1, 1000));
  GF_ASSIGN_OR_RETURN(int64_t question_tokens, args.GetInt("question-tokens", 32, 1, 1 << 16));
  GF_ASSIGN_OR_RETURN(int64_t interval, args.GetInt("snapshot-interval", 2048, 1, 1 << 22));
  GF_ASSIGN_OR_RETURN(int64_t chunk, args.GetInt("chunk", 512, 1, 1 << 20));
  GF_ASSIGN_OR_RETURN(int64_t seed, args.GetInt("seed", 1, 0, 1 << 30));
  std::string dir = args.GetOr("cache-dir", "");
  const bool temporary = dir.empty();
  if (temporary) {
    dir = (std::filesystem::temp_directory_path() /
           ("goldfinch-bench-cache-" + std::to_string(::getpid())))
              .string();
  }
  PrefixCacheOptions cache_options;
  cache_options.snapshot_interval = interval;

  GF_ASSIGN_OR_RETURN(std::unique_ptr<cache::CacheStore> disk, OpenDisk(dir));
  auto tiered = std::make_unique<cache::TieredStore>(
      std::make_unique<cache::MemoryStore>(cache::MemoryStoreOptions{uint64_t{8} << 30}),
      std::move(disk));
  GF_ASSIGN_OR_RETURN(Setup first,
                      Build(args, std::move(tiered), cache_options, chunk, uint64_t{4} << 30));
  const ModelConfig config = first.engine->model_config();
  std::printf("model: %s\n", first.description.c_str());
  std::printf("document %lld tokens, %lld questions x %lld tokens, cache dir %s\n",
              static_cast<long long>(doc_tokens), static_cast<long long>(questions),
              static_cast<long long>(question_tokens), dir.c_str());
  std::fflush(stdout);

  // Token ids: the byte range for the built-in byte model, the whole vocabulary otherwise.
  std::mt19937 rng(static_cast<uint32_t>(seed));
  const int32_t lo = 1;
  const int32_t hi = config.vocab_size - 1;
  auto random_ids = [&](int64_t n) {
    std::vector<TokenId> ids(static_cast<size_t>(n));
    for (TokenId& id : ids)
      id = lo + static_cast<int32_t>(rng() % static_cast<uint32_t>(hi - lo + 1));
    return ids;
  };
  const std::vector<TokenId> document = random_ids(doc_tokens);
  auto question = [&]() {
    std::vector<TokenId> prompt = document;
    const std::vector<TokenId> q = random_ids(question_tokens);
    prompt.insert(prompt.end(), q.begin(), q.end());
    return prompt;
  };

  GF_ASSIGN_OR_RETURN(Sample cold, Ask(*first.engine, question(), true));
  std::printf("cold          TTFT %9.4f s  (cached 0 of %lld)\n", cold.ttft,
              static_cast<long long>(doc_tokens + question_tokens));
  std::fflush(stdout);
  std::vector<double> warm_memory;
  int64_t memory_cached = 0;
  for (int64_t i = 1; i < questions; ++i) {
    GF_ASSIGN_OR_RETURN(Sample s, Ask(*first.engine, question(), true));
    warm_memory.push_back(s.ttft);
    memory_cached = s.cached;
  }
  GF_ASSIGN_OR_RETURN(Sample uncached, Ask(*first.engine, question(), false));
  const EngineCacheStats stats = *first.engine->CacheStats();
  std::printf(
      "warm memory   TTFT median %9.4f s  min %9.4f  max %9.4f  (cached %lld; K/V copied from the "
      "hot tier in %llu of %lld)\n",
      Median(warm_memory), *std::min_element(warm_memory.begin(), warm_memory.end()),
      *std::max_element(warm_memory.begin(), warm_memory.end()),
      static_cast<long long>(memory_cached), static_cast<unsigned long long>(stats.hot.hits),
      static_cast<long long>(questions - 1));
  std::printf("uncached      TTFT %9.4f s  (cache disabled for the request)\n", uncached.ttft);
  std::fflush(stdout);
  first.engine.reset();  // "restart": only the files remain
  first.cache.reset();

  GF_ASSIGN_OR_RETURN(std::unique_ptr<cache::CacheStore> disk_again, OpenDisk(dir));
  // No hot tier after the restart: every question reads the disk tier and rebuilds its K/V.
  GF_ASSIGN_OR_RETURN(Setup second, Build(args, std::move(disk_again), cache_options, chunk, 0));
  std::vector<double> warm_disk;
  int64_t disk_cached = 0;
  for (int64_t i = 0; i < questions; ++i) {
    GF_ASSIGN_OR_RETURN(Sample s, Ask(*second.engine, question(), true));
    warm_disk.push_back(s.ttft);
    disk_cached = s.cached;
  }
  const EngineCacheStats disk_stats = *second.engine->CacheStats();
  std::printf(
      "warm disk     TTFT median %9.4f s  min %9.4f  max %9.4f  (cached %lld; after restart, K/V "
      "rebuilt from the compressed rows)\n",
      Median(warm_disk), *std::min_element(warm_disk.begin(), warm_disk.end()),
      *std::max_element(warm_disk.begin(), warm_disk.end()), static_cast<long long>(disk_cached));
  std::printf(
      "speed-up      cold / warm memory %.1fx, cold / warm disk %.1fx, uncached / warm memory "
      "%.1fx\n",
      cold.ttft / Median(warm_memory), cold.ttft / Median(warm_disk),
      uncached.ttft / Median(warm_memory));
  const double rematerialize_per_hit =
      disk_stats.rematerialize_seconds / static_cast<double>(std::max<int64_t>(questions, 1));
  const double copy_per_hit =
      stats.rematerialize_seconds / static_cast<double>(std::max<int64_t>(questions - 1, 1));
  std::printf(
      "K/V           rebuild %.4f s per disk-warm request, copy from the hot tier %.4f s per "
      "memory-warm request (cache thread, before admission); restore I/O+decode %.4f s mean\n",
      rematerialize_per_hit, copy_per_hit,
      disk_stats.cache.restore_count ? disk_stats.cache.restore_seconds_sum /
                                           static_cast<double>(disk_stats.cache.restore_count)
                                     : 0.0);

  const PrefixCacheStats& c = stats.cache;
  const double tokens = static_cast<double>(std::max<uint64_t>(c.segment_tokens, 1));
  const double rows_per_token = static_cast<double>(c.segment_bytes) / tokens;
  const double all_per_token = static_cast<double>(c.segment_bytes + c.snapshot_bytes) / tokens;
  const double llama = 4.0 * config.n_layer * config.n_embd;
  const double minimal = 2.0 * config.compressed_dim + 4.0;
  std::printf(
      "stored        %llu snapshots (%.2f MB), %llu row segments covering %llu tokens (%.2f MB)\n",
      static_cast<unsigned long long>(c.snapshots_stored), c.snapshot_bytes / 1e6,
      static_cast<unsigned long long>(c.segments_stored),
      static_cast<unsigned long long>(c.segment_tokens), c.segment_bytes / 1e6);
  std::printf(
      "bytes/token   rows %.1f (minimal 2c+4 = %.0f), with snapshots %.1f; Llama-style KV "
      "(4*L*C, bf16) %.0f -> %.0fx / %.0fx smaller\n",
      rows_per_token, minimal, all_per_token, llama, llama / rows_per_token, llama / all_per_token);
  second.engine.reset();
  second.cache.reset();
  if (temporary) std::filesystem::remove_all(dir);
  return Status::Ok();
}

}  // namespace

int RunBenchCache(int argc, char** argv) {
  std::set<std::string> value_flags = ModelValueFlags();
  value_flags.insert({"random-config", "vocab", "seed", "doc-tokens", "questions",
                      "question-tokens", "cache-dir", "snapshot-interval", "chunk"});
  auto args = Args::Parse(argc, argv, 3, value_flags, {"help"});
  if (!args.ok()) {
    std::fprintf(stderr, "%s", kUsage);
    return Fail(args.status(), 2);
  }
  if (args->Has("help")) {
    std::printf("%s", kUsage);
    return 0;
  }
  const Status status = Run(*args);
  if (!status.ok()) return Fail(status, status.code() == StatusCode::kInvalidArgument ? 2 : 1);
  return 0;
}

}  // namespace gf::cli
