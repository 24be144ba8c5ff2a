#include "server/http/http_session.h"

#include <algorithm>
#include <exception>
#include <limits>
#include <sstream>
#include <utility>

#include <boost/asio/post.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/buffers_to_string.hpp>
#include <boost/beast/core/string.hpp>
#include <boost/beast/http/chunk_encode.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/write.hpp>

#include "server/http/session_writer.h"
#include "server/http/sse.h"

namespace gf::server {
namespace {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = boost::beast::http;
using tcp = net::ip::tcp;
using Clock = std::chrono::steady_clock;

constexpr size_t kReadChunk = 4096;
constexpr size_t kMaxDrainBytes = 1 << 20;                 // lingering close discards at most this
constexpr std::chrono::seconds kLingerTimeout{1};          // ... for at most this long
constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";

bool HasLineBreak(std::string_view s) { return s.find_first_of("\r\n") != std::string_view::npos; }

// Extra headers a handler may set: no CR/LF (header injection), no framing headers.
bool IsAllowedExtraHeader(std::string_view name, std::string_view value) {
  if (name.empty() || HasLineBreak(name) || HasLineBreak(value)) return false;
  if (name.find(':') != std::string_view::npos || value.find('\0') != std::string_view::npos) {
    return false;
  }
  return !beast::iequals(name, "content-length") && !beast::iequals(name, "transfer-encoding") &&
         !beast::iequals(name, "connection");
}

bool AsksToClose(const HttpHeaderList& headers) {
  for (const auto& [name, value] : headers) {
    if (beast::iequals(name, "connection") && beast::iequals(value, "close")) return true;
  }
  return false;
}

template <class Message>
void AddExtraHeaders(Message& message, const HttpHeaderList& headers) {
  for (const auto& [name, value] : headers) {
    if (IsAllowedExtraHeader(name, value)) message.insert(name, value);
  }
}

std::string SerializeResponse(const HttpResponse& response, unsigned version, bool keep_alive,
                              bool head) {
  http::response<http::string_body> message;
  message.version(version);
  const int status = response.status >= 100 && response.status <= 999 ? response.status : 500;
  message.result(static_cast<unsigned>(status));
  if (!HasLineBreak(response.content_type) && !response.content_type.empty()) {
    message.set(http::field::content_type, response.content_type);
  }
  AddExtraHeaders(message, response.headers);
  message.keep_alive(keep_alive);
  message.body() = response.body;
  message.prepare_payload();
  std::ostringstream out;
  if (head) {
    out << message.base();
  } else {
    out << message;
  }
  return std::move(out).str();
}

std::string SerializeStreamHeader(const HttpHeaderList& headers, unsigned version, bool chunked,
                                  bool keep_alive) {
  http::response<http::empty_body> message{http::status::ok, version};
  message.set(http::field::content_type, "text/event-stream");
  message.set(http::field::cache_control, "no-cache");
  AddExtraHeaders(message, headers);
  message.keep_alive(keep_alive);
  if (chunked) message.chunked(true);
  std::ostringstream out;
  out << message.base();
  return std::move(out).str();
}

std::string RemoteAddress(const tcp::socket& socket) {
  beast::error_code ec;
  const tcp::endpoint endpoint = socket.remote_endpoint(ec);
  if (ec) return "";
  const std::string address = endpoint.address().to_string();
  const std::string port = std::to_string(endpoint.port());
  return endpoint.address().is_v6() ? "[" + address + "]:" + port : address + ":" + port;
}

std::string LowerCase(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) {
    return static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
  });
  return out;
}

}  // namespace

HttpResponse HttpServerShared::RenderError(int status, std::string message) const {
  if (make_error) return make_error(status, std::move(message));
  HttpResponse response;
  response.status = status;
  response.content_type = "text/plain; charset=utf-8";
  response.body = std::move(message) + "\n";
  return response;
}

