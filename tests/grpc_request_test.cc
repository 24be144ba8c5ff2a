// gRPC request conversion (server/grpc/grpc_request.h): invalid requests (status code and the
// proto field path that leads the message) and every converted field of valid requests. The
// HTTP/gRPC equivalence is in grpc_http_equivalence_test.cc.
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <limits>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "tests/grpc_request_fixture.h"

namespace gf::server {
namespace {

bool StartsWith(const std::string& text, const std::string& prefix) {
  return text.compare(0, prefix.size(), prefix) == 0;
}

struct InvalidCase {
  std::string name;
  Mutation mutate;
  StatusCode code;
  std::string prefix;  // the message must start with this
};

TEST_F(GrpcRequestTest, InvalidRequestsNameTheField) {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const float inf = std::numeric_limits<float>::infinity();
  const auto sampling = [](pb::GenerateRequest* r) { return r->mutable_sampling(); };
  const std::vector<InvalidCase> cases = {
      {"unknown model", [](pb::GenerateRequest* r) { r->set_model("x"); }, StatusCode::kNotFound,
       "model: the model 'x' is not served"},
      {"request_id with space", [](pb::GenerateRequest* r) { r->set_request_id("a b"); },
       StatusCode::kInvalidArgument, "request_id: "},
      {"request_id too long",
       [](pb::GenerateRequest* r) { r->set_request_id(std::string(129, 'a')); },
       StatusCode::kInvalidArgument, "request_id: "},
      {"no input", [](pb::GenerateRequest* r) { r->clear_input(); }, StatusCode::kInvalidArgument,
       "input: one of text, tokens or chat is required"},
      {"empty text", [](pb::GenerateRequest* r) { r->set_text(""); }, StatusCode::kInvalidArgument,
       "text: must not be empty"},
      {"empty tokens", [](pb::GenerateRequest* r) { r->mutable_tokens(); },
       StatusCode::kInvalidArgument, "tokens.ids: must not be empty"},
      {"token id too large",
       [](pb::GenerateRequest* r) {
         for (int id : {1, 2, 3, 300}) r->mutable_tokens()->add_ids(id);
       },
       StatusCode::kInvalidArgument, "tokens.ids[3]: token id 300 is outside [0, 257)"},
      {"token id 257", [](pb::GenerateRequest* r) { r->mutable_tokens()->add_ids(257); },
       StatusCode::kInvalidArgument, "tokens.ids[0]: token id 257 is outside [0, 257)"},
      {"negative token id", [](pb::GenerateRequest* r) { r->mutable_tokens()->add_ids(-1); },
       StatusCode::kInvalidArgument, "tokens.ids[0]: token id -1 is outside [0, 257)"},
      {"empty chat", [](pb::GenerateRequest* r) { r->mutable_chat(); },
       StatusCode::kInvalidArgument, "chat.messages: must not be empty"},
      {"tool role",
       [](pb::GenerateRequest* r) {
         AddMessage(r, "user", "a");
         AddMessage(r, "tool", "b");
       },
       StatusCode::kInvalidArgument, "chat.messages[1].role: role 'tool' is not supported"},
      {"empty role", [](pb::GenerateRequest* r) { AddMessage(r, "", "a"); },
       StatusCode::kInvalidArgument, "chat.messages[0].role: "},
      {"temperature 2.5", [&](pb::GenerateRequest* r) { sampling(r)->set_temperature(2.5f); },
       StatusCode::kInvalidArgument, "sampling.temperature: must be in [0, 2]"},
      {"temperature -0.1", [&](pb::GenerateRequest* r) { sampling(r)->set_temperature(-0.1f); },
       StatusCode::kInvalidArgument, "sampling.temperature: must be in [0, 2]"},
      {"temperature nan", [&](pb::GenerateRequest* r) { sampling(r)->set_temperature(nan); },
       StatusCode::kInvalidArgument, "sampling.temperature: must be in [0, 2]"},
      {"temperature inf", [&](pb::GenerateRequest* r) { sampling(r)->set_temperature(inf); },
       StatusCode::kInvalidArgument, "sampling.temperature: must be in [0, 2]"},
      {"top_p 0", [&](pb::GenerateRequest* r) { sampling(r)->set_top_p(0.0f); },
       StatusCode::kInvalidArgument, "sampling.top_p: must be in (0, 1]"},
      {"top_p 1.5", [&](pb::GenerateRequest* r) { sampling(r)->set_top_p(1.5f); },
       StatusCode::kInvalidArgument, "sampling.top_p: must be in (0, 1]"},
      {"top_k -2", [&](pb::GenerateRequest* r) { sampling(r)->set_top_k(-2); },
       StatusCode::kInvalidArgument, "sampling.top_k: "},
      {"min_p 1.5", [&](pb::GenerateRequest* r) { sampling(r)->set_min_p(1.5f); },
       StatusCode::kInvalidArgument, "sampling.min_p: must be in [0, 1]"},
      {"min_p -0.5", [&](pb::GenerateRequest* r) { sampling(r)->set_min_p(-0.5f); },
       StatusCode::kInvalidArgument, "sampling.min_p: must be in [0, 1]"},
      {"presence 2.5", [&](pb::GenerateRequest* r) { sampling(r)->set_presence_penalty(2.5f); },
       StatusCode::kInvalidArgument, "sampling.presence_penalty: must be in [-2, 2]"},
      {"frequency -3", [&](pb::GenerateRequest* r) { sampling(r)->set_frequency_penalty(-3); },
       StatusCode::kInvalidArgument, "sampling.frequency_penalty: must be in [-2, 2]"},
      {"repetition 0", [&](pb::GenerateRequest* r) { sampling(r)->set_repetition_penalty(0); },
       StatusCode::kInvalidArgument, "sampling.repetition_penalty: must be in (0, 2]"},
      {"repetition 2.5", [&](pb::GenerateRequest* r) { sampling(r)->set_repetition_penalty(2.5f); },
       StatusCode::kInvalidArgument, "sampling.repetition_penalty: must be in (0, 2]"},
      {"bias id 300",
       [&](pb::GenerateRequest* r) { (*sampling(r)->mutable_logit_bias())[300] = 1.0f; },
       StatusCode::kInvalidArgument, "sampling.logit_bias[300]: token id 300 is outside"},
      {"bias id -1",
       [&](pb::GenerateRequest* r) { (*sampling(r)->mutable_logit_bias())[-1] = 1.0f; },
       StatusCode::kInvalidArgument, "sampling.logit_bias[-1]: token id -1 is outside"},
      {"bias value 101",
       [&](pb::GenerateRequest* r) { (*sampling(r)->mutable_logit_bias())[5] = 101.0f; },
       StatusCode::kInvalidArgument, "sampling.logit_bias[5]: must be in [-100, 100]"},
      {"bias value nan",
       [&](pb::GenerateRequest* r) { (*sampling(r)->mutable_logit_bias())[5] = nan; },
       StatusCode::kInvalidArgument, "sampling.logit_bias[5]: must be in [-100, 100]"},
      {"lowest bad bias id first",
       [&](pb::GenerateRequest* r) {
         (*sampling(r)->mutable_logit_bias())[400] = 1.0f;
         (*sampling(r)->mutable_logit_bias())[300] = 1.0f;
       },
       StatusCode::kInvalidArgument, "sampling.logit_bias[300]: "},
      {"five stops",
       [](pb::GenerateRequest* r) {
         for (const char* s : {"a", "b", "c", "d", "e"}) r->add_stop(s);
       },
       StatusCode::kInvalidArgument, "stop: at most 4 strings, got 5"},
      {"empty stop",
       [](pb::GenerateRequest* r) {
         r->add_stop("a");
         r->add_stop("");
       },
       StatusCode::kInvalidArgument, "stop[1]: must not be empty"},
      {"long stop", [](pb::GenerateRequest* r) { r->add_stop(std::string(257, 'x')); },
       StatusCode::kInvalidArgument, "stop[0]: must be at most 256 bytes, got 257"},
      {"stop token id 257",
       [](pb::GenerateRequest* r) {
         r->add_stop_token_ids(1);
         r->add_stop_token_ids(257);
       },
       StatusCode::kInvalidArgument, "stop_token_ids[1]: token id 257 is outside [0, 257)"},
      {"top_logprobs 21",
       [](pb::GenerateRequest* r) {
         r->set_logprobs(true);
         r->set_top_logprobs(21);
       },
       StatusCode::kInvalidArgument, "top_logprobs: must be in [0, 20]"},
      {"top_logprobs without logprobs", [](pb::GenerateRequest* r) { r->set_top_logprobs(1); },
       StatusCode::kInvalidArgument, "top_logprobs: requires logprobs"},
      {"max_tokens past the context", [](pb::GenerateRequest* r) { r->set_max_tokens(63); },
       StatusCode::kInvalidArgument,
       "max_tokens: This model's maximum context length is 64 tokens. However, you requested "
       "65 tokens (2 in the prompt, 63 for the completion)."},
      {"text longer than the context",
       [](pb::GenerateRequest* r) { r->set_text(std::string(70, 'a')); },
       StatusCode::kInvalidArgument,
       "text: This model's maximum context length is 64 tokens. However, you requested 86"},
      {"tokens leave no room for 16",
       [](pb::GenerateRequest* r) {
         for (int i = 0; i < 60; ++i) r->mutable_tokens()->add_ids(5);
       },
       StatusCode::kInvalidArgument, "max_tokens: This model's maximum context length is 64"},
      {"chat fills the context",
       [](pb::GenerateRequest* r) { AddMessage(r, "user", std::string(60, 'a')); },
       StatusCode::kInvalidArgument,
       "chat.messages: This model's maximum context length is 64 tokens. However, your "
       "messages resulted in 78 tokens."},
      {"chat max_tokens past the context",
       [](pb::GenerateRequest* r) {
         AddMessage(r, "user", "hi");
         r->set_max_tokens(60);
       },
       StatusCode::kInvalidArgument, "max_tokens: This model's maximum context length is 64"},
  };
  for (const InvalidCase& c : cases) {
    SCOPED_TRACE(c.name);
    const StatusOr<ConvertedGenerate> result = Convert(TextRequest(c.mutate));
    ASSERT_FALSE(result.ok());
    EXPECT_EQ(result.status().code(), c.code);
    EXPECT_TRUE(StartsWith(result.status().message(), c.prefix)) << result.status().message();
  }
}

TEST_F(GrpcRequestTest, ModelCheckComesFirst) {
  // Two problems: the unknown model is reported (cheapest check first).
  const auto result = Convert(TextRequest([](pb::GenerateRequest* r) {
    r->set_model("other");
    r->mutable_sampling()->set_temperature(9.0f);
  }));
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.status().code(), StatusCode::kNotFound);
}

TEST_F(GrpcRequestTest, TooManyMessagesAndTheTokenCap) {
  limits_.max_messages = 2;
  auto result = Convert(TextRequest([](pb::GenerateRequest* r) {
    for (int i = 0; i < 3; ++i) AddMessage(r, "user", "a");
  }));
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.status().message(), "chat.messages: at most 2 messages, got 3");

