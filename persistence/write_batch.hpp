// A group of writes that store::commit() applies in one LMDB transaction:
// all of them become visible together, or none does. Items apply in the
// order they were added, so a batch may consume a join token and trust the
// key that presented it, atomically.
//
// Building a batch touches no storage and cannot fail; invalid items (a bad
// doc name, a reserved meta key) make commit() refuse the whole batch.
// A plain value: build it on any thread, hand it to the writer thread.
#pragma once

#include <cstdint>
#include <string>
#include <variant>
#include <vector>

#include "crdt/change.hpp"
#include "crdt/types.hpp"

namespace starling::persistence {

class write_batch {
 public:
  // Stores a change, appended to the doc's log at its next local index.
  // The caller has validated it (hash, signature, causal order); the store
  // checks only what keeps its own indexes sound: the author's seq must be
  // the next one after the doc's frontier (or already stored: then it is a
  // duplicate and skipped), and an (author, seq) holding another hash is a
  // chain_conflict. `c.doc` must equal `doc`.
  void add_change(std::string doc, const crdt::change& c);
  // The same, for a change already encoded (signed encoding) with its hash.
  void add_change(std::string doc, const hash256& hash, const public_key& author,
                  std::uint64_t seq, bytes encoded);

  // Materialised state of `doc` at frontier `at`, replacing any previous one.
  // A snapshot ahead of the doc's frontier (one received from a peer) moves
  // the frontier and the compaction horizon up to it for those authors: their
  // older changes are then known only through the snapshot.
  void put_snapshot(std::string doc, frontier at, bytes state);
  // Drops every change at or below `horizon` (author seq <= horizon seq);
  // refused with snapshot_missing unless a snapshot at a frontier covering
  // the horizon exists (it may be put earlier in the same batch).
  void compact(std::string doc, frontier horizon);

  void put_peer(const public_key& id, std::string json);
  void remove_peer(const public_key& id);
  void put_trust(const public_key& key, std::string json);
  void remove_trust(const public_key& key);
  // A join token, stored by hash. Refused if that token was already consumed.
  void put_token(const hash256& token_hash, std::string json);
  // Marks the token used. The whole batch is refused with token_unavailable
  // if the token is unknown or already consumed, so a token is used once,
  // across crashes too.
  void consume_token(const hash256& token_hash);
  void remove_token(const hash256& token_hash);
  // Any meta entry except "format_version", which only the store writes.
  void put_meta(std::string key, bytes value);

  // Room for `items` items, for a caller that knows the batch size.
  void reserve(std::size_t items) { items_.reserve(items); }
  std::size_t size() const { return items_.size(); }
  bool empty() const { return items_.empty(); }
  std::size_t change_count() const { return change_count_; }
  void clear() {
    items_.clear();
    change_count_ = 0;
  }

 public:
  // The items as the store reads them (in order). Not meant for other code.
  struct change_item {
    std::string doc;
    hash256 hash;
    public_key author;
    std::uint64_t seq;
    bytes encoded;
  };
  struct snapshot_item {
    std::string doc;
    frontier at;
    bytes state;
  };
  struct compact_item {
    std::string doc;
    frontier horizon;
  };
  struct record_item {
    enum class kind { put_peer, remove_peer, put_trust, remove_trust, put_token, consume_token,
                      remove_token, put_meta };
    kind what;
    bytes key;
    bytes value;
  };
  using item = std::variant<change_item, snapshot_item, compact_item, record_item>;
  const std::vector<item>& items() const { return items_; }
  // Problems found while building (e.g. a change whose doc differs from the
  // doc it is added under); commit refuses the batch if there are any.
  const std::vector<std::string>& build_errors() const { return errors_; }

 private:
  std::vector<item> items_;
  std::size_t change_count_ = 0;
  std::vector<std::string> errors_;
};

}  // namespace starling::persistence
