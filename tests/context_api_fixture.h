// The fixture of tests/context_api_test.cc: one process-wide server stack on the built-in byte
// model (models/goldfinch-byte-small) with a memory prefix cache: HttpServer + Router +
// OpenAiRoutes + ContextApi on 127.0.0.1 (any free port), API keys for two tenants, a second
// HTTP server whose routes have no context API (as with --cache=false), and (with gRPC) a
// GrpcServer over the same engine; raw-HTTP helpers returning parsed JSON.
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <ctime>
#include <fstream>
#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "cache_store/memory_store.h"
#include "engine/model/goldfinch.h"
#include "engine/serving/engine.h"
#include "server/context_api.h"
#include "server/http/http_server.h"
#include "server/openai_routes.h"
#include "server/router.h"
#include "tests/http_test_client.h"
#include "tests/test_support.h"
#ifdef GF_HAVE_GRPC
#include <grpcpp/grpcpp.h>

#include "goldfinch/v1/contexts.grpc.pb.h"
#include "goldfinch/v1/inference.grpc.pb.h"
#include "server/grpc/grpc_server.h"
#endif

namespace gf::server::context_api_test {

using nlohmann::json;
using namespace std::chrono_literals;

inline constexpr const char* kKeyA = "sk-tenant-a-key";
inline constexpr const char* kKeyB = "sk-tenant-b-key";
inline constexpr int64_t kMinSnapshotTokens = 16;
inline constexpr const char* kModelId = "goldfinch-byte-small";

inline std::string ModelDir() { return testing::SourceDir() + "/models/goldfinch-byte-small"; }

inline int64_t UnixNow() { return static_cast<int64_t>(std::time(nullptr)); }

struct Reply {
  int status = 0;
  json body;
  std::string raw;
};

// One process-wide server stack (built once; the engine is the expensive part).
struct Stack {
  std::unique_ptr<Engine> engine;
  std::shared_ptr<PrefixCache> cache;
  ServerMetrics metrics;
  std::unique_ptr<OpenAiRoutes> routes;
  std::unique_ptr<OpenAiRoutes> routes_without_cache;
  ServerState state;
  ServerState state_without_cache;
  ApiKeyStore keys;
  std::unique_ptr<Router> router;
  std::unique_ptr<Router> router_without_cache;
  std::unique_ptr<HttpServer> http;
  std::unique_ptr<HttpServer> http_without_cache;
#ifdef GF_HAVE_GRPC
  std::unique_ptr<GrpcServer> grpc;
  std::shared_ptr<grpc::Channel> channel;
#endif
};

class ContextApiTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    stack_ = new Stack();
    Stack& s = *stack_;
    auto model = GoldFinchModel::Load(ModelDir(), WeightLoadOptions{});
    ASSERT_TRUE(model.ok()) << model.status().ToString();
    PrefixCacheOptions cache_options;
    cache_options.min_snapshot_tokens = kMinSnapshotTokens;
    auto cache = PrefixCache::Create(
        std::make_unique<cache::MemoryStore>(cache::MemoryStoreOptions{size_t{256} << 20}),
        (*model)->config(), (*model)->kv_dtype(), Sha256Hash("context_api_test"), cache_options);
    ASSERT_TRUE(cache.ok()) << cache.status().ToString();
    s.cache = std::move(*cache);
    EngineOptions options;
    options.scheduler.max_running = 8;
    options.prefix_cache = s.cache;
    auto tokenizer = MakeTokenizer("byte", "");
    ASSERT_TRUE(tokenizer.ok());
    auto engine = Engine::Create(std::move(*model), std::move(*tokenizer), options);
    ASSERT_TRUE(engine.ok()) << engine.status().ToString();
    s.engine = std::move(*engine);

    auto chat_template = ChatTemplate::Load(ModelDir());
    ASSERT_TRUE(chat_template.ok());
    ApiConfig api;
    api.model.id = kModelId;
    api.model.vocab_size = 257;
    api.model.max_model_len = s.engine->max_model_len();
    api.model.eos_id = 0;
    api.created = 1700000000;
    ApiConfig without_cache = api;
    auto registry = ContextRegistry::Open(*s.cache, ContextRegistryOptions{});
    ASSERT_TRUE(registry.ok());
    api.contexts = std::make_shared<ContextApi>(
        std::shared_ptr<ContextRegistry>(std::move(*registry)), s.cache);
    s.routes = std::make_unique<OpenAiRoutes>(*s.engine, *chat_template, api, s.metrics);
    s.routes_without_cache =
        std::make_unique<OpenAiRoutes>(*s.engine, *chat_template, without_cache, s.metrics);
    s.state.routes = s.routes.get();
    s.state.engine = s.engine.get();
    s.state_without_cache.routes = s.routes_without_cache.get();
    s.state_without_cache.engine = s.engine.get();

