// Trust and join tokens as the node keeps them: persisted in the store,
// used once, revocable at run time; and the log limiter.
#include <catch2/catch.hpp>

#include <fstream>
#include <iterator>

#include "actors/metrics.hpp"
#include "auth/token.hpp"
#include "cluster_support.hpp"

using namespace starling;
using starling::test::digest_of;
using starling::test::eventually;
using starling::test::member;
using starling::test::set;
using starling::test::url;

namespace {

std::string file_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

auth::token_record grant(auth::permissions p, std::int64_t ttl_ms) {
  auth::token_record r;
  r.perm = p;
  r.created_ms = auth::system_now_ms();
  r.expires_ms = r.created_ms + ttl_ms;
  r.note = "test";
  return r;
}

const auth::permissions read_write = auth::permissions(auth::permission::read) | auth::permission::write;

bool has_key(node& n, const member& m, bool* revoked = nullptr) {
  auto t = n.trusted();
  REQUIRE(t);
  for (auto& e : *t)
    if (e.key == m.id.key()) {
      if (revoked) *revoked = e.revoked;
      return true;
    }
  return false;
}

}  // namespace

TEST_CASE("trusted keys and join tokens survive a restart and only a token's hash is stored", "[trust]") {
  member a, k;
  std::string token;
  {
    auto na = node::open(a.config({}, true));
    REQUIRE(na);
    auto t = (*na)->create_token(grant(read_write, 3'600'000));
    REQUIRE(t);
    token = *t;
    CHECK(token.rfind("stk1_", 0) == 0);
    auto added = (*na)->trust(member::entry_for(k, auth::permissions(auth::permission::read)));
    REQUIRE(added);
    CHECK(*added);
    auto again = (*na)->trust(member::entry_for(k, auth::permissions(auth::permission::read)));
    REQUIRE(again);
    CHECK_FALSE(*again);  // replaced, not added
  }
  // The token text is nowhere in the data files.
  auto data = file_bytes(a.dir.path + "/data.mdb");
  REQUIRE(data.size() > 0);
  CHECK(data.find(token) == std::string::npos);
  CHECK(data.find(token.substr(5)) == std::string::npos);

  auto na = node::open(a.config({}, true));
  REQUIRE(na);
  CHECK(has_key(**na, k));
  auto tokens = (*na)->tokens();
  REQUIRE(tokens);
  REQUIRE(tokens->size() == 1);
  CHECK(tokens->front().first == auth::hash_token(token));
  CHECK(tokens->front().second.perm == read_write);
}

TEST_CASE("a join token lets a new node in once and the key stays trusted after restarts", "[trust]") {
  member a, b, c;
  std::string token;
  {
    auto na = node::open(a.config({}, true));
    REQUIRE(na);
    auto t = (*na)->create_token(grant(read_write, 3'600'000));
    REQUIRE(t);
    token = *t;
    REQUIRE((*na)->write("shared", {set("/x", 1)}));
    auto cfg = b.config({&a}, false);
    cfg.join_token = token;
    auto nb = node::open(cfg);
    REQUIRE(nb);
    (*nb)->add_peer(url(**na));
    REQUIRE(eventually([&] { return digest_of(**na, "shared") == digest_of(**nb, "shared"); }));
    CHECK(has_key(**na, b));
    auto left = (*na)->tokens();
    REQUIRE(left);
    CHECK(left->empty());
  }
  // After a restart of both: b is known by key now, the token is spent.
  auto na = node::open(a.config({}, true));
  REQUIRE(na);
  CHECK(has_key(**na, b));
  REQUIRE((*na)->write("shared", {set("/y", 2)}));
  auto cfg_b = b.config({&a}, false);
  cfg_b.join_token = token;  // still configured: ignored for a trusted key
  auto nb = node::open(cfg_b);
  REQUIRE(nb);
  (*nb)->add_peer(url(**na));
  REQUIRE(eventually([&] { return digest_of(**na, "shared") == digest_of(**nb, "shared"); }));
  // A third node with the same token is refused and learns nothing.
  auto cfg_c = c.config({&a}, false);
  cfg_c.join_token = token;
  auto nc = node::open(cfg_c);
  REQUIRE(nc);
  (*nc)->add_peer(url(**na));
  REQUIRE(eventually([&] {
    auto st = (*na)->status();
    return st && st->peer_errors.count("token_invalid") && st->peer_errors.at("token_invalid") >= 1;
  }));
  auto r = (*nc)->read("shared", "/x");
  REQUIRE(r);
  CHECK_FALSE(r->has_value());
  CHECK_FALSE(has_key(**na, c));
}

TEST_CASE("a key revoked at run time stays revoked though the configuration still names it", "[trust]") {
  member a, b;
  {
    auto na = node::open(a.config({&b}, true));
    REQUIRE(na);
    auto r = (*na)->revoke(b.id.key());
    REQUIRE(r);
    CHECK(*r);
    member stranger;
    auto unknown = (*na)->revoke(stranger.id.key());
    REQUIRE(unknown);
    CHECK_FALSE(*unknown);
  }
  auto na = node::open(a.config({&b}, true));
  REQUIRE(na);
  bool revoked = false;
  REQUIRE(has_key(**na, b, &revoked));
  CHECK(revoked);
  // And b cannot get in.
  REQUIRE((*na)->write("doc", {set("/x", 1)}));
  auto nb = node::open(b.config({&a}, false));
  REQUIRE(nb);
  (*nb)->add_peer(url(**na));
  REQUIRE(eventually([&] {
    auto st = (*na)->status();
    return st && st->peer_errors.count("revoked") && st->peer_errors.at("revoked") >= 1;
  }));
  auto r = (*nb)->read("doc", "/x");
  REQUIRE(r);
  CHECK_FALSE(r->has_value());
}

TEST_CASE("log limiter: one line per key per interval, then the count of suppressed lines", "[trust][log]") {
  using clock = actors::log_limiter::clock;
  actors::log_limiter lim(std::chrono::seconds(60), 2);
  auto t0 = clock::time_point{} + std::chrono::hours(1);
  std::uint64_t dropped = 99;
  CHECK(lim.allow("peer1/bad_change", t0, &dropped));
  CHECK(dropped == 0);
  CHECK_FALSE(lim.allow("peer1/bad_change", t0 + std::chrono::seconds(1), &dropped));
  CHECK_FALSE(lim.allow("peer1/bad_change", t0 + std::chrono::seconds(59), &dropped));
  CHECK(lim.allow("peer2/bad_change", t0 + std::chrono::seconds(2), &dropped));  // another peer
  CHECK(lim.allow("peer1/bad_change", t0 + std::chrono::seconds(60), &dropped));
  CHECK(dropped == 2);
  // Full (2 keys), none idle: a new key is let through rather than lost.
  CHECK(lim.allow("peer3/untrusted", t0 + std::chrono::seconds(61), &dropped));
  CHECK(lim.allow("peer3/untrusted", t0 + std::chrono::seconds(62), &dropped));
  // Once keys have been idle for an interval they make room.
  CHECK(lim.allow("peer3/untrusted", t0 + std::chrono::seconds(200), &dropped));
  CHECK_FALSE(lim.allow("peer3/untrusted", t0 + std::chrono::seconds(201), &dropped));
}
