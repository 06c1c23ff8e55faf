// WebSocket connections between a listener and dial() on loopback.
#include <catch2/catch.hpp>

#include "net_test_support.hpp"

using namespace net_test;
namespace net = starling::net;

namespace {

net::settings test_settings() {
  net::settings s;
  s.handshake_timeout = 5s;
  s.shutdown_timeout = 5s;
  return s;
}

}  // namespace

TEST_CASE("echo: frames arrive in order and both sides see a clean close", "[net][ws]") {
  net::runtime rt(test_settings());
  rt.start();
  accepted_set server(/*echo=*/true);
  std::string error;
  auto listener = net::listen(rt, test_settings(), server.factory(), {}, &error);
  REQUIRE(listener);
  REQUIRE(listener->local_port() != 0);
  CHECK(listener->local_address() == "127.0.0.1");

  auto client = std::make_shared<recorder>();
  dial_outcome outcome;
  net::dial(rt, sync_url(listener->local_port()), client, outcome.callback(), test_settings());
  REQUIRE(wait_until([&] { return client->opened() == 1; }));
  REQUIRE(outcome.finished());
  CHECK(outcome.error_text().empty());
  auto conn = client->conn();
  REQUIRE(conn);
  CHECK_FALSE(conn->accepted());
  CHECK(conn->is_open());
  CHECK(conn->peer() == "127.0.0.1:" + std::to_string(listener->local_port()));

  std::string binary_payload("\x00\x01\xff\x00zero", 8);
  REQUIRE(conn->send("hello", false));
  REQUIRE(conn->send(binary_payload, true));
  REQUIRE(conn->send("", false));
  for (int i = 0; i < 20; ++i) REQUIRE(conn->send("n" + std::to_string(i), i % 2 == 0));
  REQUIRE(wait_until([&] { return client->frame_count() == 23; }));

  auto frames = client->frames();
  CHECK_FALSE(frames[0].binary);
  CHECK(frames[0].data == "hello");
  CHECK(frames[1].binary);
  CHECK(frames[1].data == binary_payload);
  CHECK(frames[2].data.empty());
  for (int i = 0; i < 20; ++i) {
    CHECK(frames[3 + i].data == "n" + std::to_string(i));
    CHECK(frames[3 + i].binary == (i % 2 == 0));
  }
  REQUIRE(server.size() == 1);
  auto server_side = server.at(0);
  CHECK(server_side->opened() == 1);
  CHECK(server_side->conn()->accepted());
  CHECK(server_side->conn()->frames_in() == 23);
  std::uint64_t sent_bytes = 5 + 8 + 0;
  for (int i = 0; i < 20; ++i) sent_bytes += 1 + std::to_string(i).size();
  CHECK(conn->bytes_out() == sent_bytes);
  CHECK(server_side->conn()->bytes_in() == sent_bytes);
  CHECK(conn->bytes_in() == sent_bytes);
  CHECK(conn->frames_out() == 23);

  conn->close(net::close_code::normal, "done");
  CHECK_FALSE(conn->is_open());
  CHECK_FALSE(conn->send("late", false));
  REQUIRE(wait_until([&] { return client->closed() == 1 && server_side->closed() == 1; }));
  auto mine = client->info();
  CHECK(mine.code == 1000);
  CHECK(mine.reason == "done");
  CHECK(mine.error.empty());
  CHECK(mine.initiated_locally);
  auto theirs = server_side->info();
  CHECK(theirs.code == 1000);
  CHECK(theirs.reason == "done");
  CHECK(theirs.error.empty());
  CHECK_FALSE(theirs.initiated_locally);
  CHECK(conn->queued_bytes() == 0);
}

TEST_CASE("a frame over the limit closes the connection with 1009", "[net][ws]") {
  net::runtime rt(test_settings());
  rt.start();
  auto small = test_settings();
  small.frame_limit = 1024;
  accepted_set server;
  auto listener = net::listen(rt, small, server.factory(), {});
  REQUIRE(listener);

  auto client = std::make_shared<recorder>();
  net::dial(rt, sync_url(listener->local_port()), client, {}, test_settings());
  REQUIRE(wait_until([&] { return client->opened() == 1 && server.size() == 1; }));
  auto conn = client->conn();
  REQUIRE(conn->send(std::string(1024, 'a'), true));  // exactly at the limit: fine
  REQUIRE(conn->send(std::string(2000, 'b'), true));
  auto server_side = server.at(0);
  REQUIRE(wait_until([&] { return server_side->closed() == 1 && client->closed() == 1; }));
  CHECK(server_side->frame_count() == 1);
  CHECK(server_side->info().code == net::close_code::too_big);
  CHECK(server_side->info().initiated_locally);
  INFO("client error: " << client->info().error);
  CHECK(client->info().code == net::close_code::too_big);
  CHECK_FALSE(client->info().initiated_locally);
}

