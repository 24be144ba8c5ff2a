// The OpenAI completions parser and the shared parts: malformed requests (exact
// status/type/param/code), every parsed field of valid requests, the context-length check,
// JSON depth limits, the field readers, /tokenize and /detokenize, and ErrorJson.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <string>
#include <variant>
#include <vector>

#include <nlohmann/json.hpp>

#include "tests/openai_parser_fixture.h"

namespace gf::server {
namespace {

using nlohmann::json;

TEST_F(OpenAiParserTest, MalformedCompletionRequests) {
  const std::string deep(10000, '[');
  const std::string deep_closed = std::string(10000, '[') + std::string(10000, ']');
  const std::string stop300(300, 'x');
  const std::string long_prompt(70, 'a');
  const std::string fitting_prompt(60, 'a');
  const std::vector<ErrorCase> cases = {
      {"broken json", R"({"model":)", 400, kBad, "", ""},
      {"trailing garbage", R"({"model":"gf-test"} x)", 400, kBad, "", ""},
      {"empty body", "", 400, kBad, "", ""},
      {"top level array", "[1,2]", 400, kBad, "", ""},
      {"top level string", R"("hello")", 400, kBad, "", ""},
      {"deep nesting unclosed", deep, 400, kBad, "", ""},
      {"deep nesting closed", deep_closed, 400, kBad, "", ""},
      {"deep nesting in a field", R"({"model":"gf-test","prompt":"hi","x":)" + deep_closed + "}",
       400, kBad, "", ""},
      {"invalid utf8", "{\"model\":\"gf-test\",\"prompt\":\"\xff\"}", 400, kBad, "", ""},
      {"missing model", R"({"prompt":"hi"})", 400, kBad, "model", ""},
      {"model not a string", R"({"model":5,"prompt":"hi"})", 400, kBad, "model", ""},
      {"unknown model", R"({"model":"gpt-4","prompt":"hi"})", 404, "not_found_error", "model",
       "model_not_found"},
      {"missing prompt", R"({"model":"gf-test"})", 400, kBad, "prompt", ""},
      {"null prompt", R"({"model":"gf-test","prompt":null})", 400, kBad, "prompt", ""},
      {"empty prompt", R"({"model":"gf-test","prompt":""})", 400, kBad, "prompt", ""},
      {"empty prompt array", R"({"model":"gf-test","prompt":[]})", 400, kBad, "prompt", ""},
      {"empty inner ids", R"({"model":"gf-test","prompt":[[]]})", 400, kBad, "prompt", ""},
      {"empty string in array", R"({"model":"gf-test","prompt":["a",""]})", 400, kBad, "prompt",
       ""},
      {"token id -1", R"({"model":"gf-test","prompt":[-1]})", 400, kBad, "prompt", ""},
      {"token id vocab", R"({"model":"gf-test","prompt":[5,257]})", 400, kBad, "prompt", ""},
      {"token id huge", R"({"model":"gf-test","prompt":[18446744073709551615]})", 400, kBad,
       "prompt", ""},
      {"token id in nested list", R"({"model":"gf-test","prompt":[[1],[2,-1]]})", 400, kBad,
       "prompt", ""},
      {"token id float", R"({"model":"gf-test","prompt":[1.5]})", 400, kBad, "prompt", ""},
      {"mixed prompt array", R"({"model":"gf-test","prompt":["a",1]})", 400, kBad, "prompt", ""},
      {"mixed ids and lists", R"({"model":"gf-test","prompt":[1,[2]]})", 400, kBad, "prompt", ""},
      {"prompt object", R"({"model":"gf-test","prompt":{"a":1}})", 400, kBad, "prompt", ""},
      {"prompt bool", R"({"model":"gf-test","prompt":true})", 400, kBad, "prompt", ""},
      {"max_tokens negative", CompletionBody(R"("max_tokens":-1)"), 400, kBad, "max_tokens", ""},
      {"max_tokens string", CompletionBody(R"("max_tokens":"16")"), 400, kBad, "max_tokens", ""},
      {"max_tokens decimal", CompletionBody(R"("max_tokens":1.5)"), 400, kBad, "max_tokens", ""},
      {"max_tokens 16.0", CompletionBody(R"("max_tokens":16.0)"), 400, kBad, "max_tokens", ""},
      // 1e999 overflows a double: nlohmann rejects the whole document ("number overflow"), so
      // these are JSON errors with a null param, like any other unparsable body.
      {"max_tokens inf", CompletionBody(R"("max_tokens":1e999)"), 400, kBad, "", ""},
      {"max_tokens beyond uint64", CompletionBody(R"("max_tokens":99999999999999999999999)"), 400,
       kBad, "max_tokens", ""},
      {"max_tokens uint64 max", CompletionBody(R"("max_tokens":18446744073709551615)"), 400, kBad,
       "max_tokens", ""},
      {"max_tokens int64 max", CompletionBody(R"("max_tokens":9223372036854775807)"), 400, kBad,
       "max_tokens", "context_length_exceeded"},
      {"temperature string", CompletionBody(R"("temperature":"hot")"), 400, kBad, "temperature",
       ""},
      {"temperature bool", CompletionBody(R"("temperature":true)"), 400, kBad, "temperature", ""},
      {"temperature negative", CompletionBody(R"("temperature":-0.1)"), 400, kBad, "temperature",
       ""},
      {"temperature above 2", CompletionBody(R"("temperature":2.5)"), 400, kBad, "temperature", ""},
      {"temperature inf", CompletionBody(R"("temperature":1e999)"), 400, kBad, "", ""},
      {"temperature -inf", CompletionBody(R"("temperature":-1e999)"), 400, kBad, "", ""},
      {"temperature huge", CompletionBody(R"("temperature":1e308)"), 400, kBad, "temperature", ""},
      {"top_p zero", CompletionBody(R"("top_p":0)"), 400, kBad, "top_p", ""},
      {"top_p above 1", CompletionBody(R"("top_p":1.5)"), 400, kBad, "top_p", ""},
      {"top_p inf", CompletionBody(R"("top_p":1e999)"), 400, kBad, "", ""},
      {"top_p array", CompletionBody(R"("top_p":[1])"), 400, kBad, "top_p", ""},
      {"top_k -2", CompletionBody(R"("top_k":-2)"), 400, kBad, "top_k", ""},
      {"top_k decimal", CompletionBody(R"("top_k":1.5)"), 400, kBad, "top_k", ""},
      {"top_k huge", CompletionBody(R"("top_k":4294967296)"), 400, kBad, "top_k", ""},
      {"min_p negative", CompletionBody(R"("min_p":-0.1)"), 400, kBad, "min_p", ""},
      {"min_p above 1", CompletionBody(R"("min_p":1.1)"), 400, kBad, "min_p", ""},
      {"presence_penalty 3", CompletionBody(R"("presence_penalty":3)"), 400, kBad,
       "presence_penalty", ""},
      {"presence_penalty string", CompletionBody(R"("presence_penalty":"1")"), 400, kBad,
       "presence_penalty", ""},
      {"frequency_penalty -2.5", CompletionBody(R"("frequency_penalty":-2.5)"), 400, kBad,
       "frequency_penalty", ""},
      {"repetition_penalty 0", CompletionBody(R"("repetition_penalty":0)"), 400, kBad,
       "repetition_penalty", ""},
      {"repetition_penalty 2.5", CompletionBody(R"("repetition_penalty":2.5)"), 400, kBad,
       "repetition_penalty", ""},
      {"seed string", CompletionBody(R"("seed":"1")"), 400, kBad, "seed", ""},
      {"seed decimal", CompletionBody(R"("seed":1.5)"), 400, kBad, "seed", ""},
      {"n zero", CompletionBody(R"("n":0)"), 400, kBad, "n", ""},
      {"n nine", CompletionBody(R"("n":9)"), 400, kBad, "n", ""},
      {"n string", CompletionBody(R"("n":"2")"), 400, kBad, "n", ""},
      {"best_of differs", CompletionBody(R"("best_of":2)"), 400, kBad, "best_of", ""},
      {"best_of string", CompletionBody(R"("best_of":"1")"), 400, kBad, "best_of", ""},
      {"logprobs six", CompletionBody(R"("logprobs":6)"), 400, kBad, "logprobs", ""},
      {"logprobs negative", CompletionBody(R"("logprobs":-1)"), 400, kBad, "logprobs", ""},
      {"logprobs bool", CompletionBody(R"("logprobs":true)"), 400, kBad, "logprobs", ""},
      {"echo string", CompletionBody(R"("echo":"yes")"), 400, kBad, "echo", ""},
      {"echo number", CompletionBody(R"("echo":1)"), 400, kBad, "echo", ""},
      {"stream string", CompletionBody(R"("stream":"true")"), 400, kBad, "stream", ""},
      {"stream_options without stream",
       CompletionBody(R"("stream_options":{"include_usage":true})"), 400, kBad, "stream_options",
       ""},
      {"stream_options with stream false",
       CompletionBody(R"("stream":false,"stream_options":{"include_usage":true})"), 400, kBad,
       "stream_options", ""},
      {"stream_options not an object", CompletionBody(R"("stream":true,"stream_options":5)"), 400,
       kBad, "stream_options", ""},
      {"include_usage string",
       CompletionBody(R"("stream":true,"stream_options":{"include_usage":"yes"})"), 400, kBad,
       "stream_options.include_usage", ""},
      {"five stops", CompletionBody(R"("stop":["a","b","c","d","e"])"), 400, kBad, "stop", ""},
      {"300-byte stop", CompletionBody(R"("stop":")" + stop300 + "\""), 400, kBad, "stop", ""},
      {"300-byte stop in array", CompletionBody(R"("stop":["a",")" + stop300 + "\"]"), 400, kBad,
       "stop", ""},
      {"empty stop", CompletionBody(R"("stop":"")"), 400, kBad, "stop", ""},
      {"stop number", CompletionBody(R"("stop":5)"), 400, kBad, "stop", ""},
      {"stop array of numbers", CompletionBody(R"("stop":[1])"), 400, kBad, "stop", ""},
      {"logit_bias id 999999", CompletionBody(R"("logit_bias":{"999999":1})"), 400, kBad,
       "logit_bias", ""},
      {"logit_bias id vocab", CompletionBody(R"("logit_bias":{"257":1})"), 400, kBad, "logit_bias",
       ""},
      {"logit_bias id abc", CompletionBody(R"("logit_bias":{"abc":1})"), 400, kBad, "logit_bias",
       ""},
      {"logit_bias id -1", CompletionBody(R"("logit_bias":{"-1":1})"), 400, kBad, "logit_bias", ""},
      {"logit_bias id empty", CompletionBody(R"("logit_bias":{"":1})"), 400, kBad, "logit_bias",
       ""},
      {"logit_bias id overflow", CompletionBody(R"("logit_bias":{"99999999999999999999":1})"), 400,
       kBad, "logit_bias", ""},
      {"logit_bias value 500", CompletionBody(R"("logit_bias":{"5":500})"), 400, kBad, "logit_bias",
       ""},
      {"logit_bias value inf", CompletionBody(R"("logit_bias":{"5":1e999})"), 400, kBad, "", ""},
      {"logit_bias value string", CompletionBody(R"("logit_bias":{"5":"1"})"), 400, kBad,
       "logit_bias", ""},
      {"logit_bias array", CompletionBody(R"("logit_bias":[1])"), 400, kBad, "logit_bias", ""},
      {"suffix", CompletionBody(R"("suffix":"end")"), 400, kBad, "suffix", ""},
      {"suffix number", CompletionBody(R"("suffix":1)"), 400, kBad, "suffix", ""},
      {"user number", CompletionBody(R"("user":5)"), 400, kBad, "user", ""},
      {"completion too long",
       R"({"model":"gf-test","prompt":")" + fitting_prompt + R"(","max_tokens":5})", 400, kBad,
       "max_tokens", "context_length_exceeded"},
      {"prompt alone too long", R"({"model":"gf-test","prompt":")" + long_prompt + R"("})", 400,
       kBad, "prompt", "context_length_exceeded"},
      {"second prompt too long", R"({"model":"gf-test","prompt":["a",")" + long_prompt + R"("]})",
       400, kBad, "prompt", "context_length_exceeded"},
  };
  for (const ErrorCase& c : cases) {
    SCOPED_TRACE(c.name);
    const auto result = Completion(c.body);
    ASSERT_TRUE(std::holds_alternative<ApiError>(result));
    ExpectError(std::get<ApiError>(result), c);
  }
}

