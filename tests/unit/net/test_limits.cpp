// Limits and timers: the bounded send queue, keepalive, handshake timeout,
// and stopping a runtime under load.
#include <catch2/catch.hpp>

#include "net_test_support.hpp"

using namespace net_test;
namespace net = starling::net;

namespace {

// Sends until the queue is full and stays full (the peer reads nothing, so
// the socket buffers fill up too). Returns the bytes accepted, 0 on timeout.
std::uint64_t fill_until_stuck(net::ws_connection& conn, const std::string& frame, std::size_t limit) {
  std::uint64_t accepted_bytes = 0;
  auto deadline = std::chrono::steady_clock::now() + 20s;
  while (std::chrono::steady_clock::now() < deadline) {
    while (conn.send(frame, true)) accepted_bytes += frame.size();
    if (conn.queued_bytes() > limit) return 0;
    // Refused: the queue is at its limit. It is stuck once nothing drains
    // for a while.
    if (!wait_until([&] { return conn.queued_bytes() + frame.size() <= limit; }, 300ms))
      return accepted_bytes;
  }
  return 0;
}

}  // namespace

TEST_CASE("a peer that stops reading fills the bounded send queue", "[net][limits]") {
  net::settings s;
  s.send_queue_limit = 256 * 1024;
  net::runtime rt(s);
  rt.start();
  accepted_set server;
  auto listener = net::listen(rt, s, server.factory(), {});
  REQUIRE(listener);

  // A raw client completes the handshake and then reads nothing.
  raw_client peer(listener->local_port(), /*receive_buffer=*/16 * 1024);
  REQUIRE(peer.websocket_handshake().find(" 101 ") != std::string::npos);
  REQUIRE(wait_until([&] { return server.opened() == 1; }));
  auto conn = server.at(0)->conn();

  const std::string frame(16 * 1024, 'x');
  std::uint64_t accepted_bytes = fill_until_stuck(*conn, frame, s.send_queue_limit);
  REQUIRE(accepted_bytes > 0);
  CHECK_FALSE(conn->send(frame, true));
  CHECK(conn->queued_bytes() <= s.send_queue_limit);
  CHECK(conn->queued_bytes() + frame.size() > s.send_queue_limit);
  CHECK(conn->sends_refused() >= 2);
  CHECK(conn->is_open());
  CHECK(accepted_bytes > s.send_queue_limit);

  // Once the peer reads again, everything queued goes out.
  std::atomic<bool> stop_reading{false};
  std::thread reader([&] {
    while (!stop_reading && peer.read_some(10ms)) peer.buffer().clear();
  });
  CHECK(wait_until([&] { return conn->queued_bytes() == 0; }));
  CHECK(conn->bytes_out() == accepted_bytes);
  CHECK(conn->send(frame, true));
  stop_reading = true;
  reader.join();
}

TEST_CASE("closing towards a peer that reads nothing ends within the handshake timeout", "[net][limits]") {
  net::settings s;
  s.send_queue_limit = 256 * 1024;
  s.handshake_timeout = 300ms;
  net::runtime rt(s);
  rt.start();
  accepted_set server;
  auto listener = net::listen(rt, s, server.factory(), {});
  REQUIRE(listener);
  raw_client peer(listener->local_port(), /*receive_buffer=*/16 * 1024);
  REQUIRE(peer.websocket_handshake().find(" 101 ") != std::string::npos);
  REQUIRE(wait_until([&] { return server.opened() == 1; }));
  auto side = server.at(0);
  REQUIRE(fill_until_stuck(*side->conn(), std::string(16 * 1024, 'x'), s.send_queue_limit) > 0);

  auto before = std::chrono::steady_clock::now();
  side->conn()->close(net::close_code::normal, "bye");
  REQUIRE(wait_until([&] { return side->closed() == 1; }, 5s));
  CHECK(side->closed_at() - before >= 250ms);
  CHECK(side->info().initiated_locally);
  CHECK(side->info().error.find("close did not complete") != std::string::npos);
  // The write in flight owns its buffer until its cancelled completion runs,
  // which may come just after on_closed.
  CHECK(wait_until([&] { return side->conn()->queued_bytes() == 0; }));
  CHECK(peer.wait_for_close(5s));
}

TEST_CASE("keepalive closes a silent peer and keeps a healthy one", "[net][limits]") {
  net::settings s;
  s.ping_interval = 100ms;
  s.pong_timeout = 300ms;
  net::runtime rt(s);
  rt.start();
  accepted_set server;
  auto listener = net::listen(rt, s, server.factory(), {});
  REQUIRE(listener);

  SECTION("a peer that never answers is closed within the pong timeout") {
    raw_client peer(listener->local_port());
    REQUIRE(peer.websocket_handshake().find(" 101 ") != std::string::npos);
    auto handshaken = std::chrono::steady_clock::now();
    REQUIRE(wait_until([&] { return server.opened() == 1; }));
    auto side = server.at(0);
    REQUIRE(wait_until([&] { return side->closed() == 1; }, 5s));
    auto info = side->info();
    CHECK(info.code == net::close_code::abnormal);
    CHECK(info.initiated_locally);
    CHECK(info.error.find("keepalive") != std::string::npos);
    CHECK(side->closed_at() - handshaken >= 290ms);
    CHECK(side->closed_at() - handshaken < 3s);
    CHECK(side->conn()->pings_sent() >= 2);
    CHECK(peer.wait_for_close(5s));
  }
  SECTION("an idle but healthy connection stays open across many pings") {
    auto client = std::make_shared<recorder>();
    net::dial(rt, sync_url(listener->local_port()), client, {}, s);
    REQUIRE(wait_until([&] { return client->opened() == 1 && server.opened() == 1; }));
    auto server_conn = server.at(0)->conn();
    auto client_conn = client->conn();
    // Well past twice the pong timeout, counted in pings rather than time.
    REQUIRE(wait_until([&] { return server_conn->pings_sent() >= 8 && client_conn->pings_sent() >= 8; }));
    CHECK(server_conn->is_open());
    CHECK(client_conn->is_open());
    CHECK(server.closed() == 0);
    CHECK(client->closed() == 0);
    CHECK(client->frame_count() == 0);
  }
}

