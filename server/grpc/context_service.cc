#include "server/grpc/context_service.h"

#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <utility>
#include <vector>

#include "server/context_api.h"
#include "server/grpc/grpc_call_common.h"
#include "server/logging.h"
#include "server/openai/chat_template.h"
#include "server/openai_routes.h"
#include "server/request_id.h"
#include "server/status_mapping.h"

namespace gf::server {
namespace {

namespace pb = goldfinch::v1;
using Clock = std::chrono::steady_clock;

// CreateContext's reactor: finished once, by the creation's `done`; a client that cancels the
// call (or whose deadline passes) cancels the creation and its engine request, as an HTTP
// disconnect does. Owns itself from the handler until OnDone.
class CreateCall final : public grpc::ServerUnaryReactor {
 public:
  static CreateCall* Start() {
    auto call = std::shared_ptr<CreateCall>(new CreateCall());
    call->self_ = call;
    return call.get();
  }
  // Handler thread, after ContextApi::Create returned (null when it already finished).
  void SetCreation(std::shared_ptr<ContextApi::Creation> creation) {
    bool cancel = false;
    {
      std::lock_guard<std::mutex> lock(mu_);
      creation_ = creation;
      cancel = cancelled_;
    }
    if (cancel && creation != nullptr) creation->Cancel();
  }
  void OnCancel() override {
    std::shared_ptr<ContextApi::Creation> creation;
    {
      std::lock_guard<std::mutex> lock(mu_);
      cancelled_ = true;
      creation = creation_;
    }
    if (creation != nullptr) creation->Cancel();
  }
  void OnDone() override {
    std::shared_ptr<CreateCall> self = std::move(self_);  // may destroy this object
  }
  // Keeps the call alive while the handler still uses it (OnDone may run on another thread as
  // soon as done() has finished the call).
  std::shared_ptr<CreateCall> Keep() {
    std::lock_guard<std::mutex> lock(mu_);
    return self_;
  }

