// ChatTemplate: renders a conversation to prompt token ids.
//
// Default (the RWKV "World" chat convention, as ChatRWKV and RWKV-Runner use it):
//   each message -> "<Role>: <content>\n\n" with Role = System | User | Assistant,
//   then the generation prompt "Assistant:" (no trailing space: the model writes " ...").
//   Stop strings: ["\n\nUser:"].
// Content normalisation (normalize_content, on by default, like ChatRWKV): "\r\n" -> "\n", every
// run of two or more "\n" -> a single "\n", then leading/trailing whitespace (space, \t, \n, \r,
// \v, \f) stripped. So message text can never contain "\n\n" and cannot fake a turn boundary.
//
// Special-token safety (serving-conventions C5): scaffolding (role prefixes/suffixes, the
// generation prompt) is tokenized with Tokenizer::Encode, content with EncodeUserText
// (no control tokens), and the pieces are concatenated as token ids; content is never parsed
// for special tokens. (Tokenizing pieces separately can differ from tokenizing the joined text
// at piece boundaries; the RWKV convention has boundaries at spaces and newlines, where the
// World tokenizer's greedy match behaves the same.)
//
// Override: `<model_dir>/chat_template.json`:
//   {"roles": {"system": {"prefix": "...", "suffix": "..."}, "user": {...}, "assistant": {...}},
//    "generation_prompt": "...", "stop": ["..."], "normalize_content": true}
// Every key is optional (missing keys keep the default); unknown keys are errors (typos would
// otherwise silently change the prompt format).
//
// Immutable after construction: thread-safe to share.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "engine/tokenizer/tokenizer.h"

namespace gf::server {

enum class ChatRole { kSystem, kUser, kAssistant };

// The role names accepted by the chat APIs (HTTP and gRPC): "system" and "developer" (= system),
// "user", "assistant"; nullopt for anything else.
std::optional<ChatRole> ChatRoleFromName(std::string_view name);

struct ChatMessage {
  ChatRole role = ChatRole::kUser;
  std::string content;
  // The client marked the end of this message as a prefix-cache point (HTTP cache_control,
  // gRPC cache_marker). Rendering ignores it.
  bool cache_marker = false;
};

// A rendered conversation: the prompt ids and, for each message, the token count at the end of
// its rendered text (after its role suffix): message_ends[i] = ids in messages 0..i. These are
// the prompt's message boundaries (prefix-cache snapshot hints).
struct RenderedChat {
  std::vector<TokenId> ids;
  std::vector<int64_t> message_ends;  // one per message, non-decreasing
};

struct ChatRoleFormat {
  std::string prefix;
  std::string suffix;
};

// The prefix-cache snapshot hints of a rendered conversation: every message boundary
// (rendered.message_ends) and the end of every message with cache_marker; sorted, unique.
std::vector<int64_t> ChatSnapshotHints(std::span<const ChatMessage> messages,
                                       const RenderedChat& rendered);

class ChatTemplate {
 public:
  // The RWKV World default described above.
  ChatTemplate();

  // The default when `<model_dir>/chat_template.json` does not exist; InvalidArgument naming
  // the file and the key (e.g. "roles.user.prefix") when it is malformed; other read errors
  // as InvalidArgument too.
  static StatusOr<ChatTemplate> Load(const std::string& model_dir);
  // Parses the JSON text of a chat_template.json (same rules as Load).
  static StatusOr<ChatTemplate> FromJson(std::string_view json_text);

  // Token ids of the messages followed (when add_generation_prompt) by the generation prompt.
  std::vector<TokenId> Render(std::span<const ChatMessage> messages, const Tokenizer& tokenizer,
                              bool add_generation_prompt = true) const;
  // The same ids as Render, plus where each message ends.
  RenderedChat RenderWithBoundaries(std::span<const ChatMessage> messages,
                                    const Tokenizer& tokenizer,
                                    bool add_generation_prompt = true) const;
  // The same conversation as text (for logs and tests; never tokenize this).
  std::string RenderText(std::span<const ChatMessage> messages,
                         bool add_generation_prompt = true) const;

  // The normalised form of message content (identity when normalize_content is off).
  std::string NormalizeContent(std::string_view content) const;

  const ChatRoleFormat& role_format(ChatRole role) const;
  const std::string& generation_prompt() const { return generation_prompt_; }
  const std::vector<std::string>& stop() const { return stop_; }
  bool normalize_content() const { return normalize_content_; }

 private:
  ChatRoleFormat system_;
  ChatRoleFormat user_;
  ChatRoleFormat assistant_;
  std::string generation_prompt_;
  std::vector<std::string> stop_;
  bool normalize_content_ = true;
};

}  // namespace gf::server
