// Shared helpers of bench_sync: see sync_support.hpp.
#include "sync_support.hpp"

#include <stdlib.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cmath>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "crdt/change.hpp"

namespace starling::bench_sync {

std::uint64_t env_u64(const char* name, std::uint64_t def) {
  const char* v = std::getenv(name);
  return v && *v ? std::strtoull(v, nullptr, 10) : def;
}

std::string env_str(const char* name, const std::string& def) {
  const char* v = std::getenv(name);
  return v && *v ? std::string(v) : def;
}

std::vector<std::string> env_words(const char* name, const std::string& def) {
  std::vector<std::string> out;
  std::string s = env_str(name, def);
  std::size_t at = 0;
  while (at < s.size()) {
    auto comma = s.find(',', at);
    if (comma == std::string::npos) comma = s.size();
    if (comma > at) out.push_back(s.substr(at, comma - at));
    at = comma + 1;
  }
  return out;
}

std::vector<std::uint64_t> env_list(const char* name, const std::string& def) {
  std::vector<std::uint64_t> out;
  for (auto& w : env_words(name, def)) out.push_back(std::strtoull(w.c_str(), nullptr, 10));
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

void json_line(const char* kind, const char* scenario, const std::string& members) {
  if (!json_mode()) return;
  std::printf("{\"system\":\"starling\",\"kind\":\"%s\",\"scenario\":\"%s\",%s,\"load\":\"%s\"}\n", kind, scenario,
              members.c_str(), loadavg().c_str());
  std::fflush(stdout);
}

std::string jfmt(const char* fmt, ...) {
  char buf[2048];
  va_list ap;
  va_start(ap, fmt);
  std::vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  return buf;
}

std::string jarray(const std::vector<double>& v) {
  std::string s = "[";
  char b[32];
  for (std::size_t i = 0; i < v.size(); ++i) {
    std::snprintf(b, sizeof b, "%s%.3f", i ? "," : "", v[i]);
    s += b;
  }
  return s + "]";
}

void write_samples(const std::string& name, const std::vector<std::int64_t>& sorted_ns) {
  auto dir = env_str("STARLING_BENCH_SAMPLES", "");
  if (dir.empty()) return;
  std::filesystem::create_directories(dir);
  std::ofstream f(dir + "/" + name);
  char b[32];
  for (auto x : sorted_ns) {
    std::snprintf(b, sizeof b, "%.4f\n", ms(x));
    f << b;
  }
}

double cpu_seconds() {
  rusage ru{};
  ::getrusage(RUSAGE_SELF, &ru);
  auto tv = [](const timeval& t) { return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_usec) / 1e6; };
  return tv(ru.ru_utime) + tv(ru.ru_stime);
}

long rss_bytes(const char* field) {
  std::ifstream in("/proc/self/status");
  std::string key;
  while (in >> key) {
    if (key == field) {
      long kb = 0;
      in >> kb;
      return kb * 1024;
    }
    std::string rest;
    std::getline(in, rest);
  }
  return 0;
}

double median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  auto n = v.size();
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

std::int64_t percentile(const std::vector<std::int64_t>& sorted, double p) {
  if (sorted.empty()) return 0;
  auto rank = static_cast<std::size_t>(std::ceil(p * static_cast<double>(sorted.size())));
  return sorted[std::min(sorted.size() - 1, rank == 0 ? 0 : rank - 1)];
}

temp_dir::temp_dir() {
  std::string tmpl = env_str("TMPDIR", "/tmp") + "/starling-bench-sync-XXXXXX";
  std::vector<char> buf(tmpl.begin(), tmpl.end());
  buf.push_back('\0');
  if (!::mkdtemp(buf.data())) throw failure("mkdtemp " + tmpl + " failed");
  path = buf.data();
}

temp_dir::~temp_dir() {
  std::error_code ec;
  std::filesystem::remove_all(path, ec);
}

member::member() {
  auto saved = id.save(dir.path + "/node.key");
  if (!saved) throw failure("saving node key: " + saved.error().message);
}

actors::node_config member::config(const std::vector<const member*>& trusted, bool listen) const {
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

traffic peer_traffic(node& n, const std::string& peer_id) {
  traffic t;
  auto st = n.status();
  if (!st) throw failure("status: " + st.error());
  for (auto& p : st->peers)
    if (p.peer_id == peer_id) {
      t.bytes_in += p.bytes_in;
      t.bytes_out += p.bytes_out;
      t.changes_sent += p.changes_sent;
      t.changes_received += p.changes_received;
    }
  return t;
}

traffic settled_traffic(node& n, const std::string& peer_id, std::chrono::milliseconds quiet,
                        std::chrono::milliseconds limit) {
  auto deadline = clk::now() + limit;
  auto last = peer_traffic(n, peer_id);
  for (;;) {
    std::this_thread::sleep_for(quiet);
    auto t = peer_traffic(n, peer_id);
    if ((t.bytes_in == last.bytes_in && t.bytes_out == last.bytes_out) || clk::now() > deadline) return t;
    last = t;
  }
}

void change_counter::add(std::size_t n) {
  auto t = clk::now();
  std::lock_guard<std::mutex> lock(mu);
  count += n;
  if (keep_series) series.emplace_back(t, count);
  if (!reached && count >= target) {
    reached = t;
    cv.notify_all();
  }
}

std::uint64_t change_counter::get() {
  std::lock_guard<std::mutex> lock(mu);
  return count;
}

std::uint64_t change_counter::at(clk::time_point t) {
  std::lock_guard<std::mutex> lock(mu);
  auto it = std::upper_bound(series.begin(), series.end(), t,
                             [](clk::time_point x, const auto& e) { return x < e.first; });
  return it == series.begin() ? 0 : std::prev(it)->second;
}

bool wait_count(change_counter& c, std::uint64_t target, clk::time_point deadline) {
  std::unique_lock<std::mutex> lock(c.mu);
  if (c.target != target) {  // a new target: when it is met is still to be seen
    c.target = target;
    c.reached.reset();
  }
  if (c.count >= target && !c.reached) c.reached = clk::now();
  return c.cv.wait_until(lock, deadline, [&] { return c.count >= target; });
}

std::string indexed_value(std::size_t i) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "w%010zu-", i);
  std::string v(buf);
  v.resize(40, 'x');
  return v;
}

long long index_of(const bytes& encoded) {
  auto c = crdt::decode(encoded);
  if (!c || c->ops.empty()) return -2;
  auto* s = std::get_if<std::string>(&c->ops[0].value);
  if (!s || s->size() < 11 || (*s)[0] != 'w') return -1;
  return std::strtoll(s->c_str() + 1, nullptr, 10);
}

void warm_writes(node& n, const std::string& doc, std::size_t count, std::size_t rate) {
  auto period = std::chrono::nanoseconds(1'000'000'000 / std::max<std::size_t>(rate, 1));
  auto w0 = clk::now();
  for (std::size_t i = 0; i < count; ++i) {
    std::this_thread::sleep_until(w0 + i * period);
    auto r = n.write(doc, {{crdt::mutation::kind::set, "/warm", "warm-" + std::to_string(i)}});
    if (!r) throw failure("warm-up write: " + r.error());
  }
}

}  // namespace starling::bench_sync
