// What every goldfinch gRPC service does before and after a call: read the API key from the
// `authorization` metadata, admit the call (auth, then readiness), map a Status to a grpc::Status
// through the one status table, and name the rejection reason for the metrics.
// Pure functions over the given objects; thread-safe as those are.
#pragma once

#include <grpcpp/grpcpp.h>

#include <string>

#include "common/status.h"
#include "server/auth.h"
#include "server/router.h"

namespace gf::server {

class OpenAiRoutes;

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

}  // namespace gf::server
