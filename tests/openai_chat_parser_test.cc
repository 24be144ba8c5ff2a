// The OpenAI chat completions parser: malformed requests (exact status/type/param/code),
// rendering through the template, max_tokens and logprobs fields, special-token safety, and
// random mutations of valid requests (completions and chat) that must never crash.
#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <variant>
#include <vector>

#include "tests/openai_parser_fixture.h"

namespace gf::server {
namespace {

TEST_F(OpenAiParserTest, MalformedChatRequests) {
  const std::string long_content(70, 'a');
  const std::vector<ErrorCase> cases = {
      {"broken json", R"({"model":"gf-test","messages":[)", 400, kBad, "", ""},
      {"unknown model", R"({"model":"x","messages":[{"role":"user","content":"hi"}]})", 404,
       "not_found_error", "model", "model_not_found"},
      {"missing messages", R"({"model":"gf-test"})", 400, kBad, "messages", ""},
      {"empty messages", R"({"model":"gf-test","messages":[]})", 400, kBad, "messages", ""},
      {"messages string", R"({"model":"gf-test","messages":"hi"})", 400, kBad, "messages", ""},
      {"message not an object", R"({"model":"gf-test","messages":[5]})", 400, kBad, "messages[0]",
       ""},
      {"message without role", R"({"model":"gf-test","messages":[{"content":"hi"}]})", 400, kBad,
       "messages[0].role", ""},
      {"role not a string", R"({"model":"gf-test","messages":[{"role":1,"content":"hi"}]})", 400,
       kBad, "messages[0].role", ""},
      {"unknown role",
       R"({"model":"gf-test","messages":[{"role":"user","content":"a"},{"role":"wizard","content":"hi"}]})",
       400, kBad, "messages[1].role", ""},
      {"tool role",
       R"({"model":"gf-test","messages":[{"role":"tool","content":"x","tool_call_id":"1"}]})", 400,
       kBad, "messages[0].role", ""},
      {"message without content", R"({"model":"gf-test","messages":[{"role":"user"}]})", 400, kBad,
       "messages[0].content", ""},
      {"null content", R"({"model":"gf-test","messages":[{"role":"assistant","content":null}]})",
       400, kBad, "messages[0].content", ""},
      {"content number", R"({"model":"gf-test","messages":[{"role":"user","content":5}]})", 400,
       kBad, "messages[0].content", ""},
      {"image content",
       R"({"model":"gf-test","messages":[{"role":"user","content":[{"type":"text","text":"a"},{"type":"image_url","image_url":{"url":"http://x"}}]}]})",
       400, kBad, "messages[0].content", ""},
      {"text part without text",
       R"({"model":"gf-test","messages":[{"role":"user","content":[{"type":"text"}]}]})", 400, kBad,
       "messages[0].content", ""},
      {"part not an object", R"({"model":"gf-test","messages":[{"role":"user","content":["hi"]}]})",
       400, kBad, "messages[0].content", ""},
      {"tool_calls in message",
       R"({"model":"gf-test","messages":[{"role":"assistant","content":"","tool_calls":[{"id":"1"}]}]})",
       400, kBad, "messages[0].tool_calls", ""},
      {"tools", ChatBody(R"("tools":[{"type":"function","function":{"name":"f"}}])"), 400, kBad,
       "tools", ""},
      {"tool_choice auto", ChatBody(R"("tool_choice":"auto")"), 400, kBad, "tool_choice", ""},
      {"functions", ChatBody(R"("functions":[{"name":"f"}])"), 400, kBad, "functions", ""},
      {"function_call", ChatBody(R"("function_call":{"name":"f"})"), 400, kBad, "function_call",
       ""},
      {"response_format json", ChatBody(R"("response_format":{"type":"json_object"})"), 400, kBad,
       "response_format", ""},
      {"audio", ChatBody(R"("audio":{"voice":"x"})"), 400, kBad, "audio", ""},
      {"top_logprobs 21", ChatBody(R"("logprobs":true,"top_logprobs":21)"), 400, kBad,
       "top_logprobs", ""},
      {"top_logprobs without logprobs", ChatBody(R"("top_logprobs":2)"), 400, kBad, "top_logprobs",
       ""},
      {"top_logprobs with logprobs false", ChatBody(R"("logprobs":false,"top_logprobs":0)"), 400,
       kBad, "top_logprobs", ""},
      {"logprobs int", ChatBody(R"("logprobs":1)"), 400, kBad, "logprobs", ""},
      {"max_completion_tokens negative", ChatBody(R"("max_completion_tokens":-1)"), 400, kBad,
       "max_completion_tokens", ""},
      {"max_tokens string", ChatBody(R"("max_tokens":"x")"), 400, kBad, "max_tokens", ""},
      {"n nine", ChatBody(R"("n":9)"), 400, kBad, "n", ""},
      {"temperature inf", ChatBody(R"("temperature":1e999)"), 400, kBad, "", ""},
      {"temperature huge", ChatBody(R"("temperature":1e308)"), 400, kBad, "temperature", ""},
      {"stop five", ChatBody(R"("stop":["a","b","c","d","e"])"), 400, kBad, "stop", ""},
      {"stream_options without stream", ChatBody(R"("stream_options":{"include_usage":true})"), 400,
       kBad, "stream_options", ""},
      {"logit_bias value 500", ChatBody(R"("logit_bias":{"1":500})"), 400, kBad, "logit_bias", ""},
      {"completion too long", ChatBody(R"("max_completion_tokens":100)"), 400, kBad,
       "max_completion_tokens", "context_length_exceeded"},
      {"deprecated max_tokens too long", ChatBody(R"("max_tokens":100)"), 400, kBad, "max_tokens",
       "context_length_exceeded"},
      {"messages too long",
       R"({"model":"gf-test","messages":[{"role":"user","content":")" + long_content + R"("}]})",
       400, kBad, "messages", "context_length_exceeded"},
      {"messages too long with max_tokens",
       R"({"model":"gf-test","max_tokens":1,"messages":[{"role":"user","content":")" +
           long_content + R"("}]})",
       400, kBad, "messages", "context_length_exceeded"},
  };
  for (const ErrorCase& c : cases) {
    SCOPED_TRACE(c.name);
    const auto result = Chat(c.body);
    ASSERT_TRUE(std::holds_alternative<ApiError>(result));
    ExpectError(std::get<ApiError>(result), c);
  }
}

