// The sync protocol core between two nodes, each with a real LMDB store and
// documents; frames travel through an in-memory queue.
#include <catch2/catch.hpp>

#include <deque>
#include <set>
#include <filesystem>

#include "crdt/document.hpp"
#include "persistence/store.hpp"
#include "protocol/binary.hpp"
#include "protocol/peer_sync.hpp"

using namespace starling;
using namespace starling::protocol;
using crdt::mutation;
using nlohmann::json;

namespace {

crypto::keypair key(std::uint8_t n) {
  std::array<std::uint8_t, 32> seed{};
  seed[0] = n;
  return crypto::keypair_from_seed(seed);
}

struct test_node : sync_source {
  std::string dir;
  std::unique_ptr<persistence::store> st;
  std::map<std::string, crdt::document> docs;
  crypto::keypair me;
  bool peer_reads = true, peer_writes = true;
  std::set<std::string> subscribed;

  explicit test_node(std::uint8_t n) : me(key(n)) {
    char tmpl[] = "/tmp/starling-sync-XXXXXX";
    dir = ::mkdtemp(tmpl);
    auto opened = persistence::store::open(dir);
    REQUIRE(opened);
    st = std::move(opened.value());
  }
  ~test_node() override {
    st.reset();
    std::filesystem::remove_all(dir);
  }
  crdt::document& doc(const std::string& name) { return docs.try_emplace(name, name).first->second; }
  void commit(const std::string& name, const std::vector<crdt::change>& cs) {
    persistence::write_batch b;
    for (auto& c : cs) b.add_change(name, c);
    REQUIRE(st->commit(std::move(b)));
  }
  bytes write(const std::string& name, std::vector<mutation> m, std::uint64_t t) {
    auto c = doc(name).make_change(m, me, t);
    REQUIRE(c);
    commit(name, {*c});
    return crdt::encode(*c);
  }
  std::vector<bytes> apply(const std::string& name, std::vector<crdt::change> cs, std::size_t& refused) {
    auto& d = doc(name);
    auto rep = d.apply_batch(std::move(cs));
    std::vector<crdt::change> applied;
    for (auto& h : rep.applied) applied.push_back(*crdt::decode(*d.encoding(h)));
    for (auto& o : rep.outcomes) refused += o.status == crdt::apply_status::refused;
    commit(name, applied);
    std::vector<bytes> out;
    for (auto& c : applied) out.push_back(crdt::encode(c));
    return out;
  }

  bool peer_may_read(const std::string&) const override { return peer_reads; }
  bool peer_may_write(const std::string&) const override { return peer_writes; }
  frontier our_frontier(const std::string& name) override { return doc(name).current_frontier(); }
  struct cursor : delta_cursor {
    persistence::store* st;
    std::string name;
    frontier theirs;
    std::optional<persistence::continuation> next_at;
    bool first = true;
    page next(std::size_t max_bytes) override {
      auto p = first ? st->changes_since(name, theirs, max_bytes) : st->changes_since(name, *next_at, max_bytes);
      first = false;
      REQUIRE(p);
      next_at = p->next;
      return page{p->changes, p->next.has_value(), p->behind_horizon};
    }
  };
  std::unique_ptr<delta_cursor> open_delta(const std::string& name, const frontier& theirs) override {
    auto c = std::make_unique<cursor>();
    c->st = st.get();
    c->name = name;
    c->theirs = theirs;
    return c;
  }
};

// Two sessions, one per node, joined by an in-memory link.
struct link {
  test_node &a, &b;
  peer_sync sa, sb;
  std::deque<std::pair<bool /*to b*/, sync_output::frame>> wire;
  std::optional<protocol_error> closed_a, closed_b;
  std::size_t refused = 0;

  link(test_node& x, test_node& y, peer_sync_config cfg = {}) : a(x), b(y), sa(x, cfg), sb(y, cfg) {}

