// Nodes in one process, connected over real loopback WebSockets with the
// authenticated, sealed sync protocol.
#include <catch2/catch.hpp>

#include <chrono>
#include <filesystem>
#include <thread>

#include "cluster_support.hpp"

using namespace starling;
using starling::test::eventually;
using starling::test::temp_dir;
using crdt::mutation;
using nlohmann::json;

using starling::test::member;
using starling::test::url;
using starling::test::set;
using starling::test::digest_of;

TEST_CASE("three nodes in a line: writes reach the far end through the middle and converge", "[cluster]") {
  member a, b, c;
  auto na = node::open(a.config({&b}, true));
  auto nb = node::open(b.config({&a, &c}, true));
  auto nc = node::open(c.config({&b}, true));
  REQUIRE(na);
  REQUIRE(nb);
  REQUIRE(nc);
  REQUIRE((*nb)->port() != 0);
  // a -> b <- c: b is the middle.
  (*na)->add_peer(url(**nb));
  (*nc)->add_peer(url(**nb));
  REQUIRE((*na)->write("line", {set("/from_a", 1)}));
  CHECK(eventually([&] {
    auto r = (*nc)->read("line", "/from_a");
    return r && r->has_value() && **r == 1;
  }));
  // Concurrent writes everywhere converge to the same state and digest.
  for (int i = 0; i < 20; ++i) {
    REQUIRE((*na)->write("line", {set("/a" + std::to_string(i % 3), i), {mutation::kind::inc, "/n", 1}}));
    REQUIRE((*nb)->write("line", {set("/b" + std::to_string(i % 4), i), {mutation::kind::inc, "/n", 1}}));
    REQUIRE((*nc)->write("line", {set("/c", i), {mutation::kind::inc, "/n", 1}}));
  }
  CHECK(eventually([&] {
    auto da = digest_of(**na, "line");
    return da == digest_of(**nb, "line") && da == digest_of(**nc, "line") && **(*na)->read("line", "/n") == 60;
  }));
  CHECK(**(*nc)->read("line") == **(*na)->read("line"));
}

TEST_CASE("an untrusted node is refused and gets nothing", "[cluster]") {
  member a, stranger;
  auto na = node::open(a.config({}, true));  // trusts nobody
  auto ns = node::open(stranger.config({&a}, false));
  REQUIRE(na);
  REQUIRE(ns);
  REQUIRE((*na)->write("secret", {set("/x", 1)}));
  (*ns)->add_peer(url(**na));
  // Give the stranger time to try (a condition that should stay false).
  CHECK_FALSE(eventually([&] {
    auto r = (*ns)->read("secret", "/x");
    return r && r->has_value();
  }, std::chrono::seconds(2)));
  // The stranger's dialer says why, and the refusal is counted on both
  // sides as what it is.
  auto st = (*ns)->status();
  REQUIRE(st);
  REQUIRE(st->dialers.size() == 1);
  INFO("last_error: " << st->dialers[0].last_error);
  CHECK(st->dialers[0].last_error.find("untrusted") != std::string::npos);
  CHECK(st->errors_from_peers.count("untrusted") == 1);
  CHECK(st->peer_errors.count("untrusted") == 0);
  auto sa = (*na)->status();
  REQUIRE(sa);
  CHECK(sa->peer_errors.count("untrusted") == 1);
}

TEST_CASE("a restarted node catches up by delta only", "[cluster]") {
  member a, b;
  auto na = node::open(a.config({&b}, true));
  REQUIRE(na);
  std::size_t before = 0;
  {
    auto nb = node::open(b.config({&a}, false));
    REQUIRE(nb);
    (*nb)->add_peer(url(**na));
    for (int i = 0; i < 30; ++i) REQUIRE((*na)->write("log", {set("/k" + std::to_string(i % 5), i)}));
    REQUIRE(eventually([&] { return digest_of(**na, "log") == digest_of(**nb, "log"); }));
    before = 30;
  }  // b stops
  const int missed = 25;
  for (int i = 0; i < missed; ++i) REQUIRE((*na)->write("log", {set("/later" + std::to_string(i % 3), i)}));
  auto nb = node::open(b.config({&a}, false));
  REQUIRE(nb);
  // Its data survived: nothing to catch up on for the first 30.
  auto st = (*nb)->status();
  REQUIRE(st);
  REQUIRE(st->documents.size() == 1);
  CHECK(st->documents[0].changes == before);
  (*nb)->add_peer(url(**na));
  REQUIRE(eventually([&] { return digest_of(**na, "log") == digest_of(**nb, "log"); }));
  // a sent b exactly the changes b lacked, not the document.
  std::uint64_t sent_to_b = 0;
  REQUIRE(eventually([&] {
    auto s = (*na)->status();
    if (!s) return false;
    sent_to_b = 0;
    for (auto& p : s->peers)
      if (p.peer_id == b.id.node_id()) sent_to_b += p.changes_sent;
    return sent_to_b > 0;
  }));
  CHECK(sent_to_b == static_cast<std::uint64_t>(missed));
}
