// changes_since: exactly the missing set, in log order, in bounded pages.
#include <catch2/catch.hpp>

#include <cstdlib>
#include <random>

#include "support.hpp"

using namespace starling;
using namespace starling::persistence;
using namespace starling::persistence::test;

namespace {

std::uint64_t test_seed(std::uint64_t fallback) {
  const char* env = std::getenv("STARLING_TEST_SEED");
  return env ? std::strtoull(env, nullptr, 10) : fallback;
}

// A doc written by several authors, their changes interleaved at random (each
// author's in seq order), committed in random batch sizes. `log` is the order
// the store applied them.
struct fixture {
  temp_dir tmp;
  std::unique_ptr<store> s = open_ok(tmp.path(), small_options());
  std::vector<crypto::keypair> authors;
  std::vector<std::vector<crdt::change>> chains;
  std::vector<crdt::change> log;

  fixture(std::mt19937_64& rng, const std::vector<std::size_t>& lengths) {
    for (std::size_t i = 0; i < lengths.size(); ++i) {
      authors.push_back(author_key(static_cast<std::uint8_t>(i + 1)));
      chains.push_back(make_chain("doc", authors.back(), lengths[i]));
    }
    std::vector<std::size_t> next(lengths.size(), 0);
    std::size_t left = 0;
    for (auto n : lengths) left += n;
    while (left > 0) {
      std::size_t a = rng() % lengths.size();
      if (next[a] == lengths[a]) continue;
      log.push_back(chains[a][next[a]++]);
      --left;
    }
    for (std::size_t i = 0; i < log.size();) {
      write_batch b;
      std::size_t n = 1 + rng() % 20;
      for (; n > 0 && i < log.size(); --n, ++i) b.add_change("doc", log[i]);
      commit_ok(*s, std::move(b));
    }
  }

  std::vector<bytes> missing(const frontier& theirs) const {
    std::vector<bytes> out;
    for (const auto& c : log) {
      auto it = theirs.find(c.author);
      if (it == theirs.end() || c.seq > it->second.seq) out.push_back(crdt::encode(c));
    }
    return out;
  }
};

// Fetches every page, checking each page's size bound; returns them joined.
std::vector<bytes> all_pages(const store& s, const frontier& theirs, std::size_t max_bytes,
                             std::size_t* pages = nullptr) {
  std::vector<bytes> out;
  auto page = value_ok(s.changes_since("doc", theirs, max_bytes));
  std::size_t count = 0;
  for (;;) {
    ++count;
    CHECK_FALSE(page.behind_horizon);
    std::size_t total = 0;
    for (const auto& c : page.changes) total += c.size();
    if (page.changes.size() > 1) CHECK(total <= max_bytes);
    out.insert(out.end(), page.changes.begin(), page.changes.end());
    if (!page.next) break;
    CHECK_FALSE(page.changes.empty());
    page = value_ok(s.changes_since("doc", *page.next, max_bytes));
  }
  if (pages) *pages = count;
  return out;
}

}  // namespace

TEST_CASE("changes_since serves exactly the missing changes, in log order, in pages",
          "[persistence][changes_since]") {
  const auto seed = test_seed(20240611);
  CAPTURE(seed);
  std::mt19937_64 rng(seed);
  fixture fx(rng, {40, 25, 60, 10});
  const std::size_t change_size = crdt::encode(fx.log[0]).size();

  for (int trial = 0; trial < 150; ++trial) {
    CAPTURE(trial);
    frontier theirs;
    for (std::size_t a = 0; a < fx.chains.size(); ++a) {
      std::size_t seq = rng() % (fx.chains[a].size() + 1);
      if (seq > 0 && rng() % 4 != 0) theirs[fx.authors[a].pk] = {seq, fx.chains[a][seq - 1].hash};
    }
    if (rng() % 3 == 0) theirs[author_key(99).pk] = {5, hash256{}};  // an author we never saw
    std::size_t max_bytes = 1 + rng() % (8 * change_size);

    std::size_t pages = 0;
    auto got = all_pages(*fx.s, theirs, max_bytes, &pages);
    auto want = fx.missing(theirs);
    CHECK(got == want);
    if (!want.empty()) {
      std::size_t per_page = std::max<std::size_t>(1, max_bytes / change_size);
      CHECK(pages == (want.size() + per_page - 1) / per_page);
    }
  }
}

