// Field parsing shared by the OpenAI request parsers (completions, chat, tokenize): the served
// model description, typed field readers, the sampling/stop/stream fields and the context check.
//
// Contract: thread-safe pure functions over an already parsed JSON object; they never throw.
// Every reader returns an ApiError (400 invalid_request_error, param = the field name, nested
// fields dotted: "stream_options.include_usage") for a wrong type, a non-finite or out-of-range
// value. A field that is absent or JSON null takes its default. Unknown fields are ignored by
// the callers. Integers must be JSON integers (16.0 is rejected, like OpenAI); floats accept
// any JSON number that is finite (1e999 parses to inf and is rejected).
//
// Accepted ranges (documented here once; OpenAI's where it has one, else vLLM's):
//   temperature        [0, 2]      default 1 (OpenAI's default; 0 = greedy)
//   top_p              (0, 1]      default 1
//   top_k              -1 or >= 0  default 0; -1 and 0 both mean disabled (stored as 0)
//   min_p              [0, 1]      default 0
//   presence_penalty   [-2, 2]     default 0
//   frequency_penalty  [-2, 2]     default 0
//   repetition_penalty (0, 2]      default 1
//   seed               any int64 (or uint64); absent/null -> drawn from std::random_device
//   n                  [1, max_n]  default 1
//   stop               string or array of <= max_stop non-empty strings of <= max_stop_bytes
//   logit_bias         object {"<decimal id in [0, vocab)>": number in [-100, 100]},
//                      at most max_logit_bias entries; reported as param "logit_bias"
//   stream             bool, default false
//   stream_options     object or null; only with stream == true, else 400 "stream_options";
//                      include_usage: bool or null (param "stream_options.include_usage");
//                      other keys ignored
//   ignore_eos         bool (vLLM extension): generation continues past end-of-text
//   user               string or null (ignored)
//   cache_prompt       bool, default true (llama.cpp's name): false = this request neither
//                      looks up nor stores prefix-cache entries
//   cache_salt         string of 1..256 bytes or null (vLLM's name): narrows cache sharing to
//                      requests of the same tenant with the same salt (server/cache_namespace.h);
//                      anything else -> 400 "cache_salt"
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine/serving/request.h"
#include "engine/tokenizer/tokenizer.h"
#include "server/cache_namespace.h"
#include "server/openai/api_error.h"
#include "server/openai/json_limits.h"

namespace gf::server {

// The served model, as the API layer needs it.
struct ModelInfo {
  std::string id;             // the name clients must send as "model"
  int vocab_size = 0;         // token ids are valid in [0, vocab_size)
  int64_t max_model_len = 0;  // prompt + completion tokens
  TokenId eos_id = 0;
};

// ---- Typed readers: `*out` is left unchanged when the field is absent or null. ----
// `param` is the name reported in errors (usually `key`, or a dotted path).
std::optional<ApiError> ReadBool(const nlohmann::json& object, const char* key, bool* out,
                                 const std::string& param = "");
// Finite number in [lo, hi]; `lo_open` / `hi_open` make the bound exclusive.
std::optional<ApiError> ReadFloat(const nlohmann::json& object, const char* key, double lo,
                                  double hi, bool lo_open, bool hi_open, float* out,
                                  const std::string& param = "");
// JSON integer in [lo, hi].
std::optional<ApiError> ReadInt(const nlohmann::json& object, const char* key, int64_t lo,
                                int64_t hi, int64_t* out, const std::string& param = "");
// String (any content).
std::optional<ApiError> ReadString(const nlohmann::json& object, const char* key, std::string* out,
                                   const std::string& param = "");

// "model": required string equal to model.id (400 when missing/not a string, 404 otherwise).
std::optional<ApiError> CheckModel(const nlohmann::json& body, const ModelInfo& model);

// The sampling fields (temperature, top_p, top_k, min_p, penalties, logit_bias, seed) into
// out->sampling, and "stop" into out->stop. Also checks "user"'s type.
std::optional<ApiError> ParseSamplingFields(const nlohmann::json& body, const ModelInfo& model,
                                            const ApiLimits& limits, GenerateRequest* out);

// "cache_prompt" and "cache_salt" into out->cache_prompt / out->cache_salt (hints untouched).
std::optional<ApiError> ParseCacheFields(const nlohmann::json& body, CacheRequestFields* out);

// "n" in [1, max_n] (default 1).
std::optional<ApiError> ParseN(const nlohmann::json& body, const ApiLimits& limits, int* n);

// "stream" and "stream_options".
std::optional<ApiError> ParseStreamFields(const nlohmann::json& body, bool* stream,
                                          bool* include_usage);

// prompt_tokens + max_tokens <= max_model_len (and max_tokens <= max_tokens_cap when set).
// On overflow: 400, code "context_length_exceeded", param `max_tokens_param` when the prompt
// alone fits (prompt_tokens <= max_model_len), else `prompt_param`; the message is OpenAI's:
// "This model's maximum context length is X tokens. However, you requested Y tokens (P in the
// prompt, M for the completion). Please reduce the length of the prompt or completion."
// The cap violation is 400 param `max_tokens_param` with no code.
std::optional<ApiError> CheckContextLength(int64_t prompt_tokens, int64_t max_tokens,
                                           const ModelInfo& model, const ApiLimits& limits,
                                           const std::string& prompt_param,
                                           const std::string& max_tokens_param);

// User text -> ids with no control tokens ("<|endoftext|>" in the text stays bytes).
std::vector<TokenId> EncodeUserText(const Tokenizer& tokenizer, std::string_view text);

// A fresh random seed (std::random_device), so requests without "seed" differ.
uint64_t RandomSeed();

// ---- POST /tokenize and /detokenize (vLLM shapes) ----
// {"model"?: string (checked when present), "prompt": non-empty string}; tokenized with
// EncodeUserText.
struct TokenizeRequest {
  std::vector<TokenId> tokens;
};
ApiResult<TokenizeRequest> ParseTokenize(std::string_view body, const ModelInfo& model,
                                         const Tokenizer& tokenizer, const ApiLimits& limits);

// {"model"?: string, "tokens": [ids in [0, vocab)]} (may be empty); bad ids -> 400 "tokens".
struct DetokenizeRequest {
  std::vector<TokenId> tokens;
};
ApiResult<DetokenizeRequest> ParseDetokenize(std::string_view body, const ModelInfo& model,
                                             const ApiLimits& limits);

}  // namespace gf::server
