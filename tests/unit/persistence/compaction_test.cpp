// Snapshots and compaction at the store level.
#include <catch2/catch.hpp>

#include "support.hpp"

using namespace starling;
using namespace starling::persistence;
using namespace starling::persistence::test;

namespace {

struct two_authors {
  temp_dir tmp;
  crypto::keypair a = author_key(1), b = author_key(2);
  std::vector<crdt::change> ca = make_chain("doc", a, 10), cb = make_chain("doc", b, 10);
  std::vector<crdt::change> log;  // a1 b1 a2 b2 ...
  std::unique_ptr<store> s;

  two_authors() {
    for (std::size_t i = 0; i < 10; ++i) {
      log.push_back(ca[i]);
      log.push_back(cb[i]);
    }
    reopen();
    write_batch w;
    for (const auto& c : log) w.add_change("doc", c);
    commit_ok(*s, std::move(w));
  }
  void reopen() {
    s.reset();
    s = open_ok(tmp.path(), small_options());
  }
  chain_head head_a(std::uint64_t seq) const { return {seq, ca[seq - 1].hash}; }
  chain_head head_b(std::uint64_t seq) const { return {seq, cb[seq - 1].hash}; }

  // The log entries with author seq above the given ones.
  std::vector<bytes> after(std::uint64_t sa, std::uint64_t sb) const {
    std::vector<bytes> out;
    for (const auto& c : log)
      if (c.seq > (c.author == a.pk ? sa : sb)) out.push_back(crdt::encode(c));
    return out;
  }
  std::vector<bytes> replay() const {
    std::vector<bytes> out;
    value_ok(s->load_log("doc", 0, [&](std::uint64_t, const hash256&, byte_view enc) {
      out.emplace_back(enc);
      return true;
    }));
    return out;
  }
  void snapshot(frontier at, bytes state) {
    write_batch w;
    w.put_snapshot("doc", std::move(at), std::move(state));
    commit_ok(*s, std::move(w));
  }
};

}  // namespace

TEST_CASE("snapshot blobs round trip", "[persistence][snapshot]") {
  two_authors fx;
  CHECK_FALSE(value_ok(fx.s->load_snapshot("doc")).has_value());
  const bytes blob("state\0with\xff" "binary", 17);
  fx.snapshot({{fx.a.pk, fx.head_a(6)}, {fx.b.pk, fx.head_b(4)}}, blob);
  auto snap = value_ok(fx.s->load_snapshot("doc"));
  REQUIRE(snap);
  CHECK(snap->state == blob);
  CHECK(snap->at == frontier{{fx.a.pk, fx.head_a(6)}, {fx.b.pk, fx.head_b(4)}});

  fx.snapshot({{fx.a.pk, fx.head_a(8)}}, "newer");  // replaces
  fx.reopen();
  snap = value_ok(fx.s->load_snapshot("doc"));
  REQUIRE(snap);
  CHECK(snap->state == "newer");
  CHECK(snap->at.size() == 1);
  CHECK(value_ok(fx.s->stats()).snapshots == 1);
  CHECK(value_ok(fx.s->change_count("doc")) == 20);  // a snapshot alone drops nothing
}

TEST_CASE("a snapshot that disagrees with the chain is refused", "[persistence][snapshot]") {
  two_authors fx;
  write_batch w;
  w.put_snapshot("doc", {{fx.a.pk, {6, fx.ca[2].hash}}}, "x");
  auto r = fx.s->commit(std::move(w));
  REQUIRE_FALSE(r);
  CHECK(r.error().code == store_errc::chain_conflict);
  CHECK_FALSE(value_ok(fx.s->load_snapshot("doc")).has_value());
}

TEST_CASE("compaction needs a snapshot covering the horizon", "[persistence][compaction]") {
  two_authors fx;
  const frontier horizon{{fx.a.pk, fx.head_a(5)}, {fx.b.pk, fx.head_b(4)}};
  auto none = fx.s->compact("doc", horizon);
  REQUIRE_FALSE(none);
  CHECK(none.error().code == store_errc::snapshot_missing);

  fx.snapshot({{fx.a.pk, fx.head_a(6)}, {fx.b.pk, fx.head_b(3)}}, "s");
  auto short_b = fx.s->compact("doc", horizon);  // b: 4 > 3
  REQUIRE_FALSE(short_b);
  CHECK(short_b.error().code == store_errc::snapshot_missing);
  CHECK(value_ok(fx.s->change_count("doc")) == 20);

  fx.snapshot({{fx.a.pk, fx.head_a(6)}, {fx.b.pk, fx.head_b(4)}}, "s");
  auto wrong_hash = fx.s->compact("doc", {{fx.a.pk, {5, fx.ca[0].hash}}});
  REQUIRE_FALSE(wrong_hash);
  CHECK(wrong_hash.error().code == store_errc::chain_conflict);
  auto zero = fx.s->compact("doc", {{fx.a.pk, {0, hash256{}}}});
  REQUIRE_FALSE(zero);
  CHECK(zero.error().code == store_errc::invalid_argument);
  CHECK(value_ok(fx.s->compact("doc", horizon)) == 9);
}

