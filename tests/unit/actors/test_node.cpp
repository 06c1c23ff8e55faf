// The embedded node: writes, reads, subscriptions, durability across a
// restart, group commit under concurrent writers, refusals.
#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <filesystem>
#include <mutex>
#include <thread>

#include "actors/embedded.hpp"
#include "support.hpp"

using namespace starling;
using starling::test::eventually;
using starling::test::temp_dir;
using crdt::mutation;
using nlohmann::json;

namespace {

actors::node_config config_for(const std::string& dir) {
  actors::node_config cfg;
  cfg.data_dir = dir;
  cfg.store.durability = persistence::durability_mode::nosync;  // tests: process crashes only
  return cfg;
}

mutation set(std::string p, json v) { return {mutation::kind::set, std::move(p), std::move(v)}; }

}  // namespace

TEST_CASE("an embedded node writes, reads and keeps its data across a restart", "[node]") {
  temp_dir dir;
  std::string id;
  hash256 last;
  {
    auto n = node::open(config_for(dir.path));
    REQUIRE(n);
    id = (*n)->id();
    CHECK(id.size() == 64);
    auto w = (*n)->write("notes", {set("/title", "hello"), set("/tags", json::array({"a"}))});
    REQUIRE(w);
    CHECK(w->at.size() == 1);
    last = w->hash;
    auto r = (*n)->read("notes", "/title");
    REQUIRE(r);
    CHECK(**r == "hello");
    auto missing = (*n)->read("notes", "/nope");
    REQUIRE(missing);
    CHECK_FALSE(missing->has_value());
  }
  auto n = node::open(config_for(dir.path));
  REQUIRE(n);
  CHECK((*n)->id() == id);  // the key file persists too
  auto r = (*n)->read("notes");
  REQUIRE(r);
  CHECK(**r == json::parse(R"({"title":"hello","tags":["a"]})"));
  auto st = (*n)->status();
  REQUIRE(st);
  REQUIRE(st->documents.size() == 1);
  CHECK(st->documents[0].changes == 1);
  CHECK(st->documents[0].at.begin()->second.hash == last);
}

TEST_CASE("bad writes are refused with the reason and change nothing", "[node]") {
  temp_dir dir;
  auto n = node::open(config_for(dir.path));
  REQUIRE(n);
  REQUIRE((*n)->write("d", {set("/a", 1)}));
  auto bad = (*n)->write("d", {set("/a/b", 2)});
  REQUIRE_FALSE(bad);
  CHECK_THAT(bad.error(), Catch::Contains("invalid_mutation"));
  CHECK_THAT(bad.error(), Catch::Contains("/a/b"));
  auto bad_name = (*n)->write("no/slash", {set("/a", 1)});
  REQUIRE_FALSE(bad_name);
  CHECK_THAT(bad_name.error(), Catch::Contains("invalid document name"));
  CHECK(**(*n)->read("d") == json::parse(R"({"a":1})"));
}

TEST_CASE("subscribers get committed changes, concurrent writers are all acknowledged", "[node]") {
  temp_dir dir;
  auto n = node::open(config_for(dir.path));
  REQUIRE(n);
  std::atomic<std::size_t> seen{0};
  auto sub = (*n)->subscribe("counter", [&](const std::string& doc, const std::vector<bytes>& changes) {
    CHECK(doc == "counter");
    seen += changes.size();
  });
  REQUIRE(sub);
  const int writers = 4, per_writer = 50;
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  for (int w = 0; w < writers; ++w)
    threads.emplace_back([&, w] {
      for (int i = 0; i < per_writer; ++i)
        if (!(*n)->write("counter", {{mutation::kind::inc, "/n", 1}, set("/w" + std::to_string(w), i)})) ++failures;
    });
  for (auto& t : threads) t.join();
  CHECK(failures == 0);
  CHECK(**(*n)->read("counter", "/n") == writers * per_writer);
  CHECK(eventually([&] { return seen.load() == writers * per_writer; }));
  (*n)->unsubscribe(*sub);
  auto st = (*n)->status();
  REQUIRE(st);
  CHECK(st->documents[0].changes == writers * per_writer);
}

TEST_CASE("writes in flight without waiting are acknowledged once each, in submission order", "[node]") {
  temp_dir dir;
  auto cfg = config_for(dir.path);
  cfg.store.durability = persistence::durability_mode::sync;  // in flight together, they share fsyncs
  auto n = node::open(cfg);
  REQUIRE(n);
  const int writes = 2000;
  std::mutex mu;
  std::condition_variable cv;
  int acked = 0, failed = 0;
  std::vector<std::uint64_t> seqs;  // the author's seq of each acknowledged change, in callback order
  for (int i = 0; i < writes; ++i)
    (*n)->write_async("flight", {{mutation::kind::inc, "/n", 1}, set("/last", i)},
                      [&](expected<write_result, std::string> r) {
                        std::lock_guard<std::mutex> lock(mu);
                        if (r) {
                          ++acked;
                          seqs.push_back(r->at.begin()->second.seq);  // the node is the only author
                        } else {
                          ++failed;
                        }
                        cv.notify_all();
                      });
  // A refused write gets its reason through the callback and changes nothing.
  std::string refusal;
  (*n)->write_async("flight", {set("no-slash", 1)}, [&](expected<write_result, std::string> r) {
    std::lock_guard<std::mutex> lock(mu);
    refusal = r ? std::string("accepted") : r.error();
    cv.notify_all();
  });
  {
    std::unique_lock<std::mutex> lock(mu);
    REQUIRE(cv.wait_for(lock, std::chrono::seconds(60), [&] { return acked + failed == writes && !refusal.empty(); }));
  }
  CHECK(failed == 0);
  CHECK(refusal != "accepted");
  CHECK(refusal.find("no-slash") != std::string::npos);
  // One author (the node), seqs 1..writes, acknowledged in order.
  REQUIRE(seqs.size() == static_cast<std::size_t>(writes));
  for (std::size_t i = 0; i < seqs.size(); ++i) CHECK(seqs[i] == i + 1);
  CHECK(**(*n)->read("flight", "/n") == writes);
  CHECK(**(*n)->read("flight", "/last") == writes - 1);
  auto st = (*n)->status();
  REQUIRE(st);
  CHECK(st->documents[0].changes == static_cast<std::size_t>(writes));
}
