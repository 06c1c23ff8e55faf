// The persistent store of one node: every change it holds, per-document
// frontiers, logs and snapshots, and its peers, trusted keys and join tokens,
// in one LMDB environment per data directory (record layout: records.hpp).
//
// Threading contract. The store has no threads of its own.
//  - Write functions (commit, compact, flush) are called by one thread at a
//    time: the store actor. LMDB allows one writer per environment anyway.
//  - Read functions (every const member) may be called from any number of
//    threads concurrently, also while a commit runs: each runs in its own
//    read-only transaction (MDB_NOTLS, so transactions are not tied to
//    threads) and sees the last committed state.
//  - Growing the map on MDB_MAP_FULL needs no transaction active in the
//    process; a shared_mutex is held shared by every transaction and
//    exclusively by the resize, which therefore waits for running reads.
//    Consequence: a callback given to a read function (load_log) must not
//    call back into the store.
//  - One writable store per data directory, in all processes: a writable
//    open takes an exclusive lock on <dir>/LOCK (dir_lock.hpp), held until
//    the store is destroyed; a second writable open is refused with
//    store_errc::locked naming the holder's pid. Read-only opens (tools)
//    take no lock.
//
// Durability (store_options::durability), for a commit that has returned:
//  - sync: survives a process crash, an OS crash and a power loss (on a disk
//    that honours fsync).
//  - nometasync: survives a process crash; an OS crash or power loss can lose
//    the last committed batches, never the integrity of the store.
//  - nosync: survives a process crash; an OS crash or power loss can lose
//    everything since the last flush() and, per LMDB, may corrupt the store.
//    For disposable data, tests and benchmarks.
//
// No public function throws (except std::bad_alloc); failures are store_error.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "crdt/expected.hpp"
#include "crdt/types.hpp"
#include "persistence/error.hpp"
#include "persistence/write_batch.hpp"

namespace starling::persistence {

enum class durability_mode { sync, nometasync, nosync };

struct store_options {
  durability_mode durability = durability_mode::sync;
  // Opens an existing store for reading only; every write is refused.
  bool read_only = false;
  // Address space reserved for the data. data.mdb grows with the data only
  // (with write_map it is a sparse file of this size): a large map is free.
  std::size_t initial_map_size = std::size_t{1} << 30;  // 1 GiB
  // On MDB_MAP_FULL the map doubles, up to this; then commits fail map_full.
  std::size_t max_map_size = std::size_t{1} << 40;      // 1 TiB
  // Concurrent read transactions, across all processes using the directory.
  unsigned max_readers = 126;
  // Commits write pages in place in the memory map (MDB_WRITEMAP) instead of
  // copying them into the file. Measured (bench/bench_store.cpp): 1.7-2x the
  // commit throughput with nosync; nothing gained with sync, where the msync
  // of the map at each commit costs as much or more. Why it is off by default:
  // data.mdb is extended to the map size as a sparse file, and when the disk
  // then fills up the process dies of SIGBUS instead of a commit failing with
  // io (committed data stays intact either way); and a stray write through a
  // bad pointer anywhere in the process could reach the data. Ignored when
  // read_only.
  bool write_map = false;
};

enum class change_outcome : std::uint8_t { stored, duplicate };

struct commit_result {
  std::size_t stored = 0;
  std::size_t duplicates = 0;
  std::vector<change_outcome> outcomes;  // one per added change, in batch order
  std::uint64_t compacted = 0;           // changes dropped by compact items
};

struct snapshot {
  frontier at;
  bytes state;
};

struct token_record {
  std::string json;
  bool consumed = false;
};

// Where the next page of changes_since() starts. A plain value the caller
// keeps between pages (e.g. a peer session); it stays valid across commits.
struct continuation {
  // Only changes logged before this index are served: the log's end when the
  // first page was read, so the pages add up to one consistent missing set.
  std::uint64_t end_index = 0;
  // Per author still to serve: the next seq to send.
  std::vector<std::pair<public_key, std::uint64_t>> next_seq;
};

struct change_page {
  std::vector<bytes> changes;         // signed encodings, in this node's log order
  std::optional<continuation> next;   // set while changes remain
  // The peer lacks changes that compaction dropped: it needs load_snapshot()
  // first, then changes_since(snapshot frontier). No changes come with it.
  bool behind_horizon = false;
};

struct store_stats {
  std::uint64_t docs = 0;
  std::uint64_t changes = 0;
  std::uint64_t log_entries = 0;
  std::uint64_t snapshots = 0;
  std::uint64_t peers = 0;
  std::uint64_t trusted_keys = 0;
  std::uint64_t tokens = 0;
  std::uint64_t map_size = 0;    // bytes of address space mapped
  std::uint64_t used_bytes = 0;  // pages in use, in bytes
  std::uint64_t commits = 0;     // since open
  std::uint64_t map_resizes = 0; // since open
  int stale_readers_cleared = 0; // by mdb_reader_check at open
  std::optional<std::chrono::system_clock::time_point> last_commit;  // since open
};

class store {
 public:
  // Opens (creating it unless read_only) the store in directory `dir`, which
  // holds data.mdb, lock.mdb and LOCK (locked while a writable store is
  // open). Refused with unsupported_format if the store has a format
  // version this build does not know; nothing is rewritten. Refused with
  // locked if another writable store has the directory.
  static expected<std::unique_ptr<store>, store_error> open(const std::string& dir,
                                                            const store_options& options = {});
  ~store();
  store(const store&) = delete;
  store& operator=(const store&) = delete;

