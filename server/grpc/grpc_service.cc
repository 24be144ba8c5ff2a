#include "server/grpc/grpc_service.h"

#include <algorithm>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "server/grpc/context_service.h"
#include "server/grpc/grpc_call_common.h"
#include "server/grpc/grpc_request.h"
#include "server/grpc/grpc_responses.h"
#include "server/logging.h"
#include "server/openai/response_builder.h"
#include "server/request_id.h"
#include "server/status_mapping.h"

namespace gf::server {
namespace {

namespace pb = goldfinch::v1;
using Clock = std::chrono::steady_clock;

// A cancellation this close to the call's deadline is reported as DEADLINE_EXCEEDED.
constexpr std::chrono::seconds kDeadlineSlack{1};

int GrpcCode(const Status& status) { return MapStatus(status.code()).grpc_code; }

double MillisSince(Clock::time_point start) {
  return std::chrono::duration<double, std::milli>(Clock::now() - start).count();
}

// The earlier of arrival + the request timeout and the call's deadline (a system_clock instant;
// time_point::max() when the client set none), on the engine's steady clock.
Clock::time_point EngineDeadline(Clock::time_point arrival, std::chrono::duration<double> timeout,
                                 std::chrono::system_clock::time_point call_deadline) {
  const auto timeout_steady = std::chrono::duration_cast<Clock::duration>(timeout);
  Clock::time_point deadline = arrival + timeout_steady;
  const auto system_now = std::chrono::system_clock::now();
  const auto steady_now = Clock::now();
  if (call_deadline < system_now + timeout_steady) {
    const auto left = std::chrono::duration_cast<Clock::duration>(call_deadline - system_now);
    deadline = std::min(deadline, steady_now + left);
  }
  return deadline;
}

}  // namespace

// One Generate call. See the header for the lifetime rules; mu_ guards the write pipeline and
// the counters read by the log line. Fields marked "engine thread" are touched only by
// OnEngineEvent (events of one request are delivered serially).
class InferenceService::GenerateCall final : public grpc::ServerWriteReactor<pb::GenerateResponse>,
                                             public std::enable_shared_from_this<GenerateCall> {
 public:
  GenerateCall(const InferenceService& service, grpc::CallbackServerContext* context)
      : service_(service), context_(context), arrival_(Clock::now()) {}

  // Handler thread: admits, converts and submits, or finishes with the error.
  void Start(const pb::GenerateRequest& request);

  void OnWriteDone(bool ok) override;
  void OnCancel() override;
  void OnDone() override;

 private:
  class Sink final : public RequestSink {
   public:
    explicit Sink(std::shared_ptr<GenerateCall> call) : call_(std::move(call)) {}
    void OnEvent(GenerateEvent event) override {
      std::shared_ptr<GenerateCall> call = call_;
      if (event.finish != FinishReason::kNone) call_.reset();  // no event follows the final one
      if (call) call->OnEngineEvent(std::move(event));
    }

   private:
    std::shared_ptr<GenerateCall> call_;
  };

  void OnEngineEvent(GenerateEvent event);
  // Refused before the engine accepted it.
  void Reject(const Status& status);
  // Starts the next write, or finishes the call once the queue is empty and the end is known.
  // Never called with mu_ held; never blocks.
  void Pump();
  // The call's log line and metrics (once, just before Finish).
  void LogAndCount(const Status& status);
  // How a call whose client went away ends: DEADLINE_EXCEEDED near its deadline, else CANCELLED.
  Status ClientGoneStatus() const;

  const InferenceService& service_;
  grpc::CallbackServerContext* const context_;  // valid until OnDone
  const Clock::time_point arrival_;
  std::shared_ptr<GenerateCall> self_;  // released by OnDone

  // Set by Start before the engine can call back; read-only afterwards.
  Engine* engine_ = nullptr;
  std::string request_id_;
  std::string tenant_;
  std::string model_id_;
  bool echo_ = false;
  bool logprobs_ = false;
  std::vector<TokenId> prompt_;  // only with echo

  // Engine thread.
  bool first_message_ = true;
  bool queue_observed_ = false;
  bool has_last_token_ = false;
  Clock::time_point last_token_;

  std::mutex mu_;
  std::deque<pb::GenerateResponse> queue_;
  pb::GenerateResponse in_flight_;  // the message of the write in flight
  bool writing_ = false;
  std::optional<Status> end_;  // how the call ends, once known
  bool finishing_ = false;     // Finish was called
  bool submitted_ = false;     // handed to the engine (its final event will come)
  SeqId seq_ = 0;              // 0 until Submit returned
  bool engine_done_ = false;   // the engine's final event arrived
  bool cancelled_ = false;     // OnCancel ran
  std::string finish_reason_;  // "stop", "length", "cancelled", "error"
  int64_t prompt_tokens_ = 0;
  int64_t cached_tokens_ = 0;
  int64_t completion_tokens_ = 0;
  double ttft_ms_ = -1.0;
};

void InferenceService::GenerateCall::Start(const pb::GenerateRequest& request) {
  self_ = shared_from_this();
  if (IsValidRequestId(request.request_id())) request_id_ = request.request_id();  // for logs
  StatusOr<Admitted> admitted = service_.Admit(*context_);
  if (!admitted.ok()) {
    Reject(admitted.status());
    return;
  }
  tenant_ = admitted->tenant;
  const OpenAiRoutes& routes = *admitted->routes;
  engine_ = &routes.engine();
  model_id_ = routes.model().id;
  StatusOr<ConvertedGenerate> converted =
      ConvertGenerateRequest(request, routes.model(), engine_->tokenizer(), routes.chat_template(),
                             routes.config().limits);
  if (!converted.ok()) {
    Reject(converted.status());
    return;
  }
  request_id_ =
      converted->client_request_id.empty() ? GenerateRequestId() : converted->client_request_id;
  GenerateRequest engine_request = std::move(converted->request);
  engine_request.id = request_id_;
  engine_request.tenant = tenant_;
  engine_request.cache = routes.config().cache_namespaces.OptionsFor(tenant_, converted->cache);
  if (Status applied = ApplyContextId(routes, tenant_, request, &engine_request); !applied.ok()) {
    Reject(applied);
    return;
  }
  engine_request.deadline =
      EngineDeadline(arrival_, routes.config().request_timeout, context_->deadline());
  echo_ = converted->echo;
  logprobs_ = engine_request.logprobs;
  if (echo_) prompt_ = engine_request.prompt;
  {
    std::lock_guard<std::mutex> lock(mu_);
    prompt_tokens_ = static_cast<int64_t>(engine_request.prompt.size());
    submitted_ = true;  // before Submit: the final event may arrive before Submit returns
  }
  StatusOr<SeqId> id =
      engine_->Submit(std::move(engine_request), std::make_shared<Sink>(shared_from_this()));
  if (!id.ok()) {
    Status status = id.status();
    if (status.code() == StatusCode::kOutOfRange) {
      status = InvalidArgument("max_tokens: " + status.message());
    } else if (status.code() == StatusCode::kResourceExhausted) {
      status = ResourceExhausted("the server is at capacity (request queue full); retry shortly");
    }
    service_.metrics_.ObserveRejected(RejectionReasonFor(id.status().code()));
    {
      std::lock_guard<std::mutex> lock(mu_);
      submitted_ = false;  // the sink is never called
      if (!finishing_) end_ = status;
    }
    Pump();
    return;
  }
  bool cancel_now = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    seq_ = *id;
    // The client went away while Submit ran (OnCancel or a failed write could not cancel yet).
    cancel_now = !engine_done_ && (cancelled_ || (end_.has_value() && !end_->ok()));
  }
  if (cancel_now) engine_->Cancel(*id);
}

