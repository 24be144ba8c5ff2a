// Engine: the serving facade. Owns the model, the tokenizer, the scheduler and one engine thread
// that runs `plan = scheduler.Schedule(); result = runner.Execute(plan); scheduler.Update(...)`
// until shut down.
//
// Threads: Submit, Cancel, Stats, StopAccepting and WaitIdle may be called from any thread.
// The engine thread alone runs the model forward and touches the running sequences' states;
// sinks are called on it. The prefix cache's lookup thread restores a prefix completely before
// the request is admitted: reading the snapshot, then its GOLD K/V (a hot-tier copy, or a
// rebuild from the compressed rows, which may run beside the engine thread's steps).
// Submit validates the request completely (ids, lengths, sampling parameters) before accepting
// it, so an accepted request can only fail for a reason inside the engine, and then it fails
// alone (its sink gets an error event; the others carry on).
// Cancellation takes effect at the start of the next step: the sequence leaves the batch and its
// sink gets a final event with FinishReason::kCancelled.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>
#include <unordered_map>
#include <vector>

#include "common/status.h"
#include "engine/model/goldfinch.h"
#include "engine/prefix_cache/prefix_cache.h"
#include "engine/serving/hot_kv_cache.h"
#include "engine/serving/request.h"
#include "engine/serving/scheduler.h"
#include "engine/tokenizer/tokenizer.h"

namespace gf {

class ModelRunner;
class CacheWorker;
struct ActiveSequence;

struct EngineOptions {
  SchedulerOptions scheduler;
  // Longest prompt + max_tokens accepted (tokens); <= 0 means the model's max_context, or
  // kDefaultMaxModelLen when the model has none.
  int64_t max_model_len = 0;
  static constexpr int64_t kDefaultMaxModelLen = 32768;
  // The prefix cache (nullptr = no caching). Lookups run on a cache worker thread before a
  // request is admitted; snapshots are captured on the engine thread and stored in the background
  // (bounded by max_pending_store_bytes; captures beyond it are dropped and counted).
  std::shared_ptr<PrefixCache> prefix_cache;
  size_t max_pending_store_bytes = size_t{512} << 20;
  // The hot tier (hot_kv_cache.h): finished states kept with their materialised K/V, so restores
  // of their prefixes copy K/V instead of rebuilding it. 0 = off. Only with a prefix cache.
  uint64_t hot_kv_bytes = uint64_t{1} << 30;
};

// The engine's own prefix-cache counters (the PrefixCache has the store-level ones).
struct EngineCacheStats {
  PrefixCacheStats cache;              // PrefixCache::Stats()
  uint64_t captures_dropped = 0;       // snapshots not stored because the store queue was full
  uint64_t pending_store_bytes = 0;    // current
  uint64_t rematerialize_tokens = 0;   // K/V rows rebuilt after restores
  double rematerialize_seconds = 0.0;  // time spent rebuilding or copying them (engine thread)
  HotKvStats hot;                      // the hot K/V tier
};

// Counters and gauges read at scrape time (a consistent snapshot).
struct EngineStats {
  int running = 0;                   // sequences in the batch
  int waiting = 0;                   // queued, not yet admitted
  uint64_t steps_total = 0;          // engine steps run (the liveness heartbeat)
  uint64_t prompt_tokens_total = 0;  // prompt tokens prefilled
  uint64_t generation_tokens_total = 0;
  uint64_t requests_finished_total = 0;
  int last_batch_sequences = 0;   // sequences in the most recent step
  int64_t last_batch_tokens = 0;  // tokens in the most recent step
  bool accepting = true;          // false after StopAccepting
};

class Engine {
 public:
  // Starts the engine thread. InvalidArgument for bad options.
  static StatusOr<std::unique_ptr<Engine>> Create(std::unique_ptr<GoldFinchModel> model,
                                                  std::unique_ptr<Tokenizer> tokenizer,
                                                  EngineOptions options);
  ~Engine();  // Shutdown()
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  // Validates and queues a request. Errors (nothing is queued, the sink is never called):
  // InvalidArgument (message names the field: "prompt", "max_tokens", sampling fields, "stop"),
  // OutOfRange for prompt + max_tokens > max_model_len (context_length_exceeded),
  // ResourceExhausted when the waiting queue is full, Unavailable after StopAccepting.
  StatusOr<SeqId> Submit(GenerateRequest request, std::shared_ptr<RequestSink> sink);

