// End-to-end replication benchmarks: nodes in one process, connected over
// real loopback WebSockets (authenticated, sealed sync protocol), driven
// through the embedding facade starling::node. A plain program (not Google
// Benchmark): one line per measurement on stdout, then a summary of medians.
//
//   catchup     N changes (10 authors, one `set` of a ~40-byte value each,
//               one document) preloaded straight into A's store; an empty B
//               dials A; time from add_peer until B has committed all of them
//               (its subscription saw N changes), checked against A's
//               frontier and digest. Reports changes/s end to end.
//   latency     A with P peers (peers dial A, each subscribes); A writes at a
//               fixed rate on a steady schedule; latency = time from A's
//               write call to the change callback on each peer.
//   throughput  A writes as fast as its writer threads can to one peer;
//               changes/s committed on the peer over a steady window.
//   restart     B holds the first 90 % of A's N changes and reconnects: time
//               to catch up, and bytes A sent over the encoded size of the
//               missing changes (a delta, not the document).
//   footprint   resident memory (a child process loading A's document) and
//               allocated disk per change of A's N-change document.
//
// Environment (defaults in brackets):
//   STARLING_BENCH_N            catch-up changes [1000000]
//   STARLING_BENCH_REPS         repetitions [3; catch-up: 1 when N >= 1M]
//   STARLING_BENCH_WRITES       latency: writes per run [3000]
//   STARLING_BENCH_RATE         latency: writes per second [1000]
//   STARLING_BENCH_PEERS        latency: peer counts [4,8]
//   STARLING_BENCH_WRITERS      throughput: writer threads [16]
//   STARLING_BENCH_SECONDS      throughput: seconds of writing [3]
//   STARLING_BENCH_DURABILITY   sync | nometasync | nosync, every node [sync]
//   STARLING_BENCH_ONLY         comma list of catchup,restart,footprint,latency,
//                               throughput [all]
//   STARLING_BENCH_KEYS         catch-up key space: change i sets /k<i % KEYS>,
//                               0 = every change a new key [1000]
//   STARLING_BENCH_JSON         1: also one JSON object per run and summary
//                               (lines starting with '{'), the shape of
//                               bench/peer/bench.mjs, for bench/compare [0]
//   STARLING_BENCH_SAMPLES      latency: a directory to write every sample to
//                               (starling_latency_p<P>_rep<R>.txt, ms) []
//   STARLING_BENCH_THREADS      actor worker threads of each node, 0 = one
//                               per core [0]
//   STARLING_BENCH_POLLS        idle polling rounds of each node's workers [0]
//   TMPDIR                      where the temporary data dirs go [/tmp]
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cinttypes>
#include <cmath>
#include <condition_variable>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "actors/embedded.hpp"
#include "auth/identity.hpp"
#include "crdt/change.hpp"
#include "crdt/document.hpp"
#include "persistence/store.hpp"
#include "persistence/write_batch.hpp"

using namespace starling;
using clk = std::chrono::steady_clock;
using crdt::mutation;

namespace {

// ------------------------------------------------------------------ helpers

struct failure : std::runtime_error {
  using std::runtime_error::runtime_error;
};

std::uint64_t env_u64(const char* name, std::uint64_t def) {
  const char* v = std::getenv(name);
  return v && *v ? std::strtoull(v, nullptr, 10) : def;
}

std::string env_str(const char* name, const std::string& def) {
  const char* v = std::getenv(name);
  return v && *v ? std::string(v) : def;
}

std::vector<std::uint64_t> env_list(const char* name, const std::string& def) {
  std::vector<std::uint64_t> out;
  std::string s = env_str(name, def);
  std::size_t at = 0;
  while (at < s.size()) {
    auto comma = s.find(',', at);
    if (comma == std::string::npos) comma = s.size();
    if (comma > at) out.push_back(std::strtoull(s.substr(at, comma - at).c_str(), nullptr, 10));
    at = comma + 1;
  }
  return out;
}

bool selected(const std::string& what) {
  std::string only = env_str("STARLING_BENCH_ONLY", "");
  if (only.empty()) return true;
  return ("," + only + ",").find("," + what + ",") != std::string::npos;
}

persistence::durability_mode durability() {
  auto d = env_str("STARLING_BENCH_DURABILITY", "sync");
  if (d == "sync") return persistence::durability_mode::sync;
  if (d == "nometasync") return persistence::durability_mode::nometasync;
  if (d == "nosync") return persistence::durability_mode::nosync;
  throw failure("STARLING_BENCH_DURABILITY must be sync, nometasync or nosync, not '" + d + "'");
}

std::string loadavg() {
  std::ifstream f("/proc/loadavg");
  std::string line;
  std::getline(f, line);
  return line.empty() ? "?" : line;
}

bool json_mode() { return env_str("STARLING_BENCH_JSON", "0") == "1"; }

// One JSON object on stdout: {"system":"starling","kind":..,"scenario":..,
// then the given members, already formatted as `"name":value` pairs}.
void json_line(const char* kind, const char* scenario, const std::string& members) {
  if (!json_mode()) return;
  std::printf("{\"system\":\"starling\",\"kind\":\"%s\",\"scenario\":\"%s\",%s,\"load\":\"%s\"}\n", kind, scenario,
              members.c_str(), loadavg().c_str());
  std::fflush(stdout);
}

std::string jfmt(const char* fmt, ...) __attribute__((format(printf, 1, 2)));
std::string jfmt(const char* fmt, ...) {
  char buf[1024];
  va_list ap;
  va_start(ap, fmt);
  std::vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  return buf;
}

// CPU seconds (user + system) used by the whole process so far: on a shared
// machine, wall time alone does not say how much of it the nodes got.
double cpu_seconds() {
  rusage ru{};
  ::getrusage(RUSAGE_SELF, &ru);
  auto tv = [](const timeval& t) { return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_usec) / 1e6; };
  return tv(ru.ru_utime) + tv(ru.ru_stime);
}

