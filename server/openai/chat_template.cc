#include "server/openai/chat_template.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <system_error>

#include <nlohmann/json.hpp>

#include "server/openai/json_limits.h"
#include "server/openai/request_parser.h"

namespace gf::server {

namespace {

using nlohmann::json;

constexpr const char* kFileName = "chat_template.json";
constexpr size_t kMaxFileBytes = 1 << 20;
constexpr size_t kMaxDepth = 16;

bool IsSpace(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

Status KeyError(const std::string& key, const std::string& what) {
  return InvalidArgument(std::string(kFileName) + ": '" + key + "' " + what);
}

Status ReadStringKey(const json& object, const std::string& path, const char* key,
                     std::string* out) {
  const auto it = object.find(key);
  if (it == object.end()) return Status::Ok();
  if (!it->is_string()) return KeyError(path + key, "must be a string");
  *out = it->get<std::string>();
  return Status::Ok();
}

Status CheckKnownKeys(const json& object, const std::string& path,
                      std::initializer_list<const char*> known) {
  for (auto it = object.begin(); it != object.end(); ++it) {
    bool found = false;
    for (const char* key : known) found = found || it.key() == key;
    if (!found) return KeyError(path + it.key(), "is not a known key");
  }
  return Status::Ok();
}

Status ReadRole(const json& roles, const char* name, ChatRoleFormat* format) {
  const auto it = roles.find(name);
  if (it == roles.end()) return Status::Ok();
  const std::string path = std::string("roles.") + name;
  if (!it->is_object()) return KeyError(path, "must be an object");
  GF_RETURN_IF_ERROR(CheckKnownKeys(*it, path + ".", {"prefix", "suffix"}));
  GF_RETURN_IF_ERROR(ReadStringKey(*it, path + ".", "prefix", &format->prefix));
  GF_RETURN_IF_ERROR(ReadStringKey(*it, path + ".", "suffix", &format->suffix));
  return Status::Ok();
}

void Append(std::vector<TokenId>& out, const std::vector<TokenId>& ids) {
  out.insert(out.end(), ids.begin(), ids.end());
}

}  // namespace

std::optional<ChatRole> ChatRoleFromName(std::string_view name) {
  if (name == "system" || name == "developer") return ChatRole::kSystem;
  if (name == "user") return ChatRole::kUser;
  if (name == "assistant") return ChatRole::kAssistant;
  return std::nullopt;
}

std::vector<int64_t> ChatSnapshotHints(std::span<const ChatMessage> messages,
                                       const RenderedChat& rendered) {
  std::vector<int64_t> hints = rendered.message_ends;
  // Every boundary is a hint already; markers are added explicitly so that they stay hints
  // should the boundary policy ever change.
  for (size_t i = 0; i < messages.size() && i < rendered.message_ends.size(); ++i) {
    if (messages[i].cache_marker) hints.push_back(rendered.message_ends[i]);
  }
  std::sort(hints.begin(), hints.end());
  hints.erase(std::unique(hints.begin(), hints.end()), hints.end());
  return hints;
}

ChatTemplate::ChatTemplate()
    : system_{"System: ", "\n\n"},
      user_{"User: ", "\n\n"},
      assistant_{"Assistant: ", "\n\n"},
      generation_prompt_("Assistant:"),
      stop_{"\n\nUser:"} {}

StatusOr<ChatTemplate> ChatTemplate::Load(const std::string& model_dir) {
  const std::filesystem::path path = std::filesystem::path(model_dir) / kFileName;
  std::error_code ec;
  const bool exists = std::filesystem::exists(path, ec);
  if (ec) return InvalidArgument(path.string() + ": " + ec.message());
  if (!exists) return ChatTemplate();
  const auto size = std::filesystem::file_size(path, ec);
  if (ec) return InvalidArgument(path.string() + ": " + ec.message());
  if (size > kMaxFileBytes) {
    return InvalidArgument(path.string() + ": larger than " + std::to_string(kMaxFileBytes) +
                           " bytes");
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) return InvalidArgument(path.string() + ": cannot be opened");
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (in.bad()) return InvalidArgument(path.string() + ": read error");
  return FromJson(text);
}

StatusOr<ChatTemplate> ChatTemplate::FromJson(std::string_view json_text) {
  if (JsonNestingDepth(json_text, kMaxDepth) > kMaxDepth) {
    return InvalidArgument(std::string(kFileName) + ": nested too deeply");
  }
  json root;
  try {
    root = json::parse(json_text.begin(), json_text.end());
  } catch (const json::exception& e) {
    return InvalidArgument(std::string(kFileName) + ": invalid JSON: " + e.what());
  }
  if (!root.is_object()) return InvalidArgument(std::string(kFileName) + ": must be an object");
  GF_RETURN_IF_ERROR(
      CheckKnownKeys(root, "", {"roles", "generation_prompt", "stop", "normalize_content"}));
  ChatTemplate result;
  if (const auto it = root.find("roles"); it != root.end()) {
    if (!it->is_object()) return KeyError("roles", "must be an object");
    GF_RETURN_IF_ERROR(CheckKnownKeys(*it, "roles.", {"system", "user", "assistant"}));
    GF_RETURN_IF_ERROR(ReadRole(*it, "system", &result.system_));
    GF_RETURN_IF_ERROR(ReadRole(*it, "user", &result.user_));
    GF_RETURN_IF_ERROR(ReadRole(*it, "assistant", &result.assistant_));
  }
  GF_RETURN_IF_ERROR(ReadStringKey(root, "", "generation_prompt", &result.generation_prompt_));
  if (const auto it = root.find("stop"); it != root.end()) {
    if (!it->is_array()) return KeyError("stop", "must be an array of non-empty strings");
    result.stop_.clear();
    for (const json& item : *it) {
      if (!item.is_string() || item.get_ref<const std::string&>().empty()) {
        return KeyError("stop", "must be an array of non-empty strings");
      }
      result.stop_.push_back(item.get<std::string>());
    }
  }
  if (const auto it = root.find("normalize_content"); it != root.end()) {
    if (!it->is_boolean()) return KeyError("normalize_content", "must be a boolean");
    result.normalize_content_ = it->get<bool>();
  }
  return result;
}

const ChatRoleFormat& ChatTemplate::role_format(ChatRole role) const {
  switch (role) {
    case ChatRole::kSystem:
      return system_;
    case ChatRole::kAssistant:
      return assistant_;
    case ChatRole::kUser:
      break;
  }
  return user_;
}

std::string ChatTemplate::NormalizeContent(std::string_view content) const {
  if (!normalize_content_) return std::string(content);
  std::string out;
  out.reserve(content.size());
  for (size_t i = 0; i < content.size(); ++i) {
    char c = content[i];
    if (c == '\r' && i + 1 < content.size() && content[i + 1] == '\n') {
      ++i;
      c = '\n';
    }
    if (c == '\n' && !out.empty() && out.back() == '\n') continue;  // collapse runs
    out.push_back(c);
  }
  size_t begin = 0;
  while (begin < out.size() && IsSpace(out[begin])) ++begin;
  size_t end = out.size();
  while (end > begin && IsSpace(out[end - 1])) --end;
  return out.substr(begin, end - begin);
}

std::vector<TokenId> ChatTemplate::Render(std::span<const ChatMessage> messages,
                                          const Tokenizer& tokenizer,
                                          bool add_generation_prompt) const {
  return RenderWithBoundaries(messages, tokenizer, add_generation_prompt).ids;
}

RenderedChat ChatTemplate::RenderWithBoundaries(std::span<const ChatMessage> messages,
                                                const Tokenizer& tokenizer,
                                                bool add_generation_prompt) const {
  RenderedChat out;
  out.message_ends.reserve(messages.size());
  for (const ChatMessage& message : messages) {
    const ChatRoleFormat& format = role_format(message.role);
    Append(out.ids, tokenizer.Encode(format.prefix));
    Append(out.ids, EncodeUserText(tokenizer, NormalizeContent(message.content)));
    Append(out.ids, tokenizer.Encode(format.suffix));
    out.message_ends.push_back(static_cast<int64_t>(out.ids.size()));
  }
  if (add_generation_prompt) Append(out.ids, tokenizer.Encode(generation_prompt_));
  return out;
}

std::string ChatTemplate::RenderText(std::span<const ChatMessage> messages,
                                     bool add_generation_prompt) const {
  std::string text;
  for (const ChatMessage& message : messages) {
    const ChatRoleFormat& format = role_format(message.role);
    text += format.prefix;
    text += NormalizeContent(message.content);
    text += format.suffix;
  }
  if (add_generation_prompt) text += generation_prompt_;
  return text;
}

}  // namespace gf::server