  limits_.max_tokens_cap = 10;
  result = Convert(TextRequest([](pb::GenerateRequest* r) { r->set_max_tokens(11); }));
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.status().message(),
            "max_tokens: 'max_tokens' is 11, above this server's limit of 10.");
  result = Convert(TextRequest([](pb::GenerateRequest* r) { r->set_max_tokens(10); }));
  ASSERT_TRUE(result.ok()) << result.status().message();
  EXPECT_EQ(result->request.max_tokens, 10);
  // Chat without max_tokens: the rest of the context, bounded by the cap.
  result = Convert(TextRequest([](pb::GenerateRequest* r) { AddMessage(r, "user", "hi"); }));
  ASSERT_TRUE(result.ok()) << result.status().message();
  EXPECT_EQ(result->request.max_tokens, 10);
}

TEST_F(GrpcRequestTest, TextDefaults) {
  const auto result = Convert(TextRequest());
  ASSERT_TRUE(result.ok()) << result.status().message();
  const GenerateRequest& r = result->request;
  EXPECT_EQ(r.id, "");
  EXPECT_EQ(r.tenant, "");
  EXPECT_EQ(r.prompt, Ids("hi"));
  EXPECT_EQ(r.max_tokens, 16);
  EXPECT_EQ(r.sampling.temperature, 1.0f);
  EXPECT_EQ(r.sampling.top_k, 0);
  EXPECT_EQ(r.sampling.top_p, 1.0f);
  EXPECT_EQ(r.sampling.min_p, 0.0f);
  EXPECT_EQ(r.sampling.repetition_penalty, 1.0f);
  EXPECT_EQ(r.sampling.presence_penalty, 0.0f);
  EXPECT_EQ(r.sampling.frequency_penalty, 0.0f);
  EXPECT_TRUE(r.sampling.logit_bias.empty());
  EXPECT_TRUE(r.sampling.banned_ids.empty());
  EXPECT_EQ(r.sampling.top_logprobs, 0);
  EXPECT_TRUE(r.stop.empty());
  EXPECT_TRUE(r.stop_token_ids.empty());
  EXPECT_FALSE(r.ignore_eos);
  EXPECT_FALSE(r.logprobs);
  EXPECT_EQ(r.prompt_logprobs, -1);
  EXPECT_EQ(r.deadline, std::chrono::steady_clock::time_point::max());
  EXPECT_FALSE(result->echo);
  EXPECT_EQ(result->client_request_id, "");
  // An unset seed is random: two requests differ (collision odds 2^-64).
  const auto again = Convert(TextRequest());
  ASSERT_TRUE(again.ok());
  EXPECT_NE(r.sampling.seed, again->request.sampling.seed);
  // Text is user text: "<|endoftext|>" stays bytes (the byte tokenizer's eot id is 0).
  const auto marker =
      Convert(TextRequest([](pb::GenerateRequest* q) { q->set_text("<|endoftext|>"); }));
  ASSERT_TRUE(marker.ok());
  EXPECT_EQ(marker->request.prompt, Ids("<|endoftext|>"));
}

