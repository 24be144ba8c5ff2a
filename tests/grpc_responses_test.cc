// gRPC response rendering (server/grpc/grpc_responses.h): exact fields of first, middle and
// final GenerateResponses, logprobs, echo with prompt logprobs, the raw bytes of a token that is
// half a UTF-8 character, usage, unrendered finishes, Tokenize and ListModels responses.
// Byte tokenizer: id = byte + 1, id 0 = "<|endoftext|>".
#include <gtest/gtest.h>

#include <cstdint>
#include <limits>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "engine/serving/request.h"
#include "engine/tokenizer/tokenizer.h"
#include "server/grpc/grpc_responses.h"

namespace gf::server {
namespace {

namespace pb = goldfinch::v1;

class GrpcResponsesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto made = MakeTokenizer("byte", "");
    ASSERT_TRUE(made.ok());
    tokenizer_ = std::move(made).value();
  }

  pb::GenerateResponse Fill(const GenerateEvent& event, bool logprobs, bool first, bool echo,
                            const std::vector<TokenId>& prompt = {}) const {
    pb::GenerateResponse out;
    FillGenerateResponse(event, *tokenizer_, logprobs, first, echo, prompt, "req-1", &out);
    return out;
  }

  std::unique_ptr<Tokenizer> tokenizer_;
};

TokenId Byte(char c) { return static_cast<TokenId>(static_cast<uint8_t>(c)) + 1; }

GenerateEvent Event(std::string text, std::vector<GeneratedToken> tokens,
                    FinishReason finish = FinishReason::kNone) {
  GenerateEvent event;
  event.text = std::move(text);
  event.tokens = std::move(tokens);
  event.finish = finish;
  event.prompt_tokens = 3;
  event.completion_tokens = static_cast<int64_t>(event.tokens.size());
  return event;
}

TEST_F(GrpcResponsesTest, FirstMiddleAndFinalWithoutLogprobs) {
  GeneratedToken h{Byte('h'), -0.5f, {{Byte('h'), -0.5f}}};
  const pb::GenerateResponse first = Fill(Event("h", {h}), false, true, false, {1, 2, 3});
  EXPECT_EQ(first.text(), "h");
  ASSERT_EQ(first.tokens_size(), 1);
  EXPECT_EQ(first.tokens(0).id(), Byte('h'));
  EXPECT_EQ(first.tokens(0).token(), "h");
  EXPECT_FALSE(first.tokens(0).has_logprob());
  EXPECT_EQ(first.tokens(0).top_logprobs_size(), 0);
  EXPECT_EQ(first.request_id(), "req-1");
  EXPECT_EQ(first.prompt_size(), 0);  // no echo
  EXPECT_EQ(first.finish_reason(), pb::FINISH_REASON_UNSPECIFIED);
  EXPECT_FALSE(first.has_usage());

  GeneratedToken i{Byte('i'), -0.25f, {}};
  const pb::GenerateResponse middle = Fill(Event("i", {i}), false, false, true, {1, 2, 3});
  EXPECT_EQ(middle.text(), "i");
  ASSERT_EQ(middle.tokens_size(), 1);
  EXPECT_EQ(middle.tokens(0).id(), Byte('i'));
  EXPECT_EQ(middle.tokens(0).token(), "i");
  EXPECT_EQ(middle.request_id(), "");
  EXPECT_EQ(middle.prompt_size(), 0);  // echo is on the first message only
  EXPECT_EQ(middle.finish_reason(), pb::FINISH_REASON_UNSPECIFIED);
  EXPECT_FALSE(middle.has_usage());

  // The eos token that finished the sequence is reported with its bytes but adds no text.
  GenerateEvent last = Event("", {GeneratedToken{0, -0.1f, {}}}, FinishReason::kStop);
  last.prompt_tokens = 3;
  last.completion_tokens = 3;
  last.cached_tokens = 2;
  const pb::GenerateResponse final_message = Fill(last, false, false, false);
  EXPECT_EQ(final_message.text(), "");
  ASSERT_EQ(final_message.tokens_size(), 1);
  EXPECT_EQ(final_message.tokens(0).id(), 0);
  EXPECT_EQ(final_message.tokens(0).token(), "<|endoftext|>");
  EXPECT_EQ(final_message.request_id(), "");
  EXPECT_EQ(final_message.finish_reason(), pb::FINISH_REASON_STOP);
  ASSERT_TRUE(final_message.has_usage());
  EXPECT_EQ(final_message.usage().prompt_tokens(), 3u);
  EXPECT_EQ(final_message.usage().completion_tokens(), 3u);
  EXPECT_EQ(final_message.usage().cached_tokens(), 2u);
}