TEST_F(OpenAiParserTest, ChatRendersTheTemplate) {
  model_.max_model_len = 128;
  const std::string body = R"({"model":"gf-test","messages":[
      {"role":"developer","content":"Be brief."},
      {"role":"user","content":[{"type":"text","text":"Hi"},{"type":"text","text":" there"}],
       "name":"bob"},
      {"role":"assistant","content":"Hello."},
      {"role":"user","content":"2+2?"}],
    "stop":"END","n":2,"seed":7,"temperature":0.2,"stream":true,
    "stream_options":{"include_usage":false},"tools":[],"tool_choice":"none",
    "response_format":{"type":"text"},"parallel_tool_calls":true})";
  const auto result = Chat(body);
  ASSERT_TRUE(std::holds_alternative<ChatRequest>(result));
  const ChatRequest& r = std::get<ChatRequest>(result);
  const std::string text =
      "System: Be brief.\n\nUser: Hi there\n\nAssistant: Hello.\n\nUser: 2+2?\n\nAssistant:";
  EXPECT_EQ(r.prompt, Ids(text));
  EXPECT_EQ(r.model, "gf-test");
  EXPECT_EQ(r.n, 2);
  EXPECT_TRUE(r.stream);
  EXPECT_FALSE(r.include_usage);
  EXPECT_FALSE(r.logprobs);
  EXPECT_EQ(r.top_logprobs, 0);
  EXPECT_EQ(r.base.stop, (std::vector<std::string>{"END", "\n\nUser:"}));
  EXPECT_EQ(r.base.sampling.seed, 7u);
  EXPECT_FLOAT_EQ(r.base.sampling.temperature, 0.2f);
  // Default max_tokens fills the context.
  EXPECT_EQ(text.size(), 76u);
  EXPECT_EQ(r.base.max_tokens, 128 - 76);
  EXPECT_FALSE(r.base.logprobs);
  EXPECT_EQ(r.base.prompt_logprobs, -1);
  EXPECT_TRUE(r.base.prompt.empty());
}

