// An exclusive lock on a data directory, so that two nodes never run on one
// store: LMDB itself lets a second process open the same environment and
// write to it, and two writers there corrupt each other's view (commits
// fail, documents diverge).
//
// The lock is flock(2) on `<dir>/LOCK`, which holds the holder's pid for the
// message a second opener gets. The kernel drops the lock when the holder's
// file descriptor closes, also when the process dies (kill -9 included), so
// a stale LOCK file never blocks a restart. A second open in the same
// process is refused too (flock locks belong to the open file description).
//
// Threading: acquire() from any thread; a dir_lock is owned by one object
// (the store) and released by its destructor.
#pragma once

#include <string>

#include "crdt/expected.hpp"
#include "persistence/error.hpp"

namespace starling::persistence {

inline constexpr const char* lock_file_name = "LOCK";

class dir_lock {
 public:
  // Takes the lock on `dir` (which must exist) without waiting. Refused
  // with store_errc::locked, naming the holder's pid, if another open
  // holds it; io if the lock file cannot be opened or written.
  static expected<dir_lock, store_error> acquire(const std::string& dir);

  dir_lock() = default;
  dir_lock(dir_lock&& o) noexcept;
  dir_lock& operator=(dir_lock&& o) noexcept;
  dir_lock(const dir_lock&) = delete;
  dir_lock& operator=(const dir_lock&) = delete;
  ~dir_lock();

  bool held() const { return fd_ >= 0; }

 private:
  explicit dir_lock(int fd) : fd_(fd) {}
  int fd_ = -1;
};

}  // namespace starling::persistence
