#include "server/grpc/grpc_call_common.h"

#include "server/logging.h"
#include "server/metrics.h"
#include "server/request_id.h"
#include "server/status_mapping.h"

namespace gf::server {

std::string AuthorizationValue(const grpc::CallbackServerContext& context) {
  const auto& metadata = context.client_metadata();
  const auto it = metadata.find("authorization");
  if (it == metadata.end()) return "";
  return std::string(it->second.data(), it->second.size());
}

StatusOr<GrpcAdmission> AdmitGrpcCall(const ServerState& state, const ApiKeyStore& keys,
                                      const grpc::CallbackServerContext& context) {
  GrpcAdmission admitted;
  StatusOr<std::string> tenant = keys.Authenticate(AuthorizationValue(context));
  if (!tenant.ok()) return tenant.status();
  admitted.tenant = std::move(*tenant);
  if (state.draining.load()) {
    return Unavailable("the server is shutting down; retry on another replica");
  }
  admitted.routes = state.routes.load();
  if (admitted.routes == nullptr) return Unavailable("the model is loading; retry shortly");
  return admitted;
}

grpc::Status ToGrpcStatus(const Status& status) {
  if (status.ok()) return grpc::Status::OK;
  return grpc::Status(static_cast<grpc::StatusCode>(MapStatus(status.code()).grpc_code),
                      status.message());
}

const char* RejectionReasonFor(StatusCode code) {
  switch (code) {
    case StatusCode::kUnauthenticated:
      return "unauthorized";
    case StatusCode::kNotFound:
      return "not_found";
    case StatusCode::kResourceExhausted:
      return "queue_full";
    case StatusCode::kUnavailable:
      return "not_ready";
    case StatusCode::kOutOfRange:
      return "context_length";
    default:
      return "invalid_request";
  }
}

void FinishUnaryCall(grpc::ServerUnaryReactor* reactor, ServerMetrics& metrics,
                     const std::string& route, std::string_view method, const Status& status,
                     const std::string& tenant, std::chrono::steady_clock::time_point arrival) {
  const ErrorMapping mapping = MapStatus(status.code());
  metrics.ObserveGrpcRequest(method, mapping.grpc_code);
  if (!status.ok()) metrics.ObserveRejected(RejectionReasonFor(status.code()));
  RequestLogFields fields;
  fields.request_id = GenerateRequestId();
  fields.tenant = tenant;
  fields.route = route;
  fields.method = "POST";
  fields.status = mapping.grpc_code;
  fields.duration_ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - arrival).count();
  if (!status.ok()) fields.error_type = mapping.error_type;
  LogRequest(fields);
  reactor->Finish(ToGrpcStatus(status));
}

}  // namespace gf::server
