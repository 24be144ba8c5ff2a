// Request-size limits for the OpenAI API layer, and the one entry point that turns request body
// text into a JSON object safely.
//
// Contract: thread-safe pure functions. ParseJsonObject never throws and never recurses deeper
// than `max_json_depth`: the nesting depth is measured first by a linear, non-recursive scan
// that tracks string and escape state, so "[[[[..." of any length is rejected before
// nlohmann's recursive parser sees it. Errors: 400 invalid_request_error, param null:
// "Invalid JSON: ..." for syntax errors (nlohmann's message, which includes the byte offset),
// "... nesting depth exceeds N" for deep input, "request body must be a JSON object" otherwise.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

#include <nlohmann/json.hpp>

#include "server/openai/api_error.h"

namespace gf::server {

// Limits applied by the parsers (serving-conventions C2 defaults).
struct ApiLimits {
  size_t max_json_depth = 64;     // objects + arrays nested
  int max_n = 8;                  // n (and best_of) in [1, max_n]
  int max_logprobs = 5;           // completions `logprobs` in [0, max_logprobs]
  int max_top_logprobs = 20;      // chat `top_logprobs` in [0, max_top_logprobs]
  int max_stop = 4;               // user stop strings
  size_t max_stop_bytes = 256;    // bytes per stop string
  int64_t max_tokens_cap = 0;     // server cap on max_tokens; 0 = none beyond the context
  size_t max_prompts = 64;        // completions: prompts per request (string[] / int[][])
  size_t max_messages = 4096;     // chat: messages per request
  size_t max_logit_bias = 1024;   // logit_bias entries
};

// Maximum nesting depth of objects/arrays in `text` (0 for a scalar), scanning at most until
// the depth exceeds `stop_above` (then returns stop_above + 1). Malformed text is scanned
// anyway (the parser reports the syntax error afterwards). O(n), no recursion, no allocation.
size_t JsonNestingDepth(std::string_view text, size_t stop_above);

// Parses `body` as a JSON object under `limits`.
ApiResult<nlohmann::json> ParseJsonObject(std::string_view body, const ApiLimits& limits);

// Serialise with invalid UTF-8 replaced by U+FFFD (never throw). Compact.
std::string DumpJson(const nlohmann::json& value);
std::string DumpJson(const nlohmann::ordered_json& value);

}  // namespace gf::server