TEST_F(OpenAiParserTest, ContextLengthMessageStatesTheNumbers) {
  const auto result = Completion(R"({"model":"gf-test","prompt":")" + std::string(60, 'a') +
                                 R"(","max_tokens":10})");
  ASSERT_TRUE(std::holds_alternative<ApiError>(result));
  EXPECT_EQ(std::get<ApiError>(result).message,
            "This model's maximum context length is 64 tokens. However, you requested 70 tokens "
            "(60 in the prompt, 10 for the completion). Please reduce the length of the prompt "
            "or completion.");
}

TEST_F(OpenAiParserTest, ContextBoundaryIsInclusive) {
  // 48 + 16 (default max_tokens) = 64 = max_model_len: accepted.
  const auto fits = Completion(R"({"model":"gf-test","prompt":")" + std::string(48, 'a') + "\"}");
  ASSERT_TRUE(std::holds_alternative<CompletionRequest>(fits));
  EXPECT_EQ(std::get<CompletionRequest>(fits).base.max_tokens, 16);
  const auto over = Completion(R"({"model":"gf-test","prompt":")" + std::string(49, 'a') + "\"}");
  ASSERT_TRUE(std::holds_alternative<ApiError>(over));
  EXPECT_EQ(std::get<ApiError>(over).param, "max_tokens");
  // A prompt of exactly max_model_len with max_tokens 0 fits.
  const auto exact =
      Completion(R"({"model":"gf-test","max_tokens":0,"prompt":")" + std::string(64, 'a') + "\"}");
  EXPECT_TRUE(std::holds_alternative<CompletionRequest>(exact));
}

