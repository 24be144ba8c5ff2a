// POST /v1/chat/completions: request body text -> a validated ChatRequest with the rendered
// prompt token ids.
//
// Contract: thread-safe pure function (tokenizer and template are shared and immutable); never
// throws; every problem becomes an ApiError (shared fields and ranges: request_parser.h).
// Chat-specific fields:
//   messages   required non-empty array (<= ApiLimits::max_messages) of objects:
//                role: "system" | "developer" (= system) | "user" | "assistant"; anything else
//                      (including "tool"/"function") -> 400 "messages[i].role"
//                content: string | array of {"type":"text","text":string} parts (joined with
//                      no separator); other part types (image_url, input_audio, refusal...) or
//                      null -> 400 "messages[i].content"
//                tool_calls / function_call (non-null) -> 400 "messages[i].tool_calls" /
//                      "messages[i].function_call"; "name" and other keys ignored
//                cache_control: null or {"type": "ephemeral"} (Anthropic's convention; an
//                      optional string "ttl" is accepted and ignored): marks the end of this
//                      message as a prefix-cache point; other shapes -> 400
//                      "messages[i].cache_control"
//   tools, functions         only null or [] (else 400 naming the field: not supported)
//   tool_choice, function_call  only null or "none"
//   response_format          only null or {"type":"text"} (400 "response_format")
//   audio                    only null (400 "audio")
//   max_completion_tokens, max_tokens (deprecated): integer >= 0; max_completion_tokens wins
//              when both are set. Default: fill the context (max_model_len - prompt tokens),
//              bounded by max_tokens_cap when set. A prompt that leaves no room for one token
//              -> 400 context_length_exceeded, param "messages".
//   logprobs   bool; top_logprobs integer in [0, max_top_logprobs], only with logprobs == true
//              (else 400 "top_logprobs")
//   cache_prompt, cache_salt  see request_parser.h
// The template's stop strings are appended to base.stop after the user's (so base.stop may
// hold more than max_stop entries). cache.snapshot_hints = ChatSnapshotHints (every message
// boundary and every cache_control mark, as prompt token counts).
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "engine/serving/request.h"
#include "engine/tokenizer/tokenizer.h"
#include "server/openai/api_error.h"
#include "server/openai/chat_template.h"
#include "server/openai/json_limits.h"
#include "server/openai/request_parser.h"

namespace gf::server {

struct ChatRequest {
  std::string model;
  std::vector<TokenId> prompt;  // rendered conversation + generation prompt, non-empty
  int n = 1;
  bool stream = false;
  bool include_usage = false;
  bool logprobs = false;
  int top_logprobs = 0;
  // Sampling, stop (user's + template's), max_tokens, logprobs flags; prompt empty:
  // base.logprobs = logprobs, base.sampling.top_logprobs = top_logprobs, prompt_logprobs -1.
  GenerateRequest base;
  // cache_prompt, cache_salt and the snapshot hints; the route turns them into base.cache.
  CacheRequestFields cache;
};

ApiResult<ChatRequest> ParseChat(std::string_view body, const ModelInfo& model,
                                 const Tokenizer& tokenizer, const ChatTemplate& chat_template,
                                 const ApiLimits& limits);

}  // namespace gf::server
