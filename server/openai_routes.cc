#include "server/openai_routes.h"

#include <atomic>
#include <ctime>

#include "server/context_routes.h"
#include "server/logging.h"
#include "server/openai/chat_parser.h"
#include "server/openai/completion_parser.h"
#include "server/openai/response_builder.h"
#include "server/request_fanout.h"

namespace gf::server {
namespace {

int64_t UnixNow() { return static_cast<int64_t>(std::time(nullptr)); }

std::string NewResponseId(const char* prefix) {
  static std::atomic<uint64_t> counter{0};
  const uint64_t n = counter.fetch_add(1);
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%s-%llx%06llx", prefix,
                static_cast<unsigned long long>(UnixNow()),
                static_cast<unsigned long long>(n & 0xffffff));
  return buf;
}

// The response fields shared by completions and chat.
ResponseSpec NewSpec(ApiKind kind, const char* id_prefix, const std::string& model, int n,
                     bool stream, bool include_usage, const RequestContext& context) {
  ResponseSpec spec;
  spec.kind = kind;
  spec.response_id = NewResponseId(id_prefix);
  spec.created = UnixNow();
  spec.model = model;
  spec.n = n;
  spec.stream = stream;
  spec.include_usage = include_usage;
  spec.request_id = context.request_id;
  spec.tenant = context.tenant;
  spec.route = context.route;
  spec.arrival = context.arrival;
  return spec;
}

// Appends the n choices of one prompt: copies of `base` with seeds seed, seed + 1, ...
void AppendChoices(const GenerateRequest& base, const std::vector<TokenId>& prompt, int n,
                   std::vector<GenerateRequest>* requests) {
  for (int i = 0; i < n; ++i) {
    GenerateRequest one = base;
    one.prompt = prompt;
    one.sampling.seed = base.sampling.seed + static_cast<uint64_t>(i);
    requests->push_back(std::move(one));
  }
}

void LogDone(const RequestContext& context, const std::string& model, const ResponseSummary& s) {
  RequestLogFields fields;
  fields.request_id = context.request_id;
  fields.tenant = context.tenant;
  fields.model = model;
  fields.route = context.route;
  fields.method = "POST";
  fields.status = s.client_gone ? 499 : s.status;
  fields.prompt_tokens = s.prompt_tokens;
  fields.cached_tokens = s.cached_tokens;
  fields.completion_tokens = s.completion_tokens;
  if (s.ttft_ms >= 0.0) fields.ttft_ms = s.ttft_ms;
  fields.duration_ms = s.duration_ms;
  fields.finish_reason = s.client_gone ? "cancelled" : s.finish_reason;
  fields.error_type = s.error_type;
  LogRequest(fields);
}

}  // namespace

std::string RejectionReason(const ApiError& error) {
  switch (error.http_status) {
    case 401:
      return "unauthorized";
    case 404:
      return "not_found";
    case 413:
      return "body_too_large";
    case 429:
      return "queue_full";
    case 503:
      return "not_ready";
    default:
      break;
  }
  if (error.code == "context_length_exceeded") return "context_length";
  return "invalid_request";
}

void SendApiError(const ApiError& error, ResponseWriter& writer) {
  HttpResponse response;
  response.status = error.http_status;
  response.body = ErrorJson(error);
  if (error.http_status == 429 || error.http_status == 503) {
    response.headers.emplace_back("retry-after", "1");
  }
  if (error.http_status >= 500) response.headers.emplace_back("x-should-retry", "false");
  writer.Send(std::move(response));
}

OpenAiRoutes::OpenAiRoutes(Engine& engine, ChatTemplate chat_template, ApiConfig config,
                           ServerMetrics& metrics)
    : engine_(engine),
      chat_template_(std::move(chat_template)),
      config_(std::move(config)),
      metrics_(metrics) {}

void OpenAiRoutes::SendError(const ApiError& error, ResponseWriter& writer) const {
  metrics_.ObserveRejected(RejectionReason(error));
  SendApiError(error, writer);
}

void OpenAiRoutes::Launch(ResponseSpec spec, std::vector<GenerateRequest> requests,
                          const RequestContext& context,
                          std::shared_ptr<ResponseWriter> writer) const {
  const auto deadline =
      context.arrival +
      std::chrono::duration_cast<std::chrono::steady_clock::duration>(config_.request_timeout);
  for (GenerateRequest& request : requests) {
    request.id = context.request_id;
    request.tenant = context.tenant;
    request.deadline = deadline;
  }
  const std::string model = spec.model;
  auto group = std::make_shared<ResponseGroup>(
      std::move(spec), writer, engine_, metrics_,
      [context, model](const ResponseSummary& summary) { LogDone(context, model, summary); });
  const Status status = group->SubmitAll(std::move(requests));
  if (!status.ok()) {
    std::string param;
    std::string code;
    if (status.code() == StatusCode::kOutOfRange) {
      param = "max_tokens";
      code = "context_length_exceeded";
    }
    ApiError error = ApiErrorFromStatus(status, param);
    error.code = code.empty() ? error.code : code;
    if (status.code() == StatusCode::kResourceExhausted) {
      error.message = "The server is at capacity (request queue full); retry shortly.";
    }
    SendError(error, *writer);
    return;
  }
  if (context.logged_by_group) *context.logged_by_group = true;
  group->Start();
}

