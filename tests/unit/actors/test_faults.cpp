// Faults made from outside the nodes: every link runs through a loopback
// TCP proxy (net/tcp_proxy) that the test cuts, heals and pauses.
#include <catch2/catch.hpp>

#include <cstdlib>
#include <iostream>
#include <map>
#include <memory>
#include <random>
#include <set>

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

std::uint64_t seed_from_env(std::uint64_t fallback) {
  if (const char* s = std::getenv("STARLING_SEED")) return std::strtoull(s, nullptr, 10);
  return fallback;
}

}  // namespace

TEST_CASE("five nodes with random link cuts and heals converge with every acknowledged write", "[faults]") {
  const auto seed = seed_from_env(std::random_device{}());
  std::cout << "five-node partition test: STARLING_SEED=" << seed
            << " ./build/tests/unit/actors/unit_faults '[faults]'" << std::endl;
  INFO("seed " << seed);
  std::mt19937_64 rng(seed);
  constexpr int n = 5;
  std::vector<std::unique_ptr<member>> members;
  for (int i = 0; i < n; ++i) members.push_back(std::make_unique<member>());
  std::vector<const member*> all;
  for (auto& m : members) all.push_back(m.get());
  std::vector<std::unique_ptr<node>> nodes;
  for (auto& m : members) {
    auto opened = node::open(m->config(all, true));
    REQUIRE(opened);
    nodes.push_back(std::move(*opened));
  }
  // A ring plus two chords, each link dialed by the lower index through its
  // own proxy: 7 links, so a single cut never partitions the cluster and
  // several cuts often do.
  std::vector<std::pair<int, int>> edges{{0, 1}, {1, 2}, {2, 3}, {3, 4}, {0, 4}, {0, 2}, {1, 3}};
  std::vector<std::unique_ptr<net::tcp_proxy>> proxies;
  for (auto [from, to] : edges) {
    proxies.push_back(std::make_unique<net::tcp_proxy>(nodes[to]->port()));
    nodes[from]->add_peer(url(proxies.back()->port()));
  }
  const std::string doc = "partitioned";
  // Acknowledged writes: node index -> keys written there.
  std::vector<std::pair<std::string, int>> acked;
  std::uniform_int_distribution<int> pick_node(0, n - 1), pick_edge(0, static_cast<int>(edges.size()) - 1);
  std::uniform_int_distribution<int> coin(0, 2);
  int written = 0;
  for (int round = 0; round < 12; ++round) {
    // Cut or heal a few links at random.
    for (int k = 0; k < 3; ++k) {
      auto& p = proxies[pick_edge(rng)];
      if (coin(rng) == 0) p->heal();
      else p->cut();
    }
    // Writes on random nodes, some concurrent with in-flight sync.
    for (int w = 0; w < 15; ++w) {
      int at = pick_node(rng);
      std::string key = "/n" + std::to_string(at) + "_" + std::to_string(written++);
      auto r = nodes[at]->write(doc, {set(key, written), {crdt::mutation::kind::inc, "/total", 1}});
      REQUIRE(r);
      acked.emplace_back(key, written);
    }
    // Let some of it propagate before the next fault: wait until a random
    // node has seen at least one more change (a condition, not a sleep).
    auto watch = pick_node(rng);
    auto before = nodes[watch]->status();
    REQUIRE(before);
    eventually([&] {
      auto now = nodes[watch]->status();
      return now && !now->documents.empty() && !before->documents.empty() &&
             now->documents[0].changes > before->documents[0].changes;
    }, std::chrono::seconds(1));
  }
  for (auto& p : proxies) p->heal();
  // Heal: every node reaches the same digest.
  auto start = std::chrono::steady_clock::now();
  REQUIRE(eventually([&] {
    auto d0 = digest_of(*nodes[0], doc);
    for (int i = 1; i < n; ++i)
      if (digest_of(*nodes[i], doc) != d0) return false;
    return d0.size() > 1;
  }, std::chrono::seconds(60)));
  auto converge_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start).count();
  std::cout << "five-node partition test: converged " << converge_ms << " ms after the last heal, " << written
            << " writes" << std::endl;
  // Every acknowledged write is on every node, with its value; the counter
  // counted each exactly once.
  for (auto& nd : nodes) {
    auto state = nd->read(doc);
    REQUIRE(state);
    REQUIRE(state->has_value());
    const auto& j = **state;
    for (auto& [key, value] : acked) {
      INFO("key " << key);
      REQUIRE(j.contains(key.substr(1)));
      CHECK(j.at(key.substr(1)) == value);
    }
    CHECK(j.at("total") == written);
    CHECK(j.size() == acked.size() + 1);  // nothing that was never written
  }
  std::uint64_t reconnects = 0;
  for (auto& p : proxies) reconnects += p->accepted();
  CHECK(reconnects > edges.size());  // the cuts really cut
}

