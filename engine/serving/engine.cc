#include "engine/serving/engine.h"

#include <algorithm>
#include <string>

#include "engine/serving/active_sequence.h"
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
  GF_RETURN_IF_ERROR(scheduler_.Add(id, static_cast<int64_t>(seq->request.prompt.size())));
  sequences_.emplace(id, std::move(seq));
  work_cv_.notify_one();
  return id;
}

void Engine::Cancel(SeqId id) {
  std::lock_guard<std::mutex> lock(mu_);
  if (sequences_.count(id) == 0) return;
  cancel_requests_.push_back(id);
  work_cv_.notify_one();
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
    GenerateEvent event;
    event.prompt_tokens = static_cast<int64_t>(seq->request.prompt.size());
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
                    [this] { return stop_ || !scheduler_.empty() || !cancel_requests_.empty(); });
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