TEST_CASE("dial reports failures through its callback", "[net][ws]") {
  net::runtime rt(test_settings());
  rt.start();

  SECTION("malformed URL") {
    dial_outcome outcome;
    net::dial(rt, std::string("http://127.0.0.1:1/v1/sync"), std::make_shared<recorder>(),
              outcome.callback(), test_settings());
    REQUIRE(wait_until([&] { return outcome.finished(); }));
    CHECK(outcome.error_text().find("ws://") != std::string::npos);
  }
  SECTION("nobody listening") {
    std::uint16_t port;
    {
      net::runtime other(test_settings());
      other.start();
      accepted_set nobody;
      auto probe = net::listen(other, test_settings(), nobody.factory(), {});
      REQUIRE(probe);
      port = probe->local_port();
      other.stop();  // closes the acceptor before returning
    }
    dial_outcome outcome;
    net::dial(rt, sync_url(port), std::make_shared<recorder>(), outcome.callback(), test_settings());
    REQUIRE(wait_until([&] { return outcome.finished(); }));
    CHECK(outcome.error_text().find("cannot connect") != std::string::npos);
    CHECK_FALSE(outcome.conn);
  }
  SECTION("wrong path gets the server's 404") {
    accepted_set server;
    auto listener = net::listen(rt, test_settings(), server.factory(), {});
    REQUIRE(listener);
    auto handler = std::make_shared<recorder>();
    dial_outcome outcome;
    net::dial(rt, sync_url(listener->local_port(), "/v1/elsewhere"), handler, outcome.callback(),
              test_settings());
    REQUIRE(wait_until([&] { return outcome.finished(); }));
    CHECK(outcome.error_text().find("404") != std::string::npos);
    CHECK(handler->opened() == 0);
  }
}

TEST_CASE("parse_ws_url", "[net][ws]") {
  auto t = net::parse_ws_url("ws://example.org:7000/v1/sync");
  REQUIRE(t);
  CHECK(t->host == "example.org");
  CHECK(t->port == 7000);
  CHECK(t->path == "/v1/sync");
  t = net::parse_ws_url("ws://[::1]:81");
  REQUIRE(t);
  CHECK(t->host == "::1");
  CHECK(t->port == 81);
  CHECK(t->path == "/v1/sync");
  t = net::parse_ws_url("ws://host");
  REQUIRE(t);
  CHECK(t->port == 80);
  std::string error;
  CHECK_FALSE(net::parse_ws_url("wss://host", &error));
  CHECK_FALSE(net::parse_ws_url("ws://host:99999", &error));
  CHECK_FALSE(net::parse_ws_url("ws://host:", &error));
  CHECK_FALSE(net::parse_ws_url("ws://:80", &error));
  CHECK(error.find("no host") != std::string::npos);
}

TEST_CASE("sends from many threads keep each thread's order", "[net][ws]") {
  auto two_threads = test_settings();
  two_threads.io_threads = 2;
  net::runtime rt(two_threads);
  rt.start();
  accepted_set server(/*echo=*/true);
  auto listener = net::listen(rt, two_threads, server.factory(), {});
  REQUIRE(listener);
  auto client = std::make_shared<recorder>();
  net::dial(rt, sync_url(listener->local_port()), client, {}, two_threads);
  REQUIRE(wait_until([&] { return client->opened() == 1; }));
  auto conn = client->conn();

  constexpr int senders = 4, per_sender = 250;
  std::atomic<int> refused{0};  // assertions are not thread-safe: count, check after
  std::vector<std::thread> threads;
  for (int t = 0; t < senders; ++t)
    threads.emplace_back([&, t] {
      for (int i = 0; i < per_sender; ++i)
        if (!conn->send(std::to_string(t) + ":" + std::to_string(i), false)) refused++;
    });
  for (auto& thread : threads) thread.join();
  REQUIRE(refused == 0);
  REQUIRE(wait_until([&] { return client->frame_count() == senders * per_sender; }));
  std::vector<int> next(senders, 0);
  for (const auto& f : client->frames()) {
    auto colon = f.data.find(':');
    int t = std::stoi(f.data.substr(0, colon));
    CHECK(std::stoi(f.data.substr(colon + 1)) == next[t]);
    next[t]++;
  }
}

TEST_CASE("fifty connections open and close cleanly", "[net][ws]") {
  net::runtime rt(test_settings());
  rt.start();
  accepted_set server(/*echo=*/true);
  auto listener = net::listen(rt, test_settings(), server.factory(), {});
  REQUIRE(listener);
  constexpr int count = 50;
  std::vector<std::shared_ptr<recorder>> clients;
  for (int i = 0; i < count; ++i) {
    clients.push_back(std::make_shared<recorder>());
    net::dial(rt, sync_url(listener->local_port()), clients.back(), {}, test_settings());
  }
  REQUIRE(wait_until([&] { return server.opened() == count; }));
  std::vector<std::uint64_t> ids;
  for (auto& c : clients) {
    REQUIRE(wait_until([&] { return c->opened() == 1; }));
    ids.push_back(c->conn()->id());
    REQUIRE(c->conn()->send("ping " + std::to_string(c->conn()->id()), false));
  }
  std::sort(ids.begin(), ids.end());
  CHECK(std::unique(ids.begin(), ids.end()) == ids.end());
  for (auto& c : clients) {
    REQUIRE(wait_until([&] { return c->frame_count() == 1; }));
    CHECK(c->frames()[0].data == "ping " + std::to_string(c->conn()->id()));
    c->conn()->close();
  }
  REQUIRE(wait_until([&] { return server.closed() == count; }));
  for (auto& c : clients) {
    REQUIRE(wait_until([&] { return c->closed() == 1; }));
    CHECK(c->info().code == 1000);
  }
  for (auto& s : server.all()) {
    CHECK(s->info().code == 1000);
    CHECK_FALSE(s->info().initiated_locally);
  }
}
