// ApiError: one OpenAI-shaped error response, and the constructors the parsers use.
//
// Contract: plain values, no shared state, thread-safe. An ApiError is what the HTTP layer sends
// as the body {"error":{"message","type","param","code"}} with status `http_status`; an empty
// `param` or `code` is rendered as JSON null. Messages may quote request text; ErrorJson never
// throws (invalid UTF-8 is replaced by U+FFFD).
//
// Conventions used by every parser here (see shared/docs/serving-conventions.md A1):
//   bad request  -> 400 "invalid_request_error", param = the offending field ("" for the body)
//   unknown model -> 404 "not_found_error", param "model", code "model_not_found" (the type
//                    matches server/status_mapping for kNotFound; the SDK keys on the status)
//   internal bug -> 500 "server_error"
#pragma once

#include <string>
#include <variant>

#include "common/status.h"

namespace gf::server {

struct ApiError {
  int http_status = 400;
  std::string type = "invalid_request_error";
  std::string message;
  std::string param;  // "" -> null
  std::string code;   // "" -> null
};

// Either the parsed value or the error to send instead.
template <typename T>
using ApiResult = std::variant<T, ApiError>;

// {"error":{"message":...,"type":...,"param":...|null,"code":...|null}}
std::string ErrorJson(const ApiError& error);

// 400 invalid_request_error.
ApiError InvalidRequest(std::string param, std::string message, std::string code = "");
// 404 not_found_error, param "model", code "model_not_found".
ApiError ModelNotFound(const std::string& requested_model);
// 500 server_error, no param.
ApiError ServerError(std::string message);
// Any non-ok Status through server/status_mapping (http status and type); `param` optional.
ApiError ApiErrorFromStatus(const Status& status, std::string param = "");

}  // namespace gf::server
