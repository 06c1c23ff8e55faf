// The store's open, write and read functions (not changes_since, compaction,
// crashes or map growth: see the other files).
#include <catch2/catch.hpp>

#include <algorithm>
#include <fstream>
#include <set>

#include "persistence/lmdb.hpp"
#include "persistence/records.hpp"
#include "support.hpp"

using namespace starling;
using namespace starling::persistence;
using namespace starling::persistence::test;

namespace {

void add_all(write_batch& b, const std::vector<crdt::change>& cs) {
  for (const auto& c : cs) b.add_change(c.doc, c);
}

std::vector<std::uint64_t> log_indexes(const store& s, const std::string& doc,
                                       std::vector<hash256>* hashes = nullptr) {
  std::vector<std::uint64_t> out;
  value_ok(s.load_log(doc, 0, [&](std::uint64_t i, const hash256& h, byte_view) {
    out.push_back(i);
    if (hashes) hashes->push_back(h);
    return true;
  }));
  return out;
}

}  // namespace

TEST_CASE("open creates a store, writes format version 1, reopens", "[persistence][store]") {
  temp_dir tmp;
  auto dir = tmp.sub("node");  // not yet existing: open creates it
  {
    auto s = open_ok(dir, small_options());
    CHECK(s->dir() == dir);
    CHECK_FALSE(s->read_only());
    CHECK(value_ok(s->get_meta("format_version")) == std::optional<bytes>("1"));
    CHECK(value_ok(s->list_docs()).empty());
  }
  CHECK(std::filesystem::exists(dir + "/data.mdb"));
  auto s = open_ok(dir, small_options());  // opening twice in sequence works
  CHECK(s->stale_readers_cleared() == 0);
  CHECK(value_ok(s->get_meta("format_version")) == std::optional<bytes>("1"));
}

TEST_CASE("options are validated", "[persistence][store]") {
  temp_dir tmp;
  store_options o;
  o.initial_map_size = std::size_t{2} << 20;
  o.max_map_size = std::size_t{1} << 20;
  auto s = store::open(tmp.path(), o);
  REQUIRE_FALSE(s);
  CHECK(s.error().code == store_errc::invalid_argument);
}

TEST_CASE("every durability mode commits and flushes", "[persistence][store]") {
  const bool write_map = GENERATE(false, true);
  for (auto mode : {durability_mode::sync, durability_mode::nometasync, durability_mode::nosync}) {
    temp_dir tmp;
    auto o = small_options();
    o.durability = mode;
    o.write_map = write_map;
    auto kp = author_key(1);
    auto chain = make_chain("d", kp, 3);
    {
      auto s = open_ok(tmp.path(), o);
      write_batch b;
      add_all(b, chain);
      CHECK(commit_ok(*s, std::move(b)).stored == 3);
      CHECK(s->flush().has_value());
    }
    auto s = open_ok(tmp.path(), o);
    CHECK(value_ok(s->change_count("d")) == 3);
  }
}

