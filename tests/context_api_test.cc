// The explicit context API end to end inside one process: a real HttpServer + Router +
// OpenAiRoutes + ContextApi on 127.0.0.1 over the built-in byte model with a memory prefix
// cache, API keys for two tenants, driven by raw HTTP; and (with gRPC) the goldfinch.v1.Contexts
// service and GenerateRequest.context_id on a GrpcServer over the same engine.
// Checks: create (prompt and messages), list/get/pin/delete, field errors with their params,
// 404/405/503, a completion or chat that references a context generates exactly the greedy
// tokens of the full prompt sent without the cache and reports cached_tokens >= context - 1,
// tenant and cache_salt isolation.
#include <gtest/gtest.h>

#include <condition_variable>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "tests/context_api_fixture.h"

namespace gf::server::context_api_test {
namespace {

const std::string kDocument =
    "GoldFinch keeps a compressed key cache for its attention layers, so a long shared "
    "document costs little to keep around. ";

TEST_F(ContextApiTest, CreateListGetPinDelete) {
  const int64_t before = UnixNow();
  json created = CreateContext({{"prompt", kDocument}, {"ttl_seconds", 600}, {"name", "doc"}});
  const int64_t after = UnixNow();
  const std::string id = created.value("id", "");
  EXPECT_TRUE(IsValidContextId(id)) << created.dump();
  EXPECT_EQ(created["object"], "context");
  EXPECT_EQ(created["model"], kModelId);
  EXPECT_EQ(created["tokens"], static_cast<int64_t>(kDocument.size()));  // byte vocabulary
  EXPECT_EQ(created["name"], "doc");
  const int64_t created_at = created["created"].get<int64_t>();
  EXPECT_GE(created_at, before);
  EXPECT_LE(created_at, after);
  EXPECT_EQ(created["expires_at"].get<int64_t>(), created_at + 600);

  Reply listed = Call("GET", "/v1/contexts");
  ASSERT_EQ(listed.status, 200) << listed.raw;
  EXPECT_EQ(listed.body["object"], "list");
  bool found = false;
  for (const json& item : listed.body["data"]) found = found || item["id"] == id;
  EXPECT_TRUE(found) << listed.raw;

  Reply got = Call("GET", "/v1/contexts/" + id);
  ASSERT_EQ(got.status, 200) << got.raw;
  EXPECT_EQ(got.body, created);

  const int64_t pin_before = UnixNow();
  Reply pinned = Call("POST", "/v1/contexts/" + id + "/pin", R"({"ttl_seconds": 7200})");
  ASSERT_EQ(pinned.status, 200) << pinned.raw;
  EXPECT_GE(pinned.body["expires_at"].get<int64_t>(), pin_before + 7200);
  EXPECT_LE(pinned.body["expires_at"].get<int64_t>(), UnixNow() + 7200);
  EXPECT_EQ(pinned.body["created"], created_at);

  Reply deleted = Call("DELETE", "/v1/contexts/" + id);
  ASSERT_EQ(deleted.status, 200) << deleted.raw;
  EXPECT_EQ(deleted.body, (json{{"id", id}, {"object", "context.deleted"}, {"deleted", true}}));
  Reply gone = Call("GET", "/v1/contexts/" + id);
  EXPECT_EQ(gone.status, 404);
  EXPECT_EQ(ErrorCode(gone), "context_not_found");
  EXPECT_EQ(gone.body["error"]["type"], "not_found_error");
  EXPECT_EQ(Call("DELETE", "/v1/contexts/" + id).status, 404);
  EXPECT_EQ(Call("POST", "/v1/contexts/" + id + "/pin", "{}").status, 404);
  EXPECT_FALSE(stack_->cache->HasSnapshot(
      CacheNamespace{stack_->routes->config().cache_namespaces.SaltHash("tenant-a", std::nullopt)},
      stack_->engine->tokenizer().EncodeOrdinary(kDocument)));
}

TEST_F(ContextApiTest, TokenIdPromptAndTtlZero) {
  std::vector<int> ids;
  for (int i = 0; i < 40; ++i) ids.push_back(1 + (i * 7) % 200);
  json created = CreateContext({{"prompt", ids}});
  EXPECT_EQ(created["tokens"], 40);
  EXPECT_TRUE(created["name"].is_null());
  EXPECT_EQ(created["expires_at"].get<int64_t>() - created["created"].get<int64_t>(),
            kDefaultContextTtlSeconds);
  const std::string id = created["id"];
  Reply expired = Call("POST", "/v1/contexts/" + id + "/pin", R"({"ttl_seconds": 0})");
  ASSERT_EQ(expired.status, 200) << expired.raw;
  EXPECT_LE(expired.body["expires_at"].get<int64_t>(), UnixNow());
  EXPECT_EQ(Call("GET", "/v1/contexts/" + id).status, 404);
  Reply use = Call("POST", "/v1/completions", Greedy({{"prompt", "x"}, {"context", id}}).dump());
  EXPECT_EQ(use.status, 404) << use.raw;
  EXPECT_EQ(ErrorParam(use), "context");
  EXPECT_EQ(ErrorCode(use), "context_not_found");
}

TEST_F(ContextApiTest, FieldErrors) {
  struct Case {
    json body;
    int status;
    std::string param;
    std::string code;
  };
  const std::string max_len_prompt(static_cast<size_t>(stack_->engine->max_model_len()), 'a');
  const std::vector<Case> cases = {
      {{{"model", kModelId}}, 400, "prompt", ""},
      {{{"model", kModelId}, {"prompt", kDocument}, {"messages", json::array()}},
       400,
       "messages",
       ""},
      {{{"model", kModelId}, {"prompt", "too short"}}, 400, "prompt", ""},
      {{{"model", kModelId}, {"prompt", ""}}, 400, "prompt", ""},
      {{{"model", kModelId}, {"prompt", json::array({1, 2, 999})}}, 400, "prompt", ""},
      {{{"model", kModelId}, {"prompt", 5}}, 400, "prompt", ""},
      {{{"model", kModelId}, {"prompt", kDocument}, {"ttl_seconds", 0}}, 400, "ttl_seconds", ""},
      {{{"model", kModelId}, {"prompt", kDocument}, {"ttl_seconds", 2592001}},
       400,
       "ttl_seconds",
       ""},
      {{{"model", kModelId}, {"prompt", kDocument}, {"ttl_seconds", "1"}}, 400, "ttl_seconds", ""},
      {{{"model", kModelId}, {"prompt", kDocument}, {"name", std::string(257, 'n')}},
       400,
       "name",
       ""},
      {{{"model", kModelId}, {"prompt", kDocument}, {"cache_salt", ""}}, 400, "cache_salt", ""},
      {{{"model", "other"}, {"prompt", kDocument}}, 404, "model", "model_not_found"},
      {{{"model", kModelId}, {"messages", {{{"role", "robot"}, {"content", "x"}}}}},
       400,
       "messages[0].role",
       ""},
      {{{"model", kModelId}, {"prompt", max_len_prompt}}, 400, "prompt", "context_length_exceeded"},
  };
  for (const Case& c : cases) {
    Reply reply = Call("POST", "/v1/contexts", c.body.dump());
    EXPECT_EQ(reply.status, c.status) << c.body.dump().substr(0, 200) << " -> " << reply.raw;
    EXPECT_EQ(ErrorParam(reply), c.param) << reply.raw;
    EXPECT_EQ(ErrorCode(reply), c.code) << reply.raw;
  }
  EXPECT_EQ(Call("POST", "/v1/contexts", "{not json").status, 400);
  EXPECT_EQ(Call("PUT", "/v1/contexts").status, 405);
  EXPECT_EQ(Call("POST", "/v1/contexts/ctx_000000000000000000000000").status, 405);
  EXPECT_EQ(Call("GET", "/v1/contexts/ctx_000000000000000000000000/pin").status, 405);
  EXPECT_EQ(Call("GET", "/v1/contexts/ctx_000000000000000000000000/other").status, 404);
  Reply unknown = Call("GET", "/v1/contexts/not-an-id");
  EXPECT_EQ(unknown.status, 404);
  EXPECT_EQ(ErrorCode(unknown), "context_not_found");
  EXPECT_EQ(ErrorParam(unknown), "id");
  EXPECT_EQ(Call("GET", "/v1/contexts?cache_salt=").status, 400);
  EXPECT_EQ(Call("GET", "/v1/contexts?cache_salt=%zz").status, 400);
  EXPECT_EQ(Call("POST", "/v1/contexts/ctx_000000000000000000000000/pin", R"({"ttl_seconds": -1})")
                .status,
            400);
  Reply bad_field =
      Call("POST", "/v1/completions", Greedy({{"prompt", "x"}, {"context", 7}}).dump());
  EXPECT_EQ(bad_field.status, 400);
  EXPECT_EQ(ErrorParam(bad_field), "context");
  EXPECT_EQ(Call("GET", "/v1/contexts", "", "").status, 401);
  EXPECT_EQ(Call("GET", "/v1/contexts", "", "sk-wrong").status, 401);
}

TEST_F(ContextApiTest, CompletionWithContextMatchesTheFullPromptWithoutCache) {
  json created = CreateContext({{"prompt", kDocument}});
  const std::string id = created["id"];
  const int64_t context_tokens = created["tokens"];
  for (const std::string question : {"Question: what is cheap to keep?", "Q2: and why?"}) {
    Reply with_context =
        Call("POST", "/v1/completions", Greedy({{"prompt", question}, {"context", id}}).dump());
    ASSERT_EQ(with_context.status, 200) << with_context.raw;
    Reply reference =
        Call("POST", "/v1/completions",
             Greedy({{"prompt", kDocument + question}, {"cache_prompt", false}}).dump());
    ASSERT_EQ(reference.status, 200) << reference.raw;
    EXPECT_EQ(with_context.body["choices"][0]["text"], reference.body["choices"][0]["text"]);
    EXPECT_EQ(with_context.body["usage"]["prompt_tokens"],
              context_tokens + static_cast<int64_t>(question.size()));
    EXPECT_EQ(reference.body["usage"]["prompt_tokens_details"]["cached_tokens"], 0);
    EXPECT_GE(with_context.body["usage"]["prompt_tokens_details"]["cached_tokens"].get<int64_t>(),
              context_tokens - 1)
        << with_context.raw;
  }
  // The field name may be escaped like any JSON key.
  Reply escaped = Call("POST", "/v1/completions",
                       R"({"model":"goldfinch-byte-small","prompt":"Hi","max_tokens":1,)"
                       R"("\u0063ontext":"ctx_000000000000000000000000"})");
  EXPECT_EQ(escaped.status, 404) << escaped.raw;
  // Context + prompt + max_tokens must fit the model.
  const int64_t room = stack_->engine->max_model_len() - context_tokens - 2;
  Reply too_long =
      Call("POST", "/v1/completions",
           Greedy({{"prompt", "ab"}, {"context", id}}, static_cast<int>(room) + 1).dump());
  EXPECT_EQ(too_long.status, 400) << too_long.raw;
  EXPECT_EQ(ErrorCode(too_long), "context_length_exceeded");
  EXPECT_EQ(ErrorParam(too_long), "max_tokens");
  ASSERT_EQ(Call("DELETE", "/v1/contexts/" + id).status, 200);
}

TEST_F(ContextApiTest, ChatWithContextContinuesTheConversation) {
  const json history = json::array({
      {{"role", "system"}, {"content", "You answer questions about birds, briefly and kindly."}},
      {{"role", "user"}, {"content", "Which finch is golden?"}},
      {{"role", "assistant"}, {"content", "The American goldfinch, in summer."}},
  });
  json created = CreateContext({{"messages", history}, {"name", "birds"}});
  const std::string id = created["id"];
  const int64_t context_tokens = created["tokens"];
  // Rendered exactly as chat renders the messages, without the "Assistant:" prompt.
  const std::string rendered =
      "System: You answer questions about birds, briefly and kindly.\n\n"
      "User: Which finch is golden?\n\nAssistant: The American goldfinch, in summer.\n\n";
  EXPECT_EQ(context_tokens, static_cast<int64_t>(rendered.size()));

  const json next = {{"role", "user"}, {"content", "And in winter?"}};
  Reply with_context =
      Call("POST", "/v1/chat/completions",
           Greedy({{"messages", json::array({next})}, {"context", id}}, 10).dump());
  ASSERT_EQ(with_context.status, 200) << with_context.raw;
  json all = history;
  all.push_back(next);
  Reply reference = Call("POST", "/v1/chat/completions",
                         Greedy({{"messages", all}, {"cache_prompt", false}}, 10).dump());
  ASSERT_EQ(reference.status, 200) << reference.raw;
  EXPECT_EQ(with_context.body["choices"][0]["message"]["content"],
            reference.body["choices"][0]["message"]["content"]);
  EXPECT_EQ(with_context.body["usage"]["prompt_tokens"], reference.body["usage"]["prompt_tokens"]);
  EXPECT_GE(with_context.body["usage"]["prompt_tokens_details"]["cached_tokens"].get<int64_t>(),
            context_tokens - 1);
  ASSERT_EQ(Call("DELETE", "/v1/contexts/" + id).status, 200);
}

TEST_F(ContextApiTest, TenantsAndSaltsAreIsolated) {
  json created = CreateContext({{"prompt", kDocument + "tenant A only"}});
  const std::string id = created["id"];
  json salted = CreateContext({{"prompt", kDocument + "salted"}, {"cache_salt", "user 7"}});
  const std::string salted_id = salted["id"];

  for (const std::string& target : {"/v1/contexts/" + id, "/v1/contexts/" + salted_id}) {
    Reply other = Call("GET", target, "", kKeyB);
    EXPECT_EQ(other.status, 404);
    EXPECT_EQ(ErrorCode(other), "context_not_found");
  }
  Reply list_b = Call("GET", "/v1/contexts", "", kKeyB);
  ASSERT_EQ(list_b.status, 200);
  for (const json& item : list_b.body["data"]) {
    EXPECT_NE(item["id"], id);
    EXPECT_NE(item["id"], salted_id);
  }
  EXPECT_EQ(Call("POST", "/v1/contexts/" + id + "/pin", "{}", kKeyB).status, 404);
  EXPECT_EQ(Call("DELETE", "/v1/contexts/" + id, "", kKeyB).status, 404);
  Reply use_b =
      Call("POST", "/v1/completions", Greedy({{"prompt", "x"}, {"context", id}}).dump(), kKeyB);
  EXPECT_EQ(use_b.status, 404);
  EXPECT_EQ(ErrorParam(use_b), "context");

  // Within tenant A, the salted context is visible only with its salt.
  EXPECT_EQ(Call("GET", "/v1/contexts/" + salted_id).status, 404);
  EXPECT_EQ(Call("GET", "/v1/contexts/" + salted_id + "?cache_salt=user+7").status, 200);
  EXPECT_EQ(Call("GET", "/v1/contexts/" + salted_id + "?cache_salt=user%207").status, 200);
  EXPECT_EQ(Call("GET", "/v1/contexts/" + id + "?cache_salt=user+7").status, 404);
  Reply salted_list = Call("GET", "/v1/contexts?cache_salt=user%207");
  ASSERT_EQ(salted_list.status, 200);
  ASSERT_EQ(salted_list.body["data"].size(), 1u) << salted_list.raw;
  EXPECT_EQ(salted_list.body["data"][0]["id"], salted_id);
  EXPECT_EQ(
      Call("POST", "/v1/completions", Greedy({{"prompt", "x"}, {"context", salted_id}}).dump())
          .status,
      404);
  Reply salted_use =
      Call("POST", "/v1/completions",
           Greedy({{"prompt", "x"}, {"context", salted_id}, {"cache_salt", "user 7"}}).dump());
  EXPECT_EQ(salted_use.status, 200) << salted_use.raw;
  EXPECT_GE(salted_use.body["usage"]["prompt_tokens_details"]["cached_tokens"].get<int64_t>(),
            salted["tokens"].get<int64_t>() - 1);
  EXPECT_EQ(Call("POST", "/v1/contexts/" + salted_id + "/pin", R"({"ttl_seconds": 60})").status,
            404);
  EXPECT_EQ(Call("POST", "/v1/contexts/" + salted_id + "/pin",
                 R"({"ttl_seconds": 60, "cache_salt": "user 7"})")
                .status,
            200);

  ASSERT_EQ(Call("DELETE", "/v1/contexts/" + id).status, 200);
  ASSERT_EQ(Call("DELETE", "/v1/contexts/" + salted_id + "?cache_salt=user+7").status, 200);
}

TEST(PrependContextTest, PrependsShiftsHintsAndRechecksLength) {
  ContextRecord context;
  context.ns.salt_hash = Sha256Hash("ns");
  context.tokens = std::make_shared<const std::vector<int32_t>>(std::vector<int32_t>{7, 8, 9});
  ModelInfo model;
  model.max_model_len = 10;
  ApiLimits limits;
  GenerateRequest base;
  base.prompt = {1, 2};
  base.max_tokens = 5;
  base.cache.snapshot_hints = {1, 2};
  std::vector<GenerateRequest> requests = {base, base};
  requests[1].prompt = {4};
  ContextUse use{"prompt", "max_tokens", true};
  ASSERT_FALSE(PrependContext(context, model, limits, use, requests).has_value());
  EXPECT_EQ(requests[0].prompt, (std::vector<TokenId>{7, 8, 9, 1, 2}));
  EXPECT_EQ(requests[1].prompt, (std::vector<TokenId>{7, 8, 9, 4}));
  EXPECT_EQ(requests[0].cache.snapshot_hints, (std::vector<int64_t>{4, 5}));
  EXPECT_EQ(requests[0].cache.salt_hash, context.ns.salt_hash);
  EXPECT_EQ(requests[0].max_tokens, 5);

  // Explicit max_tokens: 3 + 2 + 6 > 10 -> the parsers' error, naming max_tokens.
  std::vector<GenerateRequest> over = {base};
  over[0].max_tokens = 6;
  auto error = PrependContext(context, model, limits, use, over);
  ASSERT_TRUE(error.has_value());
  EXPECT_EQ(error->param, "max_tokens");
  EXPECT_EQ(error->code, "context_length_exceeded");
  EXPECT_EQ(over[0].prompt, base.prompt);  // unchanged on error

  // Chat without max_tokens: the rest of the context, capped by max_tokens_cap.
  ContextUse chat{"messages", "max_tokens", false};
  std::vector<GenerateRequest> fill = {base};
  fill[0].max_tokens = 8;  // what the parser computed for the 2-token prompt alone
  ASSERT_FALSE(PrependContext(context, model, limits, chat, fill).has_value());
  EXPECT_EQ(fill[0].max_tokens, 5);
  limits.max_tokens_cap = 3;
  fill = {base};
  ASSERT_FALSE(PrependContext(context, model, limits, chat, fill).has_value());
  EXPECT_EQ(fill[0].max_tokens, 3);
  fill = {base};
  fill[0].prompt = std::vector<TokenId>(7, 1);  // 3 + 7 = 10: no room left
  error = PrependContext(context, model, limits, chat, fill);
  ASSERT_TRUE(error.has_value());
  EXPECT_EQ(error->param, "messages");
  EXPECT_EQ(error->code, "context_length_exceeded");
}

TEST_F(ContextApiTest, WithoutPrefixCacheEverythingIs503) {
  for (const auto& [method, target] : std::vector<std::pair<std::string, std::string>>{
           {"GET", "/v1/contexts"},
           {"POST", "/v1/contexts"},
           {"GET", "/v1/contexts/ctx_000000000000000000000000"},
           {"DELETE", "/v1/contexts/ctx_000000000000000000000000"}}) {
    Reply reply = Call(method, target, R"({"model":"goldfinch-byte-small","prompt":"x"})", kKeyA,
                       /*with_cache=*/false);
    EXPECT_EQ(reply.status, 503) << method << " " << target << " " << reply.raw;
    EXPECT_EQ(reply.body["error"]["type"], "service_unavailable");
  }
  Reply use = Call("POST", "/v1/completions",
                   Greedy({{"prompt", "x"}, {"context", "ctx_000000000000000000000000"}}).dump(),
                   kKeyA, false);
  EXPECT_EQ(use.status, 503) << use.raw;
  // Requests without a context are unaffected.
  EXPECT_EQ(
      Call("POST", "/v1/completions", Greedy({{"prompt", "x"}}, 2).dump(), kKeyA, false).status,
      200);
}

#ifdef GF_HAVE_GRPC
namespace pb = goldfinch::v1;

std::unique_ptr<grpc::ClientContext> Ctx(const std::string& key = kKeyA) {
  auto context = std::make_unique<grpc::ClientContext>();
  context->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(120));
  if (!key.empty()) context->AddMetadata("authorization", std::string("Bearer ") + key);
  return context;
}

struct GenerateResult {
  grpc::Status status;
  std::string text;
  uint32_t prompt_tokens = 0;
  uint32_t cached_tokens = 0;
};

GenerateResult Generate(pb::Inference::Stub& stub, const pb::GenerateRequest& request,
                        const std::string& key = kKeyA) {
  auto context = Ctx(key);
  GenerateResult result;
  auto reader = stub.Generate(context.get(), request);
  pb::GenerateResponse message;
  while (reader->Read(&message)) {
    result.text += message.text();
    if (message.has_usage()) {
      result.prompt_tokens = message.usage().prompt_tokens();
      result.cached_tokens = message.usage().cached_tokens();
    }
  }
  result.status = reader->Finish();
  return result;
}

TEST_F(ContextApiTest, GrpcContextsService) {
  auto contexts = pb::Contexts::NewStub(stack_->channel);
  auto inference = pb::Inference::NewStub(stack_->channel);
  pb::CreateContextRequest create;
  auto* chat = create.mutable_chat();
  auto* system = chat->add_messages();
  system->set_role("system");
  system->set_content("You answer questions about birds, briefly and kindly.");
  auto* user = chat->add_messages();
  user->set_role("user");
  user->set_content("Which finch is golden?");
  create.set_ttl_seconds(900);
  create.set_name("grpc");
  pb::Context created;
  grpc::Status status = contexts->CreateContext(Ctx().get(), create, &created);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_TRUE(IsValidContextId(created.id()));
  EXPECT_EQ(created.model(), kModelId);
  EXPECT_EQ(created.name(), "grpc");
  EXPECT_EQ(created.expires_at() - created.created(), 900);
  EXPECT_EQ(created.tokens(),
            std::string("System: You answer questions about birds, briefly and kindly.\n\n"
                        "User: Which finch is golden?\n\n")
                .size());

  // The same context over HTTP (one API, two protocols).
  Reply over_http = Call("GET", "/v1/contexts/" + created.id());
  ASSERT_EQ(over_http.status, 200);
  EXPECT_EQ(over_http.body["tokens"], created.tokens());

  pb::GetContextRequest get;
  get.set_id(created.id());
  pb::Context got;
  ASSERT_TRUE(contexts->GetContext(Ctx().get(), get, &got).ok());
  EXPECT_EQ(got.expires_at(), created.expires_at());
  status = contexts->GetContext(Ctx(kKeyB).get(), get, &got);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(status.error_message().rfind("id: ", 0), 0u) << status.error_message();
  EXPECT_EQ(contexts->GetContext(Ctx("").get(), get, &got).error_code(),
            grpc::StatusCode::UNAUTHENTICATED);

  pb::ListContextsResponse listed;
  ASSERT_TRUE(contexts->ListContexts(Ctx().get(), pb::ListContextsRequest(), &listed).ok());
  bool found = false;
  for (const auto& item : listed.contexts()) found = found || item.id() == created.id();
  EXPECT_TRUE(found);

  // Generate with context_id = the full conversation without the cache.
  pb::GenerateRequest generate;
  generate.set_context_id(created.id());
  auto* next = generate.mutable_chat()->add_messages();
  next->set_role("user");
  next->set_content("And in winter?");
  generate.mutable_sampling()->set_temperature(0.0f);
  (*generate.mutable_sampling()->mutable_logit_bias())[0] = -100.0f;
  generate.set_max_tokens(10);
  GenerateResult with_context = Generate(*inference, generate);
  ASSERT_TRUE(with_context.status.ok()) << with_context.status.error_message();
  pb::GenerateRequest full = generate;
  full.clear_context_id();
  full.set_cache_prompt(false);
  full.mutable_chat()->clear_messages();
  *full.mutable_chat()->add_messages() = *system;
  *full.mutable_chat()->add_messages() = *user;
  *full.mutable_chat()->add_messages() = *next;
  GenerateResult reference = Generate(*inference, full);
  ASSERT_TRUE(reference.status.ok()) << reference.status.error_message();
  EXPECT_EQ(with_context.text, reference.text);
  EXPECT_EQ(with_context.prompt_tokens, reference.prompt_tokens);
  EXPECT_GE(with_context.cached_tokens + 1, created.tokens());
  GenerateResult foreign = Generate(*inference, generate, kKeyB);
  EXPECT_EQ(foreign.status.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(foreign.status.error_message().rfind("context_id: ", 0), 0u);

  pb::PinContextRequest pin;
  pin.set_id(created.id());
  pin.set_ttl_seconds(2592001);
  pb::Context pinned;
  status = contexts->PinContext(Ctx().get(), pin, &pinned);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(status.error_message().rfind("ttl_seconds: ", 0), 0u) << status.error_message();
  pin.set_ttl_seconds(60);
  ASSERT_TRUE(contexts->PinContext(Ctx().get(), pin, &pinned).ok());
  EXPECT_LE(pinned.expires_at(), UnixNow() + 60);
  EXPECT_GE(pinned.expires_at(), UnixNow() + 59);

  pb::CreateContextRequest bad;
  bad.set_text("short");
  pb::Context unused;
  status = contexts->CreateContext(Ctx().get(), bad, &unused);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(status.error_message().rfind("text: ", 0), 0u) << status.error_message();
  bad.mutable_tokens()->add_ids(500);
  status = contexts->CreateContext(Ctx().get(), bad, &unused);
  EXPECT_EQ(status.error_message().rfind("tokens.ids[0]: ", 0), 0u) << status.error_message();

  pb::DeleteContextRequest del;
  del.set_id(created.id());
  pb::DeleteContextResponse deleted;
  EXPECT_EQ(contexts->DeleteContext(Ctx(kKeyB).get(), del, &deleted).error_code(),
            grpc::StatusCode::NOT_FOUND);
  ASSERT_TRUE(contexts->DeleteContext(Ctx().get(), del, &deleted).ok());
  EXPECT_TRUE(deleted.deleted());
  EXPECT_EQ(deleted.id(), created.id());
  EXPECT_EQ(contexts->GetContext(Ctx().get(), get, &got).error_code(), grpc::StatusCode::NOT_FOUND);
}

// A client that cancels CreateContext mid-creation stops it: the call ends CANCELLED, and once
// the engine is idle no context was registered (a creation left running would have registered
// one about half a second later).
TEST_F(ContextApiTest, GrpcCreateContextCancelledByTheClientCreatesNothing) {
  auto contexts = pb::Contexts::NewStub(stack_->channel);
  pb::CreateContextRequest create;
  std::string text;
  while (text.size() < 3000) text += "A long document that the client gives up on. ";
  create.set_text(text);
  create.set_cache_salt("cancelled-create");
  auto context = Ctx();
  pb::Context created;
  std::mutex mu;
  std::condition_variable cv;
  std::optional<grpc::Status> finished;
  contexts->async()->CreateContext(context.get(), &create, &created, [&](grpc::Status status) {
    std::lock_guard<std::mutex> lock(mu);
    finished = status;
    cv.notify_all();
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  context->TryCancel();
  {
    std::unique_lock<std::mutex> lock(mu);
    ASSERT_TRUE(cv.wait_for(lock, std::chrono::seconds(60), [&] { return finished.has_value(); }));
  }
  EXPECT_EQ(finished->error_code(), grpc::StatusCode::CANCELLED) << finished->error_message();
  ASSERT_TRUE(stack_->engine->WaitIdle(std::chrono::seconds(60)));
  ASSERT_TRUE(stack_->engine->WaitForCacheWrites(std::chrono::seconds(60)));
  std::this_thread::sleep_for(std::chrono::milliseconds(200));  // the creation's last steps
  pb::ListContextsRequest list;
  list.set_cache_salt("cancelled-create");
  pb::ListContextsResponse listed;
  const grpc::Status status = contexts->ListContexts(Ctx().get(), list, &listed);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(listed.contexts_size(), 0);
}
#endif

}  // namespace
}  // namespace gf::server::context_api_test