TEST_CASE("a peer that stops reading is detached at its bound without slowing the writer or others", "[faults]") {
  member a, slow, other;
  auto cfg_a = a.config({&slow, &other}, true);
  // Small bounds so that a few megabytes make the slow peer lag.
  cfg_a.net.send_queue_limit = 256 * 1024;
  cfg_a.subscriber_max_bytes = 512 * 1024;
  cfg_a.subscriber_max_changes = 200;
  auto na = node::open(cfg_a);
  auto ns = node::open(slow.config({&a}, false));
  auto no = node::open(other.config({&a}, false));
  REQUIRE(na);
  REQUIRE(ns);
  REQUIRE(no);
  net::tcp_proxy to_slow((*na)->port());
  (*ns)->add_peer(url(to_slow.port()));
  (*no)->add_peer(url(**na));
  const std::string doc = "firehose";
  REQUIRE((*na)->write(doc, {set("/start", 1)}));
  REQUIRE(eventually([&] {
    return digest_of(**ns, doc) == digest_of(**na, doc) && digest_of(**no, doc) == digest_of(**na, doc);
  }));
  // The slow peer stops reading: nothing flows from a to it any more.
  to_slow.pause(direction::to_client);
  const std::string blob(8 * 1024, 'x');
  const int writes = 1500;  // 12 MB: past the kernel buffers and the bounds
  for (int i = 0; i < writes; ++i) {
    auto r = (*na)->write(doc, {set("/k" + std::to_string(i % 100), blob + std::to_string(i))});
    REQUIRE(r);  // the writer never waits for the slow peer
  }
  // The other peer has everything while the slow one is still stuck.
  REQUIRE(eventually([&] { return digest_of(**no, doc) == digest_of(**na, doc); }, std::chrono::seconds(60)));
  CHECK(digest_of(**ns, doc) != digest_of(**na, doc));
  auto st = (*na)->status();
  REQUIRE(st);
  CHECK(st->lag_events >= 1);  // detached from the live stream at its bound
  // It reads again and catches up.
  to_slow.resume(direction::to_client);
  bool ok = eventually([&] { return digest_of(**ns, doc) == digest_of(**na, doc); }, std::chrono::seconds(60));
  if (!ok) {  // what each side believes, for the failure report
    for (auto* nn : {&*na, &*ns}) {
      auto st2 = (*nn)->status();
      if (!st2 || st2->documents.empty()) continue;
      std::cout << "node " << (*nn)->id().substr(0, 8) << " changes=" << st2->documents[0].changes
                << " pending=" << st2->documents[0].pending << " lag_events=" << st2->lag_events << "\n";
      for (auto& p : st2->peers)
        std::cout << "  peer " << p.peer_id.substr(0, 8) << " " << p.state << " sent=" << p.changes_sent
                  << " received=" << p.changes_received << "\n";
    }
    std::cout << "proxy forwarded to the slow peer: " << to_slow.bytes(direction::to_client) << " bytes" << std::endl;
  }
  REQUIRE(ok);
  auto r = (*ns)->read(doc, "/k99");
  REQUIRE(r);
  REQUIRE(r->has_value());
  CHECK(**r == blob + std::to_string(writes - 1));
}