TEST_CASE("a batch stores changes, skips duplicates, maintains frontiers", "[persistence][store]") {
  temp_dir tmp;
  auto s = open_ok(tmp.path(), small_options());
  auto a = author_key(1), b = author_key(2);
  auto ca = make_chain("doc", a, 5);
  auto cb = make_chain("doc", b, 3);

  write_batch first;
  add_all(first, {ca[0], ca[1], cb[0]});
  auto r1 = commit_ok(*s, std::move(first));
  CHECK(r1.stored == 3);
  CHECK(r1.duplicates == 0);
  CHECK(r1.outcomes == std::vector<change_outcome>(3, change_outcome::stored));

  // Duplicates from an earlier batch and within the batch are skipped.
  write_batch second;
  second.add_change("doc", ca[1]);  // already stored
  second.add_change("doc", ca[2]);
  second.add_change("doc", ca[2]);  // twice in one batch
  second.add_change("doc", cb[1].hash, cb[1].author, cb[1].seq, crdt::encode(cb[1]));
  auto r2 = commit_ok(*s, std::move(second));
  CHECK(r2.stored == 2);
  CHECK(r2.duplicates == 2);
  CHECK(r2.outcomes == std::vector<change_outcome>{change_outcome::duplicate, change_outcome::stored,
                                                   change_outcome::duplicate, change_outcome::stored});

  auto f = value_ok(s->load_frontier("doc"));
  REQUIRE(f.size() == 2);
  CHECK(f.at(a.pk) == chain_head{3, ca[2].hash});
  CHECK(f.at(b.pk) == chain_head{2, cb[1].hash});
  CHECK(value_ok(s->change_count("doc")) == 5);
  CHECK(value_ok(s->list_docs()) == std::vector<std::string>{"doc"});

  CHECK(value_ok(s->get_change("doc", a.pk, 3)) == std::optional<bytes>(crdt::encode(ca[2])));
  CHECK(value_ok(s->get_change("doc", b.pk, 2)) == std::optional<bytes>(crdt::encode(cb[1])));
  CHECK(value_ok(s->has_change("doc", b.pk, 2, cb[1].hash)));
  CHECK_FALSE(value_ok(s->has_change("doc", b.pk, 2, ca[1].hash)));  // another hash at that place
  CHECK_FALSE(value_ok(s->has_change("doc", a.pk, 4, ca[3].hash)));
  CHECK_FALSE(value_ok(s->get_change("doc", a.pk, 4)).has_value());
  CHECK_FALSE(value_ok(s->get_change("doc", a.pk, 0)).has_value());
  CHECK_FALSE(value_ok(s->has_change("other", a.pk, 1, ca[0].hash)));  // per doc
  CHECK_FALSE(value_ok(s->get_change("other", a.pk, 1)).has_value());
  CHECK(value_ok(s->chain_hash("doc", a.pk, 2)) == std::optional<hash256>(ca[1].hash));
  CHECK_FALSE(value_ok(s->chain_hash("doc", a.pk, 4)).has_value());
  CHECK(value_ok(s->load_frontier("unknown")).empty());
  CHECK(value_ok(s->change_count("unknown")) == 0);

  // The stored bytes decode to the change, signature intact.
  auto stored = value_ok(s->get_change("doc", a.pk, 1));
  auto decoded = crdt::decode(*stored);
  REQUIRE(decoded);
  CHECK(decoded->hash == ca[0].hash);
  CHECK(crdt::signature_valid(*decoded));
}

TEST_CASE("load_log replays in application order and resumes", "[persistence][store]") {
  temp_dir tmp;
  auto s = open_ok(tmp.path(), small_options());
  auto a = author_key(1), b = author_key(2);
  auto ca = make_chain("doc", a, 3);
  auto cb = make_chain("doc", b, 3);
  std::vector<crdt::change> order{ca[0], cb[0], cb[1], ca[1], ca[2], cb[2]};
  write_batch w;
  add_all(w, order);
  commit_ok(*s, std::move(w));

  std::vector<hash256> hashes;
  CHECK(log_indexes(*s, "doc", &hashes) == std::vector<std::uint64_t>{0, 1, 2, 3, 4, 5});
  for (std::size_t i = 0; i < order.size(); ++i) CHECK(hashes[i] == order[i].hash);

  // Stop early, then resume from the returned index.
  std::vector<std::uint64_t> seen;
  auto visit = [&](std::uint64_t i, const hash256& h, byte_view enc) {
    auto c = crdt::decode(enc);
    REQUIRE(c);
    CHECK(c->hash == h);
    seen.push_back(i);
    return seen.size() < 2;
  };
  auto next = value_ok(s->load_log("doc", 0, visit));
  CHECK(next == 2);
  seen.clear();
  CHECK(value_ok(s->load_log("doc", next, [&](std::uint64_t i, const hash256&, byte_view) {
          seen.push_back(i);
          return true;
        })) == 6);
  CHECK(seen == std::vector<std::uint64_t>{2, 3, 4, 5});
  CHECK(value_ok(s->load_log("none", 0, visit)) == 0);
}

TEST_CASE("one commit writes many docs atomically, their keys apart", "[persistence][store]") {
  temp_dir tmp;
  auto s = open_ok(tmp.path(), small_options());
  auto a = author_key(1);
  const std::vector<std::string> docs{"a", "ab", "a.b", "b", std::string(128, 'z')};
  write_batch w;
  for (const auto& d : docs) add_all(w, make_chain(d, a, 2));
  auto r = commit_ok(*s, std::move(w));
  CHECK(r.stored == 10);
  CHECK(value_ok(s->stats()).commits == 1);
  auto listed = value_ok(s->list_docs());
  CHECK(std::set<std::string>(listed.begin(), listed.end()) ==
        std::set<std::string>(docs.begin(), docs.end()));
  for (const auto& d : docs) {
    CHECK(value_ok(s->change_count(d)) == 2);
    CHECK(log_indexes(*s, d) == std::vector<std::uint64_t>{0, 1});
    CHECK(value_ok(s->load_frontier(d)).at(a.pk).seq == 2);
  }
}

