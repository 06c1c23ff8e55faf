#include <catch2/catch.hpp>

#include <deque>
#include <functional>

#include "crdt/crypto.hpp"
#include "protocol/handshake.hpp"

using namespace starling;
using namespace starling::protocol;
using starling::auth::identity;
using starling::auth::permission;
using starling::auth::permissions;

namespace {

identity id_from(std::uint8_t b) {
  std::array<std::uint8_t, 32> seed{};
  seed.fill(b);
  return identity::from_seed(seed);
}

// The static policy, remembering what check_peer was asked.
class recording_policy : public auth::trust_policy {
 public:
  auth::static_trust_policy inner{[] { return std::int64_t(1'000'000); }};
  std::vector<std::pair<public_key, std::optional<std::string>>> calls;

  auth::decision check_peer(const public_key& peer, const std::optional<std::string>& token) override {
    calls.emplace_back(peer, token);
    return inner.check_peer(peer, token);
  }
  void trust(const public_key& k, permissions p, std::vector<std::string> patterns = {}) {
    auth::trust_entry e;
    e.key = k;
    e.perm = p;
    e.doc_patterns = std::move(patterns);
    inner.trust(e);
  }
};

struct node {
  identity id;
  recording_policy policy;
  explicit node(std::uint8_t seed) : id(id_from(seed)) {}
};

// Frames in flight in one direction, and every step the receiver produced.
struct wire {
  std::deque<std::string> frames;
  std::vector<step> steps;
};

// Rewrites a frame in flight; returns the frame to deliver instead.
using tamper_fn = std::function<std::string(const std::string&)>;

// Runs two handshakes against each other until no frame is in flight,
// delivering one frame at a time in alternating directions.
struct link {
  link(handshake& a_side, handshake& b_side) : a(a_side), b(b_side) {}
  handshake& a;
  handshake& b;
  wire a_to_b, b_to_a;
  tamper_fn tamper_a_to_b = [](const std::string& f) { return f; };
  std::vector<std::string> sent_by_a, sent_by_b;

  void push(wire& w, std::vector<std::string>& log, const step& s) {
    for (auto& f : s.frames) {
      w.frames.push_back(f);
      log.push_back(f);
    }
  }
  void run() {
    push(a_to_b, sent_by_a, a.start());
    push(b_to_a, sent_by_b, b.start());
    while (!a_to_b.frames.empty() || !b_to_a.frames.empty()) {
      if (!a_to_b.frames.empty()) {
        auto f = tamper_a_to_b(a_to_b.frames.front());
        a_to_b.frames.pop_front();
        auto s = b.on_frame(f);
        a_to_b.steps.push_back(s);
        push(b_to_a, sent_by_b, s);
      }
      if (!b_to_a.frames.empty()) {
        auto f = b_to_a.frames.front();
        b_to_a.frames.pop_front();
        auto s = a.on_frame(f);
        b_to_a.steps.push_back(s);
        push(a_to_b, sent_by_a, s);
      }
    }
  }
};

template <class F>
F decode_as(const std::string& text) {
  auto f = decode_control(text);
  REQUIRE(f);
  REQUIRE(std::holds_alternative<F>(*f));
  return std::get<F>(*f);
}

bool is_type(const std::string& text, const char* type) {
  auto f = decode_control(text);
  return f && std::string(type_name(*f)) == type;
}

// The failing step of a wire (the one that carries failure), if any.
const step* failing_step(const wire& w) {
  for (auto& s : w.steps)
    if (s.failure) return &s;
  return nullptr;
}

void check_sessions_agree(const handshake& a, const handshake& b) {
  auto& ra = a.result();
  auto& rb = b.result();
  CHECK(ra.keys.tx == rb.keys.rx);
  CHECK(ra.keys.rx == rb.keys.tx);
  auto [ca, ha] = auth::sealed_channel::start(ra.keys);
  auto [cb, hb] = auth::sealed_channel::start(rb.keys);
  REQUIRE(ca.accept_header(hb));
  REQUIRE(cb.accept_header(ha));
  auto to_b = cb.open(ca.seal("{\"type\":\"ready\",\"doc\":\"x\"}", auth::frame_kind::text));
  REQUIRE(to_b);
  CHECK(to_b->plaintext == "{\"type\":\"ready\",\"doc\":\"x\"}");
  auto to_a = ca.open(cb.seal("batch", auth::frame_kind::binary));
  REQUIRE(to_a);
  CHECK(to_a->kind == auth::frame_kind::binary);
}

}  // namespace

