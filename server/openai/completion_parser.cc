#include "server/openai/completion_parser.h"

#include <limits>
#include <string>
#include <utility>

namespace gf::server {

namespace {

using nlohmann::json;

ApiError PromptError(std::string message) { return InvalidRequest("prompt", std::move(message)); }

std::optional<ApiError> ReadTokenIds(const json& list, const ModelInfo& model,
                                     std::vector<TokenId>* ids) {
  if (list.empty()) return PromptError("'prompt' token lists must not be empty.");
  ids->reserve(list.size());
  for (const json& item : list) {
    if (!item.is_number_integer()) {
      return PromptError("'prompt' token lists must contain only integers.");
    }
    const bool in_range = item.is_number_unsigned()
                              ? item.get<uint64_t>() < static_cast<uint64_t>(model.vocab_size)
                              : item.get<int64_t>() >= 0 && item.get<int64_t>() < model.vocab_size;
    if (!in_range) {
      return PromptError("'prompt' token ids must be in [0, " + std::to_string(model.vocab_size) +
                         ").");
    }
    ids->push_back(static_cast<TokenId>(item.get<int64_t>()));
  }
  return std::nullopt;
}

std::optional<ApiError> ReadTextPrompt(const json& text, const Tokenizer& tokenizer,
                                       std::vector<TokenId>* ids) {
  const auto& s = text.get_ref<const std::string&>();
  if (s.empty()) return PromptError("'prompt' must not be empty.");
  *ids = EncodeUserText(tokenizer, s);
  if (ids->empty()) return PromptError("'prompt' must not be empty.");
  return std::nullopt;
}

// prompt: string | string[] | int[] | int[][].
std::optional<ApiError> ParsePrompts(const json& body, const ModelInfo& model,
                                     const Tokenizer& tokenizer, const ApiLimits& limits,
                                     std::vector<std::vector<TokenId>>* prompts) {
  const auto it = body.find("prompt");
  if (it == body.end() || it->is_null()) return PromptError("'prompt' is required.");
  const json& prompt = *it;
  if (prompt.is_string()) {
    prompts->emplace_back();
    return ReadTextPrompt(prompt, tokenizer, &prompts->back());
  }
  if (!prompt.is_array()) {
    return PromptError(
        "'prompt' must be a string, an array of strings, an array of token ids "
        "or an array of token id arrays.");
  }
  if (prompt.empty()) return PromptError("'prompt' must not be empty.");
  const json& first = prompt.front();
  if (first.is_number_integer()) {  // int[]: one prompt of ids
    prompts->emplace_back();
    return ReadTokenIds(prompt, model, &prompts->back());
  }
  if (prompt.size() > limits.max_prompts) {
    return PromptError("'prompt' accepts at most " + std::to_string(limits.max_prompts) +
                       " prompts per request.");
  }
  if (first.is_string()) {
    for (const json& item : prompt) {
      if (!item.is_string()) return PromptError("'prompt' arrays must not mix types.");
      prompts->emplace_back();
      if (auto e = ReadTextPrompt(item, tokenizer, &prompts->back())) return e;
    }
    return std::nullopt;
  }
  if (first.is_array()) {
    for (const json& item : prompt) {
      if (!item.is_array()) return PromptError("'prompt' arrays must not mix types.");
      prompts->emplace_back();
      if (auto e = ReadTokenIds(item, model, &prompts->back())) return e;
    }
    return std::nullopt;
  }
  return PromptError(
      "'prompt' must be a string, an array of strings, an array of token ids "
      "or an array of token id arrays.");
}

std::optional<ApiError> ParseFields(const json& body, const ModelInfo& model,
                                    const Tokenizer& tokenizer, const ApiLimits& limits,
                                    CompletionRequest* out) {
  if (auto e = CheckModel(body, model)) return e;
  out->model = model.id;
  if (auto e = ParseN(body, limits, &out->n)) return e;
  int64_t best_of = out->n;
  if (auto e = ReadInt(body, "best_of", 1, limits.max_n, &best_of)) return e;
  if (best_of != out->n) {
    return InvalidRequest("best_of", "'best_of' is not supported unless it equals 'n'.");
  }
  std::string suffix;
  if (auto e = ReadString(body, "suffix", &suffix)) return e;
  if (!suffix.empty()) return InvalidRequest("suffix", "'suffix' is not supported.");
  int64_t max_tokens = 16;
  if (auto e = ReadInt(body, "max_tokens", 0, std::numeric_limits<int64_t>::max(), &max_tokens)) {
    return e;
  }
  out->base.max_tokens = max_tokens;
  int64_t logprobs = -1;
  if (auto e = ReadInt(body, "logprobs", 0, limits.max_logprobs, &logprobs)) return e;
  out->logprobs = static_cast<int>(logprobs);
  if (auto e = ReadBool(body, "echo", &out->echo)) return e;
  if (auto e = ParseStreamFields(body, &out->stream, &out->include_usage)) return e;
  if (auto e = ParseSamplingFields(body, model, limits, &out->base)) return e;
  if (auto e = ParseCacheFields(body, &out->cache)) return e;
  out->base.logprobs = out->logprobs >= 0;
  out->base.sampling.top_logprobs = out->logprobs >= 0 ? out->logprobs : 0;
  out->base.prompt_logprobs = out->echo && out->logprobs >= 0 ? out->logprobs : -1;
  // Prompts last: tokenizing is the expensive part, so cheap errors come first.
  if (auto e = ParsePrompts(body, model, tokenizer, limits, &out->prompts)) return e;
  for (const std::vector<TokenId>& prompt : out->prompts) {
    if (auto e = CheckContextLength(static_cast<int64_t>(prompt.size()), max_tokens, model, limits,
                                    "prompt", "max_tokens")) {
      return e;
    }
  }
  return std::nullopt;
}

}  // namespace

ApiResult<CompletionRequest> ParseCompletion(std::string_view body, const ModelInfo& model,
                                             const Tokenizer& tokenizer, const ApiLimits& limits) {
  ApiResult<json> parsed = ParseJsonObject(body, limits);
  if (auto* error = std::get_if<ApiError>(&parsed)) return std::move(*error);
  CompletionRequest out;
  if (auto e = ParseFields(std::get<json>(parsed), model, tokenizer, limits, &out)) {
    return std::move(*e);
  }
  return out;
}

}  // namespace gf::server
