// Tests for the HTTP transport (server/http): a real HttpServer on 127.0.0.1, port 0, driven by
// raw POSIX socket clients; responses are parsed with Beast's response parser.
#include "server/http/http_server.h"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <future>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "server/http/sse.h"
#include "tests/http_test_client.h"

namespace gf::server {
namespace {

using http_test::Client;
using http_test::Clock;
using http_test::ParsedResponse;
namespace http = boost::beast::http;
using namespace std::chrono_literals;

std::string Get(std::string_view target, std::string_view extra = "") {
  return "GET " + std::string(target) + " HTTP/1.1\r\nHost: test\r\n" + std::string(extra) + "\r\n";
}

std::string Post(std::string_view target, std::string_view body, std::string_view extra = "") {
  return "POST " + std::string(target) + " HTTP/1.1\r\nHost: test\r\nContent-Length: " +
         std::to_string(body.size()) + "\r\n" + std::string(extra) + "\r\n" + std::string(body);
}

// Echoes the request as "METHOD|path|query|x-test header|body".
void EchoHandler(HttpRequest request, std::shared_ptr<ResponseWriter> writer) {
  HttpResponse response;
  response.content_type = "text/plain";
  response.headers = {{"x-request-id", "rid-1"}, {"x-remote", request.remote_address}};
  response.body = request.method + "|" + request.path + "|" + request.query + "|" +
                  std::string(request.Header("x-test")) + "|" + request.body;
  writer->Send(std::move(response));
}

HttpResponse TestError(int status, std::string message) {
  HttpResponse response;
  response.status = status;
  response.body = "{\"error\":\"" + message + "\"}";
  return response;
}

// A started server around a handler that tests can swap.
class ServerFixture {
 public:
  explicit ServerFixture(HttpLimits limits = {}, HttpHandler handler = EchoHandler) {
    HttpServerOptions options;
    options.port = 0;
    options.io_threads = 2;
    options.limits = limits;
    options.make_error = TestError;
    server_ = std::make_unique<HttpServer>(std::move(options), std::move(handler));
    const Status status = server_->Start();
    EXPECT_TRUE(status.ok()) << status.ToString();
  }
  HttpServer& server() { return *server_; }
  int port() const { return server_->port(); }

 private:
  std::unique_ptr<HttpServer> server_;
};

// Waits until `predicate` holds (polling), at most `timeout`.
template <class Predicate>
bool Eventually(Predicate predicate, std::chrono::milliseconds timeout = 3000ms) {
  const auto deadline = Clock::now() + timeout;
  while (!predicate()) {
    if (Clock::now() > deadline) return false;
    std::this_thread::sleep_for(5ms);
  }
  return true;
}

// A one-shot flag set from any thread.
class Signal {
 public:
  void Set() {
    std::lock_guard<std::mutex> lock(mutex_);
    set_ = true;
    cv_.notify_all();
  }
  bool Wait(std::chrono::milliseconds timeout = 3000ms) {
    std::unique_lock<std::mutex> lock(mutex_);
    return cv_.wait_for(lock, timeout, [&] { return set_; });
  }
  bool is_set() {
    std::lock_guard<std::mutex> lock(mutex_);
    return set_;
  }

