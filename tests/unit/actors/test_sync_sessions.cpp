// Peer sessions against a real node over real loopback sockets, driven by
// the scripted test peer (test_peer.hpp): what a reader is told, what the
// session asks for again after refusing changes, which ids subscribers get,
// and a session whose document owner cannot be found.
#include <catch2/catch.hpp>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/typed_event_based_actor.hpp>

#include <chrono>
#include <memory>
#include <mutex>
#include <set>
#include <string>

#include "actors/embedded.hpp"
#include "actors/errors.hpp"
#include "actors/node_actor.hpp"
#include "actors/peer_link.hpp"
#include "actors/trust_book.hpp"
#include "auth/identity.hpp"
#include "net/listener.hpp"
#include "support.hpp"
#include "test_peer.hpp"

using namespace starling;
using starling::test::eventually;
using starling::test::message;
using starling::test::temp_dir;
using starling::test::test_peer;
using crdt::mutation;
using nlohmann::json;
using protocol::errc;
using std::chrono::milliseconds;

namespace {

mutation set(std::string p, json v) { return {mutation::kind::set, std::move(p), std::move(v)}; }

auth::trust_entry entry(const auth::identity& id, auth::permissions perm, std::vector<std::string> patterns = {}) {
  auth::trust_entry e;
  e.key = id.key();
  e.perm = perm;
  e.doc_patterns = std::move(patterns);
  return e;
}

auth::permissions read_write() { return auth::permissions(auth::permission::read) | auth::permission::write; }

// A listening node with nosync durability in its own temp dir.
struct listening_node {
  temp_dir dir;
  actors::node_config cfg;
  std::unique_ptr<node> n;
  public_key key;

  listening_node() {
    cfg.data_dir = dir.path;
    cfg.store.durability = persistence::durability_mode::nosync;
    cfg.listen = true;
  }
  void open() {
    auto o = node::open(cfg);
    if (!o) FAIL("node::open: " << o.error());
    n = std::move(*o);
    auto k = auth::parse_node_id(n->id());
    REQUIRE(k);
    key = *k;
  }
  std::unique_ptr<test_peer> session(const auth::identity& id) const {
    test::test_peer_options o;
    o.trust = key;
    auto p = std::make_unique<test_peer>(id, o);
    std::string err;
    if (!p->connect(test::ws_url(n->port()), &err)) FAIL("connect: " << err);
    auto hs = p->handshake();
    REQUIRE(hs.ok());
    return p;
  }
};

std::optional<protocol::frontier_frame> as_frontier(const message& m) {
  if (m.k != message::kind::text) return std::nullopt;
  auto f = protocol::decode_control(m.data);
  if (!f) return std::nullopt;
  if (auto* fr = std::get_if<protocol::frontier_frame>(&*f)) return *fr;
  return std::nullopt;
}

// Reads frames until a frontier for doc arrives (or the wait ends); every
// frontier seen on the way goes into `seen`.
std::optional<protocol::frontier_frame> await_frontier(test_peer& p, const std::string& doc, milliseconds wait,
                                                       std::set<std::string>* seen = nullptr) {
  auto until = std::chrono::steady_clock::now() + wait;
  while (std::chrono::steady_clock::now() < until) {
    auto left = std::chrono::duration_cast<milliseconds>(until - std::chrono::steady_clock::now());
    auto m = p.recv(left);
    if (!m || m->k == message::kind::closed) return std::nullopt;
    if (auto fr = as_frontier(*m)) {
      if (seen) seen->insert(fr->doc);
      if (fr->doc == doc) return fr;
    }
  }
  return std::nullopt;
}

}  // namespace

