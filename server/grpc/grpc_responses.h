// gRPC response rendering: engine events and server facts -> goldfinch.v1 response messages.
//
// Contract: thread-safe pure functions (the tokenizer is shared and immutable); no gRPC runtime,
// never throw. Each Fill* clears `*out` first, then fills it completely.
//
// FillGenerateResponse renders one GenerateEvent as one GenerateResponse:
//   text            event.text (whole UTF-8 characters, stop strings already removed)
//   tokens          one per event token: id, token = Tokenizer::TokenBytes(id) (raw bytes, may be
//                   half a UTF-8 character); logprob and top_logprobs (id, logprob, bytes) only
//                   when `logprobs`
//   request_id      only when `first`
//   prompt          only when `first && echo`: every id of `prompt` with its bytes; when
//                   `logprobs` and event.prompt_logprobs is present, prompt token i >= 1 gets
//                   logprob[i-1] and top[i-1] (token 0 never has a logprob; missing entries
//                   are left unset rather than read out of bounds)
//   finish_reason   kStop -> FINISH_REASON_STOP, kLength -> FINISH_REASON_LENGTH, with usage
//                   (prompt, completion and cached tokens; clamped to uint32) on that event only
// kCancelled and kError events are not rendered as a finish: finish_reason stays UNSPECIFIED and
// no usage is set (text/tokens still are); the caller ends the call with TerminalStatus(event).
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "common/status.h"
#include "engine/serving/request.h"
#include "engine/tokenizer/tokenizer.h"
#include "goldfinch/v1/inference.pb.h"
#include "server/openai/request_parser.h"

namespace gf::server {

void FillGenerateResponse(const GenerateEvent& event, const Tokenizer& tokenizer, bool logprobs,
                          bool first, bool echo, std::span<const TokenId> prompt,
                          const std::string& request_id, goldfinch::v1::GenerateResponse* out);

// True for the finishes FillGenerateResponse renders as the last message (kStop, kLength).
bool IsRenderedFinish(FinishReason finish);

// The status that ends the call after `event`: Ok for kNone/kStop/kLength; Cancelled for
// kCancelled; event.error for kError (Internal when the engine left it ok).
Status TerminalStatus(const GenerateEvent& event);

// {token_ids, max_model_len}.
void FillTokenize(std::span<const TokenId> ids, const ModelInfo& model,
                  goldfinch::v1::TokenizeResponse* out);

// One model: {id, created (Unix seconds the model was loaded), owned_by, max_model_len}; the
// same owned_by default as the HTTP /v1/models.
void FillListModels(const ModelInfo& model, int64_t created, goldfinch::v1::ListModelsResponse* out,
                    std::string_view owned_by = "goldfinch-serve");

}  // namespace gf::server
