// POST /v1/completions: request body text -> a validated CompletionRequest.
//
// Contract: thread-safe pure function (the tokenizer is shared and immutable); never throws;
// every problem becomes an ApiError (see request_parser.h for the shared fields and ranges).
// Completion-specific fields:
//   model      required, must equal ModelInfo::id (404 model_not_found otherwise)
//   prompt     required: non-empty string | non-empty string[] | int[] | int[][] (each inner
//              list non-empty, ids in [0, vocab)); at most ApiLimits::max_prompts prompts;
//              strings are tokenized with EncodeUserText (never yields control tokens); a
//              string that tokenizes to nothing is rejected. Errors: param "prompt".
//   max_tokens integer >= 0, default 16 (0 with echo = score the prompt only)
//   logprobs   integer in [0, max_logprobs] or null
//   echo       bool
//   suffix     only null or "" (insertion is not supported), else 400 "suffix"
//   best_of    only null or == n, else 400 "best_of"
//   cache_prompt, cache_salt  see request_parser.h (no snapshot hints for completions)
// Then, per prompt, the context check (request_parser.h CheckContextLength, params "prompt" /
// "max_tokens").
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "engine/serving/request.h"
#include "engine/tokenizer/tokenizer.h"
#include "server/openai/api_error.h"
#include "server/openai/json_limits.h"
#include "server/openai/request_parser.h"

namespace gf::server {

struct CompletionRequest {
  std::string model;
  std::vector<std::vector<TokenId>> prompts;  // >= 1, each non-empty
  int n = 1;                                  // choices per prompt; choice index = p * n + i
  bool stream = false;
  bool include_usage = false;  // stream_options.include_usage
  bool echo = false;
  int logprobs = -1;  // -1 = none, else the number of alternatives per token
  // Sampling, stop, max_tokens, logprobs flags; prompt empty (one copy per prompt x n):
  // base.logprobs = logprobs >= 0, base.sampling.top_logprobs = max(logprobs, 0),
  // base.prompt_logprobs = echo && logprobs >= 0 ? logprobs : -1.
  GenerateRequest base;
  // cache_prompt and cache_salt; the route turns them into base.cache (CacheNamespaces).
  CacheRequestFields cache;
};

ApiResult<CompletionRequest> ParseCompletion(std::string_view body, const ModelInfo& model,
                                             const Tokenizer& tokenizer, const ApiLimits& limits);

}  // namespace gf::server
