// Process crashes: a writer SIGKILLed mid-stream loses no acknowledged batch
// and leaves no partial one; a reader killed inside a transaction leaves a
// stale reader slot that the next open clears.
#include <catch2/catch.hpp>

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <random>

#include "persistence/lmdb.hpp"
#include "support.hpp"

using namespace starling;
using namespace starling::persistence;
using namespace starling::persistence::test;

namespace {

constexpr std::size_t batches = 120;
constexpr std::size_t per_doc = 4;  // each batch: 4 changes in each of two docs

struct stream {
  std::vector<crdt::change> a = make_chain("crash-a", author_key(1), batches * per_doc);
  std::vector<crdt::change> b = make_chain("crash-b", author_key(2), batches * per_doc);

  write_batch batch(std::size_t i) const {
    write_batch w;
    for (std::size_t k = i * per_doc; k < (i + 1) * per_doc; ++k) {
      w.add_change("crash-a", a[k]);
      w.add_change("crash-b", b[k]);
    }
    w.put_meta("last_batch", std::to_string(i));
    return w;
  }
  // How many of batch i's changes the store holds.
  std::size_t present(const store& s, std::size_t i) const {
    std::size_t n = 0;
    for (std::size_t k = i * per_doc; k < (i + 1) * per_doc; ++k) {
      n += value_ok(s.has_change("crash-a", a[k].author, a[k].seq, a[k].hash));
      n += value_ok(s.has_change("crash-b", b[k].author, b[k].seq, b[k].hash));
    }
    return n;
  }
};

const stream& the_stream() {
  static const stream s;  // signed once, before any fork
  return s;
}

store_options crash_options(bool write_map) {
  store_options o;
  o.durability = durability_mode::sync;
  o.write_map = write_map;
  o.initial_map_size = 256 << 10;  // small: the map also grows mid-stream
  return o;
}

// Runs a forked child's work; the child never returns into the test runner.
template <class F>
[[noreturn]] void in_child(F&& work) {
  try {
    work();
  } catch (...) {
    _exit(5);
  }
  _exit(0);
}

void writer_child(const std::string& dir, bool write_map, int ack_fd) {
  const auto& st = the_stream();
  auto s = store::open(dir, crash_options(write_map));
  if (!s) _exit(2);
  for (std::size_t i = 0; i < batches; ++i) {
    if (!(*s)->commit(st.batch(i))) _exit(3);
    char line[32];
    int n = std::snprintf(line, sizeof line, "acked %zu\n", i);
    if (write(ack_fd, line, static_cast<std::size_t>(n)) != n) _exit(4);
  }
}

std::uint64_t base_seed() {
  const char* env = std::getenv("STARLING_TEST_SEED");
  return env ? std::strtoull(env, nullptr, 10) : 42;
}

}  // namespace

