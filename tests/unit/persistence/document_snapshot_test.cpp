// The document and the store together: snapshot at a frontier, compaction
// below it, and a rebuild from snapshot + remaining log after reopen that
// gives the same state and digest.
#include <catch2/catch.hpp>

#include "crdt/document.hpp"
#include "persistence/document_loader.hpp"
#include "persistence/store.hpp"
#include "support.hpp"

using namespace starling;
using namespace starling::persistence;
using namespace starling::persistence::test;
using crdt::mutation;

namespace {

void must_commit(store& st, write_batch&& b) {
  auto r = st.commit(std::move(b));
  INFO((r ? std::string() : r.error().message));
  REQUIRE(r);
}

crdt::change local_write(crdt::document& d, const crypto::keypair& k, std::vector<mutation> m, std::uint64_t t) {
  auto c = d.make_change(m, k, t);
  INFO((c ? std::string() : c.error().message));
  REQUIRE(c);
  return *c;
}

}  // namespace

TEST_CASE("snapshot + compaction: a reopened store rebuilds the same state and digest", "[compaction][document]") {
  temp_dir dir;
  auto ka = author_key(1), kb = author_key(2);
  crdt::document doc("notes");
  frontier horizon;
  std::size_t before_horizon = 0;
  {
    auto st = store::open(dir.path());
    REQUIRE(st);
    std::uint64_t t = 1000;
    for (int i = 0; i < 60; ++i) {
      auto& k = i % 3 ? ka : kb;
      std::vector<mutation> m;
      if (i == 0) m = {{mutation::kind::set, "/list", nlohmann::json::array()}};
      else if (i % 4 == 0) m = {{mutation::kind::rm, "/list/0", {}}};
      else m = {{mutation::kind::ins, "/list/-", i}, {mutation::kind::inc, "/n", 1}, {mutation::kind::set, "/last", i}};
      write_batch b;
      b.add_change("notes", local_write(doc, k, m, t += 10));
      must_commit(**st, std::move(b));
      if (i == 39) {
        horizon = doc.current_frontier();
        before_horizon = doc.change_count();
      }
    }
    // Materialise the document at the horizon, then drop what lies below it.
    auto snap = doc.snapshot_at(horizon);
    REQUIRE(snap);
    write_batch b;
    b.put_snapshot("notes", horizon, *snap);
    b.compact("notes", horizon);
    must_commit(**st, std::move(b));
    auto left = (*st)->change_count("notes");
    REQUIRE(left);
    CHECK(*left == doc.change_count() - before_horizon);
    // A peer with nothing is behind the horizon: it needs the snapshot.
    auto page = (*st)->changes_since("notes", frontier{}, 1 << 20);
    REQUIRE(page);
    CHECK(page->behind_horizon);
    CHECK(page->changes.empty());
    // A peer at the horizon gets exactly the rest.
    page = (*st)->changes_since("notes", horizon, 1 << 20);
    REQUIRE(page);
    CHECK(page->changes.size() == doc.change_count() - before_horizon);
  }
  auto st = store::open(dir.path());
  REQUIRE(st);
  load_stats stats;
  auto reloaded = load_document(**st, "notes", {}, &stats);
  REQUIRE(reloaded);
  CHECK(stats.from_snapshot);
  CHECK(stats.changes == doc.change_count() - before_horizon);
  CHECK(reloaded->state() == doc.state());
  CHECK(reloaded->digest() == doc.digest());
  CHECK(reloaded->current_frontier() == doc.current_frontier());
  // And it keeps working: a new change on the reloaded document applies on
  // the original too (it refers to ops from below the horizon).
  auto next = local_write(*reloaded, ka, {{mutation::kind::ins, "/list/0", "head"}, {mutation::kind::inc, "/n", 5}}, 99999);
  CHECK(doc.apply(next).outcomes[0].status == crdt::apply_status::applied);
  CHECK(reloaded->digest() == doc.digest());
}

TEST_CASE("load_document reports a stored change that does not decode", "[document]") {
  temp_dir dir;
  auto st = store::open(dir.path());
  REQUIRE(st);
  write_batch b;
  auto chain = make_chain("d", author_key(3), 2);
  bytes bad = crdt::encode(chain[0]);
  bad[0] = 9;  // unknown change format
  b.add_change("d", chain[0].hash, chain[0].author, 1, bad);
  must_commit(**st, std::move(b));
  auto d = load_document(**st, "d");
  REQUIRE_FALSE(d);
  CHECK_THAT(d.error(), Catch::Contains("does not decode"));
}