TEST_CASE("a refused batch leaves nothing behind", "[persistence][store]") {
  temp_dir tmp;
  auto s = open_ok(tmp.path(), small_options());
  auto a = author_key(1);
  auto ca = make_chain("doc", a, 4);
  {
    write_batch w;
    w.add_change("doc", ca[0]);
    commit_ok(*s, std::move(w));
  }
  auto check_unchanged = [&] {
    CHECK(value_ok(s->change_count("doc")) == 1);
    CHECK(value_ok(s->load_frontier("doc")).at(a.pk).seq == 1);
    CHECK(value_ok(s->list_docs()) == std::vector<std::string>{"doc"});
    CHECK_FALSE(value_ok(s->get_peer(a.pk)).has_value());
  };

  SECTION("a gap in the author's chain") {
    write_batch w;
    w.put_peer(a.pk, "{}");
    w.add_change("doc", ca[1]);
    w.add_change("doc", ca[3]);  // seq 4 after 2
    auto r = s->commit(std::move(w));
    REQUIRE_FALSE(r);
    CHECK(r.error().code == store_errc::invalid_argument);
    CHECK_THAT(r.error().message, Catch::Contains("seq 4"));
  }
  SECTION("a second change at the same (author, seq): a fork") {
    auto fork = make_chain("doc", a, 1);
    fork[0].ops[0].value = std::int64_t{99};
    crdt::sign(fork[0], a);
    write_batch w;
    w.put_peer(a.pk, "{}");
    w.add_change("doc", fork[0]);
    auto r = s->commit(std::move(w));
    REQUIRE_FALSE(r);
    CHECK(r.error().code == store_errc::chain_conflict);
  }
  SECTION("an invalid doc name") {
    write_batch w;
    w.put_peer(a.pk, "{}");
    w.add_change("bad name", ca[0].hash, a.pk, 1, "x");
    auto r = s->commit(std::move(w));
    REQUIRE_FALSE(r);
    CHECK(r.error().code == store_errc::invalid_argument);
  }
  SECTION("a change added under another doc") {
    write_batch w;
    w.put_peer(a.pk, "{}");
    w.add_change("other", ca[1]);
    auto r = s->commit(std::move(w));
    REQUIRE_FALSE(r);
    CHECK(r.error().code == store_errc::invalid_argument);
  }
  SECTION("an empty encoding") {
    write_batch w;
    w.put_peer(a.pk, "{}");
    w.add_change("doc", ca[1].hash, a.pk, 2, "");
    auto r = s->commit(std::move(w));
    REQUIRE_FALSE(r);
    CHECK(r.error().code == store_errc::invalid_argument);
  }
  SECTION("seq 0") {
    write_batch w;
    w.put_peer(a.pk, "{}");
    w.add_change("doc", ca[0].hash, a.pk, 0, "x");
    auto r = s->commit(std::move(w));
    REQUIRE_FALSE(r);
    CHECK(r.error().code == store_errc::invalid_argument);
  }
  check_unchanged();
}

TEST_CASE("reads reject invalid doc names", "[persistence][store]") {
  temp_dir tmp;
  auto s = open_ok(tmp.path(), small_options());
  for (std::string bad : {std::string(), std::string("a/b"), std::string(129, 'x')}) {
    auto f = s->load_frontier(bad);
    REQUIRE_FALSE(f);
    CHECK(f.error().code == store_errc::invalid_argument);
    CHECK_FALSE(s->get_change(bad, public_key{}, 1));
    CHECK_FALSE(s->has_change(bad, public_key{}, 1, hash256{}));
    CHECK_FALSE(s->changes_since(bad, frontier{}, 100));
  }
}