HttpSession::HttpSession(tcp::socket socket, std::shared_ptr<HttpServerShared> shared)
    : shared_(std::move(shared)),
      stream_(std::move(socket)),
      strand_(stream_.get_executor()),
      remote_address_(RemoteAddress(stream_.socket())),
      deadline_(strand_),
      keepalive_timer_(strand_) {
  shared_->open_connections.fetch_add(1);
  beast::error_code ignored;
  stream_.socket().set_option(tcp::no_delay(true), ignored);
}

HttpSession::~HttpSession() {
  if (writer_) writer_->SessionClosed();
  shared_->open_connections.fetch_sub(1);
}

void HttpSession::Start() {
  net::post(strand_, [self = shared_from_this()] { self->BeginRequest(); });
}

void HttpSession::RequestClose() {
  net::post(strand_, [self = shared_from_this()] { self->Close(); });
}

bool HttpSession::PostSend(std::shared_ptr<SessionWriter> writer, HttpResponse response) {
  if (shared_->stopped.load()) return false;
  net::post(strand_, [self = shared_from_this(), writer = std::move(writer),
                      response = std::move(response)]() mutable {
    self->DoSend(writer, std::move(response));
  });
  return true;
}

bool HttpSession::PostStartStream(std::shared_ptr<SessionWriter> writer, HttpHeaderList headers) {
  if (shared_->stopped.load()) return false;
  net::post(strand_, [self = shared_from_this(), writer = std::move(writer),
                      headers = std::move(headers)]() mutable {
    self->DoStartStream(writer, std::move(headers));
  });
  return true;
}

bool HttpSession::PostEvent(std::shared_ptr<SessionWriter> writer, std::string payload) {
  if (shared_->stopped.load()) return false;
  net::post(strand_, [self = shared_from_this(), writer = std::move(writer),
                      payload = std::move(payload)]() mutable {
    self->DoEvent(writer, std::move(payload));
  });
  return true;
}

bool HttpSession::PostEnd(std::shared_ptr<SessionWriter> writer) {
  if (shared_->stopped.load()) return false;
  net::post(strand_, [self = shared_from_this(), writer = std::move(writer)] {
    self->DoEnd(writer);
  });
  return true;
}

bool HttpSession::PostOverflow(std::shared_ptr<SessionWriter> writer) {
  if (shared_->stopped.load()) return false;
  net::post(strand_, [self = shared_from_this(), writer = std::move(writer)] {
    if (writer == self->writer_) self->Close();
  });
  return true;
}

// ---- Reading requests ----

void HttpSession::BeginRequest() {
  if (phase_ == Phase::kClosed) return;
  phase_ = Phase::kReading;
  parser_.emplace();
  const HttpLimits& limits = shared_->limits;
  parser_->header_limit(static_cast<std::uint32_t>(
      std::min<size_t>(limits.max_header_bytes, std::numeric_limits<std::uint32_t>::max())));
  parser_->body_limit(static_cast<std::uint64_t>(limits.max_body_bytes));
  ReadHeader();
}

void HttpSession::WaitForNextRequest() {
  // Keep-alive: wait up to idle_timeout for the first byte, then the header deadline applies.
  if (buffer_.size() > 0) {
    BeginRequest();
    return;
  }
  phase_ = Phase::kReading;
  ArmDeadline(shared_->limits.idle_timeout, /*close_on_expiry=*/true);
  stream_.expires_never();
  stream_.async_read_some(
      buffer_.prepare(kReadChunk),
      [self = shared_from_this()](beast::error_code ec, size_t bytes) {
        self->buffer_.commit(bytes);
        self->DisarmDeadline();
        if (self->phase_ == Phase::kClosed) return;
        if (ec) {
          self->Close();
          return;
        }
        self->BeginRequest();
      });
}

void HttpSession::ReadHeader() {
  ArmDeadline(shared_->limits.header_read_timeout, /*close_on_expiry=*/false);
  stream_.expires_never();
  http::async_read_header(stream_, buffer_, *parser_,
                          [self = shared_from_this()](beast::error_code ec, size_t) {
                            self->OnHeader(ec);
                          });
}

