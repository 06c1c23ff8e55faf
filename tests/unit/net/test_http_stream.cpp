// Streaming HTTP responses (http_stream, for Server-Sent Events) and the
// blocking HTTP client (http_fetch, http_stream_get), over loopback sockets.
#include <catch2/catch.hpp>

#include <future>

#include "net/http_client.hpp"
#include "net_test_support.hpp"

using namespace net_test;
namespace net = starling::net;

namespace {

struct http_fixture {
  explicit http_fixture(net::http_handler on_http, net::settings s = {}) : rt(s) {
    rt.start();
    listener = net::listen(rt, s, server.factory(), std::move(on_http));
    REQUIRE(listener);
  }
  std::uint16_t port() const { return listener->local_port(); }
  std::string url(const std::string& target) const {
    return "http://127.0.0.1:" + std::to_string(port()) + target;
  }

  net::runtime rt;
  accepted_set server;
  std::unique_ptr<net::listener> listener;
};

// The streams a handler opened, for the test thread to drive.
class stream_box {
 public:
  void add(std::shared_ptr<net::http_stream> stream) {
    stream->on_closed([this] { closed_.fetch_add(1); });
    std::lock_guard<std::mutex> lock(mutex_);
    streams_.push_back(std::move(stream));
  }
  std::size_t size() const { std::lock_guard<std::mutex> l(mutex_); return streams_.size(); }
  std::shared_ptr<net::http_stream> at(std::size_t i) const { std::lock_guard<std::mutex> l(mutex_); return streams_.at(i); }
  int closed() const { return closed_.load(); }

 private:
  mutable std::mutex mutex_;
  std::vector<std::shared_ptr<net::http_stream>> streams_;
  std::atomic<int> closed_{0};
};

std::string event(int i) { return "id: " + std::to_string(i) + "\ndata: event " + std::to_string(i) + "\n\n"; }

// A port on which nothing listens: bound once, then released.
std::uint16_t unused_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  REQUIRE(fd >= 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
  socklen_t len = sizeof addr;
  REQUIRE(::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0);
  ::close(fd);
  return ntohs(addr.sin_port);
}

// Accepts connections and never answers (holds them until destroyed).
class silent_server {
 public:
  silent_server() {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    REQUIRE(fd_ >= 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
    REQUIRE(::listen(fd_, 16) == 0);
    socklen_t len = sizeof addr;
    REQUIRE(::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len) == 0);
    port_ = ntohs(addr.sin_port);
    acceptor_ = std::thread([this] {
      for (;;) {
        pollfd p{fd_, POLLIN, 0};
        if (::poll(&p, 1, 10) < 0 || stop_) return;
        if (p.revents & POLLIN) {
          int c = ::accept(fd_, nullptr, nullptr);
          if (c >= 0) held_.push_back(c);
        }
      }
    });
  }
  ~silent_server() {
    stop_ = true;
    acceptor_.join();
    for (int c : held_) ::close(c);
    ::close(fd_);
  }
  std::uint16_t port() const { return port_; }

 private:
  int fd_ = -1;
  std::uint16_t port_ = 0;
  std::atomic<bool> stop_{false};
  std::vector<int> held_;  // by acceptor_
  std::thread acceptor_;
};

}  // namespace