TEST_CASE("compaction drops exactly the changes at or below the horizon", "[persistence][compaction]") {
  two_authors fx;
  const frontier horizon{{fx.a.pk, fx.head_a(5)}, {fx.b.pk, fx.head_b(4)}};
  fx.snapshot({{fx.a.pk, fx.head_a(6)}, {fx.b.pk, fx.head_b(4)}}, "state at a6 b4");
  const auto frontier_before = value_ok(fx.s->load_frontier("doc"));
  REQUIRE(value_ok(fx.s->compact("doc", horizon)) == 9);

  auto check_compacted = [&] {
    CHECK(value_ok(fx.s->change_count("doc")) == 11);
    CHECK(value_ok(fx.s->stats()).changes == 11);
    CHECK(value_ok(fx.s->stats()).log_entries == 11);
    for (const auto& c : fx.log) {
      bool kept = c.seq > (c.author == fx.a.pk ? 5u : 4u);
      CHECK(value_ok(fx.s->has_change("doc", c.author, c.seq, c.hash)) == kept);
      CHECK(value_ok(fx.s->get_change("doc", c.author, c.seq)).has_value() == kept);
      CHECK(value_ok(fx.s->chain_hash("doc", c.author, c.seq)).has_value() == kept);
    }
    CHECK(fx.replay() == fx.after(5, 4));  // the rest, in the original order
    CHECK(value_ok(fx.s->load_horizon("doc")) == horizon);
    CHECK(value_ok(fx.s->load_frontier("doc")) == frontier_before);
    REQUIRE(value_ok(fx.s->load_snapshot("doc")));
    CHECK(value_ok(fx.s->load_snapshot("doc"))->state == "state at a6 b4");

    // Remaining changes are still served; a peer behind the horizon is told so.
    auto at_horizon = value_ok(fx.s->changes_since("doc", horizon, 1 << 20));
    CHECK_FALSE(at_horizon.behind_horizon);
    CHECK(at_horizon.changes == fx.after(5, 4));
    frontier ahead{{fx.a.pk, fx.head_a(7)}, {fx.b.pk, fx.head_b(4)}};
    CHECK(value_ok(fx.s->changes_since("doc", ahead, 1 << 20)).changes == fx.after(7, 4));
    for (const frontier& behind : {frontier{}, frontier{{fx.a.pk, fx.head_a(3)}, {fx.b.pk, fx.head_b(9)}},
                                   frontier{{fx.a.pk, fx.head_a(9)}}}) {
      auto p = value_ok(fx.s->changes_since("doc", behind, 1 << 20));
      CHECK(p.behind_horizon);
      CHECK(p.changes.empty());
      CHECK_FALSE(p.next);
    }
  };
  check_compacted();
  fx.reopen();
  check_compacted();

  SECTION("compacted changes that arrive again are duplicates; a forged one is a fork") {
    write_batch w;
    w.add_change("doc", fx.ca[2]);
    w.add_change("doc", fx.ca[4]);
    auto r = commit_ok(*fx.s, std::move(w));
    CHECK(r.duplicates == 2);
    CHECK(value_ok(fx.s->change_count("doc")) == 11);

    auto forged = make_chain("doc", fx.a, 1, 5, fx.ca[3].hash);
    forged[0].ops[0].value = std::int64_t{-1};
    crdt::sign(forged[0], fx.a);
    write_batch f;
    f.add_change("doc", forged[0]);
    auto fr = fx.s->commit(std::move(f));
    REQUIRE_FALSE(fr);
    CHECK(fr.error().code == store_errc::chain_conflict);
  }
  SECTION("compacting to a lower or equal horizon drops nothing") {
    CHECK(value_ok(fx.s->compact("doc", {{fx.a.pk, fx.head_a(3)}})) == 0);
    CHECK(value_ok(fx.s->compact("doc", horizon)) == 0);
    CHECK(value_ok(fx.s->load_horizon("doc")) == horizon);
  }
  SECTION("a compaction between two pages turns the continuation behind the horizon") {
    const std::size_t one = fx.after(5, 4)[0].size();
    auto page = value_ok(fx.s->changes_since("doc", horizon, 2 * one));
    REQUIRE(page.next);
    fx.snapshot({{fx.a.pk, fx.head_a(10)}, {fx.b.pk, fx.head_b(10)}}, "s2");
    REQUIRE(value_ok(fx.s->compact("doc", {{fx.a.pk, fx.head_a(9)}})) == 4);
    auto next = value_ok(fx.s->changes_since("doc", *page.next, 2 * one));
    CHECK(next.behind_horizon);
    CHECK(next.changes.empty());
  }
}

