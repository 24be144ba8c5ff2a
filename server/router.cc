#include "server/router.h"

#include <mutex>

#include "server/context_api.h"
#include "server/context_routes.h"
#include "server/logging.h"
#include "server/openai/api_error.h"
#include "server/request_id.h"

namespace gf::server {
namespace {

constexpr std::string_view kModelsPrefix = "/v1/models/";

// Decorates the transport's writer: adds x-request-id, counts the response, logs the access line.
class TrackedWriter : public ResponseWriter, public std::enable_shared_from_this<TrackedWriter> {
 public:
  TrackedWriter(std::shared_ptr<ResponseWriter> inner, RequestContext context, std::string method,
                ServerMetrics& metrics)
      : inner_(std::move(inner)),
        context_(std::move(context)),
        method_(std::move(method)),
        metrics_(metrics) {}

  void Send(HttpResponse response) override {
    response.headers.emplace_back("x-request-id", context_.request_id);
    const int status = response.status;
    inner_->Send(std::move(response));
    Done(status, "");
  }
  bool StartStream(HttpHeaderList headers) override {
    headers.emplace_back("x-request-id", context_.request_id);
    return inner_->StartStream(std::move(headers));
  }
  bool SendEvent(std::string_view data) override { return inner_->SendEvent(data); }
  bool SendComment(std::string_view text) override { return inner_->SendComment(text); }
  void EndStream() override {
    inner_->EndStream();
    Done(200, "");
  }
  void SetOnClose(std::function<void()> callback) override {
    std::weak_ptr<TrackedWriter> weak = weak_from_this();
    inner_->SetOnClose([weak, callback = std::move(callback)] {
      if (auto self = weak.lock()) self->Done(499, "client_closed");
      if (callback) callback();
    });
  }
  bool closed() const override { return inner_->closed(); }

 private:
  void Done(int status, const char* error_type) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (done_) return;
      done_ = true;
    }
    metrics_.ObserveHttpResponse(context_.route, status);
    if (context_.logged_by_group && *context_.logged_by_group) return;
    RequestLogFields fields;
    fields.request_id = context_.request_id;
    fields.tenant = context_.tenant;
    fields.route = context_.route;
    fields.method = method_;
    fields.status = status;
    fields.duration_ms = std::chrono::duration<double, std::milli>(
                             std::chrono::steady_clock::now() - context_.arrival)
                             .count();
    fields.error_type = error_type;
    LogRequest(fields);
  }

  std::shared_ptr<ResponseWriter> inner_;
  RequestContext context_;
  std::string method_;
  ServerMetrics& metrics_;
  std::mutex mu_;
  bool done_ = false;
};

// The route pattern used as a metrics label (bounded cardinality).
std::string RoutePattern(std::string_view path) {
  static constexpr std::string_view kRoutes[] = {"/health",         "/ready",
                                                 "/metrics",        "/v1/models",
                                                 "/v1/completions", "/v1/chat/completions",
                                                 "/tokenize",       "/detokenize"};
  for (std::string_view route : kRoutes) {
    if (path == route) return std::string(route);
  }
  if (path.substr(0, kModelsPrefix.size()) == kModelsPrefix) return "/v1/models/{id}";
  return ContextRoutePattern(path);
}

void SendJson(ResponseWriter& writer, int status, std::string body) {
  HttpResponse response;
  response.status = status;
  response.body = std::move(body);
  if (status == 503) response.headers.emplace_back("retry-after", "1");
  writer.Send(std::move(response));
}

}  // namespace

Router::Router(ServerState& state, const ApiKeyStore& keys, ServerMetrics& metrics,
               bool public_metrics)
    : state_(state), keys_(keys), metrics_(metrics), public_metrics_(public_metrics) {}