  void handle(bool from_a, sync_output& out) {
    auto& node = from_a ? a : b;
    std::vector<std::string> subs = out.subscribe;
    for (auto& name : subs) node.subscribed.insert(name);
    for (auto& f : out.frames) wire.push_back({from_a, std::move(f)});
    if (out.close) (from_a ? closed_a : closed_b) = out.close;
    for (auto& [name, cs] : out.apply) node.apply(name, std::move(cs), refused);
    out = {};
    for (auto& name : subs) {  // the fan-out confirms at once here
      sync_output more;
      (from_a ? sa : sb).on_subscribed(name, more);
      handle(from_a, more);
    }
  }
  void start() {
    sync_output oa, ob;
    std::vector<std::string> da, db;
    for (auto& [n, d] : a.docs) da.push_back(n);
    for (auto& [n, d] : b.docs) db.push_back(n);
    sa.start(da, oa);
    sb.start(db, ob);
    handle(true, oa);
    handle(false, ob);
  }
  // Delivers the oldest frame on the wire to its side.
  void deliver_one() {
    auto [to_b, f] = std::move(wire.front());
    wire.pop_front();
    auto& s = to_b ? sb : sa;
    sync_output o;
    if (f.binary) s.on_binary(f.data, o);
    else s.on_text(f.data, o);
    handle(!to_b, o);
  }
  // Delivers the frames queued now, without pumping deltas.
  void deliver_queued() {
    for (std::size_t n = wire.size(); n > 0; --n) deliver_one();
  }
  // Delivers frames and pumps deltas until nothing moves.
  void run(std::size_t pump_bytes = 1 << 20) {
    for (int guard = 0; guard < 100000; ++guard) {
      sync_output oa, ob;
      sa.pump(pump_bytes, oa);
      sb.pump(pump_bytes, ob);
      handle(true, oa);
      handle(false, ob);
      if (wire.empty()) return;
      deliver_one();
    }
    FAIL("link did not settle");
  }
  // A local write on one side, published to its session like a fan-out.
  void write(bool on_a, const std::string& doc, std::vector<mutation> m, std::uint64_t t) {
    auto& node = on_a ? a : b;
    auto enc = node.write(doc, std::move(m), t);
    if (!node.subscribed.count(doc)) return;
    sync_output o;
    (on_a ? sa : sb).on_live(doc, {enc}, o);
    handle(on_a, o);
  }
};

mutation set(std::string p, json v) { return {mutation::kind::set, std::move(p), std::move(v)}; }

}  // namespace

TEST_CASE("two nodes exchange exactly what each lacks, then stream live", "[peer_sync]") {
  test_node a(1), b(2);
  for (int i = 0; i < 50; ++i) a.write("shared", {set("/a" + std::to_string(i % 7), i)}, 1000 + i);
  for (int i = 0; i < 30; ++i) b.write("shared", {set("/b" + std::to_string(i % 5), i)}, 2000 + i);
  a.write("only-a", {set("/x", 1)}, 3000);
  link l(a, b);
  l.start();
  l.run();
  CHECK_FALSE(l.closed_a);
  CHECK_FALSE(l.closed_b);
  CHECK(a.doc("shared").digest() == b.doc("shared").digest());
  CHECK(a.doc("only-a").digest() == b.doc("only-a").digest());
  // Delta only: each side sent exactly the changes the other lacked.
  CHECK(l.sa.counters().changes_sent == 51);
  CHECK(l.sb.counters().changes_sent == 30);
  CHECK(l.sa.live("shared"));
  CHECK(l.sb.live("shared"));
  // Live: a write on either side reaches the other.
  l.write(true, "shared", {set("/live", "from a")}, 9000);
  l.write(false, "shared", {set("/live2", "from b")}, 9001);
  l.run();
  CHECK(a.doc("shared").digest() == b.doc("shared").digest());
  CHECK(b.doc("shared").read("/live") == json("from a"));
}

