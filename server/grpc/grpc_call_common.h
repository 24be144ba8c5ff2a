// What every goldfinch gRPC service does before and after a call: read the API key from the
// `authorization` metadata, admit the call (auth, then readiness), map a Status to a grpc::Status
// through the one status table, name the rejection reason for the metrics, and end a unary call
// (count, log, finish).
// Pure functions over the given objects; thread-safe as those are.
#pragma once

#include <grpcpp/grpcpp.h>

#include <chrono>
#include <string>
#include <string_view>

#include "common/status.h"
#include "server/auth.h"
#include "server/router.h"

namespace gf::server {

class OpenAiRoutes;
class ServerMetrics;

// The `authorization` metadata value ("" when absent).
std::string AuthorizationValue(const grpc::CallbackServerContext& context);

struct GrpcAdmission {
  const OpenAiRoutes* routes = nullptr;  // the loaded model's routes
  std::string tenant;                    // the API key's tenant ("" when auth is off)
};

// Auth, then readiness: Unauthenticated, or Unavailable while draining or loading.
StatusOr<GrpcAdmission> AdmitGrpcCall(const ServerState& state, const ApiKeyStore& keys,
                                      const grpc::CallbackServerContext& context);

// Status -> grpc::Status through server/status_mapping.
grpc::Status ToGrpcStatus(const Status& status);

// The reason label of goldfinch_rejected_requests_total for a call refused before the engine.
const char* RejectionReasonFor(StatusCode code);

// Ends a unary call: counts it (goldfinch_grpc_requests_total, and the rejection reason when it
// failed), writes its access-log line (route, tenant, status, duration since `arrival`) and
// finishes `reactor` with `status`.
void FinishUnaryCall(grpc::ServerUnaryReactor* reactor, ServerMetrics& metrics,
                     const std::string& route, std::string_view method, const Status& status,
                     const std::string& tenant, std::chrono::steady_clock::time_point arrival);

}  // namespace gf::server