double secs(clk::duration d) { return std::chrono::duration<double>(d).count(); }
double ms(std::int64_t ns) { return static_cast<double>(ns) / 1e6; }
std::int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(clk::now().time_since_epoch()).count();
}

double median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  auto n = v.size();
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

// Nearest-rank percentile of a sorted vector.
std::int64_t percentile(const std::vector<std::int64_t>& sorted, double p) {
  if (sorted.empty()) return 0;
  auto rank = static_cast<std::size_t>(std::ceil(p * static_cast<double>(sorted.size())));
  return sorted[std::min(sorted.size() - 1, rank == 0 ? 0 : rank - 1)];
}

// A temporary directory (mkdtemp), removed with everything in it.
struct temp_dir {
  std::string path;
  temp_dir() {
    std::string tmpl = env_str("TMPDIR", "/tmp") + "/starling-bench-sync-XXXXXX";
    std::vector<char> buf(tmpl.begin(), tmpl.end());
    buf.push_back('\0');
    if (!::mkdtemp(buf.data())) throw failure("mkdtemp " + tmpl + " failed");
    path = buf.data();
  }
  ~temp_dir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
  temp_dir(const temp_dir&) = delete;
  temp_dir& operator=(const temp_dir&) = delete;
};

// A node's data directory with its key made up front, so peers can trust it.
struct member {
  temp_dir dir;
  auth::identity id = auth::identity::generate();
  member() {
    auto saved = id.save(dir.path + "/node.key");
    if (!saved) throw failure("saving node key: " + saved.error().message);
  }
  actors::node_config config(const std::vector<const member*>& trusted, bool listen) const {
    actors::node_config cfg;
    cfg.data_dir = dir.path;
    cfg.store.durability = durability();
    cfg.listen = listen;  // 127.0.0.1, ephemeral port
    cfg.scheduler.threads = env_u64("STARLING_BENCH_THREADS", cfg.scheduler.threads);
    cfg.scheduler.poll_attempts = env_u64("STARLING_BENCH_POLLS", cfg.scheduler.poll_attempts);
    for (auto* m : trusted) {
      auth::trust_entry e;
      e.key = m->id.key();
      e.perm = auth::permissions(auth::permission::read) | auth::permission::write;
      cfg.trusted.push_back(e);
    }
    return cfg;
  }
};

std::unique_ptr<node> open_node(const actors::node_config& cfg) {
  auto n = node::open(cfg);
  if (!n) throw failure("node::open " + cfg.data_dir + ": " + n.error());
  return std::move(*n);
}

std::string url(const node& n) { return "ws://127.0.0.1:" + std::to_string(n.port()) + "/v1/sync"; }

std::optional<document_info> doc_info(node& n, const std::string& doc) {
  auto st = n.status();
  if (!st) throw failure("status: " + st.error());
  for (auto& d : st->documents)
    if (d.name == doc) return d;
  return std::nullopt;
}

// Counts the changes a subscription delivers; signals when a target is met.
// Also keeps (time, cumulative count) per delivery for rate windows.
struct change_counter {
  std::mutex mu;
  std::condition_variable cv;
  std::uint64_t count = 0;
  std::uint64_t target = UINT64_MAX;
  std::optional<clk::time_point> reached;
  std::vector<std::pair<clk::time_point, std::uint64_t>> series;
  bool keep_series = false;

  void add(std::size_t n) {
    auto t = clk::now();
    std::lock_guard<std::mutex> lock(mu);
    count += n;
    if (keep_series) series.emplace_back(t, count);
    if (!reached && count >= target) {
      reached = t;
      cv.notify_all();
    }
  }
  std::uint64_t get() {
    std::lock_guard<std::mutex> lock(mu);
    return count;
  }
  // Cumulative count delivered at or before t.
  std::uint64_t at(clk::time_point t) {
    std::lock_guard<std::mutex> lock(mu);
    auto it = std::upper_bound(series.begin(), series.end(), t,
                               [](clk::time_point x, const auto& e) { return x < e.first; });
    return it == series.begin() ? 0 : std::prev(it)->second;
  }
};

// Waits until counter reaches target or the deadline passes.
bool wait_count(change_counter& c, std::uint64_t target, clk::time_point deadline) {
  std::unique_lock<std::mutex> lock(c.mu);
  if (c.target != target) {  // a new target: when it is met is still to be seen
    c.target = target;
    c.reached.reset();
  }
  if (c.count >= target && !c.reached) c.reached = clk::now();
  return c.cv.wait_until(lock, deadline, [&] { return c.count >= target; });
}

// ---------------------------------------------------------------- catch-up

const std::string catchup_doc = "catchup";

struct preload_times {
  double build_s = 0;   // make_change: build, sign, apply in memory
  double commit_s = 0;  // waiting for LMDB commits (overlapped with building)
  double total_s = 0;
};

