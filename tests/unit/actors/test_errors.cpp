// Every error a peer can cause, over real loopback sockets against a real
// node: the scripted test peer (test_peer.hpp) misbehaves on purpose; the
// node must answer with the right `error` frame and close code, store
// nothing from the bad input, count the error, and keep serving honest peers.
#include <catch2/catch.hpp>

#include <chrono>
#include <memory>
#include <string>
#include <thread>

#include "actors/embedded.hpp"
#include "auth/identity.hpp"
#include "auth/token.hpp"
#include "support.hpp"
#include "test_peer.hpp"

using namespace starling;
using starling::test::ending;
using starling::test::eventually;
using starling::test::handshake_outcome;
using starling::test::temp_dir;
using starling::test::test_peer;
using crdt::mutation;
using nlohmann::json;
using protocol::errc;
using std::chrono::milliseconds;

namespace {

mutation set(std::string p, json v) { return {mutation::kind::set, std::move(p), std::move(v)}; }

auth::permissions read_write() { return auth::permissions(auth::permission::read) | auth::permission::write; }

auth::trust_entry entry(const auth::identity& id, auth::permissions perm) {
  auth::trust_entry e;
  e.key = id.key();
  e.perm = perm;
  return e;
}

// A listening node with nosync durability in its own temp dir, trusting an
// honest identity (read, write) plus whatever the test adds.
struct served_node {
  temp_dir dir;
  auth::identity honest = auth::identity::generate();
  actors::node_config cfg;
  std::unique_ptr<node> n;
  public_key key;

