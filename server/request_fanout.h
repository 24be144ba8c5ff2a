// ResponseGroup: one OpenAI request fanned out into engine requests (prompts x n choices) and
// their events gathered back into one JSON response or one SSE stream.
//
// Life: the route handler (I/O thread) creates the group, calls SubmitAll (which submits every
// choice, or cancels the ones already submitted and returns the first error), then Start()
// (streaming: sends the SSE headers, then everything that arrived meanwhile). Engine events
// arrive on the engine thread; they are turned into chunks and handed to the thread-safe
// ResponseWriter without blocking. A client disconnect (ResponseWriter::SetOnClose) cancels
// every unfinished choice, so their sequences leave the batch within one engine step.
// An error in one choice ends the whole response: a non-streamed request gets the error object
// with its HTTP status; a stream gets `data: {"error": ...}` and `data: [DONE]`; the other
// choices are cancelled.
//
// Ownership: the group is shared by its engine sinks and the handler; the writer's close
// callback holds only a weak reference. Threads: OnChoiceEvent is serialised by mu_; the close
// callback takes only ids_mu_ (never mu_), so a writer that reports a close from inside
// SendEvent cannot deadlock.
#pragma once

#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "engine/serving/engine.h"
#include "server/http/http_types.h"
#include "server/metrics.h"
#include "server/openai/response_builder.h"

namespace gf::server {

enum class ApiKind { kCompletion, kChat };

struct ResponseSpec {
  ApiKind kind = ApiKind::kCompletion;
  std::string response_id;  // "cmpl-..." / "chatcmpl-..."
  int64_t created = 0;      // unix seconds
  std::string model;
  int n = 1;  // choices per prompt (choice index = prompt * n + i)
  bool stream = false;
  bool include_usage = false;
  bool echo = false;  // completions
  int logprobs = -1;  // completions: alternatives per token, -1 = none
  bool chat_logprobs = false;
  int top_logprobs = 0;
  std::string request_id;  // for logs
  std::string tenant;
  std::string route;
  std::chrono::steady_clock::time_point arrival;
};

// Called once when the response is complete (or abandoned): status = HTTP status sent (200 for
// streams that started), finish = the first choice's finish reason, error_type when failed.
struct ResponseSummary {
  int status = 200;
  int64_t prompt_tokens = 0;
  int64_t cached_tokens = 0;  // as in usage: each prompt's reused tokens once
  int64_t completion_tokens = 0;
  double ttft_ms = -1.0;
  double duration_ms = 0.0;
  std::string finish_reason;
  std::string error_type;
  bool client_gone = false;
};

// One choice's token counts, for CombineUsage.
struct ChoiceTokens {
  int64_t prompt_tokens = 0;
  int64_t cached_tokens = 0;
  int64_t completion_tokens = 0;
};

// The usage of a response whose choices come n per prompt, adjacent (index = prompt * n + i):
// completion tokens summed over all choices; each prompt's prompt_tokens counted once (OpenAI's
// and vLLM's rule for n > 1); each prompt's cached_tokens counted once as the most any of its
// choices reused (they may differ: one choice can hit a snapshot another just stored), so
// cached_tokens <= prompt_tokens always holds.
UsageCounts CombineUsage(std::span<const ChoiceTokens> choices, int n);

class ResponseGroup : public std::enable_shared_from_this<ResponseGroup> {
 public:
  using DoneCallback = std::function<void(const ResponseSummary&)>;

  ResponseGroup(ResponseSpec spec, std::shared_ptr<ResponseWriter> writer, Engine& engine,
                ServerMetrics& metrics, DoneCallback on_done);

  // Submits one engine request per choice (choice index = position). On the first failure the
  // already-submitted choices are cancelled and that Status is returned (nothing was sent).
  Status SubmitAll(std::vector<GenerateRequest> requests);
  // Starts the response (after SubmitAll succeeded).
  void Start();

 private:
  class ChoiceSink;
  struct Choice {
    ChoiceResult result;
    SeqId seq = 0;
    bool role_sent = false;  // chat stream: the role chunk went out
    bool echo_sent = false;  // completions stream: the echo chunk went out
    bool finished = false;
    bool queue_observed = false;
    size_t text_offset = 0;  // completions stream: bytes of text sent so far (incl. echo)
    int64_t prompt_tokens = 0;
    int64_t cached_tokens = 0;
    std::chrono::steady_clock::time_point last_token;
    bool has_last_token = false;
  };

  void OnChoiceEvent(size_t index, GenerateEvent event);
  void Process(size_t index, GenerateEvent& event);  // mu_ held, started_
  void StreamEvent(size_t index, Choice& choice, const GenerateEvent& event);
  void Fail(const Status& status);  // mu_ held
  void Complete();                  // mu_ held; all choices finished
  void CancelAll();
  void Finish(ResponseSummary summary);  // mu_ held; once
  UsageCounts Usage() const;
  void SendStreamEvent(const std::string& json);

  const ResponseSpec spec_;
  std::shared_ptr<ResponseWriter> writer_;
  Engine& engine_;
  ServerMetrics& metrics_;
  DoneCallback on_done_;
  const Tokenizer& tokenizer_;

  std::mutex mu_;
  std::vector<Choice> choices_;
  std::vector<std::pair<size_t, GenerateEvent>> pending_;  // before Start
  bool started_ = false;
  bool done_ = false;
  size_t finished_count_ = 0;
  double ttft_ms_ = -1.0;

  std::mutex ids_mu_;
  std::vector<SeqId> seq_ids_;  // submitted choices (for cancellation)
  std::atomic<bool> client_gone_{false};
};

}  // namespace gf::server