// N signed changes from 10 authors, committed straight into the store of
// `dir` (nosync, 10k per transaction; commits overlap with building the
// next batch), then flushed and closed.
preload_times preload(const std::string& dir, std::size_t n) {
  auto t0 = clk::now();
  persistence::store_options so;
  so.durability = persistence::durability_mode::nosync;
  auto opened = persistence::store::open(dir, so);
  if (!opened) throw failure("preload: opening store: " + opened.error().message);
  std::unique_ptr<persistence::store> st = std::move(*opened);

  std::vector<crypto::keypair> keys;
  for (int a = 0; a < 10; ++a) {
    std::array<std::uint8_t, 32> seed{};
    seed[0] = static_cast<std::uint8_t>(a + 1);
    seed[1] = 0x5b;
    keys.push_back(crypto::keypair_from_seed(seed));
  }
  crdt::document_limits lim;
  lim.retain_log = false;
  crdt::document d(catchup_doc, lim);
  const std::string value(40, 'v');
  const std::size_t key_space = env_u64("STARLING_BENCH_KEYS", 1000);
  const std::size_t per_commit = 10'000;

  preload_times t;
  std::future<expected<persistence::commit_result, persistence::store_error>> inflight;
  std::size_t inflight_n = 0;
  auto wait_inflight = [&] {
    if (!inflight.valid()) return;
    auto w0 = clk::now();
    auto r = inflight.get();
    t.commit_s += secs(clk::now() - w0);
    if (!r) throw failure("preload: commit: " + r.error().message);
    if (r->stored != inflight_n) throw failure("preload: commit stored " + std::to_string(r->stored) + " of " +
                                               std::to_string(inflight_n));
  };
  persistence::write_batch batch;
  batch.reserve(per_commit);
  auto b0 = clk::now();
  for (std::size_t i = 0; i < n; ++i) {
    auto c = d.make_change({{mutation::kind::set, "/k" + std::to_string(key_space ? i % key_space : i), value}},
                           keys[i % 10],
                           1'700'000'000'000ull + i / 10);
    if (!c) throw failure("preload: make_change: " + c.error().message);
    batch.add_change(catchup_doc, *c);
    if (batch.change_count() == per_commit || i + 1 == n) {
      t.build_s += secs(clk::now() - b0);
      wait_inflight();  // one writer at a time
      inflight_n = batch.change_count();
      inflight = std::async(std::launch::async,
                            [&st, b = std::move(batch)]() mutable { return st->commit(std::move(b)); });
      batch = persistence::write_batch{};
      batch.reserve(per_commit);
      b0 = clk::now();
    }
  }
  wait_inflight();
  auto w0 = clk::now();
  auto fl = st->flush();
  if (!fl) throw failure("preload: flush: " + fl.error().message);
  st.reset();
  t.commit_s += secs(clk::now() - w0);
  t.total_s = secs(clk::now() - t0);
  return t;
}

struct catchup_result {
  double seconds = 0;
  double rate = 0;
};

catchup_result run_catchup(member& a, std::size_t n, int rep) {
  member b;
  change_counter got;  // outlives the nodes: B's callback uses it
  auto o0 = clk::now();
  auto na = open_node(a.config({&b}, true));
  auto o1 = clk::now();
  // A serving node has its document loaded: load it before the clock starts
  // (status() opens the document owner, which replays the log from LMDB).
  auto ia = doc_info(*na, catchup_doc);
  auto o2 = clk::now();
  if (!ia || ia->changes != n)
    throw failure("catchup: A holds " + std::to_string(ia ? ia->changes : 0) + " changes, expected " +
                  std::to_string(n));
  auto bcfg = b.config({&a}, false);
  // The counting subscription must not be detached as `lagged` when a
  // committed set is large (B has no other subscribers to protect).
  bcfg.subscriber_max_changes = std::size_t{1} << 40;
  bcfg.subscriber_max_bytes = std::size_t{1} << 40;
  auto nb = open_node(bcfg);
  auto sub = nb->subscribe(catchup_doc, [&got](const std::string&, const std::vector<bytes>& cs) { got.add(cs.size()); });
  if (!sub) throw failure("catchup: subscribe on B: " + sub.error());

  std::fprintf(stderr, "bench_sync: catchup rep=%d: B dials A\n", rep);
  const double cpu0 = cpu_seconds();
  auto t0 = clk::now();
  nb->add_peer(url(*na));
  // Generous deadline: 60 s plus 10k changes/s.
  auto deadline = t0 + std::chrono::seconds(60) + std::chrono::milliseconds(n / 10);
  // The subscription is the clock; if it was detached (lagged), the
  // frontier seen through status() decides, polled while the count stalls.
  bool via_status = false;
  clk::time_point end;
  {
    std::uint64_t last = 0;
    auto last_progress = clk::now();
    for (;;) {
      if (wait_count(got, n, std::min(deadline, clk::now() + std::chrono::milliseconds(100)))) {
        std::lock_guard<std::mutex> lock(got.mu);
        end = *got.reached;
        break;
      }
      auto now = clk::now();
      if (now >= deadline)
        throw failure("catchup: B got " + std::to_string(got.get()) + " of " + std::to_string(n) +
                      " changes before the deadline");
      auto c = got.get();
      if (c != last) {
        last = c;
        last_progress = now;
      } else if (now - last_progress > std::chrono::milliseconds(250)) {
        auto ib = doc_info(*nb, catchup_doc);
        if (ib && ib->at == ia->at) {
          end = clk::now();
          via_status = true;
          break;
        }
        last_progress = now;
      }
    }
  }
  const double cpu = cpu_seconds() - cpu0;
  double s = secs(end - t0);
  // Check: same frontier and digest; what A sent.
  auto ib = doc_info(*nb, catchup_doc);
  if (!ib || ib->at != ia->at || ib->digest != ia->digest)
    throw failure("catchup: B's frontier or digest differs from A's");
  std::uint64_t sent = 0, bytes_out = 0;
  if (auto st = na->status())
    for (auto& p : st->peers)
      if (p.peer_id == b.id.node_id()) sent += p.changes_sent, bytes_out += p.bytes_out;
  catchup_result r{s, static_cast<double>(n) / s};
  std::printf(
      "catchup rep=%d n=%zu seconds=%.3f changes_per_s=%.0f a_open_s=%.3f a_load_s=%.3f a_sent=%" PRIu64
      " a_bytes_out=%" PRIu64 " bytes_per_change=%.1f cpu_s=%.3f cpu_us_per_change=%.2f done_via=%s load=\"%s\"\n",
      rep, n, s, r.rate, secs(o1 - o0), secs(o2 - o1), sent, bytes_out,
      n ? static_cast<double>(bytes_out) / static_cast<double>(n) : 0.0, cpu,
      n ? cpu * 1e6 / static_cast<double>(n) : 0.0, via_status ? "status" : "subscription",
      loadavg().c_str());
  std::fflush(stdout);
  json_line("run", "catchup",
            jfmt("\"rep\":%d,\"n\":%zu,\"keys\":%" PRIu64 ",\"seconds\":%.4f,\"changes_per_s\":%.0f,\"bytes_out\":%" PRIu64
                 ",\"cpu_s\":%.3f",
                 rep, n, env_u64("STARLING_BENCH_KEYS", 1000), s, r.rate, bytes_out, cpu));
  nb.reset();
  na.reset();
  return r;
}