  // --- writes: one thread at a time --------------------------------------
  // Applies the whole batch in one transaction and returns after it has
  // committed (and been flushed, per durability). On MDB_MAP_FULL the
  // transaction is dropped, the map doubled and the batch retried.
  expected<commit_result, store_error> commit(write_batch&& batch);
  // compact(doc, horizon) as a batch of its own; returns the changes dropped.
  expected<std::uint64_t, store_error> compact(std::string_view doc, const frontier& horizon);
  // Forces buffered commits to disk (meaningful with nometasync and nosync).
  expected<done, store_error> flush();

  // --- reads: any thread -------------------------------------------------
  // Changes are found by their place in the author's chain: the store keeps
  // no index by hash (the in-memory document has one), so that a commit
  // writes no randomly placed key per change.
  // The signed encoding of the change at (author, seq); nullopt if absent or
  // compacted.
  expected<std::optional<bytes>, store_error> get_change(std::string_view doc,
                                                         const public_key& author,
                                                         std::uint64_t seq) const;
  // Whether the change at (author, seq) is stored and has this hash.
  expected<bool, store_error> has_change(std::string_view doc, const public_key& author,
                                         std::uint64_t seq, const hash256& hash) const;
  // The hash stored for (author, seq); nullopt if absent or compacted.
  expected<std::optional<hash256>, store_error> chain_hash(std::string_view doc,
                                                           const public_key& author,
                                                           std::uint64_t seq) const;
  // Per author, the highest seq this node has (stored or in its snapshot).
  expected<frontier, store_error> load_frontier(std::string_view doc) const;
  // Per author, the highest seq compaction dropped (empty if never compacted).
  expected<frontier, store_error> load_horizon(std::string_view doc) const;
  // Every document, in the store's key order (by name length, then name).
  expected<std::vector<std::string>, store_error> list_docs() const;
  // One page of documents in name order: at most `limit` names sorting
  // after `after` ("" starts at the first). Costs O(limit + max_doc_name)
  // reads, not O(documents).
  expected<std::vector<std::string>, store_error> list_docs(std::string_view after, std::size_t limit) const;
  // Whether the store holds the document (a committed change or snapshot
  // created it): one key lookup.
  expected<bool, store_error> has_doc(std::string_view doc) const;
  // Changes currently stored for the doc (compacted ones excluded).
  expected<std::uint64_t, store_error> change_count(std::string_view doc) const;

  // Calls visit(index, hash, encoded) for each stored change of the doc with
  // log index >= from_index, in log order (a causal order), until visit
  // returns false. `encoded` is valid during the call only. Returns the index
  // to resume from. One read transaction: the replay sees one state.
  // The index the doc's next stored change will get (0 for a new doc):
  // log indexes are never reused, so they name a change on this node for
  // good (the HTTP event stream uses them as event ids).
  expected<std::uint64_t, store_error> log_end(std::string_view doc) const;
  using log_visitor = std::function<bool(std::uint64_t index, const hash256& hash,
                                         byte_view encoded)>;
  expected<std::uint64_t, store_error> load_log(std::string_view doc, std::uint64_t from_index,
                                                const log_visitor& visit) const;

  // Every change this node has that `theirs` lacks, in log order, in pages
  // of at most max_bytes of encoded changes (always at least one change if
  // any remain). Costs O(missing changes + authors), not O(document).
  expected<change_page, store_error> changes_since(std::string_view doc, const frontier& theirs,
                                                   std::size_t max_bytes) const;
  expected<change_page, store_error> changes_since(std::string_view doc, const continuation& next,
                                                   std::size_t max_bytes) const;

  expected<std::optional<snapshot>, store_error> load_snapshot(std::string_view doc) const;

  expected<std::optional<std::string>, store_error> get_peer(const public_key& id) const;
  expected<std::vector<std::pair<public_key, std::string>>, store_error> list_peers() const;
  expected<std::optional<std::string>, store_error> get_trust(const public_key& key) const;
  expected<std::vector<std::pair<public_key, std::string>>, store_error> list_trust() const;
  expected<std::optional<token_record>, store_error> get_token(const hash256& token_hash) const;
  expected<std::vector<std::pair<hash256, token_record>>, store_error> list_tokens() const;
  expected<std::optional<bytes>, store_error> get_meta(std::string_view key) const;

  expected<store_stats, store_error> stats() const;
  const std::string& dir() const;
  bool read_only() const;
  // Reader slots of dead processes that mdb_reader_check cleared at open.
  int stale_readers_cleared() const;

  struct impl;  // the LMDB side: store_impl.hpp

 private:
  explicit store(std::unique_ptr<impl> i);
  std::unique_ptr<impl> impl_;
};

}  // namespace starling::persistence
