// InferenceService: the goldfinch.v1.Inference gRPC service (proto/goldfinch/v1/inference.proto)
// on the callback API, next to the HTTP API and on the same engine.
//
// Contract:
// - Every method first checks the API key (when the ApiKeyStore is enabled: metadata
//   "authorization: Bearer KEY", else UNAUTHENTICATED), then readiness (UNAVAILABLE while the
//   model loads, i.e. ServerState::routes is null, and once ServerState::draining is set), then
//   converts the request (server/grpc/grpc_request.h: INVALID_ARGUMENT naming the field,
//   NOT_FOUND for another model). Engine admission errors map through server/status_mapping
//   (RESOURCE_EXHAUSTED queue full, UNAVAILABLE draining, INVALID_ARGUMENT context overflow).
// - Generate submits exactly one engine request. No thread blocks on the engine: the request's
//   sink (engine thread) renders each event into a GenerateResponse, queues it and starts a
//   write when none is in flight; OnWriteDone starts the next; after the last message the call
//   finishes OK, or with the mapped engine error (DEADLINE_EXCEEDED when the engine's deadline
//   fires; UNAVAILABLE when a shutdown cancelled it). The engine deadline is the earlier of the
//   call's deadline and arrival + the request timeout. A client cancel or a passed deadline
//   (OnCancel) cancels the engine request, so its sequence leaves the batch within one step;
//   the call's log line and metric say DEADLINE_EXCEEDED when the cancel came within 1 s of the
//   deadline (a client's expiring deadline reaches the server as a cancel), else CANCELLED.
// - Lifetime of a Generate call: a heap object shared by the handler's self-reference (released
//   in OnDone) and by the engine sink (released after the engine's final event), so it lives
//   until both have happened; the Engine and this service must outlive the grpc::Server.
// - Tokenize, Detokenize and ListModels answer inline on the gRPC callback thread with the
//   call's default unary reactor (no inference).
// - Observability: one request log line per finished call (server/logging.h, route
//   "/goldfinch.v1.Inference/<Method>", status = the gRPC code number); metrics
//   goldfinch_grpc_requests_total{method,code}, plus for Generate the same TTFT/ITL/e2e/queue
//   histograms, token histograms and finish counters as the HTTP API; calls refused before the
//   engine count in goldfinch_rejected_requests_total.
// Threads: all methods are thread-safe; ServerState is read atomically.
#pragma once

#include <chrono>
#include <string>
#include <string_view>

#include "goldfinch/v1/inference.grpc.pb.h"
#include "server/auth.h"
#include "server/grpc/grpc_call_common.h"
#include "server/metrics.h"
#include "server/router.h"

namespace gf::server {

class InferenceService final : public goldfinch::v1::Inference::CallbackService {
 public:
  // Keeps references: all three must outlive the service.
  InferenceService(ServerState& state, const ApiKeyStore& keys, ServerMetrics& metrics);

  grpc::ServerWriteReactor<goldfinch::v1::GenerateResponse>* Generate(
      grpc::CallbackServerContext* context, const goldfinch::v1::GenerateRequest* request) override;
  grpc::ServerUnaryReactor* Tokenize(grpc::CallbackServerContext* context,
                                     const goldfinch::v1::TokenizeRequest* request,
                                     goldfinch::v1::TokenizeResponse* response) override;
  grpc::ServerUnaryReactor* Detokenize(grpc::CallbackServerContext* context,
                                       const goldfinch::v1::DetokenizeRequest* request,
                                       goldfinch::v1::DetokenizeResponse* response) override;
  grpc::ServerUnaryReactor* ListModels(grpc::CallbackServerContext* context,
                                       const goldfinch::v1::ListModelsRequest* request,
                                       goldfinch::v1::ListModelsResponse* response) override;

  // The full method name used as the log route: "/goldfinch.v1.Inference/Generate".
  static std::string Route(std::string_view method);

 private:
  class GenerateCall;
  using Admitted = GrpcAdmission;
  // Auth, then readiness. Unauthenticated / Unavailable.
  StatusOr<Admitted> Admit(const grpc::CallbackServerContext& context) const;
  // Finishes a unary call with `status`; counts and logs it.
  grpc::ServerUnaryReactor* FinishUnary(grpc::CallbackServerContext* context,
                                        std::string_view method, const Status& status,
                                        const std::string& tenant,
                                        std::chrono::steady_clock::time_point arrival) const;

  ServerState& state_;
  const ApiKeyStore& keys_;
  ServerMetrics& metrics_;
};

}  // namespace gf::server