TEST_F(GrpcRequestTest, EveryFieldOfATokenRequest) {
  pb::GenerateRequest in;
  in.set_model("gf-test");
  for (int id : {0, 5, 256}) in.mutable_tokens()->add_ids(id);
  pb::SamplingParams* s = in.mutable_sampling();
  s->set_temperature(0.5f);
  s->set_top_p(0.25f);
  s->set_top_k(-1);
  s->set_min_p(0.125f);
  s->set_presence_penalty(-2.0f);
  s->set_frequency_penalty(2.0f);
  s->set_repetition_penalty(1.5f);
  (*s->mutable_logit_bias())[7] = -100.0f;
  (*s->mutable_logit_bias())[3] = 2.5f;
  s->set_seed(42);
  in.set_max_tokens(0);
  in.add_stop("x");
  in.add_stop(std::string(256, 'y'));
  in.add_stop_token_ids(5);
  in.add_stop_token_ids(256);
  in.set_ignore_eos(true);
  in.set_logprobs(true);
  in.set_top_logprobs(20);
  in.set_echo(true);
  in.set_request_id("abc-1.2:x_Y");
  const auto result = Convert(in);
  ASSERT_TRUE(result.ok()) << result.status().message();
  const GenerateRequest& r = result->request;
  EXPECT_EQ(r.id, "abc-1.2:x_Y");
  EXPECT_EQ(result->client_request_id, "abc-1.2:x_Y");
  EXPECT_TRUE(result->echo);
  EXPECT_EQ(r.prompt, (std::vector<TokenId>{0, 5, 256}));
  EXPECT_EQ(r.max_tokens, 0);
  EXPECT_EQ(r.sampling.temperature, 0.5f);
  EXPECT_EQ(r.sampling.top_p, 0.25f);
  EXPECT_EQ(r.sampling.top_k, 0);
  EXPECT_EQ(r.sampling.min_p, 0.125f);
  EXPECT_EQ(r.sampling.presence_penalty, -2.0f);
  EXPECT_EQ(r.sampling.frequency_penalty, 2.0f);
  EXPECT_EQ(r.sampling.repetition_penalty, 1.5f);
  EXPECT_EQ(r.sampling.logit_bias,
            (std::vector<std::pair<int32_t, float>>{{3, 2.5f}, {7, -100.0f}}));
  EXPECT_EQ(r.sampling.seed, 42u);
  EXPECT_EQ(r.sampling.top_logprobs, 20);
  EXPECT_EQ(r.stop, (std::vector<std::string>{"x", std::string(256, 'y')}));
  EXPECT_EQ(r.stop_token_ids, (std::vector<TokenId>{5, 256}));
  EXPECT_TRUE(r.ignore_eos);
  EXPECT_TRUE(r.logprobs);
  EXPECT_EQ(r.prompt_logprobs, 20);
  EXPECT_TRUE(r.sampling.Validate(model_.vocab_size).ok());
  // The largest seed and top_k pass through.
  in.mutable_sampling()->set_seed(std::numeric_limits<uint64_t>::max());
  in.mutable_sampling()->set_top_k(7);
  const auto big = Convert(in);
  ASSERT_TRUE(big.ok());
  EXPECT_EQ(big->request.sampling.seed, std::numeric_limits<uint64_t>::max());
  EXPECT_EQ(big->request.sampling.top_k, 7);
}