TEST_CASE("live changes written during catch-up are held back, then flushed in order", "[peer_sync]") {
  test_node a(1), b(2);
  for (int i = 0; i < 200; ++i) a.write("d", {set("/k" + std::to_string(i % 10), std::string(200, 'x'))}, 1000 + i);
  link l(a, b);
  l.start();
  l.deliver_queued();  // a announces d; b, which lacks it, announces it back
  l.deliver_queued();  // b's frontier: a now owes b a delta
  // Deliver only part of the delta (small pump budget), write meanwhile.
  for (int step = 0; step < 5; ++step) {
    sync_output oa;
    l.sa.pump(4096, oa);
    l.handle(true, oa);
  }
  CHECK(l.sa.delta_pending());
  CHECK_FALSE(l.sa.live("d"));
  REQUIRE(a.subscribed.count("d"));
  l.write(true, "d", {set("/during", 1)}, 5000);
  l.run(4096);
  CHECK(b.doc("d").read("/during") == json(1));
  CHECK(a.doc("d").digest() == b.doc("d").digest());
  CHECK(b.doc("d").pending_count() == 0);
}

TEST_CASE("a read-only peer gets changes but may not write", "[peer_sync]") {
  test_node a(1), b(2);
  a.peer_writes = false;  // a lets b read only
  a.write("d", {set("/x", 1)}, 1000);
  b.write("d", {set("/y", 2)}, 1000);
  link l(a, b);
  l.start();
  l.run();
  // b asked (it lets a write); a served it. a announced d to b (b may
  // read it), so b, which lets a read, answered with its own change: a
  // dropped it and told b once, and the session stays up.
  CHECK(b.doc("d").read("/x") == json(1));
  CHECK(a.doc("d").read("/y") == std::nullopt);
  CHECK_FALSE(l.closed_a);
  CHECK(l.sa.counters().forbidden_batches >= 1);
  // b sends a change anyway: dropped again, without another error frame.
  auto c = *crdt::decode(b.write("d", {set("/z", 3)}, 2000));
  sync_output o;
  l.sa.on_binary(encode_batch("d", std::vector<crdt::change>{c}), o);
  CHECK_FALSE(o.close);
  CHECK(o.apply.empty());
  CHECK(o.frames.empty());
  CHECK(a.doc("d").read("/z") == std::nullopt);
  // A fresh session that announced d tells the first such batch, with the
  // code; a batch for a document the session never heard of closes it.
  peer_sync fresh(a);
  sync_output o1, o2, o3;
  fresh.start({"d"}, o1);
  REQUIRE(o1.frames.size() == 1);  // announced to the reader
  fresh.on_binary(encode_batch("d", std::vector<crdt::change>{c}), o2);
  CHECK_FALSE(o2.close);
  REQUIRE(o2.frames.size() == 1);
  CHECK(o2.frames[0].data.find("forbidden") != std::string::npos);
  auto other = *crdt::decode(b.write("other", {set("/o", 1)}, 3000));
  fresh.on_binary(encode_batch("other", std::vector<crdt::change>{other}), o3);
  REQUIRE(o3.close);
  CHECK(o3.close->code == errc::forbidden);
}

TEST_CASE("malformed frames, handshake frames after auth and refused changes close the session", "[peer_sync]") {
  test_node a(1);
  sync_output o;
  peer_sync s(a);
  s.on_text("{not json", o);
  REQUIRE(o.close);
  CHECK(o.close->code == errc::malformed);
  CHECK(s.closed());
  sync_output o2;
  s.on_text(R"({"type":"ready","doc":"d"})", o2);  // ignored once closed
  CHECK(o2.frames.empty());

  peer_sync s2(a);
  sync_output o3;
  s2.on_binary(std::string("\xF5\x01\x01garbage", 10), o3);
  REQUIRE(o3.close);
  peer_sync s3(a);
  sync_output o4;
  s3.on_refused("d", "bad_signature: signature does not match", o4);
  REQUIRE(o4.close);
  CHECK(o4.close->code == errc::bad_change);
}

