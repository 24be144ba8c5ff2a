#include "server/openai/request_parser.h"

#include <cmath>
#include <limits>
#include <random>
#include <string>
#include <utility>

namespace gf::server {

namespace {

using nlohmann::json;

std::string ParamOr(const std::string& param, const char* key) {
  return param.empty() ? std::string(key) : param;
}

const char* TypeName(const json& value) {
  switch (value.type()) {
    case json::value_t::null:
      return "null";
    case json::value_t::boolean:
      return "a boolean";
    case json::value_t::string:
      return "a string";
    case json::value_t::array:
      return "an array";
    case json::value_t::object:
      return "an object";
    case json::value_t::number_float:
      return "a decimal number";
    case json::value_t::number_integer:
    case json::value_t::number_unsigned:
      return "an integer";
    default:
      return "an unsupported value";
  }
}

ApiError WrongType(const std::string& param, const char* expected, const json& got) {
  return InvalidRequest(param, "Invalid type for '" + param + "': expected " + expected +
                                   ", but got " + TypeName(got) + " instead.");
}

// The field's value, or nullptr when absent or null.
const json* Field(const json& object, const char* key) {
  if (!object.is_object()) return nullptr;
  const auto it = object.find(key);
  if (it == object.end() || it->is_null()) return nullptr;
  return &*it;
}

std::string FormatDouble(double value) {
  std::string text = std::to_string(value);
  // Trim "2.000000" -> "2".
  if (text.find('.') != std::string::npos) {
    while (!text.empty() && text.back() == '0') text.pop_back();
    if (!text.empty() && text.back() == '.') text.pop_back();
  }
  return text;
}

std::optional<ApiError> CheckStopString(const json& value, const ApiLimits& limits) {
  if (!value.is_string()) return WrongType("stop", "a string", value);
  const auto& text = value.get_ref<const std::string&>();
  if (text.empty()) return InvalidRequest("stop", "'stop' strings must not be empty.");
  if (text.size() > limits.max_stop_bytes) {
    return InvalidRequest("stop", "'stop' strings must be at most " +
                                      std::to_string(limits.max_stop_bytes) + " bytes.");
  }
  return std::nullopt;
}

std::optional<ApiError> ParseStop(const json& body, const ApiLimits& limits,
                                  std::vector<std::string>* stop) {
  const json* value = Field(body, "stop");
  if (value == nullptr) return std::nullopt;
  if (value->is_string()) {
    if (auto error = CheckStopString(*value, limits)) return error;
    stop->push_back(value->get<std::string>());
    return std::nullopt;
  }
  if (!value->is_array()) return WrongType("stop", "a string or an array of strings", *value);
  if (value->size() > static_cast<size_t>(limits.max_stop)) {
    return InvalidRequest("stop", "'stop' accepts at most " + std::to_string(limits.max_stop) +
                                      " strings, got " + std::to_string(value->size()) + ".");
  }
  for (const json& item : *value) {
    if (auto error = CheckStopString(item, limits)) return error;
    stop->push_back(item.get<std::string>());
  }
  return std::nullopt;
}

// A decimal token id string: digits only, no sign, no leading '+', at most 10 digits.
std::optional<int64_t> ParseTokenIdKey(const std::string& key) {
  if (key.empty() || key.size() > 10) return std::nullopt;
  int64_t id = 0;
  for (const char c : key) {
    if (c < '0' || c > '9') return std::nullopt;
    id = id * 10 + (c - '0');
  }
  return id;
}

std::optional<ApiError> ParseLogitBias(const json& body, const ModelInfo& model,
                                       const ApiLimits& limits, SamplingParams* sampling) {
  const json* value = Field(body, "logit_bias");
  if (value == nullptr) return std::nullopt;
  if (!value->is_object()) return WrongType("logit_bias", "an object", *value);
  if (value->size() > limits.max_logit_bias) {
    return InvalidRequest("logit_bias", "'logit_bias' accepts at most " +
                                            std::to_string(limits.max_logit_bias) + " entries.");
  }
  for (auto it = value->begin(); it != value->end(); ++it) {
    const std::optional<int64_t> id = ParseTokenIdKey(it.key());
    if (!id.has_value()) {
      return InvalidRequest("logit_bias",
                            "'logit_bias' keys must be token ids (decimal "
                            "integers), got '" +
                                it.key() + "'.");
    }
    if (*id >= model.vocab_size) {
      return InvalidRequest("logit_bias", "'logit_bias' token id " + it.key() +
                                              " is outside the vocabulary [0, " +
                                              std::to_string(model.vocab_size) + ").");
    }
    if (!it->is_number()) {
      return InvalidRequest("logit_bias", "'logit_bias' values must be numbers, got " +
                                              std::string(TypeName(*it)) + ".");
    }
    const double bias = it->get<double>();
    if (!std::isfinite(bias) || bias < -100.0 || bias > 100.0) {
      return InvalidRequest("logit_bias",
                            "'logit_bias' values must be in [-100, 100] (token " + it.key() + ").");
    }
    sampling->logit_bias.emplace_back(static_cast<int32_t>(*id), static_cast<float>(bias));
  }
  return std::nullopt;
}

std::optional<ApiError> ParseSeed(const json& body, uint64_t* seed) {
  const json* value = Field(body, "seed");
  if (value == nullptr) {
    *seed = RandomSeed();
    return std::nullopt;
  }
  if (value->is_number_unsigned()) {
    *seed = value->get<uint64_t>();
  } else if (value->is_number_integer()) {
    *seed = static_cast<uint64_t>(value->get<int64_t>());
  } else {
    return WrongType("seed", "an integer", *value);
  }
  return std::nullopt;
}

}  // namespace

std::optional<ApiError> ReadBool(const json& object, const char* key, bool* out,
                                 const std::string& param) {
  const json* value = Field(object, key);
  if (value == nullptr) return std::nullopt;
  if (!value->is_boolean()) return WrongType(ParamOr(param, key), "a boolean", *value);
  *out = value->get<bool>();
  return std::nullopt;
}

std::optional<ApiError> ReadFloat(const json& object, const char* key, double lo, double hi,
                                  bool lo_open, bool hi_open, float* out,
                                  const std::string& param) {
  const json* value = Field(object, key);
  if (value == nullptr) return std::nullopt;
  const std::string name = ParamOr(param, key);
  if (!value->is_number()) return WrongType(name, "a number", *value);
  const double x = value->get<double>();
  const bool below = lo_open ? !(x > lo) : !(x >= lo);
  const bool above = hi_open ? !(x < hi) : !(x <= hi);
  if (!std::isfinite(x) || below || above) {
    return InvalidRequest(name, "'" + name + "' must be a finite number in " +
                                    (lo_open ? "(" : "[") + FormatDouble(lo) + ", " +
                                    FormatDouble(hi) + (hi_open ? ")" : "]") + ".");
  }
  *out = static_cast<float>(x);
  return std::nullopt;
}

std::optional<ApiError> ReadInt(const json& object, const char* key, int64_t lo, int64_t hi,
                                int64_t* out, const std::string& param) {
  const json* value = Field(object, key);
  if (value == nullptr) return std::nullopt;
  const std::string name = ParamOr(param, key);
  if (!value->is_number_integer()) return WrongType(name, "an integer", *value);
  const std::string range = "[" + std::to_string(lo) + ", " + std::to_string(hi) + "]";
  if (value->is_number_unsigned()) {
    const auto x = value->get<uint64_t>();
    if (hi < 0 || x > static_cast<uint64_t>(hi)) {
      return InvalidRequest(name, "'" + name + "' must be an integer in " + range + ".");
    }
    *out = static_cast<int64_t>(x);
    if (*out < lo) {
      return InvalidRequest(name, "'" + name + "' must be an integer in " + range + ".");
    }
    return std::nullopt;
  }
  const auto x = value->get<int64_t>();
  if (x < lo || x > hi) {
    return InvalidRequest(name, "'" + name + "' must be an integer in " + range + ".");
  }
  *out = x;
  return std::nullopt;
}

std::optional<ApiError> ReadString(const json& object, const char* key, std::string* out,
                                   const std::string& param) {
  const json* value = Field(object, key);
  if (value == nullptr) return std::nullopt;
  if (!value->is_string()) return WrongType(ParamOr(param, key), "a string", *value);
  *out = value->get<std::string>();
  return std::nullopt;
}

std::optional<ApiError> CheckModel(const json& body, const ModelInfo& model) {
  const auto it = body.find("model");
  if (it == body.end() || it->is_null()) {
    return InvalidRequest("model", "You must provide a model parameter.");
  }
  if (!it->is_string()) return WrongType("model", "a string", *it);
  const auto& requested = it->get_ref<const std::string&>();
  if (requested != model.id) return ModelNotFound(requested);
  return std::nullopt;
}

std::optional<ApiError> ParseSamplingFields(const json& body, const ModelInfo& model,
                                            const ApiLimits& limits, GenerateRequest* out) {
  SamplingParams& s = out->sampling;
  s.temperature = 1.0f;
  if (auto e = ReadFloat(body, "temperature", 0.0, 2.0, false, false, &s.temperature)) return e;
  if (auto e = ReadFloat(body, "top_p", 0.0, 1.0, true, false, &s.top_p)) return e;
  int64_t top_k = 0;
  if (auto e = ReadInt(body, "top_k", -1, std::numeric_limits<int32_t>::max(), &top_k)) {
    return e;
  }
  s.top_k = top_k < 0 ? 0 : static_cast<int>(top_k);
  if (auto e = ReadFloat(body, "min_p", 0.0, 1.0, false, false, &s.min_p)) return e;
  if (auto e = ReadFloat(body, "presence_penalty", -2.0, 2.0, false, false, &s.presence_penalty)) {
    return e;
  }
  if (auto e =
          ReadFloat(body, "frequency_penalty", -2.0, 2.0, false, false, &s.frequency_penalty)) {
    return e;
  }
  if (auto e =
          ReadFloat(body, "repetition_penalty", 0.0, 2.0, true, false, &s.repetition_penalty)) {
    return e;
  }
  if (auto e = ParseLogitBias(body, model, limits, &s)) return e;
  if (auto e = ParseSeed(body, &s.seed)) return e;
  if (auto e = ParseStop(body, limits, &out->stop)) return e;
  // vLLM's extension: keep generating past the end-of-text token.
  if (auto e = ReadBool(body, "ignore_eos", &out->ignore_eos)) return e;
  std::string user;
  if (auto e = ReadString(body, "user", &user)) return e;
  return std::nullopt;
}

std::optional<ApiError> ParseCacheFields(const json& body, CacheRequestFields* out) {
  if (auto e = ReadBool(body, "cache_prompt", &out->cache_prompt)) return e;
  const json* salt = Field(body, "cache_salt");
  if (salt == nullptr) return std::nullopt;
  if (!salt->is_string()) return WrongType("cache_salt", "a string", *salt);
  const auto& text = salt->get_ref<const std::string&>();
  if (const std::optional<std::string> problem = CacheSaltProblem(text)) {
    return InvalidRequest("cache_salt", "'cache_salt' " + *problem + ".");
  }
  out->cache_salt = text;
  return std::nullopt;
}

std::optional<ApiError> ParseN(const json& body, const ApiLimits& limits, int* n) {
  int64_t value = 1;
  if (auto e = ReadInt(body, "n", 1, limits.max_n, &value)) return e;
  *n = static_cast<int>(value);
  return std::nullopt;
}

std::optional<ApiError> ParseStreamFields(const json& body, bool* stream, bool* include_usage) {
  *stream = false;
  *include_usage = false;
  if (auto e = ReadBool(body, "stream", stream)) return e;
  const json* options = Field(body, "stream_options");
  if (options == nullptr) return std::nullopt;
  if (!options->is_object()) return WrongType("stream_options", "an object", *options);
  if (!*stream) {
    return InvalidRequest("stream_options",
                          "'stream_options' is only allowed when 'stream' is true.");
  }
  return ReadBool(*options, "include_usage", include_usage, "stream_options.include_usage");
}

std::optional<ApiError> CheckContextLength(int64_t prompt_tokens, int64_t max_tokens,
                                           const ModelInfo& model, const ApiLimits& limits,
                                           const std::string& prompt_param,
                                           const std::string& max_tokens_param) {
  const int64_t limit = model.max_model_len;
  const bool prompt_fits = prompt_tokens <= limit;
  if (prompt_fits && limits.max_tokens_cap > 0 && max_tokens > limits.max_tokens_cap) {
    return InvalidRequest(max_tokens_param, "'" + max_tokens_param + "' is " +
                                                std::to_string(max_tokens) +
                                                ", above this server's limit of " +
                                                std::to_string(limits.max_tokens_cap) + ".");
  }
  if (prompt_fits && max_tokens <= limit - prompt_tokens) return std::nullopt;
  const int64_t total = max_tokens > std::numeric_limits<int64_t>::max() - prompt_tokens
                            ? std::numeric_limits<int64_t>::max()
                            : prompt_tokens + max_tokens;
  return InvalidRequest(
      prompt_fits ? max_tokens_param : prompt_param,
      "This model's maximum context length is " + std::to_string(limit) +
          " tokens. However, you requested " + std::to_string(total) + " tokens (" +
          std::to_string(prompt_tokens) + " in the prompt, " + std::to_string(max_tokens) +
          " for the completion). Please reduce the length of the prompt or completion.",
      "context_length_exceeded");
}

std::vector<TokenId> EncodeUserText(const Tokenizer& tokenizer, std::string_view text) {
  return tokenizer.EncodeOrdinary(text);
}

uint64_t RandomSeed() {
  std::random_device device;
  return (static_cast<uint64_t>(device()) << 32) ^ static_cast<uint64_t>(device());
}

ApiResult<TokenizeRequest> ParseTokenize(std::string_view body, const ModelInfo& model,
                                         const Tokenizer& tokenizer, const ApiLimits& limits) {
  ApiResult<json> parsed = ParseJsonObject(body, limits);
  if (auto* error = std::get_if<ApiError>(&parsed)) return std::move(*error);
  const json& request = std::get<json>(parsed);
  if (Field(request, "model") != nullptr) {
    if (auto e = CheckModel(request, model)) return std::move(*e);
  }
  const json* prompt = Field(request, "prompt");
  if (prompt == nullptr) return InvalidRequest("prompt", "'prompt' is required.");
  if (!prompt->is_string()) return WrongType("prompt", "a string", *prompt);
  const auto& text = prompt->get_ref<const std::string&>();
  if (text.empty()) return InvalidRequest("prompt", "'prompt' must not be empty.");
  TokenizeRequest out;
  out.tokens = EncodeUserText(tokenizer, text);
  return out;
}

ApiResult<DetokenizeRequest> ParseDetokenize(std::string_view body, const ModelInfo& model,
                                             const ApiLimits& limits) {
  ApiResult<json> parsed = ParseJsonObject(body, limits);
  if (auto* error = std::get_if<ApiError>(&parsed)) return std::move(*error);
  const json& request = std::get<json>(parsed);
  if (Field(request, "model") != nullptr) {
    if (auto e = CheckModel(request, model)) return std::move(*e);
  }
  const json* tokens = Field(request, "tokens");
  if (tokens == nullptr) return InvalidRequest("tokens", "'tokens' is required.");
  if (!tokens->is_array()) return WrongType("tokens", "an array of token ids", *tokens);
  DetokenizeRequest out;
  out.tokens.reserve(tokens->size());
  for (const json& id : *tokens) {
    if (!id.is_number_integer()) return WrongType("tokens", "an array of token ids", id);
    const bool in_range = id.is_number_unsigned()
                              ? id.get<uint64_t>() < static_cast<uint64_t>(model.vocab_size)
                              : id.get<int64_t>() >= 0 && id.get<int64_t>() < model.vocab_size;
    if (!in_range) {
      return InvalidRequest("tokens",
                            "token ids must be in [0, " + std::to_string(model.vocab_size) + ").");
    }
    out.tokens.push_back(static_cast<TokenId>(id.get<int64_t>()));
  }
  return out;
}

}  // namespace gf::server
