// bench_sync's live throughput scenarios (see bench_sync.cpp): one writer
// node to one peer, and writers on two nodes to a third.
#include <cinttypes>
#include <condition_variable>
#include <cstdio>
#include <deque>

#include "sync_scenarios.hpp"

namespace starling::bench_sync {

namespace {

// `threads` threads writing to `doc` on one node until stop(), each with up
// to `in_flight` writes not yet acknowledged (durable): 1 is a blocking
// write() loop, more keeps writes in flight with write_async() so that they
// share commits. Keeps every acknowledgement time.
class writer_set {
 public:
  writer_set(node& n, std::string doc, std::string tag, std::size_t threads, std::size_t in_flight)
      : per_thread_(threads) {
    for (std::size_t t = 0; t < threads; ++t)
      threads_.emplace_back([this, &n, doc, tag, t, in_flight] {
        auto& mine = per_thread_[t];
        mine.acks.reserve(1 << 18);
        std::size_t i = 0;
        auto mutation = [&] {
          ++i;
          return std::vector<crdt::mutation>{
              {crdt::mutation::kind::set, "/" + tag + std::to_string(t) + "_" + std::to_string(i % 64), indexed_value(i)}};
        };
        while (!stop_.load(std::memory_order_relaxed)) {
          if (in_flight <= 1) {
            auto r = n.write(doc, mutation());
            if (!r) return fail(r.error());
            std::lock_guard<std::mutex> lock(mine.mu);
            mine.acks.push_back(clk::now());
            continue;
          }
          {
            std::unique_lock<std::mutex> lock(mine.mu);
            mine.cv.wait(lock, [&] { return mine.outstanding < in_flight || stop_.load(); });
            if (stop_.load()) break;
            ++mine.outstanding;
          }
          n.write_async(doc, mutation(), [this, &mine](expected<write_result, std::string> r) {
            if (!r) fail(r.error());
            std::lock_guard<std::mutex> lock(mine.mu);
            if (r) mine.acks.push_back(clk::now());
            --mine.outstanding;
            mine.cv.notify_all();
          });
        }
        // The writes still in flight are acknowledged (or fail) before the
        // node goes: wait for them so that total() counts them.
        std::unique_lock<std::mutex> lock(mine.mu);
        mine.cv.wait(lock, [&] { return mine.outstanding == 0; });
      });
  }
  ~writer_set() { join(); }
  void stop() {
    join();
    if (!error_.empty()) throw failure("write: " + error_);
  }
  std::uint64_t total() const {
    std::uint64_t n = 0;
    for (auto& v : per_thread_) n += v.acks.size();
    return n;
  }
  std::uint64_t acked_in(clk::time_point w0, clk::time_point w1) const {
    std::uint64_t n = 0;
    for (auto& v : per_thread_)
      n += static_cast<std::uint64_t>(
          std::count_if(v.acks.begin(), v.acks.end(), [&](auto t) { return t >= w0 && t < w1; }));
    return n;
  }

