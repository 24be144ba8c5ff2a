// ContextsService: the goldfinch.v1.Contexts gRPC service (proto/goldfinch/v1/contexts.proto),
// the twin of the HTTP context routes (server/context_routes.h) over the same ContextApi; and
// ApplyContextId, which resolves GenerateRequest.context_id for InferenceService.
//
// Contract:
// - Every method checks, in this order: the API key (the same "authorization: Bearer KEY"
//   metadata as goldfinch.v1.Inference, UNAUTHENTICATED), readiness (UNAVAILABLE while loading
//   or draining), the context API (UNAVAILABLE when the server has no prefix cache), then the
//   request. Field errors are INVALID_ARGUMENT with the field path first ("ttl_seconds: ...",
//   "tokens.ids[2]: ...", "chat.messages[0].role: ..."); unknown, expired and foreign ids are
//   NOT_FOUND "id: context '...' not found". Other codes come from server/status_mapping.
// - CreateContext does not block a gRPC thread: it finishes from the ContextApi's worker once the
//   context is registered. A client that cancels the call, or whose deadline passes, cancels
//   the creation (its engine request stops; no context is registered). The other methods answer
//   inline.
// - Observability: one log line per call (route "/goldfinch.v1.Contexts/<Method>", status = the
//   gRPC code) and goldfinch_grpc_requests_total{method,code}; refused calls also count in
//   goldfinch_rejected_requests_total.
// Threads: thread-safe; ServerState is read atomically. The service and the ContextApi must
// outlive the grpc::Server.
#pragma once

#include <chrono>
#include <functional>
#include <string>
#include <string_view>

#include "goldfinch/v1/contexts.grpc.pb.h"
#include "goldfinch/v1/inference.pb.h"
#include "server/auth.h"
#include "server/metrics.h"
#include "server/router.h"

namespace gf::server {

class ContextApi;

class ContextsService final : public goldfinch::v1::Contexts::CallbackService {
 public:
  // Keeps references: all three must outlive the service.
  ContextsService(ServerState& state, const ApiKeyStore& keys, ServerMetrics& metrics);

  grpc::ServerUnaryReactor* CreateContext(grpc::CallbackServerContext* context,
                                          const goldfinch::v1::CreateContextRequest* request,
                                          goldfinch::v1::Context* response) override;
  grpc::ServerUnaryReactor* GetContext(grpc::CallbackServerContext* context,
                                       const goldfinch::v1::GetContextRequest* request,
                                       goldfinch::v1::Context* response) override;
  grpc::ServerUnaryReactor* ListContexts(grpc::CallbackServerContext* context,
                                         const goldfinch::v1::ListContextsRequest* request,
                                         goldfinch::v1::ListContextsResponse* response) override;
  grpc::ServerUnaryReactor* PinContext(grpc::CallbackServerContext* context,
                                       const goldfinch::v1::PinContextRequest* request,
                                       goldfinch::v1::Context* response) override;
  grpc::ServerUnaryReactor* DeleteContext(grpc::CallbackServerContext* context,
                                          const goldfinch::v1::DeleteContextRequest* request,
                                          goldfinch::v1::DeleteContextResponse* response) override;

  // "/goldfinch.v1.Contexts/<method>".
  static std::string Route(std::string_view method);

 private:
  struct Admitted {
    const OpenAiRoutes* routes = nullptr;
    ContextApi* api = nullptr;
    std::string tenant;
  };
  StatusOr<Admitted> Admit(const grpc::CallbackServerContext& context) const;
  // Counts and logs the call, then finishes `reactor` with `status`.
  void Finish(grpc::ServerUnaryReactor* reactor, std::string_view method, const Status& status,
              const std::string& tenant, std::chrono::steady_clock::time_point arrival) const;
  // A synchronous unary call: admits it, runs `body`, then Finish with body's status.
  grpc::ServerUnaryReactor* Serve(grpc::CallbackServerContext* context, std::string_view method,
                                  const std::function<Status(const Admitted&)>& body) const;

  ServerState& state_;
  const ApiKeyStore& keys_;
  ServerMetrics& metrics_;
};

// GenerateRequest.context_id (when non-empty): the context of this tenant and cache_salt is put
// before out->prompt (PrependContext; max_tokens rules as ConvertGenerateRequest's). Errors:
// NOT_FOUND "context_id: ...", UNAVAILABLE without a prefix cache, INVALID_ARGUMENT
// "max_tokens: ..." / "<input path>: ..." when the whole prompt does not fit.
Status ApplyContextId(const OpenAiRoutes& routes, std::string_view tenant,
                      const goldfinch::v1::GenerateRequest& in, GenerateRequest* out);

}  // namespace gf::server