TEST_F(OpenAiParserTest, MaxTokensCap) {
  limits_.max_tokens_cap = 8;
  const auto over = Completion(CompletionBody(R"("max_tokens":9)"));
  ASSERT_TRUE(std::holds_alternative<ApiError>(over));
  EXPECT_EQ(std::get<ApiError>(over).http_status, 400);
  EXPECT_EQ(std::get<ApiError>(over).param, "max_tokens");
  EXPECT_EQ(std::get<ApiError>(over).code, "");
  const auto at = Completion(CompletionBody(R"("max_tokens":8)"));
  ASSERT_TRUE(std::holds_alternative<CompletionRequest>(at));
  EXPECT_EQ(std::get<CompletionRequest>(at).base.max_tokens, 8);
  // Chat default fill is bounded by the cap.
  const auto chat = Chat(ChatBody(""));
  ASSERT_TRUE(std::holds_alternative<ChatRequest>(chat));
  EXPECT_EQ(std::get<ChatRequest>(chat).base.max_tokens, 8);
  const auto chat_over = Chat(ChatBody(R"("max_completion_tokens":9)"));
  ASSERT_TRUE(std::holds_alternative<ApiError>(chat_over));
  EXPECT_EQ(std::get<ApiError>(chat_over).param, "max_completion_tokens");
}

