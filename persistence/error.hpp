// Errors of the persistence layer. A caller branches on store_errc; the
// message carries the detail (paths, versions, LMDB's own wording) for logs.
#pragma once

#include <exception>
#include <string>

namespace starling::persistence {

enum class store_errc {
  io = 1,              // the OS or LMDB failed (disk, permissions, lock file, ...)
  corrupt,             // the data on disk is not what this store wrote
  unsupported_format,  // a format version (or LMDB file version) this build does not know
  map_full,            // no room: the map reached store_options::max_map_size, or the disk is full
  read_only,           // a write on a store opened read-only
  not_found,           // a read-only open of a directory without a store
  invalid_argument,    // a bad doc name, a reserved meta key, a gap in an author's chain
  chain_conflict,      // (author, seq) already holds a different change: a fork
  token_unavailable,   // consume_token on a token that is unknown or already used
  snapshot_missing,    // compact() without a snapshot that covers the horizon
  locked,              // another open (process or store object) holds the data directory's lock
};
const char* to_string(store_errc c);

struct store_error {
  store_errc code;
  std::string message;
};

// The value of an operation that succeeds without producing anything.
struct done {};

// Internal to the persistence library: thrown by the LMDB wrapper and by a
// write batch that must be refused, caught at the store's public functions
// (which never throw) and returned as store_error. Throwing lets a refusal
// deep inside a write transaction abort the whole transaction by unwinding.
class store_failure : public std::exception {
 public:
  store_failure(store_errc code, std::string message, int lmdb_code = 0)
      : error_{code, std::move(message)}, lmdb_code_(lmdb_code) {}
  const store_error& error() const noexcept { return error_; }
  int lmdb_code() const noexcept { return lmdb_code_; }  // 0 if not from LMDB
  const char* what() const noexcept override { return error_.message.c_str(); }

 private:
  store_error error_;
  int lmdb_code_;
};

}  // namespace starling::persistence
