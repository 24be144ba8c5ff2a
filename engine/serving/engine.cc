#include "engine/serving/engine.h"

#include <algorithm>
#include <string>

#include "engine/serving/active_sequence.h"
#include "engine/serving/cache_worker.h"
#include "engine/serving/model_runner.h"

namespace gf {
namespace {

constexpr int kMaxPromptLogprobs = 20;

}  // namespace

StatusOr<std::unique_ptr<Engine>> Engine::Create(std::unique_ptr<GoldFinchModel> model,
                                                 std::unique_ptr<Tokenizer> tokenizer,
                                                 EngineOptions options) {
  if (model == nullptr || tokenizer == nullptr)
    return InvalidArgument("engine: model and tokenizer are required");
  GF_RETURN_IF_ERROR(options.scheduler.Validate());
  int64_t max_len = options.max_model_len;
  if (max_len <= 0) {
    max_len = model->config().max_context > 0 ? model->config().max_context
                                              : EngineOptions::kDefaultMaxModelLen;
  }
  if (tokenizer->vocab_size() > model->config().vocab_size) {
    return InvalidArgument("engine: the tokenizer has " + std::to_string(tokenizer->vocab_size()) +
                           " ids but the model only " + std::to_string(model->config().vocab_size));
  }
  return std::unique_ptr<Engine>(
      new Engine(std::move(model), std::move(tokenizer), std::move(options), max_len));
}

Engine::Engine(std::unique_ptr<GoldFinchModel> model, std::unique_ptr<Tokenizer> tokenizer,
               EngineOptions options, int64_t max_model_len)
    : model_(std::move(model)),
      tokenizer_(std::move(tokenizer)),
      options_(std::move(options)),
      max_model_len_(max_model_len),
      runner_(std::make_unique<ModelRunner>(*model_, *tokenizer_)),
      scheduler_(options_.scheduler) {
  if (options_.prefix_cache != nullptr) {
    cache_worker_ =
        std::make_unique<CacheWorker>(options_.prefix_cache, options_.max_pending_store_bytes);
  }
  if (cache_worker_ != nullptr) {
    runner_->set_finish_hook([this](ActiveSequence& seq) { CaptureFinal(seq); });
    if (options_.hot_kv_bytes > 0) {
      hot_kv_ = std::make_unique<HotKvCache>(options_.hot_kv_bytes);
    }
  }
  thread_ = std::thread([this] { Loop(); });
}

Engine::~Engine() { Shutdown(); }

Status Engine::ValidateRequest(const GenerateRequest& request) const {
  const int vocab = model_->config().vocab_size;
  if (request.prompt.empty()) return InvalidArgument("prompt: must contain at least one token");
  for (TokenId id : request.prompt) {
    if (id < 0 || id >= vocab) {
      return InvalidArgument("prompt: token id " + std::to_string(id) + " is outside [0, " +
                             std::to_string(vocab) + ")");
    }
  }
  if (request.max_tokens < 0) return InvalidArgument("max_tokens: must be >= 0");
  const auto prompt_len = static_cast<int64_t>(request.prompt.size());
  if (prompt_len > max_model_len_ || request.max_tokens > max_model_len_ - prompt_len) {
    return OutOfRange("This model's maximum context length is " + std::to_string(max_model_len_) +
                      " tokens. However, you requested " +
                      std::to_string(prompt_len + request.max_tokens) + " tokens (" +
                      std::to_string(prompt_len) + " in the prompt, " +
                      std::to_string(request.max_tokens) + " for the completion).");
  }
  GF_RETURN_IF_ERROR(request.sampling.Validate(vocab));
  for (const std::string& stop : request.stop) {
    if (stop.empty()) return InvalidArgument("stop: stop strings must not be empty");
  }
  for (TokenId id : request.stop_token_ids) {
    if (id < 0 || id >= vocab) return InvalidArgument("stop_token_ids: id outside the vocabulary");
  }
  if (request.prompt_logprobs > kMaxPromptLogprobs) {
    return InvalidArgument("prompt_logprobs: must be <= " + std::to_string(kMaxPromptLogprobs));
  }
  return Status::Ok();
}

StatusOr<SeqId> Engine::Submit(GenerateRequest request, std::shared_ptr<RequestSink> sink) {
  if (sink == nullptr) return InvalidArgument("engine: a sink is required");
  GF_RETURN_IF_ERROR(ValidateRequest(request));
  auto seq = std::make_unique<ActiveSequence>();
  seq->request = std::move(request);
  seq->sink = std::move(sink);
  seq->arrival = std::chrono::steady_clock::now();
  std::lock_guard<std::mutex> lock(mu_);
  if (!accepting_ || stop_) return Unavailable("the server is shutting down");
  const SeqId id = next_id_++;
  seq->id = id;
  PrefixCache* cache = options_.prefix_cache.get();
  seq->cache_enabled = cache != nullptr && seq->request.cache.enabled;
  if (cache != nullptr && !seq->request.cache.enabled) cache->CountDisabled();
  const auto prompt_len = static_cast<int64_t>(seq->request.prompt.size());
  // Prompt logprobs need the logits of every prompt position: such requests store snapshots
  // but never restore one.
  const bool lookup = seq->cache_enabled && seq->request.prompt_logprobs < 0;
  GF_RETURN_IF_ERROR(scheduler_.Add(id, prompt_len, /*ready=*/!lookup));
  ActiveSequence& added = *sequences_.emplace(id, std::move(seq)).first->second;
  if (added.cache_enabled) {
    added.snapshot_positions =
        cache->SnapshotPositions(prompt_len, added.request.cache.snapshot_hints);
  }
  if (lookup) {
    StartLookup(added);
  } else if (added.cache_enabled) {
    (void)scheduler_.MarkReady(id, 0, added.snapshot_positions);
  }
  work_cv_.notify_one();
  return id;
}

void Engine::StartLookup(ActiveSequence& seq) {
  const SeqId id = seq.id;
  const CacheNamespace ns{seq.request.cache.salt_hash};
  std::vector<TokenId> prompt = seq.request.prompt;
  const auto max_position = static_cast<int64_t>(prompt.size()) - 1;
  const int64_t final_rows =
      static_cast<int64_t>(prompt.size()) + std::max<int64_t>(seq.request.max_tokens, 0);
  PrefixCache* cache = options_.prefix_cache.get();
  const bool queued = cache_worker_->SubmitLookup(
      [this, cache, id, ns, prompt = std::move(prompt), max_position, final_rows]() {
        StatusOr<RestoredPrefix> restored = cache->Lookup(ns, prompt, max_position);
        KvPreparation kv;
        if (restored.ok()) {
          if (Status s = PrepareKv(ns, final_rows, *restored, &kv); !s.ok()) restored = s;
        }
        OnLookupDone(id, std::move(restored), kv);
      });
  if (!queued) (void)scheduler_.MarkReady(id, 0, seq.snapshot_positions);
}

Status Engine::PrepareKv(const CacheNamespace& ns, int64_t final_rows, RestoredPrefix& restored,
                         KvPreparation* kv) const {
  const auto start = std::chrono::steady_clock::now();
  SequenceState& state = restored.state;
  state.ReserveKvCapacity(final_rows);
  kv->copied = hot_kv_ != nullptr && hot_kv_->FillKv(ns.salt_hash, state);
  if (!kv->copied) {
    GF_RETURN_IF_ERROR(model_->Rematerialize(state));
    kv->rebuilt_tokens = state.num_tokens();
  }
  kv->seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return Status::Ok();
}

void Engine::OnLookupDone(SeqId id, StatusOr<RestoredPrefix> restored, const KvPreparation& kv) {
  std::lock_guard<std::mutex> lock(mu_);
  rematerialize_tokens_ += static_cast<uint64_t>(kv.rebuilt_tokens);
  rematerialize_seconds_ += kv.seconds;
  auto it = sequences_.find(id);
  if (it == sequences_.end()) return;  // cancelled meanwhile
  ActiveSequence& seq = *it->second;
  int64_t position = 0;
  if (restored.ok()) {
    position = restored->position;
    seq.cached_tokens = position;
    seq.segment_ends = restored->segment_ends;
    seq.restored.emplace(std::move(*restored));
    while (seq.next_snapshot < seq.snapshot_positions.size() &&
           seq.snapshot_positions[seq.next_snapshot] <= position) {
      ++seq.next_snapshot;
    }
  }
  if (!scheduler_.MarkReady(id, position, seq.snapshot_positions).ok()) {
    // Cannot happen for a well-formed restore (position < prompt length); fall back to a cold run.
    seq.restored.reset();
    seq.cached_tokens = 0;
    seq.segment_ends.clear();
    seq.next_snapshot = 0;
    (void)scheduler_.MarkReady(id, 0, seq.snapshot_positions);
  }
  work_cv_.notify_one();
}

void Engine::Capture(ActiveSequence& seq, int64_t position) {
  if (!seq.state.has_value() || seq.state->num_tokens() != position) return;
  if (!seq.segment_ends.empty() && seq.segment_ends.back() >= position) return;
  if (position < options_.prefix_cache->options().min_snapshot_tokens) return;
  seq.segment_ends.push_back(position);
  const CacheNamespace ns{seq.request.cache.salt_hash};
  (void)cache_worker_->SubmitStore(CaptureSnapshot(ns, *seq.state, seq.segment_ends));
}

void Engine::CaptureFinal(ActiveSequence& seq) {
  if (cache_worker_ == nullptr || !seq.cache_enabled || !seq.state.has_value()) return;
  Capture(seq, seq.state->num_tokens());
  // The finished state, K/V and all, goes to the hot tier (it is not used after this).
  if (hot_kv_ != nullptr) {
    hot_kv_->Offer(seq.request.cache.salt_hash, std::move(*seq.state),
                   options_.prefix_cache->options().min_snapshot_tokens);
    seq.state.reset();
  }
}

void Engine::CaptureAfterStep(const StepPlan& plan, const std::vector<ActiveSequence*>& batch,
                              const StepResult& result) {
  if (cache_worker_ == nullptr) return;
  for (size_t i = 0; i < plan.chunks.size() && i < batch.size(); ++i) {
    ActiveSequence* seq = batch[i];
    if (seq == nullptr || !seq->cache_enabled || !seq->state.has_value()) continue;
    if (std::find(result.failed.begin(), result.failed.end(), seq->id) != result.failed.end()) {
      continue;
    }
    const ScheduledChunk& chunk = plan.chunks[i];
    if (chunk.is_prefill) {
      const int64_t end = chunk.first_token + chunk.num_tokens;
      auto& positions = seq->snapshot_positions;
      while (seq->next_snapshot < positions.size() && positions[seq->next_snapshot] < end) {
        ++seq->next_snapshot;
      }
      if (seq->next_snapshot < positions.size() && positions[seq->next_snapshot] == end) {
        ++seq->next_snapshot;
        Capture(*seq, end);
      }
    }
  }
}

void Engine::Cancel(SeqId id) {
  std::lock_guard<std::mutex> lock(mu_);
  if (sequences_.count(id) == 0) return;
  cancel_requests_.push_back(id);
  work_cv_.notify_one();
}

std::optional<EngineCacheStats> Engine::CacheStats() const {
  if (options_.prefix_cache == nullptr) return std::nullopt;
  EngineCacheStats stats;
  stats.cache = options_.prefix_cache->Stats();
  stats.captures_dropped = cache_worker_->captures_dropped();
  stats.pending_store_bytes = cache_worker_->pending_store_bytes();
  std::lock_guard<std::mutex> lock(mu_);
  stats.rematerialize_tokens = rematerialize_tokens_;
  stats.rematerialize_seconds = rematerialize_seconds_;
  if (hot_kv_ != nullptr) stats.hot = hot_kv_->stats();
  return stats;
}

bool Engine::WaitForCacheWrites(std::chrono::steady_clock::duration timeout) {
  if (cache_worker_ == nullptr) return true;
  return cache_worker_->WaitForStores(timeout);
}

EngineStats Engine::Stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  EngineStats stats = stats_;
  stats.running = scheduler_.num_running();
  stats.waiting = scheduler_.num_waiting();
  stats.accepting = accepting_;
  return stats;
}

