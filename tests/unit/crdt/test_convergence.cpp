// Randomized convergence: seeded replicas write random mutations of every
// kind while changes are delivered in random order, with duplicates, delays
// and batches; at the end every replica must hold byte-identical state.
//
// STARLING_SEED=<n>   run only seed n (replay a failure)
// STARLING_SEEDS=<k>  number of seeds (default 1000)
#include <catch2/catch.hpp>

#include <cstdlib>
#include <iostream>
#include <random>

#include "helpers.hpp"

using namespace starling;
using namespace starling::test;
using crdt::document;

namespace {

std::uint64_t env_u64(const char* name, std::uint64_t fallback) {
  const char* v = std::getenv(name);
  return v && *v ? std::strtoull(v, nullptr, 10) : fallback;
}

std::string escape(const std::string& k) {
  std::string out;
  for (char c : k) {
    if (c == '~') out += "~0";
    else if (c == '/') out += "~1";
    else out += c;
  }
  return out;
}

void containers(const nlohmann::json& j, const std::string& path, std::vector<std::pair<std::string, const nlohmann::json*>>& out) {
  out.push_back({path, &j});
  if (j.is_object())
    for (auto it = j.begin(); it != j.end(); ++it)
      if (it->is_structured()) containers(*it, path + "/" + escape(it.key()), out);
  if (j.is_array())
    for (std::size_t i = 0; i < j.size(); ++i)
      if (j[i].is_structured()) containers(j[i], path + "/" + std::to_string(i), out);
}

struct sim {
  std::mt19937_64 rng;
  explicit sim(std::uint64_t seed) : rng(seed) {}

  std::size_t pick(std::size_t n) { return std::uniform_int_distribution<std::size_t>(0, n - 1)(rng); }
  bool chance(double p) { return std::bernoulli_distribution(p)(rng); }

  nlohmann::json value(int depth = 0) {
    switch (pick(depth > 1 ? 6 : 8)) {
      case 0: return static_cast<std::int64_t>(pick(201)) - 100;
      case 1: return static_cast<double>(pick(1000)) / 8.0;
      case 2: return "s" + std::to_string(pick(50));
      case 3: return chance(0.5);
      case 4: return nullptr;
      case 5: return "\xc3\xa9t\xc3\xa9";
      case 6: return {{"k" + std::to_string(pick(3)), value(depth + 1)}};
      default: return nlohmann::json::array({value(depth + 1), value(depth + 1)});
    }
  }