TEST_F(OpenAiParserTest, ChatCacheFieldsAndSnapshotHints) {
  model_.max_model_len = 128;
  // "System: Be brief.\n\n" = 19 bytes, "User: Hi\n\n" = 10, "Assistant: Hello.\n\n" = 19.
  const std::string messages = R"("messages":[
      {"role":"system","content":"Be brief."},
      {"role":"user","content":"Hi","cache_control":{"type":"ephemeral"}},
      {"role":"assistant","content":"Hello.","cache_control":null}])";
  const auto result = Chat(R"({"model":"gf-test",)" + messages + "}");
  ASSERT_TRUE(std::holds_alternative<ChatRequest>(result));
  const ChatRequest& r = std::get<ChatRequest>(result);
  EXPECT_EQ(r.prompt, Ids("System: Be brief.\n\nUser: Hi\n\nAssistant: Hello.\n\nAssistant:"));
  EXPECT_TRUE(r.cache.cache_prompt);
  EXPECT_FALSE(r.cache.cache_salt.has_value());
  EXPECT_EQ(r.cache.snapshot_hints, (std::vector<int64_t>{19, 29, 48}));

  const auto opted_out =
      Chat(R"({"model":"gf-test",)" + messages + R"(,"cache_prompt":false,"cache_salt":"s"})");
  ASSERT_TRUE(std::holds_alternative<ChatRequest>(opted_out));
  EXPECT_FALSE(std::get<ChatRequest>(opted_out).cache.cache_prompt);
  EXPECT_EQ(std::get<ChatRequest>(opted_out).cache.cache_salt, std::optional<std::string>("s"));
  EXPECT_EQ(std::get<ChatRequest>(opted_out).cache.snapshot_hints,
            (std::vector<int64_t>{19, 29, 48}));

  // Anthropic's optional ttl is accepted (and ignored).
  const auto ttl = Chat(
      R"({"model":"gf-test","messages":[{"role":"user","content":"x","cache_control":{"type":"ephemeral","ttl":"1h"}}]})");
  ASSERT_TRUE(std::holds_alternative<ChatRequest>(ttl));
  EXPECT_EQ(std::get<ChatRequest>(ttl).cache.snapshot_hints, (std::vector<int64_t>{9}));

  const auto with = [](const std::string& control) {
    return R"({"model":"gf-test","messages":[{"role":"user","content":"a"},)"
           R"({"role":"user","content":"b","cache_control":)" +
           control + "}]}";
  };
  const std::string param = "messages[1].cache_control";
  const std::vector<ErrorCase> cases = {
      {"string", with(R"("ephemeral")"), 400, kBad, param, ""},
      {"true", with("true"), 400, kBad, param, ""},
      {"array", with(R"([{"type":"ephemeral"}])"), 400, kBad, param, ""},
      {"no type", with("{}"), 400, kBad, param, ""},
      {"other type", with(R"({"type":"persistent"})"), 400, kBad, param, ""},
      {"type not a string", with(R"({"type":1})"), 400, kBad, param, ""},
      {"extra key", with(R"({"type":"ephemeral","scope":"global"})"), 400, kBad, param, ""},
      {"ttl number", with(R"({"type":"ephemeral","ttl":300})"), 400, kBad, param, ""},
      {"salt empty", ChatBody(R"("cache_salt":"")"), 400, kBad, "cache_salt", ""},
      {"salt too long", ChatBody("\"cache_salt\":\"" + std::string(257, 'x') + "\""), 400, kBad,
       "cache_salt", ""},
      {"cache_prompt string", ChatBody(R"("cache_prompt":"false")"), 400, kBad, "cache_prompt", ""},
  };
  for (const ErrorCase& c : cases) {
    SCOPED_TRACE(c.name);
    const auto bad = Chat(c.body);
    ASSERT_TRUE(std::holds_alternative<ApiError>(bad));
    ExpectError(std::get<ApiError>(bad), c);
  }
  EXPECT_EQ(std::get<ApiError>(Chat(with("{}"))).message,
            "'messages[1].cache_control' must be {\"type\": \"ephemeral\"}.");
}

TEST_F(OpenAiParserTest, ChatMaxTokensAndLogprobs) {
  // max_completion_tokens wins over the deprecated max_tokens.
  const auto both = Chat(ChatBody(R"("max_completion_tokens":3,"max_tokens":9)"));
  ASSERT_TRUE(std::holds_alternative<ChatRequest>(both));
  EXPECT_EQ(std::get<ChatRequest>(both).base.max_tokens, 3);
  const auto old = Chat(ChatBody(R"("max_tokens":9)"));
  ASSERT_TRUE(std::holds_alternative<ChatRequest>(old));
  EXPECT_EQ(std::get<ChatRequest>(old).base.max_tokens, 9);
  const auto fill = Chat(ChatBody(""));
  ASSERT_TRUE(std::holds_alternative<ChatRequest>(fill));
  // "User: hi\n\nAssistant:" = 20 bytes.
  EXPECT_EQ(std::get<ChatRequest>(fill).prompt.size(), 20u);
  EXPECT_EQ(std::get<ChatRequest>(fill).base.max_tokens, 44);

  const auto lp = Chat(ChatBody(R"("logprobs":true,"top_logprobs":20)"));
  ASSERT_TRUE(std::holds_alternative<ChatRequest>(lp));
  const ChatRequest& r = std::get<ChatRequest>(lp);
  EXPECT_TRUE(r.logprobs);
  EXPECT_EQ(r.top_logprobs, 20);
  EXPECT_TRUE(r.base.logprobs);
  EXPECT_EQ(r.base.sampling.top_logprobs, 20);
  EXPECT_EQ(r.base.prompt_logprobs, -1);

  const auto no_top = Chat(ChatBody(R"("logprobs":true)"));
  ASSERT_TRUE(std::holds_alternative<ChatRequest>(no_top));
  EXPECT_EQ(std::get<ChatRequest>(no_top).top_logprobs, 0);
  EXPECT_TRUE(std::get<ChatRequest>(no_top).base.logprobs);
}

