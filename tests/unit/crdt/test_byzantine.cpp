// Refusals of the apply paths: forged, altered, broken and equivocating input.
#include <catch2/catch.hpp>

#include <random>

#include "helpers.hpp"

using namespace starling;
using namespace starling::test;
using crdt::apply_status;
using crdt::change;
using crdt::document;
using crdt::refusal;

namespace {

std::vector<change> chain_of(document& d, const crypto::keypair& k, int n) {
  std::vector<change> out;
  for (int i = 0; i < n; ++i) out.push_back(write(d, k, {set("/k" + std::to_string(i % 7), i)}));
  return out;
}

std::optional<refusal> single(document& d, const change& c) { return d.apply(c).outcomes.at(0).reason; }

// An author signs two different changes at seq 2 (x and y) after c1; x3
// builds on x; an honest author saw x (h1); another wrote h0, unrelated.
struct equivocation {
  crypto::keypair evil = key(66);
  change c1, x, y, x3, h1, h0;
};
equivocation make_equivocation() {
  equivocation e;
  document origin("doc");
  e.c1 = write(origin, e.evil, {set("/a", 1)}, 1000);
  document fork_a("doc"), fork_b("doc");
  fork_a.apply(e.c1);
  fork_b.apply(e.c1);
  e.x = write(fork_a, e.evil, {set("/a", "x")}, 2000);
  e.y = write(fork_b, e.evil, {set("/a", "y")}, 2000);
  e.x3 = write(fork_a, e.evil, {set("/b", 3)}, 3000);
  e.h1 = write(fork_a, key(7), {set("/h", "saw x")}, 4000);
  document other("doc");
  other.apply(e.c1);
  e.h0 = write(other, key(8), {set("/free", true)}, 1500);
  return e;
}

}  // namespace

TEST_CASE("forged author and bad signatures are refused on both paths", "[byzantine]") {
  document src("doc");
  auto ka = key(1), kb = key(2);
  auto cs = chain_of(src, ka, 3);

  auto forged = cs[0];  // claims author a, signed by b
  crdt::sign(forged, kb);
  forged.author = ka.pk;
  forged.hash = crdt::compute_hash(forged);
  auto altered = cs[0];
  altered.sig.v[0] ^= 0x80;
  auto garbage = cs[0];
  for (auto& b : garbage.sig.v) b = 0x11;
  for (auto* bad : {&forged, &altered, &garbage}) {
    document d("doc");
    CHECK(single(d, *bad) == refusal::bad_signature);
    document e("doc");
    auto rep = e.apply_batch({*bad});
    CHECK(rep.outcomes[0].reason == refusal::bad_signature);
    CHECK(e.change_count() == 0);
    CHECK(e.pending_count() == 0);
    // The genuine change is still accepted afterwards.
    CHECK(e.apply(cs[0]).outcomes[0].status == apply_status::applied);
  }
}

TEST_CASE("amortised batch verification checks one signature per linked run", "[byzantine]") {
  document src("doc");
  std::vector<change> all;
  std::vector<crypto::keypair> keys;
  for (int a = 0; a < 10; ++a) keys.push_back(key(static_cast<std::uint8_t>(10 + a)));
  for (int round = 0; round < 20; ++round)
    for (auto& k : keys) all.push_back(write(src, k, {set("/x", round)}));
  document dst("doc");
  auto rep = dst.apply_batch(all);
  CHECK(rep.signatures_checked == 10);
  CHECK(rep.applied.size() == all.size());
  CHECK(dst.digest() == src.digest());

  SECTION("a bad newest signature refuses only that change") {
    auto bad = all;
    bad.back().sig.v[5] ^= 1;  // newest change of the last author
    document d("doc");
    auto r = d.apply_batch(bad);
    CHECK(r.outcomes.back().reason == refusal::bad_signature);
    CHECK(r.applied.size() == all.size() - 1);
    CHECK(r.signatures_checked == 10 + 19);  // fell back to each change of that run
  }
  SECTION("content is vouched by the hash chain") {
    // An intermediate change's content is covered by the newest signature
    // through prev hashes; altering the content breaks the chain link.
    auto bad = all;
    bad[10].ops[0].value = std::int64_t(999);
    bad[10].hash = crdt::compute_hash(bad[10]);
    document d("doc");
    auto r = d.apply_batch(bad);
    CHECK(r.outcomes[10].status == apply_status::refused);
    CHECK(r.outcomes[10].reason == refusal::bad_signature);
    CHECK(d.has_change(all[0].hash));
  }
}

