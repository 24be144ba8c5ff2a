// OpenAiRoutes: the handlers of the OpenAI-compatible API and the tokenizer utilities:
// POST /v1/completions, POST /v1/chat/completions, GET /v1/models, GET /v1/models/{id},
// POST /tokenize, POST /detokenize.
//
// Each handler parses and validates the whole request on the calling I/O thread (no inference),
// so every error goes out before any 200 or SSE header; then it submits the engine requests
// through a ResponseGroup and returns; the response is completed from the engine thread.
// Engine admission errors map through status_mapping: queue full -> 429 with Retry-After,
// draining -> 503 with Retry-After, context overflow -> 400 context_length_exceeded.
// Thread-safe: the object is immutable after construction; the engine is thread-safe.
#pragma once

#include <atomic>
#include <chrono>
#include <memory>
#include <string>

#include "engine/serving/engine.h"
#include "server/cache_namespace.h"
#include "server/http/http_types.h"
#include "server/metrics.h"
#include "server/openai/chat_template.h"
#include "server/openai/json_limits.h"
#include "server/openai/request_parser.h"

namespace gf::server {

class ContextApi;

// What a handler knows about the request besides the HTTP message.
struct RequestContext {
  std::string request_id;
  std::string tenant;
  std::string route;  // the route pattern, for logs and metrics
  std::chrono::steady_clock::time_point arrival;
  // Set once the request reached the engine: its log line then comes from the response group
  // (with token counts) instead of the router's access log.
  std::shared_ptr<std::atomic<bool>> logged_by_group;
};

struct ApiConfig {
  ModelInfo model;
  ApiLimits limits;
  std::chrono::duration<double> request_timeout{600.0};
  int64_t created = 0;  // unix seconds the model was loaded (the "created" of /v1/models)
  // Prefix-cache namespaces (tenant salts); default: a random per-process secret.
  CacheNamespaces cache_namespaces;
  // The named-context API (server/context_api.h); null when the server has no prefix cache
  // (the /v1/contexts routes and the `context` field then answer 503).
  std::shared_ptr<ContextApi> contexts;
};

class OpenAiRoutes {
 public:
  OpenAiRoutes(Engine& engine, ChatTemplate chat_template, ApiConfig config,
               ServerMetrics& metrics);

  void Completions(const HttpRequest& request, const RequestContext& context,
                   std::shared_ptr<ResponseWriter> writer) const;
  void ChatCompletions(const HttpRequest& request, const RequestContext& context,
                       std::shared_ptr<ResponseWriter> writer) const;
  void ListModels(std::shared_ptr<ResponseWriter> writer) const;
  void GetModel(std::string_view id, std::shared_ptr<ResponseWriter> writer) const;
  void Tokenize(const HttpRequest& request, std::shared_ptr<ResponseWriter> writer) const;
  void Detokenize(const HttpRequest& request, std::shared_ptr<ResponseWriter> writer) const;

  const ModelInfo& model() const { return config_.model; }
  const ApiConfig& config() const { return config_; }
  const ChatTemplate& chat_template() const { return chat_template_; }
  Engine& engine() const { return engine_; }

 private:
  void SendError(const ApiError& error, ResponseWriter& writer) const;
  // Submits the choices and starts the response, or sends the admission error.
  void Launch(struct ResponseSpec spec, std::vector<GenerateRequest> requests,
              const RequestContext& context, std::shared_ptr<ResponseWriter> writer) const;

  Engine& engine_;
  ChatTemplate chat_template_;
  ApiConfig config_;
  ServerMetrics& metrics_;
};

// The reason label of goldfinch_rejected_requests_total for an API error.
std::string RejectionReason(const ApiError& error);

// Sends `error` as the OpenAI error object (with retry-after for 429/503).
void SendApiError(const ApiError& error, ResponseWriter& writer);

}  // namespace gf::server