TEST_F(OpenAiParserTest, CompletionDefaults) {
  const auto result = Completion(R"({"model":"gf-test","prompt":"hi"})");
  ASSERT_TRUE(std::holds_alternative<CompletionRequest>(result));
  const CompletionRequest& r = std::get<CompletionRequest>(result);
  EXPECT_EQ(r.model, "gf-test");
  ASSERT_EQ(r.prompts.size(), 1u);
  EXPECT_EQ(r.prompts[0], (std::vector<TokenId>{105, 106}));
  EXPECT_EQ(r.n, 1);
  EXPECT_FALSE(r.stream);
  EXPECT_FALSE(r.include_usage);
  EXPECT_FALSE(r.echo);
  EXPECT_EQ(r.logprobs, -1);
  EXPECT_TRUE(r.base.prompt.empty());
  EXPECT_EQ(r.base.max_tokens, 16);
  EXPECT_FLOAT_EQ(r.base.sampling.temperature, 1.0f);
  EXPECT_FLOAT_EQ(r.base.sampling.top_p, 1.0f);
  EXPECT_EQ(r.base.sampling.top_k, 0);
  EXPECT_FLOAT_EQ(r.base.sampling.min_p, 0.0f);
  EXPECT_FLOAT_EQ(r.base.sampling.repetition_penalty, 1.0f);
  EXPECT_FLOAT_EQ(r.base.sampling.presence_penalty, 0.0f);
  EXPECT_FLOAT_EQ(r.base.sampling.frequency_penalty, 0.0f);
  EXPECT_TRUE(r.base.sampling.logit_bias.empty());
  EXPECT_EQ(r.base.sampling.top_logprobs, 0);
  EXPECT_TRUE(r.base.stop.empty());
  EXPECT_FALSE(r.base.logprobs);
  EXPECT_EQ(r.base.prompt_logprobs, -1);
  EXPECT_TRUE(r.base.sampling.Validate(model_.vocab_size).ok());
}