TEST_CASE("broken chain, gap and bad time are refused", "[byzantine]") {
  document src("doc");
  auto k = key(1);
  auto cs = chain_of(src, k, 4);

  SECTION("prev that is not the hash of seq-1") {
    auto bad = cs[1];
    bad.prev = crypto::blake2b_256("elsewhere");
    crdt::sign(bad, k);  // validly signed by the author
    document d("doc");
    d.apply(cs[0]);
    CHECK(single(d, bad) == refusal::broken_chain);
    document e("doc");
    e.apply(cs[0]);
    CHECK(e.apply_batch({bad}).outcomes[0].reason == refusal::broken_chain);
    // Arriving before its predecessor it waits, then is refused.
    document f("doc");
    CHECK(f.apply(bad).outcomes[0].status == apply_status::pending);
    auto r = f.apply(cs[0]);
    REQUIRE(r.late_refusals.size() == 1);
    CHECK(r.late_refusals[0].reason == refusal::broken_chain);
    CHECK(f.pending_count() == 0);
  }
  SECTION("a batch that skips a seq") {
    document d("doc");
    auto r = d.apply_batch({cs[0], cs[2], cs[3]});
    CHECK(r.outcomes[0].status == apply_status::applied);
    CHECK(r.outcomes[1].reason == refusal::chain_gap);
    CHECK(r.outcomes[2].reason == refusal::chain_gap);
    CHECK(d.change_count() == 1);
  }
  SECTION("time not after prev") {
    auto bad = cs[1];
    bad.time = cs[0].time;
    crdt::sign(bad, k);
    document d("doc");
    d.apply(cs[0]);
    CHECK(single(d, bad) == refusal::bad_time);
  }
}

TEST_CASE("ops invalid against their causal state are refused", "[byzantine]") {
  document src("doc");
  auto k = key(1), k2 = key(2);
  auto c1 = write(src, k, {set("/s", "scalar"), set("/l", J("[1]"))});
  auto craft = [&](crdt::op o) {
    change c;
    c.doc = "doc";
    c.author = k2.pk;
    c.seq = 1;
    c.deps = {c1.hash};
    c.time = c1.time + 1;
    c.ops = {std::move(o)};
    crdt::sign(c, k2);
    return c;
  };
  using crdt::op;
  using crdt::op_kind;
  using crdt::op_ref;
  using crdt::place_kind;
  std::vector<std::pair<op, const char*>> cases = {
      // a set op is not a container
      {op{op_kind::set, op_ref::ext(c1.hash, 0), place_kind::map_key, "x", {}, std::int64_t(1), 0, {}}, "container"},
      // a map key in a list
      {op{op_kind::set, op_ref::ext(c1.hash, 1), place_kind::map_key, "x", {}, std::int64_t(1), 0, {}}, "map key in a list"},
      // an element that is not in this list
      {op{op_kind::rm, op_ref::ext(c1.hash, 1), place_kind::list_elem, "", op_ref::ext(c1.hash, 0), {}, 0, {}}, "element"},
      // an op index past the end of its change
      {op{op_kind::set, op_ref::ext(c1.hash, 9), place_kind::map_key, "x", {}, std::int64_t(1), 0, {}}, "past the end"},
  };
  for (auto& [o, needle] : cases) {
    document d("doc");
    d.apply(c1);
    auto before = d.digest();
    auto r = d.apply(craft(o));
    INFO(needle);
    CHECK(r.outcomes[0].reason == refusal::invalid_op);
    CHECK_THAT(r.outcomes[0].message, Catch::Contains(needle));
    CHECK(d.digest() == before);
    CHECK(d.change_count() == 1);
  }
  // A reference to a change this replica does not have yet waits for it.
  document d("doc");
  auto waiting = craft(op{op_kind::set, op_ref::ext(crypto::blake2b_256("later"), 0), place_kind::map_key, "x", {},
                          std::int64_t(1), 0, {}});
  waiting.deps.clear();
  crdt::sign(waiting, k2);
  CHECK(d.apply(waiting).outcomes[0].status == apply_status::pending);
}

