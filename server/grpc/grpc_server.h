// GrpcServer: the gRPC port of `goldfinch serve`: goldfinch.v1.Inference (InferenceService),
// goldfinch.v1.Contexts (ContextsService, server/grpc/context_service.h),
// grpc.health.v1.Health and server reflection (grpc.reflection.v1alpha, the version Debian's
// libgrpc++_reflection 1.51 serves), plaintext, on its own port.
//
// Contract:
// - Start binds host:port (port 0 = any free port; the serve command itself treats
//   --grpc-port 0 as "off" and never starts the server then) and starts serving; errors:
//   Unavailable "cannot listen on HOST:PORT" when the port cannot be bound, FailedPrecondition
//   when already started. port() is the bound port after a successful Start.
// - Health ("" and "goldfinch.v1.Inference") starts NOT_SERVING; SetServing(true) once the
//   model is loaded, SetServing(false) when draining. Health and reflection need no API key;
//   the Inference methods do when keys are configured (see grpc_service.h).
// - Shutdown(grace) stops accepting calls, lets running calls finish for up to `grace`, then
//   cancels the rest, and returns once every call is done (every reactor's OnDone has run).
//   Idempotent; the destructor calls Shutdown(0). The Engine that InferenceService uses must
//   outlive Shutdown.
// - Threads: Start, SetServing and Shutdown may be called from any thread, but not
//   concurrently with each other. The calls run on gRPC's own callback threads.
//
// Transport choices (gRPC channel arguments):
// - keepalive_time (GRPC_ARG_KEEPALIVE_TIME_MS, default 7200 s = gRPC's server default): how
//   often the server pings an idle connection to detect dead peers; the ping times out after
//   gRPC's default 20 s.
// - keepalive_min_client_interval (GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS,
//   default 60 s) with GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS = 1: clients may send keepalive
//   pings at most once per interval, also on connections without calls (gRPC's default would
//   be 5 minutes and only during calls, which makes common client keepalive settings (30-60 s)
//   draw GOAWAY too_many_pings); faster pings still count as strikes (gRPC default: 2).
// - GRPC_ARG_ALLOW_REUSEPORT = 0: a port already in use fails Start instead of being shared.
// - max_message_bytes: the receive limit (gRPC's default is 4 MiB, too small for long prompts
//   sent as token ids) and the send limit (echo with logprobs of a long prompt).
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "common/status.h"
#include "server/auth.h"
#include "server/metrics.h"
#include "server/router.h"

namespace grpc {
class Server;
}

namespace gf::server {

class InferenceService;
class ContextsService;

struct GrpcServerOptions {
  std::string host = "127.0.0.1";  // an IPv6 literal may be given with or without brackets
  int port = 0;                    // 0 = any free port
  int64_t max_message_bytes = 16 * 1024 * 1024;
  std::chrono::milliseconds keepalive_time{std::chrono::hours(2)};
  std::chrono::milliseconds keepalive_min_client_interval{std::chrono::seconds(60)};
};

class GrpcServer {
 public:
  // Keeps references to state, keys and metrics: they must outlive the server.
  GrpcServer(GrpcServerOptions options, ServerState& state, const ApiKeyStore& keys,
             ServerMetrics& metrics);
  ~GrpcServer();
  GrpcServer(const GrpcServer&) = delete;
  GrpcServer& operator=(const GrpcServer&) = delete;

  Status Start();
  int port() const { return port_; }

  void SetServing(bool serving);
  void Shutdown(std::chrono::steady_clock::duration grace);

  // The service name used in health checks besides "".
  static constexpr const char* kServiceName = "goldfinch.v1.Inference";

 private:
  GrpcServerOptions options_;
  std::unique_ptr<InferenceService> service_;          // outlives server_ (declared first)
  std::unique_ptr<ContextsService> contexts_service_;  // goldfinch.v1.Contexts, likewise
  std::unique_ptr<grpc::Server> server_;
  int port_ = 0;
  bool shut_down_ = false;
};

}  // namespace gf::server
