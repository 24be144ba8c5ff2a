// Router: the single HTTP handler of `goldfinch serve`. For every request it assigns the request
// id (a valid X-Request-Id is echoed, else one is generated; sent back as x-request-id), applies
// authentication (default deny: every path needs a key when keys are configured, except the
// public allowlist of auth.h), gates the API on readiness (503 + Retry-After while loading or
// draining), dispatches on exact method + path, counts the response in the metrics and writes
// the access log line.
//
// Routes: GET /health (liveness), GET /ready (readiness), GET /metrics, GET /v1/models,
// GET /v1/models/{id}, POST /v1/completions, POST /v1/chat/completions, POST /tokenize,
// POST /detokenize, and the context routes under /v1/contexts (server/context_routes.h).
// Unknown path -> 404, known path with another method -> 405 (both as OpenAI error objects).
// Threads: Handle runs on HTTP I/O threads; ServerState is read atomically.
#pragma once

#include <atomic>
#include <memory>

#include "server/auth.h"
#include "server/http/http_types.h"
#include "server/metrics.h"
#include "server/openai_routes.h"

namespace gf::server {

// Shared between the router and the serve command.
struct ServerState {
  std::atomic<OpenAiRoutes*> routes{nullptr};  // set once the model is loaded
  std::atomic<Engine*> engine{nullptr};
  std::atomic<bool> draining{false};  // SIGTERM received
};

class Router {
 public:
  Router(ServerState& state, const ApiKeyStore& keys, ServerMetrics& metrics, bool public_metrics);

  void Handle(HttpRequest request, std::shared_ptr<ResponseWriter> writer);

 private:
  void Dispatch(const HttpRequest& request, const RequestContext& context,
                const std::shared_ptr<ResponseWriter>& writer);

  ServerState& state_;
  const ApiKeyStore& keys_;
  ServerMetrics& metrics_;
  bool public_metrics_;
};

}  // namespace gf::server
