// A thin RAII wrapper over the LMDB C API. Every LMDB return code is
// translated here, once: a failure becomes a store_failure carrying a
// store_errc, the LMDB code and the name of the call; "not found" is not a
// failure but an empty std::optional. Only the store's implementation files
// (and its tests) include this header; the store's API does not expose LMDB.
//
// Views returned by get() and cursors point into the memory map: they are
// valid until the transaction ends (or, in a write transaction, until the next
// write), exactly as in LMDB.
#pragma once

#include <lmdb.h>

#include <optional>
#include <string>
#include <utility>

#include "crdt/types.hpp"
#include "persistence/error.hpp"

namespace starling::persistence::lmdb {

// Throws store_failure unless rc is MDB_SUCCESS. `call` names the operation.
void check(int rc, const char* call);
// The store_errc an LMDB or errno return code means to a caller.
store_errc classify(int rc);

inline MDB_val to_val(byte_view b) {
  return MDB_val{b.size(), const_cast<char*>(b.data())};
}
inline byte_view to_view(const MDB_val& v) {
  return byte_view{static_cast<const char*>(v.mv_data), v.mv_size};
}

class env {
 public:
  env();  // mdb_env_create
  ~env();
  env(const env&) = delete;
  env& operator=(const env&) = delete;

  MDB_env* handle() const { return env_; }
  void set_map_size(std::size_t bytes);  // no transaction may be active in the process
  void set_max_readers(unsigned n);
  void set_max_dbs(unsigned n);
  void open(const std::string& dir, unsigned flags, mdb_mode_t mode);
  int reader_check();  // number of stale reader slots cleared
  MDB_envinfo info() const;
  MDB_stat stat() const;
  void sync(bool force);

 private:
  MDB_env* env_ = nullptr;
};

class txn {
 public:
  static txn begin(MDB_env* e, unsigned flags = 0);
  txn(txn&& o) noexcept : txn_(std::exchange(o.txn_, nullptr)) {}
  txn& operator=(txn&& o) noexcept;
  txn(const txn&) = delete;
  txn& operator=(const txn&) = delete;
  ~txn() { abort(); }

  MDB_txn* handle() const { return txn_; }
  void commit();
  void abort() noexcept;

 private:
  explicit txn(MDB_txn* t) : txn_(t) {}
  MDB_txn* txn_ = nullptr;
};

// A database handle. Plain value: LMDB handles stay valid for the life of the
// environment once the transaction that opened them has committed.
class dbi {
 public:
  dbi() = default;
  // nullopt if the database does not exist and flags lack MDB_CREATE.
  static std::optional<dbi> open(const txn& t, const char* name, unsigned flags = 0);

  MDB_dbi handle() const { return dbi_; }
  std::optional<byte_view> get(const txn& t, byte_view key) const;
  void put(const txn& t, byte_view key, byte_view value, unsigned flags = 0) const;
  // Makes room for a `size`-byte value under `key` and returns where to write
  // it (MDB_RESERVE), so that a value assembled from parts is not copied twice.
  // Valid until the next write in the transaction.
  char* reserve(const txn& t, byte_view key, std::size_t size) const;
  // The same for a key expected to sort after every key in the database
  // (a log): appended without a search, onto full pages (a split in the
  // middle would leave every page of an append-only table half empty).
  // Falls back to an ordinary insert when the key does not sort last.
  char* reserve_last(const txn& t, byte_view key, std::size_t size) const;
  bool del(const txn& t, byte_view key) const;  // false if the key was absent
  MDB_stat stat(const txn& t) const;

 private:
  explicit dbi(MDB_dbi d) : dbi_(d) {}
  MDB_dbi dbi_ = 0;
};

class cursor {
 public:
  using entry = std::pair<byte_view, byte_view>;

  cursor(const txn& t, const dbi& d);
  ~cursor();
  cursor(const cursor&) = delete;
  cursor& operator=(const cursor&) = delete;

  std::optional<entry> first();
  std::optional<entry> seek(byte_view key);  // first entry with a key >= key
  std::optional<entry> next();

 private:
  std::optional<entry> get(MDB_val* key, MDB_cursor_op op, const char* call);
  MDB_cursor* cur_ = nullptr;
};

}  // namespace starling::persistence::lmdb
