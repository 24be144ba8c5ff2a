// OpenAI response bodies and SSE chunk payloads: every field compared after parsing the output
// back, logprobs blocks (completions with echo, chat with bytes), invalid UTF-8 replacement,
// usage chunks, models and tokenize bodies.
#include <gtest/gtest.h>

#include <cmath>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine/tokenizer/tokenizer.h"
#include "server/openai/response_builder.h"

namespace gf::server {
namespace {

using nlohmann::json;

TokenId Id(char c) { return static_cast<TokenId>(static_cast<uint8_t>(c)) + 1; }

class OpenAiResponseTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto made = MakeTokenizer("byte", "");
    ASSERT_TRUE(made.ok());
    tokenizer_ = std::move(made).value();
  }
  std::unique_ptr<Tokenizer> tokenizer_;
};

json Usage(int64_t prompt, int64_t completion, int64_t cached) {
  return json{{"prompt_tokens", prompt},
              {"completion_tokens", completion},
              {"total_tokens", prompt + completion},
              {"prompt_tokens_details", {{"cached_tokens", cached}}}};
}

TEST_F(OpenAiResponseTest, CompletionWithoutLogprobs) {
  std::vector<ChoiceResult> choices(2);
  choices[0].index = 0;
  choices[0].text = "hello";
  choices[0].finish = FinishReason::kLength;
  choices[1].index = 1;
  choices[1].text = "bye";
  choices[1].finish = FinishReason::kStop;
  const std::string text = CompletionResponseJson("cmpl-1", 1700000000, "gf-test", choices,
                                                  UsageCounts{5, 8, 2}, false, -1, *tokenizer_);
  const json out = json::parse(text);
  const json expected = {
      {"id", "cmpl-1"},
      {"object", "text_completion"},
      {"created", 1700000000},
      {"model", "gf-test"},
      {"choices",
       {{{"index", 0}, {"text", "hello"}, {"logprobs", nullptr}, {"finish_reason", "length"}},
        {{"index", 1}, {"text", "bye"}, {"logprobs", nullptr}, {"finish_reason", "stop"}}}},
      {"usage", Usage(5, 8, 2)}};
  EXPECT_EQ(out, expected);
  // Field order follows OpenAI's (id first, usage last).
  EXPECT_EQ(text.rfind("{\"id\":\"cmpl-1\",\"object\":\"text_completion\"", 0), 0u) << text;
}

TEST_F(OpenAiResponseTest, CompletionEchoWithLogprobs) {
  ChoiceResult choice;
  choice.index = 0;
  choice.prompt = {Id('a'), Id('b')};
  PromptLogprobs prompt_lp;
  prompt_lp.logprob = {-0.5f};
  prompt_lp.top = {{{Id('b'), -0.5f}, {Id('c'), -1.25f}}};
  choice.prompt_logprobs = prompt_lp;
  choice.text = "c";
  GeneratedToken c;
  c.id = Id('c');
  c.logprob = -0.25f;
  c.top = {{Id('c'), -0.25f}, {Id('d'), -2.0f}};
  GeneratedToken eos;
  eos.id = 0;
  eos.logprob = -0.125f;
  eos.top = {{0, -0.125f}, {Id('e'), -3.0f}};
  choice.tokens = {c, eos};
  choice.finish = FinishReason::kStop;
  const std::vector<ChoiceResult> choices = {choice};

  const json out = json::parse(CompletionResponseJson(
      "cmpl-2", 1, "gf-test", choices, UsageCounts{2, 2, 0}, true, 2, *tokenizer_));
  const json& item = out["choices"][0];
  EXPECT_EQ(item["text"], "abc");
  EXPECT_EQ(item["finish_reason"], "stop");
  const json expected_logprobs = {
      {"tokens", {"a", "b", "c", "<|endoftext|>"}},
      {"token_logprobs", {nullptr, -0.5, -0.25, -0.125}},
      {"top_logprobs",
       {nullptr,
        {{"b", -0.5}, {"c", -1.25}},
        {{"c", -0.25}, {"d", -2.0}},
        {{"<|endoftext|>", -0.125}, {"e", -3.0}}}},
      {"text_offset", {0, 1, 2, 3}}};
  EXPECT_EQ(item["logprobs"], expected_logprobs);

  // logprobs = 1 keeps only the best alternative; no echo drops the prompt entries.
  const json one = json::parse(CompletionResponseJson("cmpl-3", 1, "gf-test", choices,
                                                      UsageCounts{2, 2, 0}, false, 1,
                                                      *tokenizer_));
  const json expected_one = {{"tokens", {"c", "<|endoftext|>"}},
                             {"token_logprobs", {-0.25, -0.125}},
                             {"top_logprobs", {{{"c", -0.25}}, {{"<|endoftext|>", -0.125}}}},
                             {"text_offset", {0, 1}}};
  EXPECT_EQ(one["choices"][0]["text"], "c");
  EXPECT_EQ(one["choices"][0]["logprobs"], expected_one);
}

