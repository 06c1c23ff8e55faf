// Store throughput: group commit of 1 M changes (10 authors, one doc) in
// batches, per durability mode, and changes_since page throughput.
//
// The changes are built before timing. The store does not check signatures
// (the doc owner does, before committing), so they carry a dummy signature:
// building 1 M real ones would take ~14 s of setup for nothing measured.
#include <benchmark/benchmark.h>
#include <stdlib.h>

#include <filesystem>
#include <string>
#include <vector>

#include "crdt/change.hpp"
#include "crdt/crypto.hpp"
#include "persistence/store.hpp"

namespace {

using namespace starling;
using namespace starling::persistence;

constexpr std::size_t total_changes = 1'000'000;
constexpr std::size_t author_count = 10;

struct prebuilt_change {
  hash256 hash;
  public_key author;
  std::uint64_t seq;
  bytes encoded;
};

// The changes in the order a node would apply them: authors round-robin.
const std::vector<prebuilt_change>& changes() {
  static const std::vector<prebuilt_change> all = [] {
    std::vector<crypto::keypair> authors;
    for (std::size_t a = 0; a < author_count; ++a) {
      std::array<std::uint8_t, 32> seed{};
      seed.fill(static_cast<std::uint8_t>(a + 1));
      authors.push_back(crypto::keypair_from_seed(seed));
    }
    std::vector<hash256> prev(author_count);
    std::vector<prebuilt_change> out;
    out.reserve(total_changes);
    for (std::size_t i = 0; i < total_changes; ++i) {
      std::size_t a = i % author_count;
      crdt::change c;
      c.doc = "bench";
      c.author = authors[a].pk;
      c.seq = i / author_count + 1;
      c.prev = prev[a];
      c.time = (std::uint64_t{1700000000000} << 16) + i;
      crdt::op o;
      o.kind = crdt::op_kind::set;
      o.key = "k" + std::to_string(i % 16);
      o.value = static_cast<std::int64_t>(i);
      c.ops.push_back(o);
      c.hash = crdt::compute_hash(c);
      c.sig.v.fill(0x5a);
      prev[a] = c.hash;
      out.push_back({c.hash, c.author, c.seq, crdt::encode(c)});
    }
    return out;
  }();
  return all;
}

class temp_dir {
 public:
  temp_dir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "starling-bench-XXXXXX").string();
    if (!mkdtemp(tmpl.data())) std::abort();
    path_ = tmpl;
  }
  ~temp_dir() { std::filesystem::remove_all(path_); }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

std::unique_ptr<store> open_store(const std::string& dir, durability_mode mode, bool write_map) {
  store_options o;
  o.durability = mode;
  o.write_map = write_map;
  auto s = store::open(dir, o);
  if (!s) {
    std::fprintf(stderr, "open: %s\n", s.error().message.c_str());
    std::abort();
  }
  return std::move(*s);
}

void commit_all(store& s, std::size_t batch_size) {
  const auto& all = changes();
  for (std::size_t i = 0; i < all.size();) {
    write_batch b;
    b.reserve(batch_size);
    for (std::size_t n = 0; n < batch_size && i < all.size(); ++n, ++i)
      b.add_change("bench", all[i].hash, all[i].author, all[i].seq, all[i].encoded);
    auto r = s.commit(std::move(b));
    if (!r || r->duplicates != 0) {
      std::fprintf(stderr, "commit failed\n");
      std::abort();
    }
  }
}

// One iteration commits all 1 M changes into a fresh store.
// Args: batch size, sync (1) or nosync (0), write_map (1) or not (0).
void BM_group_commit(benchmark::State& state) {
  const auto batch_size = static_cast<std::size_t>(state.range(0));
  const auto mode = state.range(1) ? durability_mode::sync : durability_mode::nosync;
  const bool write_map = state.range(2) != 0;
  const auto& all = changes();
  std::size_t bytes_total = 0;
  for (const auto& c : all) bytes_total += c.encoded.size();
  for (auto _ : state) {
    state.PauseTiming();
    {
      temp_dir dir;
      auto s = open_store(dir.path(), mode, write_map);
      state.ResumeTiming();
      commit_all(*s, batch_size);
      state.PauseTiming();
    }
    state.ResumeTiming();
  }
  state.counters["changes/s"] = benchmark::Counter(
      static_cast<double>(all.size()) * state.iterations(), benchmark::Counter::kIsRate);
  state.counters["bytes/change"] = static_cast<double>(bytes_total) / all.size();
}
BENCHMARK(BM_group_commit)
    ->ArgNames({"batch", "sync", "write_map"})
    ->ArgsProduct({{1000, 10000}, {0, 1}, {0, 1}})
    ->Iterations(1)
    ->Repetitions(3)
    ->ReportAggregatesOnly(true)
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);

// A store holding the 1 M changes, shared by the changes_since benchmarks.
struct loaded_store {
  temp_dir dir;
  std::unique_ptr<store> s = open_store(dir.path(), durability_mode::nosync, false);
  loaded_store() { commit_all(*s, 10000); }
};
store& loaded() {
  static loaded_store l;
  return *l.s;
}

// A peer that has the first `have_percent` % of every author's chain catches
// up through pages of `page_bytes`; one iteration serves the whole delta.
void BM_changes_since(benchmark::State& state) {
  const auto page_bytes = static_cast<std::size_t>(state.range(0));
  const auto have_percent = static_cast<std::size_t>(state.range(1));
  store& s = loaded();
  const auto& all = changes();
  frontier theirs;
  const std::size_t have = total_changes * have_percent / 100 / author_count * author_count;
  for (std::size_t i = 0; i < have; ++i) theirs[all[i].author] = {all[i].seq, all[i].hash};

  std::size_t served = 0, served_bytes = 0, pages = 0;
  for (auto _ : state) {
    auto page = s.changes_since("bench", theirs, page_bytes);
    for (;;) {
      if (!page) std::abort();
      ++pages;
      served += page->changes.size();
      for (const auto& c : page->changes) served_bytes += c.size();
      benchmark::DoNotOptimize(page->changes.data());
      if (!page->next) break;
      page = s.changes_since("bench", *page->next, page_bytes);
    }
  }
  if (served != (total_changes - have) * state.iterations()) std::abort();
  state.counters["changes/s"] = benchmark::Counter(static_cast<double>(served), benchmark::Counter::kIsRate);
  state.counters["pages/s"] = benchmark::Counter(static_cast<double>(pages), benchmark::Counter::kIsRate);
  state.SetBytesProcessed(static_cast<std::int64_t>(served_bytes));
}
BENCHMARK(BM_changes_since)
    ->ArgNames({"page_bytes", "have_pct"})
    ->Args({1 << 20, 0})
    ->Args({1 << 20, 90})
    ->Args({64 << 10, 99})
    ->Repetitions(3)
    ->ReportAggregatesOnly(true)
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