void OpenAiRoutes::Completions(const HttpRequest& request, const RequestContext& context,
                               std::shared_ptr<ResponseWriter> writer) const {
  ApiResult<CompletionRequest> parsed =
      ParseCompletion(request.body, config_.model, engine_.tokenizer(), config_.limits);
  if (auto* error = std::get_if<ApiError>(&parsed)) {
    SendError(*error, *writer);
    return;
  }
  CompletionRequest& req = std::get<CompletionRequest>(parsed);
  req.base.cache = config_.cache_namespaces.OptionsFor(context.tenant, req.cache);
  ResponseSpec spec = NewSpec(ApiKind::kCompletion, "cmpl", config_.model.id, req.n, req.stream,
                              req.include_usage, context);
  spec.echo = req.echo;
  spec.logprobs = req.logprobs;
  std::vector<GenerateRequest> requests;
  for (const auto& prompt : req.prompts) AppendChoices(req.base, prompt, req.n, &requests);
  if (auto error = ApplyContextField(*this, context, request.body, /*chat=*/false, &requests)) {
    SendError(*error, *writer);
    return;
  }
  Launch(std::move(spec), std::move(requests), context, std::move(writer));
}

void OpenAiRoutes::ChatCompletions(const HttpRequest& request, const RequestContext& context,
                                   std::shared_ptr<ResponseWriter> writer) const {
  ApiResult<ChatRequest> parsed =
      ParseChat(request.body, config_.model, engine_.tokenizer(), chat_template_, config_.limits);
  if (auto* error = std::get_if<ApiError>(&parsed)) {
    SendError(*error, *writer);
    return;
  }
  ChatRequest& req = std::get<ChatRequest>(parsed);
  req.base.cache = config_.cache_namespaces.OptionsFor(context.tenant, req.cache);
  ResponseSpec spec = NewSpec(ApiKind::kChat, "chatcmpl", config_.model.id, req.n, req.stream,
                              req.include_usage, context);
  spec.chat_logprobs = req.logprobs;
  spec.top_logprobs = req.top_logprobs;
  std::vector<GenerateRequest> requests;
  AppendChoices(req.base, req.prompt, req.n, &requests);
  if (auto error = ApplyContextField(*this, context, request.body, /*chat=*/true, &requests)) {
    SendError(*error, *writer);
    return;
  }
  Launch(std::move(spec), std::move(requests), context, std::move(writer));
}

void OpenAiRoutes::ListModels(std::shared_ptr<ResponseWriter> writer) const {
  HttpResponse response;
  response.body = ModelsListJson(config_.model, config_.created);
  writer->Send(std::move(response));
}

void OpenAiRoutes::GetModel(std::string_view id, std::shared_ptr<ResponseWriter> writer) const {
  if (id != config_.model.id) {
    SendError(ModelNotFound(std::string(id)), *writer);
    return;
  }
  HttpResponse response;
  response.body = ModelJson(config_.model, config_.created);
  writer->Send(std::move(response));
}

void OpenAiRoutes::Tokenize(const HttpRequest& request,
                            std::shared_ptr<ResponseWriter> writer) const {
  ApiResult<TokenizeRequest> parsed =
      ParseTokenize(request.body, config_.model, engine_.tokenizer(), config_.limits);
  if (auto* error = std::get_if<ApiError>(&parsed)) {
    SendError(*error, *writer);
    return;
  }
  HttpResponse response;
  response.body =
      TokenizeResponseJson(std::get<TokenizeRequest>(parsed).tokens, config_.model.max_model_len);
  writer->Send(std::move(response));
}

void OpenAiRoutes::Detokenize(const HttpRequest& request,
                              std::shared_ptr<ResponseWriter> writer) const {
  ApiResult<DetokenizeRequest> parsed =
      ParseDetokenize(request.body, config_.model, config_.limits);
  if (auto* error = std::get_if<ApiError>(&parsed)) {
    SendError(*error, *writer);
    return;
  }
  HttpResponse response;
  response.body = DetokenizeResponseJson(
      engine_.tokenizer().Decode(std::get<DetokenizeRequest>(parsed).tokens));
  writer->Send(std::move(response));
}

}  // namespace gf::server