TEST_CASE("a connection that sends nothing is closed after the handshake timeout", "[net][limits]") {
  net::settings s;
  s.handshake_timeout = 200ms;
  net::runtime rt(s);
  rt.start();
  accepted_set server;
  auto listener = net::listen(rt, s, server.factory(), {});
  REQUIRE(listener);

  SECTION("silent from the start") {
    auto start = std::chrono::steady_clock::now();
    raw_client peer(listener->local_port());
    REQUIRE(peer.wait_for_close(5s));
    CHECK(std::chrono::steady_clock::now() - start >= 150ms);
  }
  SECTION("a partial upgrade request") {
    raw_client peer(listener->local_port());
    peer.send_all("GET /v1/sync HTTP/1.1\r\nHost: x\r\n");
    REQUIRE(peer.wait_for_close(5s));
  }
  CHECK(server.opened() == 0);
}

TEST_CASE("stopping the runtime closes open connections cleanly", "[net][limits]") {
  net::settings s;
  s.shutdown_timeout = 5s;
  auto server_rt = std::make_unique<net::runtime>(s);
  net::runtime client_rt(s);
  server_rt->start();
  client_rt.start();
  accepted_set server(/*echo=*/true);
  auto listener = net::listen(*server_rt, s, server.factory(), {});
  REQUIRE(listener);

  constexpr int count = 10;
  std::vector<std::shared_ptr<recorder>> clients;
  for (int i = 0; i < count; ++i) {
    clients.push_back(std::make_shared<recorder>());
    net::dial(client_rt, sync_url(listener->local_port()), clients.back(), {}, s);
  }
  REQUIRE(wait_until([&] { return server.opened() == count; }));
  for (auto& c : clients) REQUIRE(wait_until([&] { return c->opened() == 1; }));
  // Traffic in flight while stopping.
  for (auto& c : clients) c->conn()->send(std::string(100000, 'y'), true);
  // A raw connection that never finishes its request is cut as well.
  raw_client idle(listener->local_port());

  auto before = std::chrono::steady_clock::now();
  server_rt->stop();
  CHECK(std::chrono::steady_clock::now() - before < 4s);
  CHECK(server.closed() == count);
  for (auto& h : server.all()) {
    CHECK(h->info().code == net::close_code::going_away);
    CHECK(h->info().initiated_locally);
    CHECK_FALSE(h->conn()->send("after stop", false));
  }
  for (auto& c : clients) {
    REQUIRE(wait_until([&] { return c->closed() == 1; }));
    CHECK(c->info().code == net::close_code::going_away);
    CHECK_FALSE(c->info().initiated_locally);
  }
  CHECK(idle.wait_for_close(5s));

  // Listening on a stopped runtime is refused; dialing reports at once.
  std::string error;
  CHECK_FALSE(net::listen(*server_rt, s, server.factory(), {}, &error));
  CHECK(error.find("stopped") != std::string::npos);
  // Connection objects may outlive their runtime.
  auto survivor = server.at(0)->conn();
  listener.reset();
  server_rt.reset();
  CHECK_FALSE(survivor->send("x", false));
  survivor->close();
}

TEST_CASE("a runtime stopped with connections it dialed is clean", "[net][limits]") {
  net::settings s;
  net::runtime server_rt(s);
  server_rt.start();
  accepted_set server;
  auto listener = net::listen(server_rt, s, server.factory(), {});
  REQUIRE(listener);
  auto client = std::make_shared<recorder>();
  {
    net::runtime client_rt(s);
    client_rt.start();
    net::dial(client_rt, sync_url(listener->local_port()), client, {}, s);
    REQUIRE(wait_until([&] { return client->opened() == 1; }));
    dial_outcome late;
    client_rt.stop();
    net::dial(client_rt, sync_url(listener->local_port()), std::make_shared<recorder>(),
              late.callback(), s);
    CHECK(late.finished());
    CHECK(late.error_text().find("stopped") != std::string::npos);
  }
  CHECK(client->closed() == 1);
  CHECK(client->info().code == net::close_code::going_away);
  REQUIRE(wait_until([&] { return server.closed() == 1; }));
  CHECK(server.at(0)->info().code == net::close_code::going_away);
}

TEST_CASE("a runtime that never started stops cleanly", "[net][limits]") {
  net::settings s;
  accepted_set server;
  dial_outcome outcome;
  {
    net::runtime rt(s);
    auto listener = net::listen(rt, s, server.factory(), {});
    REQUIRE(listener);
    net::dial(rt, sync_url(listener->local_port()), std::make_shared<recorder>(), outcome.callback(), s);
  }
  // The pending dial was aborted and reported; nothing leaked (see ASan).
  CHECK(outcome.finished());
  CHECK(outcome.error_text().find("aborted") != std::string::npos);
  CHECK(server.opened() == 0);
}
