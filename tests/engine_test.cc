// The serving engine on the built-in model: results through the engine thread (batched with
// other requests, prefilled in chunks) equal a direct greedy run of the model; cancellation,
// deadlines, queue limits, validation, prompt logprobs and stop strings.
#include <gtest/gtest.h>

#include <condition_variable>
#include <mutex>
#include <thread>

#include "engine/model/goldfinch.h"
#include "engine/serving/engine.h"
#include "engine/serving/model_runner.h"
#include "engine/tokenizer/tokenizer.h"
#include "tests/engine_fixture.h"
#include "tests/test_support.h"

namespace gf::testing {
namespace {

std::unique_ptr<Engine> MakeEngine(EngineOptions options = {}) {
  auto tokenizer = MakeTokenizer("byte", "");
  EXPECT_TRUE(tokenizer.ok());
  auto engine = Engine::Create(LoadBuiltinModel(), std::move(*tokenizer), options);
  EXPECT_TRUE(engine.ok()) << engine.status().ToString();
  return engine.ok() ? std::move(*engine) : nullptr;
}

std::vector<TokenId> Bytes(const std::string& text) {
  std::vector<TokenId> ids;
  for (unsigned char c : text) ids.push_back(static_cast<TokenId>(c) + 1);
  return ids;
}

GenerateRequest Greedy(const std::string& prompt, int64_t max_tokens) {
  GenerateRequest request;
  request.prompt = Bytes(prompt);
  request.max_tokens = max_tokens;
  return request;
}

TEST(EngineTest, ConcurrentRequestsEqualDirectGreedyRuns) {
  EngineOptions options;
  options.scheduler.max_running = 8;
  options.scheduler.token_budget = 40;  // forces chunked prefill interleaved with decodes
  options.scheduler.max_prefill_chunk = 16;
  auto engine = MakeEngine(options);
  ASSERT_NE(engine, nullptr);
  auto reference_model = LoadBuiltinModel();
  std::vector<std::string> prompts;
  for (int i = 0; i < 12; ++i) {
    prompts.push_back("Request number " + std::to_string(i) + ": " +
                      std::string(static_cast<size_t>(i * 7), 'a' + static_cast<char>(i)) + " The");
  }
  std::vector<std::shared_ptr<CollectingSink>> sinks;
  for (const auto& prompt : prompts) {
    sinks.push_back(std::make_shared<CollectingSink>());
    auto id = engine->Submit(Greedy(prompt, 20), sinks.back());
    ASSERT_TRUE(id.ok()) << id.status().ToString();
  }
  for (size_t i = 0; i < prompts.size(); ++i) {
    ASSERT_TRUE(sinks[i]->WaitFinal());
    const GenerateEvent last = sinks[i]->Last();
    EXPECT_TRUE(last.finish == FinishReason::kLength || last.finish == FinishReason::kStop);
    const std::vector<TokenId> expected = DirectGreedy(*reference_model, Bytes(prompts[i]), 20);
    EXPECT_EQ(sinks[i]->Tokens(), expected) << "prompt " << i;
    EXPECT_EQ(last.prompt_tokens, static_cast<int64_t>(prompts[i].size()));
    EXPECT_EQ(last.completion_tokens, static_cast<int64_t>(expected.size()));
  }
  EXPECT_TRUE(engine->WaitIdle(std::chrono::seconds(5)));
  const EngineStats stats = engine->Stats();
  EXPECT_EQ(stats.running, 0);
  EXPECT_EQ(stats.waiting, 0);
  size_t prompt_total = 0;
  for (const auto& p : prompts) prompt_total += p.size();
  EXPECT_EQ(stats.prompt_tokens_total, prompt_total);
  EXPECT_EQ(stats.requests_finished_total, prompts.size());
}

TEST(EngineTest, CancelStopsOneRequestAndOthersFinish) {
  auto engine = MakeEngine();
  ASSERT_NE(engine, nullptr);
  auto long_sink = std::make_shared<CollectingSink>();
  auto short_sink = std::make_shared<CollectingSink>();
  GenerateRequest long_request = Greedy("Once upon a time", 4000);
  long_request.ignore_eos = true;
  auto long_id = engine->Submit(long_request, long_sink);
  ASSERT_TRUE(long_id.ok());
  auto short_id = engine->Submit(Greedy("Hello", 5), short_sink);
  ASSERT_TRUE(short_id.ok());
  ASSERT_TRUE(short_sink->WaitFinal());
  engine->Cancel(*long_id);
  ASSERT_TRUE(long_sink->WaitFinal());
  EXPECT_EQ(long_sink->Last().finish, FinishReason::kCancelled);
  EXPECT_LT(long_sink->Tokens().size(), 4000u);
  EXPECT_TRUE(engine->WaitIdle(std::chrono::seconds(5)));
  engine->Cancel(*long_id);  // unknown now: no-op
}

TEST(EngineTest, QueueLimitRejectsWithResourceExhausted) {
  EngineOptions options;
  options.scheduler.max_running = 1;
  options.scheduler.max_waiting = 2;
  options.scheduler.token_budget = 64;
  auto engine = MakeEngine(options);
  ASSERT_NE(engine, nullptr);
  std::vector<std::shared_ptr<CollectingSink>> sinks;
  int accepted = 0, rejected = 0;
  for (int i = 0; i < 8; ++i) {
    auto sink = std::make_shared<CollectingSink>();
    GenerateRequest request = Greedy("x", 200);
    request.ignore_eos = true;
    auto id = engine->Submit(request, sink);
    if (id.ok()) {
      ++accepted;
      sinks.push_back(sink);
    } else {
      EXPECT_EQ(id.status().code(), StatusCode::kResourceExhausted);
      ++rejected;
    }
  }
  // One may already have been admitted into the batch, freeing a waiting slot.
  EXPECT_GE(accepted, 2);
  EXPECT_LE(accepted, 3);
  EXPECT_EQ(accepted + rejected, 8);
  for (auto& sink : sinks) {
    ASSERT_TRUE(sink->WaitFinal());
    EXPECT_EQ(sink->Last().finish, FinishReason::kLength);
    EXPECT_EQ(sink->Tokens().size(), 200u);
  }
}

TEST(EngineTest, ValidationErrors) {
  EngineOptions options;
  options.max_model_len = 64;
  auto engine = MakeEngine(options);
  ASSERT_NE(engine, nullptr);
  EXPECT_EQ(engine->max_model_len(), 64);
  auto sink = std::make_shared<CollectingSink>();
  GenerateRequest empty;
  EXPECT_EQ(engine->Submit(empty, sink).status().code(), StatusCode::kInvalidArgument);
  GenerateRequest bad_id = Greedy("ab", 4);
  bad_id.prompt.push_back(257);
  auto status = engine->Submit(bad_id, sink).status();
  EXPECT_EQ(status.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(status.message().find("prompt"), std::string::npos);
  bad_id.prompt.back() = -1;
  EXPECT_EQ(engine->Submit(bad_id, sink).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(engine->Submit(Greedy(std::string(60, 'a'), 5), sink).status().code(),
            StatusCode::kOutOfRange);
  EXPECT_TRUE(engine->Submit(Greedy(std::string(60, 'a'), 4), sink).ok());
  GenerateRequest bad_temperature = Greedy("a", 1);
  bad_temperature.sampling.temperature = -1.0f;
  status = engine->Submit(bad_temperature, sink).status();
  EXPECT_EQ(status.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(status.message().find("temperature"), std::string::npos);
  ASSERT_TRUE(sink->WaitFinal());
  engine->StopAccepting();
  EXPECT_EQ(engine->Submit(Greedy("a", 1), std::make_shared<CollectingSink>()).status().code(),
            StatusCode::kUnavailable);
}

TEST(EngineTest, PromptLogprobsWithZeroMaxTokensMatchDirectLogits) {
  EngineOptions options;
  options.scheduler.max_prefill_chunk = 5;  // prompt logprobs gathered over several chunks
  auto engine = MakeEngine(options);
  ASSERT_NE(engine, nullptr);
  GenerateRequest request = Greedy("The quick brown fox", 0);
  request.prompt_logprobs = 2;
  auto sink = std::make_shared<CollectingSink>();
  ASSERT_TRUE(engine->Submit(request, sink).ok());
  ASSERT_TRUE(sink->WaitFinal());
  const auto events = sink->Events();
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].finish, FinishReason::kLength);
  EXPECT_TRUE(events[0].tokens.empty());
  ASSERT_TRUE(events[0].prompt_logprobs.has_value());
  const PromptLogprobs& lp = *events[0].prompt_logprobs;
  ASSERT_EQ(lp.logprob.size(), request.prompt.size() - 1);

  auto model = LoadBuiltinModel();
  SequenceState state = model->NewState();
  std::vector<float> logits;
  PrefillOptions prefill;
  prefill.all_logits = true;
  ASSERT_TRUE(model->Prefill(state, request.prompt, prefill, &logits).ok());
  const auto V = static_cast<size_t>(model->config().vocab_size);
  for (size_t i = 0; i + 1 < request.prompt.size(); ++i) {
    std::span<const float> row(logits.data() + i * V, V);
    std::vector<TokenLogprob> top;
    const float expected = LogprobOf(row, request.prompt[i + 1], 2, &top);
    EXPECT_NEAR(lp.logprob[i], expected, 1e-4) << i;
    ASSERT_EQ(lp.top[i].size(), 2u);
    EXPECT_EQ(lp.top[i][0].token, top[0].token);
    EXPECT_GE(lp.top[i][0].logprob, lp.top[i][1].logprob);
    EXPECT_LE(lp.logprob[i], lp.top[i][0].logprob + 1e-6f);
  }
}

TEST(EngineTest, LogprobOfIsANormalisedLogSoftmax) {
  const std::vector<float> row = {0.0f, std::log(3.0f), -std::numeric_limits<float>::infinity(),
                                  0.0f};
  std::vector<TokenLogprob> top;
  EXPECT_NEAR(LogprobOf(row, 1, 3, &top), std::log(0.6f), 1e-6);
  ASSERT_EQ(top.size(), 3u);
  EXPECT_EQ(top[0].token, 1);
  EXPECT_EQ(top[1].token, 0);  // tie with id 3 goes to the lower id
  EXPECT_EQ(top[2].token, 3);
  EXPECT_NEAR(top[1].logprob, std::log(0.2f), 1e-6);
  EXPECT_EQ(LogprobOf(row, 2, 0, nullptr), -std::numeric_limits<float>::infinity());
  EXPECT_EQ(LogprobOf(row, 9, 0, nullptr), -std::numeric_limits<float>::infinity());
}

TEST(EngineTest, DeadlineEndsRequestWithDeadlineExceeded) {
  auto engine = MakeEngine();
  ASSERT_NE(engine, nullptr);
  GenerateRequest request = Greedy("Tick", 30000);
  request.ignore_eos = true;
  request.deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(200);
  auto sink = std::make_shared<CollectingSink>();
  ASSERT_TRUE(engine->Submit(request, sink).ok());
  ASSERT_TRUE(sink->WaitFinal());
  EXPECT_EQ(sink->Last().finish, FinishReason::kError);
  EXPECT_EQ(sink->Last().error.code(), StatusCode::kDeadlineExceeded);
}

TEST(EngineTest, StopStringEndsTheSequenceAndIsNotEmitted) {
  auto engine = MakeEngine();
  ASSERT_NE(engine, nullptr);
  // Find what greedy produces, then stop on a piece of it.
  auto probe = std::make_shared<CollectingSink>();
  GenerateRequest request = Greedy("The king said", 40);
  request.ignore_eos = true;
  ASSERT_TRUE(engine->Submit(request, probe).ok());
  ASSERT_TRUE(probe->WaitFinal());
  const std::string full = probe->Text();
  ASSERT_GE(full.size(), 12u);
  const std::string stop = full.substr(5, 3);
  const size_t at = full.find(stop);
  auto sink = std::make_shared<CollectingSink>();
  request.stop = {stop};
  ASSERT_TRUE(engine->Submit(request, sink).ok());
  ASSERT_TRUE(sink->WaitFinal());
  EXPECT_EQ(sink->Last().finish, FinishReason::kStop);
  EXPECT_EQ(sink->Text(), full.substr(0, at));
}

TEST(EngineTest, ShutdownCancelsRunningRequests) {
  auto engine = MakeEngine();
  ASSERT_NE(engine, nullptr);
  auto sink = std::make_shared<CollectingSink>();
  GenerateRequest request = Greedy("Forever", 30000);
  request.ignore_eos = true;
  ASSERT_TRUE(engine->Submit(request, sink).ok());
  engine->Shutdown();
  ASSERT_TRUE(sink->WaitFinal());
  EXPECT_EQ(sink->Last().finish, FinishReason::kCancelled);
}

}  // namespace
}  // namespace gf::testing
