// Deterministic signed changes for protocol tests and the fuzz corpus
// generator. Keys come from fixed seeds, so every run builds the same bytes.
#pragma once

#include <string>
#include <vector>

#include "crdt/change.hpp"

namespace starling::test {

inline crypto::keypair test_keys(std::uint8_t n) {
  std::array<std::uint8_t, 32> seed;
  seed.fill(n);
  return crypto::keypair_from_seed(seed);
}

// One `set` of a ~40-byte string at the root: the typical small change.
inline crdt::change set_change(const std::string& doc, const crypto::keypair& kp, std::uint64_t seq,
                               const hash256& prev, std::string value = std::string(40, 'v')) {
  crdt::change c;
  c.doc = doc;
  c.author = kp.pk;
  c.seq = seq;
  c.prev = prev;
  c.time = (std::uint64_t(1700000000000) + seq) << 16;
  crdt::op o;
  o.kind = crdt::op_kind::set;
  o.key = "title";
  o.value = std::move(value);
  c.ops.push_back(o);
  crdt::sign(c, kp);
  return c;
}

// Ten ops of every shape: containers, map keys, list inserts, counters.
inline crdt::change ten_op_change(const std::string& doc, const crypto::keypair& kp, std::uint64_t seq,
                                  const hash256& prev, std::vector<hash256> deps = {}) {
  crdt::change c;
  c.doc = doc;
  c.author = kp.pk;
  c.seq = seq;
  c.prev = prev;
  c.deps = std::move(deps);
  c.time = (std::uint64_t(1700000000000) + seq) << 16 | 3;
  using crdt::op, crdt::op_kind, crdt::op_ref, crdt::place_kind;
  auto map_op = [](op_kind k, op_ref obj, std::string key, crdt::scalar v = {}) {
    op o;
    o.kind = k;
    o.obj = obj;
    o.key = std::move(key);
    o.value = std::move(v);
    return o;
  };
  c.ops.push_back(map_op(op_kind::make_list, op_ref::none(), "todos"));                     // 0
  op ins;
  ins.kind = op_kind::ins;
  ins.obj = op_ref::self(0);
  ins.place = place_kind::list_after;
  ins.value = std::string("buy milk");
  c.ops.push_back(ins);                                                                        // 1
  ins.elem = op_ref::self(1);
  ins.value = std::int64_t(-42);
  c.ops.push_back(ins);                                                                        // 2
  c.ops.push_back(map_op(op_kind::make_map, op_ref::none(), "meta"));                       // 3
  c.ops.push_back(map_op(op_kind::set, op_ref::self(3), "owner", std::string("n\xc3\xa9ode")));  // 4
  c.ops.push_back(map_op(op_kind::set, op_ref::self(3), "ratio", 0.25));                    // 5
  c.ops.push_back(map_op(op_kind::set, op_ref::self(3), "done", true));                     // 6
  c.ops.push_back(map_op(op_kind::del, op_ref::ext(prev, 0), "stale"));                     // 7
  op inc = map_op(op_kind::inc, op_ref::self(3), "count");
  inc.delta = 5;
  inc.target = op_ref::ext(prev, 2);
  c.ops.push_back(inc);                                                                        // 8
  op rm;
  rm.kind = op_kind::rm;
  rm.obj = op_ref::self(0);
  rm.place = place_kind::list_elem;
  rm.elem = op_ref::self(2);
  c.ops.push_back(rm);                                                                         // 9
  crdt::sign(c, kp);
  return c;
}

// A hash chain of n one-set changes by one author, seq 1..n.
inline std::vector<crdt::change> set_chain(const std::string& doc, const crypto::keypair& kp, std::size_t n) {
  std::vector<crdt::change> out;
  hash256 prev;
  for (std::size_t i = 1; i <= n; ++i) {
    out.push_back(set_change(doc, kp, i, prev));
    prev = out.back().hash;
  }
  return out;
}

}  // namespace starling::test