void Router::Handle(HttpRequest request, std::shared_ptr<ResponseWriter> transport_writer) {
  RequestContext context;
  context.arrival = std::chrono::steady_clock::now();
  context.request_id = AcceptOrGenerateRequestId(request.Header("x-request-id"));
  context.route = RoutePattern(request.path);
  context.logged_by_group = std::make_shared<std::atomic<bool>>(false);

  if (keys_.enabled() && !IsPublicPath(request.path, public_metrics_)) {
    StatusOr<std::string> tenant = keys_.Authenticate(request.Header("authorization"));
    if (!tenant.ok()) {
      auto writer =
          std::make_shared<TrackedWriter>(transport_writer, context, request.method, metrics_);
      metrics_.ObserveRejected("unauthorized");
      ApiError error = ApiErrorFromStatus(tenant.status());
      error.code = "invalid_api_key";
      SendApiError(error, *writer);
      return;
    }
    context.tenant = *tenant;
  }
  auto writer = std::make_shared<TrackedWriter>(std::move(transport_writer), context,
                                                request.method, metrics_);
  Dispatch(request, context, writer);
}

void Router::Dispatch(const HttpRequest& request, const RequestContext& context,
                      const std::shared_ptr<ResponseWriter>& writer) {
  const std::string& path = request.path;
  const std::string& method = request.method;
  auto expect = [&](const char* wanted) {
    if (method == wanted || (std::string_view(wanted) == "GET" && method == "HEAD")) return true;
    ApiError error =
        InvalidRequest("", "Method " + method + " is not allowed on " + path + "; use " + wanted);
    error.http_status = 405;
    SendApiError(error, *writer);
    return false;
  };
  OpenAiRoutes* routes = state_.routes.load();
  const bool draining = state_.draining.load();

  if (path == "/health") {
    if (expect("GET")) SendJson(*writer, 200, R"({"status":"ok"})");
    return;
  }
  if (path == "/ready") {
    if (!expect("GET")) return;
    if (routes == nullptr) {
      SendJson(*writer, 503, R"({"status":"loading"})");
    } else if (draining) {
      SendJson(*writer, 503, R"({"status":"draining"})");
    } else {
      SendJson(*writer, 200, R"({"status":"ready"})");
    }
    return;
  }
  if (path == "/metrics") {
    if (!expect("GET")) return;
    HttpResponse response;
    response.content_type = "text/plain; version=0.0.4; charset=utf-8";
    ContextRegistry* contexts = nullptr;
    if (routes != nullptr && routes->config().contexts != nullptr) {
      contexts = &routes->config().contexts->registry();
    }
    response.body = metrics_.Serialize(state_.engine.load(), contexts);
    writer->Send(std::move(response));
    return;
  }
  const bool is_api = path == "/v1/models" || path.rfind(std::string(kModelsPrefix), 0) == 0 ||
                      path == "/v1/completions" || path == "/v1/chat/completions" ||
                      path == "/tokenize" || path == "/detokenize" || IsContextPath(path);
  if (!is_api) {
    ApiError error = InvalidRequest("", "Unknown route: " + method + " " + path);
    error.http_status = 404;
    error.type = "not_found_error";
    SendApiError(error, *writer);
    return;
  }
  if (routes == nullptr || draining) {
    ApiError error = ApiErrorFromStatus(
        Unavailable(routes == nullptr ? "The model is still loading; retry shortly."
                                      : "The server is shutting down."));
    metrics_.ObserveRejected("not_ready");
    SendApiError(error, *writer);
    return;
  }
  if (path == "/v1/models") {
    if (expect("GET")) routes->ListModels(writer);
  } else if (path.rfind(std::string(kModelsPrefix), 0) == 0) {
    if (expect("GET"))
      routes->GetModel(std::string_view(path).substr(kModelsPrefix.size()), writer);
  } else if (path == "/v1/completions") {
    if (expect("POST")) routes->Completions(request, context, writer);
  } else if (path == "/v1/chat/completions") {
    if (expect("POST")) routes->ChatCompletions(request, context, writer);
  } else if (path == "/tokenize") {
    if (expect("POST")) routes->Tokenize(request, writer);
  } else if (path == "/detokenize") {
    if (expect("POST")) routes->Detokenize(request, writer);
  } else if (IsContextPath(path)) {
    HandleContextRequest(*routes, metrics_, request, context, writer);
  }
}

}  // namespace gf::server