void HttpSession::OnHeader(beast::error_code ec) {
  DisarmDeadline();
  if (phase_ == Phase::kClosed) return;
  if (ec) {
    HandleReadError(ec);
    return;
  }
  const auto content_length = parser_->content_length();
  if (content_length && *content_length > shared_->limits.max_body_bytes) {
    SendErrorAndClose(413, "request body too large");
    return;
  }
  if (parser_->is_done()) {
    Dispatch();
    return;
  }
  const auto& request = parser_->get();
  if (request.version() >= 11 && beast::iequals(request[http::field::expect], "100-continue")) {
    stream_.expires_after(shared_->limits.write_timeout);
    net::async_write(stream_, net::buffer(kContinue.data(), kContinue.size()),
                     [self = shared_from_this()](beast::error_code write_ec, size_t) {
                       if (self->phase_ == Phase::kClosed) return;
                       if (write_ec) {
                         self->Close();
                         return;
                       }
                       self->ReadBody();
                     });
    return;
  }
  ReadBody();
}

void HttpSession::ReadBody() {
  ArmDeadline(shared_->limits.body_read_timeout, /*close_on_expiry=*/false);
  stream_.expires_never();
  http::async_read(stream_, buffer_, *parser_,
                   [self = shared_from_this()](beast::error_code ec, size_t) { self->OnBody(ec); });
}

void HttpSession::OnBody(beast::error_code ec) {
  DisarmDeadline();
  if (phase_ == Phase::kClosed) return;
  if (ec) {
    HandleReadError(ec);
    return;
  }
  Dispatch();
}

void HttpSession::HandleReadError(beast::error_code ec) {
  if (read_timed_out_) {
    SendErrorAndClose(408, "timed out reading the request");
    return;
  }
  if (ec == http::error::header_limit || ec == http::error::buffer_overflow) {
    SendErrorAndClose(431, "request header fields too large");
    return;
  }
  if (ec == http::error::body_limit) {
    SendErrorAndClose(413, "request body too large");
    return;
  }
  if (ec == http::error::end_of_stream || ec == http::error::partial_message ||
      ec.category() != beast::error_code(http::error::bad_method).category()) {
    Close();  // the peer went away (or a socket error): nobody to answer
    return;
  }
  SendErrorAndClose(400, "malformed HTTP request: " + ec.message());
}

void HttpSession::Dispatch() {
  http::request<http::string_body> message = parser_->release();
  parser_.reset();
  version_ = message.version();
  keep_alive_ = message.keep_alive();
  head_request_ = message.method() == http::verb::head;
  streaming_ = false;
  stream_ended_ = false;
  chunked_ = false;

  HttpRequest request;
  request.method = std::string(message.method_string());
  const std::string_view target = message.target();
  const size_t question = target.find('?');
  request.path = std::string(target.substr(0, question));
  if (question != std::string_view::npos) request.query = std::string(target.substr(question + 1));
  for (const auto& field : message) {
    request.headers.emplace_back(LowerCase(field.name_string()), std::string(field.value()));
  }
  request.body = std::move(message.body());
  request.remote_address = remote_address_;
  request.version = static_cast<int>(version_);

  phase_ = Phase::kHandling;
  writer_ = std::make_shared<SessionWriter>(weak_from_this(), shared_->limits.max_stream_buffer_bytes);
  StartWatch();
  std::shared_ptr<SessionWriter> writer = writer_;
  if (shared_->stopping.load()) {
    writer->Send(shared_->RenderError(503, "server is shutting down"));
    return;
  }
  if (!shared_->handler) {
    writer->Send(shared_->RenderError(500, "no request handler"));
    return;
  }
  try {
    shared_->handler(std::move(request), writer);
  } catch (const std::exception& e) {
    writer->Send(shared_->RenderError(500, std::string("internal error: ") + e.what()));
    writer->EndStream();
  } catch (...) {
    writer->Send(shared_->RenderError(500, "internal error"));
    writer->EndStream();
  }
}

