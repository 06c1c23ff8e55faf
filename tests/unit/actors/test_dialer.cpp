// The dialer as a user meets it: real nodes over loopback, refusals that
// waiting cannot change, and the error of the attempt that just failed.
#include <catch2/catch.hpp>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>

#include "auth/token.hpp"
#include "cluster_support.hpp"

using namespace starling;
using starling::test::eventually;
using starling::test::member;
using starling::test::set;
using starling::test::url;

namespace {

std::optional<dialer_info> only_dialer(node& n) {
  auto st = n.status();
  if (!st || st->dialers.size() != 1) return std::nullopt;
  return st->dialers[0];
}

// A loopback port that nothing listens on (bound, then closed).
std::uint16_t closed_port() {
  boost::asio::io_context io;
  boost::asio::ip::tcp::acceptor a(io, {boost::asio::ip::make_address("127.0.0.1"), 0});
  auto port = a.local_endpoint().port();
  a.close();
  return port;
}

}  // namespace

TEST_CASE("dialer: a join token the peer refuses stops the dialer until it is re-armed", "[dialer]") {
  member a, newcomer;
  auto na = node::open(a.config({}, true));  // trusts nobody; knows no token
  REQUIRE(na);
  auto cfg = newcomer.config({&a}, false);
  cfg.join_token = auth::generate_token();  // well-formed, unknown to a
  auto nn = node::open(cfg);
  REQUIRE(nn);
  (*nn)->add_peer(url(**na));
  // Reconnects are 20-200 ms apart in tests: a dialer that kept retrying
  // would never settle in `refused`.
  REQUIRE(eventually([&] {
    auto d = only_dialer(**nn);
    return d && d->state.rfind("refused: token_invalid", 0) == 0;
  }));
  auto d = only_dialer(**nn);
  REQUIRE(d);
  INFO("state: " << d->state << ", last_error: " << d->last_error);
  CHECK(d->attempts == 1);
  CHECK(d->last_error.find("token_invalid") != std::string::npos);
  CHECK(d->next_retry_in.count() == 0);
  auto sa = (*na)->status();
  REQUIRE(sa);
  CHECK(sa->peer_errors.at("token_invalid") == 1);

  // Adding the same URL again re-arms the one dialer (no second dialer).
  (*nn)->add_peer(url(**na));
  REQUIRE(eventually([&] {
    auto d2 = only_dialer(**nn);
    return d2 && d2->attempts == 2 && d2->state.rfind("refused: token_invalid", 0) == 0;
  }));
  sa = (*na)->status();
  REQUIRE(sa);
  CHECK(sa->peer_errors.at("token_invalid") == 2);
}

TEST_CASE("dialer: an untrusted peer stops the dialer, and trusting it re-arms the dialer", "[dialer]") {
  member a, b;
  auto na = node::open(a.config({&b}, true));
  REQUIRE(na);
  auto nb = node::open(b.config({}, false));  // b does not trust a
  REQUIRE(nb);
  REQUIRE((*na)->write("doc", {set("/x", 1)}));
  (*nb)->add_peer(url(**na));
  REQUIRE(eventually([&] {
    auto d = only_dialer(**nb);
    return d && d->state.rfind("refused: untrusted", 0) == 0;
  }));
  CHECK(only_dialer(**nb)->attempts == 1);
  // The operator trusts the peer: the stopped dialer tries again and syncs.
  REQUIRE((*nb)->trust(member::entry_for(a)));
  CHECK(eventually([&] {
    auto r = (*nb)->read("doc", "/x");
    return r && r->has_value() && **r == 1;
  }));
  auto d = only_dialer(**nb);
  REQUIRE(d);
  CHECK(d->attempts == 2);
  CHECK(d->state == "connected");
}

TEST_CASE("dialer: last_error is the error of the attempt that just failed", "[dialer]") {
  member b;
  auto cfg = b.config({}, false);
  cfg.dialer.base_backoff = std::chrono::hours(1);  // one attempt, then a long wait
  cfg.dialer.max_backoff = std::chrono::hours(1);
  auto nb = node::open(cfg);
  REQUIRE(nb);
  (*nb)->add_peer(url(closed_port()));
  REQUIRE(eventually([&] {
    auto d = only_dialer(**nb);
    return d && d->consecutive_failures == 1;
  }));
  auto d = only_dialer(**nb);
  REQUIRE(d);
  INFO("last_error: " << d->last_error);
  CHECK(d->attempts == 1);
  CHECK(d->state == "waiting");
  CHECK(d->last_error.find("refused") != std::string::npos);  // ECONNREFUSED, not how the link was shut down
}

TEST_CASE("dialer: the same seed gives the same backoff schedule", "[dialer]") {
  auto first_delay = [](std::uint64_t seed) {
    member b;
    auto cfg = b.config({}, false);
    cfg.seed = seed;
    cfg.dialer.base_backoff = std::chrono::hours(1);
    cfg.dialer.max_backoff = std::chrono::hours(1);
    auto nb = node::open(cfg);
    REQUIRE(nb);
    (*nb)->add_peer("ws://127.0.0.1:1/v1/sync");
    REQUIRE(eventually([&] {
      auto d = only_dialer(**nb);
      return d && d->consecutive_failures == 1;
    }));
    return only_dialer(**nb)->next_retry_in;
  };
  INFO("seed 42");
  CHECK(first_delay(42) == first_delay(42));
  CHECK(first_delay(42) != first_delay(43));
}
