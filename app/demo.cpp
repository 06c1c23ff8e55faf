// `starling demo`: three replicas in one process, each with its own LMDB
// store, write concurrently to one document and exchange changes through the
// store (changes_since), the wire codec (batch frames) and amortised
// verification, in a seeded random order. Then every replica restarts from
// its data directory alone, and all must show the same state and digest.
#include "app/demo.hpp"

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <random>
#include <unistd.h>

#include "auth/identity.hpp"
#include "crdt/document.hpp"
#include "persistence/store.hpp"
#include "protocol/binary.hpp"

namespace starling::app {

namespace {

namespace fs = std::filesystem;
const char* const doc_name = "todos";

struct replica {
  std::string name;
  auth::identity id;
  std::string dir;
  std::unique_ptr<persistence::store> store;
  crdt::document doc{doc_name};
};

// Rebuilds a document from what its store holds: the log in local order.
crdt::document load(const persistence::store& st) {
  crdt::document d(doc_name);
  std::vector<crdt::change> batch;
  auto r = st.load_log(doc_name, 0, [&](std::uint64_t, const hash256&, byte_view enc) {
    auto c = crdt::decode(enc);
    if (c) batch.push_back(std::move(*c));
    return true;
  });
  if (!r) throw std::runtime_error("load_log: " + r.error().message);
  d.apply_batch(std::move(batch));
  return d;
}

void commit(replica& r, const std::vector<crdt::change>& changes) {
  persistence::write_batch b;
  for (auto& c : changes) b.add_change(doc_name, c);
  auto res = r.store->commit(std::move(b));
  if (!res) throw std::runtime_error("commit: " + res.error().message);
}

// What `to` lacks from `from`, through store pages and wire frames.
std::size_t sync(replica& from, replica& to, std::mt19937_64& rng) {
  auto page = from.store->changes_since(doc_name, to.doc.current_frontier(), 1 << 20);
  std::size_t sent = 0;
  while (page && !page->changes.empty()) {
    for (auto& frame : protocol::encode_batches(doc_name, page->changes)) {
      auto batch = protocol::decode_batch(frame);
      if (!batch) throw std::runtime_error("decode_batch: " + batch.error().message);
      std::unordered_map<hash256, crdt::change, fixed_bytes_hasher> by_hash;
      for (auto& c : batch->changes) by_hash.emplace(c.hash, c);
      sent += batch->changes.size();
      auto rep = to.doc.apply_batch(std::move(batch->changes));
      std::vector<crdt::change> applied;
      for (auto& h : rep.applied) applied.push_back(by_hash.at(h));
      commit(to, applied);
    }
    if (!page->next) break;
    page = from.store->changes_since(doc_name, *page->next, 1 << 20);
  }
  (void)rng;
  return sent;
}

}  // namespace

int run_demo(const demo_options& opt) {
  using clock = std::chrono::steady_clock;
  auto started = clock::now();
  std::uint64_t seed = opt.seed ? opt.seed : std::random_device{}();
  std::mt19937_64 rng(seed);
  std::cout << "starling demo: 3 replicas, document '" << doc_name << "', seed " << seed
            << " (replay: starling demo --seed " << seed << ")\n";

  fs::path base = opt.dir.empty() ? fs::temp_directory_path() / ("starling-demo-" + std::to_string(::getpid()))
                                  : fs::path(opt.dir);
  fs::create_directories(base);
  std::vector<replica> rs;
  for (const char* n : {"ada", "bo", "cy"}) {
    std::array<std::uint8_t, 32> key_seed{};
    for (auto& b : key_seed) b = static_cast<std::uint8_t>(rng());
    replica r{n, auth::identity::from_seed(key_seed), (base / n).string(), nullptr};
    fs::create_directories(r.dir);
    auto st = persistence::store::open(r.dir);
    if (!st) {
      std::cerr << "starling demo: " << st.error().message << "\n";
      return 1;
    }
    r.store = std::move(*st);
    rs.push_back(std::move(r));
    std::cout << "  replica " << n << ": node " << rs.back().id.short_id() << ", data " << rs.back().dir << "\n";
  }

  auto write = [&](replica& r, std::vector<crdt::mutation> m) {
    auto c = r.doc.make_change(m, r.id.keys(), crdt::wall_clock_ms());
    if (!c) throw std::runtime_error(r.name + ": " + c.error().message + " at " + c.error().path);
    commit(r, {*c});  // acknowledged only after the commit
  };
  using K = crdt::mutation::kind;
  write(rs[0], {{K::set, "/title", "demo list"}, {K::set, "/items", nlohmann::json::array()},
               {K::set, "/done", nlohmann::json::object()}});
  sync(rs[0], rs[1], rng);
  sync(rs[0], rs[2], rng);

  std::size_t writes = 1, shipped = 0;
  for (int round = 0; round < opt.rounds; ++round) {
    // Everyone writes without seeing the others: concurrent changes.
    for (auto& r : rs) {
      auto n = static_cast<std::int64_t>(rng() % 3);
      write(r, {{K::ins, "/items/0", r.name + " task " + std::to_string(round)},
                {K::inc, "/done/" + r.name, n},
                {K::set, "/last_writer", r.name}});
      ++writes;
    }
    // Pairwise exchange in a random order.
    std::vector<std::pair<int, int>> links = {{0, 1}, {1, 0}, {1, 2}, {2, 1}, {0, 2}, {2, 0}};
    std::shuffle(links.begin(), links.end(), rng);
    for (auto [a, b] : links)
      if (rng() % 4 != 0) shipped += sync(rs[a], rs[b], rng);  // some links skip a round
  }
  for (int pass = 0; pass < 2; ++pass)
    for (int a = 0; a < 3; ++a)
      for (int b = 0; b < 3; ++b)
        if (a != b) shipped += sync(rs[a], rs[b], rng);
  auto converged_at = clock::now();

  // Restart: close every store and rebuild each replica from disk alone.
  for (auto& r : rs) r.store.reset();
  bool same = true;
  std::string ref_state;
  hash256 ref_digest;
  std::cout << "\nafter " << writes << " writes and " << shipped << " changes shipped, restarted from disk:\n";
  for (auto& r : rs) {
    auto st = persistence::store::open(r.dir);
    if (!st) {
      std::cerr << "starling demo: reopen: " << st.error().message << "\n";
      return 1;
    }
    auto d = load(**st);
    auto dump = d.state().dump();
    if (ref_state.empty()) ref_state = dump, ref_digest = d.digest();
    same = same && dump == ref_state && d.digest() == ref_digest && d.digest() == r.doc.digest();
    std::cout << "  " << r.name << ": " << d.change_count() << " changes, digest " << to_hex(d.digest()).substr(0, 16)
              << "\n";
  }
  std::cout << "\nstate:\n" << nlohmann::json::parse(ref_state).dump(2) << "\n";
  auto ms = [](auto d) { return std::chrono::duration_cast<std::chrono::milliseconds>(d).count(); };
  std::cout << "\n" << (same ? "converged" : "DIVERGED") << ": identical state and digest on all 3 replicas: "
            << (same ? "yes" : "no") << " (converged in " << ms(converged_at - started) << " ms, total "
            << ms(clock::now() - started) << " ms)\n";
  if (!opt.keep && opt.dir.empty()) fs::remove_all(base);
  return same ? 0 : 1;
}

}  // namespace starling::app
