// The LMDB side of the store, shared by its implementation files only.
#pragma once

#include <atomic>
#include <mutex>
#include <shared_mutex>

#include "persistence/dir_lock.hpp"
#include "persistence/lmdb.hpp"
#include "persistence/records.hpp"
#include "persistence/store.hpp"

namespace starling::persistence {

// Throws invalid_argument unless `doc` is a valid document name.
void require_doc(std::string_view doc);
[[noreturn]] void fail_corrupt(const std::string& what);

struct store::impl {
  std::string dir;
  store_options opts;
  // Declared before env: released after the environment has closed.
  dir_lock lock;
  mutable lmdb::env env;  // mutable: a reader may adopt a map grown by another process
  struct databases {
    lmdb::dbi meta, chain, log, docs, frontier, horizon, snapshot, peers, trust, tokens;
  } db;

  // Held shared by every transaction, exclusively by a map resize: LMDB may
  // only resize the map while no transaction is active in the process.
  mutable std::shared_mutex map_mutex;
  int stale_readers_cleared = 0;
  std::atomic<std::uint64_t> commits{0};
  std::atomic<std::uint64_t> map_resizes{0};
  std::atomic<std::int64_t> last_commit_ns{0};  // system_clock; 0 = none yet

  // A transaction with the shared lock that keeps the map in place under it.
  // Members are destroyed in reverse: the transaction ends before the lock.
  struct locked_txn {
    std::shared_lock<std::shared_mutex> lock;
    lmdb::txn txn;
  };
  locked_txn begin(unsigned flags) const;  // MDB_RDONLY for reads, 0 for the writer
  // Doubles the map (up to opts.max_map_size); throws map_full at the limit.
  void grow_map();

  // Runs fn(txn) in a read transaction, failures returned as store_error.
  template <class F>
  auto read(F&& fn) const -> expected<decltype(fn(std::declval<const lmdb::txn&>())), store_error> {
    try {
      auto t = begin(MDB_RDONLY);
      return fn(t.txn);
    } catch (const store_failure& f) {
      return make_unexpected(f.error());
    }
  }

  // Record readers used by reads and writes alike (any transaction).
  frontier load_frontier(const lmdb::txn& t, std::string_view doc) const;
  frontier load_horizon(const lmdb::txn& t, std::string_view doc) const;
  records::doc_record load_doc_record(const lmdb::txn& t, std::string_view doc) const;
  std::optional<records::chain_entry> load_chain_entry(const lmdb::txn& t, std::string_view doc,
                                                       const public_key& author,
                                                       std::uint64_t seq) const;
  // The log entry at `index`, which must exist (a chain entry named it).
  records::log_entry log_entry_at(const lmdb::txn& t, std::string_view doc,
                                  std::uint64_t index) const;
  std::optional<records::snapshot_record> load_snapshot(const lmdb::txn& t,
                                                        std::string_view doc) const;

  // Opens (or, for a new store, creates) the named databases and checks the
  // format version. Throws unsupported_format before writing anything.
  void open_databases();

  // The pages of changes_since, from a starting position (changes_since.cpp).
  change_page serve_page(const lmdb::txn& t, std::string_view doc, const continuation& from,
                         std::size_t max_bytes) const;
  change_page serve_by_chain(const lmdb::txn& t, std::string_view doc, const continuation& from,
                         std::size_t max_bytes) const;
  // Applies a batch inside the writer's transaction (store_write.cpp).
  commit_result apply(const lmdb::txn& t, const write_batch& batch);
};

}  // namespace starling::persistence