  served_node() {
    cfg.data_dir = dir.path;
    cfg.store.durability = persistence::durability_mode::nosync;
    cfg.listen = true;
    cfg.trusted.push_back(entry(honest, read_write()));
  }
  void trust(const auth::identity& id, auth::permissions perm) { cfg.trusted.push_back(entry(id, perm)); }
  void open() {
    auto o = node::open(cfg);
    if (!o) FAIL("node::open: " << o.error());
    n = std::move(*o);
    REQUIRE(n->port() != 0);
    auto k = auth::parse_node_id(n->id());
    REQUIRE(k);
    key = *k;
  }
  std::string url() const { return test::ws_url(n->port()); }
  test::test_peer_options peer_opts() const {
    test::test_peer_options o;
    o.trust = key;
    return o;
  }
  // A test peer with `id`, connected (WebSocket open) to this node.
  std::unique_ptr<test_peer> dial(const auth::identity& id) const {
    auto p = std::make_unique<test_peer>(id, peer_opts());
    std::string err;
    if (!p->connect(url(), &err)) FAIL("connect: " << err);
    return p;
  }
  // A test peer with `id` whose handshake succeeded: the sealed session is up.
  std::unique_ptr<test_peer> session(const auth::identity& id) const {
    auto p = dial(id);
    auto hs = p->handshake();
    INFO("handshake state " << protocol::to_string(hs.state) << (hs.error ? " error " + hs.error->reason : ""));
    REQUIRE(hs.ok());
    return p;
  }
};

// The node's verdict: the error frame (from the handshake or later) and the close.
ending verdict(test_peer& p, const handshake_outcome& hs) {
  ending e;
  if (!hs.closed) e = p.until_closed();
  else e.close = hs.closed;
  if (!e.error) e.error = hs.error;
  return e;
}

void check_verdict(const ending& e, errc code) {
  INFO("expected " << protocol::to_string(code));
  REQUIRE(e.close);
  INFO("close " << e.close->code << " reason '" << e.close->reason << "' error '" << e.close->error << "'");
  REQUIRE(e.error);
  CHECK(e.error->code == code);
  CHECK(e.close->code == protocol::close_code(code));
  CHECK_FALSE(e.close->initiated_locally);
}

std::uint64_t counted(node& n, const std::string& name) {
  auto st = n.status();
  if (!st) return 0;
  auto it = st->peer_errors.find(name);
  return it == st->peer_errors.end() ? 0 : it->second;
}

// The node counted a session it closed for `name`.
void check_counted(node& n, const std::string& name) {
  INFO("peer_errors[" << name << "]");
  CHECK(eventually([&] { return counted(n, name) >= 1; }, std::chrono::seconds(5)));
}

// Nothing of `author` in doc: not in any frontier, and `pointer` absent.
void check_nothing_from(node& n, const std::string& doc, const public_key& author, const std::string& pointer) {
  auto st = n.status();
  REQUIRE(st);
  for (auto& d : st->documents) {
    INFO("document " << d.name);
    CHECK(d.at.count(author) == 0);
  }
  auto r = n.read(doc, pointer);
  REQUIRE(r);
  CHECK_FALSE(r->has_value());
}

// After the bad peer is gone: a write made now reaches an honest peer, and
// the honest peer's own write reaches the node.
void check_still_serves(served_node& s, const std::string& doc) {
  REQUIRE(s.n->write(doc, {set("/after", 42)}));
  auto p = s.session(s.honest);
  auto r = p->fetch(doc);
  REQUIRE(r.ready);
  CHECK_FALSE(r.error);
  auto& replica = p->replica(doc);
  auto rep = replica.apply_batch(r.changes);
  CHECK(rep.applied.size() == r.changes.size());
  auto after = replica.read("/after");
  REQUIRE(after);
  CHECK(*after == 42);
  auto c = p->make_change(doc, {set("/honest", "yes")});
  REQUIRE(p->send_batch(doc, {c}));
  CHECK(eventually([&] {
    auto v = s.n->read(doc, "/honest");
    return v && v->has_value() && **v == "yes";
  }));
}

// A second, real node trusted by the first, dialing it, gets a write made
// after the bad peer was thrown out.
void check_real_node_syncs(served_node& s, const std::string& doc) {
  temp_dir dir2;
  auto id2 = auth::identity::generate();
  REQUIRE(id2.save(dir2.path + "/node.key"));
  auto t = s.n->trust(entry(id2, read_write()));
  REQUIRE(t);
  actors::node_config c2;
  c2.data_dir = dir2.path;
  c2.store.durability = persistence::durability_mode::nosync;
  auth::trust_entry first;
  first.key = s.key;
  first.perm = read_write();
  c2.trusted.push_back(first);
  auto n2 = node::open(c2);
  REQUIRE(n2);
  REQUIRE(s.n->write(doc, {set("/for_node2", "hello")}));
  (*n2)->add_peer(s.url());
  CHECK(eventually([&] {
    auto v = (*n2)->read(doc, "/for_node2");
    return v && v->has_value() && **v == "hello";
  }));
}

}  // namespace

// ------------------------------------------------------------------ handshake

// The common case: a node that trusts a misbehaving key with read and
// write, and that key's authenticated, sealed session.
struct trusted_session {
  served_node s;
  auth::identity evil = auth::identity::generate();
  std::unique_ptr<test_peer> p;
  explicit trusted_session(bool with_doc = false) {
    s.trust(evil, read_write());
    s.open();
    if (with_doc) REQUIRE(s.n->write("doc", {set("/before", 1)}));
    p = s.session(evil);
  }
};
// The same, with "doc" written on the node before the session starts.
struct trusted_session_with_doc : trusted_session {
  trusted_session_with_doc() : trusted_session(true) {}
};

TEST_CASE("errors: an untrusted key gets untrusted 4404", "[errors]") {
  served_node s;
  s.open();
  auto stranger = auth::identity::generate();
  auto p = s.dial(stranger);
  auto hs = p->handshake();
  CHECK_FALSE(hs.sealed);
  check_verdict(verdict(*p, hs), errc::untrusted);
  check_counted(*s.n, "untrusted");
  check_still_serves(s, "doc");
}

