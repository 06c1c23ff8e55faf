// Sessions that recover on the same connection: a reader that stops and
// reads again, a change larger than the send queue, and a document owner
// that restarts after a failed commit. Real nodes, real loopback sockets (a
// net::tcp_proxy pauses a link), a real LMDB map that fills up.
#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <iostream>
#include <string>
#include <thread>

#include "cluster_support.hpp"
#include "tests/support/tcp_proxy.hpp"

using namespace starling;
using starling::test::digest_of;
using starling::test::eventually;
using starling::test::member;
using starling::test::set;
using starling::test::url;
using direction = net::tcp_proxy::direction;

namespace {

std::uint64_t sessions_opened(node& n) {
  auto st = n.status();
  return st ? st->sessions_opened : 0;
}

// What each side believes, for a failure report.
void report(node& a, node& b, const std::string& doc) {
  for (auto* n : {&a, &b}) {
    auto st = n->status();
    if (!st) continue;
    std::cout << "node " << n->id().substr(0, 8) << " digest=" << digest_of(*n, doc)
              << " lag_events=" << st->lag_events << " sessions_opened=" << st->sessions_opened << "\n";
    for (auto& p : st->peers)
      std::cout << "  peer " << p.peer_id.substr(0, 8) << " " << p.state << " sent=" << p.changes_sent
                << " received=" << p.changes_received << "\n";
  }
  std::cout << std::flush;
}

}  // namespace

TEST_CASE("a reader stopped for 10 s under 1 k writes/s resumes on the same session", "[sync][defect4]") {
  member a, reader;
  auto cfg_a = a.config({&reader}, true);
  cfg_a.net.send_queue_limit = 256 * 1024;  // the stall meets a full queue within a second
  auto na = node::open(cfg_a);
  auto nr = node::open(reader.config({&a}, false));
  REQUIRE(na);
  REQUIRE(nr);
  net::tcp_proxy link((*na)->port());
  (*nr)->add_peer(url(link.port()));
  const std::string doc = "stream";
  REQUIRE((*na)->write(doc, {set("/start", 1)}));
  REQUIRE(eventually([&] { return digest_of(**nr, doc) == digest_of(**na, doc); }));
  const auto opened = sessions_opened(**na);
  REQUIRE(link.accepted() == 1);

  link.pause(direction::to_client);  // the reader stops reading
  const std::string blob(4 * 1024, 'x');
  std::atomic<int> acked{0}, failed{0};
  const int writes = 10'000;  // 10 s at 1 k writes/s, 40 MB: far past the kernel buffers
  auto next = std::chrono::steady_clock::now();
  for (int i = 0; i < writes; ++i) {
    (*na)->write_async(doc, {set("/k" + std::to_string(i % 100), blob + std::to_string(i))},
                       [&](expected<write_result, std::string> r) { (r ? acked : failed)++; });
    next += std::chrono::microseconds(1000);
    std::this_thread::sleep_until(next);  // pacing the writer, not waiting for an outcome
  }
  REQUIRE(eventually([&] { return acked + failed == writes; }, std::chrono::seconds(60)));
  CHECK(failed == 0);
  link.resume(direction::to_client);  // it reads again

  bool converged =
      eventually([&] { return digest_of(**nr, doc) == digest_of(**na, doc); }, std::chrono::seconds(60));
  if (!converged) report(**na, **nr, doc);
  REQUIRE(converged);
  auto st = (*na)->status();
  REQUIRE(st);
  std::cout << "stalled reader: " << st->lag_events << " lag event(s) for " << writes << " writes" << std::endl;
  CHECK(st->lag_events >= 1);  // it did fall behind
  // The same session: no new connection through the proxy, none opened.
  CHECK(link.accepted() == 1);
  CHECK(sessions_opened(**na) == opened);
  auto last = (*nr)->read(doc, "/k99");
  REQUIRE(last);
  REQUIRE(last->has_value());
  CHECK(**last == blob + std::to_string(writes - 1));
}

TEST_CASE("a change larger than the send queue still reaches the peer", "[sync][defect4]") {
  member a, b;
  auto cfg_a = a.config({&b}, true);
  cfg_a.net.send_queue_limit = 64 * 1024;
  auto na = node::open(cfg_a);
  auto nb = node::open(b.config({&a}, false));
  REQUIRE(na);
  REQUIRE(nb);
  (*nb)->add_peer(url(**na));
  const std::string doc = "big";
  REQUIRE((*na)->write(doc, {set("/small", 1)}));
  REQUIRE(eventually([&] { return digest_of(**nb, doc) == digest_of(**na, doc); }));
  const auto opened = sessions_opened(**na);
  // About 1 MB in one change (the change limit is 1 MiB): sixteen queues.
  const std::string huge(1'000'000, 'h');
  REQUIRE((*na)->write(doc, {set("/huge", huge)}));
  bool arrived = eventually([&] { return digest_of(**nb, doc) == digest_of(**na, doc); }, std::chrono::seconds(20));
  if (!arrived) report(**na, **nb, doc);
  REQUIRE(arrived);
  auto got = (*nb)->read(doc, "/huge");
  REQUIRE(got);
  REQUIRE(got->has_value());
  CHECK(**got == huge);
  CHECK(sessions_opened(**na) == opened);
  // And the live stream goes on after it.
  REQUIRE((*na)->write(doc, {set("/after", 2)}));
  REQUIRE(eventually([&] { return digest_of(**nb, doc) == digest_of(**na, doc); }));
  CHECK(sessions_opened(**na) == opened);
}

TEST_CASE("after a failed commit restarts the owner, peers get every later write without reconnecting",
          "[sync][defect9]") {
  member a, b;
  auto cfg_a = a.config({&b}, true);
  // A map that cannot grow, too small for a change of about 1 MB: that
  // commit fails for real (map_full) and the document's owner restarts.
  cfg_a.store.initial_map_size = 1u << 20;
  cfg_a.store.max_map_size = 1u << 20;
  auto na = node::open(cfg_a);
  auto nb = node::open(b.config({&a}, false));
  REQUIRE(na);
  REQUIRE(nb);
  (*nb)->add_peer(url(**na));
  const std::string doc = "owned";
  REQUIRE((*na)->write(doc, {set("/before", 1)}));
  REQUIRE(eventually([&] { return digest_of(**nb, doc) == digest_of(**na, doc); }));
  const auto opened_a = sessions_opened(**na);
  const auto opened_b = sessions_opened(**nb);

  auto failed = (*na)->write(doc, {set("/too-big", std::string(1'000'000, 'f'))});
  REQUIRE_FALSE(failed);
  INFO("the failed write: " << failed.error());
  // Keep writing: the restarted owner commits these.
  for (int i = 0; i < 50; ++i) REQUIRE((*na)->write(doc, {set("/after" + std::to_string(i), i)}));
  bool converged = eventually([&] { return digest_of(**nb, doc) == digest_of(**na, doc); });
  if (!converged) report(**na, **nb, doc);
  REQUIRE(converged);
  auto v = (*nb)->read(doc, "/after49");
  REQUIRE(v);
  REQUIRE(v->has_value());
  CHECK(**v == 49);
  // Without a reconnect, and the failure is counted.
  CHECK(sessions_opened(**na) == opened_a);
  CHECK(sessions_opened(**nb) == opened_b);
  auto st = (*na)->status();
  REQUIRE(st);
  CHECK(st->owner_failures == 1);
  CHECK(st->owner_resubscribes >= 1);
  CHECK(st->lag_events == 0);  // resumed by delta, not counted as lagging
}
