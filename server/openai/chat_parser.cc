#include "server/openai/chat_parser.h"

#include <limits>
#include <string>
#include <utility>

namespace gf::server {

namespace {

using nlohmann::json;

std::string MessageParam(size_t index, const char* key) {
  std::string param = "messages[" + std::to_string(index) + "]";
  if (key != nullptr && *key != '\0') {
    param += '.';
    param += key;
  }
  return param;
}

// content: string | [{"type":"text","text":string}, ...].
std::optional<ApiError> ReadContent(const json& message, size_t index, std::string* content) {
  const std::string param = MessageParam(index, "content");
  const auto it = message.find("content");
  if (it == message.end() || it->is_null()) {
    return InvalidRequest(param, "'" + param + "' is required (a string or text parts).");
  }
  if (it->is_string()) {
    *content = it->get<std::string>();
    return std::nullopt;
  }
  if (!it->is_array()) {
    return InvalidRequest(param, "'" + param + "' must be a string or an array of text parts.");
  }
  for (const json& part : *it) {
    if (!part.is_object()) {
      return InvalidRequest(param, "'" + param + "' parts must be objects.");
    }
    const auto type = part.find("type");
    if (type == part.end() || !type->is_string() || type->get_ref<const std::string&>() != "text") {
      const std::string name =
          type != part.end() && type->is_string() ? type->get<std::string>() : "(missing)";
      return InvalidRequest(param, "'" + param + "' part type '" + name +
                                       "' is not supported; only 'text' parts are.");
    }
    const auto text = part.find("text");
    if (text == part.end() || !text->is_string()) {
      return InvalidRequest(param, "'" + param + "' text parts need a string 'text'.");
    }
    *content += text->get_ref<const std::string&>();
  }
  return std::nullopt;
}

// cache_control: null or {"type": "ephemeral"[, "ttl": string]}.
std::optional<ApiError> ReadCacheControl(const json& message, size_t index, bool* marker) {
  const auto it = message.find("cache_control");
  if (it == message.end() || it->is_null()) return std::nullopt;
  const std::string param = MessageParam(index, "cache_control");
  const auto invalid = [&] {
    return InvalidRequest(param, "'" + param + "' must be {\"type\": \"ephemeral\"}.");
  };
  if (!it->is_object()) return invalid();
  const auto type = it->find("type");
  if (type == it->end() || *type != "ephemeral") return invalid();
  for (auto field = it->begin(); field != it->end(); ++field) {
    if (field.key() == "type") continue;
    if (field.key() == "ttl" && field->is_string()) continue;
    return invalid();
  }
  *marker = true;
  return std::nullopt;
}

std::optional<ApiError> ReadMessages(const json& body, const ApiLimits& limits,
                                     std::vector<ChatMessage>* messages) {
  const auto it = body.find("messages");
  if (it == body.end() || it->is_null()) {
    return InvalidRequest("messages", "'messages' is required.");
  }
  if (!it->is_array()) {
    return InvalidRequest("messages", "'messages' must be an array of message objects.");
  }
  if (it->empty()) return InvalidRequest("messages", "'messages' must not be empty.");
  if (it->size() > limits.max_messages) {
    return InvalidRequest("messages", "'messages' accepts at most " +
                                          std::to_string(limits.max_messages) + " messages.");
  }
  messages->reserve(it->size());
  for (size_t i = 0; i < it->size(); ++i) {
    const json& message = (*it)[i];
    if (!message.is_object()) {
      return InvalidRequest(MessageParam(i, nullptr), "each message must be an object.");
    }
    ChatMessage out;
    const std::string role_param = MessageParam(i, "role");
    const auto role = message.find("role");
    if (role == message.end() || role->is_null()) {
      return InvalidRequest(role_param, "'" + role_param + "' is required.");
    }
    if (!role->is_string()) {
      return InvalidRequest(role_param, "'" + role_param + "' must be a string.");
    }
    const auto& name = role->get_ref<const std::string&>();
    const std::optional<ChatRole> parsed_role = ChatRoleFromName(name);
    if (!parsed_role.has_value()) {
      return InvalidRequest(role_param, "role '" + name +
                                            "' is not supported; use system, "
                                            "developer, user or assistant.");
    }
    out.role = *parsed_role;
    for (const char* key : {"tool_calls", "function_call"}) {
      const auto field = message.find(key);
      if (field != message.end() && !field->is_null()) {
        const std::string param = MessageParam(i, key);
        return InvalidRequest(param, "'" + param + "' is not supported (no tool calling).");
      }
    }
    if (auto e = ReadContent(message, i, &out.content)) return e;
    if (auto e = ReadCacheControl(message, i, &out.cache_marker)) return e;
    messages->push_back(std::move(out));
  }
  return std::nullopt;
}

// Fields this server does not implement: rejected unless they are absent or a no-op value.
std::optional<ApiError> RejectUnsupported(const json& body) {
  for (const char* key : {"tools", "functions"}) {
    const auto it = body.find(key);
    if (it != body.end() && !it->is_null() && !(it->is_array() && it->empty())) {
      return InvalidRequest(key, std::string("'") + key + "' is not supported (no tool calling).");
    }
  }
  for (const char* key : {"tool_choice", "function_call"}) {
    const auto it = body.find(key);
    if (it != body.end() && !it->is_null() && *it != "none") {
      return InvalidRequest(key, std::string("'") + key + "' is not supported (no tool calling).");
    }
  }
  if (const auto it = body.find("response_format"); it != body.end() && !it->is_null()) {
    const bool text = it->is_object() && it->contains("type") && (*it)["type"] == "text";
    if (!text) {
      return InvalidRequest("response_format",
                            "'response_format' is not supported beyond {\"type\": \"text\"}.");
    }
  }
  if (const auto it = body.find("audio"); it != body.end() && !it->is_null()) {
    return InvalidRequest("audio", "'audio' output is not supported.");
  }
  return std::nullopt;
}

std::optional<ApiError> ParseFields(const json& body, const ModelInfo& model,
                                    const Tokenizer& tokenizer, const ChatTemplate& chat_template,
                                    const ApiLimits& limits, ChatRequest* out) {
  if (auto e = CheckModel(body, model)) return e;
  out->model = model.id;
  std::vector<ChatMessage> messages;
  if (auto e = ReadMessages(body, limits, &messages)) return e;
  if (auto e = RejectUnsupported(body)) return e;
  if (auto e = ParseN(body, limits, &out->n)) return e;

  std::optional<int64_t> max_tokens;
  std::string max_tokens_param = "max_tokens";
  for (const char* key : {"max_completion_tokens", "max_tokens"}) {
    int64_t value = -1;
    if (auto e = ReadInt(body, key, 0, std::numeric_limits<int64_t>::max(), &value)) return e;
    if (value >= 0 && !max_tokens.has_value()) {
      max_tokens = value;
      max_tokens_param = key;
    }
  }

  if (auto e = ReadBool(body, "logprobs", &out->logprobs)) return e;
  int64_t top_logprobs = -1;
  if (auto e = ReadInt(body, "top_logprobs", 0, limits.max_top_logprobs, &top_logprobs)) {
    return e;
  }
  if (top_logprobs >= 0 && !out->logprobs) {
    return InvalidRequest("top_logprobs", "'top_logprobs' requires 'logprobs' to be true.");
  }
  out->top_logprobs = top_logprobs >= 0 ? static_cast<int>(top_logprobs) : 0;
  if (auto e = ParseStreamFields(body, &out->stream, &out->include_usage)) return e;
  if (auto e = ParseSamplingFields(body, model, limits, &out->base)) return e;
  if (auto e = ParseCacheFields(body, &out->cache)) return e;
  out->base.logprobs = out->logprobs;
  out->base.sampling.top_logprobs = out->top_logprobs;
  out->base.prompt_logprobs = -1;
  for (const std::string& stop : chat_template.stop()) out->base.stop.push_back(stop);

  // Rendering (tokenizing) last: cheap errors come first.
  RenderedChat rendered = chat_template.RenderWithBoundaries(messages, tokenizer);
  out->cache.snapshot_hints = ChatSnapshotHints(messages, rendered);
  out->prompt = std::move(rendered.ids);
  const auto prompt_tokens = static_cast<int64_t>(out->prompt.size());
  if (out->prompt.empty()) {
    return InvalidRequest("messages", "the messages rendered to an empty prompt.");
  }
  if (max_tokens.has_value()) {
    if (auto e = CheckContextLength(prompt_tokens, *max_tokens, model, limits, "messages",
                                    max_tokens_param)) {
      return e;
    }
    out->base.max_tokens = *max_tokens;
    return std::nullopt;
  }
  if (prompt_tokens >= model.max_model_len) {
    return InvalidRequest(
        "messages",
        "This model's maximum context length is " + std::to_string(model.max_model_len) +
            " tokens. However, your messages resulted in " + std::to_string(prompt_tokens) +
            " tokens. Please reduce the length of the messages.",
        "context_length_exceeded");
  }
  int64_t fill = model.max_model_len - prompt_tokens;
  if (limits.max_tokens_cap > 0 && fill > limits.max_tokens_cap) fill = limits.max_tokens_cap;
  out->base.max_tokens = fill;
  return std::nullopt;
}

}  // namespace

ApiResult<ChatRequest> ParseChat(std::string_view body, const ModelInfo& model,
                                 const Tokenizer& tokenizer, const ChatTemplate& chat_template,
                                 const ApiLimits& limits) {
  ApiResult<json> parsed = ParseJsonObject(body, limits);
  if (auto* error = std::get_if<ApiError>(&parsed)) return std::move(*error);
  ChatRequest out;
  if (auto e = ParseFields(std::get<json>(parsed), model, tokenizer, chat_template, limits, &out)) {
    return std::move(*e);
  }
  return out;
}

}  // namespace gf::server
