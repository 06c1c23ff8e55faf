// bench_sync's wire scenario (see bench_sync.cpp): bytes on the wire per
// change, both directions, for a catch-up and for live replication, from the
// per-peer bytes_in/bytes_out that status() reports on both nodes.
#include <cinttypes>
#include <cstdio>

#include "sync_scenarios.hpp"

namespace starling::bench_sync {

namespace {

double per(std::uint64_t bytes, std::size_t n) { return n ? static_cast<double>(bytes) / static_cast<double>(n) : 0; }

}  // namespace

wire_result run_wire(member& a, std::size_t n, std::size_t writes, std::size_t rate, int rep) {
  wire_result r;
  // The encoded size of A's N changes (the payload a catch-up must carry).
  std::uint64_t count = 0;
  const auto payload = missing_bytes(a.dir.path, frontier{}, &count);
  if (count != n) throw failure("wire: A holds " + std::to_string(count) + " changes, expected " + std::to_string(n));

  // (a) catch-up: an empty B dials A, which holds N changes.
  traffic ca_a, ca_b;  // A's view of B, B's view of A
  {
    member b;
    auto na = open_node(a.config({&b}, true));
    auto ia = doc_info(*na, catchup_doc);
    auto nb = open_node(b.config({&a}, false));
    nb->add_peer(url(*na));
    auto deadline = clk::now() + std::chrono::seconds(60) + std::chrono::milliseconds(n / 10);
    for (;;) {
      auto ib = doc_info(*nb, catchup_doc);
      if (ib && ib->at == ia->at && ib->digest == ia->digest) break;
      if (clk::now() > deadline) throw failure("wire: B did not catch up");
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    ca_a = settled_traffic(*na, b.id.node_id());
    ca_b = settled_traffic(*nb, a.id.node_id());
  }
  r.catchup_a_to_b = per(ca_a.bytes_out, n);
  r.catchup_b_to_a = per(ca_a.bytes_in, n);

  // (b) live: A and B connected and live (200 warm-up writes through), then
  // W writes on A paced at RATE/s; the traffic of the writes alone (the
  // counters' difference around them, each reading once the session is quiet).
  traffic l0_a, l0_b, l1_a, l1_b;
  {
    const std::string doc = "wire";
    member la, lb;
    change_counter got;
    auto na = open_node(la.config({&lb}, true));
    auto nb = open_node(lb.config({&la}, false));
    auto sub = nb->subscribe(doc, [&got](const std::string&, const std::vector<bytes>& cs) { got.add(cs.size()); });
    if (!sub) throw failure("wire: subscribe: " + sub.error());
    nb->add_peer(url(*na));
    const std::size_t warm = 200;
    warm_writes(*na, doc, warm, rate);
    if (!wait_count(got, warm, clk::now() + std::chrono::seconds(60))) throw failure("wire: warm-up did not reach B");
    l0_a = settled_traffic(*na, lb.id.node_id());
    l0_b = settled_traffic(*nb, la.id.node_id());
    paced_writes(*na, doc, writes, rate, 16, [](std::size_t, std::int64_t) {});
    if (!wait_count(got, warm + writes, clk::now() + std::chrono::seconds(60)))
      throw failure("wire: B got " + std::to_string(got.get() - warm) + " of " + std::to_string(writes));
    l1_a = settled_traffic(*na, lb.id.node_id());
    l1_b = settled_traffic(*nb, la.id.node_id());
    nb.reset();
    na.reset();
  }
  r.live_a_to_b = per(l1_a.bytes_out - l0_a.bytes_out, writes);
  r.live_b_to_a = per(l1_a.bytes_in - l0_a.bytes_in, writes);
  std::printf(
      "wire rep=%d n=%zu catchup_a_to_b_bytes_per_change=%.1f catchup_b_to_a_bytes_per_change=%.2f "
      "payload_bytes_per_change=%.1f (B saw in=%" PRIu64 " out=%" PRIu64 ") writes=%zu live_a_to_b_bytes_per_change=%.1f "
      "live_b_to_a_bytes_per_change=%.1f (B saw in=%" PRIu64 " out=%" PRIu64 ") load=\"%s\"\n",
      rep, n, r.catchup_a_to_b, r.catchup_b_to_a, per(payload, n), ca_b.bytes_in, ca_b.bytes_out, writes,
      r.live_a_to_b, r.live_b_to_a, l1_b.bytes_in - l0_b.bytes_in, l1_b.bytes_out - l0_b.bytes_out,
      loadavg().c_str());
  std::fflush(stdout);
  json_line("run", "wire",
            jfmt("\"rep\":%d,\"n\":%zu,\"writes\":%zu,\"rate\":%zu,\"catchup_a_to_b_bytes_per_change\":%.2f,"
                 "\"catchup_b_to_a_bytes_per_change\":%.3f,\"payload_bytes_per_change\":%.2f,"
                 "\"catchup_a_bytes_out\":%" PRIu64 ",\"catchup_a_bytes_in\":%" PRIu64 ",\"catchup_b_bytes_in\":%" PRIu64
                 ",\"catchup_b_bytes_out\":%" PRIu64 ",\"live_a_to_b_bytes_per_change\":%.2f,"
                 "\"live_b_to_a_bytes_per_change\":%.2f,\"live_a_bytes_out\":%" PRIu64 ",\"live_a_bytes_in\":%" PRIu64
                 ",\"live_b_bytes_in\":%" PRIu64 ",\"live_b_bytes_out\":%" PRIu64,
                 rep, n, writes, rate, r.catchup_a_to_b, r.catchup_b_to_a, per(payload, n), ca_a.bytes_out,
                 ca_a.bytes_in, ca_b.bytes_in, ca_b.bytes_out, r.live_a_to_b, r.live_b_to_a,
                 l1_a.bytes_out - l0_a.bytes_out, l1_a.bytes_in - l0_a.bytes_in, l1_b.bytes_in - l0_b.bytes_in,
                 l1_b.bytes_out - l0_b.bytes_out));
  return r;
}

}  // namespace starling::bench_sync
