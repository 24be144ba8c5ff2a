// OpenAI response bodies and SSE chunk payloads (the JSON after "data: "), as compact strings.
//
// Contract: thread-safe pure functions; never throw. Text and token strings may contain any
// bytes: invalid UTF-8 is replaced by U+FFFD (DumpJson). Shapes follow serving-conventions A1:
//   usage  {prompt_tokens, completion_tokens, total_tokens, prompt_tokens_details:{cached_tokens}}
//   finish_reason: kStop -> "stop", kLength -> "length", kNone -> null. kCancelled and kError
//          never reach a success body (the caller sends an error instead); if passed they are
//          rendered as null.
//   Streaming: when include_usage was requested every chunk built here carries "usage": null
//          and UsageChunkJson's chunk ("choices": []) carries the totals; otherwise chunks have
//          no "usage" key.
// Logprobs cover every sampled token, including a finishing eos/stop token (which adds no text);
// so token strings may extend past `text` when a stop string was cut.
//   Completions: {tokens[], token_logprobs[], top_logprobs[{tok: lp}], text_offset[]}: token
//          strings are the token's bytes (invalid UTF-8 -> U+FFFD; if two alternatives render to
//          the same key the better one is kept), text_offset = byte offset of the token in the
//          choice's text (prompt text included with echo). With echo, prompt tokens come first;
//          the first prompt token has null token_logprob and null top_logprobs.
//   Chat: logprobs.content[] = {token, logprob, bytes[], top_logprobs[{token, logprob, bytes}]}.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "engine/serving/request.h"
#include "engine/tokenizer/tokenizer.h"
#include "server/openai/request_parser.h"

namespace gf::server {

struct ChoiceResult {
  int index = 0;
  std::string text;                               // generated text (without the prompt)
  std::vector<GeneratedToken> tokens;             // every sampled token
  std::optional<PromptLogprobs> prompt_logprobs;  // completions echo + logprobs
  std::vector<TokenId> prompt;                    // completions echo
  FinishReason finish = FinishReason::kNone;
};

struct UsageCounts {
  int64_t prompt_tokens = 0;  // includes cached ones
  int64_t completion_tokens = 0;
  int64_t cached_tokens = 0;
};

// `bytes` with every ill-formed or truncated UTF-8 sequence replaced by U+FFFD (maximal-subpart
// rule, engine/tokenizer/utf8.h).
std::string ToValidUtf8(std::string_view bytes);

// "stop" / "length" / "" (kNone, kCancelled, kError).
std::string_view OpenAiFinishReason(FinishReason finish);

// ---- /v1/completions ----
// object "text_completion"; choices in the given order. echo: text = prompt text + text.
// logprobs < 0: "logprobs": null.
std::string CompletionResponseJson(std::string_view id, int64_t created, std::string_view model,
                                   std::span<const ChoiceResult> choices,
                                   const UsageCounts& usage, bool echo, int logprobs,
                                   const Tokenizer& tokenizer);

// One streamed completion chunk (object "text_completion"). `tokens` are the tokens behind
// `text` (used only when logprobs >= 0); `text_offset` is the byte offset of this chunk's first
// token in the choice's text so far (prompt text included with echo).
std::string CompletionChunkJson(std::string_view id, int64_t created, std::string_view model,
                                int index, std::string_view text,
                                std::span<const GeneratedToken> tokens, FinishReason finish,
                                int logprobs, size_t text_offset, const Tokenizer& tokenizer,
                                bool include_usage);

// The streamed echo of a completion prompt: text = the prompt's text and (logprobs >= 0) the
// prompt logprobs (first token null) with offsets from 0. Send before the generated chunks.
std::string CompletionEchoChunkJson(std::string_view id, int64_t created, std::string_view model,
                                    int index, std::span<const TokenId> prompt,
                                    const std::optional<PromptLogprobs>& prompt_logprobs,
                                    int logprobs, const Tokenizer& tokenizer,
                                    bool include_usage);

// ---- /v1/chat/completions ----
// object "chat.completion"; message {role:"assistant", content}; logprobs null unless
// `logprobs`, then {content:[...]} with `top_logprobs` alternatives each.
std::string ChatResponseJson(std::string_view id, int64_t created, std::string_view model,
                             std::span<const ChoiceResult> choices, const UsageCounts& usage,
                             bool logprobs, int top_logprobs, const Tokenizer& tokenizer);

// object "chat.completion.chunk". The first chunk of a choice: delta {role:"assistant",
// content:""}, logprobs null, finish_reason null.
std::string ChatRoleChunkJson(std::string_view id, int64_t created, std::string_view model,
                              int index, bool include_usage);
// A content delta {content: text}; logprobs {content:[...]} of `tokens` when `logprobs`.
std::string ChatContentChunkJson(std::string_view id, int64_t created, std::string_view model,
                                 int index, std::string_view text,
                                 std::span<const GeneratedToken> tokens, bool logprobs,
                                 int top_logprobs, const Tokenizer& tokenizer,
                                 bool include_usage);
// The last chunk of a choice: delta {}, finish_reason set.
std::string ChatFinishChunkJson(std::string_view id, int64_t created, std::string_view model,
                                int index, FinishReason finish, bool include_usage);

// The final usage chunk: {id, object, created, model, choices: [], usage}; `object` is
// "text_completion" or "chat.completion.chunk".
std::string UsageChunkJson(std::string_view id, int64_t created, std::string_view model,
                           std::string_view object, const UsageCounts& usage);

// ---- /v1/models ----
// {id, object:"model", created, owned_by, max_model_len}
std::string ModelJson(const ModelInfo& model, int64_t created,
                      std::string_view owned_by = "goldfinch-serve");
// {object:"list", data:[ModelJson]}
std::string ModelsListJson(const ModelInfo& model, int64_t created,
                           std::string_view owned_by = "goldfinch-serve");

// ---- /tokenize, /detokenize (vLLM shapes) ----
// {"tokens":[...], "count": N, "max_model_len": M}
std::string TokenizeResponseJson(std::span<const TokenId> tokens, int64_t max_model_len);
// {"prompt": text}
std::string DetokenizeResponseJson(std::string_view text);

}  // namespace gf::server