TEST_CASE("snapshot and compaction in one batch", "[persistence][compaction]") {
  two_authors fx;
  write_batch w;
  w.put_snapshot("doc", {{fx.a.pk, fx.head_a(10)}, {fx.b.pk, fx.head_b(10)}}, "all");
  w.compact("doc", {{fx.a.pk, fx.head_a(10)}, {fx.b.pk, fx.head_b(10)}});
  auto r = commit_ok(*fx.s, std::move(w));
  CHECK(r.compacted == 20);
  CHECK(value_ok(fx.s->change_count("doc")) == 0);
  CHECK(fx.replay().empty());
  CHECK(value_ok(fx.s->list_docs()) == std::vector<std::string>{"doc"});
  auto p = value_ok(fx.s->changes_since("doc", value_ok(fx.s->load_frontier("doc")), 100));
  CHECK_FALSE(p.behind_horizon);
  CHECK(p.changes.empty());
}

TEST_CASE("a snapshot from a peer ahead of us moves frontier and horizon", "[persistence][snapshot]") {
  temp_dir tmp;
  auto s = open_ok(tmp.path(), small_options());
  auto a = author_key(1), b = author_key(2);
  auto ca = make_chain("doc", a, 10);
  auto cb = make_chain("doc", b, 2);
  {
    write_batch w;
    for (int i = 0; i < 3; ++i) w.add_change("doc", ca[i]);
    w.add_change("doc", cb[0]);
    w.add_change("doc", cb[1]);
    commit_ok(*s, std::move(w));
  }
  // The peer's snapshot covers a up to 7 (we have 3) and b up to 1 (we have 2).
  const frontier at{{a.pk, {7, ca[6].hash}}, {b.pk, {1, cb[0].hash}}};
  {
    write_batch w;
    w.put_snapshot("doc", at, "peer state");
    auto r = commit_ok(*s, std::move(w));
    CHECK(r.compacted == 3);  // a1..a3: older than the snapshot's a7
  }
  auto f = value_ok(s->load_frontier("doc"));
  CHECK(f.at(a.pk) == chain_head{7, ca[6].hash});
  CHECK(f.at(b.pk) == chain_head{2, cb[1].hash});
  CHECK(value_ok(s->load_horizon("doc")) == frontier{{a.pk, {7, ca[6].hash}}});
  CHECK(value_ok(s->change_count("doc")) == 2);

  // The chain continues after the snapshot; older changes are duplicates.
  write_batch w;
  w.add_change("doc", ca[4]);
  w.add_change("doc", ca[7]);
  auto r = commit_ok(*s, std::move(w));
  CHECK(r.outcomes == std::vector<change_outcome>{change_outcome::duplicate, change_outcome::stored});

  auto p = value_ok(s->changes_since("doc", at, 1 << 20));
  CHECK(p.changes == std::vector<bytes>{crdt::encode(cb[1]), crdt::encode(ca[7])});
  CHECK(value_ok(s->changes_since("doc", {{a.pk, {2, ca[1].hash}}}, 1 << 20)).behind_horizon);
}

TEST_CASE("a doc known only through a snapshot is listed", "[persistence][snapshot]") {
  temp_dir tmp;
  auto s = open_ok(tmp.path(), small_options());
  auto a = author_key(1);
  auto ca = make_chain("fresh", a, 4);
  write_batch w;
  w.put_snapshot("fresh", {{a.pk, {4, ca[3].hash}}}, "st");
  commit_ok(*s, std::move(w));
  CHECK(value_ok(s->list_docs()) == std::vector<std::string>{"fresh"});
  CHECK(value_ok(s->load_frontier("fresh")).at(a.pk).seq == 4);
  CHECK(value_ok(s->change_count("fresh")) == 0);
}