TEST_CASE("lagged: resume by delta, disconnect only when it keeps lagging", "[peer_sync]") {
  test_node a(1), b(2);
  peer_sync_config cfg;
  cfg.max_lags = 2;
  a.write("d", {set("/x", 0)}, 1000);
  link l(a, b, cfg);
  l.start();
  l.run();
  REQUIRE(l.sa.live("d"));
  // Writes the fan-out never delivered (it detached a slow subscriber).
  for (int i = 1; i <= 20; ++i) a.write("d", {set("/x", i)}, 1000 + i);
  auto now = peer_sync::clock::now();
  sync_output o;
  l.sa.on_lagged("d", now, o);
  CHECK_FALSE(o.close);
  CHECK(o.subscribe == std::vector<std::string>{"d"});
  CHECK(l.sa.delta_pending());  // waits for the subscription
  l.handle(true, o);
  l.run();
  CHECK(b.doc("d").read("/x") == json(20));
  CHECK(a.doc("d").digest() == b.doc("d").digest());
  // A second stall: lags within it (more live batches skipped, the fan-out
  // detaching too) are one episode, however many.
  sync_output o2;
  CHECK(l.sa.on_lagged("d", now, o2));
  for (int i = 0; i < 5; ++i) {
    sync_output again;
    CHECK_FALSE(l.sa.on_lagged("d", now, again));
    CHECK_FALSE(again.close);
  }
  CHECK_FALSE(o2.close);
  l.handle(true, o2);
  l.run();
  REQUIRE(l.sa.live("d"));  // the episode ends when it is live again
  CHECK(l.sa.counters().lag_episodes == 2);
  // A third episode within the window is one too many.
  sync_output o3;
  l.sa.on_lagged("d", now, o3);
  REQUIRE(o3.close);
  CHECK(o3.close->code == errc::lagged);
}

TEST_CASE("a document announced in reply before start is not announced again", "[peer_sync]") {
  test_node a(1), b(2);
  a.write("d", {set("/x", 1)}, 1000);
  b.write("d", {set("/y", 1)}, 1000);
  peer_sync sa(a), sb(b);
  // a's frontier reaches b before b's own start() ran.
  sync_output oa, ob;
  sa.start({"d"}, oa);
  REQUIRE(oa.frames.size() == 1);
  sb.on_text(oa.frames[0].data, ob);  // b serves and announces d in reply
  std::size_t frontiers = 0;
  for (auto& f : ob.frames) frontiers += !f.binary && f.data.find("\"frontier\"") != std::string::npos;
  CHECK(frontiers == 1);
  sync_output ob2;
  sb.start({"d"}, ob2);  // the listing arrives: d is announced already
  CHECK(ob2.frames.empty());
}

TEST_CASE("resync: our frontier goes out again, once until the peer's ready, bounded per window", "[peer_sync]") {
  test_node a(1), b(2);
  a.write("d", {set("/x", 1)}, 1000);
  b.write("d", {set("/y", 2)}, 1000);
  peer_sync_config cfg;
  cfg.max_resyncs = 2;
  link l(a, b, cfg);
  l.start();
  l.run();
  REQUIRE(l.sa.live("d"));
  auto now = peer_sync::clock::now();
  sync_output o1, o2;
  CHECK(l.sa.resync("d", now, o1));
  REQUIRE(o1.frames.size() == 1);
  CHECK(o1.frames[0].data.find("frontier") != std::string::npos);
  CHECK_FALSE(l.sa.resync("d", now, o2));  // one is under way until the peer's ready
  CHECK(o2.frames.empty());
  l.handle(true, o1);
  l.run();  // b serves the delta again, then ready
  sync_output o3, o4;
  CHECK(l.sa.resync("d", now, o3));
  l.handle(true, o3);
  l.run();
  CHECK_FALSE(l.sa.resync("d", now, o4));  // max_resyncs within lag_window
  CHECK(l.sa.counters().resyncs == 2);
  CHECK(a.doc("d").digest() == b.doc("d").digest());
  // An owner restart: subscribe again and resume by delta (not a lag), and
  // ask again once the window allows it.
  sync_output o5;
  l.sa.on_owner_restart("d", now + cfg.lag_window + std::chrono::milliseconds(1), o5);
  CHECK(o5.subscribe == std::vector<std::string>{"d"});
  REQUIRE(o5.frames.size() == 1);
  CHECK(o5.frames[0].data.find("frontier") != std::string::npos);
  CHECK(l.sa.counters().lag_episodes == 0);
  l.handle(true, o5);
  l.run();
  CHECK(l.sa.live("d"));
  CHECK_FALSE(l.closed_a);
  CHECK_FALSE(l.closed_b);
}