TEST_CASE("a writer killed mid-stream loses no acknowledged batch and leaves no partial one",
          "[persistence][crash]") {
  const auto& st = the_stream();
  for (std::uint64_t run = 0; run < 6; ++run) {
    const std::uint64_t seed = base_seed() + run;
    const bool write_map = run >= 4;  // the last runs write through the memory map
    CAPTURE(seed, write_map);
    std::mt19937_64 rng(seed);
    const std::size_t kill_after = rng() % (batches - 10);  // acks to read before the kill
    const unsigned jitter = static_cast<unsigned>(rng() % 3000000);

    temp_dir tmp;
    int fds[2];
    REQUIRE(pipe(fds) == 0);
    pid_t child = fork();
    REQUIRE(child >= 0);
    if (child == 0) {
      close(fds[0]);
      in_child([&] { writer_child(tmp.path(), write_map, fds[1]); });
    }
    close(fds[1]);
    FILE* acks = fdopen(fds[0], "r");
    REQUIRE(acks);

    std::size_t acked = 0;  // batches acknowledged: 0..acked-1
    char line[64];
    while (acked <= kill_after && std::fgets(line, sizeof line, acks)) {
      std::size_t i;
      REQUIRE(std::sscanf(line, "acked %zu", &i) == 1);
      REQUIRE(i == acked);
      ++acked;
    }
    // Vary the moment inside the next commit without waiting on time.
    for (volatile unsigned spin = 0; spin < jitter; spin = spin + 1) {
    }
    kill(child, SIGKILL);
    int status = 0;
    REQUIRE(waitpid(child, &status, 0) == child);
    CHECK((WIFSIGNALED(status) || (WIFEXITED(status) && WEXITSTATUS(status) == 0)));
    while (std::fgets(line, sizeof line, acks)) ++acked;  // acks sent before the kill
    std::fclose(acks);
    CAPTURE(acked);

    auto s = open_ok(tmp.path(), crash_options(write_map));
    std::size_t complete = 0;
    bool gap = false;
    for (std::size_t i = 0; i < batches; ++i) {
      CAPTURE(i);
      std::size_t n = st.present(*s, i);
      CHECK((n == 0 || n == 2 * per_doc));  // never a partial batch
      if (i < acked) CHECK(n == 2 * per_doc);
      if (n == 0) gap = true;
      else {
        CHECK_FALSE(gap);  // batches commit in order
        ++complete;
      }
    }
    std::printf("crash test seed %llu%s: killed once ack %zu was read; %zu acked, %zu committed"
                " (replay: STARLING_TEST_SEED=%llu, run %llu)\n",
                static_cast<unsigned long long>(seed), write_map ? " (write_map)" : "", kill_after,
                acked, complete, static_cast<unsigned long long>(base_seed()),
                static_cast<unsigned long long>(run));
    std::fflush(stdout);
    CHECK(complete >= acked);
    CHECK(complete <= acked + 1);  // at most the batch in flight at the kill
    CHECK(value_ok(s->change_count("crash-a")) == complete * per_doc);
    CHECK(value_ok(s->load_frontier("crash-b")).at(author_key(2).pk).seq == complete * per_doc);
    if (complete > 0)
      CHECK(value_ok(s->get_meta("last_batch")) == std::optional<bytes>(std::to_string(complete - 1)));
    // The store carries on where the writer stopped.
    if (complete < batches) CHECK(commit_ok(*s, st.batch(complete)).stored == 2 * per_doc);
  }
}

TEST_CASE("open clears the reader slot of a process killed inside a read transaction",
          "[persistence][crash]") {
  temp_dir tmp;
  { open_ok(tmp.path(), small_options()); }

  // A process that keeps the environment open: otherwise the next opener
  // would be alone and LMDB would reset the whole reader table itself.
  int hold[2], hold_ready[2], reader_ready[2];
  REQUIRE(pipe(hold) == 0);
  REQUIRE(pipe(hold_ready) == 0);
  REQUIRE(pipe(reader_ready) == 0);
  pid_t holder = fork();
  REQUIRE(holder >= 0);
  if (holder == 0) {
    in_child([&] {
      close(hold[1]);
      lmdb::env env;
      env.set_max_dbs(16);
      env.open(tmp.path(), MDB_NOTLS, 0600);
      if (write(hold_ready[1], "r", 1) != 1) _exit(2);
      char b;
      while (read(hold[0], &b, 1) > 0) {  // until the parent closes the pipe
      }
    });
  }
  close(hold[0]);
  char c;
  REQUIRE(read(hold_ready[0], &c, 1) == 1);

  pid_t reader = fork();
  REQUIRE(reader >= 0);
  if (reader == 0) {
    in_child([&] {
      lmdb::env env;
      env.set_max_dbs(16);
      env.open(tmp.path(), MDB_NOTLS, 0600);
      auto t = lmdb::txn::begin(env.handle(), MDB_RDONLY);  // takes a reader slot
      if (write(reader_ready[1], "r", 1) != 1) _exit(2);
      for (;;) pause();
    });
  }
  REQUIRE(read(reader_ready[0], &c, 1) == 1);
  kill(reader, SIGKILL);
  int status = 0;
  REQUIRE(waitpid(reader, &status, 0) == reader);

  {
    auto s = open_ok(tmp.path(), small_options());
    CHECK(s->stale_readers_cleared() == 1);
    CHECK(value_ok(s->stats()).stale_readers_cleared == 1);
    write_batch w;
    w.put_meta("after", "crash");
    commit_ok(*s, std::move(w));
  }
  close(hold[1]);
  REQUIRE(waitpid(holder, &status, 0) == holder);
  CHECK((WIFEXITED(status) && WEXITSTATUS(status) == 0));
  for (int fd : {hold_ready[0], hold_ready[1], reader_ready[0], reader_ready[1]}) close(fd);

  auto s = open_ok(tmp.path(), small_options());
  CHECK(s->stale_readers_cleared() == 0);
}