TEST_CASE("equivocation yields the same fork proof and state on every replica", "[byzantine]") {
  auto [evil, c1, x, y, x3, h1, h0] = make_equivocation();
  REQUIRE(x.seq == y.seq);
  REQUIRE(x.hash != y.hash);

  std::vector<change> all = {c1, x, y, x3, h1, h0};
  std::mt19937 rng(1234);
  std::vector<document> replicas;
  for (int r = 0; r < 6; ++r) {
    document d("doc");
    auto order = all;
    std::shuffle(order.begin(), order.end(), rng);
    for (auto& c : order) {
      if (r % 2) d.apply_batch({c});
      else d.apply(c);
    }
    replicas.push_back(std::move(d));
  }
  for (auto& d : replicas) {
    REQUIRE(d.forks().size() == 1);
    CHECK(d.forks()[0].a == replicas[0].forks()[0].a);
    CHECK(d.forks()[0].b == replicas[0].forks()[0].b);
    CHECK(d.quarantine().at(evil.pk) == 2);
    CHECK(d.state() == replicas[0].state());
    CHECK(d.digest() == replicas[0].digest());
    CHECK(d.pending_count() == 0);
  }
  // Past the fork point nothing of the author counts, nor what built on it.
  CHECK(replicas[0].state() == J(R"({"a":1,"free":true})"));
  // Further changes from the author are refused.
  document later("doc");
  later.apply(c1);
  auto z = write(later, evil, {set("/z", 1)}, 9000);
  CHECK(single(replicas[0], z) == refusal::quarantined);
  // A replica that never saw the fork learns it from the proof alone.
  document learner("doc");
  for (auto& c : {c1, x, x3, h0}) learner.apply(c);
  CHECK(learner.read("/b") == J("3"));
  auto rep = learner.apply_fork_proof(replicas[0].forks()[0]);
  CHECK(rep.rebuilt);
  CHECK(learner.digest() == replicas[0].digest());
  // A forged proof is refused.
  auto forged = replicas[0].forks()[0];
  forged.b[forged.b.size() - 1] ^= 1;
  document z2("doc");
  CHECK(z2.apply_fork_proof(forged).outcomes[0].reason == refusal::bad_signature);
  CHECK(z2.forks().empty());
}

TEST_CASE("a change whose deps never arrive stays pending, bounded", "[byzantine]") {
  crdt::document_limits lim;
  lim.max_pending = 100;
  document d("doc", lim);
  auto k = key(1);
  std::size_t refused = 0;
  for (int i = 0; i < 150; ++i) {
    change c;
    c.doc = "doc";
    c.author = key(static_cast<std::uint8_t>(100 + i)).pk;
    c.seq = 1;
    c.deps = {crypto::blake2b_256("never " + std::to_string(i))};
    c.time = 10;
    c.ops = {crdt::op{crdt::op_kind::set, {}, crdt::place_kind::map_key, "k", {}, std::int64_t(i), 0, {}}};
    crdt::sign(c, key(static_cast<std::uint8_t>(100 + i)));
    auto r = d.apply(c);
    if (r.outcomes[0].reason == refusal::pending_full) ++refused;
  }
  (void)k;
  CHECK(d.pending_count() <= 100);
  CHECK(refused >= 50);
  CHECK(d.state() == J("{}"));
}

namespace {
// A change log as a store would keep it: the encodings handed over as durable.
struct vector_log final : crdt::change_log {
  std::vector<bytes> durable;
  std::optional<bytes> encoding(const public_key& author, std::uint64_t seq) const override {
    for (auto& e : durable) {
      auto c = crdt::decode(e);
      if (c && c->author == author && c->seq == seq) return e;
    }
    return std::nullopt;
  }
  bool replay(const std::function<void(byte_view)>& each) const override {
    for (auto& e : durable) each(e);
    return true;
  }
};
}  // namespace

TEST_CASE("a document without its log rebuilds from the change log and what is not yet durable", "[byzantine]") {
  auto e = make_equivocation();

  crdt::document_limits lim;
  lim.retain_log = false;
  auto log = std::make_shared<vector_log>();
  document d("doc", lim);
  d.set_change_log(log);
  document reference("doc");  // keeps its log
  // c1, h0 and x are durable; x3 and h1 are applied, their commit still out.
  for (auto& c : {e.c1, e.h0, e.x}) {
    auto rep = d.apply_batch({c});
    REQUIRE(rep.applied_changes.size() == 1);
    CHECK(rep.applied_changes[0].encoded == crdt::encode(c));
    log->durable.push_back(rep.applied_changes[0].encoded);
    reference.apply(c);
  }
  d.durable_through(d.applied_total());
  CHECK(d.undurable_count() == 0);
  for (auto& c : {e.x3, e.h1}) {
    CHECK(d.apply(c).outcomes[0].status == apply_status::applied);
    reference.apply(c);
  }
  CHECK(d.undurable_count() == 2);
  // The other branch arrives: the fork evidence comes from the change log,
  // and the rebuild drops x, x3 and h1 (built on x) on both documents alike.
  auto rep = d.apply(e.y);
  CHECK(rep.outcomes[0].reason == refusal::quarantined);
  REQUIRE(rep.new_forks.size() == 1);
  CHECK(rep.rebuilt);
  reference.apply(e.y);
  CHECK(d.forks()[0].a == reference.forks()[0].a);
  CHECK(d.forks()[0].b == reference.forks()[0].b);
  CHECK(d.state() == reference.state());
  CHECK(d.state() == J(R"({"a":1,"free":true})"));
  // What was not durable stays held until it is: a reload would need it.
  CHECK(d.undurable_count() == 2);
  d.durable_through(d.applied_total());
  CHECK(d.undurable_count() == 0);
}
