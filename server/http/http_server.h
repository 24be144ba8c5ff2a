// HttpServer: the HTTP/1.x listener of goldfinch-serve (Boost.Beast underneath, hidden here).
// It accepts connections on io_threads I/O threads and passes every complete request to the one
// HttpHandler (see http_types.h for the handler and writer contracts, limits and errors).
//
// Threads: Start/StopAccepting/Stop/port/open_connections may be called from any thread except
// that Stop (and the destructor) must not run on one of the server's I/O threads (it joins them).
// Errors: Start returns InvalidArgument (bad host or port) or Unavailable (cannot bind or listen),
// with "host:port" and the reason in the message; nothing throws.
#pragma once

#include <cstddef>
#include <memory>

#include "common/status.h"
#include "server/http/http_types.h"

namespace gf::server {

class HttpServer {
 public:
  HttpServer(HttpServerOptions options, HttpHandler handler);
  ~HttpServer();  // Stop()
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Binds, listens and starts the I/O threads. Call once.
  Status Start();
  // The bound port (useful with options.port = 0); 0 before Start.
  int port() const;
  // Closes the listening socket; open connections continue, and from now on every response
  // carries "Connection: close" so keep-alive connections drain. Returns once the acceptor is
  // closed (when called from an I/O thread, shortly after).
  void StopAccepting();
  // Closes every connection (pending responses see OnClose) and joins the I/O threads; waits at
  // most ~2 s for connections to wind down. Idempotent; writers then become no-ops.
  void Stop();
  // Connections currently open (including ones finishing a lingering close).
  size_t open_connections() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace gf::server