void Engine::StopAccepting() {
  std::lock_guard<std::mutex> lock(mu_);
  accepting_ = false;
}

bool Engine::WaitIdle(std::chrono::steady_clock::duration timeout) {
  std::unique_lock<std::mutex> lock(mu_);
  return idle_cv_.wait_for(lock, timeout, [this] { return sequences_.empty(); });
}

void Engine::Shutdown() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stop_ && !thread_.joinable()) return;
    accepting_ = false;
    stop_ = true;
    for (const auto& [id, seq] : sequences_) cancel_requests_.push_back(id);
    work_cv_.notify_one();
  }
  if (thread_.joinable()) thread_.join();
  // After the engine thread: its last captures (cancelled sequences) are queued; Stop stores them.
  if (cache_worker_ != nullptr) cache_worker_->Stop();
}

void Engine::ApplyCancellations(std::vector<std::unique_ptr<ActiveSequence>>& finished) {
  const auto now = std::chrono::steady_clock::now();
  for (auto& [id, seq] : sequences_) {
    if (seq->request.deadline <= now) cancel_requests_.push_back(id);
  }
  for (SeqId id : cancel_requests_) {
    auto it = sequences_.find(id);
    if (it == sequences_.end()) continue;
    scheduler_.Remove(id);
    finished.push_back(std::move(it->second));
    sequences_.erase(it);
  }
  cancel_requests_.clear();
}