TEST_F(GrpcResponsesTest, SingleEventIsFirstAndFinal) {
  GenerateEvent event =
      Event("ab", {{Byte('a'), 0.0f, {}}, {Byte('b'), 0.0f, {}}}, FinishReason::kLength);
  event.prompt_tokens = 4;
  const pb::GenerateResponse out = Fill(event, false, true, false);
  EXPECT_EQ(out.text(), "ab");
  ASSERT_EQ(out.tokens_size(), 2);
  EXPECT_EQ(out.tokens(1).token(), "b");
  EXPECT_EQ(out.request_id(), "req-1");
  EXPECT_EQ(out.finish_reason(), pb::FINISH_REASON_LENGTH);
  EXPECT_EQ(out.usage().prompt_tokens(), 4u);
  EXPECT_EQ(out.usage().completion_tokens(), 2u);
  EXPECT_EQ(out.usage().cached_tokens(), 0u);
}

TEST_F(GrpcResponsesTest, LogprobsAndAlternatives) {
  GeneratedToken x{Byte('x'), -1.25f, {{Byte('y'), -0.75f}, {Byte('x'), -1.25f}}};
  const pb::GenerateResponse out = Fill(Event("x", {x}), true, false, false);
  ASSERT_EQ(out.tokens_size(), 1);
  const pb::GeneratedToken& token = out.tokens(0);
  EXPECT_EQ(token.id(), Byte('x'));
  EXPECT_EQ(token.token(), "x");
  ASSERT_TRUE(token.has_logprob());
  EXPECT_EQ(token.logprob(), -1.25f);
  ASSERT_EQ(token.top_logprobs_size(), 2);
  EXPECT_EQ(token.top_logprobs(0).id(), Byte('y'));
  EXPECT_EQ(token.top_logprobs(0).logprob(), -0.75f);
  EXPECT_EQ(token.top_logprobs(0).token(), "y");
  EXPECT_EQ(token.top_logprobs(1).id(), Byte('x'));
  EXPECT_EQ(token.top_logprobs(1).logprob(), -1.25f);
  EXPECT_EQ(token.top_logprobs(1).token(), "x");
  // logprob 0 (certain) is still present: presence is not value-based.
  const pb::GenerateResponse certain =
      Fill(Event("x", {GeneratedToken{Byte('x'), 0.0f, {}}}), true, false, false);
  ASSERT_TRUE(certain.tokens(0).has_logprob());
  EXPECT_EQ(certain.tokens(0).logprob(), 0.0f);
}

TEST_F(GrpcResponsesTest, HalfAUtf8CharacterKeepsItsRawBytes) {
  // "é" = C3 A9: two tokens, the text arrives with the second one.
  const TokenId lead = 0xC3 + 1;
  const TokenId tail = 0xA9 + 1;
  const pb::GenerateResponse first =
      Fill(Event("", {{lead, -0.5f, {{tail, -0.25f}}}}), true, true, false);
  EXPECT_EQ(first.text(), "");
  ASSERT_EQ(first.tokens_size(), 1);
  EXPECT_EQ(first.tokens(0).token(), std::string("\xC3"));
  EXPECT_EQ(first.tokens(0).top_logprobs(0).token(), std::string("\xA9"));
  const pb::GenerateResponse second =
      Fill(Event("\xC3\xA9", {{tail, -0.1f, {}}}), true, false, false);
  EXPECT_EQ(second.text(), "\xC3\xA9");
  EXPECT_EQ(second.tokens(0).token(), std::string("\xA9"));
  EXPECT_EQ(second.tokens(0).token().size(), 1u);
}