TEST_CASE("errors: a corrupted auth signature gets auth_failed 4401", "[errors]") {
  served_node s;
  auto evil = auth::identity::generate();
  s.trust(evil, read_write());
  s.open();
  auto p = s.dial(evil);
  auto hs = p->handshake(test_peer::corrupt_auth());
  CHECK_FALSE(hs.sealed);
  check_verdict(verdict(*p, hs), errc::auth_failed);
  check_counted(*s.n, "auth_failed");
  check_still_serves(s, "doc");
}

TEST_CASE("errors: an auth replayed from an earlier session gets auth_failed 4401", "[errors]") {
  served_node s;
  auto evil = auth::identity::generate();
  s.trust(evil, read_write());
  s.open();
  std::string captured;
  {
    auto p1 = s.session(evil);  // an honest first session
    auto a = p1->sent_control("auth");
    REQUIRE(a);
    captured = *a;
  }
  auto p2 = s.dial(evil);
  auto hs = p2->handshake(test_peer::replace_auth(captured));
  CHECK_FALSE(hs.sealed);
  REQUIRE(p2->sent_control("auth") == captured);
  check_verdict(verdict(*p2, hs), errc::auth_failed);
  check_counted(*s.n, "auth_failed");
  check_still_serves(s, "doc");
}

TEST_CASE("errors: no auth within the auth timeout gets timeout 4408", "[errors]") {
  served_node s;
  auto slow = auth::identity::generate();
  s.trust(slow, read_write());
  s.cfg.auth_timeout = milliseconds(300);
  s.open();
  auto p = s.dial(slow);
  auto t0 = std::chrono::steady_clock::now();
  auto hs = p->handshake(test_peer::drop_auth());
  auto e = verdict(*p, hs);
  auto waited = std::chrono::steady_clock::now() - t0;
  CHECK_FALSE(hs.sealed);
  CHECK_FALSE(p->sent_control("auth"));
  check_verdict(e, errc::timeout);
  CHECK(waited >= milliseconds(200));
  CHECK(waited < std::chrono::seconds(5));
  check_counted(*s.n, "timeout");
  check_still_serves(s, "doc");
}

TEST_CASE("errors: a hello offering only version 99 gets unsupported_version 4010", "[errors]") {
  served_node s;
  auto future = auth::identity::generate();
  s.trust(future, read_write());
  s.open();
  auto o = s.peer_opts();
  o.versions = {99};
  test_peer p(future, o);
  REQUIRE(p.connect(s.url()));
  auto hs = p.handshake();
  CHECK_FALSE(hs.sealed);
  REQUIRE(hs.local_failure);  // our side refuses too (kept to itself)
  CHECK(hs.local_failure->code == errc::unsupported_version);
  check_verdict(verdict(p, hs), errc::unsupported_version);
  check_counted(*s.n, "unsupported_version");
  check_still_serves(s, "doc");
}

TEST_CASE("errors: a control frame that is not JSON before auth gets malformed 4000", "[errors]") {
  served_node s;
  s.open();
  auto p = s.dial(auth::identity::generate());
  REQUIRE(p->send_text("this is {not json"));
  auto e = p->until_closed();
  check_verdict(e, errc::malformed);
  check_counted(*s.n, "malformed");
  check_still_serves(s, "doc");
}

// ------------------------------------------------------------ sealed session

TEST_CASE_METHOD(trusted_session_with_doc, "errors: a sealed control frame that is not JSON gets malformed 4000", "[errors]") {
  REQUIRE(p->send_sealed_text("{\"type\":\"frontier\",,,"));
  auto e = p->until_closed();
  check_verdict(e, errc::malformed);
  // The error frame came sealed: the session was up.
  bool sealed_error = false;
  for (auto& m : e.seen)
    if (m.k == test::message::kind::text && test::decode_error_frame(m.data)) sealed_error = true;
  CHECK(sealed_error);
  check_counted(*s.n, "malformed");
  check_still_serves(s, "doc");
}