TEST_CASE("peers, trust and meta records", "[persistence][store]") {
  temp_dir tmp;
  auto p1 = author_key(1).pk, p2 = author_key(2).pk;
  {
    auto s = open_ok(tmp.path(), small_options());
    write_batch w;
    w.put_peer(p1, R"({"url":"ws://a"})");
    w.put_peer(p2, R"({"url":"ws://b"})");
    w.put_trust(p1, R"({"perms":["read"]})");
    w.put_meta("node_id", std::string(p1.view()));
    commit_ok(*s, std::move(w));

    write_batch w2;
    w2.put_peer(p1, R"({"url":"ws://a2"})");
    w2.remove_peer(p2);
    w2.put_trust(p2, R"({"perms":["write"]})");
    w2.remove_trust(p1);
    commit_ok(*s, std::move(w2));

    write_batch bad;
    bad.put_meta("format_version", "2");
    auto r = s->commit(std::move(bad));
    REQUIRE_FALSE(r);
    CHECK(r.error().code == store_errc::invalid_argument);
  }
  auto s = open_ok(tmp.path(), small_options());
  CHECK(value_ok(s->get_peer(p1)) == std::optional<std::string>(R"({"url":"ws://a2"})"));
  CHECK_FALSE(value_ok(s->get_peer(p2)).has_value());
  CHECK(value_ok(s->list_peers()).size() == 1);
  CHECK_FALSE(value_ok(s->get_trust(p1)).has_value());
  auto trust = value_ok(s->list_trust());
  REQUIRE(trust.size() == 1);
  CHECK(trust[0].first == p2);
  CHECK(trust[0].second == R"({"perms":["write"]})");
  CHECK(value_ok(s->get_meta("node_id")) == std::optional<bytes>(std::string(p1.view())));
  CHECK(value_ok(s->get_meta("format_version")) == std::optional<bytes>("1"));
  CHECK_FALSE(value_ok(s->get_meta("absent")).has_value());
}

TEST_CASE("tokens are single-use, across reopen", "[persistence][store]") {
  temp_dir tmp;
  auto t1 = crypto::blake2b_256("token one"), t2 = crypto::blake2b_256("token two");
  auto joiner = author_key(7).pk;
  {
    auto s = open_ok(tmp.path(), small_options());
    write_batch w;
    w.put_token(t1, R"({"perm":"write"})");
    w.put_token(t2, R"({"perm":"read"})");
    commit_ok(*s, std::move(w));

    // The join: consume the token and trust the key, atomically.
    write_batch join;
    join.consume_token(t1);
    join.put_trust(joiner, R"({"perms":["write"]})");
    commit_ok(*s, std::move(join));

    // A second use fails and takes the rest of its batch with it.
    write_batch again;
    again.put_peer(joiner, "{}");
    again.consume_token(t1);
    auto r = s->commit(std::move(again));
    REQUIRE_FALSE(r);
    CHECK(r.error().code == store_errc::token_unavailable);
    CHECK_THAT(r.error().message, Catch::Contains("already used"));
    CHECK_FALSE(value_ok(s->get_peer(joiner)).has_value());

    write_batch unknown;
    unknown.consume_token(crypto::blake2b_256("never issued"));
    auto u = s->commit(std::move(unknown));
    REQUIRE_FALSE(u);
    CHECK(u.error().code == store_errc::token_unavailable);
    CHECK_THAT(u.error().message, Catch::Contains("unknown"));
  }
  auto s = open_ok(tmp.path(), small_options());
  auto tok = value_ok(s->get_token(t1));
  REQUIRE(tok);
  CHECK(tok->consumed);
  CHECK(tok->json == R"({"perm":"write"})");
  CHECK(value_ok(s->get_trust(joiner)).has_value());

  write_batch after;
  after.consume_token(t1);
  auto r = s->commit(std::move(after));
  REQUIRE_FALSE(r);
  CHECK(r.error().code == store_errc::token_unavailable);

  write_batch reissue;  // a used token cannot come back
  reissue.put_token(t1, "{}");
  CHECK_FALSE(s->commit(std::move(reissue)));

  auto listed = value_ok(s->list_tokens());
  REQUIRE(listed.size() == 2);
  CHECK(std::count_if(listed.begin(), listed.end(), [](auto& e) { return e.second.consumed; }) == 1);

  write_batch w;
  w.consume_token(t2);
  w.remove_token(t1);
  commit_ok(*s, std::move(w));
  CHECK_FALSE(value_ok(s->get_token(t1)).has_value());
  CHECK(value_ok(s->get_token(t2))->consumed);
}

TEST_CASE("a read-only store serves reads and refuses writes", "[persistence][store]") {
  temp_dir tmp;
  auto a = author_key(1);
  auto chain = make_chain("doc", a, 3);
  {
    auto s = open_ok(tmp.path(), small_options());
    write_batch w;
    add_all(w, chain);
    commit_ok(*s, std::move(w));
  }
  auto o = small_options();
  o.read_only = true;
  auto s = open_ok(tmp.path(), o);
  CHECK(s->read_only());
  CHECK(value_ok(s->change_count("doc")) == 3);
  CHECK(value_ok(s->load_frontier("doc")).at(a.pk).seq == 3);

  write_batch w;
  w.put_meta("x", "y");
  auto r = s->commit(std::move(w));
  REQUIRE_FALSE(r);
  CHECK(r.error().code == store_errc::read_only);
  auto c = s->compact("doc", {});
  REQUIRE_FALSE(c);
  CHECK(c.error().code == store_errc::read_only);
}

TEST_CASE("a read-only open without a store is a clear error", "[persistence][store]") {
  temp_dir tmp;
  store_options o;
  o.read_only = true;
  for (auto dir : {tmp.path(), tmp.sub("missing")}) {
    auto s = store::open(dir, o);
    REQUIRE_FALSE(s);
    CHECK(s.error().code == store_errc::not_found);
    CHECK_THAT(s.error().message, Catch::Contains(dir));
  }
  CHECK_FALSE(std::filesystem::exists(tmp.sub("missing")));  // nothing created
}

TEST_CASE("an unknown format version is refused, the data left unchanged", "[persistence][store]") {
  temp_dir tmp;
  { open_ok(tmp.path(), small_options()); }
  {  // a future build's store: format version 2, written with raw LMDB
    lmdb::env env;
    env.set_max_dbs(16);
    env.open(tmp.path(), 0, 0600);
    auto t = lmdb::txn::begin(env.handle());
    auto meta = lmdb::dbi::open(t, "meta");
    REQUIRE(meta);
    meta->put(t, "format_version", "2");
    t.commit();
  }
  auto read_file = [&] {
    std::ifstream in(tmp.sub("data.mdb"), std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
  };
  const auto before = read_file();
  const auto mtime = std::filesystem::last_write_time(tmp.sub("data.mdb"));

  for (auto [read_only, write_map] : {std::pair{false, false}, {true, false}, {false, true}}) {
    CAPTURE(read_only, write_map);
    auto o = small_options();
    o.read_only = read_only;
    o.write_map = write_map;  // which would resize data.mdb if the check came late
    auto s = store::open(tmp.path(), o);
    REQUIRE_FALSE(s);
    CHECK(s.error().code == store_errc::unsupported_format);
    CHECK_THAT(s.error().message, Catch::Contains("format version 2"));
    CHECK_THAT(s.error().message, Catch::Contains("supports format version 1"));
  }
  CHECK(read_file() == before);
  CHECK(std::filesystem::last_write_time(tmp.sub("data.mdb")) == mtime);
}

TEST_CASE("an LMDB environment that is not a store is refused", "[persistence][store]") {
  temp_dir tmp;
  {
    lmdb::env env;
    env.open(tmp.path(), 0, 0600);
    auto t = lmdb::txn::begin(env.handle());
    lmdb::dbi::open(t, nullptr)->put(t, "someone", "else");
    t.commit();
  }
  auto s = store::open(tmp.path(), small_options());
  REQUIRE_FALSE(s);
  CHECK(s.error().code == store_errc::unsupported_format);
  CHECK_THAT(s.error().message, Catch::Contains("not a starling store"));
}

TEST_CASE("stats count entries and commits", "[persistence][store]") {
  temp_dir tmp;
  auto s = open_ok(tmp.path(), small_options());
  auto before = value_ok(s->stats());
  CHECK(before.commits == 0);
  CHECK_FALSE(before.last_commit.has_value());
  CHECK(before.map_size == small_options().initial_map_size);

  auto a = author_key(1);
  write_batch w;
  for (const auto& c : make_chain("d1", a, 4)) w.add_change("d1", c);
  for (const auto& c : make_chain("d2", a, 2)) w.add_change("d2", c);
  w.put_peer(a.pk, "{}");
  w.put_trust(a.pk, "{}");
  w.put_token(crypto::blake2b_256("t"), "{}");
  auto t0 = std::chrono::system_clock::now();
  commit_ok(*s, std::move(w));

  auto st = value_ok(s->stats());
  CHECK(st.docs == 2);
  CHECK(st.changes == 6);
  CHECK(st.log_entries == 6);
  CHECK(st.snapshots == 0);
  CHECK(st.peers == 1);
  CHECK(st.trusted_keys == 1);
  CHECK(st.tokens == 1);
  CHECK(st.commits == 1);
  CHECK(st.map_resizes == 0);
  CHECK(st.used_bytes > 0);
  CHECK(st.used_bytes <= st.map_size);
  REQUIRE(st.last_commit.has_value());
  CHECK(*st.last_commit >= t0 - std::chrono::seconds(1));
}