TEST_CASE("handshake: transcript layout", "[protocol][handshake]") {
  auto fill = [](std::uint8_t b) {
    fixed_bytes<32> f;
    f.v.fill(b);
    return f;
  };
  std::string expected_bytes = "starling.auth.v1";
  expected_bytes += std::string("\x01\x02\x03\x04", 4);
  for (std::uint8_t b = 1; b <= 6; ++b) expected_bytes += std::string(32, static_cast<char>(b));
  REQUIRE(expected_bytes.size() == 212);
  auto h = handshake::transcript_hash(0x01020304, fill(1), fill(2), fill(3), fill(4), fill(5), fill(6));
  CHECK(h == crypto::blake2b_256(expected_bytes));
  // Swapping signer and other gives a different message: reflection fails.
  CHECK(h != handshake::transcript_hash(0x01020304, fill(4), fill(5), fill(6), fill(1), fill(2), fill(3)));
  CHECK(h != handshake::transcript_hash(1, fill(1), fill(2), fill(3), fill(4), fill(5), fill(6)));
}

TEST_CASE("handshake: two trusted nodes agree on keys and permissions", "[protocol][handshake]") {
  node na(1), nb(2);
  na.policy.trust(nb.id.key(), permissions(permission::read) | permission::write, {"team-*"});
  nb.policy.trust(na.id.key(), permission::read);
  handshake a(na.id, {}, na.policy), b(nb.id, {}, nb.policy);
  CHECK(a.state() == handshake_state::awaiting_hello);
  link l{a, b};
  l.run();
  REQUIRE(a.state() == handshake_state::done);
  REQUIRE(b.state() == handshake_state::done);
  CHECK_FALSE(a.failure());

  // Exactly hello then auth each way, nothing else.
  REQUIRE(l.sent_by_a.size() == 2);
  REQUIRE(l.sent_by_b.size() == 2);
  CHECK(is_type(l.sent_by_a[0], "hello"));
  CHECK(is_type(l.sent_by_a[1], "auth"));
  auto hello_a = decode_as<hello_frame>(l.sent_by_a[0]);
  CHECK(hello_a.node_id == na.id.key());
  CHECK(hello_a.versions == supported_versions());
  CHECK_FALSE(hello_a.token);

  CHECK(a.result().peer_id == nb.id.key());
  CHECK(b.result().peer_id == na.id.key());
  CHECK(a.result().perm == (permissions(permission::read) | permission::write));
  CHECK(a.result().doc_patterns == std::vector<std::string>{"team-*"});
  CHECK(b.result().perm == permissions(permission::read));
  CHECK(a.result().version == protocol_version);
  CHECK_FALSE(a.result().token_used);
  check_sessions_agree(a, b);

  // After done, input is ignored.
  auto late = a.on_frame(l.sent_by_b[0]);
  CHECK(late.frames.empty());
  CHECK(late.state == handshake_state::done);
  CHECK(a.on_timeout().state == handshake_state::done);
  CHECK(a.on_binary().state == handshake_state::done);
  CHECK(a.start().frames.empty());
}

TEST_CASE("handshake: every connection uses fresh nonces and keys", "[protocol][handshake]") {
  node na(1), nb(2);
  na.policy.trust(nb.id.key(), permission::read);
  nb.policy.trust(na.id.key(), permission::read);
  handshake a1(na.id, {}, na.policy), a2(na.id, {}, na.policy);
  auto h1 = decode_as<hello_frame>(a1.start().frames.at(0));
  auto h2 = decode_as<hello_frame>(a2.start().frames.at(0));
  CHECK(h1.challenge != h2.challenge);
  CHECK(h1.ephemeral_key != h2.ephemeral_key);
}

