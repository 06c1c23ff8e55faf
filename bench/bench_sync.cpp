// End-to-end replication benchmarks: nodes in one process, connected over
// real loopback WebSockets (authenticated, sealed sync protocol), driven
// through the embedding facade starling::node. A plain program (not Google
// Benchmark): one line per measurement on stdout, then a summary of medians.
// Sources: bench_sync.cpp (this: the scenario list and main), sync_support.*
// (helpers), sync_catchup.cpp (catchup, restart, footprint), sync_wire.cpp,
// sync_latency.cpp, sync_throughput.cpp (throughput, throughput2).
//
//   catchup     N changes (10 authors, one `set` of a ~40-byte value each,
//               one document) preloaded straight into A's store; an empty B
//               dials A; time from add_peer until B has committed all of them
//               (its subscription saw N changes), checked against A's
//               frontier and digest. Reports changes/s end to end.
//   restart     B holds the first 90 % of A's N changes and reconnects: time
//               to catch up, and bytes A sent over the encoded size of the
//               missing changes (a delta, not the document).
//   footprint   resident memory (a child process loading A's document) and
//               allocated disk per change of A's N-change document.
//   wire        bytes on the wire per change, both directions, from the
//               per-peer bytes_in/bytes_out of status() on both nodes (each
//               read once the session is quiet): (a) an empty B catches up
//               A's N changes: A->B = A's bytes_out to B / N, B->A = A's
//               bytes_in from B / N; (b) live: after 200 warm-up writes, W
//               writes on A paced at RATE/s to one live peer B: the counters'
//               difference around them / W. Also the encoded size of a change
//               (payload_bytes_per_change) for reference.
//   latency     A writes at a fixed rate on a steady schedule; latency = time
//               from A's write call to the change callback on each peer.
//               Topologies: star (P peers dial A) and line (P peers in a
//               chain: peer 1 dials A, peer k dials peer k-1; each relays);
//               line also reports per-hop latency (arrival at depth d minus
//               at depth d-1) and p50/p99 per depth.
//   throughput  A writes as fast as its writer threads can to one peer;
//               changes/s committed on the peer over a steady window.
//   throughput2 writers on two nodes A and B at once (WRITERS threads each,
//               as fast as writes are acknowledged), full mesh of three (B
//               dials A, C dials A and B): changes/s committed on C (both
//               writers' changes) and acknowledged changes/s on A and on B,
//               over the steady window (the first min(0.5 s, S/6) skipped).
//
// Environment (defaults in brackets):
//   STARLING_BENCH_N            catch-up changes [1000000]
//   STARLING_BENCH_REPS         repetitions [3; catch-up: 1 when N >= 1M]
//   STARLING_BENCH_WRITES       latency and wire (live): writes per run [3000]
//   STARLING_BENCH_RATE         latency and wire (live): writes per second [1000]
//   STARLING_BENCH_PEERS        latency: peer counts [4,8]
//   STARLING_BENCH_TOPOLOGY     latency: star,line or one of them [star,line]
//   STARLING_BENCH_WRITERS      throughput: writer threads (per writer node) [4]
//   STARLING_BENCH_IN_FLIGHT    throughput: writes each writer thread keeps
//                               unacknowledged (write_async); 1 = blocking
//                               write() calls [256]
//   STARLING_BENCH_SECONDS      throughput: seconds of writing [3]
//   STARLING_BENCH_SECONDS2     throughput2: seconds of writing
//                               [STARLING_BENCH_SECONDS if set, else 10]
//   STARLING_BENCH_DURABILITY   sync | nometasync | nosync, every node [sync]
//   STARLING_BENCH_ONLY         comma list of catchup,restart,footprint,wire,
//                               latency,throughput,throughput2 [all]
//   STARLING_BENCH_KEYS         catch-up key space: change i sets /k<i % KEYS>,
//                               0 = every change a new key [1000]
//   STARLING_BENCH_JSON         1: also one JSON object per run and summary
//                               (lines starting with '{'), the shape of
//                               bench/peer/bench.mjs, for bench/compare [0]
//   STARLING_BENCH_SAMPLES      latency: a directory to write every sample to
//                               (starling_latency_<topology>_p<P>_rep<R>.txt,
//                               ms) []
//   STARLING_BENCH_THREADS      actor worker threads of each node, 0 = one
//                               per core, at least 4 [0]
//   STARLING_BENCH_POLLS        idle polling rounds of each node's workers [0]
//   TMPDIR                      where the temporary data dirs go [/tmp]
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <optional>