TEST_F(OpenAiResponseTest, EchoWithZeroMaxTokens) {
  ChoiceResult choice;
  choice.prompt = {Id('h'), Id('i')};
  choice.finish = FinishReason::kLength;
  PromptLogprobs prompt_lp;
  prompt_lp.logprob = {-1.5f};
  prompt_lp.top = {{}};
  choice.prompt_logprobs = prompt_lp;
  const std::vector<ChoiceResult> choices = {choice};
  const json out = json::parse(CompletionResponseJson("c", 1, "m", choices, UsageCounts{2, 0, 0},
                                                      true, 0, *tokenizer_));
  EXPECT_EQ(out["choices"][0]["text"], "hi");
  EXPECT_EQ(out["choices"][0]["logprobs"],
            (json{{"tokens", {"h", "i"}},
                  {"token_logprobs", {nullptr, -1.5}},
                  {"top_logprobs", {nullptr, json::object()}},
                  {"text_offset", {0, 1}}}));
  EXPECT_EQ(out["usage"], Usage(2, 0, 0));
}

TEST_F(OpenAiResponseTest, FloatsPrintShortest) {
  ChoiceResult choice;
  GeneratedToken token;
  token.id = Id('x');
  token.logprob = -0.1f;
  choice.tokens = {token};
  choice.text = "x";
  const std::vector<ChoiceResult> choices = {choice};
  const std::string text =
      CompletionResponseJson("c", 1, "m", choices, UsageCounts{}, false, 0, *tokenizer_);
  EXPECT_NE(text.find("\"token_logprobs\":[-0.1]"), std::string::npos) << text;
}

TEST_F(OpenAiResponseTest, InvalidUtf8IsReplaced) {
  // A token holding half of "é" (0xC3 0xA9) and text with a stray byte.
  ChoiceResult choice;
  choice.text = std::string("ok\xC3", 3);
  GeneratedToken half;
  half.id = Id('\xC3');
  half.logprob = -1.0f;
  half.top = {{Id('\xC3'), -1.0f}, {Id('\xA9'), -2.0f}, {Id('z'), -3.0f}};
  choice.tokens = {half};
  const std::vector<ChoiceResult> choices = {choice};
  std::string text;
  ASSERT_NO_THROW(text = CompletionResponseJson("c", 1, "m", choices, UsageCounts{}, false, 3,
                                                *tokenizer_));
  const json out = json::parse(text);
  EXPECT_EQ(out["choices"][0]["text"], "ok\xEF\xBF\xBD");
  EXPECT_EQ(out["choices"][0]["logprobs"]["tokens"], json::array({"\xEF\xBF\xBD"}));
  // Both broken alternatives render as U+FFFD: the better one is kept.
  EXPECT_EQ(out["choices"][0]["logprobs"]["top_logprobs"][0],
            (json{{"\xEF\xBF\xBD", -1.0}, {"z", -3.0}}));

  // Chat keeps the exact bytes in "bytes".
  const json chat = json::parse(ChatResponseJson("chat-1", 1, "m", choices, UsageCounts{}, true,
                                                 1, *tokenizer_));
  const json& entry = chat["choices"][0]["logprobs"]["content"][0];
  EXPECT_EQ(entry["token"], "\xEF\xBF\xBD");
  EXPECT_EQ(entry["bytes"], json::array({0xC3}));
  EXPECT_EQ(entry["top_logprobs"],
            json::array({{{"token", "\xEF\xBF\xBD"}, {"logprob", -1.0}, {"bytes", {0xC3}}}}));

  EXPECT_EQ(ToValidUtf8("a\xE2\x82"), "a\xEF\xBF\xBD");
  EXPECT_EQ(ToValidUtf8("\xE2\x82\xAC\xFF"), "\xE2\x82\xAC\xEF\xBF\xBD");
  EXPECT_EQ(ToValidUtf8("\xED\xA0\x80"), "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD");  // surrogate
}

