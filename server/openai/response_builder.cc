#include "server/openai/response_builder.h"

#include <algorithm>
#include <charconv>
#include <cstdlib>
#include <utility>

#include <nlohmann/json.hpp>

#include "engine/tokenizer/utf8.h"
#include "server/openai/json_limits.h"

namespace gf::server {

namespace {

using Json = nlohmann::ordered_json;

// The double whose shortest decimal form is the float's shortest form (so -0.1f prints as
// -0.1, not -0.10000000149011612). Non-finite values pass through (dumped as null).
double ShortFloat(float value) {
  char buffer[32];
  const auto [end, ec] = std::to_chars(buffer, buffer + sizeof(buffer), value);
  if (ec != std::errc()) return static_cast<double>(value);
  double out = static_cast<double>(value);
  const auto parsed = std::from_chars(buffer, end, out);
  if (parsed.ec != std::errc()) return static_cast<double>(value);
  return out;
}

Json FinishJson(FinishReason finish) {
  const std::string_view name = OpenAiFinishReason(finish);
  if (name.empty()) return Json(nullptr);
  return Json(std::string(name));
}

Json UsageJson(const UsageCounts& usage) {
  Json out = Json::object();
  out["prompt_tokens"] = usage.prompt_tokens;
  out["completion_tokens"] = usage.completion_tokens;
  out["total_tokens"] = usage.prompt_tokens + usage.completion_tokens;
  out["prompt_tokens_details"] = Json{{"cached_tokens", usage.cached_tokens}};
  return out;
}

Json ChunkEnvelope(std::string_view id, int64_t created, std::string_view model,
                   std::string_view object) {
  Json out = Json::object();
  out["id"] = std::string(id);
  out["object"] = std::string(object);
  out["created"] = created;
  out["model"] = std::string(model);
  return out;
}

// ---- Completions logprobs ----

// One entry of a completions logprobs block.
struct LogprobEntry {
  TokenId id = 0;
  bool has_logprob = false;  // false: null token_logprob and null top_logprobs
  float logprob = 0.0f;
  const std::vector<TokenLogprob>* top = nullptr;
};

Json CompletionLogprobsJson(std::span<const LogprobEntry> entries, int logprobs,
                            size_t text_offset, const Tokenizer& tokenizer) {
  Json tokens = Json::array();
  Json token_logprobs = Json::array();
  Json top_logprobs = Json::array();
  Json offsets = Json::array();
  size_t offset = text_offset;
  for (const LogprobEntry& entry : entries) {
    const std::string_view bytes = tokenizer.TokenBytes(entry.id);
    tokens.push_back(ToValidUtf8(bytes));
    offsets.push_back(offset);
    offset += bytes.size();
    if (!entry.has_logprob) {
      token_logprobs.push_back(nullptr);
      top_logprobs.push_back(nullptr);
      continue;
    }
    token_logprobs.push_back(ShortFloat(entry.logprob));
    Json top = Json::object();
    if (entry.top != nullptr) {
      const size_t count = std::min(entry.top->size(), static_cast<size_t>(std::max(logprobs, 0)));
      for (size_t i = 0; i < count; ++i) {
        const TokenLogprob& alt = (*entry.top)[i];
        std::string key = ToValidUtf8(tokenizer.TokenBytes(alt.token));
        if (!top.contains(key)) top[key] = ShortFloat(alt.logprob);  // best first: keep it
      }
    }
    top_logprobs.push_back(std::move(top));
  }
  Json out = Json::object();
  out["tokens"] = std::move(tokens);
  out["token_logprobs"] = std::move(token_logprobs);
  out["top_logprobs"] = std::move(top_logprobs);
  out["text_offset"] = std::move(offsets);
  return out;
}

void AppendPromptEntries(std::span<const TokenId> prompt,
                         const std::optional<PromptLogprobs>& prompt_logprobs,
                         std::vector<LogprobEntry>* entries) {
  for (size_t i = 0; i < prompt.size(); ++i) {
    LogprobEntry entry;
    entry.id = prompt[i];
    if (i > 0 && prompt_logprobs.has_value() && i - 1 < prompt_logprobs->logprob.size()) {
      entry.has_logprob = true;
      entry.logprob = prompt_logprobs->logprob[i - 1];
      if (i - 1 < prompt_logprobs->top.size()) entry.top = &prompt_logprobs->top[i - 1];
    }
    entries->push_back(entry);
  }
}

void AppendGeneratedEntries(std::span<const GeneratedToken> tokens,
                            std::vector<LogprobEntry>* entries) {
  for (const GeneratedToken& token : tokens) {
    entries->push_back({token.id, true, token.logprob, &token.top});
  }
}

// ---- Chat logprobs ----

Json BytesJson(std::string_view bytes) {
  Json out = Json::array();
  for (const char c : bytes) out.push_back(static_cast<int>(static_cast<unsigned char>(c)));
  return out;
}

Json ChatLogprobsJson(std::span<const GeneratedToken> tokens, int top_logprobs,
                      const Tokenizer& tokenizer) {
  Json content = Json::array();
  for (const GeneratedToken& token : tokens) {
    const std::string_view bytes = tokenizer.TokenBytes(token.id);
    Json entry = Json::object();
    entry["token"] = ToValidUtf8(bytes);
    entry["logprob"] = ShortFloat(token.logprob);
    entry["bytes"] = BytesJson(bytes);
    Json top = Json::array();
    const size_t count = std::min(token.top.size(), static_cast<size_t>(std::max(top_logprobs, 0)));
    for (size_t i = 0; i < count; ++i) {
      const std::string_view alt_bytes = tokenizer.TokenBytes(token.top[i].token);
      Json alt = Json::object();
      alt["token"] = ToValidUtf8(alt_bytes);
      alt["logprob"] = ShortFloat(token.top[i].logprob);
      alt["bytes"] = BytesJson(alt_bytes);
      top.push_back(std::move(alt));
    }
    entry["top_logprobs"] = std::move(top);
    content.push_back(std::move(entry));
  }
  return Json{{"content", std::move(content)}};
}

Json ChatChunkChoice(int index, Json delta, Json logprobs, FinishReason finish) {
  Json choice = Json::object();
  choice["index"] = index;
  choice["delta"] = std::move(delta);
  choice["logprobs"] = std::move(logprobs);
  choice["finish_reason"] = FinishJson(finish);
  return choice;
}

std::string ChatChunk(std::string_view id, int64_t created, std::string_view model, Json choice,
                      bool include_usage) {
  Json out = ChunkEnvelope(id, created, model, "chat.completion.chunk");
  out["choices"] = Json::array({std::move(choice)});
  if (include_usage) out["usage"] = nullptr;
  return DumpJson(out);
}

}  // namespace

std::string ToValidUtf8(std::string_view bytes) {
  std::string out;
  out.reserve(bytes.size());
  size_t i = 0;
  while (i < bytes.size()) {
    const Utf8Scan scan = ScanUtf8Char(bytes.substr(i));
    const auto length = static_cast<size_t>(scan.length);
    if (scan.kind == Utf8Scan::Kind::kComplete) {
      out.append(bytes.substr(i, length));
    } else {
      out.append(kUtf8Replacement);
    }
    i += length;
  }
  return out;
}

std::string_view OpenAiFinishReason(FinishReason finish) {
  switch (finish) {
    case FinishReason::kStop: return "stop";
    case FinishReason::kLength: return "length";
    case FinishReason::kNone:
    case FinishReason::kCancelled:
    case FinishReason::kError:
      break;
  }
  return "";
}

std::string CompletionResponseJson(std::string_view id, int64_t created, std::string_view model,
                                   std::span<const ChoiceResult> choices,
                                   const UsageCounts& usage, bool echo, int logprobs,
                                   const Tokenizer& tokenizer) {
  Json out = ChunkEnvelope(id, created, model, "text_completion");
  Json list = Json::array();
  for (const ChoiceResult& choice : choices) {
    Json item = Json::object();
    item["index"] = choice.index;
    item["text"] = ToValidUtf8(echo ? tokenizer.Decode(choice.prompt) + choice.text : choice.text);
    if (logprobs >= 0) {
      std::vector<LogprobEntry> entries;
      if (echo) AppendPromptEntries(choice.prompt, choice.prompt_logprobs, &entries);
      AppendGeneratedEntries(choice.tokens, &entries);
      item["logprobs"] = CompletionLogprobsJson(entries, logprobs, 0, tokenizer);
    } else {
      item["logprobs"] = nullptr;
    }
    item["finish_reason"] = FinishJson(choice.finish);
    list.push_back(std::move(item));
  }
  out["choices"] = std::move(list);
  out["usage"] = UsageJson(usage);
  return DumpJson(out);
}

std::string CompletionChunkJson(std::string_view id, int64_t created, std::string_view model,
                                int index, std::string_view text,
                                std::span<const GeneratedToken> tokens, FinishReason finish,
                                int logprobs, size_t text_offset, const Tokenizer& tokenizer,
                                bool include_usage) {
  Json out = ChunkEnvelope(id, created, model, "text_completion");
  Json item = Json::object();
  item["index"] = index;
  item["text"] = ToValidUtf8(text);
  if (logprobs >= 0) {
    std::vector<LogprobEntry> entries;
    AppendGeneratedEntries(tokens, &entries);
    item["logprobs"] = CompletionLogprobsJson(entries, logprobs, text_offset, tokenizer);
  } else {
    item["logprobs"] = nullptr;
  }
  item["finish_reason"] = FinishJson(finish);
  out["choices"] = Json::array({std::move(item)});
  if (include_usage) out["usage"] = nullptr;
  return DumpJson(out);
}

std::string CompletionEchoChunkJson(std::string_view id, int64_t created, std::string_view model,
                                    int index, std::span<const TokenId> prompt,
                                    const std::optional<PromptLogprobs>& prompt_logprobs,
                                    int logprobs, const Tokenizer& tokenizer,
                                    bool include_usage) {
  Json out = ChunkEnvelope(id, created, model, "text_completion");
  Json item = Json::object();
  item["index"] = index;
  item["text"] = ToValidUtf8(tokenizer.Decode(prompt));
  if (logprobs >= 0) {
    std::vector<LogprobEntry> entries;
    AppendPromptEntries(prompt, prompt_logprobs, &entries);
    item["logprobs"] = CompletionLogprobsJson(entries, logprobs, 0, tokenizer);
  } else {
    item["logprobs"] = nullptr;
  }
  item["finish_reason"] = nullptr;
  out["choices"] = Json::array({std::move(item)});
  if (include_usage) out["usage"] = nullptr;
  return DumpJson(out);
}

std::string ChatResponseJson(std::string_view id, int64_t created, std::string_view model,
                             std::span<const ChoiceResult> choices, const UsageCounts& usage,
                             bool logprobs, int top_logprobs, const Tokenizer& tokenizer) {
  Json out = ChunkEnvelope(id, created, model, "chat.completion");
  Json list = Json::array();
  for (const ChoiceResult& choice : choices) {
    Json item = Json::object();
    item["index"] = choice.index;
    item["message"] = Json{{"role", "assistant"}, {"content", ToValidUtf8(choice.text)}};
    item["logprobs"] =
        logprobs ? ChatLogprobsJson(choice.tokens, top_logprobs, tokenizer) : Json(nullptr);
    item["finish_reason"] = FinishJson(choice.finish);
    list.push_back(std::move(item));
  }
  out["choices"] = std::move(list);
  out["usage"] = UsageJson(usage);
  return DumpJson(out);
}

std::string ChatRoleChunkJson(std::string_view id, int64_t created, std::string_view model,
                              int index, bool include_usage) {
  Json delta = Json{{"role", "assistant"}, {"content", ""}};
  return ChatChunk(id, created, model,
                   ChatChunkChoice(index, std::move(delta), nullptr, FinishReason::kNone),
                   include_usage);
}

std::string ChatContentChunkJson(std::string_view id, int64_t created, std::string_view model,
                                 int index, std::string_view text,
                                 std::span<const GeneratedToken> tokens, bool logprobs,
                                 int top_logprobs, const Tokenizer& tokenizer,
                                 bool include_usage) {
  Json delta = Json{{"content", ToValidUtf8(text)}};
  Json lp = logprobs ? ChatLogprobsJson(tokens, top_logprobs, tokenizer) : Json(nullptr);
  return ChatChunk(id, created, model,
                   ChatChunkChoice(index, std::move(delta), std::move(lp), FinishReason::kNone),
                   include_usage);
}

std::string ChatFinishChunkJson(std::string_view id, int64_t created, std::string_view model,
                                int index, FinishReason finish, bool include_usage) {
  return ChatChunk(id, created, model, ChatChunkChoice(index, Json::object(), nullptr, finish),
                   include_usage);
}

std::string UsageChunkJson(std::string_view id, int64_t created, std::string_view model,
                           std::string_view object, const UsageCounts& usage) {
  Json out = ChunkEnvelope(id, created, model, object);
  out["choices"] = Json::array();
  out["usage"] = UsageJson(usage);
  return DumpJson(out);
}

namespace {

Json ModelObject(const ModelInfo& model, int64_t created, std::string_view owned_by) {
  Json out = Json::object();
  out["id"] = model.id;
  out["object"] = "model";
  out["created"] = created;
  out["owned_by"] = std::string(owned_by);
  out["max_model_len"] = model.max_model_len;
  return out;
}

}  // namespace

std::string ModelJson(const ModelInfo& model, int64_t created, std::string_view owned_by) {
  return DumpJson(ModelObject(model, created, owned_by));
}

std::string ModelsListJson(const ModelInfo& model, int64_t created, std::string_view owned_by) {
  Json out = Json::object();
  out["object"] = "list";
  out["data"] = Json::array({ModelObject(model, created, owned_by)});
  return DumpJson(out);
}

std::string TokenizeResponseJson(std::span<const TokenId> tokens, int64_t max_model_len) {
  Json out = Json::object();
  out["tokens"] = Json(std::vector<TokenId>(tokens.begin(), tokens.end()));
  out["count"] = tokens.size();
  out["max_model_len"] = max_model_len;
  return DumpJson(out);
}

std::string DetokenizeResponseJson(std::string_view text) {
  Json out = Json::object();
  out["prompt"] = ToValidUtf8(text);
  return DumpJson(out);
}

}  // namespace gf::server
