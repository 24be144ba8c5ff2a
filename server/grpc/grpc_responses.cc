#include "server/grpc/grpc_responses.h"

#include <algorithm>
#include <limits>
#include <string>

namespace gf::server {

namespace {

namespace pb = goldfinch::v1;

uint32_t ClampToUint32(int64_t value) {
  if (value <= 0) return 0;
  return static_cast<uint32_t>(std::min<int64_t>(value, std::numeric_limits<uint32_t>::max()));
}

std::string TokenText(const Tokenizer& tokenizer, TokenId id) {
  return std::string(tokenizer.TokenBytes(id));
}

void FillAlternatives(const std::vector<TokenLogprob>& top, const Tokenizer& tokenizer,
                      google::protobuf::RepeatedPtrField<pb::TokenLogprob>* out) {
  out->Reserve(static_cast<int>(top.size()));
  for (const TokenLogprob& alternative : top) {
    pb::TokenLogprob* entry = out->Add();
    entry->set_id(alternative.token);
    entry->set_logprob(alternative.logprob);
    entry->set_token(TokenText(tokenizer, alternative.token));
  }
}

void FillPrompt(std::span<const TokenId> prompt, const PromptLogprobs* logprobs,
                const Tokenizer& tokenizer, pb::GenerateResponse* out) {
  out->mutable_prompt()->Reserve(static_cast<int>(prompt.size()));
  for (size_t i = 0; i < prompt.size(); ++i) {
    pb::PromptToken* token = out->add_prompt();
    token->set_id(prompt[i]);
    token->set_token(TokenText(tokenizer, prompt[i]));
    if (logprobs == nullptr || i == 0) continue;
    if (i - 1 < logprobs->logprob.size()) token->set_logprob(logprobs->logprob[i - 1]);
    if (i - 1 < logprobs->top.size()) {
      FillAlternatives(logprobs->top[i - 1], tokenizer, token->mutable_top_logprobs());
    }
  }
}

}  // namespace

bool IsRenderedFinish(FinishReason finish) {
  return finish == FinishReason::kStop || finish == FinishReason::kLength;
}

Status TerminalStatus(const GenerateEvent& event) {
  switch (event.finish) {
    case FinishReason::kNone:
    case FinishReason::kStop:
    case FinishReason::kLength:
      return Status::Ok();
    case FinishReason::kCancelled:
      return Cancelled("the request was cancelled");
    case FinishReason::kError:
      return event.error.ok() ? Internal("the request failed") : event.error;
  }
  return Internal("unknown finish reason");
}

void FillGenerateResponse(const GenerateEvent& event, const Tokenizer& tokenizer, bool logprobs,
                          bool first, bool echo, std::span<const TokenId> prompt,
                          const std::string& request_id, pb::GenerateResponse* out) {
  out->Clear();
  out->set_text(event.text);
  out->mutable_tokens()->Reserve(static_cast<int>(event.tokens.size()));
  for (const GeneratedToken& generated : event.tokens) {
    pb::GeneratedToken* token = out->add_tokens();
    token->set_id(generated.id);
    token->set_token(TokenText(tokenizer, generated.id));
    if (logprobs) {
      token->set_logprob(generated.logprob);
      FillAlternatives(generated.top, tokenizer, token->mutable_top_logprobs());
    }
  }
  if (first) {
    out->set_request_id(request_id);
    if (echo) {
      const PromptLogprobs* prompt_logprobs =
          logprobs && event.prompt_logprobs.has_value() ? &*event.prompt_logprobs : nullptr;
      FillPrompt(prompt, prompt_logprobs, tokenizer, out);
    }
  }
  if (!IsRenderedFinish(event.finish)) return;
  out->set_finish_reason(event.finish == FinishReason::kStop ? pb::FINISH_REASON_STOP
                                                             : pb::FINISH_REASON_LENGTH);
  pb::Usage* usage = out->mutable_usage();
  usage->set_prompt_tokens(ClampToUint32(event.prompt_tokens));
  usage->set_completion_tokens(ClampToUint32(event.completion_tokens));
  usage->set_cached_tokens(ClampToUint32(event.cached_tokens));
}

void FillTokenize(std::span<const TokenId> ids, const ModelInfo& model, pb::TokenizeResponse* out) {
  out->Clear();
  out->mutable_token_ids()->Reserve(static_cast<int>(ids.size()));
  for (const TokenId id : ids) out->add_token_ids(id);
  out->set_max_model_len(ClampToUint32(model.max_model_len));
}

void FillListModels(const ModelInfo& model, int64_t created, pb::ListModelsResponse* out,
                    std::string_view owned_by) {
  out->Clear();
  pb::Model* entry = out->add_models();
  entry->set_id(model.id);
  entry->set_created(created);
  entry->set_owned_by(std::string(owned_by));
  entry->set_max_model_len(ClampToUint32(model.max_model_len));
}

}  // namespace gf::server
