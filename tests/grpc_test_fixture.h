// The fixture of tests/grpc_server_test.cc: one engine on the built-in byte model
// (models/goldfinch-byte-small), its OpenAiRoutes and a GrpcServer on 127.0.0.1 (any free port),
// shared by the suite; clients use the generated goldfinch.v1 stub over a real channel. Also the
// engine-direct greedy reference, a health-check client and a metrics reader.
#pragma once

#include <google/protobuf/wrappers.pb.h>
#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <condition_variable>
#include <future>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "engine/model/goldfinch.h"
#include "engine/serving/engine.h"
#include "goldfinch/v1/inference.grpc.pb.h"
#include "server/grpc/grpc_server.h"
#include "server/openai/chat_template.h"
#include "server/openai_routes.h"
#include "tests/test_support.h"

namespace gf::server {

namespace pb = goldfinch::v1;
using std::chrono::milliseconds;

namespace pb = goldfinch::v1;
using std::chrono::milliseconds;

inline std::string ModelDir() { return testing::SourceDir() + "/models/goldfinch-byte-small"; }

// Collects one engine request's events (the engine-direct reference).
class CollectingSink : public RequestSink {
 public:
  void OnEvent(GenerateEvent event) override {
    std::lock_guard<std::mutex> lock(mu_);
    for (const auto& t : event.tokens) tokens_.push_back(t.id);
    text_ += event.text;
    if (event.finish != FinishReason::kNone) {
      finish_ = event.finish;
      cv_.notify_all();
    }
  }
  bool WaitFinal() {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, std::chrono::seconds(60),
                        [this] { return finish_ != FinishReason::kNone; });
  }
  std::vector<TokenId> tokens() {
    std::lock_guard<std::mutex> lock(mu_);
    return tokens_;
  }
  std::string text() {
    std::lock_guard<std::mutex> lock(mu_);
    return text_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<TokenId> tokens_;
  std::string text_;
  FinishReason finish_ = FinishReason::kNone;
};

// What a Generate stream delivered.
struct StreamResult {
  grpc::Status status;
  std::vector<pb::GenerateResponse> messages;
  std::vector<TokenId> tokens() const {
    std::vector<TokenId> ids;
    for (const auto& m : messages) {
      for (const auto& t : m.tokens()) ids.push_back(t.id());
    }
    return ids;
  }
  std::string text() const {
    std::string text;
    for (const auto& m : messages) text += m.text();
    return text;
  }
};

// grpc.health.v1 messages are wire-compatible with these well-known types:
// HealthCheckRequest{string service = 1}, HealthCheckResponse{ServingStatus status = 1}.
using HealthStub =
    grpc::TemplatedGenericStub<google::protobuf::StringValue, google::protobuf::Int32Value>;
inline constexpr int kServing = 1;
inline constexpr int kNotServing = 2;

class GrpcServerTest : public ::testing::Test {
 protected:
  // An engine on the built-in model, as `goldfinch serve` builds it (null on failure).
  static std::unique_ptr<Engine> NewEngine() {
    WeightLoadOptions load;
    load.matrix_dtype = kernels::DType::kF32;
    auto model = GoldFinchModel::Load(ModelDir(), load);
    EXPECT_TRUE(model.ok()) << model.status().ToString();
    auto tokenizer = MakeTokenizer("byte", "");
    EXPECT_TRUE(tokenizer.ok());
    if (!model.ok() || !tokenizer.ok()) return nullptr;
    EngineOptions options;
    options.scheduler.max_running = 16;
    auto engine = Engine::Create(std::move(*model), std::move(*tokenizer), options);
    EXPECT_TRUE(engine.ok()) << engine.status().ToString();
    return engine.ok() ? std::move(*engine) : nullptr;
  }

  static std::unique_ptr<OpenAiRoutes> NewRoutes(Engine& engine, ServerMetrics& metrics) {
    auto chat_template = ChatTemplate::Load(ModelDir());
    EXPECT_TRUE(chat_template.ok()) << chat_template.status().ToString();
    if (!chat_template.ok()) return nullptr;
    ApiConfig api;
    api.model.id = "goldfinch-byte-small";
    api.model.vocab_size = 257;
    api.model.max_model_len = engine.max_model_len();
    api.model.eos_id = 0;
    api.created = 1700000000;
    return std::make_unique<OpenAiRoutes>(engine, std::move(*chat_template), api, metrics);
  }

  static void SetUpTestSuite() {
    engine_ = NewEngine().release();
    ASSERT_NE(engine_, nullptr);
    metrics_ = new ServerMetrics();
    routes_ = NewRoutes(*engine_, *metrics_).release();
    ASSERT_NE(routes_, nullptr);
    state_ = new ServerState();
    state_->routes = routes_;
    state_->engine = engine_;
    keys_ = new ApiKeyStore();
    server_ = new GrpcServer(GrpcServerOptions{}, *state_, *keys_, *metrics_);
    const Status started = server_->Start();
    ASSERT_TRUE(started.ok()) << started.ToString();
    server_->SetServing(true);
    channel_ = new std::shared_ptr<grpc::Channel>(grpc::CreateChannel(
        "127.0.0.1:" + std::to_string(server_->port()), grpc::InsecureChannelCredentials()));
  }