TEST_F(GrpcRequestTest, PromptLogprobsNeedEchoAndLogprobs) {
  struct Case {
    bool echo;
    bool logprobs;
    uint32_t top;
    int prompt_logprobs;
  };
  for (const Case& c : {Case{true, false, 0, -1}, Case{false, true, 4, -1}, Case{true, true, 0, 0},
                        Case{true, true, 4, 4}}) {
    const auto result = Convert(TextRequest([&](pb::GenerateRequest* r) {
      r->set_echo(c.echo);
      r->set_logprobs(c.logprobs);
      r->set_top_logprobs(c.top);
    }));
    ASSERT_TRUE(result.ok()) << result.status().message();
    EXPECT_EQ(result->echo, c.echo);
    EXPECT_EQ(result->request.logprobs, c.logprobs);
    EXPECT_EQ(result->request.sampling.top_logprobs, static_cast<int>(c.top));
    EXPECT_EQ(result->request.prompt_logprobs, c.prompt_logprobs);
  }
}

TEST_F(GrpcRequestTest, ChatRendersWithTheTemplate) {
  pb::GenerateRequest in;
  AddMessage(&in, "developer", "b");
  AddMessage(&in, "user", "hi\r\n\n\nthere ");
  AddMessage(&in, "assistant", "ok");
  AddMessage(&in, "system", "");
  in.add_stop("END");
  const auto result = Convert(in);
  ASSERT_TRUE(result.ok()) << result.status().message();
  const std::string text =
      "System: b\n\nUser: hi\nthere\n\nAssistant: ok\n\nSystem: \n\nAssistant:";
  EXPECT_EQ(result->request.prompt, Ids(text));
  EXPECT_EQ(result->request.stop, (std::vector<std::string>{"END", "\n\nUser:"}));
  EXPECT_EQ(result->request.max_tokens, 64 - static_cast<int64_t>(text.size()));
  EXPECT_EQ(result->request.sampling.temperature, 1.0f);

  in.set_max_tokens(1);
  const auto explicit_max = Convert(in);
  ASSERT_TRUE(explicit_max.ok());
  EXPECT_EQ(explicit_max->request.max_tokens, 1);
}

