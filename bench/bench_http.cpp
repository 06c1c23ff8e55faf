// The HTTP API's cost per request as a node holds more documents: a node in
// this process (`starling serve`'s service, durability nosync), driven over
// loopback HTTP. A plain program: one line per measurement on stdout.
//
// For each document count in STARLING_BENCH_DOCS (documents written through
// POST /v1/docs/{doc}/changes, one change each, so that every document has
// a live owner as on a busy node):
//   read        median and p99 latency of GET /v1/docs/{doc} (READS reads of
//               one document, one connection each)
//   streams     STREAMS event-stream opens (GET /v1/docs/{doc}/events) at
//               once, from STREAMS threads: how many got 200, and the time
//               until the last answered; each stream closes once open
//   after       median latency of READS reads right after the opens
//   list        latency of GET /v1/docs (one page)
//
// Environment (defaults in brackets):
//   STARLING_BENCH_DOCS     document counts [3,10000]
//   STARLING_BENCH_READS    reads per measurement [200]
//   STARLING_BENCH_STREAMS  event-stream opens [250]
#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>

#include <stdlib.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "app/service.hpp"
#include "net/http_client.hpp"

using namespace starling;
using clock_type = std::chrono::steady_clock;

namespace {

std::size_t env_size(const char* name, std::size_t fallback) {
  const char* v = std::getenv(name);
  return v ? static_cast<std::size_t>(std::strtoull(v, nullptr, 10)) : fallback;
}

std::vector<std::size_t> env_list(const char* name, std::vector<std::size_t> fallback) {
  const char* v = std::getenv(name);
  if (!v) return fallback;
  std::vector<std::size_t> out;
  for (const char* p = v; *p;) {
    char* end = nullptr;
    out.push_back(static_cast<std::size_t>(std::strtoull(p, &end, 10)));
    p = *end == ',' ? end + 1 : end;
    if (end == p && *p) break;
  }
  return out;
}

double ms_since(clock_type::time_point t0) {
  return std::chrono::duration<double, std::milli>(clock_type::now() - t0).count();
}

double percentile(std::vector<double> v, double q) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<std::size_t>(q * static_cast<double>(v.size())))];
}

std::string doc_name(std::size_t i) { return "doc" + std::to_string(i); }

struct temp_dir {
  std::string path;
  temp_dir() {
    char tmpl[] = "/tmp/starling-bench-http-XXXXXX";
    path = ::mkdtemp(tmpl);
  }
  ~temp_dir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
};

// Writes documents [from, to) from `threads` threads.
bool write_docs(const std::string& base, std::size_t from, std::size_t to, unsigned threads) {
  std::atomic<std::size_t> next{from};
  std::atomic<bool> ok{true};
  std::vector<std::thread> ts;
  for (unsigned t = 0; t < threads; ++t)
    ts.emplace_back([&] {
      for (std::size_t i = next++; i < to && ok; i = next++) {
        std::string error;
        auto r = net::http_fetch(base + "/v1/docs/" + doc_name(i) + "/changes", "POST",
                                 R"({"mutations":[{"op":"set","path":"/n","value":1}]})", {},
                                 std::chrono::seconds(60), &error);
        if (!r || r->status != 200) {
          std::fprintf(stderr, "write %zu failed: %s\n", i, r ? r->body.c_str() : error.c_str());
          ok = false;
        }
      }
    });
  for (auto& t : ts) t.join();
  return ok;
}

// Latencies of `n` reads of documents spread over [0, docs), in ms.
std::vector<double> reads(const std::string& base, std::size_t docs, std::size_t n, std::size_t* failed) {
  std::vector<double> out;
  for (std::size_t i = 0; i < n; ++i) {
    auto t0 = clock_type::now();
    auto r = net::http_fetch(base + "/v1/docs/" + doc_name(i * 7919 % docs), "GET", "", {}, std::chrono::seconds(60));
    out.push_back(ms_since(t0));
    if (!r || r->status != 200) ++*failed;
  }
  return out;
}

}  // namespace

int main() {
  const auto counts = env_list("STARLING_BENCH_DOCS", {3, 10000});
  const auto n_reads = env_size("STARLING_BENCH_READS", 200);
  const auto n_streams = env_size("STARLING_BENCH_STREAMS", 250);

  temp_dir dir;
  caf::actor_system_config sys_cfg;
  caf::actor_system sys{sys_cfg};
  auto cfg = app::default_service_config();
  cfg.node.data_dir = dir.path;
  cfg.node.listen = false;
  cfg.http.port = 0;
  cfg.node.store.durability = persistence::durability_mode::nosync;
  cfg.max_event_streams = n_streams + 16;
  auto svc = app::service::start(sys, cfg);
  if (!svc) {
    std::fprintf(stderr, "cannot start: %s\n", svc.error().c_str());
    return 1;
  }
  const std::string base = (*svc)->http_url();
  std::printf("bench_http: reads=%zu streams=%zu (median of reads, one connection per request)\n", n_reads,
              n_streams);

  std::size_t have = 0;
  for (auto docs : counts) {
    auto t0 = clock_type::now();
    if (docs > have && !write_docs(base, have, docs, 4)) return 1;
    std::printf("docs=%zu  wrote %zu documents in %.1f s\n", docs, docs - std::min(docs, have), ms_since(t0) / 1000);
    have = std::max(have, docs);

    std::size_t failed = 0;
    auto lat = reads(base, docs, n_reads, &failed);
    std::printf("docs=%zu  read     median %.2f ms  p99 %.2f ms  failed %zu\n", docs, percentile(lat, 0.5),
                percentile(lat, 0.99), failed);

    std::atomic<std::size_t> opened{0};
    std::vector<std::thread> ts;
    auto s0 = clock_type::now();
    for (std::size_t i = 0; i < n_streams; ++i)
      ts.emplace_back([&, i] {
        std::string error;
        auto status = net::http_stream_get(
            base + "/v1/docs/" + doc_name(i % docs) + "/events", {}, [](std::string_view) { return false; },
            std::chrono::seconds(60), &error, [](const net::http_result&) { return false; });
        if (status == 200) ++opened;
      });
    for (auto& t : ts) t.join();
    std::printf("docs=%zu  streams  %zu/%zu opened in %.2f s\n", docs, opened.load(), n_streams, ms_since(s0) / 1000);

    failed = 0;
    lat = reads(base, docs, n_reads, &failed);
    std::printf("docs=%zu  after    median %.2f ms  p99 %.2f ms  failed %zu\n", docs, percentile(lat, 0.5),
                percentile(lat, 0.99), failed);

    auto l0 = clock_type::now();
    auto list = net::http_fetch(base + "/v1/docs", "GET", "", {}, std::chrono::seconds(120));
    std::printf("docs=%zu  list     %.2f ms  status %u  %zu bytes\n", docs, ms_since(l0), list ? list->status : 0,
                list ? list->body.size() : std::size_t{0});
    std::fflush(stdout);
  }
  (*svc)->stop();
  svc->reset();
  sys.await_all_actors_done();
  return 0;
}
