// The data-directory lock: one writable store per directory, across
// processes and inside one, released when the store closes or its process
// dies.
#include <catch2/catch.hpp>

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <string>

#include "persistence/dir_lock.hpp"
#include "support.hpp"

using namespace starling;
using namespace starling::persistence;
using namespace starling::persistence::test;

namespace {

std::string pid_text(pid_t p) { return "pid " + std::to_string(p); }

}  // namespace

TEST_CASE("a second writable open of one data directory is refused, naming the holder", "[persistence][lock]") {
  temp_dir tmp;
  auto first = store::open(tmp.path(), small_options());
  REQUIRE(first);
  auto second = store::open(tmp.path(), small_options());
  REQUIRE_FALSE(second);
  CHECK(second.error().code == store_errc::locked);
  CHECK_THAT(second.error().message, Catch::Contains(pid_text(getpid())));
  CHECK_THAT(second.error().message, Catch::Contains(tmp.path()));

  // Closing the store releases the directory.
  first->reset();
  auto again = store::open(tmp.path(), small_options());
  REQUIRE(again);
  write_batch w;
  w.put_meta("k", "v");
  commit_ok(**again, std::move(w));
}

TEST_CASE("the lock is held by a process and dropped when it dies", "[persistence][lock]") {
  temp_dir tmp;
  int ready[2], hold[2];
  REQUIRE(pipe(ready) == 0);
  REQUIRE(pipe(hold) == 0);
  pid_t child = fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    close(ready[0]);
    close(hold[1]);
    auto s = store::open(tmp.path(), small_options());
    if (!s || write(ready[1], "r", 1) != 1) _exit(2);
    char b;
    while (read(hold[0], &b, 1) > 0) {  // until killed
    }
    _exit(0);
  }
  close(ready[1]);
  close(hold[0]);
  char c;
  REQUIRE(read(ready[0], &c, 1) == 1);

  auto refused = store::open(tmp.path(), small_options());
  REQUIRE_FALSE(refused);
  CHECK(refused.error().code == store_errc::locked);
  CHECK_THAT(refused.error().message, Catch::Contains(pid_text(child)));

  // kill -9: no destructor runs; the kernel drops the lock with the process.
  kill(child, SIGKILL);
  int status = 0;
  REQUIRE(waitpid(child, &status, 0) == child);
  close(ready[0]);
  close(hold[1]);
  auto s = store::open(tmp.path(), small_options());
  REQUIRE(s);
}

TEST_CASE("dir_lock: the primitive", "[persistence][lock]") {
  temp_dir tmp;
  auto a = dir_lock::acquire(tmp.path());
  REQUIRE(a);
  CHECK(a->held());
  auto b = dir_lock::acquire(tmp.path());
  REQUIRE_FALSE(b);
  CHECK(b.error().code == store_errc::locked);
  // Moving keeps the lock; destroying the holder releases it.
  dir_lock moved = std::move(*a);
  CHECK(moved.held());
  CHECK_FALSE(a->held());
  CHECK_FALSE(dir_lock::acquire(tmp.path()));
  moved = dir_lock{};
  CHECK(dir_lock::acquire(tmp.path()));
  // A directory that does not exist is an io error, not a lock conflict.
  auto missing = dir_lock::acquire(tmp.sub("none"));
  REQUIRE_FALSE(missing);
  CHECK(missing.error().code == store_errc::io);
}