TEST_F(OpenAiParserTest, CompletionCacheFields) {
  const auto plain = Completion(CompletionBody(""));
  ASSERT_TRUE(std::holds_alternative<CompletionRequest>(plain));
  const CacheRequestFields& defaults = std::get<CompletionRequest>(plain).cache;
  EXPECT_TRUE(defaults.cache_prompt);
  EXPECT_FALSE(defaults.cache_salt.has_value());
  EXPECT_TRUE(defaults.snapshot_hints.empty());  // completions have no message boundaries

  const auto set = Completion(CompletionBody(R"("cache_prompt":false,"cache_salt":"team-7")"));
  ASSERT_TRUE(std::holds_alternative<CompletionRequest>(set));
  const CacheRequestFields& fields = std::get<CompletionRequest>(set).cache;
  EXPECT_FALSE(fields.cache_prompt);
  EXPECT_EQ(fields.cache_salt, std::optional<std::string>("team-7"));
  EXPECT_TRUE(std::get<CompletionRequest>(set).base.cache.enabled);  // the route fills base.cache

  const auto nulls = Completion(CompletionBody(R"("cache_prompt":null,"cache_salt":null)"));
  ASSERT_TRUE(std::holds_alternative<CompletionRequest>(nulls));
  EXPECT_TRUE(std::get<CompletionRequest>(nulls).cache.cache_prompt);
  EXPECT_FALSE(std::get<CompletionRequest>(nulls).cache.cache_salt.has_value());

  const auto longest =
      Completion(CompletionBody("\"cache_salt\":\"" + std::string(256, 's') + "\""));
  ASSERT_TRUE(std::holds_alternative<CompletionRequest>(longest));
  EXPECT_EQ(std::get<CompletionRequest>(longest).cache.cache_salt->size(), 256u);

  const std::vector<ErrorCase> cases = {
      {"empty salt", CompletionBody(R"("cache_salt":"")"), 400, kBad, "cache_salt", ""},
      {"257-byte salt", CompletionBody("\"cache_salt\":\"" + std::string(257, 's') + "\""), 400,
       kBad, "cache_salt", ""},
      {"salt number", CompletionBody(R"("cache_salt":7)"), 400, kBad, "cache_salt", ""},
      {"salt object", CompletionBody(R"("cache_salt":{"a":1})"), 400, kBad, "cache_salt", ""},
      {"cache_prompt string", CompletionBody(R"("cache_prompt":"no")"), 400, kBad, "cache_prompt",
       ""},
      {"cache_prompt number", CompletionBody(R"("cache_prompt":0)"), 400, kBad, "cache_prompt", ""},
  };
  for (const ErrorCase& c : cases) {
    SCOPED_TRACE(c.name);
    const auto result = Completion(c.body);
    ASSERT_TRUE(std::holds_alternative<ApiError>(result));
    ExpectError(std::get<ApiError>(result), c);
  }
  const auto empty = Completion(CompletionBody(R"("cache_salt":"")"));
  EXPECT_EQ(std::get<ApiError>(empty).message, "'cache_salt' must be 1-256 bytes, got 0.");
}

TEST_F(OpenAiParserTest, RequestsWithoutSeedGetDifferentSeeds) {
  const auto a = Completion(CompletionBody(""));
  const auto b = Completion(CompletionBody(R"("seed":null)"));
  ASSERT_TRUE(std::holds_alternative<CompletionRequest>(a));
  ASSERT_TRUE(std::holds_alternative<CompletionRequest>(b));
  EXPECT_NE(std::get<CompletionRequest>(a).base.sampling.seed,
            std::get<CompletionRequest>(b).base.sampling.seed);
}

TEST_F(OpenAiParserTest, CompletionEveryField) {
  const std::string body = R"({
    "model": "gf-test", "prompt": "ab", "max_tokens": 7, "temperature": 0.5, "top_p": 0.9,
    "top_k": 40, "min_p": 0.05, "presence_penalty": -1.5, "frequency_penalty": 2,
    "repetition_penalty": 1.1, "stop": ["x", "yz"], "seed": 42, "n": 3, "best_of": 3,
    "logprobs": 5, "echo": true, "logit_bias": {"5": -100, "256": 2.5, "0": 100},
    "user": "u1", "stream": true, "stream_options": {"include_usage": true}, "suffix": "",
    "unknown_field": {"nested": [1, 2, 3]}
  })";
  const auto result = Completion(body);
  ASSERT_TRUE(std::holds_alternative<CompletionRequest>(result));
  const CompletionRequest& r = std::get<CompletionRequest>(result);
  EXPECT_EQ(r.prompts, (std::vector<std::vector<TokenId>>{{98, 99}}));
  EXPECT_EQ(r.n, 3);
  EXPECT_TRUE(r.stream);
  EXPECT_TRUE(r.include_usage);
  EXPECT_TRUE(r.echo);
  EXPECT_EQ(r.logprobs, 5);
  EXPECT_EQ(r.base.max_tokens, 7);
  EXPECT_FLOAT_EQ(r.base.sampling.temperature, 0.5f);
  EXPECT_FLOAT_EQ(r.base.sampling.top_p, 0.9f);
  EXPECT_EQ(r.base.sampling.top_k, 40);
  EXPECT_FLOAT_EQ(r.base.sampling.min_p, 0.05f);
  EXPECT_FLOAT_EQ(r.base.sampling.presence_penalty, -1.5f);
  EXPECT_FLOAT_EQ(r.base.sampling.frequency_penalty, 2.0f);
  EXPECT_FLOAT_EQ(r.base.sampling.repetition_penalty, 1.1f);
  EXPECT_EQ(r.base.stop, (std::vector<std::string>{"x", "yz"}));
  EXPECT_EQ(r.base.sampling.seed, 42u);
  // nlohmann objects iterate keys in sorted order: "0", "256", "5".
  const std::vector<std::pair<int32_t, float>> bias = {{0, 100.0f}, {256, 2.5f}, {5, -100.0f}};
  EXPECT_EQ(r.base.sampling.logit_bias, bias);
  EXPECT_TRUE(r.base.logprobs);
  EXPECT_EQ(r.base.sampling.top_logprobs, 5);
  EXPECT_EQ(r.base.prompt_logprobs, 5);
  EXPECT_TRUE(r.base.sampling.Validate(model_.vocab_size).ok());
}