TEST_F(GrpcResponsesTest, EchoWithPromptLogprobs) {
  const std::vector<TokenId> prompt = {Byte('a'), Byte('b'), 0xC3 + 1};
  GenerateEvent event = Event("", {}, FinishReason::kLength);  // max_tokens 0: scoring only
  PromptLogprobs logprobs;
  logprobs.logprob = {-1.5f, -2.25f};
  logprobs.top = {{{Byte('c'), -0.5f}, {Byte('b'), -1.5f}}, {{0xC3 + 1, -2.25f}}};
  event.prompt_logprobs = logprobs;
  event.completion_tokens = 0;
  const pb::GenerateResponse out = Fill(event, true, true, true, prompt);
  EXPECT_EQ(out.request_id(), "req-1");
  EXPECT_EQ(out.tokens_size(), 0);
  ASSERT_EQ(out.prompt_size(), 3);
  EXPECT_EQ(out.prompt(0).id(), Byte('a'));
  EXPECT_EQ(out.prompt(0).token(), "a");
  EXPECT_FALSE(out.prompt(0).has_logprob());
  EXPECT_EQ(out.prompt(0).top_logprobs_size(), 0);
  EXPECT_EQ(out.prompt(1).id(), Byte('b'));
  EXPECT_EQ(out.prompt(1).token(), "b");
  ASSERT_TRUE(out.prompt(1).has_logprob());
  EXPECT_EQ(out.prompt(1).logprob(), -1.5f);
  ASSERT_EQ(out.prompt(1).top_logprobs_size(), 2);
  EXPECT_EQ(out.prompt(1).top_logprobs(0).id(), Byte('c'));
  EXPECT_EQ(out.prompt(1).top_logprobs(0).logprob(), -0.5f);
  EXPECT_EQ(out.prompt(1).top_logprobs(0).token(), "c");
  EXPECT_EQ(out.prompt(1).top_logprobs(1).id(), Byte('b'));
  EXPECT_EQ(out.prompt(2).id(), 0xC3 + 1);
  EXPECT_EQ(out.prompt(2).token(), std::string("\xC3"));
  EXPECT_EQ(out.prompt(2).logprob(), -2.25f);
  ASSERT_EQ(out.prompt(2).top_logprobs_size(), 1);
  EXPECT_EQ(out.prompt(2).top_logprobs(0).token(), std::string("\xC3"));
  EXPECT_EQ(out.finish_reason(), pb::FINISH_REASON_LENGTH);
  EXPECT_EQ(out.usage().prompt_tokens(), 3u);
  EXPECT_EQ(out.usage().completion_tokens(), 0u);

  // Without logprobs the prompt is echoed bare, even if the event carried prompt logprobs.
  const pb::GenerateResponse bare = Fill(event, false, true, true, prompt);
  ASSERT_EQ(bare.prompt_size(), 3);
  for (int i = 0; i < 3; ++i) {
    EXPECT_FALSE(bare.prompt(i).has_logprob());
    EXPECT_EQ(bare.prompt(i).top_logprobs_size(), 0);
  }
  EXPECT_EQ(bare.prompt(2).token(), std::string("\xC3"));

  // Short prompt logprobs (malformed) leave the missing entries unset.
  event.prompt_logprobs->logprob = {-1.5f};
  event.prompt_logprobs->top.clear();
  const pb::GenerateResponse short_logprobs = Fill(event, true, true, true, prompt);
  ASSERT_EQ(short_logprobs.prompt_size(), 3);
  EXPECT_EQ(short_logprobs.prompt(1).logprob(), -1.5f);
  EXPECT_EQ(short_logprobs.prompt(1).top_logprobs_size(), 0);
  EXPECT_FALSE(short_logprobs.prompt(2).has_logprob());
}

