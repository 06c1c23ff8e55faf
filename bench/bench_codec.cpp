// Micro-benchmarks of the wire codecs: one change encoded and decoded (the
// typical one-set change and a ten-op change), a 1000-change batch frame
// decoded, and control frames. Decoding includes the BLAKE2b-256 hash of each
// change (it is the change id) but not signature checks.
//
// Counters: "per_change" is the time per change (lower is better).
#include <benchmark/benchmark.h>

#include "crdt/change.hpp"
#include "protocol/binary.hpp"
#include "protocol/control.hpp"

using namespace starling;

namespace {

crypto::keypair bench_keys() {
  std::array<std::uint8_t, 32> seed;
  seed.fill(7);
  return crypto::keypair_from_seed(seed);
}

crdt::change base_change(const crypto::keypair& kp, std::uint64_t seq, const hash256& prev) {
  crdt::change c;
  c.doc = "bench-doc";
  c.author = kp.pk;
  c.seq = seq;
  c.prev = prev;
  c.time = (std::uint64_t(1700000000000) + seq) << 16;
  return c;
}

crdt::op set_op(crdt::op_ref obj, std::string key, crdt::scalar v) {
  crdt::op o;
  o.kind = crdt::op_kind::set;
  o.obj = obj;
  o.key = std::move(key);
  o.value = std::move(v);
  return o;
}

// One `set` of a ~40-byte string value at the root.
crdt::change one_set_change(const crypto::keypair& kp, std::uint64_t seq, const hash256& prev) {
  auto c = base_change(kp, seq, prev);
  c.ops.push_back(set_op(crdt::op_ref::none(), "title", std::string("Buy oat milk and coffee beans on Friday")));
  crdt::sign(c, kp);
  return c;
}

// Ten ops: a map and a list created, keys set, list items inserted.
crdt::change ten_op_change(const crypto::keypair& kp) {
  auto c = base_change(kp, 2, crypto::blake2b_256("prev"));
  c.deps = {crypto::blake2b_256("dep-a"), crypto::blake2b_256("dep-b")};
  if (c.deps[1] < c.deps[0]) std::swap(c.deps[0], c.deps[1]);
  crdt::op mk;
  mk.kind = crdt::op_kind::make_map;
  mk.key = "task";
  c.ops.push_back(mk);
  c.ops.push_back(set_op(crdt::op_ref::self(0), "title", std::string("Write the quarterly report")));
  c.ops.push_back(set_op(crdt::op_ref::self(0), "done", false));
  c.ops.push_back(set_op(crdt::op_ref::self(0), "priority", std::int64_t(3)));
  c.ops.push_back(set_op(crdt::op_ref::self(0), "estimate", 2.5));
  crdt::op list;
  list.kind = crdt::op_kind::make_list;
  list.obj = crdt::op_ref::self(0);
  list.key = "tags";
  c.ops.push_back(list);
  for (std::uint32_t i = 0; i < 3; ++i) {
    crdt::op ins;
    ins.kind = crdt::op_kind::ins;
    ins.obj = crdt::op_ref::self(5);
    ins.place = crdt::place_kind::list_after;
    ins.elem = i == 0 ? crdt::op_ref::none() : crdt::op_ref::self(5 + i);
    ins.value = std::string("tag-") + std::to_string(i);
    c.ops.push_back(ins);
  }
  c.ops.push_back(set_op(crdt::op_ref::self(0), "owner", std::string("ops-team")));
  crdt::sign(c, kp);
  return c;
}

void per_change(benchmark::State& state, std::size_t changes_per_iteration) {
  state.counters["per_change"] = benchmark::Counter(
      static_cast<double>(changes_per_iteration),
      benchmark::Counter::kIsIterationInvariantRate | benchmark::Counter::kInvert);
}

void BM_change_encode_one_set(benchmark::State& state) {
  auto c = one_set_change(bench_keys(), 1, {});
  for (auto _ : state) benchmark::DoNotOptimize(crdt::encode(c));
  state.counters["bytes"] = static_cast<double>(crdt::encode(c).size());
  per_change(state, 1);
}

void BM_change_decode_one_set(benchmark::State& state) {
  auto encoded = crdt::encode(one_set_change(bench_keys(), 1, {}));
  for (auto _ : state) {
    auto c = crdt::decode(encoded);
    if (!c) state.SkipWithError("decode failed");
    benchmark::DoNotOptimize(c);
  }
  per_change(state, 1);
}

void BM_change_encode_ten_ops(benchmark::State& state) {
  auto c = ten_op_change(bench_keys());
  for (auto _ : state) benchmark::DoNotOptimize(crdt::encode(c));
  state.counters["bytes"] = static_cast<double>(crdt::encode(c).size());
  per_change(state, 1);
}

void BM_change_decode_ten_ops(benchmark::State& state) {
  auto encoded = crdt::encode(ten_op_change(bench_keys()));
  for (auto _ : state) {
    auto c = crdt::decode(encoded);
    if (!c) state.SkipWithError("decode failed");
    benchmark::DoNotOptimize(c);
  }
  per_change(state, 1);
}

std::vector<bytes> one_set_chain(std::size_t n) {
  auto kp = bench_keys();
  std::vector<bytes> out;
  hash256 prev;
  for (std::size_t i = 1; i <= n; ++i) {
    auto c = one_set_change(kp, i, prev);
    prev = c.hash;
    out.push_back(crdt::encode(c));
  }
  return out;
}

void BM_batch_decode_1000(benchmark::State& state) {
  auto frame = protocol::encode_batch("bench-doc", one_set_chain(1000));
  for (auto _ : state) {
    auto b = protocol::decode_batch(frame);
    if (!b || b->changes.size() != 1000) state.SkipWithError("decode failed");
    benchmark::DoNotOptimize(b);
  }
  state.counters["frame_bytes"] = static_cast<double>(frame.size());
  per_change(state, 1000);
}

void BM_batch_encode_1000(benchmark::State& state) {
  auto changes = one_set_chain(1000);
  for (auto _ : state) benchmark::DoNotOptimize(protocol::encode_batch("bench-doc", changes));
  per_change(state, 1000);
}

protocol::frontier_frame frontier_of(std::size_t authors) {
  protocol::frontier_frame f{"bench-doc", {}};
  for (std::size_t i = 0; i < authors; ++i)
    f.heads[crypto::blake2b_256(std::to_string(i))] = chain_head{i + 1, crypto::blake2b_256("h" + std::to_string(i))};
  return f;
}

void BM_control_encode_frontier_8(benchmark::State& state) {
  auto f = frontier_of(8);
  for (auto _ : state) benchmark::DoNotOptimize(protocol::encode(f));
}

void BM_control_decode_frontier_8(benchmark::State& state) {
  auto text = protocol::encode(frontier_of(8));
  for (auto _ : state) {
    auto f = protocol::decode_control(text);
    if (!f) state.SkipWithError("decode failed");
    benchmark::DoNotOptimize(f);
  }
}

}  // namespace

BENCHMARK(BM_change_encode_one_set);
BENCHMARK(BM_change_decode_one_set);
BENCHMARK(BM_change_encode_ten_ops);
BENCHMARK(BM_change_decode_ten_ops);
BENCHMARK(BM_batch_decode_1000);
BENCHMARK(BM_batch_encode_1000);
BENCHMARK(BM_control_encode_frontier_8);
BENCHMARK(BM_control_decode_frontier_8);

BENCHMARK_MAIN();