TEST_CASE("handshake: untrusted key fails both sides", "[protocol][handshake]") {
  node na(1), nb(2);
  na.policy.trust(nb.id.key(), permission::read);  // b does not trust a
  handshake a(na.id, {}, na.policy), b(nb.id, {}, nb.policy);
  link l{a, b};
  l.run();
  REQUIRE(b.state() == handshake_state::failed);
  REQUIRE(a.state() == handshake_state::failed);
  CHECK(b.failure()->code == errc::untrusted);
  CHECK_FALSE(b.failure()->from_peer);
  auto* rejecting = failing_step(l.a_to_b);
  REQUIRE(rejecting);
  CHECK(rejecting->close_code == close_code(errc::untrusted));
  REQUIRE(rejecting->frames.size() == 1);
  auto err = decode_as<error_frame>(rejecting->frames[0]);
  CHECK(err.code == errc::untrusted);
  // b sent hello and the error, never an auth.
  for (auto& f : l.sent_by_b) CHECK_FALSE(is_type(f, "auth"));
  // a learns why from the error frame and sends nothing back.
  CHECK(a.failure()->code == errc::untrusted);
  CHECK(a.failure()->from_peer);
  auto* learned = failing_step(l.b_to_a);
  REQUIRE(learned);
  CHECK(learned->frames.empty());
  CHECK(learned->close_code == close_code(errc::untrusted));
}

TEST_CASE("handshake: revoked key", "[protocol][handshake]") {
  node na(1), nb(2);
  na.policy.trust(nb.id.key(), permission::read);
  nb.policy.trust(na.id.key(), permission::read);
  nb.policy.inner.revoke(na.id.key());
  handshake a(na.id, {}, na.policy), b(nb.id, {}, nb.policy);
  link l{a, b};
  l.run();
  REQUIRE(b.state() == handshake_state::failed);
  CHECK(b.failure()->code == errc::revoked);
  CHECK(a.failure()->code == errc::revoked);
  CHECK(failing_step(l.a_to_b)->close_code == 4410);
}

TEST_CASE("handshake: tampered auth signature", "[protocol][handshake]") {
  node na(1), nb(2);
  na.policy.trust(nb.id.key(), permission::read);
  nb.policy.trust(na.id.key(), permission::read);
  handshake a(na.id, {}, na.policy), b(nb.id, {}, nb.policy);
  link l{a, b};
  l.tamper_a_to_b = [](const std::string& f) {
    if (!is_type(f, "auth")) return f;
    auto auth = decode_as<auth_frame>(f);
    auth.sig.v[10] ^= 0x01;
    return encode(auth);
  };
  l.run();
  REQUIRE(b.state() == handshake_state::failed);
  CHECK(b.failure()->code == errc::auth_failed);
  CHECK(failing_step(l.a_to_b)->close_code == 4401);
  // a verified b and is done before b's error arrives: done means the peer
  // proved itself to us. b's error frame is then the first frame after done
  // (text, where the session expects a sealed header), which the caller
  // handles; the handshake ignores it.
  CHECK(a.state() == handshake_state::done);
  CHECK(is_type(l.sent_by_b.back(), "error"));
}

TEST_CASE("handshake: an auth replayed from an earlier session fails", "[protocol][handshake]") {
  node na(1), nb(2);
  na.policy.trust(nb.id.key(), permission::read);
  nb.policy.trust(na.id.key(), permission::read);
  std::string old_auth;
  {
    handshake a(na.id, {}, na.policy), b(nb.id, {}, nb.policy);
    link l{a, b};
    l.run();
    REQUIRE(b.state() == handshake_state::done);
    old_auth = l.sent_by_a.at(1);
    REQUIRE(is_type(old_auth, "auth"));
  }
  handshake a(na.id, {}, na.policy), b(nb.id, {}, nb.policy);
  link l{a, b};
  l.tamper_a_to_b = [&](const std::string& f) { return is_type(f, "auth") ? old_auth : f; };
  l.run();
  REQUIRE(b.state() == handshake_state::failed);
  CHECK(b.failure()->code == errc::auth_failed);
}

