// Paging through documents in name order, and the one-name existence check.
// STARLING_SEED=<n> replays the random names of a run.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cstdlib>
#include <iostream>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "support.hpp"

using namespace starling;
using namespace starling::persistence;
using namespace starling::persistence::test;

namespace {

// Every page from the start, `limit` names at a time.
std::vector<std::string> all_pages(const store& s, std::size_t limit) {
  std::vector<std::string> out;
  std::string after;
  for (;;) {
    auto page = value_ok(s.list_docs(after, limit));
    REQUIRE(page.size() <= limit);
    out.insert(out.end(), page.begin(), page.end());
    if (page.size() < limit) return out;
    after = page.back();
  }
}

}  // namespace

TEST_CASE("list_docs pages through names in name order across name lengths", "[persistence][store]") {
  unsigned seed = std::random_device{}();
  if (const char* e = std::getenv("STARLING_SEED")) seed = static_cast<unsigned>(std::strtoul(e, nullptr, 10));
  std::cout << "list_docs: STARLING_SEED=" << seed << "\n";
  INFO("STARLING_SEED=" << seed);
  std::mt19937 rng(seed);
  const std::string alphabet = "-.0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ_abcdefghijklmnopqrstuvwxyz";
  // Prefixes of one another and names of every length, so that the runs of
  // different lengths interleave.
  std::set<std::string> names{"a", "a.b", "ab", "b", "a-", "a0", "z", "zz", std::string(128, 'z'), std::string(127, 'a')};
  while (names.size() < 400) {
    std::size_t len = 1 + rng() % (rng() % 4 == 0 ? 128 : 6);
    std::string n;
    for (std::size_t i = 0; i < len; ++i) n += alphabet[rng() % alphabet.size()];
    names.insert(n);
  }
  temp_dir tmp;
  auto s = open_ok(tmp.path(), small_options());
  auto a = author_key(1);
  write_batch w;
  for (const auto& d : names)
    for (const auto& c : make_chain(d, a, 1)) w.add_change(d, c);
  commit_ok(*s, std::move(w));

  const std::vector<std::string> sorted(names.begin(), names.end());
  for (std::size_t limit : {1, 2, 7, 100, 399, 400, 1000}) {
    INFO("limit " << limit);
    CHECK(all_pages(*s, limit) == sorted);
  }
  // From any name, present or not: the names after it.
  for (int i = 0; i < 200; ++i) {
    std::string after;
    if (i % 2 == 0) after = sorted[rng() % sorted.size()];
    else
      for (std::size_t len = 1 + rng() % 8; len > 0; --len) after += alphabet[rng() % alphabet.size()];
    INFO("after '" << after << "'");
    auto page = value_ok(s->list_docs(after, 5));
    auto from = std::upper_bound(sorted.begin(), sorted.end(), after);
    std::vector<std::string> expect(from, from + std::min<std::ptrdiff_t>(5, sorted.end() - from));
    CHECK(page == expect);
  }
  CHECK(value_ok(s->list_docs("", 0)).empty());
  CHECK(value_ok(s->list_docs(std::string(128, 'z'), 10)).empty());
}

TEST_CASE("has_doc looks up one name", "[persistence][store]") {
  temp_dir tmp;
  auto s = open_ok(tmp.path(), small_options());
  CHECK_FALSE(value_ok(s->has_doc("d")));
  write_batch w;
  for (const auto& c : make_chain("d", author_key(1), 2)) w.add_change("d", c);
  commit_ok(*s, std::move(w));
  CHECK(value_ok(s->has_doc("d")));
  CHECK_FALSE(value_ok(s->has_doc("e")));
  CHECK_FALSE(value_ok(s->has_doc("d.")));
  auto bad = s->has_doc("no/slash");
  REQUIRE_FALSE(bad);
  CHECK(bad.error().code == store_errc::invalid_argument);
}