    const std::string key_file = testing::MakeTempDir("ctx_api_keys") + "/keys";
    std::ofstream(key_file) << kKeyA << " tenant-a\n" << kKeyB << " tenant-b\n";
    ASSERT_TRUE(s.keys.Load({}, key_file).ok());
    s.router = std::make_unique<Router>(s.state, s.keys, s.metrics, false);
    s.router_without_cache =
        std::make_unique<Router>(s.state_without_cache, s.keys, s.metrics, false);
    s.http = StartHttp(*s.router);
    s.http_without_cache = StartHttp(*s.router_without_cache);
#ifdef GF_HAVE_GRPC
    s.grpc = std::make_unique<GrpcServer>(GrpcServerOptions{}, s.state, s.keys, s.metrics);
    ASSERT_TRUE(s.grpc->Start().ok());
    s.grpc->SetServing(true);
    s.channel = grpc::CreateChannel("127.0.0.1:" + std::to_string(s.grpc->port()),
                                    grpc::InsecureChannelCredentials());
#endif
  }

  static std::unique_ptr<HttpServer> StartHttp(Router& router) {
    HttpServerOptions options;
    options.port = 0;
    options.io_threads = 2;
    auto server = std::make_unique<HttpServer>(
        options, [&router](HttpRequest request, std::shared_ptr<ResponseWriter> writer) {
          router.Handle(std::move(request), std::move(writer));
        });
    EXPECT_TRUE(server->Start().ok());
    return server;
  }

  static void TearDownTestSuite() {
    if (stack_ == nullptr) return;
    Stack& s = *stack_;
#ifdef GF_HAVE_GRPC
    if (s.grpc) s.grpc->Shutdown(std::chrono::seconds(0));
    s.grpc.reset();
#endif
    if (s.http) s.http->Stop();
    if (s.http_without_cache) s.http_without_cache->Stop();
    if (s.engine) s.engine->Shutdown();
    s.routes.reset();  // the ContextApi (its worker) before the engine
    s.routes_without_cache.reset();
    delete stack_;
    stack_ = nullptr;
  }

  void SetUp() override { ASSERT_NE(stack_, nullptr); }

  static Reply Call(const std::string& method, const std::string& target,
                    const std::string& body = "", const std::string& key = kKeyA,
                    bool with_cache = true) {
    HttpServer& server = with_cache ? *stack_->http : *stack_->http_without_cache;
    http_test::Client client(server.port());
    std::string request = method + " " + target + " HTTP/1.1\r\nHost: test\r\n";
    if (!key.empty()) request += "Authorization: Bearer " + key + "\r\n";
    request += "Content-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) +
               "\r\n\r\n" + body;
    Reply reply;
    if (!client.Send(request)) return reply;
    http_test::ParsedResponse response = client.ReadResponse(120000ms);
    if (!response.ok) return reply;
    reply.status = response.status;
    reply.raw = response.message.body();
    reply.body = json::parse(reply.raw, nullptr, false);
    return reply;
  }

  static std::string ErrorCode(const Reply& reply) {
    const json& code = reply.body["error"]["code"];
    return code.is_string() ? code.get<std::string>() : "";
  }
  static std::string ErrorParam(const Reply& reply) {
    const json& param = reply.body["error"]["param"];
    return param.is_string() ? param.get<std::string>() : "";
  }

  // A context made from `prompt` (a string or token ids); fails the test on error.
  static json CreateContext(const json& fields, const std::string& key = kKeyA) {
    json body = fields;
    body["model"] = kModelId;
    Reply reply = Call("POST", "/v1/contexts", body.dump(), key);
    EXPECT_EQ(reply.status, 200) << reply.raw;
    return reply.body;
  }

  // A greedy request that cannot stop early (end-of-text banned).
  static json Greedy(json body, int max_tokens = 12) {
    body["model"] = kModelId;
    body["max_tokens"] = max_tokens;
    body["temperature"] = 0;
    body["logit_bias"] = {{"0", -100}};
    return body;
  }

  static inline Stack* stack_ = nullptr;
};

}  // namespace gf::server::context_api_test
