#include "server/grpc/grpc_server.h"

#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/grpcpp.h>
#include <grpcpp/health_check_service_interface.h>

#include <algorithm>
#include <limits>

#include "server/grpc/context_service.h"
#include "server/grpc/grpc_service.h"

namespace gf::server {
namespace {

int ClampToInt(int64_t value) {
  return static_cast<int>(std::clamp<int64_t>(value, 0, std::numeric_limits<int>::max()));
}

std::string ListenAddress(const std::string& host, int port) {
  const bool ipv6 = host.find(':') != std::string::npos && host.front() != '[';
  return (ipv6 ? "[" + host + "]" : host) + ":" + std::to_string(port);
}

}  // namespace

GrpcServer::GrpcServer(GrpcServerOptions options, ServerState& state, const ApiKeyStore& keys,
                       ServerMetrics& metrics)
    : options_(std::move(options)),
      service_(std::make_unique<InferenceService>(state, keys, metrics)),
      contexts_service_(std::make_unique<ContextsService>(state, keys, metrics)) {}

GrpcServer::~GrpcServer() { Shutdown(std::chrono::steady_clock::duration::zero()); }

Status GrpcServer::Start() {
  if (server_ != nullptr || shut_down_) return FailedPrecondition("the gRPC server was started");
  // Both are process-wide switches read when a server is built.
  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();

  const std::string address = ListenAddress(options_.host, options_.port);
  grpc::ServerBuilder builder;
  int selected_port = 0;
  builder.AddListeningPort(address, grpc::InsecureServerCredentials(), &selected_port);
  builder.RegisterService(service_.get());
  builder.RegisterService(contexts_service_.get());
  builder.SetMaxReceiveMessageSize(ClampToInt(options_.max_message_bytes));
  builder.SetMaxSendMessageSize(ClampToInt(options_.max_message_bytes));
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIME_MS,
                             ClampToInt(options_.keepalive_time.count()));
  builder.AddChannelArgument(GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS,
                             ClampToInt(options_.keepalive_min_client_interval.count()));
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
  // A port in use is an error, not silently shared with another process.
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (server == nullptr || selected_port == 0) {
    if (server != nullptr) server->Shutdown();
    return Unavailable("cannot listen on " + address);
  }
  server_ = std::move(server);
  port_ = selected_port;
  SetServing(false);
  return Status::Ok();
}

void GrpcServer::SetServing(bool serving) {
  if (server_ == nullptr || shut_down_) return;
  grpc::HealthCheckServiceInterface* health = server_->GetHealthCheckService();
  if (health == nullptr) return;
  health->SetServingStatus("", serving);
  health->SetServingStatus(kServiceName, serving);
}

void GrpcServer::Shutdown(std::chrono::steady_clock::duration grace) {
  if (server_ == nullptr || shut_down_) return;
  shut_down_ = true;
  const auto deadline = std::chrono::system_clock::now() +
                        std::chrono::duration_cast<std::chrono::system_clock::duration>(grace);
  server_->Shutdown(deadline);
  server_->Wait();
  server_.reset();
}

}  // namespace gf::server
