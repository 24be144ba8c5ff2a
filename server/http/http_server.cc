#include "server/http/http_server.h"

#include <algorithm>
#include <chrono>
#include <future>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>

#include "server/http/http_session.h"

namespace gf::server {
namespace {

namespace net = boost::asio;
using tcp = net::ip::tcp;

constexpr std::chrono::milliseconds kAcceptRetryDelay{100};  // after EMFILE and similar
constexpr std::chrono::seconds kStopGrace{2};

}  // namespace

std::string_view HttpRequest::Header(std::string_view lower_name) const {
  for (const auto& [name, value] : headers) {
    if (name == lower_name) return value;
  }
  return {};
}

struct HttpServer::Impl {
  Impl(HttpServerOptions opts, HttpHandler handler)
      : options(std::move(opts)),
        shared(std::make_shared<HttpServerShared>()),
        acceptor(net::make_strand(ioc)),
        retry_timer(acceptor.get_executor()) {
    shared->limits = options.limits;
    shared->make_error = options.make_error;
    shared->handler = std::move(handler);
  }

  std::string Where() const { return options.host + ":" + std::to_string(options.port); }

  Status Bind() {
    if (options.port < 0 || options.port > 65535) {
      return InvalidArgument("invalid port in " + Where());
    }
    boost::system::error_code ec;
    tcp::endpoint endpoint;
    const net::ip::address address = net::ip::make_address(options.host, ec);
    if (!ec) {
      endpoint = tcp::endpoint(address, static_cast<unsigned short>(options.port));
    } else {
      tcp::resolver resolver(ioc);
      auto results = resolver.resolve(options.host, std::to_string(options.port),
                                      tcp::resolver::passive, ec);
      if (ec || results.empty()) {
        return InvalidArgument("cannot resolve " + Where() + ": " +
                               (ec ? ec.message() : std::string("no address")));
      }
      endpoint = results.begin()->endpoint();
    }
    acceptor.open(endpoint.protocol(), ec);
    if (ec) return Unavailable("cannot open a socket for " + Where() + ": " + ec.message());
    acceptor.set_option(net::socket_base::reuse_address(true), ec);
    acceptor.bind(endpoint, ec);
    if (ec) return Unavailable("cannot bind " + Where() + ": " + ec.message());
    acceptor.listen(net::socket_base::max_listen_connections, ec);
    if (ec) return Unavailable("cannot listen on " + Where() + ": " + ec.message());
    bound_port = acceptor.local_endpoint(ec).port();
    return Status::Ok();
  }

  void Accept() {
    acceptor.async_accept(net::make_strand(ioc), [this](boost::system::error_code ec,
                                                        tcp::socket socket) {
      if (!acceptor.is_open()) return;
      if (ec) {
        if (ec == net::error::operation_aborted) return;
        // Out of descriptors or a transient error: retry shortly instead of spinning.
        retry_timer.expires_after(kAcceptRetryDelay);
        retry_timer.async_wait([this](boost::system::error_code wait_ec) {
          if (!wait_ec && acceptor.is_open()) Accept();
        });
        return;
      }
      auto session = std::make_shared<HttpSession>(std::move(socket), shared);
      {
        std::lock_guard<std::mutex> lock(shared->mutex);
        auto& sessions = shared->sessions;
        sessions.erase(std::remove_if(sessions.begin(), sessions.end(),
                                      [](const auto& weak) { return weak.expired(); }),
                       sessions.end());
        sessions.push_back(session);
      }
      session->Start();
      Accept();
    });
  }

  bool OnIoThread() const {
    const auto id = std::this_thread::get_id();
    for (const auto& thread : threads) {
      if (thread.get_id() == id) return true;
    }
    return false;
  }

  HttpServerOptions options;
  std::shared_ptr<HttpServerShared> shared;
  net::io_context ioc;
  tcp::acceptor acceptor;
  net::steady_timer retry_timer;
  std::optional<net::executor_work_guard<net::io_context::executor_type>> work;
  std::vector<std::thread> threads;
  int bound_port = 0;
  bool started = false;
  bool stopped = false;
  std::mutex control_mutex;  // serialises Start/StopAccepting/Stop
};

HttpServer::HttpServer(HttpServerOptions options, HttpHandler handler)
    : impl_(std::make_unique<Impl>(std::move(options), std::move(handler))) {}

HttpServer::~HttpServer() { Stop(); }

Status HttpServer::Start() {
  std::lock_guard<std::mutex> lock(impl_->control_mutex);
  if (impl_->started) return FailedPrecondition("the HTTP server was already started");
  GF_RETURN_IF_ERROR(impl_->Bind());
  impl_->started = true;
  impl_->work.emplace(impl_->ioc.get_executor());
  const int thread_count = impl_->options.io_threads < 1 ? 1 : impl_->options.io_threads;
  impl_->Accept();
  for (int i = 0; i < thread_count; ++i) {
    impl_->threads.emplace_back([this] { impl_->ioc.run(); });
  }
  return Status::Ok();
}

int HttpServer::port() const { return impl_->bound_port; }

void HttpServer::StopAccepting() {
  impl_->shared->draining.store(true);
  if (!impl_->started || impl_->stopped) return;
  auto close_acceptor = [impl = impl_.get()] {
    boost::system::error_code ignored;
    impl->acceptor.close(ignored);
    impl->retry_timer.cancel();
  };
  if (impl_->OnIoThread()) {
    net::post(impl_->acceptor.get_executor(), close_acceptor);
    return;
  }
  std::promise<void> done;
  net::post(impl_->acceptor.get_executor(), [&] {
    close_acceptor();
    done.set_value();
  });
  done.get_future().wait();
}

void HttpServer::Stop() {
  std::lock_guard<std::mutex> lock(impl_->control_mutex);
  if (!impl_->started || impl_->stopped) return;
  impl_->shared->stopping.store(true);
  StopAccepting();
  impl_->stopped = true;
  std::vector<std::shared_ptr<HttpSession>> sessions;
  {
    std::lock_guard<std::mutex> sessions_lock(impl_->shared->mutex);
    for (const auto& weak : impl_->shared->sessions) {
      if (auto session = weak.lock()) sessions.push_back(std::move(session));
    }
    impl_->shared->sessions.clear();
  }
  for (const auto& session : sessions) session->RequestClose();
  sessions.clear();
  const auto deadline = std::chrono::steady_clock::now() + kStopGrace;
  while (impl_->shared->open_connections.load() > 0 &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  impl_->shared->stopped.store(true);
  impl_->work.reset();
  impl_->ioc.stop();
  for (auto& thread : impl_->threads) {
    if (thread.get_id() == std::this_thread::get_id()) {
      thread.detach();
    } else {
      thread.join();
    }
  }
  impl_->threads.clear();
}

size_t HttpServer::open_connections() const { return impl_->shared->open_connections.load(); }

}  // namespace gf::server
