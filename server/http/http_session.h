// One accepted TCP connection of HttpServer: reads HTTP/1.x requests under HttpLimits, hands each
// to the handler with a SessionWriter, and writes the response or SSE stream.
//
// Threads: every member runs on the connection's strand; the public Post*/RequestClose methods
// may be called from any thread and only post to it. Ownership: the session owns itself through
// shared_ptr (pending asynchronous operations hold it); the server and writers hold weak_ptrs.
//
// Pipelining: while a response is pending the session keeps one read outstanding so that a
// disconnect is noticed (-> OnClose). Bytes of a pipelined next request read meanwhile are kept
// and parsed after the response completes; at most max_header_bytes are buffered that way (then
// reading pauses until the response completes, and a disconnect is noticed only on write).
// A peer that half-closes (EOF) while its response is pending is treated as gone.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>

#include "server/http/http_types.h"

namespace gf::server {

class HttpSession;
class SessionWriter;

// State shared by an HttpServer and its sessions (outlives both through shared_ptr).
struct HttpServerShared {
  HttpLimits limits;
  HttpErrorRenderer make_error;
  HttpHandler handler;
  std::atomic<size_t> open_connections{0};  // live HttpSession objects
  std::atomic<bool> draining{false};  // StopAccepting called: responses carry Connection: close
  std::atomic<bool> stopping{false};  // Stop called: new requests get 503
  std::atomic<bool> stopped{false};   // I/O threads stopped: writers no longer post
  std::mutex mutex;                   // guards sessions
  std::vector<std::weak_ptr<HttpSession>> sessions;

  // make_error(status, message), or a text/plain fallback when make_error is empty.
  HttpResponse RenderError(int status, std::string message) const;
};

class HttpSession : public std::enable_shared_from_this<HttpSession> {
 public:
  // `socket` must have been accepted on a strand executor.
  HttpSession(boost::asio::ip::tcp::socket socket, std::shared_ptr<HttpServerShared> shared);
  ~HttpSession();
  HttpSession(const HttpSession&) = delete;
  HttpSession& operator=(const HttpSession&) = delete;

  void Start();         // any thread: begins reading the first request
  void RequestClose();  // any thread: closes the connection (fires OnClose of a pending response)

  // Called by SessionWriter from any thread; false when the server no longer runs its I/O
  // threads. Calls for a writer that is not the current one are ignored on the strand.
  bool PostSend(std::shared_ptr<SessionWriter> writer, HttpResponse response);
  bool PostStartStream(std::shared_ptr<SessionWriter> writer, HttpHeaderList headers);
  bool PostEvent(std::shared_ptr<SessionWriter> writer, std::string payload);
  bool PostEnd(std::shared_ptr<SessionWriter> writer);
  bool PostOverflow(std::shared_ptr<SessionWriter> writer);

 private:
  enum class Phase {
    kReading,    // waiting for / reading a request
    kHandling,   // request dispatched, response not finished
    kLingering,  // final bytes sent, send side shut down, discarding input until EOF
    kClosed,
  };
  struct Outbound {
    std::string bytes;
    size_t accounted = 0;  // payload bytes counted against the writer's buffer limit
    bool last = false;     // completes the response
  };

  void BeginRequest();
  void WaitForNextRequest();
  void ReadHeader();
  void OnHeader(boost::beast::error_code ec);
  void ReadBody();
  void OnBody(boost::beast::error_code ec);
  void HandleReadError(boost::beast::error_code ec);
  void Dispatch();
  void StartWatch();
  void OnWatch(boost::beast::error_code ec, size_t bytes);
  void ArmDeadline(std::chrono::steady_clock::duration timeout, bool close_on_expiry);
  void DisarmDeadline();

  void DoSend(const std::shared_ptr<SessionWriter>& writer, HttpResponse response);
  void DoStartStream(const std::shared_ptr<SessionWriter>& writer, HttpHeaderList headers);
  void DoEvent(const std::shared_ptr<SessionWriter>& writer, std::string payload);
  void DoEnd(const std::shared_ptr<SessionWriter>& writer);
  void ArmKeepAlive();
  void Enqueue(Outbound item);
  void WriteNext();
  void OnWritten(boost::beast::error_code ec);
  void FinishResponse();

  void SendErrorAndClose(int status, std::string message);
  void LingeringClose();
  void Close();

  std::shared_ptr<HttpServerShared> shared_;
  boost::beast::tcp_stream stream_;
  boost::asio::any_io_executor strand_;
  boost::beast::flat_buffer buffer_;
  std::optional<boost::beast::http::request_parser<boost::beast::http::string_body>> parser_;
  std::string remote_address_;
  Phase phase_ = Phase::kReading;

  boost::asio::steady_timer deadline_;  // request read / idle / lingering deadline
  uint64_t deadline_generation_ = 0;
  bool deadline_closes_ = false;  // expiry closes (idle, lingering) instead of answering 408
  bool read_timed_out_ = false;

  bool watching_ = false;         // a read is outstanding outside of request parsing
  bool restart_after_watch_ = false;
  size_t drained_bytes_ = 0;

  std::shared_ptr<SessionWriter> writer_;  // of the request being handled
  unsigned version_ = 11;
  bool keep_alive_ = true;
  bool head_request_ = false;
  bool streaming_ = false;     // StartStream processed
  bool stream_ended_ = false;  // EndStream processed
  bool chunked_ = false;
  std::deque<Outbound> queue_;
  bool writing_ = false;
  std::chrono::steady_clock::time_point last_write_{};
  boost::asio::steady_timer keepalive_timer_;
};

}  // namespace gf::server