// ----------------------------------------------------------------- restart

// The encoded bytes of the changes `theirs` lacks in the store at dir (the
// store must not be open elsewhere in this process).
std::uint64_t missing_bytes(const std::string& dir, const frontier& theirs, std::uint64_t* count) {
  persistence::store_options so;
  so.read_only = true;
  auto st = persistence::store::open(dir, so);
  if (!st) throw failure("restart: opening " + dir + ": " + st.error().message);
  std::uint64_t bytes = 0;
  *count = 0;
  auto page = (*st)->changes_since(catchup_doc, theirs, 1 << 20);
  while (true) {
    if (!page) throw failure("restart: changes_since: " + page.error().message);
    for (auto& c : page->changes) bytes += c.size(), ++*count;
    if (!page->next) break;
    page = (*st)->changes_since(catchup_doc, *page->next, 1 << 20);
  }
  return bytes;
}

frontier store_frontier(const std::string& dir) {
  persistence::store_options so;
  so.read_only = true;
  auto st = persistence::store::open(dir, so);
  if (!st) throw failure("restart: opening " + dir + ": " + st.error().message);
  auto f = (*st)->load_frontier(catchup_doc);
  if (!f) throw failure("restart: load_frontier: " + f.error().message);
  return *f;
}

struct restart_result {
  double seconds = 0;
  double bytes_ratio = 0;  // bytes A sent / encoded bytes of the missing changes
};

// B holds the first 90 % of A's changes (the same signed changes: preload
// is deterministic), reconnects, and must get the rest as a delta.
restart_result run_restart(member& a, std::size_t n, int rep) {
  member b;
  const std::size_t have = n - n / 10;
  preload(b.dir.path, have);
  std::uint64_t missing = 0;
  const auto want_bytes = missing_bytes(a.dir.path, store_frontier(b.dir.path), &missing);
  if (missing != n - have)
    throw failure("restart: B lacks " + std::to_string(missing) + " changes, expected " + std::to_string(n - have));
  auto na = open_node(a.config({&b}, true));
  auto ia = doc_info(*na, catchup_doc);
  auto nb = open_node(b.config({&a}, false));
  auto ib0 = doc_info(*nb, catchup_doc);  // loaded before the clock starts, as a restarted node would be
  if (!ia || !ib0 || ib0->changes != have) throw failure("restart: B does not hold its 90 %");
  auto t0 = clk::now();
  nb->add_peer(url(*na));
  auto deadline = t0 + std::chrono::seconds(120);
  while (true) {
    auto ib = doc_info(*nb, catchup_doc);
    if (ib && ib->at == ia->at && ib->digest == ia->digest) break;
    if (clk::now() > deadline) throw failure("restart: B did not catch up within 120 s");
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  double s = secs(clk::now() - t0);
  std::uint64_t sent = 0, bytes_out = 0;
  if (auto st = na->status())
    for (auto& p : st->peers)
      if (p.peer_id == b.id.node_id()) sent += p.changes_sent, bytes_out += p.bytes_out;
  restart_result r{s, want_bytes ? static_cast<double>(bytes_out) / static_cast<double>(want_bytes) : 0};
  std::printf("restart rep=%d n=%zu missing=%" PRIu64 " seconds=%.3f a_sent=%" PRIu64 " a_bytes_out=%" PRIu64
              " missing_bytes=%" PRIu64 " bytes_ratio=%.3f load=\"%s\"\n",
              rep, n, missing, s, sent, bytes_out, want_bytes, r.bytes_ratio, loadavg().c_str());
  std::fflush(stdout);
  json_line("run", "restart",
            jfmt("\"rep\":%d,\"n\":%zu,\"missing\":%" PRIu64 ",\"seconds\":%.4f,\"bytes_out\":%" PRIu64
                 ",\"missing_bytes\":%" PRIu64 ",\"bytes_ratio\":%.4f",
                 rep, n, missing, s, bytes_out, want_bytes, r.bytes_ratio));
  nb.reset();
  na.reset();
  return r;
}

// --------------------------------------------------------------- footprint

long rss_bytes() {
  std::ifstream in("/proc/self/status");
  std::string key;
  while (in >> key) {
    if (key == "VmRSS:") {
      long kb = 0;
      in >> kb;
      return kb * 1024;
    }
    std::string rest;
    std::getline(in, rest);
  }
  return 0;
}

// Run in a child process (STARLING_BENCH_FOOTPRINT_DIR set): opens a node on
// the directory, loads the document, prints the resident memory it added.
int footprint_child(const std::string& dir) {
  auto before = rss_bytes();
  actors::node_config cfg;
  cfg.data_dir = dir;
  auto nd = open_node(cfg);
  auto info = doc_info(*nd, catchup_doc);
  auto after = rss_bytes();
  std::printf("%ld %zu\n", after - before, info ? info->changes : 0);
  return 0;
}

void run_footprint(member& a, std::size_t n) {
  namespace fs = std::filesystem;
  std::error_code ec;
  auto data = fs::path(a.dir.path) / "data.mdb";
  struct stat stt {};
  if (::stat(data.c_str(), &stt) != 0) throw failure("footprint: stat " + data.string());
  double disk = static_cast<double>(stt.st_blocks) * 512.0;  // allocated, not the sparse size
  std::string cmd = "STARLING_BENCH_FOOTPRINT_DIR='" + a.dir.path + "' /proc/" + std::to_string(::getpid()) + "/exe";
  FILE* p = ::popen(cmd.c_str(), "r");
  if (!p) throw failure("footprint: cannot start the child");
  long rss = 0;
  std::size_t loaded = 0;
  int got = std::fscanf(p, "%ld %zu", &rss, &loaded);
  int rc = ::pclose(p);
  if (got != 2 || rc != 0 || loaded != n) throw failure("footprint: the child failed");
  std::printf("footprint n=%zu rss_bytes=%ld rss_bytes_per_change=%.1f disk_bytes=%.0f disk_bytes_per_change=%.1f\n",
              n, rss, static_cast<double>(rss) / static_cast<double>(n), disk, disk / static_cast<double>(n));
  json_line("summary", "footprint",
            jfmt("\"n\":%zu,\"rss_bytes_per_change\":%.1f,\"disk_bytes_per_change\":%.1f", n,
                 static_cast<double>(rss) / static_cast<double>(n), disk / static_cast<double>(n)));
  std::fflush(stdout);
}

// ----------------------------------------------------------------- latency

const std::string live_doc = "live";

// "w0000000123-xxxx..." (40 bytes): the write's index.
std::string indexed_value(std::size_t i) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "w%010zu-", i);
  std::string v(buf);
  v.resize(40, 'x');
  return v;
}