void InferenceService::GenerateCall::Reject(const Status& status) {
  service_.metrics_.ObserveRejected(RejectionReasonFor(status.code()));
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!finishing_) end_ = status;
  }
  Pump();
}

void InferenceService::GenerateCall::OnEngineEvent(GenerateEvent event) {
  ServerMetrics& metrics = service_.metrics_;
  const auto now = Clock::now();
  if (!queue_observed_ && event.queue_seconds >= 0.0) {
    queue_observed_ = true;
    metrics.ObserveQueueTime(event.queue_seconds);
  }
  double ttft_ms = -1.0;
  if (!event.tokens.empty()) {
    if (has_last_token_) {
      metrics.ObserveInterTokenLatency(std::chrono::duration<double>(now - last_token_).count() /
                                       static_cast<double>(event.tokens.size()));
    } else {
      ttft_ms = std::chrono::duration<double, std::milli>(now - arrival_).count();
      metrics.ObserveTimeToFirstToken(ttft_ms / 1000.0);
    }
    has_last_token_ = true;
    last_token_ = now;
  }
  const bool final = event.finish != FinishReason::kNone;
  std::optional<Status> end;
  pb::GenerateResponse message;
  bool send = false;
  if (final && !IsRenderedFinish(event.finish)) {
    end = TerminalStatus(event);
  } else {
    FillGenerateResponse(event, engine_->tokenizer(), logprobs_, first_message_, echo_, prompt_,
                         request_id_, &message);
    send =
        final || !message.text().empty() || message.tokens_size() > 0 || message.prompt_size() > 0;
    if (send) first_message_ = false;
    if (final) end = Status::Ok();
  }
  if (final) {
    metrics.ObserveFinish(FinishReasonName(event.finish));
    metrics.ObserveRequestTokens(event.prompt_tokens, event.completion_tokens);
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    prompt_tokens_ = event.prompt_tokens;
    cached_tokens_ = event.cached_tokens;
    completion_tokens_ = event.completion_tokens;
    if (ttft_ms >= 0.0) ttft_ms_ = ttft_ms;
    if (final) {
      engine_done_ = true;
      finish_reason_ = FinishReasonName(event.finish);
    }
    // The call's end is already decided (finishing, client gone or broken stream).
    if (finishing_ || cancelled_ || (end_.has_value() && !end_->ok())) return;
    if (send) queue_.push_back(std::move(message));
    if (end.has_value()) {
      if (event.finish == FinishReason::kCancelled) {
        // Not the client (OnCancel would have run): a shutdown cancelled it.
        end = Unavailable("the server is shutting down; the request was cancelled");
      }
      if (!end->ok()) queue_.clear();
      end_ = std::move(end);
    }
  }
  Pump();
}

