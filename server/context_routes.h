// The HTTP routes of the explicit context API (OpenAI-style JSON; docs/api.md "Contexts"), and
// the `context` field of POST /v1/completions and /v1/chat/completions.
//
//   POST   /v1/contexts            create: {model, prompt | messages, ttl_seconds?, cache_salt?,
//                                  name?} -> the context object
//   GET    /v1/contexts            {"object":"list","data":[context objects, oldest first]}
//   GET    /v1/contexts/{id}       the context object
//   POST   /v1/contexts/{id}/pin   {ttl_seconds?, cache_salt?} -> the context object (re-pinned;
//                                  ttl_seconds 0 expires it now)
//   DELETE /v1/contexts/{id}       {"id","object":"context.deleted","deleted":true}
// The context object: {"id","object":"context","created","model","tokens","expires_at","name"}
// (tokens = its token count; created / expires_at in unix seconds; name null when unset).
//
// Namespaces: a context belongs to the API key's tenant and the cache_salt it was created with
// (POST bodies: "cache_salt"; GET and DELETE: the query parameter ?cache_salt=...). Unknown,
// expired and foreign ids all answer 404 not_found_error, code "context_not_found".
// Errors are OpenAI error objects (api_error.h): 400 with param for bad fields, 404 as above,
// 405 for a wrong method, 429 (code "context_limit_reached") when the tenant has too many
// contexts, 503 when the server has no prefix cache or cannot keep the context's state.
//
// Threads: handlers run on HTTP I/O threads and never wait for inference: a create answers from
// the ContextApi's worker when the engine is done; the others touch only the registry (pin and
// delete do one small cache I/O). A client that disconnects during a create cancels it.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "engine/serving/request.h"
#include "server/http/http_types.h"
#include "server/metrics.h"
#include "server/openai/api_error.h"
#include "server/openai_routes.h"

namespace gf::server {

// Whether `path` is "/v1/contexts" or below it.
bool IsContextPath(std::string_view path);
// The metrics/log label of a context path: "/v1/contexts", "/v1/contexts/{id}",
// "/v1/contexts/{id}/pin"; "other" for anything else below /v1/contexts.
std::string ContextRoutePattern(std::string_view path);

// Serves one request on a context path (method dispatch included).
void HandleContextRequest(const OpenAiRoutes& routes, ServerMetrics& metrics,
                          const HttpRequest& request, const RequestContext& context,
                          const std::shared_ptr<ResponseWriter>& writer);

// The `context` field of a completion (chat = false) or chat request body that the parser
// already accepted: when present, prepends the context's tokens to every request
// (PrependContext). Errors: 400 "context" (not a string), 404 "context" context_not_found,
// 503 (no prefix cache), 400 context_length_exceeded (params as the parsers use them).
std::optional<ApiError> ApplyContextField(const OpenAiRoutes& routes, const RequestContext& context,
                                          std::string_view body, bool chat,
                                          std::vector<GenerateRequest>* requests);

}  // namespace gf::server
