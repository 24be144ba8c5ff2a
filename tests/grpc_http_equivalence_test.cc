// HTTP/gRPC equivalence of request conversion: the same values fed through ParseCompletion /
// ParseChat (server/openai) and ConvertGenerateRequest (server/grpc) are accepted or rejected
// alike, give identical engine requests, and context-length rejections carry the same message.
#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "tests/grpc_request_fixture.h"

namespace gf::server {
namespace {

// The same request in both APIs: `json` are the extra fields of a POST /v1/completions (or
// chat) body, `mutate` sets the equivalent gRPC fields.
struct EquivalentCase {
  std::string name;
  std::string json;
  Mutation mutate;
};

// Compares everything the two APIs put into the engine request (not the seed when unset).
void ExpectSameEngineRequest(const GenerateRequest& http, const GenerateRequest& grpc) {
  EXPECT_EQ(http.prompt, grpc.prompt);
  EXPECT_EQ(http.max_tokens, grpc.max_tokens);
  EXPECT_EQ(http.sampling.temperature, grpc.sampling.temperature);
  EXPECT_EQ(http.sampling.top_k, grpc.sampling.top_k);
  EXPECT_EQ(http.sampling.top_p, grpc.sampling.top_p);
  EXPECT_EQ(http.sampling.min_p, grpc.sampling.min_p);
  EXPECT_EQ(http.sampling.repetition_penalty, grpc.sampling.repetition_penalty);
  EXPECT_EQ(http.sampling.presence_penalty, grpc.sampling.presence_penalty);
  EXPECT_EQ(http.sampling.frequency_penalty, grpc.sampling.frequency_penalty);
  auto http_bias = http.sampling.logit_bias;
  std::sort(http_bias.begin(), http_bias.end());
  EXPECT_EQ(http_bias, grpc.sampling.logit_bias);
  EXPECT_EQ(http.sampling.banned_ids, grpc.sampling.banned_ids);
  EXPECT_EQ(http.sampling.top_logprobs, grpc.sampling.top_logprobs);
  EXPECT_EQ(http.stop, grpc.stop);
  EXPECT_EQ(http.stop_token_ids, grpc.stop_token_ids);
  EXPECT_EQ(http.ignore_eos, grpc.ignore_eos);
  EXPECT_EQ(http.logprobs, grpc.logprobs);
  EXPECT_EQ(http.prompt_logprobs, grpc.prompt_logprobs);
}

// Both accept (identical engine requests) or both reject; context-length rejections carry the
// same message.
void ExpectEquivalent(const ApiResult<GenerateRequest>& http,
                      const StatusOr<ConvertedGenerate>& grpc) {
  if (const auto* error = std::get_if<ApiError>(&http)) {
    ASSERT_FALSE(grpc.ok()) << "HTTP rejected (" << error->param << ": " << error->message
                            << ") but gRPC accepted";
    EXPECT_EQ(grpc.status().code(), StatusCode::kInvalidArgument);
    if (error->code == "context_length_exceeded") {
      const std::string& message = grpc.status().message();
      const size_t colon = message.find(": ");
      ASSERT_NE(colon, std::string::npos);
      EXPECT_EQ(message.substr(colon + 2), error->message);
    }
    return;
  }
  ASSERT_TRUE(grpc.ok()) << "gRPC rejected (" << grpc.status().message() << ") but HTTP accepted";
  ExpectSameEngineRequest(std::get<GenerateRequest>(http), grpc->request);
}

std::vector<EquivalentCase> SharedFieldCases() {
  std::vector<EquivalentCase> cases;
  const auto add_float = [&](const std::string& key, double value,
                             void (pb::SamplingParams::*set)(float)) {
    cases.push_back({key + "=" + std::to_string(value), "\"" + key + "\":" + std::to_string(value),
                     [=](pb::GenerateRequest* r) {
                       (r->mutable_sampling()->*set)(static_cast<float>(value));
                     }});
  };
  for (double v : {0.0, 0.5, 2.0, 2.5, -0.5}) {
    add_float("temperature", v, &pb::SamplingParams::set_temperature);
  }
  for (double v : {0.0, 0.25, 1.0, 1.5, -1.0})
    add_float("top_p", v, &pb::SamplingParams::set_top_p);
  for (double v : {0.0, 0.75, 1.0, 1.25, -0.25}) {
    add_float("min_p", v, &pb::SamplingParams::set_min_p);
  }
  for (double v : {-2.0, 0.5, 2.0, 2.5, -2.5}) {
    add_float("presence_penalty", v, &pb::SamplingParams::set_presence_penalty);
    add_float("frequency_penalty", v, &pb::SamplingParams::set_frequency_penalty);
  }
  for (double v : {0.0, 0.5, 1.0, 2.0, 2.5, -1.0}) {
    add_float("repetition_penalty", v, &pb::SamplingParams::set_repetition_penalty);
  }
  for (int k : {-2, -1, 0, 7}) {
    cases.push_back({"top_k=" + std::to_string(k), "\"top_k\":" + std::to_string(k),
                     [=](pb::GenerateRequest* r) { r->mutable_sampling()->set_top_k(k); }});
  }
  const auto bias = [](std::vector<std::pair<int32_t, float>> entries) {
    return [=](pb::GenerateRequest* r) {
      for (const auto& [id, value] : entries)
        (*r->mutable_sampling()->mutable_logit_bias())[id] = value;
    };
  };
  cases.push_back({"bias ok", R"("logit_bias":{"10":100,"9":-100,"256":0.5})",
                   bias({{10, 100.0f}, {9, -100.0f}, {256, 0.5f}})});
  cases.push_back({"bias 100.5", R"("logit_bias":{"5":100.5})", bias({{5, 100.5f}})});
  cases.push_back({"bias id 257", R"("logit_bias":{"257":1})", bias({{257, 1.0f}})});
  const auto stops = [](std::vector<std::string> list) {
    return [=](pb::GenerateRequest* r) {
      for (const std::string& s : list) r->add_stop(s);
    };
  };
  cases.push_back({"4 stops", R"("stop":["a","b","c","d"])", stops({"a", "b", "c", "d"})});
  cases.push_back({"5 stops", R"("stop":["a","b","c","d","e"])", stops({"a", "b", "c", "d", "e"})});
  cases.push_back({"empty stop", R"("stop":[""])", stops({""})});
  cases.push_back({"256-byte stop", "\"stop\":[\"" + std::string(256, 's') + "\"]",
                   stops({std::string(256, 's')})});
  cases.push_back({"257-byte stop", "\"stop\":[\"" + std::string(257, 's') + "\"]",
                   stops({std::string(257, 's')})});
  cases.push_back({"ignore_eos", R"("ignore_eos":true)",
                   [](pb::GenerateRequest* r) { r->set_ignore_eos(true); }});
  return cases;
}

TEST_F(GrpcRequestTest, SameAsCompletions) {
  std::vector<EquivalentCase> cases = SharedFieldCases();
  for (int max_tokens : {0, 16, 62, 63}) {
    cases.push_back({"max_tokens=" + std::to_string(max_tokens),
                     "\"max_tokens\":" + std::to_string(max_tokens),
                     [=](pb::GenerateRequest* r) { r->set_max_tokens(max_tokens); }});
  }
  // Completions' `logprobs: k` is gRPC's logprobs + top_logprobs k (k <= 5 there).
  for (int k : {0, 3, 5}) {
    for (bool echo : {false, true}) {
      cases.push_back(
          {"logprobs=" + std::to_string(k) + (echo ? " echo" : ""),
           "\"logprobs\":" + std::to_string(k) + ",\"echo\":" + (echo ? "true" : "false"),
           [=](pb::GenerateRequest* r) {
             r->set_logprobs(true);
             r->set_top_logprobs(static_cast<uint32_t>(k));
             r->set_echo(echo);
           }});
    }
  }
  cases.push_back(
      {"echo only", R"("echo":true)", [](pb::GenerateRequest* r) { r->set_echo(true); }});
  cases.push_back({"long text", "\"prompt\":\"" + std::string(60, 'a') + "\"",
                   [](pb::GenerateRequest* r) { r->set_text(std::string(60, 'a')); }});
  cases.push_back({"token ids", R"("prompt":[0,1,256])", [](pb::GenerateRequest* r) {
                     for (int id : {0, 1, 256}) r->mutable_tokens()->add_ids(id);
                   }});
  cases.push_back({"token id 257", R"("prompt":[257])",
                   [](pb::GenerateRequest* r) { r->mutable_tokens()->add_ids(257); }});
  cases.push_back({"control marker", R"("prompt":"<|endoftext|>")",
                   [](pb::GenerateRequest* r) { r->set_text("<|endoftext|>"); }});
  for (const ApiLimits limits : {ApiLimits{}, ApiLimits{.max_tokens_cap = 10}}) {
    limits_ = limits;
    for (const EquivalentCase& c : cases) {
      SCOPED_TRACE(c.name + " cap " + std::to_string(limits.max_tokens_cap));
      // "prompt" may be overridden: JSON keeps the last duplicate key.
      const std::string body = CompletionBody(c.json + ",\"seed\":7");
      const ApiResult<CompletionRequest> parsed = Completion(body);
      ApiResult<GenerateRequest> http = ApiError{};
      if (const auto* request = std::get_if<CompletionRequest>(&parsed)) {
        ASSERT_EQ(request->prompts.size(), 1u);
        GenerateRequest base = request->base;
        base.prompt = request->prompts[0];
        http = std::move(base);
      } else {
        http = std::get<ApiError>(parsed);
      }
      const auto grpc = Convert(TextRequest([&](pb::GenerateRequest* r) {
        r->mutable_sampling()->set_seed(7);
        c.mutate(r);
      }));
      ExpectEquivalent(http, grpc);
      if (grpc.ok()) {
        EXPECT_EQ(grpc->request.sampling.seed, 7u);
        EXPECT_EQ(std::get<GenerateRequest>(http).sampling.seed, 7u);
        EXPECT_EQ(grpc->echo, std::get<CompletionRequest>(parsed).echo);
      }
    }
  }
}

TEST_F(GrpcRequestTest, SameAsChatCompletions) {
  std::vector<EquivalentCase> cases = SharedFieldCases();
  cases.push_back({"no max_tokens", "", nullptr});
  for (int max_tokens : {0, 5, 30, 60}) {
    cases.push_back({"max_tokens=" + std::to_string(max_tokens),
                     "\"max_tokens\":" + std::to_string(max_tokens),
                     [=](pb::GenerateRequest* r) { r->set_max_tokens(max_tokens); }});
  }
  cases.push_back(
      {"logprobs top 20", R"("logprobs":true,"top_logprobs":20)", [](pb::GenerateRequest* r) {
         r->set_logprobs(true);
         r->set_top_logprobs(20);
       }});
  cases.push_back(
      {"logprobs top 21", R"("logprobs":true,"top_logprobs":21)", [](pb::GenerateRequest* r) {
         r->set_logprobs(true);
         r->set_top_logprobs(21);
       }});
  cases.push_back({"top_logprobs without logprobs", R"("top_logprobs":2)",
                   [](pb::GenerateRequest* r) { r->set_top_logprobs(2); }});
  const auto messages = [](std::vector<std::pair<std::string, std::string>> list) {
    return [=](pb::GenerateRequest* r) {
      r->mutable_chat()->Clear();
      for (const auto& [role, content] : list) AddMessage(r, role, content);
    };
  };
  cases.push_back(
      {"conversation",
       R"("messages":[{"role":"developer","content":"x"},{"role":"user","content":"a\n\nb"},{"role":"assistant","content":" c "}])",
       messages({{"developer", "x"}, {"user", "a\n\nb"}, {"assistant", " c "}})});
  cases.push_back(
      {"tool role", R"("messages":[{"role":"tool","content":"x"}])", messages({{"tool", "x"}})});
  cases.push_back(
      {"long message",
       "\"messages\":[{\"role\":\"user\",\"content\":\"" + std::string(60, 'a') + "\"}]",
       messages({{"user", std::string(60, 'a')}})});
  cases.push_back(
      {"exactly full",  // 10 + 44 + 10 = 64 tokens: no room for one
       "\"messages\":[{\"role\":\"user\",\"content\":\"" + std::string(44, 'a') + "\"}]",
       messages({{"user", std::string(44, 'a')}})});
  for (const ApiLimits limits : {ApiLimits{}, ApiLimits{.max_tokens_cap = 10}}) {
    limits_ = limits;
    for (const EquivalentCase& c : cases) {
      SCOPED_TRACE(c.name + " cap " + std::to_string(limits.max_tokens_cap));
      const ApiResult<ChatRequest> parsed =
          Chat(ChatBody(c.json + (c.json.empty() ? "" : ",") + "\"seed\":7"));
      ApiResult<GenerateRequest> http = ApiError{};
      if (const auto* request = std::get_if<ChatRequest>(&parsed)) {
        GenerateRequest base = request->base;
        base.prompt = request->prompt;
        http = std::move(base);
      } else {
        http = std::get<ApiError>(parsed);
      }
      pb::GenerateRequest in;
      AddMessage(&in, "user", "hi");
      in.mutable_sampling()->set_seed(7);
      if (c.mutate) c.mutate(&in);
      ExpectEquivalent(http, Convert(in));
    }
  }
}

// The cache fields: accepted or rejected alike, converted to the same CacheRequestFields and so
// to the same engine cache options (same namespace for the same tenant and salt).
void ExpectSameCacheFields(const CacheRequestFields& http, const CacheRequestFields& grpc) {
  EXPECT_EQ(http.cache_prompt, grpc.cache_prompt);
  EXPECT_EQ(http.cache_salt, grpc.cache_salt);
  EXPECT_EQ(http.snapshot_hints, grpc.snapshot_hints);
  auto namespaces = CacheNamespaces::FromSecret("equivalence-test-secret");
  ASSERT_TRUE(namespaces.ok());
  const RequestCacheOptions a = namespaces->OptionsFor("tenant", http);
  const RequestCacheOptions b = namespaces->OptionsFor("tenant", grpc);
  EXPECT_EQ(a.enabled, b.enabled);
  EXPECT_EQ(a.salt_hash, b.salt_hash);
  EXPECT_EQ(a.snapshot_hints, b.snapshot_hints);
}

std::vector<EquivalentCase> CacheCases() {
  std::vector<EquivalentCase> cases;
  cases.push_back({"no cache fields", "", nullptr});
  for (const bool on : {false, true}) {
    cases.push_back({std::string("cache_prompt ") + (on ? "true" : "false"),
                     std::string("\"cache_prompt\":") + (on ? "true" : "false"),
                     [=](pb::GenerateRequest* r) { r->set_cache_prompt(on); }});
  }
  for (const size_t size : {size_t{0}, size_t{1}, size_t{256}, size_t{257}}) {
    const std::string salt(size, 'q');
    cases.push_back({"cache_salt of " + std::to_string(size), "\"cache_salt\":\"" + salt + "\"",
                     [=](pb::GenerateRequest* r) { r->set_cache_salt(salt); }});
  }
  cases.push_back(
      {"both", R"("cache_prompt":false,"cache_salt":"team")", [](pb::GenerateRequest* r) {
         r->set_cache_prompt(false);
         r->set_cache_salt("team");
       }});
  return cases;
}

TEST_F(GrpcRequestTest, CacheFieldsSameAsCompletions) {
  for (const EquivalentCase& c : CacheCases()) {
    SCOPED_TRACE(c.name);
    const auto http = Completion(CompletionBody(c.json));
    const auto grpc = Convert(TextRequest(c.mutate));
    if (std::holds_alternative<ApiError>(http)) {
      EXPECT_EQ(std::get<ApiError>(http).param, "cache_salt");
      ASSERT_FALSE(grpc.ok());
      EXPECT_EQ(grpc.status().message().rfind("cache_salt: ", 0), 0u);
      continue;
    }
    ASSERT_TRUE(grpc.ok()) << grpc.status().message();
    ExpectSameCacheFields(std::get<CompletionRequest>(http).cache, grpc->cache);
  }
}

TEST_F(GrpcRequestTest, CacheFieldsAndMarkersSameAsChatCompletions) {
  std::vector<EquivalentCase> cases = CacheCases();
  const auto conversation = [](std::vector<bool> markers) {
    return [=](pb::GenerateRequest* r) {
      r->mutable_chat()->Clear();
      AddMessage(r, "system", "s");
      AddMessage(r, "user", "question");
      AddMessage(r, "assistant", "answer");
      for (size_t i = 0; i < markers.size(); ++i) {
        r->mutable_chat()->mutable_messages(static_cast<int>(i))->set_cache_marker(markers[i]);
      }
    };
  };
  const std::string mark = R"(,"cache_control":{"type":"ephemeral"})";
  const auto messages = [&](std::vector<bool> markers) {
    std::string json = "\"messages\":[";
    const char* parts[] = {R"({"role":"system","content":"s")",
                           R"({"role":"user","content":"question")",
                           R"({"role":"assistant","content":"answer")"};
    for (size_t i = 0; i < 3; ++i) {
      if (i > 0) json += ",";
      json += std::string(parts[i]) + (i < markers.size() && markers[i] ? mark : "") + "}";
    }
    return json + "]";
  };
  cases.push_back({"three messages", messages({}), conversation({})});
  cases.push_back({"marked user message", messages({false, true}), conversation({false, true})});
  cases.push_back({"all marked", messages({true, true, true}), conversation({true, true, true})});
  for (const EquivalentCase& c : cases) {
    SCOPED_TRACE(c.name);
    const auto http = Chat(ChatBody(c.json));
    pb::GenerateRequest in;
    AddMessage(&in, "user", "hi");
    if (c.mutate) c.mutate(&in);
    const auto grpc = Convert(in);
    if (std::holds_alternative<ApiError>(http)) {
      EXPECT_EQ(std::get<ApiError>(http).param, "cache_salt");
      ASSERT_FALSE(grpc.ok());
      EXPECT_EQ(grpc.status().message().rfind("cache_salt: ", 0), 0u);
      continue;
    }
    ASSERT_TRUE(grpc.ok()) << grpc.status().message();
    const ChatRequest& request = std::get<ChatRequest>(http);
    EXPECT_EQ(request.prompt, grpc->request.prompt);
    EXPECT_FALSE(request.cache.snapshot_hints.empty());
    ExpectSameCacheFields(request.cache, grpc->cache);
  }
}

}  // namespace
}  // namespace gf::server
