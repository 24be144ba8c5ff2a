#include "server/openai/api_error.h"

#include <utility>

#include "server/openai/json_limits.h"
#include "server/status_mapping.h"

namespace gf::server {

std::string ErrorJson(const ApiError& error) {
  using Json = nlohmann::ordered_json;  // OpenAI's key order: message, type, param, code
  Json body;
  Json& inner = body["error"];
  inner["message"] = error.message;
  inner["type"] = error.type;
  inner["param"] = error.param.empty() ? Json(nullptr) : Json(error.param);
  inner["code"] = error.code.empty() ? Json(nullptr) : Json(error.code);
  return DumpJson(body);
}

ApiError InvalidRequest(std::string param, std::string message, std::string code) {
  ApiError error;
  error.http_status = 400;
  error.type = "invalid_request_error";
  error.message = std::move(message);
  error.param = std::move(param);
  error.code = std::move(code);
  return error;
}

ApiError ModelNotFound(const std::string& requested_model) {
  ApiError error;
  error.http_status = 404;
  error.type = "not_found_error";
  error.message = "The model `" + requested_model + "` does not exist.";
  error.param = "model";
  error.code = "model_not_found";
  return error;
}

ApiError ServerError(std::string message) {
  ApiError error;
  error.http_status = 500;
  error.type = "server_error";
  error.message = std::move(message);
  return error;
}

ApiError ApiErrorFromStatus(const Status& status, std::string param) {
  const ErrorMapping mapping = MapStatus(status.code());
  ApiError error;
  if (status.ok()) {  // a caller bug: never report success as an error body
    error.http_status = 500;
    error.type = "server_error";
    error.message = "internal error (no error status)";
    return error;
  }
  error.http_status = mapping.http_status;
  error.type = mapping.error_type;
  error.message = status.message();
  error.param = std::move(param);
  return error;
}

}  // namespace gf::server
