// A blocking HTTP/1.1 test client over a raw loopback socket, with bounded waits, for tests of
// the HTTP server (and of routes on top of it). Responses are parsed with Beast's response parser
// (1xx interim responses are returned like any other). Not thread-safe: one thread per Client.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

#include <boost/asio/buffer.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>

namespace gf::server::http_test {

namespace http = boost::beast::http;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

struct ParsedResponse {
  bool ok = false;  // a complete response was read
  int status = 0;
  http::response<http::string_body> message;
  std::string Header(http::field field) const { return std::string(message[field]); }
  std::string Header(std::string_view name) const { return std::string(message[name]); }
};

// A blocking loopback client with bounded waits.
class Client {
 public:
  explicit Client(int port, int receive_buffer = 0) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    if (receive_buffer > 0) {
      ::setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &receive_buffer, sizeof(receive_buffer));
    }
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(static_cast<uint16_t>(port));
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    connected_ = ::connect(fd_, reinterpret_cast<sockaddr*>(&address), sizeof(address)) == 0;
  }
  ~Client() { Close(); }
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  bool connected() const { return connected_; }

  bool Send(std::string_view data) {
    while (!data.empty()) {
      const ssize_t n = ::send(fd_, data.data(), data.size(), MSG_NOSIGNAL);
      if (n <= 0) return false;
      data.remove_prefix(static_cast<size_t>(n));
    }
    return true;
  }

  // Appends received bytes to pending_; false on EOF, error or timeout.
  bool Receive(std::chrono::milliseconds timeout) {
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(timeout.count())) <= 0) return false;
    char buffer[16384];
    const ssize_t n = ::recv(fd_, buffer, sizeof(buffer), 0);
    if (n <= 0) {
      eof_ = true;
      return false;
    }
    pending_.append(buffer, static_cast<size_t>(n));
    return true;
  }

  // Reads one response (1xx included) within `timeout`.
  ParsedResponse ReadResponse(std::chrono::milliseconds timeout = 5000ms) {
    ParsedResponse out;
    http::response_parser<http::string_body> parser;
    parser.eager(true);
    parser.body_limit(64 << 20);
    const auto deadline = Clock::now() + timeout;
    while (true) {
      boost::beast::error_code ec;
      if (!pending_.empty()) {
        const size_t used = parser.put(boost::asio::buffer(pending_), ec);
        pending_.erase(0, used);
        if (ec && ec != http::error::need_more) return out;
      }
      if (parser.is_done()) break;
      if (ec != http::error::need_more && !pending_.empty()) continue;
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
      if (left.count() <= 0) return out;
      if (!Receive(left)) {
        if (!eof_) return out;
        parser.put_eof(ec);  // body delimited by the end of the connection
        if (ec || !parser.is_done()) return out;
        break;
      }
    }
    out.ok = true;
    out.message = parser.release();
    out.status = static_cast<int>(out.message.result_int());
    return out;
  }

  // Everything until the peer closes; `closed` reports whether EOF was seen before the timeout.
  std::string ReadUntilClosed(std::chrono::milliseconds timeout, bool* closed = nullptr) {
    const auto deadline = Clock::now() + timeout;
    while (!eof_) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
      if (left.count() <= 0) break;
      if (!Receive(left) && !eof_) break;
    }
    if (closed) *closed = eof_;
    std::string all = std::move(pending_);
    pending_.clear();
    return all;
  }

  // Reads until `needle` is among the received bytes.
  bool WaitFor(std::string_view needle, std::chrono::milliseconds timeout) {
    const auto deadline = Clock::now() + timeout;
    while (pending_.find(needle) == std::string::npos) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
      if (left.count() <= 0 || !Receive(left)) return false;
    }
    return true;
  }

  void Close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

 private:
  int fd_ = -1;
  bool connected_ = false;
  bool eof_ = false;
  std::string pending_;
};

}  // namespace gf::server::http_test
