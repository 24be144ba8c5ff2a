#include "server/request_fanout.h"

#include <algorithm>

#include "server/openai/api_error.h"

namespace gf::server {
namespace {

double MillisSince(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
      .count();
}

}  // namespace

class ResponseGroup::ChoiceSink : public RequestSink {
 public:
  ChoiceSink(std::shared_ptr<ResponseGroup> group, size_t index)
      : group_(std::move(group)), index_(index) {}
  void OnEvent(GenerateEvent event) override {
    std::shared_ptr<ResponseGroup> group = group_;
    if (event.finish != FinishReason::kNone) group_.reset();  // no event follows the final one
    if (group) group->OnChoiceEvent(index_, std::move(event));
  }

 private:
  std::shared_ptr<ResponseGroup> group_;
  size_t index_;
};

ResponseGroup::ResponseGroup(ResponseSpec spec, std::shared_ptr<ResponseWriter> writer,
                             Engine& engine, ServerMetrics& metrics, DoneCallback on_done)
    : spec_(std::move(spec)),
      writer_(std::move(writer)),
      engine_(engine),
      metrics_(metrics),
      on_done_(std::move(on_done)),
      tokenizer_(engine.tokenizer()) {}

Status ResponseGroup::SubmitAll(std::vector<GenerateRequest> requests) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    choices_.resize(requests.size());
    for (size_t i = 0; i < requests.size(); ++i) {
      choices_[i].result.index = static_cast<int>(i);
      choices_[i].prompt_tokens = static_cast<int64_t>(requests[i].prompt.size());
      if (spec_.echo) choices_[i].result.prompt = requests[i].prompt;
    }
  }
  for (size_t i = 0; i < requests.size(); ++i) {
    auto sink = std::make_shared<ChoiceSink>(shared_from_this(), i);
    StatusOr<SeqId> id = engine_.Submit(std::move(requests[i]), std::move(sink));
    if (!id.ok()) {
      {
        std::lock_guard<std::mutex> lock(mu_);
        done_ = true;  // events of the cancelled choices are ignored
      }
      CancelAll();
      return id.status();
    }
    std::lock_guard<std::mutex> lock(ids_mu_);
    seq_ids_.push_back(*id);
  }
  return Status::Ok();
}

void ResponseGroup::Start() {
  std::weak_ptr<ResponseGroup> weak = shared_from_this();
  writer_->SetOnClose([weak] {
    if (auto group = weak.lock()) {
      group->client_gone_ = true;
      group->CancelAll();
    }
  });
  std::lock_guard<std::mutex> lock(mu_);
  if (done_) return;
  if (spec_.stream && !writer_->StartStream({})) {
    client_gone_ = true;
  }
  started_ = true;
  auto pending = std::move(pending_);
  pending_.clear();
  for (auto& [index, event] : pending) {
    if (done_) break;
    Process(index, event);
  }
}

void ResponseGroup::CancelAll() {
  std::vector<SeqId> ids;
  {
    std::lock_guard<std::mutex> lock(ids_mu_);
    ids = seq_ids_;
  }
  for (SeqId id : ids) engine_.Cancel(id);
}

void ResponseGroup::OnChoiceEvent(size_t index, GenerateEvent event) {
  std::lock_guard<std::mutex> lock(mu_);
  if (done_ || index >= choices_.size()) return;
  if (!started_) {
    pending_.emplace_back(index, std::move(event));
    return;
  }
  Process(index, event);
}