void InferenceService::GenerateCall::OnWriteDone(bool ok) {
  SeqId cancel = 0;
  {
    std::lock_guard<std::mutex> lock(mu_);
    writing_ = false;
    if (!ok) {
      // The stream broke (the client went away): nothing more can be delivered.
      queue_.clear();
      if (!finishing_ && (!end_.has_value() || end_->ok())) end_ = ClientGoneStatus();
      if (seq_ != 0 && !engine_done_) cancel = seq_;
    }
  }
  if (cancel != 0) engine_->Cancel(cancel);
  Pump();
}

void InferenceService::GenerateCall::OnCancel() {
  SeqId cancel = 0;
  {
    std::lock_guard<std::mutex> lock(mu_);
    cancelled_ = true;
    queue_.clear();
    if (!finishing_) end_ = ClientGoneStatus();
    if (seq_ != 0 && !engine_done_) cancel = seq_;
  }
  if (cancel != 0) engine_->Cancel(cancel);
  Pump();
}

Status InferenceService::GenerateCall::ClientGoneStatus() const {
  // A client's own deadline reaches the server as a cancel (RST_STREAM, or a failed write),
  // usually just before the server's copy of the deadline fires: count it as the deadline.
  if (std::chrono::system_clock::now() >= context_->deadline() - kDeadlineSlack) {
    return DeadlineExceeded("the call's deadline passed");
  }
  return Cancelled("the client cancelled the call");
}

void InferenceService::GenerateCall::OnDone() {
  // The last statement: may destroy this object (the engine sink may still hold it).
  std::shared_ptr<GenerateCall> self = std::move(self_);
}

void InferenceService::GenerateCall::Pump() {
  // Finish can lead to OnDone on another thread: keep this object alive until we return.
  std::shared_ptr<GenerateCall> keep = shared_from_this();
  enum class Action { kWrite, kFinish } action;
  Status end;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (finishing_ || writing_) return;
    if (!queue_.empty()) {
      in_flight_ = std::move(queue_.front());
      queue_.pop_front();
      writing_ = true;
      action = Action::kWrite;
    } else if (end_.has_value()) {
      finishing_ = true;
      end = *end_;
      action = Action::kFinish;
    } else {
      return;
    }
  }
  if (action == Action::kWrite) {
    StartWrite(&in_flight_);
    return;
  }
  LogAndCount(end);
  Finish(ToGrpcStatus(end));
}