  crdt::mutation mutation_for(const nlohmann::json& st) {
    static const char* keys[] = {"a", "b", "c", "n", "l", "m", "x/y", "p~q"};
    std::vector<std::pair<std::string, const nlohmann::json*>> cs;
    containers(st, "", cs);
    // Half the time the shared list, so that concurrent inserts at the same
    // place (RGA's hard case) happen often.
    std::size_t which = pick(cs.size());
    if (st.contains("shared") && st["shared"].is_array() && chance(0.5))
      for (std::size_t i = 0; i < cs.size(); ++i)
        if (cs[i].first == "/shared") which = i;
    auto& [path, node] = cs[which];
    if (node->is_object()) {
      std::string key = keys[pick(8)];
      if (!node->empty() && chance(0.5)) {
        auto it = node->begin();
        std::advance(it, pick(node->size()));
        key = it.key();
      }
      std::string p = path + "/" + escape(key);
      switch (pick(6)) {
        case 0: return del(p);
        case 1: return inc(p, static_cast<std::int64_t>(pick(10)) - 3);
        case 2: return set(p, nlohmann::json::array({1, 2}));
        default: return set(p, value());
      }
    }
    std::size_t n = node->size();
    std::string idx = std::to_string(n ? pick(n) : 0);
    switch (pick(6)) {
      case 0: return rm(path + "/" + idx);
      case 1: return set(path + "/" + idx, value());
      case 2: return inc(path + "/" + idx, 1);
      case 3: return ins(path + "/-", value());
      default: return ins(path + "/" + std::to_string(pick(n + 1)), value());
    }
  }
};

struct message {
  std::size_t to;
  bytes change;
};

// Returns an empty string on success, else what diverged.
std::string run_seed(std::uint64_t seed) {
  sim s(seed);
  const std::size_t replicas = 5 + s.pick(3);
  std::vector<document> docs;
  std::vector<crypto::keypair> keys;
  for (std::size_t i = 0; i < replicas; ++i) {
    docs.emplace_back("conv");
    keys.push_back(key(static_cast<std::uint8_t>(i + 1)));
  }
  std::vector<message> net;
  std::size_t made = 1;
  std::uint64_t wall = 1'000'000;
  {  // a common starting point everyone has
    auto c0 = docs[0].make_change({set("/shared", nlohmann::json::array({"x", "y"}))}, keys[0], wall);
    for (std::size_t r = 1; r < replicas; ++r) docs[r].apply(*c0);
  }
  auto deliver = [&](std::size_t count) {
    for (std::size_t k = 0; k < count && !net.empty(); ++k) {
      std::size_t i = s.pick(net.size());
      message m = std::move(net[i]);
      net.erase(net.begin() + static_cast<std::ptrdiff_t>(i));
      if (s.chance(0.05)) {  // dropped: the sender retries later
        net.push_back(std::move(m));
        continue;
      }
      if (s.chance(0.3)) {  // a batch of everything queued for this replica
        std::vector<crdt::change> batch;
        batch.push_back(*crdt::decode(m.change));
        for (std::size_t j = 0; j < net.size();) {
          if (net[j].to == m.to && s.chance(0.5)) {
            batch.push_back(*crdt::decode(net[j].change));
            net.erase(net.begin() + static_cast<std::ptrdiff_t>(j));
          } else {
            ++j;
          }
        }
        std::vector<bytes> encoded;
        for (auto& c : batch) encoded.push_back(crdt::encode(c));
        auto rep = docs[m.to].apply_batch(std::move(batch));
        // A batch must hold contiguous runs per author; what it refused for a
        // gap the sender delivers again, as a peer does after an error frame.
        for (std::size_t j = 0; j < rep.outcomes.size(); ++j)
          if (rep.outcomes[j].reason == crdt::refusal::chain_gap) net.push_back({m.to, encoded[j]});
      } else {
        auto c = crdt::decode(m.change);
        if (!c) return std::string("decode failed: ") + c.error().message;
        docs[m.to].apply(std::move(*c));
      }
    }
    return std::string();
  };
  const std::size_t steps = 30 + s.pick(40);
  for (std::size_t step = 0; step < steps; ++step) {
    if (s.chance(0.6)) {
      std::size_t w = s.pick(replicas);
      auto st = docs[w].state();
      std::vector<crdt::mutation> batch;
      for (std::size_t k = 0, n = 1 + s.pick(3); k < n; ++k) batch.push_back(s.mutation_for(st));
      auto before = docs[w].digest();
      auto frontier_before = docs[w].current_frontier();
      wall += s.pick(3);  // clocks tick slowly: many equal millis
      auto c = docs[w].make_change(batch, keys[w], wall - s.pick(2) * 5);
      if (!c) {
        if (docs[w].digest() != before || docs[w].current_frontier() != frontier_before)
          return "a refused mutation changed the document: " + c.error().message;
        continue;
      }
      ++made;
      bytes enc = crdt::encode(*c);
      for (std::size_t r = 0; r < replicas; ++r) {
        if (r == w) continue;
        net.push_back({r, enc});
        if (s.chance(0.1)) net.push_back({r, enc});  // duplicate
      }
    } else {
      auto e = deliver(1 + s.pick(6));
      if (!e.empty()) return e;
    }
  }
  while (!net.empty()) {
    auto e = deliver(net.size());
    if (!e.empty()) return e;
  }
  const auto ref_state = docs[0].state().dump();
  for (std::size_t r = 0; r < replicas; ++r) {
    if (docs[r].pending_count() != 0) return "replica " + std::to_string(r) + " has pending changes";
    if (docs[r].change_count() != made) return "replica " + std::to_string(r) + " misses changes";
    if (docs[r].state().dump() != ref_state)
      return "replica " + std::to_string(r) + " state differs:\n  " + docs[r].state().dump() + "\n  " + ref_state;
    if (docs[r].digest() != docs[0].digest()) return "digest differs";
    if (docs[r].current_frontier() != docs[0].current_frontier()) return "frontier differs";
  }
  // The snapshot of a converged replica is the same document.
  auto snap = crdt::document::from_snapshot("conv", docs[0].snapshot());
  if (!snap) return "snapshot: " + snap.error();
  if (snap->digest() != docs[0].digest() || snap->current_frontier() != docs[0].current_frontier())
    return "snapshot differs";
  return {};
}

}  // namespace

TEST_CASE("replicas converge under random delivery", "[convergence]") {
  const std::uint64_t only = env_u64("STARLING_SEED", 0);
  const std::uint64_t seeds = env_u64("STARLING_SEEDS", 1000);
  const std::uint64_t first = only ? only : 1;
  const std::uint64_t last = only ? only : seeds;
  std::cout << "convergence: seeds " << first << ".." << last << " (replay one: STARLING_SEED=<n> unit_crdt "
            << "'[convergence]')\n";
  std::size_t failures = 0;
  for (std::uint64_t seed = first; seed <= last; ++seed) {
    auto err = run_seed(seed);
    if (!err.empty()) {
      ++failures;
      FAIL_CHECK("seed " << seed << " diverged: " << err << "\n  replay: STARLING_SEED=" << seed
                         << " ./tests/unit/crdt/unit_crdt '[convergence]'");
      if (failures >= 3) break;
    }
  }
  CHECK(failures == 0);
}
