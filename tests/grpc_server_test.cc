// The gRPC API end to end: a real GrpcServer on 127.0.0.1 (any free port) over the engine on the
// built-in byte model, called with the generated goldfinch.v1 stub: streaming Generate (text and
// token ids equal the engine's own greedy tokens), Tokenize/Detokenize/ListModels, error codes
// (INVALID_ARGUMENT naming the field, NOT_FOUND, UNAUTHENTICATED, UNAVAILABLE), deadlines and
// client cancellation freeing the batch, health, reflection, concurrent streams, the drain
// sequence, metrics and the log line.
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <spdlog/sinks/ostream_sink.h>

#include <sstream>
#include <thread>

#include "server/logging.h"
#include "tests/grpc_test_fixture.h"

namespace gf::server {
namespace {

TEST_F(GrpcServerTest, GenerateTextStreamsTheEngineGreedyTokens) {
  const std::string prompt = "The quick brown fox";
  const Reference expected = EngineGreedy(Bytes(prompt), 12);
  ASSERT_EQ(expected.tokens.size(), 12u);
  const StreamResult result = RunGenerate(*stub_, GreedyText(prompt, 12));
  ASSERT_TRUE(result.status.ok()) << result.status.error_message();
  ASSERT_GE(result.messages.size(), 2u);
  EXPECT_EQ(result.tokens(), expected.tokens);
  EXPECT_EQ(result.text(), expected.text);
  for (const auto& m : result.messages) {
    for (const auto& t : m.tokens()) {
      EXPECT_EQ(t.token(), std::string(engine_->tokenizer().TokenBytes(t.id())));
      EXPECT_FALSE(t.has_logprob());
    }
  }
  // The first message names the request; only the last carries the finish and usage.
  EXPECT_EQ(result.messages.front().request_id().size(), 32u);
  for (size_t i = 1; i < result.messages.size(); ++i) {
    EXPECT_EQ(result.messages[i].request_id(), "") << i;
  }
  for (size_t i = 0; i + 1 < result.messages.size(); ++i) {
    EXPECT_EQ(result.messages[i].finish_reason(), pb::FINISH_REASON_UNSPECIFIED) << i;
    EXPECT_FALSE(result.messages[i].has_usage()) << i;
  }
  const pb::GenerateResponse& last = result.messages.back();
  EXPECT_EQ(last.finish_reason(), pb::FINISH_REASON_LENGTH);
  EXPECT_EQ(last.usage().prompt_tokens(), prompt.size());
  EXPECT_EQ(last.usage().completion_tokens(), 12u);
  EXPECT_EQ(last.usage().cached_tokens(), 0u);
}

TEST_F(GrpcServerTest, GenerateTokenIdsWithEchoAndLogprobs) {
  const std::vector<TokenId> prompt = Bytes("Once upon a time");
  const Reference expected = EngineGreedy(prompt, 8);
  pb::GenerateRequest request;
  for (TokenId id : prompt) request.mutable_tokens()->add_ids(id);
  request.mutable_sampling()->set_temperature(0.0f);
  request.set_max_tokens(8);
  request.set_ignore_eos(true);
  request.set_echo(true);
  request.set_logprobs(true);
  request.set_top_logprobs(2);
  request.set_request_id("client-id.1");
  const StreamResult result = RunGenerate(*stub_, request);
  ASSERT_TRUE(result.status.ok()) << result.status.error_message();
  ASSERT_FALSE(result.messages.empty());
  EXPECT_EQ(result.tokens(), expected.tokens);
  EXPECT_EQ(result.text(), expected.text);
  const pb::GenerateResponse& first = result.messages.front();
  EXPECT_EQ(first.request_id(), "client-id.1");
  ASSERT_EQ(first.prompt_size(), static_cast<int>(prompt.size()));
  for (int i = 0; i < first.prompt_size(); ++i) {
    EXPECT_EQ(first.prompt(i).id(), prompt[static_cast<size_t>(i)]);
    EXPECT_EQ(first.prompt(i).has_logprob(), i > 0) << i;
  }
  for (const auto& m : result.messages) {
    for (const auto& t : m.tokens()) {
      ASSERT_TRUE(t.has_logprob());
      EXPECT_LE(t.logprob(), 0.0f);
      ASSERT_EQ(t.top_logprobs_size(), 2);
      // Greedy: the sampled token is the most likely one.
      EXPECT_EQ(t.top_logprobs(0).id(), t.id());
      EXPECT_FLOAT_EQ(t.top_logprobs(0).logprob(), t.logprob());
    }
  }
  EXPECT_EQ(result.messages.back().usage().prompt_tokens(), prompt.size());
}

TEST_F(GrpcServerTest, TokenizeDetokenizeListModels) {
  grpc::ClientContext tc;
  pb::TokenizeRequest tokenize;
  tokenize.set_text("Hi <|endoftext|>");
  pb::TokenizeResponse tokens;
  ASSERT_TRUE(stub_->Tokenize(&tc, tokenize, &tokens).ok());
  // The byte tokenizer: id = byte + 1; the marker stays ordinary text (never id 0).
  std::vector<TokenId> ids(tokens.token_ids().begin(), tokens.token_ids().end());
  ASSERT_EQ(ids.size(), 16u);
  EXPECT_EQ(ids[0], 'H' + 1);
  EXPECT_EQ(ids[1], 'i' + 1);
  EXPECT_EQ(ids[3], '<' + 1);
  EXPECT_EQ(tokens.max_model_len(), static_cast<uint32_t>(engine_->max_model_len()));

  grpc::ClientContext dc;
  pb::DetokenizeRequest detokenize;
  for (TokenId id : ids) detokenize.add_token_ids(id);
  detokenize.add_token_ids(0xC3 + 1);  // half a UTF-8 character -> U+FFFD
  pb::DetokenizeResponse text;
  ASSERT_TRUE(stub_->Detokenize(&dc, detokenize, &text).ok());
  EXPECT_EQ(text.text(), "Hi <|endoftext|>\xEF\xBF\xBD");

  grpc::ClientContext lc;
  pb::ListModelsResponse models;
  ASSERT_TRUE(stub_->ListModels(&lc, pb::ListModelsRequest(), &models).ok());
  ASSERT_EQ(models.models_size(), 1);
  EXPECT_EQ(models.models(0).id(), "goldfinch-byte-small");
  EXPECT_EQ(models.models(0).created(), 1700000000);
  EXPECT_EQ(models.models(0).max_model_len(), static_cast<uint32_t>(engine_->max_model_len()));
  EXPECT_FALSE(models.models(0).owned_by().empty());
}

TEST_F(GrpcServerTest, InvalidArgumentNamesTheField) {
  pb::GenerateRequest request = GreedyText("x", 4);
  request.mutable_sampling()->set_temperature(5.0f);
  StreamResult result = RunGenerate(*stub_, request);
  EXPECT_EQ(result.status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(result.status.error_message().rfind("sampling.temperature: ", 0), 0u)
      << result.status.error_message();
  EXPECT_TRUE(result.messages.empty());

  pb::GenerateRequest bad_id;
  bad_id.mutable_tokens()->add_ids(65);
  bad_id.mutable_tokens()->add_ids(300);
  result = RunGenerate(*stub_, bad_id);
  EXPECT_EQ(result.status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(result.status.error_message().rfind("tokens.ids[1]: ", 0), 0u)
      << result.status.error_message();

  grpc::ClientContext dc;
  pb::DetokenizeRequest detokenize;
  detokenize.add_token_ids(-1);
  pb::DetokenizeResponse text;
  const grpc::Status status = stub_->Detokenize(&dc, detokenize, &text);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(status.error_message().rfind("token_ids[0]: ", 0), 0u) << status.error_message();
}

TEST_F(GrpcServerTest, UnknownModelIsNotFoundAndCounted) {
  const std::string series =
      "goldfinch_grpc_requests_total{code=\"NOT_FOUND\",method=\"Generate\"}";
  const double before = std::max(0.0, MetricValue(series));
  pb::GenerateRequest request = GreedyText("x", 4);
  request.set_model("other-model");
  const StreamResult result = RunGenerate(*stub_, request);
  EXPECT_EQ(result.status.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(result.status.error_message().rfind("model: ", 0), 0u);
  EXPECT_EQ(MetricValue(series), before + 1.0);

  grpc::ClientContext tc;
  pb::TokenizeRequest tokenize;
  tokenize.set_model("other-model");
  tokenize.set_text("x");
  pb::TokenizeResponse tokens;
  EXPECT_EQ(stub_->Tokenize(&tc, tokenize, &tokens).error_code(), grpc::StatusCode::NOT_FOUND);
}

TEST_F(GrpcServerTest, DeadlineMidGenerationFreesTheSequence) {
  const pb::GenerateRequest request = GreedyText("A long story: ", 20000);
  const auto start = std::chrono::steady_clock::now();
  const StreamResult result = RunGenerate(*stub_, request, milliseconds(400));
  const auto elapsed = std::chrono::steady_clock::now() - start;
  EXPECT_EQ(result.status.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED);
  EXPECT_FALSE(result.messages.empty());  // it was generating when the deadline passed
  EXPECT_LT(elapsed, std::chrono::seconds(5));
  EXPECT_TRUE(WaitEngineEmpty(milliseconds(2000)));
  // The client's deadline fires on its own: the server counts the call when it has ended there.
  const std::string series =
      "goldfinch_grpc_requests_total{code=\"DEADLINE_EXCEEDED\",method=\"Generate\"}";
  for (int i = 0; i < 200 && MetricValue(series) < 1.0; ++i)
    std::this_thread::sleep_for(milliseconds(10));
  EXPECT_EQ(MetricValue(series), 1.0);
}

TEST_F(GrpcServerTest, ClientCancelFreesTheSequence) {
  const pb::GenerateRequest request = GreedyText("Cancel me: ", 20000);
  grpc::ClientContext context;
  auto reader = stub_->Generate(&context, request);
  pb::GenerateResponse message;
  ASSERT_TRUE(reader->Read(&message));
  ASSERT_TRUE(reader->Read(&message));
  EXPECT_EQ(engine_->Stats().running, 1);
  context.TryCancel();
  while (reader->Read(&message)) {
  }
  EXPECT_EQ(reader->Finish().error_code(), grpc::StatusCode::CANCELLED);
  EXPECT_TRUE(WaitEngineEmpty(milliseconds(2000)));
}

TEST_F(GrpcServerTest, HealthFollowsReadinessAndDrain) {
  grpc::Status status;
  EXPECT_EQ(HealthCheck(*channel_, "", &status), kServing);
  EXPECT_TRUE(status.ok());
  EXPECT_EQ(HealthCheck(*channel_, GrpcServer::kServiceName, &status), kServing);
  EXPECT_TRUE(status.ok());
  HealthCheck(*channel_, "no.such.Service", &status);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::NOT_FOUND);

  // The drain switch (what SIGTERM does): health NOT_SERVING, new calls UNAVAILABLE.
  server_->SetServing(false);
  state_->draining = true;
  EXPECT_EQ(HealthCheck(*channel_, "", &status), kNotServing);
  EXPECT_EQ(HealthCheck(*channel_, GrpcServer::kServiceName, &status), kNotServing);
  const StreamResult result = RunGenerate(*stub_, GreedyText("x", 2));
  EXPECT_EQ(result.status.error_code(), grpc::StatusCode::UNAVAILABLE);
  grpc::ClientContext lc;
  pb::ListModelsResponse models;
  EXPECT_EQ(stub_->ListModels(&lc, pb::ListModelsRequest(), &models).error_code(),
            grpc::StatusCode::UNAVAILABLE);
  state_->draining = false;
  server_->SetServing(true);
  EXPECT_EQ(HealthCheck(*channel_, "", &status), kServing);
}

TEST_F(GrpcServerTest, ReflectionListsTheInferenceService) {
  // grpc.reflection.v1alpha over raw bytes: ServerReflectionRequest{list_services = 7: "*"}.
  grpc::GenericStub stub(*channel_);
  grpc::CompletionQueue cq;
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  auto call = stub.PrepareCall(
      &context, "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo", &cq);
  ASSERT_NE(call, nullptr);
  auto wait = [&cq](intptr_t expected) {
    void* tag = nullptr;
    bool ok = false;
    EXPECT_TRUE(cq.Next(&tag, &ok));
    EXPECT_EQ(reinterpret_cast<intptr_t>(tag), expected);
    return ok;
  };
  call->StartCall(reinterpret_cast<void*>(1));
  ASSERT_TRUE(wait(1));
  grpc::Slice request_slice(std::string("\x3a\x01*", 3));
  grpc::ByteBuffer request(&request_slice, 1);
  call->Write(request, reinterpret_cast<void*>(2));
  ASSERT_TRUE(wait(2));
  call->WritesDone(reinterpret_cast<void*>(3));
  ASSERT_TRUE(wait(3));
  grpc::ByteBuffer response;
  call->Read(&response, reinterpret_cast<void*>(4));
  ASSERT_TRUE(wait(4));
  grpc::Status status;
  call->Finish(&status, reinterpret_cast<void*>(5));
  wait(5);
  EXPECT_TRUE(status.ok()) << status.error_message();
  std::vector<grpc::Slice> slices;
  ASSERT_TRUE(response.Dump(&slices).ok());
  std::string bytes;
  for (const grpc::Slice& slice : slices) {
    bytes.append(reinterpret_cast<const char*>(slice.begin()), slice.size());
  }
  EXPECT_NE(bytes.find("goldfinch.v1.Inference"), std::string::npos);
  EXPECT_NE(bytes.find("grpc.health.v1.Health"), std::string::npos);
  cq.Shutdown();
  void* tag = nullptr;
  bool ok = false;
  while (cq.Next(&tag, &ok)) {
  }
}

TEST_F(GrpcServerTest, WhileLoadingEverythingIsUnavailable) {
  ServerState loading;  // no routes yet
  ApiKeyStore keys;
  ServerMetrics metrics;
  GrpcServer server(GrpcServerOptions{}, loading, keys, metrics);
  ASSERT_TRUE(server.Start().ok());
  ASSERT_NE(server.port(), server_->port());
  auto channel = grpc::CreateChannel("127.0.0.1:" + std::to_string(server.port()),
                                     grpc::InsecureChannelCredentials());
  grpc::Status status;
  EXPECT_EQ(HealthCheck(channel, "", &status), kNotServing);
  EXPECT_EQ(HealthCheck(channel, GrpcServer::kServiceName, &status), kNotServing);
  auto stub = pb::Inference::NewStub(channel);
  grpc::ClientContext tc;
  pb::TokenizeRequest tokenize;
  tokenize.set_text("x");
  pb::TokenizeResponse tokens;
  const grpc::Status tokenize_status = stub->Tokenize(&tc, tokenize, &tokens);
  EXPECT_EQ(tokenize_status.error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_EQ(RunGenerate(*stub, GreedyText("x", 2)).status.error_code(),
            grpc::StatusCode::UNAVAILABLE);
  server.Shutdown(milliseconds(100));
}

TEST_F(GrpcServerTest, PortInUseFailsToStart) {
  ApiKeyStore keys;
  ServerMetrics metrics;
  GrpcServerOptions options;
  options.port = server_->port();
  GrpcServer second(options, *state_, keys, metrics);
  const Status status = second.Start();
  EXPECT_EQ(status.code(), StatusCode::kUnavailable);
  EXPECT_EQ(status.message(), "cannot listen on 127.0.0.1:" + std::to_string(server_->port()));
}

TEST_F(GrpcServerTest, ApiKeysGuardEveryInferenceMethodButNotHealth) {
  ApiKeyStore keys;
  ASSERT_TRUE(keys.Load({"sk-grpc-test"}, "").ok());
  GrpcServer server(GrpcServerOptions{}, *state_, keys, *metrics_);
  ASSERT_TRUE(server.Start().ok());
  server.SetServing(true);
  auto channel = grpc::CreateChannel("127.0.0.1:" + std::to_string(server.port()),
                                     grpc::InsecureChannelCredentials());
  auto stub = pb::Inference::NewStub(channel);

  EXPECT_EQ(RunGenerate(*stub, GreedyText("x", 2)).status.error_code(),
            grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(
      RunGenerate(*stub, GreedyText("x", 2), milliseconds(10000), "sk-wrong").status.error_code(),
      grpc::StatusCode::UNAUTHENTICATED);
  grpc::ClientContext lc;
  pb::ListModelsResponse models;
  EXPECT_EQ(stub->ListModels(&lc, pb::ListModelsRequest(), &models).error_code(),
            grpc::StatusCode::UNAUTHENTICATED);
  grpc::ClientContext dc;
  pb::DetokenizeResponse text;
  EXPECT_EQ(stub->Detokenize(&dc, pb::DetokenizeRequest(), &text).error_code(),
            grpc::StatusCode::UNAUTHENTICATED);

  const StreamResult ok =
      RunGenerate(*stub, GreedyText("x", 2), milliseconds(10000), "sk-grpc-test");
  EXPECT_TRUE(ok.status.ok()) << ok.status.error_message();
  EXPECT_EQ(ok.tokens().size(), 2u);
  grpc::ClientContext tc;
  tc.AddMetadata("authorization", "Bearer sk-grpc-test");
  pb::TokenizeRequest tokenize;
  tokenize.set_text("ab");
  pb::TokenizeResponse tokens;
  EXPECT_TRUE(stub->Tokenize(&tc, tokenize, &tokens).ok());
  EXPECT_EQ(tokens.token_ids_size(), 2);

  grpc::Status status;
  EXPECT_EQ(HealthCheck(channel, "", &status), kServing);
  EXPECT_TRUE(status.ok());
  server.Shutdown(milliseconds(100));
}

TEST_F(GrpcServerTest, EightConcurrentStreamsEqualTheirEngineGreedyRuns) {
  constexpr int kStreams = 8;
  constexpr uint32_t kTokens = 10;
  std::vector<std::string> prompts;
  std::vector<std::vector<TokenId>> prompt_ids;
  for (int i = 0; i < kStreams; ++i) {
    prompts.push_back("Stream " + std::to_string(i) + std::string(static_cast<size_t>(i * 3), 'z'));
    prompt_ids.push_back(Bytes(prompts.back()));
  }
  const std::vector<Reference> expected = EngineGreedy(prompt_ids, kTokens);
  ASSERT_EQ(expected.size(), static_cast<size_t>(kStreams));
  std::vector<StreamResult> results(kStreams);
  std::vector<std::thread> threads;
  for (int i = 0; i < kStreams; ++i) {
    threads.emplace_back([&, i] {
      auto stub = pb::Inference::NewStub(*channel_);
      results[static_cast<size_t>(i)] =
          RunGenerate(*stub, GreedyText(prompts[static_cast<size_t>(i)], kTokens));
    });
  }
  for (auto& t : threads) t.join();
  for (size_t i = 0; i < kStreams; ++i) {
    ASSERT_TRUE(results[i].status.ok()) << i << ": " << results[i].status.error_message();
    EXPECT_EQ(results[i].tokens(), expected[i].tokens) << "stream " << i;
    EXPECT_EQ(results[i].text(), expected[i].text) << "stream " << i;
  }
  EXPECT_TRUE(WaitEngineEmpty(milliseconds(2000)));
}

TEST_F(GrpcServerTest, OneLogLinePerCallWithTheGrpcCode) {
  std::ostringstream out;
  ASSERT_TRUE(
      InitLoggingWithSink("json", "info", std::make_shared<spdlog::sinks::ostream_sink_mt>(out))
          .ok());
  pb::GenerateRequest request = GreedyText("x", 3);
  request.set_request_id("log-test-1");
  EXPECT_TRUE(RunGenerate(*stub_, request).status.ok());
  pb::GenerateRequest bad = GreedyText("x", 3);
  bad.set_request_id("log-test-2");
  bad.set_model("nope");
  EXPECT_EQ(RunGenerate(*stub_, bad).status.error_code(), grpc::StatusCode::NOT_FOUND);
  FlushLogs();
  ShutdownLogging();
  const std::string log = out.str();
  std::vector<std::string> lines;
  std::istringstream in(log);
  for (std::string line; std::getline(in, line);) {
    if (line.find("log-test-") != std::string::npos) lines.push_back(line);
  }
  ASSERT_EQ(lines.size(), 2u) << log;
  EXPECT_NE(lines[0].find("\"request_id\":\"log-test-1\""), std::string::npos) << lines[0];
  EXPECT_NE(lines[0].find("\"route\":\"/goldfinch.v1.Inference/Generate\""), std::string::npos);
  EXPECT_NE(lines[0].find("\"status\":0"), std::string::npos) << lines[0];
  EXPECT_NE(lines[0].find("\"completion_tokens\":3"), std::string::npos) << lines[0];
  EXPECT_NE(lines[0].find("\"finish_reason\":\"length\""), std::string::npos) << lines[0];
  EXPECT_NE(lines[1].find("\"status\":5"), std::string::npos) << lines[1];
}

// The SIGTERM sequence of `goldfinch serve` on its own engine: health NOT_SERVING and new calls
// UNAVAILABLE; a running stream finishes normally; what is still running when the engine shuts
// down ends UNAVAILABLE; then Shutdown returns promptly.
TEST_F(GrpcServerTest, DrainFinishesRunningStreamsThenShutsDown) {
  std::unique_ptr<Engine> engine = NewEngine();
  ASSERT_NE(engine, nullptr);
  ServerMetrics metrics;
  std::unique_ptr<OpenAiRoutes> routes = NewRoutes(*engine, metrics);
  ASSERT_NE(routes, nullptr);
  ServerState state;
  state.routes = routes.get();
  state.engine = engine.get();
  ApiKeyStore keys;
  GrpcServer server(GrpcServerOptions{}, state, keys, metrics);
  ASSERT_TRUE(server.Start().ok());
  server.SetServing(true);
  auto channel = grpc::CreateChannel("127.0.0.1:" + std::to_string(server.port()),
                                     grpc::InsecureChannelCredentials());
  auto stub = pb::Inference::NewStub(channel);

  // Two streams, both running before the drain starts.
  struct Stream {
    grpc::ClientContext context;
    std::unique_ptr<grpc::ClientReader<pb::GenerateResponse>> reader;
    size_t tokens = 0;
    grpc::Status status;
  };
  Stream short_stream;
  Stream long_stream;
  short_stream.reader = stub->Generate(&short_stream.context, GreedyText("Short: ", 12));
  long_stream.reader = stub->Generate(&long_stream.context, GreedyText("Long: ", 20000));
  for (Stream* stream : {&short_stream, &long_stream}) {
    pb::GenerateResponse message;
    ASSERT_TRUE(stream->reader->Read(&message));
    stream->tokens += static_cast<size_t>(message.tokens_size());
  }
  auto drain = [](Stream* stream) {
    pb::GenerateResponse message;
    while (stream->reader->Read(&message))
      stream->tokens += static_cast<size_t>(message.tokens_size());
    stream->status = stream->reader->Finish();
  };
  std::thread short_reader(drain, &short_stream);
  std::thread long_reader(drain, &long_stream);

  state.draining = true;
  server.SetServing(false);
  engine->StopAccepting();
  grpc::Status health_status;
  EXPECT_EQ(HealthCheck(channel, "", &health_status), kNotServing);
  EXPECT_EQ(RunGenerate(*stub, GreedyText("new", 2)).status.error_code(),
            grpc::StatusCode::UNAVAILABLE);

  short_reader.join();
  EXPECT_TRUE(short_stream.status.ok()) << short_stream.status.error_message();
  EXPECT_EQ(short_stream.tokens, 12u);
  EXPECT_FALSE(engine->WaitIdle(milliseconds(50)));  // the long stream is still running
  engine->Shutdown();
  const auto start = std::chrono::steady_clock::now();
  server.Shutdown(std::chrono::seconds(2));
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(1));
  long_reader.join();
  EXPECT_EQ(long_stream.status.error_code(), grpc::StatusCode::UNAVAILABLE)
      << long_stream.status.error_message();
  EXPECT_GT(long_stream.tokens, 0u);
}

}  // namespace
}  // namespace gf::server
