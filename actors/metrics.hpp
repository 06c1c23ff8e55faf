// Counters of a node's peer sessions, and the limiter that keeps a
// misbehaving peer from flooding the log.
//
// Threading: node_metrics is written by links on any thread (relaxed
// atomics: they are statistics, not synchronisation) and read by anyone.
// log_limiter may be called from any thread (one mutex).
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>

#include "protocol/errors.hpp"

namespace starling::actors {

struct node_metrics {
  static constexpr std::size_t codes = 32;  // > every errc value
  // Sessions this node closed because of the peer's error, by code; and
  // sessions the peer closed with an error frame or 4xxx close code.
  std::array<std::atomic<std::uint64_t>, codes> closed_for{};
  std::array<std::atomic<std::uint64_t>, codes> closed_by_peer{};
  std::atomic<std::uint64_t> sessions_opened{0};         // connections that reached the handshake
  std::atomic<std::uint64_t> sessions_authenticated{0};
  std::atomic<std::uint64_t> sessions_closed{0};
  std::atomic<std::uint64_t> log_lines_suppressed{0};
  // Documents: changes applied from local writes and from peers, remote
  // duplicates, signatures verified, refusals by crdt::refusal value, forks.
  std::atomic<std::uint64_t> changes_local{0};
  std::atomic<std::uint64_t> changes_remote{0};
  std::atomic<std::uint64_t> changes_duplicate{0};
  std::atomic<std::uint64_t> signatures_checked{0};
  std::atomic<std::uint64_t> forks_detected{0};
  std::array<std::atomic<std::uint64_t>, codes> refused{};

  // Store commits: a latency histogram (cumulative buckets, in seconds, as
  // Prometheus wants them) and the changes committed.
  static constexpr std::array<double, 12> commit_buckets{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
                                                         0.05,   0.1,   0.25,   0.5,   1.0,  2.5};
  std::array<std::atomic<std::uint64_t>, commit_buckets.size() + 1> commit_le{};  // last: +Inf
  std::atomic<std::uint64_t> commit_count{0};
  std::atomic<std::uint64_t> commit_sum_us{0};
  std::atomic<std::uint64_t> commit_failures{0};
  void observe_commit(std::chrono::microseconds d) {
    double secs = static_cast<double>(d.count()) / 1e6;
    for (std::size_t i = 0; i < commit_buckets.size(); ++i)
      if (secs <= commit_buckets[i]) commit_le[i].fetch_add(1, std::memory_order_relaxed);
    commit_le[commit_buckets.size()].fetch_add(1, std::memory_order_relaxed);
    commit_count.fetch_add(1, std::memory_order_relaxed);
    commit_sum_us.fetch_add(static_cast<std::uint64_t>(d.count()), std::memory_order_relaxed);
  }

  // A session fell behind its live stream (send queue or fan-out backlog at
  // its bound) and resumed by delta: one per episode, however many batches
  // it skipped.
  std::atomic<std::uint64_t> lag_events{0};

  // Document owners that stopped with an error (a failed commit); each is
  // restarted, and what was subscribed to it subscribes again (resubscribes).
  std::atomic<std::uint64_t> owner_failures{0};
  std::atomic<std::uint64_t> owner_resubscribes{0};
  // A session could not reach a document's owner (lookup or request failed
  // after its retries) and ended with `internal`.
  std::atomic<std::uint64_t> owner_unreachable{0};
  // Batches dropped because the peer may not write the document (the
  // session goes on), and deltas a session asked its peer for again after
  // refusing changes as chain_gap / pending_full or losing them to an owner
  // restart.
  std::atomic<std::uint64_t> forbidden_batches{0};
  std::atomic<std::uint64_t> resyncs{0};

  void count_closed_for(protocol::errc c) { closed_for[index(c)].fetch_add(1, std::memory_order_relaxed); }
  void count_closed_by_peer(protocol::errc c) { closed_by_peer[index(c)].fetch_add(1, std::memory_order_relaxed); }
  // Non-zero counters by wire name.
  std::map<std::string, std::uint64_t> closed_for_by_name() const { return by_name(closed_for); }
  std::map<std::string, std::uint64_t> closed_by_peer_by_name() const { return by_name(closed_by_peer); }

 private:
  static std::size_t index(protocol::errc c) { return static_cast<std::size_t>(c) % codes; }
  static std::map<std::string, std::uint64_t> by_name(const std::array<std::atomic<std::uint64_t>, codes>& a) {
    std::map<std::string, std::uint64_t> out;
    for (auto c : protocol::all_errcs)
      if (auto n = a[index(c)].load(std::memory_order_relaxed)) out[protocol::to_string(c)] = n;
    return out;
  }
};

// Lets one line per key (a peer and an error code) through per interval;
// the next line that gets through carries how many were suppressed. The
// number of keys is bounded: when full, keys idle for a whole interval are
// dropped, and if none is, the line is let through (better a noisy log than
// a lost error).
class log_limiter {
 public:
  using clock = std::chrono::steady_clock;
  explicit log_limiter(clock::duration interval = std::chrono::minutes(1), std::size_t max_keys = 4096)
      : interval_(interval), max_keys_(max_keys) {}

  // Whether to write the line; *suppressed is set to the lines dropped for
  // this key since the last one written.
  bool allow(const std::string& key, clock::time_point now, std::uint64_t* suppressed) {
    std::lock_guard<std::mutex> lock(mu_);
    *suppressed = 0;
    auto it = keys_.find(key);
    if (it != keys_.end()) {
      if (now - it->second.last < interval_) {
        ++it->second.dropped;
        return false;
      }
      *suppressed = it->second.dropped;
      it->second = {now, 0};
      return true;
    }
    if (keys_.size() >= max_keys_) {
      for (auto k = keys_.begin(); k != keys_.end();)
        k = now - k->second.last >= interval_ ? keys_.erase(k) : std::next(k);
      if (keys_.size() >= max_keys_) return true;
    }
    keys_.emplace(key, entry{now, 0});
    return true;
  }

 private:
  struct entry {
    clock::time_point last;
    std::uint64_t dropped = 0;
  };
  std::mutex mu_;
  clock::duration interval_;
  std::size_t max_keys_;
  std::map<std::string, entry> keys_;
};

}  // namespace starling::actors