TEST_F(OpenAiResponseTest, ChatResponse) {
  ChoiceResult choice;
  choice.index = 0;
  choice.text = "Hi";
  GeneratedToken h;
  h.id = Id('H');
  h.logprob = -0.5f;
  h.top = {{Id('H'), -0.5f}, {Id('Y'), -1.5f}, {Id('Z'), -4.0f}};
  GeneratedToken i;
  i.id = Id('i');
  i.logprob = -0.25f;
  i.top = {{Id('i'), -0.25f}, {Id('o'), -2.5f}, {Id('e'), -5.0f}};
  choice.tokens = {h, i};
  choice.finish = FinishReason::kLength;
  const std::vector<ChoiceResult> choices = {choice};

  const json plain = json::parse(ChatResponseJson("chatcmpl-1", 42, "gf-test", choices,
                                                  UsageCounts{10, 2, 4}, false, 0, *tokenizer_));
  const json expected = {{"id", "chatcmpl-1"},
                         {"object", "chat.completion"},
                         {"created", 42},
                         {"model", "gf-test"},
                         {"choices",
                          {{{"index", 0},
                            {"message", {{"role", "assistant"}, {"content", "Hi"}}},
                            {"logprobs", nullptr},
                            {"finish_reason", "length"}}}},
                         {"usage", Usage(10, 2, 4)}};
  EXPECT_EQ(plain, expected);

  const json with_lp = json::parse(ChatResponseJson("chatcmpl-1", 42, "gf-test", choices,
                                                    UsageCounts{10, 2, 4}, true, 2, *tokenizer_));
  const json expected_lp = {
      {"content",
       {{{"token", "H"},
         {"logprob", -0.5},
         {"bytes", {72}},
         {"top_logprobs",
          {{{"token", "H"}, {"logprob", -0.5}, {"bytes", {72}}},
           {{"token", "Y"}, {"logprob", -1.5}, {"bytes", {89}}}}}},
        {{"token", "i"},
         {"logprob", -0.25},
         {"bytes", {105}},
         {"top_logprobs",
          {{{"token", "i"}, {"logprob", -0.25}, {"bytes", {105}}},
           {{"token", "o"}, {"logprob", -2.5}, {"bytes", {111}}}}}}}}};
  EXPECT_EQ(with_lp["choices"][0]["logprobs"], expected_lp);

  const json zero_top = json::parse(ChatResponseJson("c", 1, "m", choices, UsageCounts{}, true, 0,
                                                     *tokenizer_));
  EXPECT_EQ(zero_top["choices"][0]["logprobs"]["content"][0]["top_logprobs"], json::array());
}