 private:
  struct per_thread {
    std::mutex mu;
    std::condition_variable cv;
    std::size_t outstanding = 0;
    std::vector<clk::time_point> acks;
  };
  void fail(const std::string& e) {
    std::lock_guard<std::mutex> lock(mu_);
    if (error_.empty()) error_ = e;
    stop_ = true;
  }
  void join() {
    stop_ = true;
    for (auto& p : per_thread_) {
      std::lock_guard<std::mutex> lock(p.mu);
      p.cv.notify_all();
    }
    for (auto& t : threads_)
      if (t.joinable()) t.join();
  }
  std::atomic<bool> stop_{false};
  std::mutex mu_;
  std::string error_;
  std::deque<per_thread> per_thread_;
  std::vector<std::thread> threads_;
};

// The steady window of a run started at t_start: the first min(0.5 s, 1/6)
// skipped, up to the end of the schedule.
std::pair<clk::time_point, clk::time_point> steady_window(clk::time_point t_start, double seconds) {
  auto skip = std::min(std::chrono::duration<double>(0.5), std::chrono::duration<double>(seconds / 6));
  return {t_start + std::chrono::duration_cast<clk::duration>(skip),
          t_start + std::chrono::duration_cast<clk::duration>(std::chrono::duration<double>(seconds))};
}

clk::time_point reached(change_counter& c) {
  std::lock_guard<std::mutex> lock(c.mu);
  return *c.reached;
}

}  // namespace

throughput_result run_throughput(std::size_t writers, std::size_t in_flight, double seconds, int rep) {
  const std::string doc = "tput";
  member a, b;
  change_counter got;  // outlives the nodes: B's callback uses it
  got.keep_series = true;
  auto na = open_node(a.config({&b}, true));
  auto nb = open_node(b.config({&a}, false));
  auto sub = nb->subscribe(doc, [&got](const std::string&, const std::vector<bytes>& cs) { got.add(cs.size()); });
  if (!sub) throw failure("throughput: subscribe: " + sub.error());
  nb->add_peer(url(*na));
  // Warm-up: one write through, the session is live.
  if (auto r = na->write(doc, {{crdt::mutation::kind::set, "/warm", 1}}); !r)
    throw failure("throughput: warm-up write: " + r.error());
  if (!wait_count(got, 1, clk::now() + std::chrono::seconds(60)))
    throw failure("throughput: the warm-up write never reached the peer");

  const std::uint64_t base = got.get();
  auto t_start = clk::now();
  auto [w0, w1] = steady_window(t_start, seconds);
  std::uint64_t total = 0, acked_in = 0;
  clk::time_point t_stop;
  {
    writer_set ws(*na, doc, "t", writers, in_flight);
    std::this_thread::sleep_until(w1);  // the schedule of the run, not a wait for a condition
    ws.stop();
    t_stop = clk::now();
    total = ws.total();
    acked_in = ws.acked_in(w0, w1);
  }
  if (!wait_count(got, base + total, clk::now() + std::chrono::seconds(120)))
    throw failure("throughput: the peer got " + std::to_string(got.get() - base) + " of " + std::to_string(total));
  auto drained = reached(got);
  const double window = secs(w1 - w0);
  throughput_result r;
  r.peer_rate = static_cast<double>(got.at(w1) - got.at(w0)) / window;
  r.acked_rate = static_cast<double>(acked_in) / window;
  const double drain_ms = drained > t_stop ? secs(drained - t_stop) * 1e3 : 0.0;
  std::printf(
      "throughput rep=%d writers=%zu in_flight=%zu seconds=%.2f window_s=%.2f peer_changes_per_s=%.0f "
      "a_acked_per_s=%.0f total_writes=%" PRIu64 " drain_after_stop_ms=%.1f load=\"%s\"\n",
      rep, writers, in_flight, secs(t_stop - t_start), window, r.peer_rate, r.acked_rate, total, drain_ms, loadavg().c_str());
  std::fflush(stdout);
  json_line("run", "throughput",
            jfmt("\"rep\":%d,\"writers\":%zu,\"seconds\":%.2f,\"window_s\":%.2f,\"peer_changes_per_s\":%.0f,"
                 "\"a_acked_per_s\":%.0f,\"total_writes\":%" PRIu64 ",\"drain_after_stop_ms\":%.1f",
                 rep, writers, secs(t_stop - t_start), window, r.peer_rate, r.acked_rate, total, drain_ms));
  nb.reset();
  na.reset();
  return r;
}

// Writers on A and on B at once, as fast as their writes are acknowledged;
// a full mesh of three (B dials A, C dials A and B); C only reads. Applied
// changes/s on C (from both writers) and acknowledged changes/s on A and B
// over the steady window.
throughput2_result run_throughput2(std::size_t writers, std::size_t in_flight, double seconds, int rep) {
  const std::string doc = "tput2";
  member a, b, c;
  change_counter got;  // outlives the nodes: C's callback uses it
  got.keep_series = true;
  auto na = open_node(a.config({&b, &c}, true));
  auto nb = open_node(b.config({&a, &c}, true));
  auto nc = open_node(c.config({&a, &b}, false));
  auto sub = nc->subscribe(doc, [&got](const std::string&, const std::vector<bytes>& cs) { got.add(cs.size()); });
  if (!sub) throw failure("throughput2: subscribe: " + sub.error());
  nb->add_peer(url(*na));
  nc->add_peer(url(*na));
  nc->add_peer(url(*nb));
  // Warm-up: one write on each writer reaches C.
  for (auto* n : {na.get(), nb.get()})
    if (auto r = n->write(doc, {{crdt::mutation::kind::set, "/warm", 1}}); !r)
      throw failure("throughput2: warm-up write: " + r.error());
  if (!wait_count(got, 2, clk::now() + std::chrono::seconds(60)))
    throw failure("throughput2: the warm-up writes never reached C");

  const std::uint64_t base = got.get();
  auto t_start = clk::now();
  auto [w0, w1] = steady_window(t_start, seconds);
  std::uint64_t total_a = 0, total_b = 0, acked_a = 0, acked_b = 0;
  clk::time_point t_stop;
  {
    writer_set wa(*na, doc, "a", writers, in_flight), wb(*nb, doc, "b", writers, in_flight);
    std::this_thread::sleep_until(w1);
    wa.stop();
    wb.stop();
    t_stop = clk::now();
    total_a = wa.total();
    total_b = wb.total();
    acked_a = wa.acked_in(w0, w1);
    acked_b = wb.acked_in(w0, w1);
  }
  const std::uint64_t total = total_a + total_b;
  if (!wait_count(got, base + total, clk::now() + std::chrono::seconds(120)))
    throw failure("throughput2: C got " + std::to_string(got.get() - base) + " of " + std::to_string(total));
  auto drained = reached(got);
  const double window = secs(w1 - w0);
  throughput2_result r;
  r.c_rate = static_cast<double>(got.at(w1) - got.at(w0)) / window;
  r.a_acked = static_cast<double>(acked_a) / window;
  r.b_acked = static_cast<double>(acked_b) / window;
  const double drain_ms = drained > t_stop ? secs(drained - t_stop) * 1e3 : 0.0;
  std::printf(
      "throughput2 rep=%d writers_per_node=%zu in_flight=%zu seconds=%.2f window_s=%.2f c_applied_per_s=%.0f "
      "a_acked_per_s=%.0f b_acked_per_s=%.0f total_writes=%" PRIu64 " drain_after_stop_ms=%.1f load=\"%s\"\n",
      rep, writers, in_flight, secs(t_stop - t_start), window, r.c_rate, r.a_acked, r.b_acked, total, drain_ms,
      loadavg().c_str());
  std::fflush(stdout);
  json_line("run", "throughput2",
            jfmt("\"rep\":%d,\"writers\":%zu,\"seconds\":%.2f,\"window_s\":%.2f,\"c_applied_per_s\":%.0f,"
                 "\"a_acked_per_s\":%.0f,\"b_acked_per_s\":%.0f,\"acked_per_s\":%.0f,\"total_writes\":%" PRIu64
                 ",\"drain_after_stop_ms\":%.1f",
                 rep, writers, secs(t_stop - t_start), window, r.c_rate, r.a_acked, r.b_acked, r.a_acked + r.b_acked,
                 total, drain_ms));
  nc.reset();
  nb.reset();
  na.reset();
  return r;
}

}  // namespace starling::bench_sync