TEST_CASE("handshake: reflected frames fail", "[protocol][handshake]") {
  node na(1), nb(2);
  na.policy.trust(nb.id.key(), permission::read);
  nb.policy.trust(na.id.key(), permission::read);

  SECTION("a peer's own auth sent back to it") {
    handshake a(na.id, {}, na.policy), b(nb.id, {}, nb.policy);
    auto ha = a.start().frames.at(0);
    auto hb = b.start().frames.at(0);
    auto b_auth = b.on_frame(ha).frames.at(0);
    REQUIRE(is_type(b_auth, "auth"));
    auto s = b.on_frame(b_auth);
    CHECK(s.state == handshake_state::failed);
    CHECK(s.failure->code == errc::auth_failed);
  }
  SECTION("a peer's own hello sent back to it") {
    handshake b(nb.id, {}, nb.policy);
    auto hb = b.start().frames.at(0);
    auto s = b.on_frame(hb);
    CHECK(s.state == handshake_state::failed);
    CHECK(s.failure->code == errc::auth_failed);
    CHECK(nb.policy.calls.empty());  // refused before the policy was asked
  }
  SECTION("a hello under another id carrying our own ephemeral key") {
    handshake b(nb.id, {}, nb.policy);
    auto hb = decode_as<hello_frame>(b.start().frames.at(0));
    hb.node_id = na.id.key();
    auto s = b.on_frame(encode(hb));
    CHECK(s.state == handshake_state::failed);
    CHECK(s.failure->code == errc::auth_failed);
  }
}

TEST_CASE("handshake: no version in common", "[protocol][handshake]") {
  node na(1), nb(2);
  na.policy.trust(nb.id.key(), permission::read);
  nb.policy.trust(na.id.key(), permission::read);
  handshake_config ca, cb;
  ca.versions = {1};
  cb.versions = {2, 3};
  handshake a(na.id, ca, na.policy), b(nb.id, cb, nb.policy);
  link l{a, b};
  l.run();
  REQUIRE(a.state() == handshake_state::failed);
  REQUIRE(b.state() == handshake_state::failed);
  CHECK(a.failure()->code == errc::unsupported_version);
  CHECK(b.failure()->code == errc::unsupported_version);
  CHECK(failing_step(l.a_to_b)->close_code == 4010);
  CHECK(decode_as<error_frame>(failing_step(l.a_to_b)->frames.at(0)).code == errc::unsupported_version);
}

TEST_CASE("handshake: the highest common version is chosen", "[protocol][handshake]") {
  node na(1), nb(2);
  na.policy.trust(nb.id.key(), permission::read);
  nb.policy.trust(na.id.key(), permission::read);
  handshake_config ca, cb;
  ca.versions = {1, 2, 5};
  cb.versions = {2, 1, 4};
  handshake a(na.id, ca, na.policy), b(nb.id, cb, nb.policy);
  link l{a, b};
  l.run();
  REQUIRE(a.state() == handshake_state::done);
  REQUIRE(b.state() == handshake_state::done);
  CHECK(a.result().version == 2);
  CHECK(b.result().version == 2);
}

