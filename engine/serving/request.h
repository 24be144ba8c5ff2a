// GenerateRequest, GenerateEvent and RequestSink: everything the server hands the engine and
// everything it gets back. Plain values; no HTTP, JSON or gRPC here.
//
// One request = one sequence (the server fans OpenAI's `n` out into n requests). The engine
// tokenizes nothing: the prompt arrives as token ids. It detokenizes its own output (so stop
// strings end a sequence inside the step that produced them) and releases text only as complete
// UTF-8 characters.
//
// Events for one request are delivered in order, on the engine thread, to the request's sink;
// the last event has finish != kNone and no event follows it. Exactly one final event is
// delivered for every request that Submit accepted (also when it is cancelled or fails).
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/sha256.h"
#include "common/status.h"
#include "engine/sampler.h"
#include "engine/tokenizer/tokenizer.h"

namespace gf {

enum class FinishReason {
  kNone,       // not finished (intermediate event)
  kStop,       // end-of-text token, a stop token id or a stop string
  kLength,     // max_tokens reached
  kCancelled,  // Engine::Cancel (the client went away)
  kError,      // GenerateEvent::error says why (DeadlineExceeded for the request timeout)
};

// "stop", "length", "cancelled", "error" ("" for kNone).
const char* FinishReasonName(FinishReason reason);

// How a request uses the prefix cache (engine/prefix_cache/prefix_cache.h).
struct RequestCacheOptions {
  bool enabled = true;  // look up a stored prefix and store snapshots (per-request opt-out)
  // The namespace: SHA-256 of the tenant salt the server derived (HMAC of its secret and the
  // tenant, narrowed by a client cache_salt). Requests share entries only within one namespace.
  Sha256Digest salt_hash{};
  // Extra snapshot positions (prompt token counts 1..P-1): chat message boundaries and client
  // markers. Out-of-range values are ignored.
  std::vector<int64_t> snapshot_hints;
};

struct GenerateRequest {
  std::string id;                       // request id, for logs only
  std::string tenant;                   // API-key tenant ("" when auth is off); for logs/isolation
  std::vector<TokenId> prompt;          // >= 1 ids, each in [0, vocab)
  int64_t max_tokens = 16;              // >= 0; 0 = run the prompt only (echo / prompt logprobs)
  SamplingParams sampling;              // validated by Submit
  std::vector<std::string> stop;        // stop strings (<= 4 non-empty); the match is not emitted
  std::vector<TokenId> stop_token_ids;  // ids that finish with kStop (the token is not emitted
                                        // as text but is counted and reported in tokens)
  bool ignore_eos = false;              // when false, the model's eos id finishes with kStop
  bool logprobs = false;                // report logprobs of generated tokens (+ top alternatives)
  // Prompt logprobs: < 0 none; k >= 0 reports, for prompt positions 1..P-1, the logprob of the
  // prompt token and the top-k alternatives (needs logits of every prompt position).
  int prompt_logprobs = -1;
  // Past this instant the request finishes with kError / DeadlineExceeded.
  std::chrono::steady_clock::time_point deadline = std::chrono::steady_clock::time_point::max();
  RequestCacheOptions cache;
};

struct GeneratedToken {
  TokenId id = 0;
  float logprob = 0.0f;           // when GenerateRequest::logprobs
  std::vector<TokenLogprob> top;  // sampling.top_logprobs alternatives, best first
};

struct PromptLogprobs {
  // Entry i describes prompt token i+1 (token 0 has no logprob).
  std::vector<float> logprob;
  std::vector<std::vector<TokenLogprob>> top;
};

struct GenerateEvent {
  // Text released since the previous event: complete UTF-8 characters only, with any stop
  // string (and what follows it) removed; text that might begin a stop string is held back
  // until it cannot, and released on finish.
  std::string text;
  // Tokens sampled since the previous event (usually one), in order. A stop token id or the
  // eos id that finished the sequence is included here but contributes no text.
  std::vector<GeneratedToken> tokens;
  // On the first event only, when GenerateRequest::prompt_logprobs >= 0.
  std::optional<PromptLogprobs> prompt_logprobs;
  FinishReason finish = FinishReason::kNone;
  Status error;  // set when finish == kError
  // Running totals, valid on every event.
  int64_t prompt_tokens = 0;
  int64_t cached_tokens = 0;  // prompt tokens restored from the prefix cache (this namespace)
  int64_t completion_tokens = 0;
  // Seconds from Submit to the first step that ran this request (-1 if it never ran).
  double queue_seconds = -1.0;
};

// Receives one request's events. OnEvent is called on the engine thread and must not block or
// call back into the engine synchronously (queue the event and return). The sink is kept alive
// by the engine (shared_ptr) until the final event has been delivered.
class RequestSink {
 public:
  virtual ~RequestSink() = default;
  virtual void OnEvent(GenerateEvent event) = 0;
};

}  // namespace gf
