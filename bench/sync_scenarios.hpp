// The scenarios of bench_sync (documented at the top of bench_sync.cpp). Each
// run_* function runs one repetition, prints its line (and JSON line) and
// returns what the summary needs.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "sync_support.hpp"

namespace starling::bench_sync {

// ------------------------------------------------ sync_catchup.cpp

extern const std::string catchup_doc;

struct preload_times {
  double build_s = 0;   // make_change: build, sign, apply in memory
  double commit_s = 0;  // waiting for LMDB commits (overlapped with building)
  double total_s = 0;
};
// N signed changes from 10 authors, change i sets /k<i % KEYS> to a 40-byte
// value, committed straight into the store of `dir`. Deterministic.
preload_times preload(const std::string& dir, std::size_t n);
// The encoded bytes of the changes of catchup_doc that `theirs` lacks in the
// store at dir (the store must not be open elsewhere in this process).
std::uint64_t missing_bytes(const std::string& dir, const frontier& theirs, std::uint64_t* count);

struct catchup_result {
  double seconds = 0;
  double rate = 0;
};
catchup_result run_catchup(member& a, std::size_t n, int rep);

struct restart_result {
  double seconds = 0;
  double bytes_ratio = 0;  // bytes A sent / encoded bytes of the missing changes
};
restart_result run_restart(member& a, std::size_t n, int rep);

int footprint_child(const std::string& dir);
void run_footprint(member& a, std::size_t n);

// ------------------------------------------------ sync_wire.cpp

struct wire_result {
  double catchup_a_to_b = 0, catchup_b_to_a = 0;  // bytes per change
  double live_a_to_b = 0, live_b_to_a = 0;
};
wire_result run_wire(member& a, std::size_t n, std::size_t writes, std::size_t rate, int rep);

// ------------------------------------------------ sync_latency.cpp

struct latency_result {
  double p50_ms = 0, p99_ms = 0, max_ms = 0;
  double ack_p50_ms = 0, ack_p99_ms = 0;
  double hop_p50_ms = 0, hop_p99_ms = 0;  // line: one hop (depth d minus depth d-1)
};
// topology "star": every peer dials A; "line": peer k dials peer k-1 (peer 0
// dials A), a chain of `peers` nodes behind the writer.
latency_result run_latency(const std::string& topology, std::size_t peers, std::size_t writes, std::size_t rate,
                           int rep);

// ------------------------------------------------ sync_throughput.cpp

struct throughput_result {
  double peer_rate = 0;   // committed on the peer, steady window
  double acked_rate = 0;  // acknowledged (durable) on A, same window
};
throughput_result run_throughput(std::size_t writers, std::size_t in_flight, double seconds, int rep);

struct throughput2_result {
  double c_rate = 0;                 // committed on C (from both writers), steady window
  double a_acked = 0, b_acked = 0;   // acknowledged on A and on B, same window
};
throughput2_result run_throughput2(std::size_t writers, std::size_t in_flight, double seconds, int rep);

}  // namespace starling::bench_sync