TEST_CASE("handshake: frames out of order", "[protocol][handshake]") {
  node na(1), nb(2);
  na.policy.trust(nb.id.key(), permission::read);
  nb.policy.trust(na.id.key(), permission::read);
  handshake a(na.id, {}, na.policy);
  auto hello_a = a.start().frames.at(0);

  auto expect_fail = [](const step& s, errc code) {
    CHECK(s.state == handshake_state::failed);
    REQUIRE(s.failure);
    CHECK(s.failure->code == code);
    CHECK_FALSE(s.failure->from_peer);
    REQUIRE(s.frames.size() == 1);
    CHECK(decode_as<error_frame>(s.frames[0]).code == code);
    REQUIRE(s.close_code);
    CHECK(*s.close_code == close_code(code));
  };

  SECTION("auth before hello") {
    handshake b(nb.id, {}, nb.policy);
    b.start();
    expect_fail(b.on_frame(encode(auth_frame{})), errc::auth_failed);
  }
  SECTION("second hello") {
    handshake b(nb.id, {}, nb.policy);
    b.start();
    auto first = b.on_frame(hello_a);
    CHECK(first.state == handshake_state::awaiting_auth);
    expect_fail(b.on_frame(hello_a), errc::auth_failed);
  }
  SECTION("frontier before auth") {
    handshake b(nb.id, {}, nb.policy);
    b.start();
    REQUIRE(b.on_frame(hello_a).state == handshake_state::awaiting_auth);
    expect_fail(b.on_frame(encode(frontier_frame{"doc", {}})), errc::auth_failed);
  }
  SECTION("frontier before hello") {
    handshake b(nb.id, {}, nb.policy);
    b.start();
    expect_fail(b.on_frame(encode(ready_frame{"doc"})), errc::auth_failed);
  }
  SECTION("binary before auth") {
    handshake b(nb.id, {}, nb.policy);
    b.start();
    REQUIRE(b.on_frame(hello_a).state == handshake_state::awaiting_auth);
    expect_fail(b.on_binary(), errc::auth_failed);
  }
  SECTION("binary before hello") {
    handshake b(nb.id, {}, nb.policy);
    b.start();
    expect_fail(b.on_binary(), errc::auth_failed);
  }
  SECTION("frames that do not decode keep the decoder's code") {
    handshake b1(nb.id, {}, nb.policy), b2(nb.id, {}, nb.policy), b3(nb.id, {}, nb.policy);
    b1.start();
    b2.start();
    b3.start();
    expect_fail(b1.on_frame("not json"), errc::malformed);
    expect_fail(b2.on_frame("{\"type\":\"hello\"}"), errc::bad_field);
    expect_fail(b3.on_frame("{\"type\":\"gossip\"}"), errc::unknown_type);
  }
  SECTION("after failure everything is ignored") {
    handshake b(nb.id, {}, nb.policy);
    b.start();
    b.on_binary();
    auto s = b.on_frame(hello_a);
    CHECK(s.state == handshake_state::failed);
    CHECK(s.frames.empty());
    CHECK_FALSE(s.failure);
    CHECK(b.on_timeout().frames.empty());
    CHECK(b.failure()->code == errc::auth_failed);
    CHECK(nb.policy.calls.empty());
  }
}

TEST_CASE("handshake: frames before start() send our hello first", "[protocol][handshake]") {
  node na(1), nb(2);
  nb.policy.trust(na.id.key(), permission::read);
  handshake a(na.id, {}, na.policy), b(nb.id, {}, nb.policy);
  auto s = b.on_frame(a.start().frames.at(0));
  REQUIRE(s.frames.size() == 2);
  CHECK(is_type(s.frames[0], "hello"));
  CHECK(is_type(s.frames[1], "auth"));
  CHECK(b.start().frames.empty());
}

TEST_CASE("handshake: a peer claiming our own node id", "[protocol][handshake]") {
  node na(1), nb(2);
  nb.policy.trust(nb.id.key(), permission::admin);  // even if our own key is trusted
  handshake a(na.id, {}, na.policy), b(nb.id, {}, nb.policy);
  b.start();
  auto forged = decode_as<hello_frame>(a.start().frames.at(0));
  forged.node_id = nb.id.key();
  auto s = b.on_frame(encode(forged));
  CHECK(s.state == handshake_state::failed);
  CHECK(s.failure->code == errc::auth_failed);
  CHECK_THAT(s.failure->reason, Catch::Contains("own node id"));
}

