// CRDT benchmarks: in-memory apply, amortised vs per-change verification,
// memory per change. STARLING_BENCH_N sets the number of changes (default
// 1,000,000; 10 authors, one single-op change each, ~40-byte values).
#include <benchmark/benchmark.h>

#include <cstdio>
#include <cstdlib>
#include <malloc.h>

#include "crdt/document.hpp"
#include "crdt/verify.hpp"

using namespace starling;

namespace {

std::size_t bench_n() {
  const char* v = std::getenv("STARLING_BENCH_N");
  return v ? std::strtoull(v, nullptr, 10) : 1'000'000;
}

// Heap bytes in use (exact, unlike RSS, which keeps pages the allocator
// recycles between repetitions).
std::size_t heap_bytes() {
  auto m = mallinfo2();
  return m.uordblks + m.hblkhd;
}

// Built once: N signed changes from 10 authors, interleaved, as encodings.
const std::vector<bytes>& corpus() {
  static std::vector<bytes> enc = [] {
    const std::size_t n = bench_n();
    std::vector<crypto::keypair> keys;
    for (int a = 0; a < 10; ++a) {
      std::array<std::uint8_t, 32> seed{};
      seed[0] = static_cast<std::uint8_t>(a + 1);
      keys.push_back(crypto::keypair_from_seed(seed));
    }
    crdt::document_limits lim;
    lim.retain_log = false;
    crdt::document d("bench", lim);
    std::vector<bytes> out;
    out.reserve(n);
    const std::string value(40, 'v');
    std::fprintf(stderr, "building %zu signed changes...\n", n);
    for (std::size_t i = 0; i < n; ++i) {
      auto c = d.make_change({{crdt::mutation::kind::set, "/k" + std::to_string(i % 1000), value}},
                             keys[i % 10], 1'700'000'000'000ull + i / 10);
      out.push_back(crdt::encode(*c));
    }
    return out;
  }();
  return enc;
}

std::vector<crdt::change> decoded() {
  std::vector<crdt::change> out;
  out.reserve(corpus().size());
  for (auto& e : corpus()) out.push_back(*crdt::decode(e));
  return out;
}

void BM_decode_and_verify_amortised(benchmark::State& state) {
  const auto& enc = corpus();
  std::size_t sigs = 0;
  for (auto _ : state) {
    std::vector<crdt::change> cs;
    cs.reserve(enc.size());
    for (auto& e : enc) cs.push_back(*crdt::decode(e));
    auto v = crdt::verify_batch(cs);
    sigs = v.signatures_checked;
    benchmark::DoNotOptimize(v);
  }
  state.counters["changes/s"] = benchmark::Counter(static_cast<double>(enc.size()) * state.iterations(),
                                                   benchmark::Counter::kIsRate);
  state.counters["signatures"] = static_cast<double>(sigs);
}

void BM_decode_and_verify_each(benchmark::State& state) {
  const auto& enc = corpus();
  const std::size_t sample = std::min<std::size_t>(enc.size(), 20'000);
  for (auto _ : state) {
    std::size_t ok = 0;
    for (std::size_t i = 0; i < sample; ++i) ok += crdt::signature_valid(*crdt::decode(enc[i]));
    benchmark::DoNotOptimize(ok);
  }
  state.counters["changes/s"] =
      benchmark::Counter(static_cast<double>(sample) * state.iterations(), benchmark::Counter::kIsRate);
}

void BM_apply_in_memory(benchmark::State& state) {
  double per_change = 0;
  std::size_t n = 0;
  for (auto _ : state) {
    state.PauseTiming();
    auto before = heap_bytes();  // the input below is freed by apply_batch
    auto cs = decoded();
    n = cs.size();
    crdt::document_limits lim;
    lim.retain_log = state.range(0) != 0;
    crdt::document d("bench", lim);
    state.ResumeTiming();
    auto rep = d.apply_batch(std::move(cs));
    state.PauseTiming();
    if (rep.applied.size() != n) state.SkipWithError("not every change applied");
    per_change = static_cast<double>(heap_bytes() - before) / static_cast<double>(n);
    benchmark::DoNotOptimize(d.digest());
    state.ResumeTiming();
  }
  state.counters["changes/s"] = benchmark::Counter(static_cast<double>(n) * state.iterations(), benchmark::Counter::kIsRate);
  state.counters["heap_B/change"] = per_change;
}

void BM_local_write(benchmark::State& state) {
  std::array<std::uint8_t, 32> seed{};
  seed[0] = 42;
  auto k = crypto::keypair_from_seed(seed);
  crdt::document d("bench");
  std::int64_t i = 0;
  for (auto _ : state) {
    auto c = d.make_change({{crdt::mutation::kind::set, "/k" + std::to_string(i % 1000), i}}, k, 1000 + i);
    benchmark::DoNotOptimize(c);
    ++i;
  }
  state.counters["changes/s"] = benchmark::Counter(static_cast<double>(state.iterations()), benchmark::Counter::kIsRate);
}

}  // namespace

BENCHMARK(BM_decode_and_verify_amortised)->Unit(benchmark::kMillisecond)->Iterations(1)->Repetitions(3);
BENCHMARK(BM_decode_and_verify_each)->Unit(benchmark::kMillisecond)->Iterations(1)->Repetitions(3);
BENCHMARK(BM_apply_in_memory)->Arg(0)->Arg(1)->Unit(benchmark::kMillisecond)->Iterations(1)->Repetitions(3);
BENCHMARK(BM_local_write)->Unit(benchmark::kMicrosecond);

BENCHMARK_MAIN();