// The index carried by a change written by indexed_value, or -1 (warm-up).
long long index_of(const bytes& encoded) {
  auto c = crdt::decode(encoded);
  if (!c || c->ops.empty()) return -2;
  auto* s = std::get_if<std::string>(&c->ops[0].value);
  if (!s || s->size() < 11 || (*s)[0] != 'w') return -1;
  return std::strtoll(s->c_str() + 1, nullptr, 10);
}

struct latency_result {
  double p50_ms = 0, p99_ms = 0, max_ms = 0;
  double ack_p50_ms = 0, ack_p99_ms = 0;
};

// Latency samples of one peer, indexed by write.
struct latency_sink {
  std::mutex mu;
  std::condition_variable cv;
  std::vector<std::int64_t> lat_ns;
  std::size_t got = 0, warm = 0, bad = 0;
};

latency_result run_latency(std::size_t peers, std::size_t writes, std::size_t rate, int rep) {
  member a;
  std::vector<std::unique_ptr<member>> pm;
  for (std::size_t i = 0; i < peers; ++i) pm.push_back(std::make_unique<member>());
  std::vector<const member*> trusted_by_a;
  for (auto& m : pm) trusted_by_a.push_back(m.get());
  auto na = open_node(a.config(trusted_by_a, true));

  std::unique_ptr<std::atomic<std::int64_t>[]> send_ns(new std::atomic<std::int64_t>[writes]());
  std::vector<std::unique_ptr<latency_sink>> sinks;
  std::vector<std::unique_ptr<node>> nodes;
  for (std::size_t p = 0; p < peers; ++p) {
    sinks.push_back(std::make_unique<latency_sink>());
    sinks.back()->lat_ns.assign(writes, -1);
    nodes.push_back(open_node(pm[p]->config({&a}, false)));
    auto* sink = sinks.back().get();
    auto* sends = send_ns.get();
    auto sub = nodes.back()->subscribe(live_doc, [sink, sends, writes](const std::string&, const std::vector<bytes>& cs) {
      for (auto& e : cs) {
        auto i = index_of(e);
        auto t = now_ns();
        std::lock_guard<std::mutex> lock(sink->mu);
        if (i == -1) {
          ++sink->warm;
        } else if (i < 0 || static_cast<std::size_t>(i) >= writes) {
          ++sink->bad;
        } else {
          auto s = sends[i].load(std::memory_order_acquire);
          if (sink->lat_ns[i] < 0 && s > 0) {
            sink->lat_ns[i] = t - s;
            ++sink->got;
          }
        }
        sink->cv.notify_all();
      }
    });
    if (!sub) throw failure("latency: subscribe: " + sub.error());
  }
  for (auto& n : nodes) n->add_peer(url(*na));

  // Warm-up: 200 paced writes, until every peer has them: every session is
  // through its catch-up and hold-back and streams live.
  const std::size_t warm = 200;
  auto period = std::chrono::nanoseconds(1'000'000'000 / std::max<std::size_t>(rate, 1));
  {
    auto w0 = clk::now();
    for (std::size_t i = 0; i < warm; ++i) {
      std::this_thread::sleep_until(w0 + i * period);
      auto r = na->write(live_doc, {{mutation::kind::set, "/warm", "warm-" + std::to_string(i)}});
      if (!r) throw failure("latency: warm-up write: " + r.error());
    }
    auto deadline = clk::now() + std::chrono::seconds(60);
    for (auto& s : sinks) {
      std::unique_lock<std::mutex> lock(s->mu);
      if (!s->cv.wait_until(lock, deadline, [&] { return s->warm >= warm; }))
        throw failure("latency: a peer got " + std::to_string(s->warm) + " of " + std::to_string(warm) +
                      " warm-up writes");
    }
  }

  // Paced writes from 16 threads: a write blocks until durable (an fsync
  // with sync, several ms here), so several must be in flight to keep the
  // schedule; schedule_slip_max_ms reports how far it slipped anyway.
  const std::size_t threads = 16;
  std::vector<std::int64_t> ack_ns(writes, 0), slip_ns(writes, 0);
  std::atomic<std::size_t> next{0};
  std::atomic<bool> write_failed{false};
  std::string write_error;
  std::mutex err_mu;
  auto start = clk::now() + std::chrono::milliseconds(20);
  std::vector<std::thread> ws;
  for (std::size_t t = 0; t < threads; ++t)
    ws.emplace_back([&] {
      for (;;) {
        auto i = next.fetch_add(1);
        if (i >= writes) return;
        auto at = start + i * period;
        std::this_thread::sleep_until(at);
        auto t0 = clk::now();
        slip_ns[i] = std::chrono::duration_cast<std::chrono::nanoseconds>(t0 - at).count();
        send_ns[i].store(std::chrono::duration_cast<std::chrono::nanoseconds>(t0.time_since_epoch()).count(),
                         std::memory_order_release);
        auto r = na->write(live_doc, {{mutation::kind::set, "/w" + std::to_string(i % 100), indexed_value(i)}});
        ack_ns[i] = std::chrono::duration_cast<std::chrono::nanoseconds>(clk::now() - t0).count();
        if (!r) {
          std::lock_guard<std::mutex> lock(err_mu);
          write_failed = true;
          write_error = r.error();
        }
      }
    });
  for (auto& w : ws) w.join();
  if (write_failed) throw failure("latency: write: " + write_error);
  auto deadline = clk::now() + std::chrono::seconds(30);
  for (auto& s : sinks) {
    std::unique_lock<std::mutex> lock(s->mu);
    if (!s->cv.wait_until(lock, deadline, [&] { return s->got >= writes; }))
      throw failure("latency: a peer got " + std::to_string(s->got) + " of " + std::to_string(writes) + " writes");
  }
  std::vector<std::int64_t> all;
  for (auto& s : sinks) {
    std::lock_guard<std::mutex> lock(s->mu);
    all.insert(all.end(), s->lat_ns.begin(), s->lat_ns.end());
  }
  std::sort(all.begin(), all.end());
  std::sort(ack_ns.begin(), ack_ns.end());
  auto max_slip = *std::max_element(slip_ns.begin(), slip_ns.end());
  latency_result r;
  r.p50_ms = ms(percentile(all, 0.50));
  r.p99_ms = ms(percentile(all, 0.99));
  r.max_ms = ms(all.back());
  r.ack_p50_ms = ms(percentile(ack_ns, 0.50));
  r.ack_p99_ms = ms(percentile(ack_ns, 0.99));
  std::printf(
      "latency peers=%zu rep=%d writes=%zu rate=%zu samples=%zu p50_ms=%.3f p99_ms=%.3f max_ms=%.3f "
      "write_ack_p50_ms=%.3f write_ack_p99_ms=%.3f schedule_slip_max_ms=%.3f load=\"%s\"\n",
      peers, rep, writes, rate, all.size(), r.p50_ms, r.p99_ms, r.max_ms, r.ack_p50_ms, r.ack_p99_ms, ms(max_slip),
      loadavg().c_str());
  std::fflush(stdout);
  json_line("run", "latency",
            jfmt("\"peers\":%zu,\"rep\":%d,\"writes\":%zu,\"rate\":%zu,\"samples\":%zu,\"p50_ms\":%.3f,\"p99_ms\":%.3f,"
                 "\"max_ms\":%.3f,\"write_ack_p50_ms\":%.3f,\"write_ack_p99_ms\":%.3f,\"schedule_slip_max_ms\":%.3f",
                 peers, rep, writes, rate, all.size(), r.p50_ms, r.p99_ms, r.max_ms, r.ack_p50_ms, r.ack_p99_ms,
                 ms(max_slip)));
  if (auto dir = env_str("STARLING_BENCH_SAMPLES", ""); !dir.empty()) {
    std::filesystem::create_directories(dir);
    std::ofstream f(dir + "/starling_latency_p" + std::to_string(peers) + "_rep" + std::to_string(rep) + ".txt");
    char b[32];
    for (auto x : all) {
      std::snprintf(b, sizeof b, "%.4f\n", ms(x));
      f << b;
    }
  }
  nodes.clear();
  na.reset();
  return r;
}

// -------------------------------------------------------------- throughput

const std::string tput_doc = "tput";

struct throughput_result {
  double peer_rate = 0;   // committed on the peer, steady window
  double acked_rate = 0;  // acknowledged (durable) on A, same window
};

throughput_result run_throughput(std::size_t writers, double seconds, int rep) {
  member a, b;
  change_counter got;  // outlives the nodes: B's callback uses it
  got.keep_series = true;
  auto na = open_node(a.config({&b}, true));
  auto nb = open_node(b.config({&a}, false));
  auto sub = nb->subscribe(tput_doc, [&got](const std::string&, const std::vector<bytes>& cs) { got.add(cs.size()); });
  if (!sub) throw failure("throughput: subscribe: " + sub.error());
  nb->add_peer(url(*na));
  // Warm-up: one write through, the session is live.
  if (auto r = na->write(tput_doc, {{mutation::kind::set, "/warm", 1}}); !r)
    throw failure("throughput: warm-up write: " + r.error());
  if (!wait_count(got, 1, clk::now() + std::chrono::seconds(60)))
    throw failure("throughput: the warm-up write never reached the peer");

  const std::uint64_t base = got.get();
  std::atomic<bool> stop{false};
  std::atomic<std::uint64_t> acked{0};
  std::mutex series_mu;
  std::vector<clk::time_point> ack_times;  // per acknowledged write, merged at the end
  std::atomic<bool> write_failed{false};
  std::string write_error;
  std::vector<std::vector<clk::time_point>> per_thread(writers);
  std::vector<std::thread> ws;
  auto t_start = clk::now();
  for (std::size_t t = 0; t < writers; ++t)
    ws.emplace_back([&, t] {
      auto& mine = per_thread[t];
      mine.reserve(1 << 16);
      std::size_t i = 0;
      while (!stop.load(std::memory_order_relaxed)) {
        auto r = na->write(tput_doc, {{mutation::kind::set, "/t" + std::to_string(t) + "_" + std::to_string(i++ % 64),
                                       indexed_value(i)}});
        if (!r) {
          std::lock_guard<std::mutex> lock(series_mu);
          write_failed = true;
          write_error = r.error();
          return;
        }
        mine.push_back(clk::now());
        acked.fetch_add(1, std::memory_order_relaxed);
      }
    });
  // The steady window: skip the first 0.5 s (or 1/6 of the run).
  auto skip = std::min(std::chrono::duration<double>(0.5), std::chrono::duration<double>(seconds / 6));
  auto w0 = t_start + std::chrono::duration_cast<clk::duration>(skip);
  auto w1 = t_start + std::chrono::duration_cast<clk::duration>(std::chrono::duration<double>(seconds));
  std::this_thread::sleep_until(w1);  // the schedule of the run, not a wait for a condition
  stop = true;
  for (auto& w : ws) w.join();
  if (write_failed) throw failure("throughput: write: " + write_error);
  auto t_stop = clk::now();
  const std::uint64_t total = acked.load();
  if (!wait_count(got, base + total, clk::now() + std::chrono::seconds(120)))
    throw failure("throughput: the peer got " + std::to_string(got.get() - base) + " of " + std::to_string(total));
  clk::time_point drained;
  {
    std::lock_guard<std::mutex> lock(got.mu);
    drained = *got.reached;
  }
  for (auto& v : per_thread) ack_times.insert(ack_times.end(), v.begin(), v.end());
  auto acked_in = static_cast<std::uint64_t>(std::count_if(ack_times.begin(), ack_times.end(),
                                                           [&](clk::time_point t) { return t >= w0 && t < w1; }));
  const double window = secs(w1 - w0);
  throughput_result r;
  r.peer_rate = static_cast<double>(got.at(w1) - got.at(w0)) / window;
  r.acked_rate = static_cast<double>(acked_in) / window;
  std::printf(
      "throughput rep=%d writers=%zu seconds=%.2f window_s=%.2f peer_changes_per_s=%.0f a_acked_per_s=%.0f "
      "total_writes=%" PRIu64 " drain_after_stop_ms=%.1f load=\"%s\"\n",
      rep, writers, secs(t_stop - t_start), window, r.peer_rate, r.acked_rate, total,
      drained > t_stop ? secs(drained - t_stop) * 1e3 : 0.0, loadavg().c_str());
  std::fflush(stdout);
  json_line("run", "throughput",
            jfmt("\"rep\":%d,\"writers\":%zu,\"seconds\":%.2f,\"window_s\":%.2f,\"peer_changes_per_s\":%.0f,"
                 "\"a_acked_per_s\":%.0f,\"total_writes\":%" PRIu64 ",\"drain_after_stop_ms\":%.1f",
                 rep, writers, secs(t_stop - t_start), window, r.peer_rate, r.acked_rate, total,
                 drained > t_stop ? secs(drained - t_stop) * 1e3 : 0.0));
  nb.reset();
  na.reset();
  return r;
}

}  // namespace