  // Cancels a queued or running request (no-op for unknown or finished ids).
  void Cancel(SeqId id);

  EngineStats Stats() const;
  // nullopt when the engine has no prefix cache.
  std::optional<EngineCacheStats> CacheStats() const;
  PrefixCache* prefix_cache() const { return options_.prefix_cache.get(); }

  // New submissions fail with Unavailable from now on; running ones continue.
  void StopAccepting();
  // Waits until no request is queued or running; false on timeout.
  bool WaitIdle(std::chrono::steady_clock::duration timeout);
  // Waits until every snapshot captured so far has been stored (or failed); false on timeout.
  // Used by the context API (create, then pin) and by tests.
  bool WaitForCacheWrites(std::chrono::steady_clock::duration timeout);
  // Cancels everything still running, delivers the final events and joins the engine thread.
  void Shutdown();

  const Tokenizer& tokenizer() const { return *tokenizer_; }
  const ModelConfig& model_config() const { return model_->config(); }
  int64_t max_model_len() const { return max_model_len_; }

 private:
  Engine(std::unique_ptr<GoldFinchModel> model, std::unique_ptr<Tokenizer> tokenizer,
         EngineOptions options, int64_t max_model_len);
  Status ValidateRequest(const GenerateRequest& request) const;
  void Loop();
  // Engine thread: applies queued cancellations and expired deadlines (under mu_).
  void ApplyCancellations(std::vector<std::unique_ptr<ActiveSequence>>& finished);
  void Deliver(std::vector<std::unique_ptr<ActiveSequence>>& finished);
  // Prefix cache (see the file comment of cache_worker.h).
  // How a restored prefix got its GOLD K/V (on the cache thread, before it is admitted).
  struct KvPreparation {
    bool copied = false;         // from the hot tier
    int64_t rebuilt_tokens = 0;  // rebuilt from the compressed rows (0 when copied)
    double seconds = 0;
  };
  void StartLookup(ActiveSequence& seq);  // under mu_
  // Cache thread: reserves the K/V rows the request will need, then copies K/V from the hot tier
  // or rebuilds them (GoldFinchModel::Rematerialize), so the engine thread never stalls on it.
  Status PrepareKv(const CacheNamespace& ns, int64_t final_rows, RestoredPrefix& restored,
                   KvPreparation* kv) const;
  void OnLookupDone(SeqId id, StatusOr<RestoredPrefix> restored,
                    const KvPreparation& kv);  // cache thread
  // Engine thread: snapshots at the chunk ends of this step (`failed` are skipped). The final
  // state of a finished sequence is captured by the runner's finish hook, before its final
  // event, and that of a cancelled one in Deliver.
  void CaptureAfterStep(const StepPlan& plan, const std::vector<ActiveSequence*>& batch,
                        const StepResult& result);
  void CaptureFinal(ActiveSequence& seq);
  void Capture(ActiveSequence& seq, int64_t position);

  std::unique_ptr<GoldFinchModel> model_;
  std::unique_ptr<Tokenizer> tokenizer_;
  EngineOptions options_;
  int64_t max_model_len_;
  std::unique_ptr<ModelRunner> runner_;
  std::unique_ptr<CacheWorker> cache_worker_;  // when options_.prefix_cache is set
  std::unique_ptr<HotKvCache> hot_kv_;         // thread-safe

  mutable std::mutex mu_;            // guards everything below
  std::condition_variable work_cv_;  // engine thread waits for work
  std::condition_variable idle_cv_;  // WaitIdle waits for an empty scheduler
  Scheduler scheduler_;
  std::unordered_map<SeqId, std::unique_ptr<ActiveSequence>> sequences_;
  std::vector<SeqId> cancel_requests_;
  SeqId next_id_ = 1;
  bool accepting_ = true;
  bool stop_ = false;
  EngineStats stats_;
  uint64_t rematerialize_tokens_ = 0;
  double rematerialize_seconds_ = 0.0;
  std::thread thread_;
};

}  // namespace gf