TEST_F(OpenAiResponseTest, ChatChunks) {
  const json role = json::parse(ChatRoleChunkJson("chatcmpl-9", 7, "gf-test", 1, true));
  EXPECT_EQ(role, (json{{"id", "chatcmpl-9"},
                        {"object", "chat.completion.chunk"},
                        {"created", 7},
                        {"model", "gf-test"},
                        {"choices",
                         {{{"index", 1},
                           {"delta", {{"role", "assistant"}, {"content", ""}}},
                           {"logprobs", nullptr},
                           {"finish_reason", nullptr}}}},
                        {"usage", nullptr}}));
  // Without include_usage there is no "usage" key at all.
  const json role_plain = json::parse(ChatRoleChunkJson("chatcmpl-9", 7, "gf-test", 1, false));
  EXPECT_FALSE(role_plain.contains("usage"));

  GeneratedToken token;
  token.id = Id('y');
  token.logprob = -0.75f;
  token.top = {{Id('y'), -0.75f}};
  const std::vector<GeneratedToken> tokens = {token};
  const json content = json::parse(
      ChatContentChunkJson("chatcmpl-9", 7, "gf-test", 0, "y", tokens, false, 0, *tokenizer_, false));
  EXPECT_EQ(content["choices"][0],
            (json{{"index", 0}, {"delta", {{"content", "y"}}}, {"logprobs", nullptr},
                  {"finish_reason", nullptr}}));
  EXPECT_FALSE(content.contains("usage"));
  const json content_lp = json::parse(
      ChatContentChunkJson("chatcmpl-9", 7, "gf-test", 0, "y", tokens, true, 1, *tokenizer_, true));
  EXPECT_EQ(content_lp["choices"][0]["logprobs"],
            (json{{"content",
                   {{{"token", "y"},
                     {"logprob", -0.75},
                     {"bytes", {121}},
                     {"top_logprobs", {{{"token", "y"}, {"logprob", -0.75}, {"bytes", {121}}}}}}}}}));
  EXPECT_TRUE(content_lp["usage"].is_null());
  EXPECT_TRUE(content_lp.contains("usage"));

  const json finish =
      json::parse(ChatFinishChunkJson("chatcmpl-9", 7, "gf-test", 0, FinishReason::kStop, false));
  EXPECT_EQ(finish["choices"][0], (json{{"index", 0}, {"delta", json::object()},
                                        {"logprobs", nullptr}, {"finish_reason", "stop"}}));
  EXPECT_EQ(finish["object"], "chat.completion.chunk");

  const json usage =
      json::parse(UsageChunkJson("chatcmpl-9", 7, "gf-test", "chat.completion.chunk",
                                 UsageCounts{12, 3, 8}));
  EXPECT_EQ(usage, (json{{"id", "chatcmpl-9"},
                         {"object", "chat.completion.chunk"},
                         {"created", 7},
                         {"model", "gf-test"},
                         {"choices", json::array()},
                         {"usage", Usage(12, 3, 8)}}));
}