void InferenceService::GenerateCall::LogAndCount(const Status& status) {
  const int code = GrpcCode(status);
  ServerMetrics& metrics = service_.metrics_;
  metrics.ObserveGrpcRequest("Generate", code);
  RequestLogFields fields;
  fields.request_id = request_id_.empty() ? GenerateRequestId() : request_id_;
  fields.tenant = tenant_;
  fields.model = model_id_;
  fields.route = Route("Generate");
  fields.method = "POST";
  fields.status = code;
  fields.duration_ms = MillisSince(arrival_);
  if (!status.ok()) fields.error_type = MapStatus(status.code()).error_type;
  std::lock_guard<std::mutex> lock(mu_);
  if (submitted_) {
    metrics.ObserveEndToEndLatency(*fields.duration_ms / 1000.0);
    fields.prompt_tokens = prompt_tokens_;
    fields.cached_tokens = cached_tokens_;
    fields.completion_tokens = completion_tokens_;
    if (ttft_ms_ >= 0.0) fields.ttft_ms = ttft_ms_;
    fields.finish_reason = status.ok()                               ? finish_reason_
                           : status.code() == StatusCode::kCancelled ? "cancelled"
                                                                     : "error";
  }
  LogRequest(fields);
}

// ---- InferenceService ----

InferenceService::InferenceService(ServerState& state, const ApiKeyStore& keys,
                                   ServerMetrics& metrics)
    : state_(state), keys_(keys), metrics_(metrics) {}

std::string InferenceService::Route(std::string_view method) {
  return "/goldfinch.v1.Inference/" + std::string(method);
}

StatusOr<InferenceService::Admitted> InferenceService::Admit(
    const grpc::CallbackServerContext& context) const {
  return AdmitGrpcCall(state_, keys_, context);
}

grpc::ServerUnaryReactor* InferenceService::FinishUnary(grpc::CallbackServerContext* context,
                                                        std::string_view method,
                                                        const Status& status,
                                                        const std::string& tenant,
                                                        Clock::time_point arrival) const {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  FinishUnaryCall(reactor, metrics_, Route(method), method, status, tenant, arrival);
  return reactor;
}

grpc::ServerWriteReactor<pb::GenerateResponse>* InferenceService::Generate(
    grpc::CallbackServerContext* context, const pb::GenerateRequest* request) {
  auto call = std::make_shared<GenerateCall>(*this, context);
  call->Start(*request);
  return call.get();  // kept alive by its self-reference until OnDone
}

grpc::ServerUnaryReactor* InferenceService::Tokenize(grpc::CallbackServerContext* context,
                                                     const pb::TokenizeRequest* request,
                                                     pb::TokenizeResponse* response) {
  const Clock::time_point arrival = Clock::now();
  std::string tenant;
  const Status status = [&]() -> Status {
    GF_ASSIGN_OR_RETURN(Admitted admitted, Admit(*context));
    tenant = admitted.tenant;
    const ModelInfo& model = admitted.routes->model();
    GF_ASSIGN_OR_RETURN(std::vector<TokenId> ids,
                        ConvertTokenize(*request, model, admitted.routes->engine().tokenizer()));
    FillTokenize(ids, model, response);
    return Status::Ok();
  }();
  return FinishUnary(context, "Tokenize", status, tenant, arrival);
}

grpc::ServerUnaryReactor* InferenceService::Detokenize(grpc::CallbackServerContext* context,
                                                       const pb::DetokenizeRequest* request,
                                                       pb::DetokenizeResponse* response) {
  const Clock::time_point arrival = Clock::now();
  std::string tenant;
  const Status status = [&]() -> Status {
    GF_ASSIGN_OR_RETURN(Admitted admitted, Admit(*context));
    tenant = admitted.tenant;
    GF_ASSIGN_OR_RETURN(std::vector<TokenId> ids,
                        ConvertDetokenize(*request, admitted.routes->model()));
    // proto3 strings must be valid UTF-8: a split character becomes U+FFFD.
    response->set_text(ToValidUtf8(admitted.routes->engine().tokenizer().Decode(ids)));
    return Status::Ok();
  }();
  return FinishUnary(context, "Detokenize", status, tenant, arrival);
}

grpc::ServerUnaryReactor* InferenceService::ListModels(grpc::CallbackServerContext* context,
                                                       const pb::ListModelsRequest* /*request*/,
                                                       pb::ListModelsResponse* response) {
  const Clock::time_point arrival = Clock::now();
  std::string tenant;
  const Status status = [&]() -> Status {
    GF_ASSIGN_OR_RETURN(Admitted admitted, Admit(*context));
    tenant = admitted.tenant;
    FillListModels(admitted.routes->model(), admitted.routes->config().created, response);
    return Status::Ok();
  }();
  return FinishUnary(context, "ListModels", status, tenant, arrival);
}

}  // namespace gf::server
