// bench_sync's catch-up scenarios: catchup, restart and footprint (see
// bench_sync.cpp), and the preload of A's N-change store they share.
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <cinttypes>
#include <cstdio>
#include <filesystem>
#include <future>
#include <thread>

#include "crdt/change.hpp"
#include "crdt/document.hpp"
#include "persistence/write_batch.hpp"
#include "sync_scenarios.hpp"

namespace starling::bench_sync {

using crdt::mutation;

// ---------------------------------------------------------------- catch-up

const std::string catchup_doc = "catchup";

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

static frontier store_frontier(const std::string& dir) {
  persistence::store_options so;
  so.read_only = true;
  auto st = persistence::store::open(dir, so);
  if (!st) throw failure("restart: opening " + dir + ": " + st.error().message);
  auto f = (*st)->load_frontier(catchup_doc);
  if (!f) throw failure("restart: load_frontier: " + f.error().message);
  return *f;
}

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

// Run in a child process (STARLING_BENCH_FOOTPRINT_DIR set): opens a node on
// the directory, loads the document, prints the resident memory it added:
// in all, anonymous (the heap) and file-backed (the LMDB pages the load read,
// clean pages of the page cache that the kernel may take back).
int footprint_child(const std::string& dir) {
  auto before = rss_bytes(), anon0 = rss_bytes("RssAnon:"), file0 = rss_bytes("RssFile:");
  actors::node_config cfg;
  cfg.data_dir = dir;
  auto nd = open_node(cfg);
  auto info = doc_info(*nd, catchup_doc);
  auto after = rss_bytes(), anon1 = rss_bytes("RssAnon:"), file1 = rss_bytes("RssFile:");
  std::printf("%ld %zu %ld %ld\n", after - before, info ? info->changes : 0, anon1 - anon0, file1 - file0);
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
  long rss = 0, anon = 0, file = 0;
  std::size_t loaded = 0;
  int got = std::fscanf(p, "%ld %zu %ld %ld", &rss, &loaded, &anon, &file);
  int rc = ::pclose(p);
  if (got != 4 || rc != 0 || loaded != n) throw failure("footprint: the child failed");
  const double per = 1.0 / static_cast<double>(n);
  std::printf("footprint n=%zu rss_bytes=%ld rss_bytes_per_change=%.1f anon_bytes_per_change=%.1f "
              "file_bytes_per_change=%.1f disk_bytes=%.0f disk_bytes_per_change=%.1f\n",
              n, rss, rss * per, anon * per, file * per, disk, disk * per);
  json_line("summary", "footprint",
            jfmt("\"n\":%zu,\"rss_bytes_per_change\":%.1f,\"anon_bytes_per_change\":%.1f,"
                 "\"file_bytes_per_change\":%.1f,\"disk_bytes_per_change\":%.1f",
                 n, rss * per, anon * per, file * per, disk * per));
  std::fflush(stdout);
}

}  // namespace starling::bench_sync