TEST_F(GrpcRequestTest, CacheFields) {
  const auto plain = Convert(TextRequest());
  ASSERT_TRUE(plain.ok());
  EXPECT_TRUE(plain->cache.cache_prompt);
  EXPECT_FALSE(plain->cache.cache_salt.has_value());
  EXPECT_TRUE(plain->cache.snapshot_hints.empty());

  const auto set = Convert(TextRequest([](pb::GenerateRequest* r) {
    r->set_cache_prompt(false);
    r->set_cache_salt(std::string(256, 'z'));
  }));
  ASSERT_TRUE(set.ok()) << set.status().message();
  EXPECT_FALSE(set->cache.cache_prompt);
  EXPECT_EQ(set->cache.cache_salt, std::optional<std::string>(std::string(256, 'z')));
  const auto explicit_true =
      Convert(TextRequest([](pb::GenerateRequest* r) { r->set_cache_prompt(true); }));
  ASSERT_TRUE(explicit_true.ok());
  EXPECT_TRUE(explicit_true->cache.cache_prompt);

  for (const size_t size : {size_t{0}, size_t{257}}) {
    const auto bad = Convert(
        TextRequest([&](pb::GenerateRequest* r) { r->set_cache_salt(std::string(size, 'z')); }));
    ASSERT_FALSE(bad.ok());
    EXPECT_EQ(bad.status().code(), StatusCode::kInvalidArgument);
    EXPECT_EQ(bad.status().message(),
              "cache_salt: must be 1-256 bytes, got " + std::to_string(size));
  }

  // Chat: every message end is a hint; a marker is accepted. "User: a\n\n" = 9 tokens,
  // "Assistant: bc\n\n" = 15.
  pb::GenerateRequest chat;
  AddMessage(&chat, "user", "a");
  AddMessage(&chat, "assistant", "bc");
  chat.mutable_chat()->mutable_messages(1)->set_cache_marker(true);
  const auto hinted = Convert(chat);
  ASSERT_TRUE(hinted.ok()) << hinted.status().message();
  EXPECT_EQ(hinted->cache.snapshot_hints, (std::vector<int64_t>{9, 24}));
}