 private:
  std::mutex mutex_;
  std::condition_variable cv_;
  bool set_ = false;
};

TEST(HttpServerTest, GetEcho) {
  ServerFixture fixture;
  Client client(fixture.port());
  ASSERT_TRUE(client.connected());
  ASSERT_TRUE(client.Send(Get("/v1/models?x=1&y=%20", "X-Test: Hello\r\n")));
  ParsedResponse response = client.ReadResponse();
  ASSERT_TRUE(response.ok);
  EXPECT_EQ(response.status, 200);
  EXPECT_EQ(response.message.body(), "GET|/v1/models|x=1&y=%20|Hello|");
  EXPECT_EQ(response.Header(http::field::content_type), "text/plain");
  EXPECT_EQ(response.Header("x-request-id"), "rid-1");
  EXPECT_EQ(response.Header("x-remote").rfind("127.0.0.1:", 0), 0u);
  EXPECT_EQ(response.Header(http::field::content_length),
            std::to_string(response.message.body().size()));
}

TEST(HttpServerTest, PostEchoAndKeepAlive) {
  ServerFixture fixture;
  Client client(fixture.port());
  ASSERT_TRUE(client.Send(Post("/v1/completions", "{\"prompt\":\"hi\"}")));
  ParsedResponse first = client.ReadResponse();
  ASSERT_TRUE(first.ok);
  EXPECT_EQ(first.message.body(), "POST|/v1/completions|||{\"prompt\":\"hi\"}");
  EXPECT_TRUE(first.message.keep_alive());
  ASSERT_TRUE(client.Send(Post("/second", "body-2", "X-Test: two\r\n")));
  ParsedResponse second = client.ReadResponse();
  ASSERT_TRUE(second.ok);
  EXPECT_EQ(second.message.body(), "POST|/second||two|body-2");
  EXPECT_EQ(fixture.server().open_connections(), 1u);
}

TEST(HttpServerTest, PipelinedRequestsAreAnsweredInOrder) {
  ServerFixture fixture;
  Client client(fixture.port());
  ASSERT_TRUE(client.Send(Post("/a", "one") + Get("/b") + Post("/c", "three")));
  for (const char* expected : {"POST|/a|||one", "GET|/b|||", "POST|/c|||three"}) {
    ParsedResponse response = client.ReadResponse();
    ASSERT_TRUE(response.ok);
    EXPECT_EQ(response.message.body(), expected);
  }
}

TEST(HttpServerTest, Http10AndConnectionCloseCloseTheConnection) {
  ServerFixture fixture;
  {
    Client client(fixture.port());
    ASSERT_TRUE(client.Send("GET /old HTTP/1.0\r\n\r\n"));
    ParsedResponse response = client.ReadResponse();
    ASSERT_TRUE(response.ok);
    EXPECT_EQ(response.message.version(), 10u);
    EXPECT_EQ(response.message.body(), "GET|/old|||");
    bool closed = false;
    EXPECT_EQ(client.ReadUntilClosed(2000ms, &closed), "");
    EXPECT_TRUE(closed);
  }
  {
    Client client(fixture.port());
    ASSERT_TRUE(client.Send(Get("/bye", "Connection: close\r\n")));
    ParsedResponse response = client.ReadResponse();
    ASSERT_TRUE(response.ok);
    EXPECT_FALSE(response.message.keep_alive());
    bool closed = false;
    client.ReadUntilClosed(2000ms, &closed);
    EXPECT_TRUE(closed);
  }
}

TEST(HttpServerTest, OversizedContentLengthGets413WithoutSendingTheBody) {
  HttpLimits limits;
  limits.max_body_bytes = 1024;
  ServerFixture fixture(limits);
  Client client(fixture.port());
  ASSERT_TRUE(client.Send(
      "POST /v1/completions HTTP/1.1\r\nHost: t\r\nContent-Length: 100000000\r\n\r\n"));
  ParsedResponse response = client.ReadResponse();
  ASSERT_TRUE(response.ok);
  EXPECT_EQ(response.status, 413);
  EXPECT_EQ(response.message.body(), "{\"error\":\"request body too large\"}");
  EXPECT_EQ(response.Header(http::field::content_type), "application/json");
  bool closed = false;
  client.ReadUntilClosed(3000ms, &closed);
  EXPECT_TRUE(closed);
}

TEST(HttpServerTest, ExpectContinue) {
  HttpLimits limits;
  limits.max_body_bytes = 1024;
  ServerFixture fixture(limits);
  {
    Client client(fixture.port());
    ASSERT_TRUE(client.Send(
        "POST /up HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n"));
    ParsedResponse interim = client.ReadResponse();
    ASSERT_TRUE(interim.ok);
    EXPECT_EQ(interim.status, 100);
    ASSERT_TRUE(client.Send("hello"));
    ParsedResponse response = client.ReadResponse();
    ASSERT_TRUE(response.ok);
    EXPECT_EQ(response.status, 200);
    EXPECT_EQ(response.message.body(), "POST|/up|||hello");
  }
  {
    Client client(fixture.port());
    ASSERT_TRUE(client.Send(
        "POST /up HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\nContent-Length: 5000\r\n\r\n"));
    ParsedResponse response = client.ReadResponse();
    ASSERT_TRUE(response.ok);
    EXPECT_EQ(response.status, 413);  // rejected before any 100 Continue
  }
}

TEST(HttpServerTest, HugeHeaderGets431) {
  HttpLimits limits;
  limits.max_header_bytes = 4096;
  ServerFixture fixture(limits);
  Client client(fixture.port());
  ASSERT_TRUE(client.Send(Get("/", "X-Big: " + std::string(20000, 'a') + "\r\n")));
  ParsedResponse response = client.ReadResponse();
  ASSERT_TRUE(response.ok);
  EXPECT_EQ(response.status, 431);
  EXPECT_EQ(response.message.body(), "{\"error\":\"request header fields too large\"}");
  bool closed = false;
  client.ReadUntilClosed(3000ms, &closed);
  EXPECT_TRUE(closed);
}

TEST(HttpServerTest, GarbageGets400) {
  ServerFixture fixture;
  Client client(fixture.port());
  ASSERT_TRUE(client.Send("\x01\x02 NOT HTTP AT ALL\r\n\r\n"));
  ParsedResponse response = client.ReadResponse();
  ASSERT_TRUE(response.ok);
  EXPECT_EQ(response.status, 400);
  EXPECT_EQ(response.message.body().rfind("{\"error\":\"malformed HTTP request", 0), 0u);
  bool closed = false;
  client.ReadUntilClosed(3000ms, &closed);
  EXPECT_TRUE(closed);
}

TEST(HttpServerTest, ChunkedRequestBody) {
  HttpLimits limits;
  limits.max_body_bytes = 16;
  ServerFixture fixture(limits);
  {
    Client client(fixture.port());
    ASSERT_TRUE(client.Send(
        "POST /c HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
        "5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"));
    ParsedResponse response = client.ReadResponse();
    ASSERT_TRUE(response.ok);
    EXPECT_EQ(response.message.body(), "POST|/c|||hello world");
  }
  {
    Client client(fixture.port());  // 10 + 10 bytes > 16: rejected while reading the chunks
    ASSERT_TRUE(client.Send(
        "POST /c HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
        "a\r\n0123456789\r\na\r\n0123456789\r\n0\r\n\r\n"));
    ParsedResponse response = client.ReadResponse();
    ASSERT_TRUE(response.ok);
    EXPECT_EQ(response.status, 413);
  }
}

TEST(HttpServerTest, SlowHeaderGets408AndClose) {
  HttpLimits limits;
  limits.header_read_timeout = std::chrono::seconds(1);
  ServerFixture fixture(limits);
  Client client(fixture.port());
  const auto start = Clock::now();
  ASSERT_TRUE(client.Send("GET / HTTP/1.1\r\nHost: t\r\n"));  // never finishes the header
  ParsedResponse response = client.ReadResponse(4000ms);
  const auto elapsed = Clock::now() - start;
  ASSERT_TRUE(response.ok);
  EXPECT_EQ(response.status, 408);
  EXPECT_GE(elapsed, 900ms);
  EXPECT_LT(elapsed, 3000ms);
  bool closed = false;
  client.ReadUntilClosed(3000ms, &closed);
  EXPECT_TRUE(closed);
}

TEST(HttpServerTest, IdleKeepAliveConnectionIsClosed) {
  HttpLimits limits;
  limits.idle_timeout = std::chrono::seconds(1);
  ServerFixture fixture(limits);
  Client client(fixture.port());
  ASSERT_TRUE(client.Send(Get("/")));
  ASSERT_TRUE(client.ReadResponse().ok);
  const auto start = Clock::now();
  bool closed = false;
  client.ReadUntilClosed(3000ms, &closed);
  EXPECT_TRUE(closed);
  EXPECT_GE(Clock::now() - start, 900ms);
}

// Streams the given events, then ends the stream.
HttpHandler StreamHandler(std::vector<std::string> events) {
  return [events](HttpRequest, std::shared_ptr<ResponseWriter> writer) {
    ASSERT_TRUE(writer->StartStream({{"x-request-id", "s-1"}}));
    for (const auto& event : events) EXPECT_TRUE(writer->SendEvent(event));
    writer->EndStream();
    EXPECT_TRUE(writer->closed());
    EXPECT_FALSE(writer->SendEvent("late"));
  };
}

TEST(HttpServerTest, SseStreamIsReadBackExactly) {
  ServerFixture fixture({}, StreamHandler({"{\"n\":1}", "two\nlines", "[DONE]"}));
  Client client(fixture.port());
  ASSERT_TRUE(client.Send(Post("/v1/completions", "{}")));
  ParsedResponse response = client.ReadResponse();
  ASSERT_TRUE(response.ok);
  EXPECT_EQ(response.status, 200);
  EXPECT_EQ(response.Header(http::field::content_type), "text/event-stream");
  EXPECT_EQ(response.Header(http::field::cache_control), "no-cache");
  EXPECT_EQ(response.Header(http::field::transfer_encoding), "chunked");
  EXPECT_EQ(response.Header("x-request-id"), "s-1");
  EXPECT_EQ(response.message.body(),
            "data: {\"n\":1}\n\ndata: two\ndata: lines\n\n" + std::string(sse::kDone));
  // The connection is reusable after the stream.
  ASSERT_TRUE(client.Send(Post("/again", "{}")));
  ParsedResponse again = client.ReadResponse();
  ASSERT_TRUE(again.ok);
  EXPECT_EQ(again.message.body(), "data: {\"n\":1}\n\ndata: two\ndata: lines\n\ndata: [DONE]\n\n");
}

TEST(HttpServerTest, SseOverHttp10IsDelimitedByClose) {
  ServerFixture fixture({}, StreamHandler({"a", "b"}));
  Client client(fixture.port());
  ASSERT_TRUE(client.Send("POST /s HTTP/1.0\r\nContent-Length: 0\r\n\r\n"));
  bool closed = false;
  const std::string raw = client.ReadUntilClosed(3000ms, &closed);
  EXPECT_TRUE(closed);
  const size_t header_end = raw.find("\r\n\r\n");
  ASSERT_NE(header_end, std::string::npos);
  EXPECT_EQ(raw.rfind("HTTP/1.0 200 OK\r\n", 0), 0u);
  EXPECT_EQ(raw.find("chunked"), std::string::npos);
  EXPECT_EQ(raw.substr(header_end + 4), "data: a\n\ndata: b\n\n");
}

TEST(HttpServerTest, KeepAliveCommentsWhileIdle) {
  HttpLimits limits;
  limits.sse_keepalive_interval = std::chrono::milliseconds(200);
  std::vector<std::thread> workers;
  ServerFixture fixture(limits, [&workers](HttpRequest, std::shared_ptr<ResponseWriter> writer) {
    ASSERT_TRUE(writer->StartStream({}));
    workers.emplace_back([writer] {  // a long "prefill", then one event
      std::this_thread::sleep_for(700ms);
      EXPECT_TRUE(writer->SendEvent("x"));
      writer->EndStream();
    });
  });
  Client client(fixture.port());
  ASSERT_TRUE(client.Send(Get("/stream")));
  ParsedResponse response = client.ReadResponse();
  for (auto& worker : workers) worker.join();
  ASSERT_TRUE(response.ok);
  const std::string& body = response.message.body();
  const std::string comment = sse::FormatComment("keep-alive");
  ASSERT_EQ(comment, ": keep-alive\n\n");
  size_t comments = 0;
  size_t at = 0;
  while (body.compare(at, comment.size(), comment) == 0) {
    ++comments;
    at += comment.size();
  }
  EXPECT_GE(comments, 2u);
  EXPECT_LE(comments, 5u);  // ~3 expected; a late worker thread may add one or two
  EXPECT_EQ(body.substr(at), "data: x\n\n");
}

TEST(HttpServerTest, OnCloseFiresWhenClientLeavesDuringPendingResponse) {
  std::shared_ptr<ResponseWriter> held;
  std::mutex mutex;
  Signal handled, closed_signal;
  ServerFixture fixture({}, [&](HttpRequest, std::shared_ptr<ResponseWriter> writer) {
    writer->SetOnClose([&] { closed_signal.Set(); });
    {
      std::lock_guard<std::mutex> lock(mutex);
      held = writer;  // answer "later" (never)
    }
    handled.Set();
  });
  Client client(fixture.port());
  ASSERT_TRUE(client.Send(Post("/v1/completions", "{}")));
  ASSERT_TRUE(handled.Wait());
  EXPECT_FALSE(closed_signal.is_set());
  std::this_thread::sleep_for(50ms);
  EXPECT_FALSE(closed_signal.is_set());
  client.Close();
  ASSERT_TRUE(closed_signal.Wait());
  std::lock_guard<std::mutex> lock(mutex);
  EXPECT_TRUE(held->closed());
  held->Send(HttpResponse{});  // no-op
  EXPECT_FALSE(held->StartStream({}));
  // A callback set after the close runs immediately.
  bool ran = false;
  held->SetOnClose([&] { ran = true; });
  EXPECT_TRUE(ran);
  EXPECT_TRUE(Eventually([&] { return fixture.server().open_connections() == 0; }));
}

TEST(HttpServerTest, OnCloseIsNotCalledAfterNormalCompletion) {
  std::atomic<int> on_close_calls{0};
  ServerFixture fixture({}, [&](HttpRequest request, std::shared_ptr<ResponseWriter> writer) {
    writer->SetOnClose([&] { ++on_close_calls; });
    EchoHandler(std::move(request), writer);
  });
  {
    Client client(fixture.port());
    ASSERT_TRUE(client.Send(Get("/x")));
    ASSERT_TRUE(client.ReadResponse().ok);
  }
  EXPECT_TRUE(Eventually([&] { return fixture.server().open_connections() == 0; }));
  EXPECT_EQ(on_close_calls.load(), 0);
}

TEST(HttpServerTest, OnCloseFiresWhenClientLeavesDuringStream) {
  std::shared_ptr<ResponseWriter> held;
  std::mutex mutex;
  Signal closed_signal;
  ServerFixture fixture({}, [&](HttpRequest, std::shared_ptr<ResponseWriter> writer) {
    writer->SetOnClose([&] { closed_signal.Set(); });
    ASSERT_TRUE(writer->StartStream({}));
    EXPECT_TRUE(writer->SendEvent("first"));
    std::lock_guard<std::mutex> lock(mutex);
    held = writer;
  });
  Client client(fixture.port());
  ASSERT_TRUE(client.Send(Get("/stream")));
  ASSERT_TRUE(client.WaitFor("data: first\n\n", 3000ms));
  client.Close();
  ASSERT_TRUE(closed_signal.Wait());
  std::lock_guard<std::mutex> lock(mutex);
  EXPECT_TRUE(held->closed());
  EXPECT_FALSE(held->SendEvent("after close"));
}

TEST(HttpServerTest, SlowConsumerOverflowClosesTheStream) {
  HttpLimits limits;
  limits.max_stream_buffer_bytes = 64 * 1024;
  Signal closed_signal;
  std::promise<int> sent_before_failure;
  std::vector<std::thread> workers;
  ServerFixture fixture(limits, [&](HttpRequest, std::shared_ptr<ResponseWriter> writer) {
    writer->SetOnClose([&] { closed_signal.Set(); });
    ASSERT_TRUE(writer->StartStream({}));
    workers.emplace_back([writer, &sent_before_failure] {
      const std::string event(4000, 'x');
      int sent = 0;
      while (sent < 100000 && writer->SendEvent(event)) ++sent;  // 400 MB at most
      sent_before_failure.set_value(sent);
    });
  });
  Client client(fixture.port(), /*receive_buffer=*/4096);  // never reads
  ASSERT_TRUE(client.Send(Get("/stream")));
  auto sent = sent_before_failure.get_future();
  ASSERT_EQ(sent.wait_for(10s), std::future_status::ready);
  EXPECT_LT(sent.get(), 100000);  // SendEvent returned false: the buffer overflowed
  EXPECT_TRUE(closed_signal.Wait());
  for (auto& worker : workers) worker.join();
}

TEST(HttpServerTest, ConcurrentClients) {
  ServerFixture fixture;
  constexpr int kThreads = 16;
  constexpr int kRequests = 10;
  std::atomic<int> good{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      Client client(fixture.port());
      for (int i = 0; i < kRequests; ++i) {
        const std::string body = "client " + std::to_string(t) + " request " + std::to_string(i);
        if (!client.Send(Post("/p", body))) return;
        ParsedResponse response = client.ReadResponse();
        if (response.ok && response.message.body() == "POST|/p|||" + body) ++good;
      }
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(good.load(), kThreads * kRequests);
}

TEST(HttpServerTest, HandlerExceptionGets500) {
  ServerFixture fixture({}, [](HttpRequest, std::shared_ptr<ResponseWriter>) {
    throw std::runtime_error("boom");
  });
  Client client(fixture.port());
  ASSERT_TRUE(client.Send(Get("/")));
  ParsedResponse response = client.ReadResponse();
  ASSERT_TRUE(response.ok);
  EXPECT_EQ(response.status, 500);
  EXPECT_EQ(response.message.body(), "{\"error\":\"internal error: boom\"}");
}

TEST(HttpServerTest, ExtraHeadersWithLineBreaksAreDropped) {
  ServerFixture fixture({}, [](HttpRequest, std::shared_ptr<ResponseWriter> writer) {
    HttpResponse response;
    response.status = 429;
    response.headers = {{"retry-after", "3"}, {"x-evil", "a\r\nset-cookie: x=1"},
                        {"content-length", "999"}};
    response.body = "{}";
    writer->Send(std::move(response));
  });
  Client client(fixture.port());
  ASSERT_TRUE(client.Send(Get("/")));
  ParsedResponse response = client.ReadResponse();
  ASSERT_TRUE(response.ok);
  EXPECT_EQ(response.status, 429);
  EXPECT_EQ(response.Header("retry-after"), "3");
  EXPECT_EQ(response.Header("x-evil"), "");
  EXPECT_EQ(response.Header("set-cookie"), "");
  EXPECT_EQ(response.Header(http::field::content_length), "2");
  EXPECT_EQ(response.message.body(), "{}");
}

TEST(HttpServerTest, StopAcceptingKeepsOpenConnectionsAndClosesThemAfterTheResponse) {
  ServerFixture fixture;
  Client client(fixture.port());
  ASSERT_TRUE(client.Send(Get("/one")));
  ASSERT_TRUE(client.ReadResponse().ok);
  fixture.server().StopAccepting();
  Client refused(fixture.port());
  EXPECT_FALSE(refused.connected());
  ASSERT_TRUE(client.Send(Get("/two")));
  ParsedResponse response = client.ReadResponse();
  ASSERT_TRUE(response.ok);
  EXPECT_EQ(response.message.body(), "GET|/two|||");
  EXPECT_FALSE(response.message.keep_alive());
  bool closed = false;
  client.ReadUntilClosed(2000ms, &closed);
  EXPECT_TRUE(closed);
}

TEST(HttpServerTest, StopWithOpenConnectionsReturns) {
  std::vector<std::shared_ptr<ResponseWriter>> held;
  std::mutex mutex;
  std::atomic<int> on_close_calls{0};
  std::atomic<int> handled{0};
  auto server = std::make_unique<ServerFixture>(
      HttpLimits{}, [&](HttpRequest request, std::shared_ptr<ResponseWriter> writer) {
        writer->SetOnClose([&] { ++on_close_calls; });
        if (request.path == "/stream") {
          EXPECT_TRUE(writer->StartStream({}));
          EXPECT_TRUE(writer->SendEvent("x"));
        }
        std::lock_guard<std::mutex> lock(mutex);
        held.push_back(writer);
        ++handled;
      });
  Client idle(server->port());
  Client pending(server->port());
  Client streaming(server->port());
  Client half_header(server->port());
  ASSERT_TRUE(pending.Send(Get("/pending")));
  ASSERT_TRUE(streaming.Send(Get("/stream")));
  ASSERT_TRUE(half_header.Send("GET / HTTP/1.1\r\n"));
  ASSERT_TRUE(Eventually([&] { return handled.load() == 2; }));
  ASSERT_TRUE(streaming.WaitFor("data: x\n\n", 3000ms));
  const auto start = Clock::now();
  server->server().Stop();
  EXPECT_LT(Clock::now() - start, 3000ms);
  EXPECT_EQ(on_close_calls.load(), 2);
  EXPECT_EQ(server->server().open_connections(), 0u);
  for (Client* client : {&idle, &pending, &half_header}) {
    bool closed = false;
    client->ReadUntilClosed(2000ms, &closed);
    EXPECT_TRUE(closed);
  }
  std::lock_guard<std::mutex> lock(mutex);
  for (const auto& writer : held) {
    EXPECT_TRUE(writer->closed());
    EXPECT_FALSE(writer->SendEvent("after stop"));
  }
  server.reset();  // the writers outlive the server
  for (const auto& writer : held) writer->Send(HttpResponse{});
}

TEST(HttpServerTest, StartReportsBindFailures) {
  ServerFixture first;
  HttpServerOptions options;
  options.port = first.port();
  HttpServer second(options, EchoHandler);
  const Status status = second.Start();
  EXPECT_EQ(status.code(), StatusCode::kUnavailable);
  EXPECT_NE(status.message().find("127.0.0.1:" + std::to_string(first.port())), std::string::npos)
      << status.message();

  HttpServerOptions bad_port;
  bad_port.port = 70000;
  EXPECT_EQ(HttpServer(bad_port, EchoHandler).Start().code(), StatusCode::kInvalidArgument);
  HttpServerOptions bad_host;
  bad_host.host = "no-such-host.invalid";
  bad_host.port = 0;
  EXPECT_EQ(HttpServer(bad_host, EchoHandler).Start().code(), StatusCode::kInvalidArgument);
}

TEST(HttpRequestTest, HeaderLookup) {
  HttpRequest request;
  request.headers = {{"content-type", "application/json"}, {"x-a", "1"}, {"x-a", "2"}};
  EXPECT_EQ(request.Header("content-type"), "application/json");
  EXPECT_EQ(request.Header("x-a"), "1");
  EXPECT_EQ(request.Header("missing"), "");
}

}  // namespace
}  // namespace gf::server
