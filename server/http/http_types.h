// Value types and the handler contract of the HTTP transport (server/http). The transport knows
// nothing of OpenAI or the engine: it parses HTTP/1.x, enforces HttpLimits, hands each complete
// request to ONE HttpHandler and sends either one complete response or an SSE stream.
//
// Threads: the handler runs on an I/O thread (concurrently on several, one call per request) and
// must return quickly (no inference, no blocking I/O); it may answer later from any thread through
// the ResponseWriter, which is thread-safe. A handler that throws gets a 500 (make_error).
// Ownership: the writer is held by shared_ptr and may outlive its connection; once the connection
// is gone every call is a no-op (StartStream/SendEvent/SendComment return false).
// Units: sizes in bytes, timeouts as std::chrono durations.
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace gf::server {

using HttpHeaderList = std::vector<std::pair<std::string, std::string>>;

struct HttpLimits {
  size_t max_header_bytes = 16 * 1024;       // request line + fields; exceeded -> 431 + close
  size_t max_body_bytes = 16 * 1024 * 1024;  // Content-Length or decoded chunked size -> 413 + close
  // The whole header must arrive within this time after the connection opened or after the first
  // byte of a keep-alive request (slowloris); else 408 + close.
  std::chrono::seconds header_read_timeout{10};
  std::chrono::seconds body_read_timeout{60};  // whole body after the header; else 408 + close
  std::chrono::seconds idle_timeout{60};       // keep-alive connection with no request -> close
  // A single socket write (a response or a queued stream chunk) that does not complete in this
  // time closes the connection (the client stopped reading). Addition to the planned interface.
  std::chrono::seconds write_timeout{60};
  // An SSE stream with no write for this long gets ": keep-alive\n\n" (also before the first event).
  std::chrono::milliseconds sse_keepalive_interval{5000};
  // Per-stream queued-but-unsent payload bytes; on overflow the stream is closed (slow consumer)
  // and the OnClose callback fires.
  size_t max_stream_buffer_bytes = 1 << 20;
};

struct HttpRequest {
  std::string method;  // "GET", "POST", ... as sent
  std::string path;    // target without the query string (not percent-decoded)
  std::string query;   // after '?', may be empty
  HttpHeaderList headers;  // names lower-cased, values as sent, in arrival order
  std::string body;        // de-chunked
  std::string remote_address;  // "ip:port" of the peer
  int version = 11;            // 10 = HTTP/1.0, 11 = HTTP/1.1 (addition)

  // The first value of the header `lower_name` (which must be lower case); "" when absent.
  std::string_view Header(std::string_view lower_name) const;
};

struct HttpResponse {
  int status = 200;  // values outside 100..999 are sent as 500
  std::string content_type = "application/json";
  // Extra headers (e.g. retry-after, x-request-id). Names or values containing CR/LF are dropped;
  // content-length, transfer-encoding and connection are set by the transport, except that
  // "connection: close" is honoured (the connection closes after this response).
  HttpHeaderList headers;
  std::string body;
};

// One per request. Thread-safe; see the file comment for lifetime.
class ResponseWriter {
 public:
  virtual ~ResponseWriter() = default;
  // A complete response; at most one of Send/StartStream per request (later calls are ignored).
  virtual void Send(HttpResponse response) = 0;
  // 200, text/event-stream, cache-control: no-cache; chunked framing for HTTP/1.1, connection-close
  // framing for HTTP/1.0. False if the client is gone or a response was already started.
  virtual bool StartStream(HttpHeaderList headers) = 0;
  // "data: " + data + "\n\n" (multi-line data becomes several data: lines). False when the stream
  // is closed, not started, or this event overflowed the buffer (the stream is then closed).
  virtual bool SendEvent(std::string_view data) = 0;
  virtual bool SendComment(std::string_view text) = 0;  // ": text\n\n"
  // Finishes the stream once everything queued is sent; the connection is then reused
  // (keep-alive) or closed.
  virtual void EndStream() = 0;
  // `callback` runs once, on an I/O thread, when the client disconnects (or the stream is closed
  // for overflow, or the server stops) before the handler finished its response (Send or
  // EndStream called); it runs immediately on the calling thread if that already happened. It is
  // never called once Send or EndStream was called. A second SetOnClose replaces the first.
  virtual void SetOnClose(std::function<void()> callback) = 0;
  // True once the client is gone, the stream overflowed, or the response was finished.
  virtual bool closed() const = 0;
};

using HttpHandler =
    std::function<void(HttpRequest request, std::shared_ptr<ResponseWriter> writer)>;

// Renders the body of errors produced by the transport itself (400 bad HTTP, 408, 413, 431, 500
// when the handler throws, 503 when stopping).
using HttpErrorRenderer = std::function<HttpResponse(int status, std::string message)>;

struct HttpServerOptions {
  std::string host = "127.0.0.1";  // an IP address or a resolvable name
  int port = 8000;                 // 0 = pick a free port (see HttpServer::port())
  int io_threads = 2;              // values < 1 are treated as 1
  HttpLimits limits;
  HttpErrorRenderer make_error;  // when empty, errors are text/plain with the message
};

}  // namespace gf::server