TEST_CASE_METHOD(trusted_session, "errors: a sealed binary frame with a bad magic byte gets malformed 4000", "[errors]") {
  REQUIRE(p->send_sealed_binary(std::string("\x01\x02\x03\x04", 4)));
  check_verdict(p->until_closed(), errc::malformed);
  check_counted(*s.n, "malformed");
  check_still_serves(s, "doc");
}

TEST_CASE_METHOD(trusted_session, "errors: a sealed binary frame of an unknown kind gets unknown_type 4002", "[errors]") {
  REQUIRE(p->send_sealed_binary(std::string("\xF5\x09\x01\x00", 4)));
  check_verdict(p->until_closed(), errc::unknown_type);
  check_counted(*s.n, "unknown_type");
  check_still_serves(s, "doc");
}

TEST_CASE_METHOD(trusted_session, "errors: a batch whose change does not decode gets bad_change 4201", "[errors]") {
  auto good = p->make_change("doc", {set("/bad", 1)});
  auto enc = crdt::encode(good);
  enc[enc.size() / 2] ^= 0x5a;  // the bytes no longer decode canonically, or the hash changes
  enc.push_back('\x00');        // trailing bytes: never a canonical change
  REQUIRE(p->send_sealed_binary(protocol::encode_batch("doc", std::vector<bytes>{enc})));
  check_verdict(p->until_closed(), errc::bad_change);
  check_counted(*s.n, "bad_change");
  check_nothing_from(*s.n, "doc", evil.key(), "/bad");
  check_still_serves(s, "doc");
}

TEST_CASE_METHOD(trusted_session, "errors: a sealed frame that fails to open closes with 4000", "[errors]") {
  // Raw bytes on the sealed stream: they do not authenticate.
  REQUIRE(p->send_binary(std::string(64, '\x42')));
  auto e = p->until_closed();
  REQUIRE(e.close);
  CHECK(e.close->code == protocol::close_code(errc::malformed));
  // The node's own direction of the channel still works: the error is sealed.
  REQUIRE(e.error);
  CHECK(e.error->code == errc::malformed);
  check_counted(*s.n, "malformed");
  check_still_serves(s, "doc");
}

TEST_CASE("errors: an oversized frame is closed by the net layer with 1009", "[errors]") {
  served_node s;
  auto evil = auth::identity::generate();
  s.trust(evil, read_write());
  s.cfg.net.frame_limit = 16 * 1024;
  s.open();
  auto p = s.session(evil);
  auto big = p->make_change("doc", {set("/big", std::string(32 * 1024, 'x'))});
  REQUIRE(p->send_batch("doc", {big}));
  auto e = p->until_closed();
  REQUIRE(e.close);
  INFO("close reason '" << e.close->reason << "' error '" << e.close->error << "'");
  // The WebSocket read fails before the link sees any frame: no error frame,
  // close 1009 (the net layer's code, not too_large's 4009).
  CHECK(e.close->code == net::close_code::too_big);
  CHECK_FALSE(e.error);
  check_counted(*s.n, "too_large");
  check_nothing_from(*s.n, "doc", evil.key(), "/big");
  check_still_serves(s, "doc");
}

// ----------------------------------------------------------------- changes

TEST_CASE_METHOD(trusted_session_with_doc, "errors: a change with a bad signature gets bad_change 4201", "[errors]") {
  auto c = p->make_change("doc", {set("/bad", "forged")});
  c.sig.v[3] ^= 0x10;
  REQUIRE(p->send_batch("doc", {c}));
  auto e = p->until_closed();
  check_verdict(e, errc::bad_change);
  REQUIRE(e.error);
  CHECK(e.error->reason.find("bad_signature") != std::string::npos);
  check_counted(*s.n, "bad_change");
  check_nothing_from(*s.n, "doc", evil.key(), "/bad");
  check_still_serves(s, "doc");
  check_real_node_syncs(s, "doc");
}