TEST_CASE("a streamed response reaches http_stream_get in order", "[net][http][stream]") {
  constexpr int events = 300;
  std::mutex producers_mutex;
  std::vector<std::thread> producers;
  std::atomic<int> closed{0};
  std::atomic<bool> send_after_close{true};
  std::atomic<bool> open_after_close{true};
  http_fixture f([&](net::http_request, net::http_reply reply) {
    auto stream = reply.stream(200, "text/event-stream", {{"X-Stream", "yes"}});
    if (!stream) return;
    stream->on_closed([&] { closed.fetch_add(1); });
    std::lock_guard<std::mutex> lock(producers_mutex);
    producers.emplace_back([&, stream] {
      for (int i = 0; i < events; ++i) stream->send(event(i));
      stream->close();
      send_after_close = stream->send("late");
      open_after_close = stream->is_open();
    });
  });

  std::string received;
  net::http_result head;
  std::string error = "unset";
  unsigned status = net::http_stream_get(
      f.url("/v1/docs/a/events"), {{"Accept", "text/event-stream"}},
      [&](std::string_view data) {
        received += data;
        return true;
      },
      10s, &error, [&](const net::http_result& h) {
        head = h;
        return true;
      });
  {
    std::lock_guard<std::mutex> lock(producers_mutex);
    for (auto& t : producers) t.join();
  }
  CHECK(status == 200);
  CHECK(error.empty());
  std::string expected;
  for (int i = 0; i < events; ++i) expected += event(i);
  CHECK(received == expected);
  CHECK(head.status == 200);
  REQUIRE(head.header("content-type"));
  CHECK(*head.header("content-type") == "text/event-stream");
  REQUIRE(head.header("cache-control"));
  CHECK(*head.header("cache-control") == "no-cache");
  REQUIRE(head.header("transfer-encoding"));
  CHECK(*head.header("transfer-encoding") == "chunked");
  REQUIRE(head.header("x-stream"));
  CHECK(*head.header("x-stream") == "yes");
  CHECK_FALSE(send_after_close.load());
  CHECK_FALSE(open_after_close.load());
  CHECK(wait_until([&] { return closed.load() == 1; }));
}

TEST_CASE("a stream answers only once and a dropped stream ends cleanly", "[net][http][stream]") {
  std::atomic<bool> second_stream_refused{false};
  http_fixture f([&](net::http_request, net::http_reply reply) {
    auto stream = reply.stream(200, "text/event-stream");
    if (!stream) return;
    second_stream_refused = reply.stream(200, "text/plain") == nullptr;
    reply(net::json_error(500, "ignored", "the stream was the answer"));
    stream->send("");  // ignored, must not end the response
    stream->send("data: only\n\n");
    // The handler drops its only reference: that closes the stream.
  });
  std::string received;
  std::string error = "unset";
  auto status = net::http_stream_get(
      f.url("/events"), {},
      [&](std::string_view data) {
        received += data;
        return true;
      },
      10s, &error);
  CHECK(status == 200);
  CHECK(error.empty());
  CHECK(received == "data: only\n\n");
  CHECK(second_stream_refused.load());
}

TEST_CASE("a client that goes away mid-stream is noticed by the server", "[net][http][stream]") {
  stream_box box;
  http_fixture f([&](net::http_request, net::http_reply reply) {
    auto stream = reply.stream(200, "text/event-stream");
    stream->send("data: first\n\n");
    box.add(std::move(stream));
  });
  std::string error;
  std::string received;
  auto status = net::http_stream_get(
      f.url("/events"), {},
      [&](std::string_view data) {
        received += data;
        return false;  // hang up after the first bytes
      },
      10s, &error);
  CHECK(status == 200);
  CHECK(error.empty());
  CHECK(received.rfind("data: ", 0) == 0);
  // Nothing more is sent: only the read that watches the client notices.
  REQUIRE(wait_until([&] { return box.closed() == 1; }));
  auto stream = box.at(0);
  CHECK_FALSE(stream->is_open());
  CHECK_FALSE(stream->send("data: nobody listens\n\n"));
  CHECK(wait_until([&] { return stream->queued_bytes() == 0; }));

  // A callback set after the end still runs, once.
  std::atomic<int> late{0};
  stream->on_closed([&] { late.fetch_add(1); });
  CHECK(wait_until([&] { return late.load() == 1; }));
  CHECK(box.closed() == 1);
}