void Engine::Deliver(std::vector<std::unique_ptr<ActiveSequence>>& finished) {
  const auto now = std::chrono::steady_clock::now();
  for (auto& seq : finished) {
    if (seq->done) continue;
    CaptureFinal(*seq);  // a cancelled request's prefix is still worth keeping
    GenerateEvent event;
    event.prompt_tokens = static_cast<int64_t>(seq->request.prompt.size());
    event.cached_tokens = seq->cached_tokens;
    event.completion_tokens = seq->completion_tokens;
    if (seq->request.deadline <= now) {
      if (seq->output) event.text = seq->output->Flush();
      event.finish = FinishReason::kError;
      event.error = DeadlineExceeded("the request timed out after " +
                                     std::to_string(seq->completion_tokens) + " tokens");
    } else {
      event.finish = FinishReason::kCancelled;
    }
    seq->done = true;
    seq->sink->OnEvent(std::move(event));
  }
  finished.clear();
}

void Engine::Loop() {
  std::vector<std::unique_ptr<ActiveSequence>> removed;
  std::vector<ActiveSequence*> batch;
  while (true) {
    StepPlan plan;
    {
      std::unique_lock<std::mutex> lock(mu_);
      work_cv_.wait(lock,
                    [this] { return stop_ || scheduler_.has_work() || !cancel_requests_.empty(); });
      ApplyCancellations(removed);
      if (stop_ && sequences_.empty()) {
        lock.unlock();
        Deliver(removed);
        idle_cv_.notify_all();
        return;
      }
      plan = scheduler_.Schedule();
      batch.clear();
      for (const ScheduledChunk& chunk : plan.chunks) {
        auto it = sequences_.find(chunk.id);
        batch.push_back(it == sequences_.end() ? nullptr : it->second.get());
      }
    }
    Deliver(removed);
    if (plan.empty()) {
      std::lock_guard<std::mutex> lock(mu_);
      if (sequences_.empty()) idle_cv_.notify_all();
      continue;
    }
    RunnerStepStats step_stats;
    const StepResult result = runner_->Execute(plan, batch, &step_stats);
    CaptureAfterStep(plan, batch, result);
    {
      std::lock_guard<std::mutex> lock(mu_);
      scheduler_.Update(plan, result);
      for (SeqId id : result.finished) sequences_.erase(id);
      for (SeqId id : result.failed) sequences_.erase(id);
      stats_.steps_total += 1;
      stats_.prompt_tokens_total += static_cast<uint64_t>(step_stats.prompt_tokens);
      stats_.generation_tokens_total += static_cast<uint64_t>(step_stats.sampled_tokens);
      stats_.requests_finished_total += result.finished.size() + result.failed.size();
      stats_.last_batch_sequences = static_cast<int>(plan.chunks.size());
      stats_.last_batch_tokens = plan.total_tokens;
      if (sequences_.empty()) idle_cv_.notify_all();
    }
  }
}

}  // namespace gf
