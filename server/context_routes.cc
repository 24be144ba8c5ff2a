#include "server/context_routes.h"

#include <utility>

#include <nlohmann/json.hpp>

#include "server/context_api.h"
#include "server/openai/chat_parser.h"
#include "server/openai/json_limits.h"
#include "server/openai/request_parser.h"

namespace gf::server {
namespace {

using nlohmann::json;
using OrderedJson = nlohmann::ordered_json;

constexpr std::string_view kContextsPath = "/v1/contexts";

json::const_iterator FindSet(const json& body, const char* key) {
  const auto it = body.find(key);
  return it == body.end() || it->is_null() ? body.end() : it;
}

OrderedJson ContextObject(const ContextRecord& record, const std::string& model) {
  OrderedJson out;
  out["id"] = record.id;
  out["object"] = "context";
  out["created"] = record.created;
  out["model"] = model;
  out["tokens"] = record.num_tokens();
  out["expires_at"] = record.expires_at;
  out["name"] = record.name.empty() ? OrderedJson(nullptr) : OrderedJson(record.name);
  return out;
}

void SendBody(ResponseWriter& writer, const OrderedJson& body) {
  HttpResponse response;
  response.body = DumpJson(body);
  writer.Send(std::move(response));
}

// A Status of the context API as an OpenAI error; `param` names the field it concerns.
ApiError ContextError(const Status& status, const std::string& param) {
  ApiError error = ApiErrorFromStatus(status, param);
  if (status.code() == StatusCode::kNotFound) {
    error.code = "context_not_found";
  } else if (status.code() == StatusCode::kResourceExhausted &&
             status.message().rfind(kContextLimitMessage, 0) == 0) {
    error.code = "context_limit_reached";
  } else if (status.code() == StatusCode::kOutOfRange) {
    error.http_status = 400;
    error.type = "invalid_request_error";
    error.code = "context_length_exceeded";
  }
  if (status.code() == StatusCode::kUnavailable ||
      status.code() == StatusCode::kResourceExhausted || status.code() == StatusCode::kInternal) {
    error.param.clear();
  }
  return error;
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// The percent-decoded value of `key` in an application/x-www-form-urlencoded query ('+' is a
// space); nullopt when absent. A malformed escape is an error (param = key).
ApiResult<std::optional<std::string>> QueryValue(std::string_view query, std::string_view key) {
  while (!query.empty()) {
    const size_t amp = query.find('&');
    const std::string_view pair = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
    const size_t eq = pair.find('=');
    if (pair.substr(0, eq) != key) continue;
    const std::string_view raw = eq == std::string_view::npos ? "" : pair.substr(eq + 1);
    std::string value;
    for (size_t i = 0; i < raw.size(); ++i) {
      if (raw[i] == '+') {
        value.push_back(' ');
      } else if (raw[i] != '%') {
        value.push_back(raw[i]);
      } else if (i + 2 < raw.size() && HexValue(raw[i + 1]) >= 0 && HexValue(raw[i + 2]) >= 0) {
        value.push_back(static_cast<char>(HexValue(raw[i + 1]) * 16 + HexValue(raw[i + 2])));
        i += 2;
      } else {
        return InvalidRequest(std::string(key), "malformed percent-encoding in the query");
      }
    }
    return std::optional<std::string>(std::move(value));
  }
  return std::optional<std::string>();
}

// ?cache_salt=... of GET and DELETE.
ApiResult<std::optional<std::string>> QuerySalt(const HttpRequest& request) {
  auto salt = QueryValue(request.query, "cache_salt");
  if (auto* value = std::get_if<std::optional<std::string>>(&salt); value && value->has_value()) {
    if (auto problem = CacheSaltProblem(**value)) {
      return InvalidRequest("cache_salt", "'cache_salt' " + *problem + ".");
    }
  }
  return salt;
}

// The token ids of "prompt": a non-empty string or a non-empty array of ids in [0, vocab).
ApiResult<std::vector<TokenId>> ReadPromptTokens(const json& prompt, const OpenAiRoutes& routes) {
  if (prompt.is_string()) {
    const auto& text = prompt.get_ref<const std::string&>();
    std::vector<TokenId> ids = EncodeUserText(routes.engine().tokenizer(), text);
    if (ids.empty()) return InvalidRequest("prompt", "'prompt' must not be empty.");
    return ids;
  }
  if (!prompt.is_array() || prompt.empty()) {
    return InvalidRequest("prompt", "'prompt' must be a non-empty string or array of token ids.");
  }
  std::vector<TokenId> ids;
  ids.reserve(prompt.size());
  const int vocab = routes.model().vocab_size;
  for (size_t i = 0; i < prompt.size(); ++i) {
    const json& id = prompt[i];
    if (!id.is_number_integer() || id.get<int64_t>() < 0 || id.get<int64_t>() >= vocab) {
      return InvalidRequest("prompt", "'prompt[" + std::to_string(i) +
                                          "]' must be a token id in [0, " + std::to_string(vocab) +
                                          ").");
    }
    ids.push_back(static_cast<TokenId>(id.get<int64_t>()));
  }
  return ids;
}

// "messages": rendered exactly as chat renders them, up to the end of the last message (no
// generation prompt), so a later chat request with more messages continues the context.
std::optional<ApiError> ReadMessages(std::string_view body, const OpenAiRoutes& routes,
                                     ContextCreateInput* input) {
  const Tokenizer& tokenizer = routes.engine().tokenizer();
  ApiResult<ChatRequest> parsed =
      ParseChat(body, routes.model(), tokenizer, routes.chat_template(), routes.config().limits);
  if (auto* error = std::get_if<ApiError>(&parsed)) return *error;
  ChatRequest& chat = std::get<ChatRequest>(parsed);
  const std::vector<TokenId> tail = tokenizer.Encode(routes.chat_template().generation_prompt());
  const bool ends_with_tail =
      chat.prompt.size() >= tail.size() &&
      std::equal(tail.begin(), tail.end(), chat.prompt.end() - static_cast<ptrdiff_t>(tail.size()));
  if (!ends_with_tail) return ServerError("the chat template rendered an unexpected prompt");
  chat.prompt.resize(chat.prompt.size() - tail.size());
  input->tokens = std::move(chat.prompt);
  input->cache_salt = chat.cache.cache_salt;
  input->snapshot_hints = chat.cache.snapshot_hints;
  return std::nullopt;
}

class Handler {
 public:
  Handler(const OpenAiRoutes& routes, ServerMetrics& metrics, const HttpRequest& request,
          const RequestContext& context, const std::shared_ptr<ResponseWriter>& writer)
      : routes_(routes),
        metrics_(metrics),
        request_(request),
        context_(context),
        writer_(writer),
        api_(*routes.config().contexts) {}

  void Create();
  void List();
  void Get(std::string_view id);
  void Pin(std::string_view id);
  void Delete(std::string_view id);

  void Fail(const ApiError& error) const {
    metrics_.ObserveRejected(RejectionReason(error));
    SendApiError(error, *writer_);
  }

 private:
  // The salt of GET/DELETE (query) into *ns; false after sending the error.
  bool QueryNamespace(CacheNamespace* ns) const {
    auto salt = QuerySalt(request_);
    if (auto* error = std::get_if<ApiError>(&salt)) {
      Fail(*error);
      return false;
    }
    *ns = ContextNamespace(routes_, context_.tenant, std::get<std::optional<std::string>>(salt));
    return true;
  }

  const OpenAiRoutes& routes_;
  ServerMetrics& metrics_;
  const HttpRequest& request_;
  const RequestContext& context_;
  const std::shared_ptr<ResponseWriter>& writer_;
  ContextApi& api_;
};

void Handler::Create() {
  const ApiLimits& limits = routes_.config().limits;
  ApiResult<json> parsed = ParseJsonObject(request_.body, limits);
  if (auto* error = std::get_if<ApiError>(&parsed)) return Fail(*error);
  const json& body = std::get<json>(parsed);
  if (auto error = CheckModel(body, routes_.model())) return Fail(*error);
  const auto prompt = FindSet(body, "prompt");
  const bool has_messages = FindSet(body, "messages") != body.end();
  if ((prompt != body.end()) == has_messages) {
    return Fail(InvalidRequest(has_messages ? "messages" : "prompt",
                               "Exactly one of 'prompt' or 'messages' is required."));
  }
  ContextCreateInput input;
  input.tenant = context_.tenant;
  input.request_id = context_.request_id;
  if (auto e = ReadInt(body, "ttl_seconds", 1, kMaxContextTtlSeconds, &input.ttl_seconds)) {
    return Fail(*e);
  }
  if (auto e = ReadString(body, "name", &input.name)) return Fail(*e);
  if (input.name.size() > kMaxContextNameBytes) {
    return Fail(InvalidRequest(
        "name", "'name' must be at most " + std::to_string(kMaxContextNameBytes) + " bytes."));
  }
  const std::string input_param = has_messages ? "messages" : "prompt";
  if (has_messages) {
    if (auto e = ReadMessages(request_.body, routes_, &input)) return Fail(*e);
  } else {
    CacheRequestFields fields;
    if (auto e = ParseCacheFields(body, &fields)) return Fail(*e);
    input.cache_salt = fields.cache_salt;
    ApiResult<std::vector<TokenId>> ids = ReadPromptTokens(*prompt, routes_);
    if (auto* error = std::get_if<ApiError>(&ids)) return Fail(*error);
    input.tokens = std::move(std::get<std::vector<TokenId>>(ids));
  }
  if (Status status = CheckContextTokens(routes_, input.tokens.size()); !status.ok()) {
    return Fail(ContextError(status, input_param));
  }
  std::shared_ptr<ResponseWriter> writer = writer_;
  ServerMetrics* metrics = &metrics_;
  auto done = [writer, metrics, model = routes_.model().id](StatusOr<ContextRecord> created) {
    if (!created.ok()) {
      const ApiError error = ContextError(created.status(), "");
      metrics->ObserveRejected(RejectionReason(error));
      SendApiError(error, *writer);
      return;
    }
    SendBody(*writer, ContextObject(*created, model));
  };
  std::shared_ptr<ContextApi::Creation> creation =
      api_.Create(routes_, std::move(input), std::move(done));
  if (creation != nullptr) writer_->SetOnClose([creation] { creation->Cancel(); });
}

void Handler::List() {
  CacheNamespace ns;
  if (!QueryNamespace(&ns)) return;
  OrderedJson body;
  body["object"] = "list";
  body["data"] = OrderedJson::array();
  for (const ContextRecord& record : api_.registry().List(ns)) {
    body["data"].push_back(ContextObject(record, routes_.model().id));
  }
  SendBody(*writer_, body);
}

void Handler::Get(std::string_view id) {
  CacheNamespace ns;
  if (!QueryNamespace(&ns)) return;
  StatusOr<ContextRecord> record = api_.registry().Get(ns, id);
  if (!record.ok()) return Fail(ContextError(record.status(), "id"));
  SendBody(*writer_, ContextObject(*record, routes_.model().id));
}

void Handler::Pin(std::string_view id) {
  json body = json::object();
  if (!request_.body.empty()) {
    ApiResult<json> parsed = ParseJsonObject(request_.body, routes_.config().limits);
    if (auto* error = std::get_if<ApiError>(&parsed)) return Fail(*error);
    body = std::move(std::get<json>(parsed));
  }
  int64_t ttl = kDefaultContextTtlSeconds;
  if (auto e = ReadInt(body, "ttl_seconds", 0, kMaxContextTtlSeconds, &ttl)) return Fail(*e);
  CacheRequestFields fields;
  if (auto e = ParseCacheFields(body, &fields)) return Fail(*e);
  const CacheNamespace ns = ContextNamespace(routes_, context_.tenant, fields.cache_salt);
  StatusOr<ContextRecord> record = api_.registry().Pin(ns, id, ttl);
  if (!record.ok()) return Fail(ContextError(record.status(), "id"));
  SendBody(*writer_, ContextObject(*record, routes_.model().id));
}

void Handler::Delete(std::string_view id) {
  CacheNamespace ns;
  if (!QueryNamespace(&ns)) return;
  if (Status status = api_.registry().Delete(ns, id); !status.ok()) {
    return Fail(ContextError(status, "id"));
  }
  OrderedJson body;
  body["id"] = id;
  body["object"] = "context.deleted";
  body["deleted"] = true;
  SendBody(*writer_, body);
}

ApiError MethodNotAllowed(const HttpRequest& request, const char* allowed) {
  ApiError error = InvalidRequest(
      "", "Method " + request.method + " is not allowed on " + request.path + "; use " + allowed);
  error.http_status = 405;
  return error;
}

bool IsGet(const HttpRequest& request) {
  return request.method == "GET" || request.method == "HEAD";
}

}  // namespace

bool IsContextPath(std::string_view path) {
  return path == kContextsPath || (path.size() > kContextsPath.size() &&
                                   path.substr(0, kContextsPath.size()) == kContextsPath &&
                                   path[kContextsPath.size()] == '/');
}

std::string ContextRoutePattern(std::string_view path) {
  if (path == kContextsPath) return std::string(kContextsPath);
  if (!IsContextPath(path)) return "other";
  const std::string_view rest = path.substr(kContextsPath.size() + 1);
  const size_t slash = rest.find('/');
  if (slash == std::string_view::npos && !rest.empty()) return "/v1/contexts/{id}";
  if (slash != std::string_view::npos && slash > 0 && rest.substr(slash) == "/pin") {
    return "/v1/contexts/{id}/pin";
  }
  return "other";
}

void HandleContextRequest(const OpenAiRoutes& routes, ServerMetrics& metrics,
                          const HttpRequest& request, const RequestContext& context,
                          const std::shared_ptr<ResponseWriter>& writer) {
  const std::string pattern = ContextRoutePattern(request.path);
  auto fail = [&](const ApiError& error) {
    metrics.ObserveRejected(RejectionReason(error));
    SendApiError(error, *writer);
  };
  if (pattern == "other") {
    ApiError error = InvalidRequest("", "Unknown route: " + request.method + " " + request.path);
    error.http_status = 404;
    error.type = "not_found_error";
    return fail(error);
  }
  if (routes.config().contexts == nullptr) {
    return fail(ContextError(
        Unavailable("Contexts need the prefix cache, which is off on this server (--cache)."), ""));
  }
  Handler handler(routes, metrics, request, context, writer);
  if (pattern == kContextsPath) {
    if (IsGet(request)) return handler.List();
    if (request.method == "POST") return handler.Create();
    return fail(MethodNotAllowed(request, "GET or POST"));
  }
  std::string_view id = std::string_view(request.path).substr(kContextsPath.size() + 1);
  if (pattern == "/v1/contexts/{id}/pin") {
    id = id.substr(0, id.find('/'));
    if (request.method == "POST") return handler.Pin(id);
    return fail(MethodNotAllowed(request, "POST"));
  }
  if (IsGet(request)) return handler.Get(id);
  if (request.method == "DELETE") return handler.Delete(id);
  return fail(MethodNotAllowed(request, "GET or DELETE"));
}

std::optional<ApiError> ApplyContextField(const OpenAiRoutes& routes, const RequestContext& context,
                                          std::string_view body, bool chat,
                                          std::vector<GenerateRequest>* requests) {
  // Cheap exit for the common case: no "context" key (unless escaped with \u).
  if (body.find("\"context\"") == std::string_view::npos &&
      body.find("\\u") == std::string_view::npos) {
    return std::nullopt;
  }
  ApiResult<json> parsed = ParseJsonObject(body, routes.config().limits);
  if (auto* error = std::get_if<ApiError>(&parsed)) return *error;
  const json& object = std::get<json>(parsed);
  const auto field = FindSet(object, "context");
  if (field == object.end()) return std::nullopt;
  if (!field->is_string()) {
    return InvalidRequest("context", "'context' must be a string (the id of a context).");
  }
  CacheRequestFields fields;
  if (auto e = ParseCacheFields(object, &fields)) return e;
  const CacheNamespace ns = ContextNamespace(routes, context.tenant, fields.cache_salt);
  StatusOr<ContextRecord> record = FindContext(routes, ns, field->get_ref<const std::string&>());
  if (!record.ok()) return ContextError(record.status(), "context");
  ContextUse use;
  if (chat) {
    use.prompt_param = "messages";
    use.explicit_max_tokens = false;
    for (const char* key : {"max_completion_tokens", "max_tokens"}) {
      if (FindSet(object, key) != object.end()) {
        use.max_tokens_param = key;
        use.explicit_max_tokens = true;
        break;
      }
    }
  } else {
    use.prompt_param = "prompt";
    use.max_tokens_param = "max_tokens";
  }
  return PrependContext(*record, routes.model(), routes.config().limits, use, *requests);
}

}  // namespace gf::server
