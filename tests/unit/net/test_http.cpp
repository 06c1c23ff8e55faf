// The HTTP side of the listener: refused upgrades, the HTTP handler, limits.
#include <catch2/catch.hpp>

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

  net::runtime rt;
  accepted_set server;
  std::unique_ptr<net::listener> listener;
};

std::string get(const std::string& target, const std::string& extra_headers = {}) {
  return "GET " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\n" + extra_headers + "\r\n";
}

}  // namespace

TEST_CASE("an upgrade without the subprotocol gets 400 JSON", "[net][http]") {
  http_fixture f({});
  SECTION("no subprotocol offered") {
    raw_client client(f.port());
    client.send_all(raw_client::upgrade_request(std::nullopt));
    auto r = client.read_response();
    CHECK(r.status == 400);
    CHECK(r.headers.find("application/json") != std::string::npos);
    CHECK(r.body.find(R"({"error":{"code":"unsupported_subprotocol","message":")") == 0);
    CHECK(client.wait_for_close(5s));
  }
  SECTION("only other subprotocols offered") {
    raw_client client(f.port());
    client.send_all(raw_client::upgrade_request(std::string("chat, starling.2")));
    CHECK(client.read_response().status == 400);
  }
  SECTION("the subprotocol among others is accepted and echoed") {
    raw_client client(f.port());
    auto headers = client.websocket_handshake(std::string("chat, starling.1"));
    CHECK(headers.find(" 101 ") != std::string::npos);
    CHECK(headers.find("Sec-WebSocket-Protocol: starling.1") != std::string::npos);
    REQUIRE(wait_until([&] { return f.server.opened() == 1; }));
  }
  CHECK(f.server.opened() <= 1);
}

TEST_CASE("plain HTTP goes to the handler, with keep-alive", "[net][http]") {
  std::mutex seen_mutex;
  std::vector<net::http_request> seen;
  http_fixture f(net::make_sync_http_handler([&](const net::http_request& request) {
    std::lock_guard<std::mutex> lock(seen_mutex);
    seen.push_back(request);
    net::http_response response;
    response.body = R"({"path":")" + std::string(request.path()) + R"(","bytes":)" +
                    std::to_string(request.body.size()) + "}";
    response.headers.push_back({"X-Starling-Test", "yes"});
    return response;
  }));
  raw_client client(f.port());
  client.send_all(get("/v1/status?verbose=1", "X-Custom: abc\r\n"));
  auto first = client.read_response();
  CHECK(first.status == 200);
  CHECK(first.body == R"({"path":"/v1/status","bytes":0})");
  CHECK(first.headers.find("X-Starling-Test: yes") != std::string::npos);
  CHECK(first.headers.find("Content-Type: application/json") != std::string::npos);

  // The same connection serves a second request.
  client.send_all("POST /v1/docs HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nabcde");
  auto second = client.read_response();
  CHECK(second.status == 200);
  CHECK(second.body == R"({"path":"/v1/docs","bytes":5})");

  std::lock_guard<std::mutex> lock(seen_mutex);
  REQUIRE(seen.size() == 2);
  CHECK(seen[0].method == "GET");
  CHECK(seen[0].target == "/v1/status?verbose=1");
  REQUIRE(seen[0].header("x-custom"));
  CHECK(*seen[0].header("x-custom") == "abc");
  CHECK(seen[0].peer.rfind("127.0.0.1:", 0) == 0);
  CHECK(seen[1].method == "POST");
  CHECK(seen[1].body == "abcde");
}

TEST_CASE("without a handler plain HTTP gets 404 JSON", "[net][http]") {
  http_fixture f({});
  raw_client client(f.port());
  client.send_all(get("/v1/status"));
  auto r = client.read_response();
  CHECK(r.status == 404);
  CHECK(r.body.find(R"({"error":{"code":"not_found")") == 0);
  // Keep-alive still holds for a well-formed request.
  client.send_all(get("/other"));
  CHECK(client.read_response().status == 404);
}

TEST_CASE("the handler may answer later from another thread", "[net][http]") {
  std::vector<std::thread> answerers;
  std::mutex answerers_mutex;
  http_fixture f([&](net::http_request request, net::http_reply reply) {
    std::lock_guard<std::mutex> lock(answerers_mutex);
    if (request.path() == "/drop") return;  // the reply is destroyed unanswered
    answerers.emplace_back([reply, target = request.target] {
      net::http_response r;
      r.status = 202;
      r.content_type = "text/plain";
      r.body = "late " + target;
      reply(r);
      reply(net::json_error(500, "twice", "ignored"));  // only the first answer counts
    });
  });
  raw_client client(f.port());
  client.send_all(get("/slow"));
  auto r = client.read_response();
  CHECK(r.status == 202);
  CHECK(r.body == "late /slow");
  client.send_all(get("/drop"));
  auto dropped = client.read_response();
  CHECK(dropped.status == 500);
  CHECK(dropped.body.find("unanswered") != std::string::npos);
  std::lock_guard<std::mutex> lock(answerers_mutex);
  for (auto& t : answerers) t.join();
}

TEST_CASE("oversized requests are refused", "[net][http]") {
  net::settings s;
  s.http_header_limit = 1024;
  s.http_body_limit = 4096;
  http_fixture f(net::make_sync_http_handler([](const net::http_request&) { return net::http_response{}; }), s);
  SECTION("header over the limit: 431") {
    raw_client client(f.port());
    client.send_all(get("/v1/status", "X-Big: " + std::string(2000, 'h') + "\r\n"));
    auto r = client.read_response();
    CHECK(r.status == 431);
    CHECK(r.body.find("header_too_large") != std::string::npos);
    CHECK(client.wait_for_close(5s));
  }
  SECTION("body over the limit: 413") {
    raw_client client(f.port());
    client.send_all("POST /v1/docs HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n");
    auto r = client.read_response();
    CHECK(r.status == 413);
    CHECK(r.body.find("body_too_large") != std::string::npos);
  }
  SECTION("malformed request: 400") {
    raw_client client(f.port());
    client.send_all("NOT HTTP AT ALL\r\n\r\n");
    CHECK(client.read_response().status == 400);
  }
}