TEST_F(OpenAiParserTest, ChatContentCannotInjectControlTokens) {
  const auto result =
      Chat(R"({"model":"gf-test","messages":[{"role":"user","content":"<|endoftext|>"}]})");
  ASSERT_TRUE(std::holds_alternative<ChatRequest>(result));
  const ChatRequest& r = std::get<ChatRequest>(result);
  for (TokenId id : r.prompt) EXPECT_NE(id, 0);
  EXPECT_EQ(r.prompt, Ids("User: <|endoftext|>\n\nAssistant:"));
}

TEST_F(OpenAiParserTest, MutatedRequestsNeverCrash) {
  const std::vector<std::string> seeds = {
      CompletionBody(
          R"("max_tokens":3,"logprobs":2,"echo":true,"stop":["a","b"],)"
          R"("logit_bias":{"5":1},"stream":true,"stream_options":{"include_usage":true})"),
      R"({"model":"gf-test","prompt":[[1,2],[3]],"n":2,"best_of":2,"seed":-5})",
      ChatBody(R"("logprobs":true,"top_logprobs":3,"max_completion_tokens":4,"stop":"x")"),
      R"({"model":"gf-test","messages":[{"role":"system","content":[{"type":"text","text":"s"}]},)"
      R"({"role":"user","content":"q"}],"tools":[],"response_format":{"type":"text"}})"};
  const std::string alphabet = "{}[]\",:0123456789-.eE truefalsnul\\\xff";
  uint64_t state = 12345;
  auto next = [&state]() {
    state = state * 6364136223846793005ull + 1442695040888963407ull;
    return static_cast<size_t>(state >> 33);
  };
  int requests = 0;
  for (int iteration = 0; iteration < 4000; ++iteration) {
    std::string body = seeds[static_cast<size_t>(iteration) % seeds.size()];
    const size_t edits = 1 + next() % 4;
    for (size_t e = 0; e < edits && !body.empty(); ++e) {
      const size_t pos = next() % body.size();
      switch (next() % 3) {
        case 0:
          body[pos] = alphabet[next() % alphabet.size()];
          break;
        case 1:
          body.erase(pos, 1 + next() % 3);
          break;
        default:
          body.insert(pos, 1, alphabet[next() % alphabet.size()]);
          break;
      }
    }
    const auto completion = Completion(body);
    const auto chat = Chat(body);
    for (const ApiError* error :
         {std::get_if<ApiError>(&completion), std::get_if<ApiError>(&chat)}) {
      if (error == nullptr) {
        ++requests;
        continue;
      }
      EXPECT_TRUE(error->http_status == 400 || error->http_status == 404) << body;
      EXPECT_FALSE(error->message.empty());
      EXPECT_NO_THROW(ErrorJson(*error));
    }
    if (const auto* r = std::get_if<CompletionRequest>(&completion)) {
      EXPECT_TRUE(r->base.sampling.Validate(model_.vocab_size).ok()) << body;
      for (const auto& prompt : r->prompts) {
        EXPECT_LE(static_cast<int64_t>(prompt.size()) + r->base.max_tokens, model_.max_model_len);
      }
    }
    if (const auto* r = std::get_if<ChatRequest>(&chat)) {
      EXPECT_TRUE(r->base.sampling.Validate(model_.vocab_size).ok()) << body;
      EXPECT_LE(static_cast<int64_t>(r->prompt.size()) + r->base.max_tokens, model_.max_model_len);
    }
  }
  EXPECT_GT(requests, 0);  // some mutations stay valid
}

}  // namespace
}  // namespace gf::server