TEST_F(GrpcResponsesTest, CancelledAndErrorAreNotRenderedAsAFinish) {
  GenerateEvent cancelled = Event("z", {{Byte('z'), 0.0f, {}}}, FinishReason::kCancelled);
  pb::GenerateResponse out = Fill(cancelled, false, false, false);
  EXPECT_EQ(out.text(), "z");
  EXPECT_EQ(out.tokens_size(), 1);
  EXPECT_EQ(out.finish_reason(), pb::FINISH_REASON_UNSPECIFIED);
  EXPECT_FALSE(out.has_usage());
  EXPECT_FALSE(IsRenderedFinish(FinishReason::kCancelled));
  EXPECT_EQ(TerminalStatus(cancelled).code(), StatusCode::kCancelled);

  GenerateEvent failed = Event("", {}, FinishReason::kError);
  failed.error = DeadlineExceeded("request timeout");
  out = Fill(failed, false, true, false);
  EXPECT_EQ(out.finish_reason(), pb::FINISH_REASON_UNSPECIFIED);
  EXPECT_FALSE(out.has_usage());
  EXPECT_FALSE(IsRenderedFinish(FinishReason::kError));
  EXPECT_EQ(TerminalStatus(failed).code(), StatusCode::kDeadlineExceeded);
  EXPECT_EQ(TerminalStatus(failed).message(), "request timeout");
  failed.error = Status::Ok();  // an engine bug: still not ok
  EXPECT_EQ(TerminalStatus(failed).code(), StatusCode::kInternal);

  EXPECT_TRUE(IsRenderedFinish(FinishReason::kStop));
  EXPECT_TRUE(IsRenderedFinish(FinishReason::kLength));
  EXPECT_FALSE(IsRenderedFinish(FinishReason::kNone));
  EXPECT_TRUE(TerminalStatus(Event("", {}, FinishReason::kStop)).ok());
  EXPECT_TRUE(TerminalStatus(Event("", {}, FinishReason::kNone)).ok());
}

TEST_F(GrpcResponsesTest, ReusedMessageIsClearedAndUsageClamped) {
  pb::GenerateResponse out;
  GenerateEvent big = Event("a", {{Byte('a'), -1.0f, {{Byte('a'), -1.0f}}}}, FinishReason::kStop);
  big.prompt_tokens = int64_t{5} << 32;
  big.completion_tokens = -4;
  FillGenerateResponse(big, *tokenizer_, true, true, true, std::vector<TokenId>{1, 2}, "r", &out);
  EXPECT_EQ(out.usage().prompt_tokens(), std::numeric_limits<uint32_t>::max());
  EXPECT_EQ(out.usage().completion_tokens(), 0u);
  EXPECT_EQ(out.prompt_size(), 2);
  FillGenerateResponse(Event("b", {{Byte('b'), 0.0f, {}}}), *tokenizer_, false, false, false, {},
                       "r", &out);
  EXPECT_EQ(out.text(), "b");
  ASSERT_EQ(out.tokens_size(), 1);
  EXPECT_FALSE(out.tokens(0).has_logprob());
  EXPECT_EQ(out.prompt_size(), 0);
  EXPECT_EQ(out.request_id(), "");
  EXPECT_EQ(out.finish_reason(), pb::FINISH_REASON_UNSPECIFIED);
  EXPECT_FALSE(out.has_usage());
}

TEST_F(GrpcResponsesTest, TokenizeAndListModels) {
  ModelInfo model;
  model.id = "gf-test";
  model.vocab_size = 257;
  model.max_model_len = 64;
  pb::TokenizeResponse tokenize;
  tokenize.add_token_ids(99);
  FillTokenize(std::vector<TokenId>{5, 0, 256}, model, &tokenize);
  ASSERT_EQ(tokenize.token_ids_size(), 3);
  EXPECT_EQ(tokenize.token_ids(0), 5);
  EXPECT_EQ(tokenize.token_ids(1), 0);
  EXPECT_EQ(tokenize.token_ids(2), 256);
  EXPECT_EQ(tokenize.max_model_len(), 64u);

  pb::ListModelsResponse models;
  FillListModels(model, 1700000000, &models);
  ASSERT_EQ(models.models_size(), 1);
  EXPECT_EQ(models.models(0).id(), "gf-test");
  EXPECT_EQ(models.models(0).created(), 1700000000);
  EXPECT_EQ(models.models(0).owned_by(), "goldfinch-serve");
  EXPECT_EQ(models.models(0).max_model_len(), 64u);
  FillListModels(model, 5, &models, "me");  // refilled, not appended
  ASSERT_EQ(models.models_size(), 1);
  EXPECT_EQ(models.models(0).owned_by(), "me");
  EXPECT_EQ(models.models(0).created(), 5);
}

}  // namespace
}  // namespace gf::server
