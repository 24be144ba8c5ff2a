#include "server/grpc/grpc_request.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <optional>
#include <string>
#include <utility>

#include "server/request_id.h"

namespace gf::server {

namespace {

namespace pb = goldfinch::v1;

// A closed or half-open interval of accepted float values (the HTTP API's ranges,
// request_parser.h; the equivalence test in tests/grpc_request_test.cc keeps them in step).
struct FloatRange {
  double lo;
  double hi;
  bool lo_open;
  bool hi_open;
};

constexpr FloatRange kTemperatureRange{0.0, 2.0, false, false};
constexpr FloatRange kTopPRange{0.0, 1.0, true, false};
constexpr FloatRange kMinPRange{0.0, 1.0, false, false};
constexpr FloatRange kPenaltyRange{-2.0, 2.0, false, false};  // presence and frequency
constexpr FloatRange kRepetitionPenaltyRange{0.0, 2.0, true, false};
constexpr FloatRange kLogitBiasRange{-100.0, 100.0, false, false};
constexpr float kDefaultTemperature = 1.0f;
constexpr int32_t kTopKDisabledAlias = -1;  // accepted and stored as 0

std::string FormatNumber(double value) {
  char buffer[32];
  std::snprintf(buffer, sizeof(buffer), "%g", value);
  return buffer;
}

Status FieldError(const std::string& path, const std::string& message) {
  return InvalidArgument(path + ": " + message);
}

// A Status for an ApiError from the shared HTTP helpers: the same message, led by the param.
Status FromApiError(const ApiError& error) { return FieldError(error.param, error.message); }

Status CheckFloat(const char* path, float value, const FloatRange& range) {
  const double x = static_cast<double>(value);
  const bool below = range.lo_open ? !(x > range.lo) : !(x >= range.lo);
  const bool above = range.hi_open ? !(x < range.hi) : !(x <= range.hi);
  if (std::isfinite(x) && !below && !above) return Status::Ok();
  return FieldError(path, std::string("must be in ") + (range.lo_open ? "(" : "[") +
                              FormatNumber(range.lo) + ", " + FormatNumber(range.hi) +
                              (range.hi_open ? ")" : "]") + ", got " + FormatNumber(x));
}

// Reads an optional float field: unset keeps *out, set must be in `range`.
Status ReadOptionalFloat(const char* path, bool has, float value, const FloatRange& range,
                         float* out) {
  if (!has) return Status::Ok();
  GF_RETURN_IF_ERROR(CheckFloat(path, value, range));
  *out = value;
  return Status::Ok();
}

std::string IdRange(const ModelInfo& model) {
  return "[0, " + std::to_string(model.vocab_size) + ")";
}

Status CheckTokenId(const std::string& path, int64_t id, const ModelInfo& model) {
  if (id >= 0 && id < model.vocab_size) return Status::Ok();
  return FieldError(path, "token id " + std::to_string(id) + " is outside " + IdRange(model));
}

std::string Indexed(const std::string& path, size_t index) {
  return path + "[" + std::to_string(index) + "]";
}

Status CheckModelName(const std::string& requested, const ModelInfo& model) {
  if (requested.empty() || requested == model.id) return Status::Ok();
  return NotFound("model: the model '" + requested + "' is not served");
}

Status ConvertLogitBias(const pb::SamplingParams& in, const ModelInfo& model,
                        const ApiLimits& limits, SamplingParams* out) {
  if (in.logit_bias_size() == 0) return Status::Ok();
  if (static_cast<size_t>(in.logit_bias_size()) > limits.max_logit_bias) {
    return FieldError("sampling.logit_bias", "at most " + std::to_string(limits.max_logit_bias) +
                                                 " entries, got " +
                                                 std::to_string(in.logit_bias_size()));
  }
  std::vector<std::pair<int32_t, float>> bias(in.logit_bias().begin(), in.logit_bias().end());
  std::sort(bias.begin(), bias.end());  // map order is unspecified; ids are unique
  for (const auto& [id, value] : bias) {
    const std::string path = "sampling.logit_bias[" + std::to_string(id) + "]";
    GF_RETURN_IF_ERROR(CheckTokenId(path, id, model));
    GF_RETURN_IF_ERROR(CheckFloat(path.c_str(), value, kLogitBiasRange));
  }
  out->logit_bias = std::move(bias);
  return Status::Ok();
}

// The sampling message into out->sampling (top_logprobs is set by the caller).
Status ConvertSampling(const pb::SamplingParams& in, const ModelInfo& model,
                       const ApiLimits& limits, SamplingParams* out) {
  out->temperature = kDefaultTemperature;
  GF_RETURN_IF_ERROR(ReadOptionalFloat("sampling.temperature", in.has_temperature(),
                                       in.temperature(), kTemperatureRange, &out->temperature));
  GF_RETURN_IF_ERROR(
      ReadOptionalFloat("sampling.top_p", in.has_top_p(), in.top_p(), kTopPRange, &out->top_p));
  if (in.has_top_k()) {
    if (in.top_k() < kTopKDisabledAlias) {
      return FieldError("sampling.top_k",
                        "must be >= 0 (or -1 = disabled), got " + std::to_string(in.top_k()));
    }
    out->top_k = std::max(in.top_k(), 0);
  }
  GF_RETURN_IF_ERROR(
      ReadOptionalFloat("sampling.min_p", in.has_min_p(), in.min_p(), kMinPRange, &out->min_p));
  GF_RETURN_IF_ERROR(ReadOptionalFloat("sampling.presence_penalty", in.has_presence_penalty(),
                                       in.presence_penalty(), kPenaltyRange,
                                       &out->presence_penalty));
  GF_RETURN_IF_ERROR(ReadOptionalFloat("sampling.frequency_penalty", in.has_frequency_penalty(),
                                       in.frequency_penalty(), kPenaltyRange,
                                       &out->frequency_penalty));
  GF_RETURN_IF_ERROR(ReadOptionalFloat("sampling.repetition_penalty", in.has_repetition_penalty(),
                                       in.repetition_penalty(), kRepetitionPenaltyRange,
                                       &out->repetition_penalty));
  GF_RETURN_IF_ERROR(ConvertLogitBias(in, model, limits, out));
  out->seed = in.has_seed() ? in.seed() : RandomSeed();
  return Status::Ok();
}

Status ConvertStop(const pb::GenerateRequest& in, const ApiLimits& limits,
                   std::vector<std::string>* out) {
  if (in.stop_size() > limits.max_stop) {
    return FieldError("stop", "at most " + std::to_string(limits.max_stop) + " strings, got " +
                                  std::to_string(in.stop_size()));
  }
  for (int i = 0; i < in.stop_size(); ++i) {
    const std::string& text = in.stop(i);
    const std::string path = Indexed("stop", static_cast<size_t>(i));
    if (text.empty()) return FieldError(path, "must not be empty");
    if (text.size() > limits.max_stop_bytes) {
      return FieldError(path, "must be at most " + std::to_string(limits.max_stop_bytes) +
                                  " bytes, got " + std::to_string(text.size()));
    }
    out->push_back(text);
  }
  return Status::Ok();
}

Status ConvertStopTokenIds(const pb::GenerateRequest& in, const ModelInfo& model,
                           std::vector<TokenId>* out) {
  out->reserve(static_cast<size_t>(in.stop_token_ids_size()));
  for (int i = 0; i < in.stop_token_ids_size(); ++i) {
    const int32_t id = in.stop_token_ids(i);
    GF_RETURN_IF_ERROR(CheckTokenId(Indexed("stop_token_ids", static_cast<size_t>(i)), id, model));
    out->push_back(id);
  }
  return Status::Ok();
}

// logprobs, top_logprobs and (with echo) prompt_logprobs.
Status ConvertLogprobs(const pb::GenerateRequest& in, const ApiLimits& limits,
                       GenerateRequest* out) {
  const uint32_t top = in.top_logprobs();
  if (top > static_cast<uint32_t>(std::max(limits.max_top_logprobs, 0))) {
    return FieldError("top_logprobs", "must be in [0, " + std::to_string(limits.max_top_logprobs) +
                                          "], got " + std::to_string(top));
  }
  if (top > 0 && !in.logprobs()) return FieldError("top_logprobs", "requires logprobs");
  out->logprobs = in.logprobs();
  out->sampling.top_logprobs = static_cast<int>(top);
  out->prompt_logprobs = in.echo() && in.logprobs() ? static_cast<int>(top) : -1;
  return Status::Ok();
}

StatusOr<std::vector<TokenId>> ConvertText(const std::string& text, const Tokenizer& tokenizer) {
  if (text.empty()) return FieldError("text", "must not be empty");
  std::vector<TokenId> ids = EncodeUserText(tokenizer, text);
  if (ids.empty()) return FieldError("text", "must not be empty");
  return ids;
}

StatusOr<std::vector<TokenId>> ConvertTokenIds(const pb::TokenIds& in, const ModelInfo& model) {
  if (in.ids_size() == 0) return FieldError("tokens.ids", "must not be empty");
  std::vector<TokenId> ids;
  ids.reserve(static_cast<size_t>(in.ids_size()));
  for (int i = 0; i < in.ids_size(); ++i) {
    GF_RETURN_IF_ERROR(
        CheckTokenId(Indexed("tokens.ids", static_cast<size_t>(i)), in.ids(i), model));
    ids.push_back(in.ids(i));
  }
  return ids;
}

StatusOr<std::vector<ChatMessage>> ConvertChatMessages(const pb::ChatMessages& in,
                                                       const ApiLimits& limits) {
  if (in.messages_size() == 0) return FieldError("chat.messages", "must not be empty");
  if (static_cast<size_t>(in.messages_size()) > limits.max_messages) {
    return FieldError("chat.messages", "at most " + std::to_string(limits.max_messages) +
                                           " messages, got " + std::to_string(in.messages_size()));
  }
  std::vector<ChatMessage> messages;
  messages.reserve(static_cast<size_t>(in.messages_size()));
  for (int i = 0; i < in.messages_size(); ++i) {
    const pb::ChatMessage& message = in.messages(i);
    const std::optional<ChatRole> role = ChatRoleFromName(message.role());
    if (!role.has_value()) {
      return FieldError(Indexed("chat.messages", static_cast<size_t>(i)) + ".role",
                        "role '" + message.role() +
                            "' is not supported; use system, "
                            "developer, user or assistant");
    }
    messages.push_back(ChatMessage{*role, message.content(), message.cache_marker()});
  }
  return messages;
}

// max_tokens for a chat prompt without an explicit max_tokens: the rest of the context (as
// POST /v1/chat/completions), bounded by max_tokens_cap.
StatusOr<int64_t> FillContext(int64_t prompt_tokens, const ModelInfo& model,
                              const ApiLimits& limits) {
  if (prompt_tokens >= model.max_model_len) {
    return FieldError("chat.messages", "This model's maximum context length is " +
                                           std::to_string(model.max_model_len) +
                                           " tokens. However, your messages resulted in " +
                                           std::to_string(prompt_tokens) +
                                           " tokens. Please reduce the length of the messages.");
  }
  int64_t fill = model.max_model_len - prompt_tokens;
  if (limits.max_tokens_cap > 0 && fill > limits.max_tokens_cap) fill = limits.max_tokens_cap;
  return fill;
}

Status ConvertCacheFields(const pb::GenerateRequest& in, CacheRequestFields* out) {
  if (in.has_cache_prompt()) out->cache_prompt = in.cache_prompt();
  if (in.has_cache_salt()) {
    if (const std::optional<std::string> problem = CacheSaltProblem(in.cache_salt())) {
      return FieldError("cache_salt", *problem);
    }
    out->cache_salt = in.cache_salt();
  }
  return Status::Ok();
}

// The prompt ids of the oneof input; `input_param` names it for the context check; for chat,
// `hints` gets the snapshot hints.
StatusOr<std::vector<TokenId>> ConvertInput(const pb::GenerateRequest& in, const ModelInfo& model,
                                            const Tokenizer& tokenizer,
                                            const ChatTemplate& chat_template,
                                            const ApiLimits& limits, std::string* input_param,
                                            std::vector<int64_t>* hints) {
  switch (in.input_case()) {
    case pb::GenerateRequest::kText:
      *input_param = "text";
      return ConvertText(in.text(), tokenizer);
    case pb::GenerateRequest::kTokens:
      *input_param = "tokens.ids";
      return ConvertTokenIds(in.tokens(), model);
    case pb::GenerateRequest::kChat: {
      *input_param = "chat.messages";
      GF_ASSIGN_OR_RETURN(std::vector<ChatMessage> messages,
                          ConvertChatMessages(in.chat(), limits));
      RenderedChat rendered = chat_template.RenderWithBoundaries(messages, tokenizer);
      if (rendered.ids.empty()) {
        return FieldError("chat.messages", "the messages rendered to an empty prompt");
      }
      *hints = ChatSnapshotHints(messages, rendered);
      return std::move(rendered.ids);
    }
    case pb::GenerateRequest::INPUT_NOT_SET:
      break;
  }
  return FieldError("input", "one of text, tokens or chat is required");
}

}  // namespace

StatusOr<ConvertedGenerate> ConvertGenerateRequest(const pb::GenerateRequest& in,
                                                   const ModelInfo& model,
                                                   const Tokenizer& tokenizer,
                                                   const ChatTemplate& chat_template,
                                                   const ApiLimits& limits) {
  GF_RETURN_IF_ERROR(CheckModelName(in.model(), model));
  ConvertedGenerate out;
  if (!in.request_id().empty()) {
    if (!IsValidRequestId(in.request_id())) {
      return FieldError("request_id", "must be 1-" + std::to_string(kMaxRequestIdLength) +
                                          " characters of [A-Za-z0-9._:-]");
    }
    out.client_request_id = in.request_id();
  }
  GenerateRequest& request = out.request;
  request.id = out.client_request_id;
  GF_RETURN_IF_ERROR(ConvertSampling(in.sampling(), model, limits, &request.sampling));
  GF_RETURN_IF_ERROR(ConvertStop(in, limits, &request.stop));
  GF_RETURN_IF_ERROR(ConvertStopTokenIds(in, model, &request.stop_token_ids));
  GF_RETURN_IF_ERROR(ConvertLogprobs(in, limits, &request));
  request.ignore_eos = in.ignore_eos();
  out.echo = in.echo();
  GF_RETURN_IF_ERROR(ConvertCacheFields(in, &out.cache));

  // The input last: tokenizing is the expensive part, so cheap errors come first.
  std::string input_param;
  GF_ASSIGN_OR_RETURN(request.prompt, ConvertInput(in, model, tokenizer, chat_template, limits,
                                                   &input_param, &out.cache.snapshot_hints));
  const auto prompt_tokens = static_cast<int64_t>(request.prompt.size());
  const bool chat = in.input_case() == pb::GenerateRequest::kChat;
  if (chat) {
    for (const std::string& stop : chat_template.stop()) request.stop.push_back(stop);
  }
  if (in.has_max_tokens()) {
    request.max_tokens = static_cast<int64_t>(in.max_tokens());
  } else if (chat) {
    GF_ASSIGN_OR_RETURN(request.max_tokens, FillContext(prompt_tokens, model, limits));
    return out;
  } else {
    request.max_tokens = kDefaultMaxTokens;
  }
  if (auto error = CheckContextLength(prompt_tokens, request.max_tokens, model, limits, input_param,
                                      "max_tokens")) {
    return FromApiError(*error);
  }
  return out;
}

StatusOr<std::vector<TokenId>> ConvertTokenize(const pb::TokenizeRequest& in,
                                               const ModelInfo& model, const Tokenizer& tokenizer) {
  GF_RETURN_IF_ERROR(CheckModelName(in.model(), model));
  if (in.text().empty()) return FieldError("text", "must not be empty");
  return EncodeUserText(tokenizer, in.text());
}

StatusOr<std::vector<TokenId>> ConvertDetokenize(const pb::DetokenizeRequest& in,
                                                 const ModelInfo& model) {
  GF_RETURN_IF_ERROR(CheckModelName(in.model(), model));
  std::vector<TokenId> ids;
  ids.reserve(static_cast<size_t>(in.token_ids_size()));
  for (int i = 0; i < in.token_ids_size(); ++i) {
    GF_RETURN_IF_ERROR(
        CheckTokenId(Indexed("token_ids", static_cast<size_t>(i)), in.token_ids(i), model));
    ids.push_back(in.token_ids(i));
  }
  return ids;
}

}  // namespace gf::server