TEST_F(OpenAiParserTest, NullFieldsTakeDefaults) {
  const auto result = Completion(CompletionBody(
      R"("max_tokens":null,"temperature":null,"top_p":null,"n":null,"stop":null,"logprobs":null,)"
      R"("echo":null,"stream":null,"stream_options":null,"logit_bias":null,"suffix":null,)"
      R"("best_of":null,"user":null,"top_k":null)"));
  ASSERT_TRUE(std::holds_alternative<CompletionRequest>(result));
  const CompletionRequest& r = std::get<CompletionRequest>(result);
  EXPECT_EQ(r.base.max_tokens, 16);
  EXPECT_FLOAT_EQ(r.base.sampling.temperature, 1.0f);
  EXPECT_EQ(r.n, 1);
  EXPECT_EQ(r.logprobs, -1);
  EXPECT_FALSE(r.stream);
}

TEST_F(OpenAiParserTest, ScalarEdgeValues) {
  const auto result = Completion(CompletionBody(
      R"("top_k":-1,"seed":-1,"temperature":0,"top_p":1,"min_p":1,"repetition_penalty":2,)"
      R"("stop":"\n\n","logprobs":0)"));
  ASSERT_TRUE(std::holds_alternative<CompletionRequest>(result));
  const CompletionRequest& r = std::get<CompletionRequest>(result);
  EXPECT_EQ(r.base.sampling.top_k, 0);
  EXPECT_EQ(r.base.sampling.seed, UINT64_MAX);
  EXPECT_FLOAT_EQ(r.base.sampling.temperature, 0.0f);
  EXPECT_EQ(r.base.stop, (std::vector<std::string>{"\n\n"}));
  EXPECT_EQ(r.logprobs, 0);
  EXPECT_TRUE(r.base.logprobs);
  EXPECT_EQ(r.base.sampling.top_logprobs, 0);
  EXPECT_EQ(r.base.prompt_logprobs, -1);  // no echo

  const auto big_seed = Completion(CompletionBody(R"("seed":18446744073709551615)"));
  ASSERT_TRUE(std::holds_alternative<CompletionRequest>(big_seed));
  EXPECT_EQ(std::get<CompletionRequest>(big_seed).base.sampling.seed, UINT64_MAX);
}

TEST_F(OpenAiParserTest, PromptForms) {
  auto parse = [&](const std::string& prompt) {
    const auto result = Completion(R"({"model":"gf-test","prompt":)" + prompt + "}");
    EXPECT_TRUE(std::holds_alternative<CompletionRequest>(result)) << prompt;
    return std::holds_alternative<CompletionRequest>(result)
               ? std::get<CompletionRequest>(result).prompts
               : std::vector<std::vector<TokenId>>{};
  };
  EXPECT_EQ(parse(R"(["a","bc"])"), (std::vector<std::vector<TokenId>>{{98}, {99, 100}}));
  EXPECT_EQ(parse("[0,5,256]"), (std::vector<std::vector<TokenId>>{{0, 5, 256}}));
  EXPECT_EQ(parse("[[1],[2,3]]"), (std::vector<std::vector<TokenId>>{{1}, {2, 3}}));
  // User text never becomes a control token: "<|endoftext|>" stays 13 byte tokens.
  const auto special = parse(R"("<|endoftext|>")");
  ASSERT_EQ(special.size(), 1u);
  EXPECT_EQ(special[0], Ids("<|endoftext|>"));
  // Token-id prompts may name id 0 explicitly.
  EXPECT_EQ(parse("[0]"), (std::vector<std::vector<TokenId>>{{0}}));
}

TEST_F(OpenAiParserTest, TooManyPrompts) {
  limits_.max_prompts = 2;
  const auto result = Completion(R"({"model":"gf-test","prompt":["a","b","c"]})");
  ASSERT_TRUE(std::holds_alternative<ApiError>(result));
  EXPECT_EQ(std::get<ApiError>(result).param, "prompt");
  EXPECT_TRUE(std::holds_alternative<CompletionRequest>(
      Completion(R"({"model":"gf-test","prompt":[1,2,3]})")));  // one id prompt, not 3 prompts
}