// A read kept outstanding while a response is pending (disconnect detection) or while lingering.
void HttpSession::StartWatch() {
  if (watching_ || phase_ == Phase::kClosed) return;
  if (phase_ == Phase::kLingering) {
    buffer_.consume(buffer_.size());
  } else if (buffer_.size() >= shared_->limits.max_header_bytes) {
    return;  // pipelined bytes beyond one header's worth: pause reading until the response ends
  }
  watching_ = true;
  stream_.expires_never();
  stream_.async_read_some(buffer_.prepare(kReadChunk),
                          [self = shared_from_this()](beast::error_code ec, size_t bytes) {
                            self->OnWatch(ec, bytes);
                          });
}

void HttpSession::OnWatch(beast::error_code ec, size_t bytes) {
  watching_ = false;
  buffer_.commit(bytes);
  if (phase_ == Phase::kClosed) return;
  if (phase_ == Phase::kLingering) {
    drained_bytes_ += bytes;
    if (ec || drained_bytes_ > kMaxDrainBytes) {
      Close();
    } else {
      StartWatch();
    }
    return;
  }
  if (restart_after_watch_) {
    restart_after_watch_ = false;
    if (ec && ec != net::error::operation_aborted) {
      Close();  // the peer closed (or failed) right after its response: no next request
    } else {
      WaitForNextRequest();
    }
    return;
  }
  if (ec) {
    Close();  // the client disconnected before its response completed -> OnClose
    return;
  }
  StartWatch();
}

void HttpSession::ArmDeadline(std::chrono::steady_clock::duration timeout, bool close_on_expiry) {
  const uint64_t generation = ++deadline_generation_;
  deadline_closes_ = close_on_expiry;
  read_timed_out_ = false;
  deadline_.expires_after(timeout);
  deadline_.async_wait([self = shared_from_this(), generation](beast::error_code ec) {
    if (ec || generation != self->deadline_generation_ || self->phase_ == Phase::kClosed) return;
    if (self->deadline_closes_) {
      self->Close();
      return;
    }
    self->read_timed_out_ = true;  // the read completes with operation_aborted -> 408
    beast::error_code ignored;
    self->stream_.socket().cancel(ignored);
  });
}

void HttpSession::DisarmDeadline() {
  ++deadline_generation_;
  deadline_.cancel();
}

// ---- Writing responses ----

void HttpSession::DoSend(const std::shared_ptr<SessionWriter>& writer, HttpResponse response) {
  if (phase_ != Phase::kHandling || writer != writer_ || streaming_) return;
  keep_alive_ = keep_alive_ && !AsksToClose(response.headers) && !shared_->draining.load();
  Enqueue({SerializeResponse(response, version_, keep_alive_, head_request_), 0, true});
}

void HttpSession::DoStartStream(const std::shared_ptr<SessionWriter>& writer,
                                HttpHeaderList headers) {
  if (phase_ != Phase::kHandling || writer != writer_ || streaming_) return;
  streaming_ = true;
  chunked_ = version_ >= 11;
  // Without chunked framing (HTTP/1.0) the end of the stream is the end of the connection.
  keep_alive_ = keep_alive_ && chunked_ && !AsksToClose(headers) && !shared_->draining.load();
  Enqueue({SerializeStreamHeader(headers, version_, chunked_, keep_alive_), 0, false});
  ArmKeepAlive();
}

void HttpSession::DoEvent(const std::shared_ptr<SessionWriter>& writer, std::string payload) {
  if (phase_ != Phase::kHandling || writer != writer_ || !streaming_ || stream_ended_) return;
  const size_t accounted = payload.size();
  if (chunked_) {
    Enqueue({beast::buffers_to_string(http::make_chunk(net::buffer(payload))), accounted, false});
  } else {
    Enqueue({std::move(payload), accounted, false});
  }
}

void HttpSession::DoEnd(const std::shared_ptr<SessionWriter>& writer) {
  if (phase_ != Phase::kHandling || writer != writer_ || !streaming_ || stream_ended_) return;
  stream_ended_ = true;
  keepalive_timer_.cancel();
  Enqueue({chunked_ ? beast::buffers_to_string(http::make_chunk_last()) : std::string(), 0, true});
}