#include "sync_scenarios.hpp"

using namespace starling::bench_sync;

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
    const auto topologies = env_words("STARLING_BENCH_TOPOLOGY", "star,line");
    const std::size_t writers = env_u64("STARLING_BENCH_WRITERS", 4);
    const std::size_t in_flight = std::max<std::uint64_t>(1, env_u64("STARLING_BENCH_IN_FLIGHT", 256));
    const double seconds = static_cast<double>(env_u64("STARLING_BENCH_SECONDS", 3));
    const double seconds2 =
        static_cast<double>(env_u64("STARLING_BENCH_SECONDS2", env_u64("STARLING_BENCH_SECONDS", 10)));
    durability();  // validates the setting
    for (auto& t : topologies)
      if (t != "star" && t != "line") throw failure("STARLING_BENCH_TOPOLOGY: star or line, not '" + t + "'");

    std::printf("bench_sync start load=\"%s\" cpus=%u durability=%s n=%zu reps=%d catchup_reps=%d writes=%zu "
                "rate=%zu writers=%zu seconds=%.0f seconds2=%.0f\n",
                loadavg().c_str(), std::thread::hardware_concurrency(),
                env_str("STARLING_BENCH_DURABILITY", "sync").c_str(), n, reps, catchup_reps, writes, rate, writers,
                seconds, seconds2);
    std::fflush(stdout);

    std::vector<std::string> summary;
    char line[768];

    std::optional<member> source;  // A's data dir, preloaded once for catchup, restart, footprint, wire
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
    const auto keys = env_u64("STARLING_BENCH_KEYS", 1000);

    if (selected("catchup")) {
      member& a = preloaded();  // served to a fresh B per repetition
      std::vector<double> rates, times;
      for (int r = 1; r <= catchup_reps; ++r) {
        auto res = run_catchup(a, n, r);
        rates.push_back(res.rate);
        times.push_back(res.seconds);
      }
      std::snprintf(line, sizeof line,
                    "summary catchup n=%zu reps=%d median_seconds=%.3f median_changes_per_s=%.0f (target >= 1000000) "
                    "preload_s=%.3f",
                    n, catchup_reps, median(times), median(rates), pt.total_s);
      summary.push_back(line);
      json_line("summary", "catchup",
                jfmt("\"n\":%zu,\"keys\":%" PRIu64 ",\"reps\":%d,\"median_seconds\":%.4f,\"median_changes_per_s\":%.0f,"
                     "\"preload_s\":%.3f",
                     n, keys, catchup_reps, median(times), median(rates), pt.total_s));
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

    if (selected("wire")) {
      member& a = preloaded();
      std::vector<double> cab, cba, lab, lba;
      for (int r = 1; r <= catchup_reps; ++r) {
        auto res = run_wire(a, n, writes, rate, r);
        cab.push_back(res.catchup_a_to_b);
        cba.push_back(res.catchup_b_to_a);
        lab.push_back(res.live_a_to_b);
        lba.push_back(res.live_b_to_a);
      }
      std::snprintf(line, sizeof line,
                    "summary wire n=%zu writes=%zu reps=%d catchup_a_to_b_bytes_per_change=%.1f "
                    "catchup_b_to_a_bytes_per_change=%.2f live_a_to_b_bytes_per_change=%.1f "
                    "live_b_to_a_bytes_per_change=%.1f",
                    n, writes, catchup_reps, median(cab), median(cba), median(lab), median(lba));
      summary.push_back(line);
      json_line("summary", "wire",
                jfmt("\"n\":%zu,\"writes\":%zu,\"reps\":%d,\"median_catchup_a_to_b_bytes_per_change\":%.2f,"
                     "\"median_catchup_b_to_a_bytes_per_change\":%.3f,\"median_live_a_to_b_bytes_per_change\":%.2f,"
                     "\"median_live_b_to_a_bytes_per_change\":%.2f",
                     n, writes, catchup_reps, median(cab), median(cba), median(lab), median(lba)));
    }

    if (selected("latency")) {
      for (auto& topo : topologies)
        for (auto p : peer_counts) {
          std::vector<double> p50, p99, mx, a50, a99, h50, h99;
          for (int r = 1; r <= reps; ++r) {
            auto res = run_latency(topo, p, writes, rate, r);
            p50.push_back(res.p50_ms);
            p99.push_back(res.p99_ms);
            mx.push_back(res.max_ms);
            a50.push_back(res.ack_p50_ms);
            a99.push_back(res.ack_p99_ms);
            h50.push_back(res.hop_p50_ms);
            h99.push_back(res.hop_p99_ms);
          }
          std::snprintf(line, sizeof line,
                        "summary latency topology=%s peers=%" PRIu64 " reps=%d median_p50_ms=%.3f median_p99_ms=%.3f "
                        "median_max_ms=%.3f (target p99 <= 2) median_write_ack_p50_ms=%.3f "
                        "median_write_ack_p99_ms=%.3f%s",
                        topo.c_str(), p, reps, median(p50), median(p99), median(mx), median(a50), median(a99),
                        topo == "line" ? jfmt(" median_hop_p50_ms=%.3f median_hop_p99_ms=%.3f", median(h50),
                                              median(h99)).c_str()
                                       : "");
          summary.push_back(line);
          json_line("summary", "latency",
                    jfmt("\"topology\":\"%s\",\"peers\":%" PRIu64 ",\"reps\":%d,\"writes\":%zu,\"rate\":%zu,"
                         "\"median_p50_ms\":%.3f,\"median_p99_ms\":%.3f,\"median_max_ms\":%.3f,"
                         "\"median_write_ack_p50_ms\":%.3f,\"median_write_ack_p99_ms\":%.3f",
                         topo.c_str(), p, reps, writes, rate, median(p50), median(p99), median(mx), median(a50),
                         median(a99)));
        }
    }

    if (selected("throughput")) {
      std::vector<double> peer, acked;
      for (int r = 1; r <= reps; ++r) {
        auto res = run_throughput(writers, in_flight, seconds, r);
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

    if (selected("throughput2")) {
      std::vector<double> c, a, b;
      for (int r = 1; r <= reps; ++r) {
        auto res = run_throughput2(writers, in_flight, seconds2, r);
        c.push_back(res.c_rate);
        a.push_back(res.a_acked);
        b.push_back(res.b_acked);
      }
      std::snprintf(line, sizeof line,
                    "summary throughput2 writers_per_node=%zu seconds=%.0f reps=%d median_c_applied_per_s=%.0f "
                    "median_a_acked_per_s=%.0f median_b_acked_per_s=%.0f",
                    writers, seconds2, reps, median(c), median(a), median(b));
      summary.push_back(line);
      json_line("summary", "throughput2",
                jfmt("\"writers\":%zu,\"reps\":%d,\"seconds\":%.0f,\"median_c_applied_per_s\":%.0f,"
                     "\"median_a_acked_per_s\":%.0f,\"median_b_acked_per_s\":%.0f",
                     writers, reps, seconds2, median(c), median(a), median(b)));
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