TEST_F(OpenAiParserTest, EchoWithZeroMaxTokens) {
  // vLLM #6521: echo + max_tokens 0 crashed there.
  const auto result = Completion(CompletionBody(R"("echo":true,"max_tokens":0,"logprobs":2)"));
  ASSERT_TRUE(std::holds_alternative<CompletionRequest>(result));
  const CompletionRequest& r = std::get<CompletionRequest>(result);
  EXPECT_EQ(r.base.max_tokens, 0);
  EXPECT_TRUE(r.echo);
  EXPECT_EQ(r.base.prompt_logprobs, 2);
  EXPECT_EQ(r.base.sampling.top_logprobs, 2);
  const auto plain = Completion(CompletionBody(R"("echo":true,"max_tokens":0)"));
  ASSERT_TRUE(std::holds_alternative<CompletionRequest>(plain));
  EXPECT_EQ(std::get<CompletionRequest>(plain).base.prompt_logprobs, -1);
}

TEST_F(OpenAiParserTest, JsonDepthLimit) {
  EXPECT_EQ(JsonNestingDepth("1", 64), 0u);
  EXPECT_EQ(JsonNestingDepth(R"({"a":[1,{"b":[]}]})", 64), 4u);
  EXPECT_EQ(JsonNestingDepth(R"({"a":"[[[[{{{{"})", 64), 1u);
  EXPECT_EQ(JsonNestingDepth(R"({"a":"\"[[[["})", 64), 1u);  // escaped quote stays in string
  EXPECT_EQ(JsonNestingDepth(R"({"a":"\\"}[[[)", 64), 3u);   // escaped backslash ends the escape
  EXPECT_EQ(JsonNestingDepth(std::string(1000000, '['), 64), 65u);
  EXPECT_EQ(JsonNestingDepth("]]]]{", 64), 1u);

  // Depth 64 in total is accepted (the body object is level 1), 65 is not.
  auto nested = [](int levels) {
    return std::string(static_cast<size_t>(levels), '[') +
           std::string(static_cast<size_t>(levels), ']');
  };
  EXPECT_TRUE(
      std::holds_alternative<CompletionRequest>(Completion(CompletionBody("\"x\":" + nested(63)))));
  const auto deep = Completion(CompletionBody("\"x\":" + nested(64)));
  ASSERT_TRUE(std::holds_alternative<ApiError>(deep));
  EXPECT_EQ(std::get<ApiError>(deep).message, "Invalid JSON: nesting depth exceeds 64");
  // Brackets inside strings do not count.
  const auto in_string =
      Completion(R"({"model":"gf-test","max_tokens":0,"prompt":")" + std::string(60, '[') + "\"}");
  EXPECT_TRUE(std::holds_alternative<CompletionRequest>(in_string));
}

TEST(FieldReaderTest, NonFiniteNumbersAreRejected) {
  // JSON text cannot carry inf/NaN (1e999 fails to parse), but the readers are also safe for
  // values built in code.
  const json object = {{"nan", std::nan("")},
                       {"inf", INFINITY},
                       {"ok", 0.5},
                       {"int", 3},
                       {"big", 18446744073709551615ull}};
  float f = -1.0f;
  auto e = ReadFloat(object, "nan", -10.0, 10.0, false, false, &f);
  ASSERT_TRUE(e.has_value());
  EXPECT_EQ(e->param, "nan");
  e = ReadFloat(object, "inf", -1e9, 1e300, false, false, &f, "nested.inf");
  ASSERT_TRUE(e.has_value());
  EXPECT_EQ(e->param, "nested.inf");
  EXPECT_EQ(f, -1.0f);
  EXPECT_FALSE(ReadFloat(object, "ok", 0.0, 1.0, true, true, &f).has_value());
  EXPECT_EQ(f, 0.5f);
  EXPECT_FALSE(ReadFloat(object, "int", 0.0, 3.0, false, false, &f).has_value());
  EXPECT_EQ(f, 3.0f);
  EXPECT_TRUE(ReadFloat(object, "int", 0.0, 3.0, false, true, &f).has_value());
  EXPECT_FALSE(ReadFloat(object, "absent", 0.0, 1.0, false, false, &f).has_value());
  int64_t i = 0;
  EXPECT_TRUE(ReadInt(object, "big", 0, INT64_MAX, &i).has_value());
  EXPECT_TRUE(ReadInt(object, "ok", 0, 10, &i).has_value());
  EXPECT_FALSE(ReadInt(object, "int", 3, 3, &i).has_value());
  EXPECT_EQ(i, 3);
}

TEST_F(OpenAiParserTest, NumberOverflowIsAJsonError) {
  const auto result = Completion(CompletionBody(R"("temperature":1e999)"));
  ASSERT_TRUE(std::holds_alternative<ApiError>(result));
  EXPECT_NE(std::get<ApiError>(result).message.find("number overflow"), std::string::npos)
      << std::get<ApiError>(result).message;
}

TEST_F(OpenAiParserTest, InvalidJsonMessage) {
  const auto result = Completion("{\"model\": tru}");
  ASSERT_TRUE(std::holds_alternative<ApiError>(result));
  const std::string& message = std::get<ApiError>(result).message;
  EXPECT_EQ(message.rfind("Invalid JSON: parse error", 0), 0u) << message;
}

TEST_F(OpenAiParserTest, TokenizeAndDetokenize) {
  const auto tok = ParseTokenize(R"({"model":"gf-test","prompt":"a<|endoftext|>"})", model_,
                                 *tokenizer_, limits_);
  ASSERT_TRUE(std::holds_alternative<TokenizeRequest>(tok));
  EXPECT_EQ(std::get<TokenizeRequest>(tok).tokens, Ids("a<|endoftext|>"));
  const auto no_model = ParseTokenize(R"({"prompt":"b"})", model_, *tokenizer_, limits_);
  ASSERT_TRUE(std::holds_alternative<TokenizeRequest>(no_model));
  EXPECT_EQ(std::get<TokenizeRequest>(no_model).tokens, Ids("b"));

  struct Case {
    std::string body;
    int status;
    std::string param;
  };
  for (const Case& c : std::vector<Case>{{R"({"prompt":5})", 400, "prompt"},
                                         {R"({"prompt":""})", 400, "prompt"},
                                         {R"({})", 400, "prompt"},
                                         {R"({"model":"x","prompt":"a"})", 404, "model"},
                                         {"[", 400, ""}}) {
    SCOPED_TRACE(c.body);
    const auto r = ParseTokenize(c.body, model_, *tokenizer_, limits_);
    ASSERT_TRUE(std::holds_alternative<ApiError>(r));
    EXPECT_EQ(std::get<ApiError>(r).http_status, c.status);
    EXPECT_EQ(std::get<ApiError>(r).param, c.param);
  }

  const auto detok = ParseDetokenize(R"({"tokens":[0,98,256]})", model_, limits_);
  ASSERT_TRUE(std::holds_alternative<DetokenizeRequest>(detok));
  EXPECT_EQ(std::get<DetokenizeRequest>(detok).tokens, (std::vector<TokenId>{0, 98, 256}));
  const auto empty = ParseDetokenize(R"({"tokens":[]})", model_, limits_);
  ASSERT_TRUE(std::holds_alternative<DetokenizeRequest>(empty));
  EXPECT_TRUE(std::get<DetokenizeRequest>(empty).tokens.empty());
  for (const std::string body :
       {R"({"tokens":[257]})", R"({"tokens":[-1]})", R"({"tokens":[1.5]})", R"({"tokens":"1"})",
        R"({})", R"({"tokens":[18446744073709551615]})"}) {
    SCOPED_TRACE(body);
    const auto r = ParseDetokenize(body, model_, limits_);
    ASSERT_TRUE(std::holds_alternative<ApiError>(r));
    EXPECT_EQ(std::get<ApiError>(r).http_status, 400);
    EXPECT_EQ(std::get<ApiError>(r).param, "tokens");
  }
}

// Random byte mutations of valid requests: every result is a request or a 4xx error, and
// never a crash (run under ASan/UBSan too).
TEST(ApiErrorTest, ErrorJsonShape) {
  const std::string text =
      ErrorJson(InvalidRequest("max_tokens", "too big", "context_length_exceeded"));
  EXPECT_EQ(text, R"({"error":{"message":"too big","type":"invalid_request_error",)"
                  R"("param":"max_tokens","code":"context_length_exceeded"}})");
  const json parsed = json::parse(text);
  EXPECT_EQ(parsed, json::parse(R"({"error":{"message":"too big","type":"invalid_request_error",
                                   "param":"max_tokens","code":"context_length_exceeded"}})"));
  const json nulls = json::parse(ErrorJson(InvalidRequest("", "bad")));
  EXPECT_TRUE(nulls["error"]["param"].is_null());
  EXPECT_TRUE(nulls["error"]["code"].is_null());
  // Invalid UTF-8 in a message is replaced, not thrown.
  const json replaced = json::parse(ErrorJson(InvalidRequest("x", "bad \xff byte")));
  EXPECT_EQ(replaced["error"]["message"], "bad \xEF\xBF\xBD byte");

  const ApiError missing = ModelNotFound("gpt-4");
  EXPECT_EQ(missing.http_status, 404);
  EXPECT_EQ(missing.type, "not_found_error");
  EXPECT_EQ(missing.param, "model");
  EXPECT_EQ(missing.code, "model_not_found");
  const ApiError server = ServerError("boom");
  EXPECT_EQ(server.http_status, 500);
  EXPECT_EQ(server.type, "server_error");
  const ApiError mapped = ApiErrorFromStatus(ResourceExhausted("queue full"));
  EXPECT_EQ(mapped.http_status, 429);
  EXPECT_EQ(mapped.type, "rate_limit_error");
  EXPECT_EQ(mapped.message, "queue full");
}

}  // namespace
}  // namespace gf::server
