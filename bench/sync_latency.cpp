// bench_sync's live latency scenario, star or line topology (see bench_sync.cpp).
#include <cinttypes>
#include <cstdio>

#include "sync_scenarios.hpp"

namespace starling::bench_sync {

namespace {

const std::string live_doc = "live";

// Latency samples of one peer, indexed by write.
struct latency_sink {
  std::mutex mu;
  std::condition_variable cv;
  std::vector<std::int64_t> lat_ns;
  std::size_t got = 0, warm = 0, bad = 0;
};

}  // namespace

latency_result run_latency(const std::string& topology, std::size_t peers, std::size_t writes, std::size_t rate,
                           int rep) {
  const bool line = topology == "line";
  if (!line && topology != "star") throw failure("latency: topology must be star or line, not '" + topology + "'");
  member a;
  std::vector<std::unique_ptr<member>> pm;
  for (std::size_t i = 0; i < peers; ++i) pm.push_back(std::make_unique<member>());
  // Star: A trusts every peer, each peer trusts A. Line: chain[0] = A,
  // chain[k] trusts chain[k-1] and chain[k+1] and dials chain[k-1].
  std::vector<const member*> chain{&a};
  for (auto& m : pm) chain.push_back(m.get());
  auto neighbours = [&](std::size_t k) {
    std::vector<const member*> v;
    if (k > 0) v.push_back(chain[k - 1]);
    if (k + 1 < chain.size()) v.push_back(chain[k + 1]);
    return v;
  };
  std::vector<const member*> trusted_by_a;
  if (line) {
    trusted_by_a = neighbours(0);
  } else {
    for (auto& m : pm) trusted_by_a.push_back(m.get());
  }
  auto na = open_node(a.config(trusted_by_a, true));

  std::unique_ptr<std::atomic<std::int64_t>[]> send_ns(new std::atomic<std::int64_t>[writes]());
  std::vector<std::unique_ptr<latency_sink>> sinks;
  std::vector<std::unique_ptr<node>> nodes;
  for (std::size_t p = 0; p < peers; ++p) {
    sinks.push_back(std::make_unique<latency_sink>());
    sinks.back()->lat_ns.assign(writes, -1);
    // In a line every peer but the last serves the next one.
    auto cfg = line ? pm[p]->config(neighbours(p + 1), p + 1 < peers) : pm[p]->config({&a}, false);
    nodes.push_back(open_node(cfg));
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
  for (std::size_t p = 0; p < peers; ++p) nodes[p]->add_peer(url(line && p > 0 ? *nodes[p - 1] : *na));

  // Warm-up: 200 paced writes, until every peer has them: every session is
  // through its catch-up and hold-back and streams live.
  const std::size_t warm = 200;
  warm_writes(*na, live_doc, warm, rate);
  {
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
  auto pr = paced_writes(*na, live_doc, writes, rate, 16, [&](std::size_t i, std::int64_t t) {
    send_ns[i].store(t, std::memory_order_release);
  });
  auto deadline = clk::now() + std::chrono::seconds(30);
  for (auto& s : sinks) {
    std::unique_lock<std::mutex> lock(s->mu);
    if (!s->cv.wait_until(lock, deadline, [&] { return s->got >= writes; }))
      throw failure("latency: a peer got " + std::to_string(s->got) + " of " + std::to_string(writes) + " writes");
  }
  std::vector<std::int64_t> all, hops;
  std::vector<double> depth_p50, depth_p99;
  for (std::size_t p = 0; p < peers; ++p) {
    auto& s = sinks[p];
    std::lock_guard<std::mutex> lock(s->mu);
    all.insert(all.end(), s->lat_ns.begin(), s->lat_ns.end());
    if (line) {
      std::vector<std::int64_t> d = s->lat_ns;
      std::sort(d.begin(), d.end());
      depth_p50.push_back(ms(percentile(d, 0.50)));
      depth_p99.push_back(ms(percentile(d, 0.99)));
      for (std::size_t i = 0; i < writes; ++i)
        hops.push_back(p == 0 ? s->lat_ns[i] : s->lat_ns[i] - sinks[p - 1]->lat_ns[i]);
    }
  }
  std::sort(all.begin(), all.end());
  std::sort(hops.begin(), hops.end());
  auto& ack_ns = pr.ack_ns;
  std::sort(ack_ns.begin(), ack_ns.end());
  latency_result r;
  r.p50_ms = ms(percentile(all, 0.50));
  r.p99_ms = ms(percentile(all, 0.99));
  r.max_ms = ms(all.back());
  r.ack_p50_ms = ms(percentile(ack_ns, 0.50));
  r.ack_p99_ms = ms(percentile(ack_ns, 0.99));
  r.hop_p50_ms = ms(percentile(hops, 0.50));
  r.hop_p99_ms = ms(percentile(hops, 0.99));
  std::printf(
      "latency topology=%s peers=%zu rep=%d writes=%zu rate=%zu samples=%zu p50_ms=%.3f p99_ms=%.3f max_ms=%.3f "
      "write_ack_p50_ms=%.3f write_ack_p99_ms=%.3f schedule_slip_max_ms=%.3f",
      topology.c_str(), peers, rep, writes, rate, all.size(), r.p50_ms, r.p99_ms, r.max_ms, r.ack_p50_ms,
      r.ack_p99_ms, ms(pr.max_slip_ns));
  if (line)
    std::printf(" hop_p50_ms=%.3f hop_p99_ms=%.3f last_p50_ms=%.3f last_p99_ms=%.3f", r.hop_p50_ms, r.hop_p99_ms,
                depth_p50.back(), depth_p99.back());
  std::printf(" load=\"%s\"\n", loadavg().c_str());
  std::fflush(stdout);
  std::string extra;
  if (line)
    extra = jfmt(",\"hop_p50_ms\":%.3f,\"hop_p99_ms\":%.3f,\"depth_p50_ms\":%s,\"depth_p99_ms\":%s", r.hop_p50_ms,
                 r.hop_p99_ms, jarray(depth_p50).c_str(), jarray(depth_p99).c_str());
  json_line("run", "latency",
            jfmt("\"topology\":\"%s\",\"peers\":%zu,\"rep\":%d,\"writes\":%zu,\"rate\":%zu,\"samples\":%zu,"
                 "\"p50_ms\":%.3f,\"p99_ms\":%.3f,\"max_ms\":%.3f,\"write_ack_p50_ms\":%.3f,\"write_ack_p99_ms\":%.3f,"
                 "\"schedule_slip_max_ms\":%.3f",
                 topology.c_str(), peers, rep, writes, rate, all.size(), r.p50_ms, r.p99_ms, r.max_ms, r.ack_p50_ms,
                 r.ack_p99_ms, ms(pr.max_slip_ns)) +
                extra);
  write_samples("starling_latency_" + topology + "_p" + std::to_string(peers) + "_rep" + std::to_string(rep) + ".txt",
                all);
  // Close the far end of a line first, so no node dials a closed neighbour.
  while (!nodes.empty()) nodes.pop_back();
  na.reset();
  return r;
}

}  // namespace starling::bench_sync