TEST_CASE("handshake: timeout", "[protocol][handshake]") {
  node na(1);
  handshake_config cfg;
  CHECK(cfg.timeout == std::chrono::seconds(10));
  cfg.timeout = std::chrono::milliseconds(2500);
  handshake a(na.id, cfg, na.policy);
  a.start();
  auto s = a.on_timeout();
  CHECK(s.state == handshake_state::failed);
  REQUIRE(s.failure);
  CHECK(s.failure->code == errc::timeout);
  REQUIRE(s.close_code);
  CHECK(*s.close_code == 4408);
  REQUIRE(s.frames.size() == 1);
  auto err = decode_as<error_frame>(s.frames[0]);
  CHECK(err.code == errc::timeout);
  CHECK_THAT(err.reason, Catch::Contains("2500"));
  CHECK(a.on_timeout().frames.empty());
}

TEST_CASE("handshake: a peer's error frame ends the handshake quietly", "[protocol][handshake]") {
  node na(1);
  handshake a(na.id, {}, na.policy);
  a.start();
  auto s = a.on_frame(encode(error_frame{errc::internal, "disk full", std::nullopt}));
  CHECK(s.state == handshake_state::failed);
  CHECK(s.frames.empty());
  REQUIRE(s.failure);
  CHECK(s.failure->code == errc::internal);
  CHECK(s.failure->from_peer);
  CHECK_THAT(s.failure->reason, Catch::Contains("disk full"));
}

TEST_CASE("handshake: join token", "[protocol][handshake]") {
  node existing(1), newcomer(2);
  newcomer.policy.trust(existing.id.key(), permissions(permission::read) | permission::write);
  auto token = auth::generate_token();
  auth::token_record rec;
  rec.perm = permission::write;
  rec.doc_patterns = {"inbox-*"};
  rec.created_ms = 0;
  rec.expires_ms = 2'000'000;
  existing.policy.inner.add_token(auth::hash_token(token), rec);

  handshake_config with_token;
  with_token.join_token = token;

  SECTION("a valid token admits the new key and is reported for consumption") {
    handshake a(existing.id, {}, existing.policy), b(newcomer.id, with_token, newcomer.policy);
    link l{a, b};
    l.run();
    REQUIRE(a.state() == handshake_state::done);
    REQUIRE(b.state() == handshake_state::done);
    CHECK(decode_as<hello_frame>(l.sent_by_b.at(0)).token == token);
    REQUIRE(existing.policy.calls.size() == 1);
    CHECK(existing.policy.calls[0].first == newcomer.id.key());
    CHECK(existing.policy.calls[0].second == token);
    REQUIRE(a.result().token_used);
    CHECK(*a.result().token_used == auth::hash_token(token));
    CHECK(a.result().perm == permissions(permission::write));
    CHECK(a.result().doc_patterns == std::vector<std::string>{"inbox-*"});
    CHECK_FALSE(b.result().token_used);
    check_sessions_agree(a, b);

    // The caller consumes it; a second connection with it is then refused.
    REQUIRE(existing.policy.inner.consume_token(*a.result().token_used, newcomer.id.key()));
    node other(3);
    handshake a2(existing.id, {}, existing.policy), c(other.id, with_token, other.policy);
    other.policy.trust(existing.id.key(), permission::read);
    link l2{a2, c};
    l2.run();
    REQUIRE(a2.state() == handshake_state::failed);
    CHECK(a2.failure()->code == errc::token_invalid);
    CHECK(c.failure()->code == errc::token_invalid);
    // The consumed token made newcomer trusted without it.
    handshake a3(existing.id, {}, existing.policy), b3(newcomer.id, {}, newcomer.policy);
    link l3{a3, b3};
    l3.run();
    CHECK(a3.state() == handshake_state::done);
  }
  SECTION("a wrong token is token_invalid") {
    handshake_config bad;
    bad.join_token = auth::generate_token();
    handshake a(existing.id, {}, existing.policy), b(newcomer.id, bad, newcomer.policy);
    link l{a, b};
    l.run();
    REQUIRE(a.state() == handshake_state::failed);
    CHECK(a.failure()->code == errc::token_invalid);
    CHECK(failing_step(l.b_to_a) != nullptr);
    CHECK(b.failure()->code == errc::token_invalid);
    CHECK(b.failure()->from_peer);
  }
}
