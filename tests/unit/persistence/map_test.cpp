// Map growth on MDB_MAP_FULL, its limit, and readers running while it grows.
#include <catch2/catch.hpp>

#include <atomic>
#include <thread>

#include "support.hpp"

using namespace starling;
using namespace starling::persistence;
using namespace starling::persistence::test;

namespace {

constexpr std::size_t tiny_map = 64 << 10;  // 16 pages: enough to create the store

store_options tiny_options(bool write_map, std::size_t max = std::size_t{256} << 20) {
  auto o = small_options();
  o.write_map = write_map;
  o.initial_map_size = tiny_map;
  o.max_map_size = max;
  return o;
}

std::vector<crdt::change> many_changes(const std::string& doc, std::size_t authors, std::size_t each) {
  std::vector<crdt::change> out;
  for (std::size_t a = 0; a < authors; ++a) {
    auto chain = make_chain(doc, author_key(static_cast<std::uint8_t>(a + 1)), each);
    out.insert(out.end(), chain.begin(), chain.end());
  }
  return out;
}

}  // namespace

TEST_CASE("the map doubles as needed and everything survives reopen", "[persistence][map]") {
  const bool write_map = GENERATE(false, true);
  temp_dir tmp;
  const auto changes = many_changes("grow", 3, 800);
  {
    auto s = open_ok(tmp.path(), tiny_options(write_map));
    CHECK(value_ok(s->stats()).map_size == tiny_map);
    for (std::size_t i = 0; i < changes.size();) {
      write_batch w;
      for (std::size_t n = 0; n < 100 && i < changes.size(); ++n, ++i) w.add_change("grow", changes[i]);
      CHECK(commit_ok(*s, std::move(w)).stored == 100);
    }
    auto st = value_ok(s->stats());
    CHECK(st.map_resizes >= 3);
    CHECK(st.map_size >= tiny_map << 3);
    CHECK(st.changes == changes.size());
  }
  auto s = open_ok(tmp.path(), tiny_options(write_map));
  CHECK(value_ok(s->change_count("grow")) == changes.size());
  std::size_t replayed = 0;
  value_ok(s->load_log("grow", 0, [&](std::uint64_t i, const hash256& h, byte_view) {
    CHECK(h == changes[i].hash);
    ++replayed;
    return true;
  }));
  CHECK(replayed == changes.size());
  for (const auto& c : changes)
    if (!value_ok(s->has_change("grow", c.author, c.seq, c.hash))) FAIL("missing change seq " << c.seq);
}

TEST_CASE("one batch larger than the map is retried until it fits", "[persistence][map]") {
  const bool write_map = GENERATE(false, true);
  temp_dir tmp;
  const auto changes = many_changes("big", 2, 1000);
  auto s = open_ok(tmp.path(), tiny_options(write_map));
  write_batch w;
  for (const auto& c : changes) w.add_change("big", c);
  auto r = commit_ok(*s, std::move(w));
  CHECK(r.stored == changes.size());
  CHECK(value_ok(s->stats()).map_resizes >= 3);
  CHECK(value_ok(s->stats()).commits == 1);
}

TEST_CASE("at max_map_size a batch fails map_full and leaves nothing behind", "[persistence][map]") {
  const bool write_map = GENERATE(false, true);
  temp_dir tmp;
  const auto changes = many_changes("full", 1, 2000);
  auto s = open_ok(tmp.path(), tiny_options(write_map, tiny_map * 4));
  write_batch w;
  for (const auto& c : changes) w.add_change("full", c);
  w.put_meta("marker", "x");
  auto r = s->commit(std::move(w));
  REQUIRE_FALSE(r);
  CHECK(r.error().code == store_errc::map_full);
  CHECK_THAT(r.error().message, Catch::Contains("max_map_size"));
  CHECK(value_ok(s->change_count("full")) == 0);
  CHECK(value_ok(s->list_docs()).empty());
  CHECK_FALSE(value_ok(s->get_meta("marker")).has_value());

  write_batch small;  // the store stays usable
  for (std::size_t i = 0; i < 10; ++i) small.add_change("full", changes[i]);
  CHECK(commit_ok(*s, std::move(small)).stored == 10);
}

TEST_CASE("readers on other threads run while the writer grows the map", "[persistence][map]") {
  const bool write_map = GENERATE(false, true);
  temp_dir tmp;
  const auto changes = many_changes("shared", 2, 1000);
  auto s = open_ok(tmp.path(), tiny_options(write_map));
  {
    write_batch w;
    w.add_change("shared", changes[0]);
    commit_ok(*s, std::move(w));
  }
  const auto first = crdt::encode(changes[0]);

  std::atomic<bool> writing{true};
  std::atomic<int> failures{0};
  std::atomic<std::uint64_t> reads{0};
  auto reader = [&] {
    std::uint64_t last_count = 0;
    while (writing.load()) {
      auto count = s->change_count("shared");
      auto f = s->load_frontier("shared");
      auto c = s->get_change("shared", changes[0].author, changes[0].seq);
      auto page = s->changes_since("shared", frontier{}, 4096);
      if (!count || !f || !c || !page || *c != std::optional<bytes>(first) || *count < last_count ||
          page->changes.empty() || page->changes[0] != first)
        ++failures;
      else
        last_count = *count;
      ++reads;
    }
  };
  std::thread r1(reader), r2(reader);
  // Commits are fast enough to finish before a reader thread is scheduled:
  // start writing once the readers run.
  while (reads.load() == 0) std::this_thread::yield();
  for (std::size_t i = 1; i < changes.size();) {
    write_batch w;
    for (std::size_t n = 0; n < 50 && i < changes.size(); ++n, ++i) w.add_change("shared", changes[i]);
    commit_ok(*s, std::move(w));
  }
  writing = false;
  r1.join();
  r2.join();
  CHECK(failures.load() == 0);
  CHECK(reads.load() > 0);
  CHECK(value_ok(s->stats()).map_resizes >= 3);
  CHECK(value_ok(s->change_count("shared")) == changes.size());
}