void HttpSession::ArmKeepAlive() {
  const auto interval = shared_->limits.sse_keepalive_interval;
  if (interval.count() <= 0) return;
  keepalive_timer_.expires_at(last_write_ + interval);
  keepalive_timer_.async_wait([self = shared_from_this(), interval](beast::error_code ec) {
    if (ec || self->phase_ != Phase::kHandling || !self->streaming_ || self->stream_ended_ ||
        !self->writer_) {
      return;
    }
    if (Clock::now() - self->last_write_ >= interval) {
      std::string comment = sse::FormatComment("keep-alive");
      if (!self->writer_->SessionAccount(comment.size())) {
        self->Close();  // slow consumer
        return;
      }
      const size_t accounted = comment.size();
      if (self->chunked_) comment = beast::buffers_to_string(http::make_chunk(net::buffer(comment)));
      self->Enqueue({std::move(comment), accounted, false});
    }
    self->ArmKeepAlive();
  });
}

void HttpSession::Enqueue(Outbound item) {
  last_write_ = Clock::now();
  queue_.push_back(std::move(item));
  if (!writing_) WriteNext();
}

void HttpSession::WriteNext() {
  if (queue_.empty() || phase_ == Phase::kClosed) return;
  writing_ = true;
  if (queue_.front().bytes.empty()) {
    net::post(strand_, [self = shared_from_this()] { self->OnWritten({}); });
    return;
  }
  stream_.expires_after(shared_->limits.write_timeout);
  net::async_write(stream_, net::buffer(queue_.front().bytes),
                   [self = shared_from_this()](beast::error_code ec, size_t) {
                     self->OnWritten(ec);
                   });
}

void HttpSession::OnWritten(beast::error_code ec) {
  writing_ = false;
  if (phase_ == Phase::kClosed) return;
  Outbound item = std::move(queue_.front());
  queue_.pop_front();
  if (writer_ && item.accounted > 0) writer_->SessionWrote(item.accounted);
  if (ec) {
    Close();
    return;
  }
  if (item.last) {
    FinishResponse();
    return;
  }
  WriteNext();
}

void HttpSession::FinishResponse() {
  writer_.reset();  // finished normally: its OnClose callback was dropped by Send/EndStream
  keepalive_timer_.cancel();
  streaming_ = false;
  if (!keep_alive_) {
    LingeringClose();
    return;
  }
  if (watching_) {
    restart_after_watch_ = true;  // OnWatch continues with the next request
    beast::error_code ignored;
    stream_.socket().cancel(ignored);
    return;
  }
  WaitForNextRequest();
}

// ---- Errors and closing ----

void HttpSession::SendErrorAndClose(int status, std::string message) {
  phase_ = Phase::kHandling;
  keep_alive_ = false;
  streaming_ = false;
  head_request_ = false;
  parser_.reset();
  Enqueue({SerializeResponse(shared_->RenderError(status, std::move(message)), 11, false, false),
           0, true});
}

// Sends FIN, then discards input until the peer closes (bounded in time and bytes), so that
// unread request bytes do not turn the close into a reset that could destroy the response.
void HttpSession::LingeringClose() {
  phase_ = Phase::kLingering;
  beast::error_code ignored;
  stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
  ArmDeadline(kLingerTimeout, /*close_on_expiry=*/true);
  StartWatch();
}

void HttpSession::Close() {
  if (phase_ == Phase::kClosed) return;
  phase_ = Phase::kClosed;
  DisarmDeadline();
  keepalive_timer_.cancel();
  beast::error_code ignored;
  stream_.socket().shutdown(tcp::socket::shutdown_both, ignored);
  stream_.close();
  if (writer_) {
    std::shared_ptr<SessionWriter> writer = std::move(writer_);
    writer_.reset();
    writer->SessionClosed();
  }
}

}  // namespace gf::server