  static void TearDownTestSuite() {
    delete channel_;
    delete server_;  // before the engine: calls hold it
    delete keys_;
    delete state_;
    delete routes_;
    delete metrics_;
    delete engine_;
  }

  void SetUp() override {
    ASSERT_NE(server_, nullptr);
    stub_ = pb::Inference::NewStub(*channel_);
  }

  static StreamResult RunGenerate(pb::Inference::Stub& stub, const pb::GenerateRequest& request,
                                  milliseconds deadline = milliseconds(60000),
                                  const std::string& key = "") {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + deadline);
    if (!key.empty()) context.AddMetadata("authorization", "Bearer " + key);
    StreamResult result;
    auto reader = stub.Generate(&context, request);
    pb::GenerateResponse message;
    while (reader->Read(&message)) result.messages.push_back(message);
    result.status = reader->Finish();
    return result;
  }

  // The engine's own greedy run of `prompt` (submitted directly, not through gRPC; ignore_eos).
  struct Reference {
    std::vector<TokenId> tokens;
    std::string text;
  };
  // Several prompts are submitted together (batched results equal single runs: engine_test).
  static std::vector<Reference> EngineGreedy(const std::vector<std::vector<TokenId>>& prompts,
                                             int64_t max_tokens) {
    std::vector<std::shared_ptr<CollectingSink>> sinks;
    for (const auto& prompt : prompts) {
      GenerateRequest request;
      request.prompt = prompt;
      request.max_tokens = max_tokens;
      request.ignore_eos = true;
      request.sampling.temperature = 0.0f;
      sinks.push_back(std::make_shared<CollectingSink>());
      auto id = engine_->Submit(std::move(request), sinks.back());
      EXPECT_TRUE(id.ok()) << id.status().ToString();
      if (!id.ok()) return {};
    }
    std::vector<Reference> out;
    for (const auto& sink : sinks) {
      EXPECT_TRUE(sink->WaitFinal());
      out.push_back({sink->tokens(), sink->text()});
    }
    return out;
  }
  static Reference EngineGreedy(const std::vector<TokenId>& prompt, int64_t max_tokens) {
    std::vector<Reference> out =
        EngineGreedy(std::vector<std::vector<TokenId>>{prompt}, max_tokens);
    return out.empty() ? Reference{} : out[0];
  }

  static std::vector<TokenId> Bytes(const std::string& text) {
    return engine_->tokenizer().EncodeOrdinary(text);
  }

  // Waits until the engine holds no sequence; false after `timeout`.
  static bool WaitEngineEmpty(milliseconds timeout) {
    const auto until = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < until) {
      const EngineStats stats = engine_->Stats();
      if (stats.running == 0 && stats.waiting == 0) return true;
      std::this_thread::sleep_for(milliseconds(5));
    }
    return false;
  }

  static int HealthCheck(const std::shared_ptr<grpc::Channel>& channel, const std::string& service,
                         grpc::Status* status) {
    HealthStub health(channel);
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    google::protobuf::StringValue request;
    request.set_value(service);
    google::protobuf::Int32Value response;
    std::promise<grpc::Status> done;
    health.UnaryCall(&context, "/grpc.health.v1.Health/Check", grpc::StubOptions(), &request,
                     &response, [&done](grpc::Status s) { done.set_value(std::move(s)); });
    *status = done.get_future().get();
    return response.value();
  }

  // The value of one series in the metrics text, or -1 when absent.
  static double MetricValue(const std::string& series) {
    const std::string text = metrics_->Serialize(engine_);
    const size_t at = text.find("\n" + series + " ");
    if (at == std::string::npos) return -1.0;
    return std::stod(text.substr(at + series.size() + 2));
  }

  static inline Engine* engine_ = nullptr;
  static inline ServerMetrics* metrics_ = nullptr;
  static inline OpenAiRoutes* routes_ = nullptr;
  static inline ServerState* state_ = nullptr;
  static inline ApiKeyStore* keys_ = nullptr;
  static inline GrpcServer* server_ = nullptr;
  static inline std::shared_ptr<grpc::Channel>* channel_ = nullptr;
  std::unique_ptr<pb::Inference::Stub> stub_;
};

// A greedy text request that ignores end-of-text (so it runs exactly max_tokens).
inline pb::GenerateRequest GreedyText(const std::string& text, uint32_t max_tokens) {
  pb::GenerateRequest request;
  request.set_text(text);
  request.mutable_sampling()->set_temperature(0.0f);
  request.set_max_tokens(max_tokens);
  request.set_ignore_eos(true);
  return request;
}

}  // namespace gf::server