TEST_CASE_METHOD(trusted_session, "errors: a change whose prev is wrong gets bad_change 4201", "[errors]") {
  auto c1 = p->make_change("doc", {set("/ok", 1)});
  auto c2 = p->make_change("doc", {set("/bad", 2)});
  REQUIRE(c2.seq == 2);
  c2.prev.v[0] ^= 0xff;  // not the hash of seq 1
  c2 = test::resign(c2, p->keys());
  REQUIRE(p->send_batch("doc", {c1}));
  REQUIRE(p->send_batch("doc", {c2}));
  auto e = p->until_closed();
  check_verdict(e, errc::bad_change);
  REQUIRE(e.error);
  CHECK(e.error->reason.find("broken_chain") != std::string::npos);
  check_counted(*s.n, "bad_change");
  // seq 1 was valid and stays; the broken link is not stored.
  auto st = s.n->status();
  REQUIRE(st);
  REQUIRE(st->documents.size() == 1);
  REQUIRE(st->documents[0].at.count(evil.key()) == 1);
  CHECK(st->documents[0].at.at(evil.key()).seq == 1);
  auto bad = s.n->read("doc", "/bad");
  REQUIRE(bad);
  CHECK_FALSE(bad->has_value());
  check_still_serves(s, "doc");
}

TEST_CASE_METHOD(trusted_session, "errors: a seq gap inside one batch is refused chain_gap without closing", "[errors]") {
  auto c1 = p->make_change("doc", {set("/one", 1)});
  auto c2 = p->make_change("doc", {set("/two", 2)});
  auto c3 = p->make_change("doc", {set("/three", 3)});
  // seq 1 and 3 without 2: README says a sync peer sends such changes again,
  // so the node refuses seq 3 (chain_gap) but keeps the session.
  REQUIRE(p->send_batch("doc", {c1, c3}));
  REQUIRE(eventually([&] {
    auto v = s.n->read("doc", "/one");
    return v && v->has_value();
  }));
  auto three = s.n->read("doc", "/three");
  REQUIRE(three);
  CHECK_FALSE(three->has_value());
  auto m = p->recv(milliseconds(300));
  CHECK((!m || m->k != test::message::kind::closed));
  CHECK(p->connected());
  // Sent again, in order, they are accepted.
  REQUIRE(p->send_batch("doc", {c2, c3}));
  CHECK(eventually([&] {
    auto v = s.n->read("doc", "/three");
    return v && v->has_value() && **v == 3;
  }));
  check_still_serves(s, "doc");
}

TEST_CASE_METHOD(trusted_session, "errors: a change after a missing seq waits in pending and is not stored", "[errors]") {
  auto c1 = p->make_change("doc", {set("/one", 1)});
  auto c2 = p->make_change("doc", {set("/two", 2)});
  (void)c1;
  REQUIRE(p->send_batch("doc", {c2}));  // seq 2 alone: waits for seq 1
  REQUIRE(eventually([&] {
    auto st = s.n->status();
    return st && st->documents.size() == 1 && st->documents[0].pending == 1;
  }));
  check_nothing_from(*s.n, "doc", evil.key(), "/two");
  CHECK(p->connected());
  check_still_serves(s, "doc");
}

