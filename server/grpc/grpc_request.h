// gRPC request conversion: goldfinch.v1 request messages -> validated engine values.
//
// Contract: thread-safe pure functions (tokenizer and chat template are shared and immutable);
// no gRPC runtime, no sockets, never throw, never read out of bounds on any message. The
// semantics are the HTTP API's (server/openai/request_parser.h, completion_parser.h,
// chat_parser.h): the same ranges and defaults, the same limits (ApiLimits), the same context
// check and message (CheckContextLength), text tokenized with EncodeUserText (never a control
// token), chat rendered with ChatTemplate::Render. tests/grpc_request_test.cc feeds the same
// values through both APIs and checks they agree.
//
// Errors (gf::Status, mapped to gRPC codes by server/status_mapping):
//   NotFound         "model: the model 'x' is not served" (model non-empty and != ModelInfo::id)
//   InvalidArgument  the message starts with the proto field path of the offending field, then
//                    ": ", e.g. "sampling.temperature: must be in [0, 2]",
//                    "tokens.ids[3]: token id 300 is outside [0, 257)",
//                    "chat.messages[1].role: ...", "input: one of text, tokens or chat is
//                    required", "max_tokens: This model's maximum context length is ...".
// Checks run cheapest first (model, request_id, sampling, stop, logprobs, then the input, whose
// tokenization is the expensive part, then the context check), so the first problem found is
// reported.
//
// Field rules (proto3 `optional` fields are "unset" when !has_x()):
//   sampling.temperature        [0, 2], default 1       sampling.top_p        (0, 1], default 1
//   sampling.top_k              >= -1 (-1, 0 = off)     sampling.min_p        [0, 1], default 0
//   sampling.presence_penalty / frequency_penalty  [-2, 2], default 0
//   sampling.repetition_penalty (0, 2], default 1
//   sampling.logit_bias         <= ApiLimits::max_logit_bias entries, ids in [0, vocab),
//                               values finite in [-100, 100]; converted sorted by id
//   sampling.seed               unset -> RandomSeed()
//   stop                        <= ApiLimits::max_stop non-empty strings of <= max_stop_bytes
//   stop_token_ids              ids in [0, vocab)
//   top_logprobs                [0, ApiLimits::max_top_logprobs]; > 0 needs logprobs
//   max_tokens                  unset: 16 for text/tokens; for chat the rest of the context
//                               (max_model_len - prompt), bounded by max_tokens_cap when set.
//                               0 is accepted (with echo: the prompt is only scored).
//   request_id                  "" or 1..128 characters of [A-Za-z0-9._:-] (IsValidRequestId)
//   text                        non-empty, must tokenize to >= 1 id
//   tokens.ids                  non-empty, ids in [0, vocab)
//   chat.messages               1..ApiLimits::max_messages messages; role "system",
//                               "developer" (= system), "user" or "assistant"; the template's
//                               stop strings are appended after the user's stop strings;
//                               cache_marker as the HTTP cache_control
//   cache_prompt                unset = true
//   cache_salt                  1..256 bytes when set
// The cache fields become ConvertedGenerate::cache exactly as the HTTP parsers fill theirs
// (chat: snapshot hints = ChatSnapshotHints).
#pragma once

#include <string>
#include <vector>

#include "common/status.h"
#include "engine/serving/request.h"
#include "engine/tokenizer/tokenizer.h"
#include "goldfinch/v1/inference.pb.h"
#include "server/cache_namespace.h"
#include "server/openai/chat_template.h"
#include "server/openai/json_limits.h"
#include "server/openai/request_parser.h"

namespace gf::server {

// The default max_tokens for text and token-id prompts (as POST /v1/completions).
inline constexpr int64_t kDefaultMaxTokens = 16;

struct ConvertedGenerate {
  // The engine request: prompt ids, sampling (top_logprobs included), stop strings (+ the chat
  // template's for chat input), stop_token_ids, ignore_eos, max_tokens, logprobs and
  // prompt_logprobs (= echo && logprobs ? top_logprobs : -1). `id` is client_request_id (empty
  // when the client sent none: the caller sets a generated one); tenant and deadline are left
  // at their defaults for the caller to fill.
  GenerateRequest request;
  bool echo = false;
  // The validated client request_id, or "" when none was sent.
  std::string client_request_id;
  // cache_prompt, cache_salt and (chat) the snapshot hints; the service turns them into
  // request.cache with CacheNamespaces::OptionsFor.
  CacheRequestFields cache;
};

StatusOr<ConvertedGenerate> ConvertGenerateRequest(const goldfinch::v1::GenerateRequest& in,
                                                   const ModelInfo& model,
                                                   const Tokenizer& tokenizer,
                                                   const ChatTemplate& chat_template,
                                                   const ApiLimits& limits);

// The ids of `in.text` (EncodeUserText). Empty text -> InvalidArgument "text: ..."; a wrong
// model -> NotFound as above.
StatusOr<std::vector<TokenId>> ConvertTokenize(const goldfinch::v1::TokenizeRequest& in,
                                               const ModelInfo& model, const Tokenizer& tokenizer);

// The ids of `in.token_ids` (may be empty), each in [0, vocab) else InvalidArgument
// "token_ids[i]: ..."; a wrong model -> NotFound as above.
StatusOr<std::vector<TokenId>> ConvertDetokenize(const goldfinch::v1::DetokenizeRequest& in,
                                                 const ModelInfo& model);

}  // namespace gf::server
