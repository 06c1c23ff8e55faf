// The materialised CRDT state of one document: containers addressed by op
// id, last-writer-wins registers, RGA lists, counters, tombstones.
//
// Internal to crdt/: the document (document.hpp) owns a doc_state and is the
// only caller. Op ids here are replica-local (an index into the change table
// plus the op's index in its change); every ordering decision uses only
// replica-independent facts: (time, author key, change hash, op index).
// Not thread-safe.
#pragma once

#include <functional>
#include <string>
#include <unordered_map>
#include <vector>

#include <nlohmann/json.hpp>

#include "crdt/change.hpp"
#include "crdt/change_index.hpp"

namespace starling::crdt {

using op_id = std::uint64_t;
constexpr op_id root_object = ~0ull;
constexpr op_id no_op = ~0ull - 1;
constexpr std::uint32_t npos32 = ~0u;
inline op_id make_op_id(std::uint32_t change_ref, std::uint32_t index) {
  return (static_cast<op_id>(change_ref) << 32) | index;
}
inline std::uint32_t change_of(op_id id) { return static_cast<std::uint32_t>(id >> 32); }
inline std::uint32_t index_of(op_id id) { return static_cast<std::uint32_t>(id); }

struct change_meta {
  hash256 hash;
  std::uint64_t seq = 0;
  std::uint64_t time = 0;
  std::uint32_t author = 0;  // index into doc_state::authors
  std::uint32_t n_ops = 0;
};

// A value slot: a map entry or a list element's value.
struct reg {
  enum class kind : std::uint8_t { absent, scalar, map, list };
  op_id winner = no_op;  // the winning write; for containers also the container id
  kind k = kind::absent;
  scalar value;          // when k == scalar
  std::int64_t inc_sum = 0;     // increments that target `winner`
  std::uint32_t inc_count = 0;
};

struct list_elem {
  op_id id = no_op;
  std::uint32_t next = npos32;
  bool removed = false;
  reg value;
};

// How deep containers may nest below the root. A protocol constant, not a
// setting: every replica must refuse exactly the same changes. It bounds the
// recursion of materialise() and of the JSON serialiser.
constexpr std::uint16_t max_nesting = 128;

struct object {
  bool is_list = false;
  std::uint16_t depth = 0;  // the root is 0; fixed when the container is made
  std::unordered_map<std::string, reg> entries;  // map
  std::vector<list_elem> elems;                  // list arena, linked in RGA order
  std::uint32_t head = npos32;
  std::unordered_map<op_id, std::uint32_t> elem_index;
  std::uint32_t visible = 0;

  // Position in elems of the n-th visible element, npos32 if out of range.
  std::uint32_t nth_visible(std::uint32_t n) const;
};

// Undo records for a local change that fails half-way (local writes only).
using undo_log = std::vector<std::function<void()>>;

// Outcome of validating one op against the state.
struct op_check {
  enum class result { ok, missing, invalid } r = result::ok;
  hash256 missing;      // when missing: a change the op refers to
  std::string message;  // when invalid
};

class doc_state {
 public:
  doc_state();

  std::vector<change_meta> changes;
  std::vector<public_key> authors;
  std::unordered_map<public_key, std::uint32_t, fixed_bytes_hasher> author_index;
  std::unordered_map<op_id, object> objects;

  // The table entry of a change, npos32 if unknown.
  std::uint32_t find_change(const hash256& h) const {
    return by_hash_.find(h, [this](std::uint32_t r) -> const hash256& { return changes[r].hash; });
  }
  bool knows(const hash256& h) const { return find_change(h) != npos32; }
  // Indexes table entry `ref` by its hash; false if that hash is indexed already.
  bool index_change(std::uint32_t ref) {
    return by_hash_.insert(changes[ref].hash, ref, [this](std::uint32_t r) -> const hash256& { return changes[r].hash; });
  }
  void reserve_changes(std::size_t n) {
    changes.reserve(n);
    by_hash_.reserve(n, [this](std::uint32_t r) -> const hash256& { return changes[r].hash; });
  }
  std::size_t indexed_changes() const { return by_hash_.size(); }

  std::uint32_t intern_author(const public_key& k);
  // Total order of writes: (time, author key, change hash, op index).
  bool op_less(op_id a, op_id b) const;
  const hash256& hash_of(op_id id) const { return changes[change_of(id)].hash; }
  op_ref ref_to(op_id id, std::uint32_t current_change) const;

  nlohmann::json materialise() const;
  nlohmann::json materialise(const reg& r) const;
  nlohmann::json materialise_object(op_id id) const;
  void clear();

  // Applies the ops of one change (validated and applied op by op, so that
  // later ops see earlier ones). Usage: begin(), then check()+apply() per op.
  class change_applier {
   public:
    change_applier(doc_state& s, std::uint32_t change_ref, std::uint64_t time, undo_log* undo)
        : s_(s), ref_(change_ref), time_(time), undo_(undo), created_(s.scratch_) {
      created_.clear();
    }
    op_check check(const op& o, std::uint32_t index);
    void apply(const op& o, std::uint32_t index);
    void apply(op&& o, std::uint32_t index);  // moves the op's value into the state

    struct created {
      std::int8_t object = -1;   // -1 none, 0 map, 1 list
      std::uint16_t depth = 0;   // of the container it made
      op_id in_list = no_op;     // list the op inserted an element into
    };
   private:
    op_id resolve(const op_ref& r, op_id none_value) const;
    op_check ext_known(const op_ref& r);
    void write(reg& r, op_id w, reg::kind k, scalar&& v);
    reg& map_slot(op_id obj, const std::string& key);
    reg& elem_slot(op_id obj, op_id elem);
    void insert_elem(op_id list, op_id after, op_id id, reg value);

    doc_state& s_;
    std::uint32_t ref_;
    std::uint64_t time_;
    undo_log* undo_;
    std::vector<created>& created_;  // the state's scratch buffer: appliers never nest
  };

 private:
  change_index by_hash_;
  std::vector<change_applier::created> scratch_;
};

}  // namespace starling::crdt
