// Shared helpers of bench_sync (see bench_sync.cpp for the scenarios and the
// environment): env parsing, JSON output, clocks and percentiles, rusage and
// RSS, temporary node directories with keys, counters of delivered changes,
// and the per-peer traffic seen through node::status().
#pragma once

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "actors/embedded.hpp"
#include "auth/identity.hpp"
#include "persistence/store.hpp"

namespace starling::bench_sync {

using clk = std::chrono::steady_clock;

struct failure : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// ---------------------------------------------------------------- environment

std::uint64_t env_u64(const char* name, std::uint64_t def);
std::string env_str(const char* name, const std::string& def);
// A comma list of numbers ("4,8").
std::vector<std::uint64_t> env_list(const char* name, const std::string& def);
// A comma list of words ("star,line").
std::vector<std::string> env_words(const char* name, const std::string& def);
// STARLING_BENCH_ONLY names `what` (or is unset).
bool selected(const std::string& what);
persistence::durability_mode durability();

// ---------------------------------------------------------------- output

std::string loadavg();
bool json_mode();
// One JSON object on stdout: {"system":"starling","kind":..,"scenario":..,
// then the given members, already formatted as `"name":value` pairs}.
void json_line(const char* kind, const char* scenario, const std::string& members);
std::string jfmt(const char* fmt, ...) __attribute__((format(printf, 1, 2)));
// A JSON array of numbers with 3 decimals: [1.250,2.000].
std::string jarray(const std::vector<double>& v);
// Writes latency samples (ns) as ms, one a line, to
// $STARLING_BENCH_SAMPLES/<name> when that variable is set.
void write_samples(const std::string& name, const std::vector<std::int64_t>& sorted_ns);

// ---------------------------------------------------------------- clocks, stats

// CPU seconds (user + system) used by the whole process so far: on a shared
// machine, wall time alone does not say how much of it the nodes got.
double cpu_seconds();
// Resident set size of this process (VmRSS).
// A /proc/self/status memory line in bytes: "VmRSS:" (all resident),
// "RssAnon:" (heap and stacks), "RssFile:" (mapped files: LMDB's pages).
long rss_bytes(const char* field = "VmRSS:");
inline double secs(clk::duration d) { return std::chrono::duration<double>(d).count(); }
inline double ms(std::int64_t ns) { return static_cast<double>(ns) / 1e6; }
inline std::int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(clk::now().time_since_epoch()).count();
}
double median(std::vector<double> v);
// Nearest-rank percentile of a sorted vector.
std::int64_t percentile(const std::vector<std::int64_t>& sorted, double p);

// ---------------------------------------------------------------- nodes

// A temporary directory (mkdtemp), removed with everything in it.
struct temp_dir {
  std::string path;
  temp_dir();
  ~temp_dir();
  temp_dir(const temp_dir&) = delete;
  temp_dir& operator=(const temp_dir&) = delete;
};

// A node's data directory with its key made up front, so peers can trust it.
struct member {
  temp_dir dir;
  auth::identity id = auth::identity::generate();
  member();
  // Trusts `trusted` with read + write; listens on 127.0.0.1 (ephemeral port)
  // when `listen`; the durability of STARLING_BENCH_DURABILITY.
  actors::node_config config(const std::vector<const member*>& trusted, bool listen) const;
};

std::unique_ptr<node> open_node(const actors::node_config& cfg);
std::string url(const node& n);
std::optional<document_info> doc_info(node& n, const std::string& doc);

// What one node's session with one peer carried so far (status()).
struct traffic {
  std::uint64_t bytes_in = 0, bytes_out = 0, changes_sent = 0, changes_received = 0;
};
// Sums over n's sessions whose peer is `peer_id` (hex node id).
traffic peer_traffic(node& n, const std::string& peer_id);
// Polls peer_traffic until two readings `quiet` apart are equal (the session
// has nothing more in flight), at most `limit`; returns the last reading.
traffic settled_traffic(node& n, const std::string& peer_id,
                        std::chrono::milliseconds quiet = std::chrono::milliseconds(150),
                        std::chrono::milliseconds limit = std::chrono::seconds(10));

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

  void add(std::size_t n);
  std::uint64_t get();
  // Cumulative count delivered at or before t.
  std::uint64_t at(clk::time_point t);
};

// Waits until counter reaches target or the deadline passes.
bool wait_count(change_counter& c, std::uint64_t target, clk::time_point deadline);

// ---------------------------------------------------------------- live values

// "w0000000123-xxxx..." (40 bytes): the write's index.
std::string indexed_value(std::size_t i);
// The index carried by a change written by indexed_value, -1 for another
// value (warm-up), -2 for an undecodable change.
long long index_of(const bytes& encoded);

// Writes `writes` changes to `doc` on `n` on a steady schedule of `rate`/s
// from `threads` threads (a write blocks until durable, so several are in
// flight): change i sets /w<i % 100> to indexed_value(i). Calls
// on_send(i, ns) right before each write call (now_ns()). Returns the
// acknowledgement times (ns, in index order) and the largest schedule slip.
struct paced_result {
  std::vector<std::int64_t> ack_ns;
  std::int64_t max_slip_ns = 0;
};
template <class OnSend>
paced_result paced_writes(node& n, const std::string& doc, std::size_t writes, std::size_t rate, std::size_t threads,
                          OnSend on_send);
// Warm-up: `count` writes of /warm (not indexed) paced at `rate`/s.
void warm_writes(node& n, const std::string& doc, std::size_t count, std::size_t rate);

template <class OnSend>
paced_result paced_writes(node& n, const std::string& doc, std::size_t writes, std::size_t rate, std::size_t threads,
                          OnSend on_send) {
  paced_result res;
  res.ack_ns.assign(writes, 0);
  std::vector<std::int64_t> slip_ns(writes, 0);
  auto period = std::chrono::nanoseconds(1'000'000'000 / std::max<std::size_t>(rate, 1));
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
        on_send(i, std::chrono::duration_cast<std::chrono::nanoseconds>(t0.time_since_epoch()).count());
        auto r = n.write(doc, {{crdt::mutation::kind::set, "/w" + std::to_string(i % 100), indexed_value(i)}});
        res.ack_ns[i] = std::chrono::duration_cast<std::chrono::nanoseconds>(clk::now() - t0).count();
        if (!r) {
          std::lock_guard<std::mutex> lock(err_mu);
          write_failed = true;
          write_error = r.error();
        }
      }
    });
  for (auto& w : ws) w.join();
  if (write_failed) throw failure("write: " + write_error);
  res.max_slip_ns = writes ? *std::max_element(slip_ns.begin(), slip_ns.end()) : 0;
  return res;
}


}  // namespace starling::bench_sync