TEST_F(GrpcRequestTest, TokenizeAndDetokenize) {
  pb::TokenizeRequest tokenize;
  tokenize.set_text("a<|endoftext|>");
  auto ids = ConvertTokenize(tokenize, model_, *tokenizer_);
  ASSERT_TRUE(ids.ok());
  EXPECT_EQ(*ids, Ids("a<|endoftext|>"));
  tokenize.set_model("gf-test");
  EXPECT_TRUE(ConvertTokenize(tokenize, model_, *tokenizer_).ok());
  tokenize.set_model("nope");
  ids = ConvertTokenize(tokenize, model_, *tokenizer_);
  ASSERT_FALSE(ids.ok());
  EXPECT_EQ(ids.status().code(), StatusCode::kNotFound);
  EXPECT_EQ(ids.status().message(), "model: the model 'nope' is not served");
  tokenize.set_model("");
  tokenize.set_text("");
  ids = ConvertTokenize(tokenize, model_, *tokenizer_);
  ASSERT_FALSE(ids.ok());
  EXPECT_EQ(ids.status().code(), StatusCode::kInvalidArgument);
  EXPECT_TRUE(StartsWith(ids.status().message(), "text: ")) << ids.status().message();

  pb::DetokenizeRequest detokenize;
  ids = ConvertDetokenize(detokenize, model_);
  ASSERT_TRUE(ids.ok());
  EXPECT_TRUE(ids->empty());
  for (int id : {0, 256, 104}) detokenize.add_token_ids(id);
  ids = ConvertDetokenize(detokenize, model_);
  ASSERT_TRUE(ids.ok());
  EXPECT_EQ(*ids, (std::vector<TokenId>{0, 256, 104}));
  detokenize.add_token_ids(-5);
  ids = ConvertDetokenize(detokenize, model_);
  ASSERT_FALSE(ids.ok());
  EXPECT_EQ(ids.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(ids.status().message(), "token_ids[3]: token id -5 is outside [0, 257)");
  detokenize.set_model("x");
  EXPECT_EQ(ConvertDetokenize(detokenize, model_).status().code(), StatusCode::kNotFound);
}

}  // namespace
}  // namespace gf::server