void ResponseGroup::Process(size_t index, GenerateEvent& event) {
  Choice& choice = choices_[index];
  if (choice.finished) return;
  const auto now = std::chrono::steady_clock::now();
  if (!choice.queue_observed && event.queue_seconds >= 0.0) {
    choice.queue_observed = true;
    metrics_.ObserveQueueTime(event.queue_seconds);
  }
  choice.prompt_tokens = event.prompt_tokens;
  choice.cached_tokens = event.cached_tokens;
  if (!event.tokens.empty()) {
    if (ttft_ms_ < 0.0) {
      ttft_ms_ = MillisSince(spec_.arrival);
      metrics_.ObserveTimeToFirstToken(ttft_ms_ / 1000.0);
    }
    if (choice.has_last_token) {
      metrics_.ObserveInterTokenLatency(
          std::chrono::duration<double>(now - choice.last_token).count() /
          static_cast<double>(event.tokens.size()));
    }
    choice.last_token = now;
    choice.has_last_token = true;
  }
  if (event.finish == FinishReason::kError) {
    metrics_.ObserveFinish("error");
    Fail(event.error);
    return;
  }
  if (event.finish == FinishReason::kCancelled) {
    if (client_gone_) {
      // The whole response ends here: every unfinished choice counts as cancelled.
      for (const Choice& other : choices_) {
        if (!other.finished) metrics_.ObserveFinish("cancelled");
      }
      const UsageCounts usage = Usage();
      ResponseSummary summary;
      summary.status = 499;
      summary.prompt_tokens = usage.prompt_tokens;
      summary.cached_tokens = usage.cached_tokens;
      summary.completion_tokens = usage.completion_tokens;
      summary.client_gone = true;
      summary.finish_reason = "cancelled";
      Finish(summary);
    } else {
      metrics_.ObserveFinish("cancelled");
      Fail(Unavailable("the server is shutting down; the request was cancelled"));
    }
    return;
  }
  if (spec_.stream) StreamEvent(index, choice, event);
  ChoiceResult& result = choice.result;
  result.text += event.text;
  for (auto& token : event.tokens) result.tokens.push_back(std::move(token));
  if (event.prompt_logprobs.has_value()) result.prompt_logprobs = std::move(event.prompt_logprobs);
  if (event.finish != FinishReason::kNone) {
    result.finish = event.finish;
    choice.finished = true;
    metrics_.ObserveFinish(FinishReasonName(event.finish));
    if (++finished_count_ == choices_.size()) Complete();
  }
}

void ResponseGroup::SendStreamEvent(const std::string& json) {
  if (!writer_->SendEvent(json)) client_gone_ = true;
}

void ResponseGroup::StreamEvent(size_t index, Choice& choice, const GenerateEvent& event) {
  const int i = static_cast<int>(index);
  const bool finishing =
      event.finish == FinishReason::kStop || event.finish == FinishReason::kLength;
  if (spec_.kind == ApiKind::kChat) {
    if (!choice.role_sent) {
      choice.role_sent = true;
      SendStreamEvent(
          ChatRoleChunkJson(spec_.response_id, spec_.created, spec_.model, i, spec_.include_usage));
    }
    if (!event.text.empty() || (spec_.chat_logprobs && !event.tokens.empty())) {
      SendStreamEvent(ChatContentChunkJson(spec_.response_id, spec_.created, spec_.model, i,
                                           event.text, event.tokens, spec_.chat_logprobs,
                                           spec_.top_logprobs, tokenizer_, spec_.include_usage));
    }
    if (finishing) {
      SendStreamEvent(ChatFinishChunkJson(spec_.response_id, spec_.created, spec_.model, i,
                                          event.finish, spec_.include_usage));
    }
    return;
  }
  if (spec_.echo && !choice.echo_sent) {
    choice.echo_sent = true;
    SendStreamEvent(CompletionEchoChunkJson(spec_.response_id, spec_.created, spec_.model, i,
                                            choice.result.prompt, event.prompt_logprobs,
                                            spec_.logprobs, tokenizer_, spec_.include_usage));
    choice.text_offset += tokenizer_.Decode(choice.result.prompt).size();
  }
  const bool with_tokens = spec_.logprobs >= 0 && !event.tokens.empty();
  if (!event.text.empty() || with_tokens || finishing) {
    SendStreamEvent(
        CompletionChunkJson(spec_.response_id, spec_.created, spec_.model, i, event.text,
                            event.tokens, finishing ? event.finish : FinishReason::kNone,
                            spec_.logprobs, choice.text_offset, tokenizer_, spec_.include_usage));
    choice.text_offset += event.text.size();
  }
}