TEST_CASE("a client that never reads loses the stream at the queue limit", "[net][http][stream]") {
  net::settings s;
  s.http_stream_queue_limit = 256 * 1024;
  stream_box box;
  http_fixture f([&](net::http_request, net::http_reply reply) {
    box.add(reply.stream(200, "text/event-stream"));
  }, s);
  raw_client client(f.port(), /*receive_buffer=*/16 * 1024);
  client.send_all("GET /events HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
  REQUIRE(wait_until([&] { return box.size() == 1; }));
  auto stream = box.at(0);

  // Send as fast as the connection drains, and past that: the queue never
  // holds more than the limit, and the send that would exceed it ends the
  // stream.
  const std::string chunk(16 * 1024, 'x');
  std::uint64_t accepted_bytes = 0;
  std::size_t most_queued = 0;
  bool refused = false;
  auto deadline = std::chrono::steady_clock::now() + 30s;
  while (std::chrono::steady_clock::now() < deadline) {
    if (!stream->send(chunk)) {
      refused = true;
      break;
    }
    accepted_bytes += chunk.size();
    most_queued = std::max(most_queued, stream->queued_bytes());
    if (stream->queued_bytes() > s.http_stream_queue_limit / 2)
      wait_until([&] { return stream->queued_bytes() <= s.http_stream_queue_limit / 2; }, 200ms);
  }
  REQUIRE(refused);
  CHECK(most_queued <= s.http_stream_queue_limit);
  // Some went into the socket buffers before the client's window closed.
  CHECK(accepted_bytes > s.http_stream_queue_limit);
  CHECK_FALSE(stream->is_open());
  CHECK(wait_until([&] { return box.closed() == 1; }));
  CHECK(wait_until([&] { return stream->queued_bytes() == 0; }));
  CHECK(client.wait_for_close(10s));
}

TEST_CASE("a write stuck for http_idle_timeout ends the stream", "[net][http][stream]") {
  net::settings s;
  s.http_stream_queue_limit = 64 * 1024 * 1024;  // never reached here
  s.http_idle_timeout = 300ms;
  stream_box box;
  http_fixture f([&](net::http_request, net::http_reply reply) {
    box.add(reply.stream(200, "text/event-stream"));
  }, s);
  raw_client client(f.port(), /*receive_buffer=*/16 * 1024);
  client.send_all("GET /events HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
  REQUIRE(wait_until([&] { return box.size() == 1; }));
  auto stream = box.at(0);

  // Keep at most 512 KiB queued: the queue limit plays no part, the socket
  // buffers fill, a write stalls and times out.
  const std::string chunk(16 * 1024, 'x');
  std::size_t most_queued = 0;
  auto deadline = std::chrono::steady_clock::now() + 30s;
  while (std::chrono::steady_clock::now() < deadline && stream->send(chunk)) {
    most_queued = std::max(most_queued, stream->queued_bytes());
    if (stream->queued_bytes() > 512 * 1024)
      wait_until([&] { return stream->queued_bytes() <= 512 * 1024 || !stream->is_open(); }, 1s);
  }
  CHECK_FALSE(stream->is_open());
  CHECK(most_queued < 1024 * 1024);
  CHECK(wait_until([&] { return box.closed() == 1; }));
  CHECK(wait_until([&] { return stream->queued_bytes() == 0; }));
}

TEST_CASE("an HTTP/1.0 client gets the stream without chunks", "[net][http][stream]") {
  http_fixture f([&](net::http_request, net::http_reply reply) {
    auto stream = reply.stream(200, "text/event-stream");
    stream->send("data: a\n\n");
    stream->send("data: b\n\n");
    stream->close();
  });
  raw_client client(f.port());
  client.send_all("GET /events HTTP/1.0\r\n\r\n");
  auto headers = client.read_headers();
  CHECK(headers.rfind("HTTP/1.0 200", 0) == 0);
  CHECK(headers.find("Transfer-Encoding") == std::string::npos);
  CHECK(headers.find("Cache-Control: no-cache") != std::string::npos);
  std::string body;
  auto deadline = std::chrono::steady_clock::now() + 10s;
  bool ended = false;
  while (!ended && std::chrono::steady_clock::now() < deadline) {
    ended = !client.read_some(10ms);
    body += client.buffer();
    client.buffer().clear();
  }
  CHECK(ended);
  CHECK(body == "data: a\n\ndata: b\n\n");
}

TEST_CASE("runtime stop ends an open stream", "[net][http][stream]") {
  stream_box box;
  auto f = std::make_unique<http_fixture>([&](net::http_request, net::http_reply reply) {
    auto stream = reply.stream(200, "text/event-stream");
    stream->send("data: hello\n\n");
    box.add(std::move(stream));
  });
  std::atomic<bool> got_data{false};
  std::string error = "unset";
  std::string received;
  auto client = std::async(std::launch::async, [&] {
    return net::http_stream_get(
        f->url("/events"), {},
        [&](std::string_view data) {
          received += data;
          got_data = true;
          return true;
        },
        20s, &error);
  });
  REQUIRE(wait_until([&] { return got_data.load() && box.size() == 1; }));
  auto stream = box.at(0);
  CHECK(stream->is_open());
  f->rt.stop();
  // stop() returns after on_closed has run.
  CHECK(box.closed() == 1);
  CHECK_FALSE(stream->is_open());
  CHECK_FALSE(stream->send("data: after stop\n\n"));
  REQUIRE(client.wait_for(10s) == std::future_status::ready);
  CHECK(client.get() == 200);
  CHECK(error.empty());  // a graceful end: the final chunk was sent
  CHECK(received == "data: hello\n\n");
  f.reset();
  stream->close();  // harmless on a stopped runtime
}

TEST_CASE("http_fetch round trips GET and POST", "[net][http][client]") {
  http_fixture f(net::make_sync_http_handler([](const net::http_request& request) {
    if (request.path() == "/missing") return net::json_error(404, "not_found", "no such doc");
    net::http_response response;
    response.content_type = "text/plain";
    response.body = request.method + " " + request.target + " [" + request.body + "]";
    if (auto h = request.header("x-test")) response.headers.push_back({"X-Echo", *h});
    return response;
  }));
  std::string error;

  auto got = net::http_fetch(f.url("/v1/status?verbose=1"), "GET", "", {{"X-Test", "one"}}, 5s, &error);
  REQUIRE(got);
  CHECK(error.empty());
  CHECK(got->status == 200);
  CHECK(got->body == "GET /v1/status?verbose=1 []");
  REQUIRE(got->header("x-echo"));
  CHECK(*got->header("x-echo") == "one");
  REQUIRE(got->header("Content-Type"));
  CHECK(*got->header("Content-Type") == "text/plain");

  const std::string payload = R"({"ops":[1,2,3]})" + std::string(100000, 'p');
  auto posted = net::http_fetch(f.url("/v1/docs/a"), "POST", payload,
                                {{"Content-Type", "application/json"}}, 5s, &error);
  REQUIRE(posted);
  CHECK(posted->status == 200);
  CHECK(posted->body == "POST /v1/docs/a [" + payload + "]");

  auto missing = net::http_fetch(f.url("/missing"), "GET", "", {}, 5s, &error);
  REQUIRE(missing);
  CHECK(missing->status == 404);
  CHECK(missing->body == R"({"error":{"code":"not_found","message":"no such doc"}})");
  REQUIRE(missing->header("content-type"));
  CHECK(*missing->header("content-type") == "application/json");

  // The body limit is the caller's.
  auto limited = net::http_fetch(f.url("/v1/docs/a"), "POST", payload, {}, 5s, &error, 1000);
  CHECK_FALSE(limited);
  CHECK(error.find("exceeds 1000 bytes") != std::string::npos);
}

TEST_CASE("http_fetch reads a streamed response to its end", "[net][http][client]") {
  http_fixture f([&](net::http_request, net::http_reply reply) {
    auto stream = reply.stream(201, "text/plain");
    for (int i = 0; i < 50; ++i) stream->send(event(i));
    stream->close();
  });
  std::string error;
  auto got = net::http_fetch(f.url("/events"), "GET", "", {}, 5s, &error);
  REQUIRE(got);
  CHECK(got->status == 201);
  std::string expected;
  for (int i = 0; i < 50; ++i) expected += event(i);
  CHECK(got->body == expected);
}

TEST_CASE("http_fetch reports refused connections, timeouts and bad URLs", "[net][http][client]") {
  std::string error;
  SECTION("connection refused") {
    auto port = unused_port();
    auto got = net::http_fetch("http://127.0.0.1:" + std::to_string(port) + "/v1/status", "GET", "",
                               {}, 5s, &error);
    CHECK_FALSE(got);
    CHECK(error.find("cannot connect to 127.0.0.1:" + std::to_string(port)) == 0);
    error.clear();
    CHECK(net::http_stream_get("http://127.0.0.1:" + std::to_string(port) + "/events", {},
                               [](std::string_view) { return true; }, 5s, &error) == 0);
    CHECK(error.find("cannot connect") == 0);
  }
  SECTION("a server that never answers") {
    silent_server silent;
    auto started = std::chrono::steady_clock::now();
    auto got = net::http_fetch("http://127.0.0.1:" + std::to_string(silent.port()) + "/", "GET", "",
                               {}, 300ms, &error);
    auto took = std::chrono::steady_clock::now() - started;
    CHECK_FALSE(got);
    CHECK(error.find("within 300 ms") != std::string::npos);
    CHECK(took >= 250ms);
    CHECK(took < 5s);

    started = std::chrono::steady_clock::now();
    CHECK(net::http_stream_get("http://127.0.0.1:" + std::to_string(silent.port()) + "/events", {},
                               [](std::string_view) { return true; }, 300ms, &error) == 0);
    CHECK(std::chrono::steady_clock::now() - started < 5s);
    CHECK_FALSE(error.empty());
  }
  SECTION("a stream that goes quiet") {
    stream_box box;
    http_fixture f([&](net::http_request, net::http_reply reply) {
      auto stream = reply.stream(200, "text/event-stream");
      stream->send("data: one\n\n");
      box.add(std::move(stream));
    });
    std::string received;
    auto status = net::http_stream_get(
        f.url("/events"), {},
        [&](std::string_view data) {
          received += data;
          return true;
        },
        300ms, &error);
    CHECK(status == 200);
    CHECK(received == "data: one\n\n");
    CHECK(error.find("no data from") == 0);
    CHECK(wait_until([&] { return box.closed() == 1; }));
  }
  SECTION("URLs other than http://host:port/path") {
    CHECK_FALSE(net::http_fetch("https://127.0.0.1:1/", "GET", "", {}, 1s, &error));
    CHECK(error.find("only http://") != std::string::npos);
    CHECK_FALSE(net::http_fetch("ftp://x/", "GET", "", {}, 1s, &error));
    CHECK(net::http_stream_get("127.0.0.1:80/", {}, [](std::string_view) { return true; }, 1s,
                               &error) == 0);
    CHECK(error.find("only http://") != std::string::npos);
    CHECK_FALSE(net::parse_http_url("http://:80/"));
    CHECK_FALSE(net::parse_http_url("http://host:99999/"));
    CHECK_FALSE(net::parse_http_url("http://user@host/"));
    CHECK_FALSE(net::parse_http_url("http://host/a b"));
    auto plain = net::parse_http_url("http://node.local");
    REQUIRE(plain);
    CHECK(plain->host == "node.local");
    CHECK(plain->port == 80);
    CHECK(plain->target == "/");
    auto full = net::parse_http_url("http://[::1]:8080/v1/docs/a?x=1#frag");
    REQUIRE(full);
    CHECK(full->host == "::1");
    CHECK(full->port == 8080);
    CHECK(full->target == "/v1/docs/a?x=1");
    auto query = net::parse_http_url("http://h:1?x");
    REQUIRE(query);
    CHECK(query->target == "/?x");
  }
  SECTION("bad methods and headers are refused before sending") {
    silent_server silent;
    auto url = "http://127.0.0.1:" + std::to_string(silent.port()) + "/";
    CHECK_FALSE(net::http_fetch(url, "GET /x", "", {}, 1s, &error));
    CHECK(error.find("invalid HTTP method") == 0);
    CHECK_FALSE(net::http_fetch(url, "GET", "", {{"X-A", "a\r\nX-B: b"}}, 1s, &error));
    CHECK(error.find("invalid request header") == 0);
  }
}
