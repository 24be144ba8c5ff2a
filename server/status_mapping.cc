#include "server/status_mapping.h"

namespace gf::server {

ErrorMapping MapStatus(StatusCode code) {
  const int grpc = static_cast<int>(code);
  switch (code) {
    case StatusCode::kOk:
      return {200, "", grpc};
    case StatusCode::kInvalidArgument:
    case StatusCode::kOutOfRange:
    case StatusCode::kFailedPrecondition:
      return {400, "invalid_request_error", grpc};
    case StatusCode::kUnauthenticated:
      return {401, "authentication_error", grpc};
    case StatusCode::kPermissionDenied:
      return {403, "permission_error", grpc};
    case StatusCode::kNotFound:
      return {404, "not_found_error", grpc};
    case StatusCode::kAlreadyExists:
    case StatusCode::kAborted:
      return {409, "conflict_error", grpc};
    case StatusCode::kResourceExhausted:
      return {429, "rate_limit_error", grpc};
    case StatusCode::kCancelled:
      return {499, "cancelled", grpc};
    case StatusCode::kUnimplemented:
      return {501, "not_implemented_error", grpc};
    case StatusCode::kUnavailable:
      return {503, "service_unavailable", grpc};
    case StatusCode::kDeadlineExceeded:
      return {504, "timeout", grpc};
    case StatusCode::kUnknown:
    case StatusCode::kInternal:
    case StatusCode::kDataLoss:
      return {500, "server_error", grpc};
  }
  return {500, "server_error", static_cast<int>(StatusCode::kInternal)};
}

}  // namespace gf::server
