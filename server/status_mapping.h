// The one table that maps engine Status codes to HTTP status codes, OpenAI error types and gRPC
// status codes. Every error the server returns goes through it.
#pragma once

#include "common/status.h"

namespace gf::server {

struct ErrorMapping {
  int http_status;         // e.g. 400
  const char* error_type;  // OpenAI "type": invalid_request_error, authentication_error, ...
  int grpc_code;           // canonical gRPC code (numerically equal to StatusCode)
};

ErrorMapping MapStatus(StatusCode code);

}  // namespace gf::server