TEST_CASE("a read-only peer is told of every document it may read, and of nothing else", "[sync][defect5]") {
  listening_node s;
  auto reader = auth::identity::generate();
  s.cfg.trusted.push_back(entry(reader, auth::permission::read, {"pub-*"}));
  s.open();
  REQUIRE(s.n->write("pub-1", {set("/a", 1)}));
  REQUIRE(s.n->write("pub-2", {set("/b", 2)}));
  REQUIRE(s.n->write("secret", {set("/c", 3)}));
  auto p = s.session(reader);
  // At session start: pub-1 and pub-2 are announced (never asked for, the
  // reader learns of them only this way); secret is not.
  std::set<std::string> announced;
  REQUIRE(await_frontier(*p, "pub-2", milliseconds(10'000), &announced));
  // A document made later is announced too, if readable.
  REQUIRE(s.n->write("secret-2", {set("/d", 4)}));
  REQUIRE(s.n->write("pub-3", {set("/e", 5)}));
  REQUIRE(await_frontier(*p, "pub-3", milliseconds(10'000), &announced));
  // Everything announced before pub-3's frontier (and secret-2 was made
  // first) has arrived by now: frames are ordered.
  CHECK(announced == std::set<std::string>{"pub-1", "pub-2", "pub-3"});
  // Each readable document can be fetched in full.
  for (auto* doc : {"pub-1", "pub-2", "pub-3"}) {
    auto r = p->fetch(doc);
    INFO(doc);
    REQUIRE(r.ready);
    CHECK(r.changes.size() == 1);
    for (auto& fr : r.frontiers) announced.insert(fr.doc);
  }
  CHECK(announced == std::set<std::string>{"pub-1", "pub-2", "pub-3"});
  // A change from the reader is refused with forbidden; the session stays
  // up (an honest reader that wrote locally answers our frontier with it).
  auto c = p->make_change("pub-1", {set("/by-reader", true)});
  REQUIRE(p->send_batch("pub-1", {c}));
  auto m = p->recv(milliseconds(10'000));
  REQUIRE(m);
  REQUIRE(m->k == message::kind::text);
  auto e = test::decode_error_frame(m->data);
  REQUIRE(e);
  CHECK(e->code == errc::forbidden);
  CHECK(e->doc == std::optional<std::string>("pub-1"));
  auto r = p->fetch("pub-2");  // still served on the same session
  CHECK(r.ready);
  CHECK(p->connected());
  auto after = s.n->read("pub-1", "/by-reader");
  REQUIRE(after);
  CHECK_FALSE(after->has_value());
}

TEST_CASE("a batch refused as chain_gap makes the session ask for the delta again", "[sync][defect7]") {
  listening_node s;
  auto writer = auth::identity::generate();
  s.cfg.trusted.push_back(entry(writer, read_write()));
  s.open();
  REQUIRE(s.n->write("doc", {set("/base", 0)}));
  auto p = s.session(writer);
  auto r = p->fetch("doc");
  REQUIRE(r.ready);
  p->replica("doc").apply_batch(r.changes);
  auto c1 = p->make_change("doc", {set("/one", 1)});
  auto c2 = p->make_change("doc", {set("/two", 2)});
  auto c3 = p->make_change("doc", {set("/three", 3)});
  // c2 is left out: c3 is refused as chain_gap, c1 applies.
  REQUIRE(p->send_batch("doc", {c1, c3}));
  // The node asks again by announcing its frontier: it holds our seq 1
  // (or 0, if c1's commit is still under way), not 3.
  auto fr = await_frontier(*p, "doc", milliseconds(10'000));
  REQUIRE(fr);
  auto it = fr->heads.find(writer.key());
  std::uint64_t have = it == fr->heads.end() ? 0 : it->second.seq;
  CHECK(have <= 1);
  std::vector<crdt::change> missing;
  for (auto* c : {&c1, &c2, &c3})
    if (c->seq > have) missing.push_back(*c);
  REQUIRE(p->send_batch("doc", missing));
  REQUIRE(p->send_ready("doc"));
  // On the same session, without a reconnect.
  REQUIRE(eventually([&] {
    auto v = s.n->read("doc", "/three");
    return v && v->has_value() && **v == 3;
  }));
  auto two = s.n->read("doc", "/two");
  REQUIRE(two);
  REQUIRE(two->has_value());
  CHECK(**two == 2);
  CHECK(p->connected());
}

TEST_CASE("peer sessions and local subscriptions take their ids from one sequence of the node", "[sync][defect3]") {
  listening_node s;
  auto peer = auth::identity::generate();
  s.cfg.trusted.push_back(entry(peer, read_write()));
  s.open();
  REQUIRE(s.n->write("doc", {set("/x", 1)}));
  auto first = s.n->subscribe("doc", [](const std::string&, const std::vector<bytes>&) {});
  REQUIRE(first);
  auto p = s.session(peer);  // its session takes the next id
  auto second = s.n->subscribe("doc", [](const std::string&, const std::vector<bytes>&) {});
  REQUIRE(second);
  // No range of its own per kind of subscriber (ranges that can overlap):
  // the session's id lies between the two subscriptions'.
  CHECK(*second == *first + 2);
  s.n->unsubscribe(*first);
  s.n->unsubscribe(*second);
}

namespace {

using namespace actors;

// Stands in for the node towards one link: forwards everything to the real
// node, but refuses the first `failures` document lookups (a node that
// cannot produce an owner for a while: loading, restarting, overloaded).
struct flaky_state {
  static inline const char* name = "flaky_resolver";
  int failures = 0;
};

doc_resolver::behavior_type flaky_resolver(doc_resolver::stateful_pointer<flaky_state> self, node_actor node,
                                           int failures) {
  self->state.failures = failures;
  auto real = caf::actor_cast<doc_resolver>(node);
  return {
      [=](doc_atom a, const std::string& doc) -> caf::result<doc_owner_actor> {
        if (self->state.failures != 0) {
          if (self->state.failures > 0) --self->state.failures;
          return make_error(actors::errc::storage, "test: no owner for " + doc + " now");
        }
        return self->delegate(real, a, doc);
      },
      [=](docs_atom a) -> caf::result<std::vector<std::string>> { return self->delegate(real, a); },
      [=](join_atom a, const hash256& t, const public_key& k) -> caf::result<bool> {
        return self->delegate(real, a, t, k);
      },
  };
}

// A real node in a test-owned actor system, plus a second sync listener
// whose links resolve owners through flaky_resolver.
struct flaky_node {
  temp_dir dir;
  auth::identity peer = auth::identity::generate();
  caf::actor_system_config sys_cfg;
  std::unique_ptr<caf::actor_system> sys;
  node_config cfg;
  node_info info;
  std::shared_ptr<link_context> ctx;
  std::unique_ptr<net::runtime> rt;
  std::unique_ptr<net::listener> listener;
  doc_resolver resolver;
  // The links this test spawned (the node does not know them): stopped at the end.
  std::shared_ptr<std::mutex> links_mu = std::make_shared<std::mutex>();
  std::shared_ptr<std::vector<link_actor>> links = std::make_shared<std::vector<link_actor>>();
  public_key key;

  explicit flaky_node(int failures) {
    cfg.data_dir = dir.path;
    cfg.store.durability = persistence::durability_mode::nosync;
    cfg.trusted.push_back(entry(peer, read_write()));
    cfg.owner_retries = 3;
    cfg.owner_retry_delay = milliseconds(20);
    sys = std::make_unique<caf::actor_system>(sys_cfg);
    auto spawned = spawn_node(*sys, cfg);
    REQUIRE(spawned);
    info = *spawned;
    auto id = auth::identity::load(dir.path + "/node.key");
    REQUIRE(id);
    key = id->key();
    ctx = std::make_shared<link_context>();
    ctx->store = info.store;
    ctx->id = std::make_shared<auth::identity>(std::move(*id));
    persistence::write_batch seed;
    auto trust = trust_book::load(*info.store, cfg.trusted, seed, cfg.clock.wall_ms);
    REQUIRE(trust);
    ctx->trust = *trust;
    ctx->cfg = cfg;
    ctx->ids = info.ids;
    resolver = sys->spawn(flaky_resolver, info.handle, failures);
    net::settings ns;
    rt = std::make_unique<net::runtime>(ns);
    rt->start();
    caf::actor_system* sp = sys.get();
    auto c = ctx;
    auto r = resolver;
    auto mu = links_mu;
    auto ls = links;
    std::string err;
    listener = net::listen(
        *rt, ns,
        [sp, c, r, mu, ls](const std::shared_ptr<net::ws_connection>&) {
          auto link = spawn_link(*sp, c, r, std::nullopt);
          std::lock_guard<std::mutex> lock(*mu);
          ls->push_back(link);
          return make_bridge(link);
        },
        nullptr, &err);
    REQUIRE(listener);
  }
  ~flaky_node() {
    listener->stop();
    rt->stop();
    {
      std::lock_guard<std::mutex> lock(*links_mu);
      for (auto& l : *links) caf::anon_send_exit(l, caf::exit_reason::user_shutdown);
    }
    caf::anon_send_exit(resolver, caf::exit_reason::user_shutdown);
    caf::anon_send(info.handle, stop_atom::value);
    sys->await_all_actors_done();
  }
  std::unique_ptr<test_peer> session() {
    test::test_peer_options o;
    o.trust = key;
    auto p = std::make_unique<test_peer>(peer, o);
    std::string e;
    if (!p->connect(test::ws_url(listener->local_port()), &e)) FAIL("connect: " << e);
    REQUIRE(p->handshake().ok());
    return p;
  }
  std::uint64_t stored_seq(const std::string& doc) {
    auto f = info.store->load_frontier(doc);
    if (!f) return 0;
    auto it = f->find(peer.key());
    return it == f->end() ? 0 : it->second.seq;
  }
};

}  // namespace

TEST_CASE("a failed owner lookup is retried: the document does not stop applying", "[sync][defect2]") {
  flaky_node f(2);  // two failures, then the owner is found (3 retries allowed)
  auto p = f.session();
  auto c1 = p->make_change("doc", {set("/one", 1)});
  REQUIRE(p->send_batch("doc", {c1}));
  REQUIRE(eventually([&] { return f.stored_seq("doc") == 1; }, std::chrono::seconds(10)));
  auto c2 = p->make_change("doc", {set("/two", 2)});
  REQUIRE(p->send_batch("doc", {c2}));  // the document keeps applying
  REQUIRE(eventually([&] { return f.stored_seq("doc") == 2; }, std::chrono::seconds(10)));
  CHECK(p->connected());
  CHECK(f.ctx->metrics->owner_unreachable.load() == 0);
}

TEST_CASE("an owner that cannot be found ends the session with internal and is counted", "[sync][defect2]") {
  flaky_node f(-1);  // never found
  auto p = f.session();
  auto c1 = p->make_change("doc", {set("/one", 1)});
  REQUIRE(p->send_batch("doc", {c1}));
  auto end = p->until_closed(milliseconds(10'000));
  REQUIRE(end.close);
  REQUIRE(end.error);
  CHECK(end.error->code == protocol::errc::internal);
  CHECK(end.close->code == protocol::close_code(protocol::errc::internal));
  CHECK(f.ctx->metrics->owner_unreachable.load() == 1);
  CHECK(f.stored_seq("doc") == 0);
}