TEST_CASE("errors: a batch from a peer trusted with read only gets forbidden; the session stays", "[errors]") {
  served_node s;
  auto reader = auth::identity::generate();
  s.trust(reader, auth::permission::read);
  s.open();
  REQUIRE(s.n->write("doc", {set("/before", 1)}));
  auto p = s.session(reader);
  // It may read.
  auto r = p->fetch("doc");
  REQUIRE(r.ready);
  CHECK(r.changes.size() == 1);
  p->replica("doc").apply_batch(r.changes);
  auto c = p->make_change("doc", {set("/bad", "written by a reader")});
  REQUIRE(p->send_batch("doc", {c}));
  // Refused with the code, not closed: a reader that wrote locally answers
  // every frontier we announce with its changes.
  std::optional<protocol::error_frame> refused;
  while (!refused) {
    auto m = p->recv();
    REQUIRE(m);
    REQUIRE(m->k != test::message::kind::closed);
    if (m->k == test::message::kind::text) refused = test::decode_error_frame(m->data);
  }
  CHECK(refused->code == errc::forbidden);
  CHECK(refused->doc == std::optional<std::string>("doc"));
  CHECK(p->fetch("doc").ready);  // the session goes on
  check_nothing_from(*s.n, "doc", reader.key(), "/bad");
  check_still_serves(s, "doc");
}

TEST_CASE_METHOD(trusted_session, "errors: an unsealed frame after authentication gets malformed 4000", "[errors]") {
  REQUIRE(p->send_text(protocol::encode(protocol::frontier_frame{"doc", {}})));
  auto e = p->until_closed();
  REQUIRE(e.close);
  CHECK(e.close->code == protocol::close_code(errc::malformed));
  REQUIRE(e.error);
  CHECK(e.error->code == errc::malformed);
  check_counted(*s.n, "malformed");
  check_still_serves(s, "doc");
}

// ------------------------------------------------------- tokens and revocation

namespace {

auth::token_record grant(std::int64_t ttl_ms) {
  auth::token_record r;
  r.perm = read_write();
  r.created_ms = auth::system_now_ms();
  r.expires_ms = r.created_ms + ttl_ms;
  r.note = "test";
  return r;
}

}  // namespace

