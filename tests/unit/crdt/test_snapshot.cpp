#include <catch2/catch.hpp>

#include <random>

#include "helpers.hpp"

using namespace starling;
using namespace starling::test;
using crdt::document;

TEST_CASE("a snapshot restores the full CRDT state, later changes apply on top", "[snapshot]") {
  auto ka = key(1), kb = key(2);
  document a("doc");
  write(a, ka, {set("/l", J("[1,2,3]")), set("/m", J(R"({"x":{"y":[true]}})")), inc("/n", 4)});
  write(a, ka, {rm("/l/1"), ins("/l/1", "mid"), del("/m/x")});
  auto snap = a.snapshot();
  auto restored = document::from_snapshot("doc", snap);
  REQUIRE(restored);
  CHECK(restored->state() == a.state());
  CHECK(restored->digest() == a.digest());
  CHECK(restored->current_frontier() == a.current_frontier());
  CHECK(restored->heads() == a.heads());
  CHECK(restored->snapshot() == snap);
  // Changes made after the snapshot reference ops from before it.
  auto c1 = write(a, kb, {ins("/l/0", "b0"), inc("/n", 1), set("/m/x", 5)});
  auto c2 = write(a, ka, {set("/l/3", "last")});
  auto rep = restored->apply_batch({c1, c2});
  CHECK(rep.applied.size() == 2);
  CHECK(restored->digest() == a.digest());
  // And the restored one can write.
  auto c3 = write(*restored, kb, {ins("/l/-", 9)});
  a.apply(c3);
  CHECK(restored->digest() == a.digest());
  CHECK(restored->changes_since({}).size() == 3);  // only what came after the snapshot
}

TEST_CASE("snapshot decoding refuses damaged input without crashing", "[snapshot]") {
  document a("doc");
  auto k = key(1);
  write(a, k, {set("/l", J("[1,2,3]")), set("/m", J(R"({"x":{"y":[true]}})")), inc("/n", 4)});
  auto snap = a.snapshot();
  CHECK_FALSE(document::from_snapshot("other", snap));
  for (std::size_t n = 0; n < snap.size(); ++n) CHECK_FALSE(document::from_snapshot("doc", snap.substr(0, n)));
  std::mt19937 rng(77);
  std::size_t ok = 0;
  for (int i = 0; i < 3000; ++i) {
    auto bad = snap;
    for (int f = 0; f < 1 + i % 3; ++f) bad[rng() % bad.size()] = static_cast<char>(rng());
    auto d = document::from_snapshot("doc", bad);
    if (d) {  // if it decodes, it must be a usable document
      ++ok;
      (void)d->state();
      (void)d->snapshot();
    }
  }
  INFO("decoded after damage: " << ok);
  // Found by fuzzing: a map key that is not UTF-8 must be refused, not
  // accepted and later thrown on by the JSON serialiser.
  document kd("doc");
  write(kd, k, {set("/mz", 1)});
  auto ksnap = kd.snapshot();
  auto at = ksnap.find(std::string("\x02mz", 3));
  REQUIRE(at != std::string::npos);
  ksnap[at + 1] = '\xab';
  auto kr = document::from_snapshot("doc", ksnap);
  REQUIRE_FALSE(kr);
  CHECK_THAT(kr.error(), Catch::Contains("UTF-8"));

  auto wrong_version = snap;
  wrong_version[4] = 9;
  auto r = document::from_snapshot("doc", wrong_version);
  REQUIRE_FALSE(r);
  CHECK_THAT(r.error(), Catch::Contains("format 9 is not supported"));
}

TEST_CASE("snapshot_at gives the state at an earlier, causally closed frontier", "[snapshot]") {
  auto ka = key(1), kb = key(2);
  document a("doc");
  write(a, ka, {set("/x", 1)});
  auto mid_state = a.state();
  auto mid = a.current_frontier();
  write(a, ka, {set("/x", 2)});
  write(a, kb, {set("/y", 3)});
  auto snap = a.snapshot_at(mid);
  REQUIRE(snap);
  auto past = document::from_snapshot("doc", *snap);
  REQUIRE(past);
  CHECK(past->state() == mid_state);
  CHECK(past->current_frontier() == mid);
  // Catching the past up with the later changes gives today's state.
  frontier f = mid;
  for (auto& enc : a.changes_since(f)) past->apply(*crdt::decode(enc));
  CHECK(past->digest() == a.digest());
  // A frontier that includes b's change but not a's second one is not closed
  // (b's change depends on it).
  frontier open = mid;
  open[kb.pk] = a.current_frontier().at(kb.pk);
  CHECK_FALSE(a.snapshot_at(open));
  frontier bogus = mid;
  bogus[ka.pk].seq = 9;
  CHECK_FALSE(a.snapshot_at(bogus));
}