UsageCounts CombineUsage(std::span<const ChoiceTokens> choices, int n) {
  UsageCounts usage;
  const size_t per_prompt = static_cast<size_t>(std::max(n, 1));
  int64_t prompt_cached = 0;
  for (size_t i = 0; i < choices.size(); ++i) {
    const ChoiceTokens& choice = choices[i];
    usage.completion_tokens += choice.completion_tokens;
    if (i % per_prompt == 0) {
      usage.prompt_tokens += choice.prompt_tokens;
      prompt_cached = 0;
    }
    prompt_cached = std::max(prompt_cached, choice.cached_tokens);
    if (i % per_prompt == per_prompt - 1 || i + 1 == choices.size()) {
      usage.cached_tokens += prompt_cached;
    }
  }
  return usage;
}

UsageCounts ResponseGroup::Usage() const {
  std::vector<ChoiceTokens> tokens;
  tokens.reserve(choices_.size());
  for (const Choice& choice : choices_) {
    tokens.push_back({choice.prompt_tokens, choice.cached_tokens,
                      static_cast<int64_t>(choice.result.tokens.size())});
  }
  return CombineUsage(tokens, spec_.n);
}

void ResponseGroup::Complete() {
  const UsageCounts usage = Usage();
  ResponseSummary summary;
  summary.status = 200;
  summary.prompt_tokens = usage.prompt_tokens;
  summary.cached_tokens = usage.cached_tokens;
  summary.completion_tokens = usage.completion_tokens;
  summary.ttft_ms = ttft_ms_;
  summary.finish_reason =
      choices_.empty() ? "" : std::string(OpenAiFinishReason(choices_[0].result.finish));
  metrics_.ObserveRequestTokens(usage.prompt_tokens, usage.completion_tokens);
  if (spec_.stream) {
    if (spec_.include_usage) {
      SendStreamEvent(UsageChunkJson(
          spec_.response_id, spec_.created, spec_.model,
          spec_.kind == ApiKind::kChat ? "chat.completion.chunk" : "text_completion", usage));
    }
    SendStreamEvent("[DONE]");
    writer_->EndStream();
  } else {
    std::vector<ChoiceResult> results;
    results.reserve(choices_.size());
    for (Choice& choice : choices_) results.push_back(std::move(choice.result));
    HttpResponse response;
    response.body =
        spec_.kind == ApiKind::kChat
            ? ChatResponseJson(spec_.response_id, spec_.created, spec_.model, results, usage,
                               spec_.chat_logprobs, spec_.top_logprobs, tokenizer_)
            : CompletionResponseJson(spec_.response_id, spec_.created, spec_.model, results, usage,
                                     spec_.echo, spec_.logprobs, tokenizer_);
    writer_->Send(std::move(response));
  }
  Finish(summary);
}

void ResponseGroup::Fail(const Status& status) {
  const ApiError error = ApiErrorFromStatus(status);
  const UsageCounts usage = Usage();
  ResponseSummary summary;
  summary.status = error.http_status;
  summary.prompt_tokens = usage.prompt_tokens;
  summary.cached_tokens = usage.cached_tokens;
  summary.completion_tokens = usage.completion_tokens;
  summary.error_type = error.type;
  summary.ttft_ms = ttft_ms_;
  summary.finish_reason = "error";
  if (spec_.stream) {
    summary.status = 200;  // the headers went out already
    SendStreamEvent(ErrorJson(error));
    SendStreamEvent("[DONE]");
    writer_->EndStream();
  } else {
    HttpResponse response;
    response.status = error.http_status;
    response.body = ErrorJson(error);
    if (error.http_status >= 500) response.headers.emplace_back("x-should-retry", "false");
    if (error.http_status == 503) response.headers.emplace_back("retry-after", "1");
    writer_->Send(std::move(response));
  }
  Finish(summary);
  CancelAll();
}

void ResponseGroup::Finish(ResponseSummary summary) {
  if (done_) return;
  done_ = true;
  summary.duration_ms = MillisSince(spec_.arrival);
  summary.client_gone = summary.client_gone || client_gone_;
  metrics_.ObserveEndToEndLatency(summary.duration_ms / 1000.0);
  if (on_done_) on_done_(summary);
}

}  // namespace gf::server