 private:
  CreateCall() = default;
  std::mutex mu_;
  std::shared_ptr<CreateCall> self_;  // released by OnDone
  std::shared_ptr<ContextApi::Creation> creation_;
  bool cancelled_ = false;
};

Status FieldError(const std::string& path, const std::string& message) {
  return InvalidArgument(path + ": " + message);
}

// A Status from the context API, its message led by `path` for field-like codes.
Status WithPath(const Status& status, const std::string& path) {
  switch (status.code()) {
    case StatusCode::kInvalidArgument:
    case StatusCode::kNotFound:
      return Status(status.code(), path + ": " + status.message());
    case StatusCode::kOutOfRange:  // context length: a bad input, as Generate reports it
      return FieldError(path, status.message());
    default:
      return status;
  }
}

StatusOr<std::optional<std::string>> Salt(bool has, const std::string& salt) {
  if (!has) return std::optional<std::string>();
  if (auto problem = CacheSaltProblem(salt)) return FieldError("cache_salt", *problem);
  return std::optional<std::string>(salt);
}

StatusOr<int64_t> Ttl(bool has, uint64_t value, int64_t min) {
  if (!has) return kDefaultContextTtlSeconds;
  if (value < static_cast<uint64_t>(min) || value > static_cast<uint64_t>(kMaxContextTtlSeconds)) {
    return FieldError("ttl_seconds", "must be in [" + std::to_string(min) + ", " +
                                         std::to_string(kMaxContextTtlSeconds) + "], got " +
                                         std::to_string(value));
  }
  return static_cast<int64_t>(value);
}

void FillContext(const ContextRecord& record, const std::string& model, pb::Context* out) {
  out->set_id(record.id);
  out->set_created(record.created);
  out->set_model(model);
  out->set_tokens(static_cast<uint32_t>(record.num_tokens()));
  out->set_expires_at(record.expires_at);
  out->set_name(record.name);
}

// The input of a CreateContext request as token ids (+ chat snapshot hints); `path` names it.
Status ConvertInput(const pb::CreateContextRequest& in, const OpenAiRoutes& routes,
                    ContextCreateInput* out, std::string* path) {
  const Tokenizer& tokenizer = routes.engine().tokenizer();
  const ModelInfo& model = routes.model();
  switch (in.input_case()) {
    case pb::CreateContextRequest::kText:
      *path = "text";
      if (in.text().empty()) return FieldError("text", "must not be empty");
      out->tokens = EncodeUserText(tokenizer, in.text());
      if (out->tokens.empty()) return FieldError("text", "tokenizes to no tokens");
      return Status::Ok();
    case pb::CreateContextRequest::kTokens:
      *path = "tokens.ids";
      if (in.tokens().ids_size() == 0) return FieldError("tokens.ids", "must not be empty");
      for (int i = 0; i < in.tokens().ids_size(); ++i) {
        const int32_t id = in.tokens().ids(i);
        if (id < 0 || id >= model.vocab_size) {
          return FieldError("tokens.ids[" + std::to_string(i) + "]",
                            "token id " + std::to_string(id) + " is outside [0, " +
                                std::to_string(model.vocab_size) + ")");
        }
        out->tokens.push_back(id);
      }
      return Status::Ok();
    case pb::CreateContextRequest::kChat: {
      *path = "chat.messages";
      const auto& messages = in.chat().messages();
      if (messages.empty()) return FieldError("chat.messages", "must not be empty");
      if (static_cast<size_t>(messages.size()) > routes.config().limits.max_messages) {
        return FieldError("chat.messages", "at most " +
                                               std::to_string(routes.config().limits.max_messages) +
                                               " messages, got " + std::to_string(messages.size()));
      }
      std::vector<ChatMessage> chat;
      for (int i = 0; i < messages.size(); ++i) {
        const std::optional<ChatRole> role = ChatRoleFromName(messages[i].role());
        if (!role.has_value()) {
          return FieldError("chat.messages[" + std::to_string(i) + "].role",
                            "'" + messages[i].role() +
                                "' is not supported; use system, developer, user or assistant");
        }
        chat.push_back({*role, messages[i].content(), messages[i].cache_marker()});
      }
      // As Generate renders chat, up to the end of the last message (no generation prompt).
      RenderedChat rendered = routes.chat_template().RenderWithBoundaries(
          chat, tokenizer, /*add_generation_prompt=*/false);
      out->snapshot_hints = ChatSnapshotHints(chat, rendered);
      out->tokens = std::move(rendered.ids);
      return Status::Ok();
    }
    case pb::CreateContextRequest::INPUT_NOT_SET:
      break;
  }
  *path = "input";
  return FieldError("input", "one of text, tokens or chat is required");
}

}  // namespace

ContextsService::ContextsService(ServerState& state, const ApiKeyStore& keys,
                                 ServerMetrics& metrics)
    : state_(state), keys_(keys), metrics_(metrics) {}

std::string ContextsService::Route(std::string_view method) {
  return "/goldfinch.v1.Contexts/" + std::string(method);
}

StatusOr<ContextsService::Admitted> ContextsService::Admit(
    const grpc::CallbackServerContext& context) const {
  GF_ASSIGN_OR_RETURN(GrpcAdmission common, AdmitGrpcCall(state_, keys_, context));
  Admitted admitted;
  admitted.routes = common.routes;
  admitted.tenant = std::move(common.tenant);
  admitted.api = admitted.routes->config().contexts.get();
  if (admitted.api == nullptr) {
    return Unavailable("contexts need the prefix cache, which is off on this server");
  }
  return admitted;
}

void ContextsService::Finish(grpc::ServerUnaryReactor* reactor, std::string_view method,
                             const Status& status, const std::string& tenant,
                             Clock::time_point arrival) const {
  FinishUnaryCall(reactor, metrics_, Route(method), method, status, tenant, arrival);
}

grpc::ServerUnaryReactor* ContextsService::Serve(
    grpc::CallbackServerContext* context, std::string_view method,
    const std::function<Status(const Admitted&)>& body) const {
  const Clock::time_point arrival = Clock::now();
  std::string tenant;
  const Status status = [&]() -> Status {
    GF_ASSIGN_OR_RETURN(Admitted admitted, Admit(*context));
    tenant = admitted.tenant;
    return body(admitted);
  }();
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  Finish(reactor, method, status, tenant, arrival);
  return reactor;
}

grpc::ServerUnaryReactor* ContextsService::CreateContext(grpc::CallbackServerContext* context,
                                                         const pb::CreateContextRequest* request,
                                                         pb::Context* response) {
  const Clock::time_point arrival = Clock::now();
  CreateCall* call = CreateCall::Start();
  const std::shared_ptr<CreateCall> keep = call->Keep();
  grpc::ServerUnaryReactor* reactor = call;
  std::string tenant;
  Admitted admitted;
  ContextCreateInput input;
  const Status status = [&]() -> Status {
    GF_ASSIGN_OR_RETURN(admitted, Admit(*context));
    tenant = admitted.tenant;
    const OpenAiRoutes& routes = *admitted.routes;
    if (!request->model().empty() && request->model() != routes.model().id) {
      return NotFound("model: the model '" + request->model() + "' is not served");
    }
    GF_ASSIGN_OR_RETURN(input.ttl_seconds,
                        Ttl(request->has_ttl_seconds(), request->ttl_seconds(), 1));
    GF_ASSIGN_OR_RETURN(input.cache_salt, Salt(request->has_cache_salt(), request->cache_salt()));
    if (request->name().size() > kMaxContextNameBytes) {
      return FieldError("name", "must be at most " + std::to_string(kMaxContextNameBytes) +
                                    " bytes, got " + std::to_string(request->name().size()));
    }
    input.name = request->name();
    std::string path;
    GF_RETURN_IF_ERROR(ConvertInput(*request, routes, &input, &path));
    return WithPath(CheckContextTokens(routes, input.tokens.size()), path);
  }();
  if (!status.ok()) {
    Finish(reactor, "CreateContext", status, tenant, arrival);
    return reactor;
  }
  input.tenant = tenant;
  input.request_id = GenerateRequestId();
  const std::string model = admitted.routes->model().id;
  call->SetCreation(admitted.api->Create(
      *admitted.routes, std::move(input),
      [this, reactor, response, tenant, arrival, model](StatusOr<ContextRecord> created) {
        if (created.ok()) FillContext(*created, model, response);
        Finish(reactor, "CreateContext", created.status(), tenant, arrival);
      }));
  return reactor;
}

grpc::ServerUnaryReactor* ContextsService::GetContext(grpc::CallbackServerContext* context,
                                                      const pb::GetContextRequest* request,
                                                      pb::Context* response) {
  return Serve(context, "GetContext", [&](const Admitted& admitted) -> Status {
    GF_ASSIGN_OR_RETURN(auto salt, Salt(request->has_cache_salt(), request->cache_salt()));
    const CacheNamespace ns = ContextNamespace(*admitted.routes, admitted.tenant, salt);
    StatusOr<ContextRecord> record = admitted.api->registry().Get(ns, request->id());
    if (!record.ok()) return WithPath(record.status(), "id");
    FillContext(*record, admitted.routes->model().id, response);
    return Status::Ok();
  });
}

grpc::ServerUnaryReactor* ContextsService::ListContexts(grpc::CallbackServerContext* context,
                                                        const pb::ListContextsRequest* request,
                                                        pb::ListContextsResponse* response) {
  return Serve(context, "ListContexts", [&](const Admitted& admitted) -> Status {
    GF_ASSIGN_OR_RETURN(auto salt, Salt(request->has_cache_salt(), request->cache_salt()));
    const CacheNamespace ns = ContextNamespace(*admitted.routes, admitted.tenant, salt);
    for (const ContextRecord& record : admitted.api->registry().List(ns)) {
      FillContext(record, admitted.routes->model().id, response->add_contexts());
    }
    return Status::Ok();
  });
}

grpc::ServerUnaryReactor* ContextsService::PinContext(grpc::CallbackServerContext* context,
                                                      const pb::PinContextRequest* request,
                                                      pb::Context* response) {
  return Serve(context, "PinContext", [&](const Admitted& admitted) -> Status {
    GF_ASSIGN_OR_RETURN(int64_t ttl, Ttl(request->has_ttl_seconds(), request->ttl_seconds(), 0));
    GF_ASSIGN_OR_RETURN(auto salt, Salt(request->has_cache_salt(), request->cache_salt()));
    const CacheNamespace ns = ContextNamespace(*admitted.routes, admitted.tenant, salt);
    StatusOr<ContextRecord> record = admitted.api->registry().Pin(ns, request->id(), ttl);
    if (!record.ok()) return WithPath(record.status(), "id");
    FillContext(*record, admitted.routes->model().id, response);
    return Status::Ok();
  });
}

grpc::ServerUnaryReactor* ContextsService::DeleteContext(grpc::CallbackServerContext* context,
                                                         const pb::DeleteContextRequest* request,
                                                         pb::DeleteContextResponse* response) {
  return Serve(context, "DeleteContext", [&](const Admitted& admitted) -> Status {
    GF_ASSIGN_OR_RETURN(auto salt, Salt(request->has_cache_salt(), request->cache_salt()));
    const CacheNamespace ns = ContextNamespace(*admitted.routes, admitted.tenant, salt);
    GF_RETURN_IF_ERROR(WithPath(admitted.api->registry().Delete(ns, request->id()), "id"));
    response->set_id(request->id());
    response->set_deleted(true);
    return Status::Ok();
  });
}

Status ApplyContextId(const OpenAiRoutes& routes, std::string_view tenant,
                      const pb::GenerateRequest& in, GenerateRequest* out) {
  if (in.context_id().empty()) return Status::Ok();
  const std::optional<std::string> salt =
      in.has_cache_salt() ? std::optional<std::string>(in.cache_salt()) : std::nullopt;
  const CacheNamespace ns = ContextNamespace(routes, tenant, salt);
  StatusOr<ContextRecord> record = FindContext(routes, ns, in.context_id());
  if (!record.ok()) return WithPath(record.status(), "context_id");
  ContextUse use;
  switch (in.input_case()) {
    case pb::GenerateRequest::kTokens:
      use.prompt_param = "tokens.ids";
      break;
    case pb::GenerateRequest::kChat:
      use.prompt_param = "chat.messages";
      break;
    default:
      use.prompt_param = "text";
      break;
  }
  use.max_tokens_param = "max_tokens";
  use.explicit_max_tokens = in.has_max_tokens() || in.input_case() != pb::GenerateRequest::kChat;
  std::optional<ApiError> error =
      PrependContext(*record, routes.model(), routes.config().limits, use, {out, 1});
  if (error.has_value()) return FieldError(error->param, error->message);
  return Status::Ok();
}

}  // namespace gf::server