TEST_CASE("changes_since edge cases", "[persistence][changes_since]") {
  std::mt19937_64 rng(7);
  fixture fx(rng, {5, 5});
  frontier all;
  for (std::size_t a = 0; a < 2; ++a) all[fx.authors[a].pk] = {5, fx.chains[a][4].hash};

  SECTION("nothing missing: one empty page") {
    auto p = value_ok(fx.s->changes_since("doc", all, 1000));
    CHECK(p.changes.empty());
    CHECK_FALSE(p.next);
    CHECK_FALSE(p.behind_horizon);
  }
  SECTION("an unknown doc: one empty page") {
    auto p = value_ok(fx.s->changes_since("nothing", frontier{}, 1000));
    CHECK(p.changes.empty());
    CHECK_FALSE(p.next);
  }
  SECTION("an empty frontier gets the whole log; a large page holds all of it") {
    auto p = value_ok(fx.s->changes_since("doc", frontier{}, 1 << 20));
    CHECK(p.changes == fx.missing({}));
    CHECK_FALSE(p.next);
  }
  SECTION("a page bound smaller than one change still makes progress") {
    std::size_t pages = 0;
    CHECK(all_pages(*fx.s, frontier{}, 1, &pages) == fx.missing({}));
    CHECK(pages == 10);
  }
  SECTION("a peer ahead of us for an author gets nothing of that author") {
    frontier theirs{{fx.authors[0].pk, {50, hash256{}}}};
    CHECK(all_pages(*fx.s, theirs, 1000) == fx.missing(theirs));
  }
}

TEST_CASE("a continuation serves the missing set as of its first page", "[persistence][changes_since]") {
  std::mt19937_64 rng(11);
  fixture fx(rng, {20, 20});
  const frontier theirs{{fx.authors[0].pk, {5, fx.chains[0][4].hash}}};
  const auto want = fx.missing(theirs);
  const std::size_t change_size = want[0].size();

  auto page = value_ok(fx.s->changes_since("doc", theirs, 3 * change_size));
  REQUIRE(page.changes.size() == 3);
  REQUIRE(page.next);
  std::vector<bytes> got = page.changes;

  // Writes between pages: more of author 0, and a new author.
  auto more = make_chain("doc", fx.authors[0], 3, 21, fx.chains[0].back().hash);
  auto newcomer = make_chain("doc", author_key(50), 2);
  write_batch b;
  for (const auto& c : more) b.add_change("doc", c);
  for (const auto& c : newcomer) b.add_change("doc", c);
  commit_ok(*fx.s, std::move(b));

  while (page.next) {
    page = value_ok(fx.s->changes_since("doc", *page.next, 3 * change_size));
    got.insert(got.end(), page.changes.begin(), page.changes.end());
  }
  CHECK(got == want);

  // A fresh request sees the new changes, at the end of the log.
  auto fresh = value_ok(fx.s->changes_since("doc", theirs, 1 << 20));
  REQUIRE(fresh.changes.size() == want.size() + 5);
  CHECK(fresh.changes.back() == crdt::encode(newcomer.back()));
}

TEST_CASE("changes_since steps over what the peer has, and merges by author where that is most of the log",
          "[persistence][changes_since]") {
  const auto seed = test_seed(20261121);
  CAPTURE(seed);
  std::mt19937_64 rng(seed);
  // A busy author and a quiet one, interleaved: a peer holding all of the
  // busy one's changes lacks a few changes spread over the whole log.
  fixture fx(rng, {3000, 40});
  const std::size_t change_size = crdt::encode(fx.log[0]).size();
  for (int trial = 0; trial < 12; ++trial) {
    CAPTURE(trial);
    frontier theirs;
    std::size_t busy = trial < 6 ? 3000 : rng() % 3001, quiet = rng() % 41;
    if (busy > 0) theirs[fx.authors[0].pk] = {busy, fx.chains[0][busy - 1].hash};
    if (quiet > 0) theirs[fx.authors[1].pk] = {quiet, fx.chains[1][quiet - 1].hash};
    std::size_t max_bytes = trial % 2 ? 1 << 20 : 1 + rng() % (16 * change_size);
    CHECK(all_pages(*fx.s, theirs, max_bytes) == fx.missing(theirs));
  }
}