TEST_CASE("errors: a join token admits a new key once and a reused token gets token_invalid 4402", "[errors][tokens]") {
  served_node s;
  s.open();
  auto tok = s.n->create_token(grant(60'000));
  REQUIRE(tok);
  REQUIRE(auth::check_token_format(*tok));
  auto newcomer = auth::identity::generate();
  {
    auto o = s.peer_opts();
    o.join_token = *tok;
    test_peer p(newcomer, o);
    REQUIRE(p.connect(s.url()));
    auto hs = p.handshake();
    REQUIRE(hs.ok());
    auto c = p.make_change("doc", {set("/joined", true)});
    REQUIRE(p.send_batch("doc", {c}));
    REQUIRE(eventually([&] {
      auto v = s.n->read("doc", "/joined");
      return v && v->has_value();
    }));
  }
  // The key is trusted now, and the token is used up.
  auto t = s.n->trusted();
  REQUIRE(t);
  bool found = false;
  for (auto& e : *t) found = found || e.key == newcomer.key();
  CHECK(found);
  auto second = auth::identity::generate();
  auto o = s.peer_opts();
  o.join_token = *tok;
  test_peer p2(second, o);
  REQUIRE(p2.connect(s.url()));
  auto hs = p2.handshake();
  CHECK_FALSE(hs.sealed);
  check_verdict(verdict(p2, hs), errc::token_invalid);
  check_counted(*s.n, "token_invalid");
  check_nothing_from(*s.n, "doc", second.key(), "/joined2");
  check_still_serves(s, "doc");
}

TEST_CASE("errors: a join the node cannot record (store full) is its own failure, and the token stays usable", "[errors][tokens]") {
  served_node s;
  // A map that cannot grow: writes fail with map_full once it is used up.
  s.cfg.store.initial_map_size = s.cfg.store.max_map_size = std::size_t{1} << 20;
  s.cfg.max_restarts = 1000;  // each failed commit restarts the document's owner
  s.open();
  auto tok = s.n->create_token(grant(60'000));
  REQUIRE(tok);
  // Fill every last page: large values, then small ones, then trust records
  // (the shape of the join's own commit).
  int i = 0;
  for (std::size_t size : {16384, 1024, 64}) {
    std::string filler(size, 'x');
    for (int tries = 0; tries < 400; ++tries, ++i) {
      auto w = s.n->write("filler", {set("/v" + std::to_string(i), filler)});
      if (w) continue;
      INFO("write error: " << w.error());
      CHECK(w.error().find("storage_full") != std::string::npos);
      break;
    }
  }
  for (int tries = 0; tries < 400; ++tries) {
    auto t = s.n->trust(entry(auth::identity::generate(), read_write()));
    if (!t) break;
  }
  auto newcomer = auth::identity::generate();
  auto o = s.peer_opts();
  o.join_token = *tok;
  test_peer p(newcomer, o);
  REQUIRE(p.connect(s.url()));
  auto hs = p.handshake();
  CHECK_FALSE(hs.sealed);
  auto e = verdict(p, hs);
  REQUIRE(e.close);
  // Not "token already used": the node failed, the joiner did nothing wrong.
  CHECK(e.close->code == protocol::close_code(errc::internal));
  if (e.error) CHECK(e.error->code == errc::internal);
  CHECK(counted(*s.n, "token_invalid") == 0);
  auto unused = s.n->tokens();
  REQUIRE(unused);
  CHECK(unused->size() == 1);  // not consumed: it can be used once there is room
}

TEST_CASE("errors: an expired join token gets token_invalid 4402", "[errors][tokens]") {
  // The node reads token expiry from its injected clock: the token expires
  // when the test moves the clock past it, without sleeping.
  served_node s;
  manual_clock clock;
  s.cfg.clock = clock.source();
  s.open();
  auto r = grant(60'000);
  r.created_ms = clock.wall_ms();
  r.expires_ms = r.created_ms + 60'000;
  auto tok = s.n->create_token(r);
  REQUIRE(tok);
  clock.advance(std::chrono::milliseconds(60'001));
  auto newcomer = auth::identity::generate();
  auto o = s.peer_opts();
  o.join_token = *tok;
  test_peer p(newcomer, o);
  REQUIRE(p.connect(s.url()));
  auto hs = p.handshake();
  CHECK_FALSE(hs.sealed);
  check_verdict(verdict(p, hs), errc::token_invalid);
  check_counted(*s.n, "token_invalid");
  auto t = s.n->trusted();
  REQUIRE(t);
  for (auto& e : *t) CHECK(e.key != newcomer.key());
  check_still_serves(s, "doc");
}

TEST_CASE("errors: revoke closes a live session with revoked 4410 and the key cannot come back", "[errors][tokens]") {
  served_node s;
  auto victim = auth::identity::generate();
  s.trust(victim, read_write());
  s.open();
  REQUIRE(s.n->write("doc", {set("/x", 1)}));
  auto p = s.session(victim);
  auto r = p->fetch("doc");
  REQUIRE(r.ready);
  auto rv = s.n->revoke(victim.key());
  REQUIRE(rv);
  CHECK(*rv);
  auto e = p->until_closed();
  REQUIRE(e.close);
  CHECK(e.close->code == protocol::close_code(errc::revoked));
  REQUIRE(e.error);
  CHECK(e.error->code == errc::revoked);
  check_counted(*s.n, "revoked");
  // Reconnecting: refused at the handshake.
  auto p2 = s.dial(victim);
  auto hs = p2->handshake();
  CHECK_FALSE(hs.sealed);
  check_verdict(verdict(*p2, hs), errc::revoked);
  // A token cannot bring a revoked key back.
  auto tok = s.n->create_token(grant(60'000));
  REQUIRE(tok);
  auto o = s.peer_opts();
  o.join_token = *tok;
  test_peer p3(victim, o);
  REQUIRE(p3.connect(s.url()));
  auto hs3 = p3.handshake();
  CHECK_FALSE(hs3.sealed);
  check_verdict(verdict(p3, hs3), errc::revoked);
  check_still_serves(s, "doc");
}