TEST_F(OpenAiResponseTest, CompletionChunks) {
  GeneratedToken x;
  x.id = Id('x');
  x.logprob = -1.0f;
  x.top = {{Id('x'), -1.0f}, {Id('w'), -2.0f}};
  GeneratedToken y;
  y.id = Id('y');
  y.logprob = -0.5f;
  y.top = {{Id('y'), -0.5f}};
  const std::vector<GeneratedToken> tokens = {x, y};
  const json chunk = json::parse(CompletionChunkJson("cmpl-5", 3, "gf-test", 2, "xy", tokens,
                                                     FinishReason::kLength, 1, 5, *tokenizer_,
                                                     true));
  EXPECT_EQ(chunk, (json{{"id", "cmpl-5"},
                         {"object", "text_completion"},
                         {"created", 3},
                         {"model", "gf-test"},
                         {"choices",
                          {{{"index", 2},
                            {"text", "xy"},
                            {"logprobs",
                             {{"tokens", {"x", "y"}},
                              {"token_logprobs", {-1.0, -0.5}},
                              {"top_logprobs", {{{"x", -1.0}}, {{"y", -0.5}}}},
                              {"text_offset", {5, 6}}}},
                            {"finish_reason", "length"}}}},
                         {"usage", nullptr}}));
  const json plain = json::parse(CompletionChunkJson("cmpl-5", 3, "gf-test", 0, "xy", tokens,
                                                     FinishReason::kNone, -1, 0, *tokenizer_,
                                                     false));
  EXPECT_EQ(plain["choices"][0], (json{{"index", 0}, {"text", "xy"}, {"logprobs", nullptr},
                                       {"finish_reason", nullptr}}));
  EXPECT_FALSE(plain.contains("usage"));

  PromptLogprobs prompt_lp;
  prompt_lp.logprob = {-0.5f, -0.25f};
  prompt_lp.top = {{{Id('b'), -0.5f}}, {{Id('c'), -0.25f}}};
  const std::vector<TokenId> prompt = {Id('a'), Id('b'), Id('c')};
  const json echo = json::parse(CompletionEchoChunkJson("cmpl-5", 3, "gf-test", 0, prompt,
                                                        prompt_lp, 1, *tokenizer_, false));
  EXPECT_EQ(echo["choices"][0],
            (json{{"index", 0},
                  {"text", "abc"},
                  {"logprobs",
                   {{"tokens", {"a", "b", "c"}},
                    {"token_logprobs", {nullptr, -0.5, -0.25}},
                    {"top_logprobs", {nullptr, {{"b", -0.5}}, {{"c", -0.25}}}},
                    {"text_offset", {0, 1, 2}}}},
                  {"finish_reason", nullptr}}));
  // Missing prompt logprobs (engine gave none) render as nulls, never out of bounds.
  const json echo_none = json::parse(CompletionEchoChunkJson("cmpl-5", 3, "gf-test", 0, prompt,
                                                             std::nullopt, 1, *tokenizer_, false));
  EXPECT_EQ(echo_none["choices"][0]["logprobs"]["token_logprobs"],
            json::array({nullptr, nullptr, nullptr}));

  const json usage = json::parse(
      UsageChunkJson("cmpl-5", 3, "gf-test", "text_completion", UsageCounts{3, 2, 0}));
  EXPECT_EQ(usage["choices"], json::array());
  EXPECT_EQ(usage["object"], "text_completion");
  EXPECT_EQ(usage["usage"], Usage(3, 2, 0));
}

TEST_F(OpenAiResponseTest, FinishReasonMapping) {
  EXPECT_EQ(OpenAiFinishReason(FinishReason::kStop), "stop");
  EXPECT_EQ(OpenAiFinishReason(FinishReason::kLength), "length");
  EXPECT_EQ(OpenAiFinishReason(FinishReason::kNone), "");
  EXPECT_EQ(OpenAiFinishReason(FinishReason::kCancelled), "");
  EXPECT_EQ(OpenAiFinishReason(FinishReason::kError), "");
  const json chunk =
      json::parse(ChatFinishChunkJson("c", 1, "m", 0, FinishReason::kError, false));
  EXPECT_TRUE(chunk["choices"][0]["finish_reason"].is_null());
}

TEST_F(OpenAiResponseTest, ModelsAndTokenize) {
  ModelInfo model;
  model.id = "gf-test";
  model.vocab_size = 257;
  model.max_model_len = 4096;
  const json one = json::parse(ModelJson(model, 1234));
  const json expected = {{"id", "gf-test"},
                         {"object", "model"},
                         {"created", 1234},
                         {"owned_by", "goldfinch-serve"},
                         {"max_model_len", 4096}};
  EXPECT_EQ(one, expected);
  EXPECT_EQ(json::parse(ModelsListJson(model, 1234)),
            (json{{"object", "list"}, {"data", json::array({expected})}}));
  EXPECT_EQ(json::parse(ModelJson(model, 1, "me"))["owned_by"], "me");

  const std::vector<TokenId> ids = {0, 98, 256};
  EXPECT_EQ(json::parse(TokenizeResponseJson(ids, 4096)),
            (json{{"tokens", {0, 98, 256}}, {"count", 3}, {"max_model_len", 4096}}));
  EXPECT_EQ(json::parse(TokenizeResponseJson({}, 8)),
            (json{{"tokens", json::array()}, {"count", 0}, {"max_model_len", 8}}));
  EXPECT_EQ(json::parse(DetokenizeResponseJson("a\xFF")), (json{{"prompt", "a\xEF\xBF\xBD"}}));
}

}  // namespace
}  // namespace gf::server