int main() {
  if (const char* dir = std::getenv("STARLING_BENCH_FOOTPRINT_DIR")) {
    try {
      return footprint_child(dir);
    } catch (const std::exception& e) {
      std::fprintf(stderr, "bench_sync footprint: %s\n", e.what());
      return 1;
    }
  }
  try {
    const std::size_t n = env_u64("STARLING_BENCH_N", 1'000'000);
    const bool reps_set = std::getenv("STARLING_BENCH_REPS") != nullptr;
    const int reps = static_cast<int>(std::max<std::uint64_t>(1, env_u64("STARLING_BENCH_REPS", 3)));
    const int catchup_reps = reps_set ? reps : (n >= 1'000'000 ? 1 : 3);
    const std::size_t writes = env_u64("STARLING_BENCH_WRITES", 3000);
    const std::size_t rate = env_u64("STARLING_BENCH_RATE", 1000);
    const auto peer_counts = env_list("STARLING_BENCH_PEERS", "4,8");
    const std::size_t writers = env_u64("STARLING_BENCH_WRITERS", 16);
    const double seconds = static_cast<double>(env_u64("STARLING_BENCH_SECONDS", 3));
    durability();  // validates the setting

    std::printf("bench_sync start load=\"%s\" cpus=%u durability=%s n=%zu reps=%d catchup_reps=%d writes=%zu "
                "rate=%zu writers=%zu seconds=%.0f\n",
                loadavg().c_str(), std::thread::hardware_concurrency(),
                env_str("STARLING_BENCH_DURABILITY", "sync").c_str(), n, reps, catchup_reps, writes, rate, writers,
                seconds);
    std::fflush(stdout);

    std::vector<std::string> summary;
    char line[512];

    std::optional<member> source;  // A's data dir, preloaded once for catchup, restart and footprint
    preload_times pt;
    auto preloaded = [&]() -> member& {
      if (!source) {
        source.emplace();
        pt = preload(source->dir.path, n);
        std::printf("preload n=%zu seconds=%.3f build_sign_s=%.3f commit_wait_s=%.3f changes_per_s=%.0f\n", n,
                    pt.total_s, pt.build_s, pt.commit_s, static_cast<double>(n) / pt.total_s);
        std::fflush(stdout);
      }
      return *source;
    };

    if (selected("catchup")) {
      member& a = preloaded();  // served to a fresh B per repetition
      std::vector<double> rates, times;
      for (int r = 1; r <= catchup_reps; ++r) {
        auto res = run_catchup(a, n, r);
        rates.push_back(res.rate);
        times.push_back(res.seconds);
      }
      std::snprintf(line, sizeof line,
                    "summary catchup n=%zu reps=%d median_seconds=%.3f median_changes_per_s=%.0f (target >= 300000) "
                    "preload_s=%.3f",
                    n, catchup_reps, median(times), median(rates), pt.total_s);
      summary.push_back(line);
      json_line("summary", "catchup",
                jfmt("\"n\":%zu,\"keys\":%" PRIu64 ",\"reps\":%d,\"median_seconds\":%.4f,\"median_changes_per_s\":%.0f,"
                     "\"preload_s\":%.3f",
                     n, env_u64("STARLING_BENCH_KEYS", 1000), catchup_reps, median(times), median(rates), pt.total_s));
    }

    if (selected("restart")) {
      member& a = preloaded();
      std::vector<double> times, ratios;
      for (int r = 1; r <= catchup_reps; ++r) {
        auto res = run_restart(a, n, r);
        times.push_back(res.seconds);
        ratios.push_back(res.bytes_ratio);
      }
      std::snprintf(line, sizeof line,
                    "summary restart n=%zu missing=%zu reps=%d median_seconds=%.3f median_bytes_ratio=%.3f "
                    "(target <= 1.1)",
                    n, n / 10, catchup_reps, median(times), median(ratios));
      summary.push_back(line);
      json_line("summary", "restart",
                jfmt("\"n\":%zu,\"missing\":%zu,\"reps\":%d,\"median_seconds\":%.4f,\"median_bytes_ratio\":%.4f", n,
                     n / 10, catchup_reps, median(times), median(ratios)));
    }

    if (selected("footprint")) run_footprint(preloaded(), n);

    if (selected("latency")) {
      for (auto p : peer_counts) {
        std::vector<double> p50, p99, mx, a50, a99;
        for (int r = 1; r <= reps; ++r) {
          auto res = run_latency(p, writes, rate, r);
          p50.push_back(res.p50_ms);
          p99.push_back(res.p99_ms);
          mx.push_back(res.max_ms);
          a50.push_back(res.ack_p50_ms);
          a99.push_back(res.ack_p99_ms);
        }
        std::snprintf(line, sizeof line,
                      "summary latency peers=%" PRIu64 " reps=%d median_p50_ms=%.3f median_p99_ms=%.3f "
                      "median_max_ms=%.3f (target p99 <= 5) median_write_ack_p50_ms=%.3f median_write_ack_p99_ms=%.3f",
                      p, reps, median(p50), median(p99), median(mx), median(a50), median(a99));
        summary.push_back(line);
        json_line("summary", "latency",
                  jfmt("\"peers\":%" PRIu64 ",\"reps\":%d,\"writes\":%zu,\"rate\":%zu,\"median_p50_ms\":%.3f,"
                       "\"median_p99_ms\":%.3f,\"median_max_ms\":%.3f,\"median_write_ack_p50_ms\":%.3f,"
                       "\"median_write_ack_p99_ms\":%.3f",
                       p, reps, writes, rate, median(p50), median(p99), median(mx), median(a50), median(a99)));
      }
    }

    if (selected("throughput")) {
      std::vector<double> peer, acked;
      for (int r = 1; r <= reps; ++r) {
        auto res = run_throughput(writers, seconds, r);
        peer.push_back(res.peer_rate);
        acked.push_back(res.acked_rate);
      }
      std::snprintf(line, sizeof line,
                    "summary throughput writers=%zu reps=%d median_peer_changes_per_s=%.0f median_a_acked_per_s=%.0f",
                    writers, reps, median(peer), median(acked));
      summary.push_back(line);
      json_line("summary", "throughput",
                jfmt("\"writers\":%zu,\"reps\":%d,\"seconds\":%.0f,\"median_peer_changes_per_s\":%.0f,"
                     "\"median_a_acked_per_s\":%.0f",
                     writers, reps, seconds, median(peer), median(acked)));
    }

    for (auto& s : summary) std::printf("%s\n", s.c_str());
    std::printf("bench_sync end load=\"%s\"\n", loadavg().c_str());
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_sync: %s\n", e.what());
    std::printf("bench_sync FAILED: %s (load=\"%s\")\n", e.what(), loadavg().c_str());
    return 1;
  }
}
