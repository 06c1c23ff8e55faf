// Writes the seed corpora under <dir>/<target>/: a few valid inputs per fuzz
// target, built from fixed keys so that the files are the same every run.
//   usage: fuzz_make_corpus tests/fuzz/corpus
#include <cstdio>
#include <filesystem>
#include <fstream>

#include "crdt/document.hpp"
#include "protocol/binary.hpp"
#include "protocol/control.hpp"
#include "tests/unit/protocol/sample_changes.hpp"

using namespace starling;
using namespace starling::protocol;
namespace fs = std::filesystem;

namespace {

fs::path root;

void put(const char* target, const char* name, const std::string& data) {
  fs::create_directories(root / target);
  std::ofstream(root / target / name, std::ios::binary | std::ios::trunc) << data;
}

template <std::size_t N>
fixed_bytes<N> filled(std::uint8_t b) {
  fixed_bytes<N> f;
  f.v.fill(b);
  return f;
}

crdt::change scalar_change(const crypto::keypair& kp) {
  // One op per scalar kind, nested under a map made in the same change.
  crdt::change c = test::set_change("scalars", kp, 3, filled<32>(0x33), "x");
  c.deps = {filled<32>(0x01), filled<32>(0x02)};
  crdt::op mk;
  mk.kind = crdt::op_kind::make_map;
  mk.key = "m";
  c.ops = {mk};
  crdt::scalar values[] = {std::monostate{}, false, std::int64_t(-1), std::int64_t(1) << 62, 3.5, -0.0,
                           std::string("\xe2\x82\xac unicode")};
  for (auto& v : values) {
    crdt::op o;
    o.kind = crdt::op_kind::set;
    o.obj = crdt::op_ref::self(0);
    o.key = "k" + std::to_string(c.ops.size());
    o.value = v;
    c.ops.push_back(o);
  }
  crdt::sign(c, kp);
  return c;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s CORPUS_DIR\n", argv[0]);
    return 2;
  }
  root = argv[1];
  auto a = test::test_keys(1), b = test::test_keys(2);

  auto chain = test::set_chain("notes", a, 3);
  auto ten = test::ten_op_change("notes", b, 2, filled<32>(0x77), {chain[0].hash, chain[2].hash});
  auto scalars = scalar_change(a);

  put("fuzz_change_decode", "set_one_op", crdt::encode(chain[0]));
  put("fuzz_change_decode", "set_seq3_with_prev", crdt::encode(chain[2]));
  put("fuzz_change_decode", "ten_ops_with_deps", crdt::encode(ten));
  put("fuzz_change_decode", "all_scalars", crdt::encode(scalars));

  put("fuzz_batch_decode", "batch_one", encode_batch("notes", std::vector<crdt::change>{chain[0]}));
  put("fuzz_batch_decode", "batch_chain_and_ten_ops",
      encode_batch("notes", std::vector<crdt::change>{chain[0], chain[1], chain[2], ten}));
  put("fuzz_batch_decode", "batch_empty", encode_batch("e", std::vector<bytes>{}));
  put("fuzz_batch_decode", "batch_scalars", encode_batch("scalars", std::vector<crdt::change>{scalars}));
  put("fuzz_batch_decode", "snapshot_chunk", encode_snapshot_chunk({"notes", 4096, "{\"title\":\"x\"}"}));

  frontier fr;
  fr[a.pk] = chain_head{3, chain[2].hash};
  fr[b.pk] = chain_head{2, ten.hash};
  hello_frame h{{1, 2}, a.pk, filled<32>(0x10), filled<32>(0x20), std::nullopt};
  put("fuzz_control_decode", "hello", encode(h));
  h.token = "join.abcdef0123456789";
  put("fuzz_control_decode", "hello_token", encode(h));
  put("fuzz_control_decode", "auth", encode(auth_frame{crypto::sign("transcript", a.sk)}));
  put("fuzz_control_decode", "frontier", encode(frontier_frame{"notes", fr}));
  put("fuzz_control_decode", "ready", encode(ready_frame{"notes"}));
  put("fuzz_control_decode", "error", encode(error_frame{errc::forbidden, "no read permission", "notes"}));
  put("fuzz_control_decode", "error_unknown_code",
      "{\"type\":\"error\",\"code\":\"from_the_future\",\"reason\":\"r\",\"extra\":[1,{\"a\":null}]}");
  put("fuzz_control_decode", "snapshot", encode(snapshot_frame{"notes", fr, 65536, filled<32>(0x5d)}));

  // Snapshots of documents named "fuzz": empty, and one with every kind of
  // container, tombstone, counter and a second author.
  crdt::document empty("fuzz");
  put("fuzz_snapshot_decode", "empty", empty.snapshot());
  crdt::document full("fuzz");
  using K = crdt::mutation::kind;
  auto w = [&](const crypto::keypair& k, std::vector<crdt::mutation> m, std::uint64_t t) {
    if (!full.make_change(m, k, t)) std::abort();
  };
  w(a, {{K::set, "/l", nlohmann::json::parse("[1, \"two\", {\"x\": [true, null, 2.5]}]")},
        {K::inc, "/n", 4}, {K::set, "/m", nlohmann::json::object()}}, 1000);
  w(b, {{K::rm, "/l/0", {}}, {K::ins, "/l/0", "b"}, {K::del, "/m", {}}, {K::inc, "/n", -1}}, 2000);
  put("fuzz_snapshot_decode", "full", full.snapshot());
  return 0;
}
