#include "app/config_keys.hpp"

#include <algorithm>
#include <cctype>
#include <sstream>
#include <type_traits>
#include <utility>

#include "app/service_config.hpp"
#include "auth/identity.hpp"
#include "auth/permissions.hpp"
#include "net/dial.hpp"

namespace starling::app {

using nlohmann::json;
using ok = persistence::done;

config_result config_error(std::string msg) { return make_unexpected("config: " + std::move(msg)); }

namespace {

std::string named(const std::string& name) { return "'" + name + "'"; }

config_result want_uint(const json& v, const std::string& name, std::uint64_t min, std::uint64_t max,
                        std::uint64_t& out) {
  if (!v.is_number_unsigned() && !(v.is_number_integer() && v.get<std::int64_t>() >= 0))
    return config_error(named(name) + " must be a non-negative integer");
  auto n = v.get<std::uint64_t>();
  if (n < min || n > max)
    return config_error(named(name) + " must be between " + std::to_string(min) + " and " + std::to_string(max));
  out = n;
  return ok{};
}

config_result want_string(const json& v, const std::string& name, std::string& out) {
  if (!v.is_string()) return config_error(named(name) + " must be a string");
  out = v.get<std::string>();
  return ok{};
}

// The names a key gets unless the table says otherwise: `limits.frame_bytes`
// is STARLING_LIMITS_FRAME_BYTES and --limits-frame-bytes.
std::string env_name(const std::string& path) {
  std::string out = "STARLING_";
  for (char c : path) out += c == '.' ? '_' : static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return out;
}

std::string flag_name(const std::string& path) {
  std::string out = "--";
  for (char c : path) out += (c == '.' || c == '_') ? '-' : c;
  return out;
}

// 2^k for the large powers of two the ranges use, else decimal.
std::string number_text(std::uint64_t n) {
  for (int k = 20; k < 64; ++k)
    if (n == std::uint64_t{1} << k) return "2^" + std::to_string(k);
  return std::to_string(n);
}

config_key base_key(std::string path, key_kind kind, std::string type, std::string meaning) {
  config_key k;
  k.env = env_name(path);
  k.flag = flag_name(path);
  k.path = std::move(path);
  k.kind = kind;
  k.type = std::move(type);
  k.meaning = std::move(meaning);
  return k;
}

// `field` maps a service_config (const or not) to the member the key sets.
// A count is stored as its integer type, milliseconds as a duration.
template <class Field>
config_key number_key(std::string path, key_kind kind, std::uint64_t min, std::uint64_t max, std::string meaning,
                      Field field) {
  auto unit = kind == key_kind::millis ? "milliseconds, " : "integer, ";
  auto k = base_key(std::move(path), kind, unit + number_text(min) + ".." + number_text(max), std::move(meaning));
  k.min = min;
  k.max = max;
  k.get = [field](const service_config& c) {
    const auto& f = field(c);
    if constexpr (std::is_same_v<std::decay_t<decltype(f)>, std::chrono::milliseconds>)
      return json(static_cast<std::uint64_t>(f.count()));
    else
      return json(static_cast<std::uint64_t>(f));
  };
  k.set = [field, min, max](service_config& c, const json& v, const std::string& name) -> config_result {
    std::uint64_t n = 0;
    auto r = want_uint(v, name, min, max, n);
    if (r) {
      auto& f = field(c);
      f = static_cast<std::remove_reference_t<decltype(f)>>(n);
    }
    return r;
  };
  return k;
}

template <class Field>
config_key count_key(std::string path, std::uint64_t min, std::uint64_t max, std::string meaning, Field field) {
  return number_key(std::move(path), key_kind::count, min, max, std::move(meaning), field);
}

template <class Field>
config_key millis_key(std::string path, std::uint64_t min, std::uint64_t max, std::string meaning, Field field) {
  return number_key(std::move(path), key_kind::millis, min, max, std::move(meaning), field);
}

template <class E, class Field>
config_key choice_key(std::string path, std::vector<std::pair<std::string, E>> choices, std::string meaning,
                      Field field) {
  std::string type, listed;
  for (auto& ch : choices) {
    type += (type.empty() ? "`" : ", `") + ch.first + "`";
    listed += (listed.empty() ? "" : ", ") + ch.first;
  }
  auto k = base_key(std::move(path), key_kind::choice, type, std::move(meaning));
  for (auto& ch : choices) k.choices.push_back(ch.first);
  k.get = [field, choices](const service_config& c) {
    for (auto& ch : choices)
      if (ch.second == field(c)) return json(ch.first);
    return json(nullptr);
  };
  k.set = [field, choices, listed](service_config& c, const json& v, const std::string& name) -> config_result {
    std::string s;
    auto r = want_string(v, name, s);
    if (!r) return r;
    for (auto& ch : choices)
      if (ch.first == s) {
        field(c) = ch.second;
        return ok{};
      }
    return config_error(named(name) + " must be one of " + listed);
  };
  return k;
}

config_result set_host_port(host_port& out, const json& v, const std::string& name) {
  std::string s;
  auto r = want_string(v, name, s);
  if (!r) return r;
  auto hp = parse_host_port(s);
  if (!hp) return config_error(named(name) + ": " + hp.error());
  out = *hp;
  return ok{};
}

config_result add_trusted(service_config& c, const json& v, const std::string& name) {
  std::string hex, perm_text = "read,write", note;
  std::vector<std::string> docs;
  std::string key_name = name;
  if (v.is_string()) {
    hex = v.get<std::string>();
  } else if (v.is_object()) {
    key_name = name + ".key";
    for (auto it = v.begin(); it != v.end(); ++it) {
      auto field = name + "." + it.key();
      config_result r = ok{};
      if (it.key() == "key") r = want_string(it.value(), field, hex);
      else if (it.key() == "perm") r = want_string(it.value(), field, perm_text);
      else if (it.key() == "note") r = want_string(it.value(), field, note);
      else if (it.key() == "docs") {
        if (!it.value().is_array()) return config_error(named(field) + " must be an array of patterns");
        for (auto& d : it.value()) {
          if (!d.is_string()) return config_error(named(field) + " must be an array of patterns");
          docs.push_back(d.get<std::string>());
        }
      } else {
        return config_error("unknown key " + named(field));
      }
      if (!r) return r;
    }
    if (hex.empty()) return config_error(named(key_name) + " is required");
  } else {
    return config_error(named(name) + " must be a node id or an object {key, perm, docs, note}");
  }
  auto key = auth::parse_node_id(hex);
  if (!key) return config_error(named(key_name) + " is not a node id (64 hex characters)");
  auto perm = auth::permissions::parse(perm_text);
  if (!perm) return config_error(named(name + ".perm") + ": " + perm.error().message);
  for (auto& d : docs)
    if (!auth::valid_doc_pattern(d)) return config_error(named(name + ".docs") + ": invalid document pattern '" + d + "'");
  auth::trust_entry e;
  e.key = *key;
  e.perm = *perm;
  e.doc_patterns = std::move(docs);
  e.note = std::move(note);
  c.node.trusted.push_back(std::move(e));
  return ok{};
}

config_result add_token_hash(service_config& c, const json& v, const std::string& name) {
  std::string hex;
  auto r = want_string(v, name, hex);
  if (!r) return r;
  bool good = hex.size() == 64;
  for (char ch : hex)
    good = good && std::isxdigit(static_cast<unsigned char>(ch)) && !std::isupper(static_cast<unsigned char>(ch));
  if (!good) return config_error(named(name) + " must hold 64 lowercase hex characters (a token hash)");
  c.api_token_hashes.push_back(hex);
  return ok{};
}

std::vector<config_key> make_keys() {
  const std::uint64_t big = std::uint64_t{1} << 40, gib = std::uint64_t{1} << 30, mib = std::uint64_t{1} << 20;
  const std::uint64_t hour_ms = 3'600'000, day_ms = 86'400'000;
  std::vector<config_key> keys;

  auto data_dir = base_key("data_dir", key_kind::text, "string",
                           "LMDB store, `node.key`, `api.token`, `starling.json`");
  data_dir.required = data_dir.init_writes = true;
  data_dir.example = "/var/lib/starling";
  data_dir.get = [](const service_config& c) { return json(c.node.data_dir); };
  data_dir.set = [](service_config& c, const json& v, const std::string& name) {
    return want_string(v, name, c.node.data_dir);
  };
  keys.push_back(std::move(data_dir));

  auto listen = base_key("listen", key_kind::host_port, "`\"host:port\"` or `null`",
                         "sync endpoint (`/v1/sync`); `null`: no listener, dial only");
  listen.nullable = listen.init_writes = true;
  listen.example = "0.0.0.0:7500";
  listen.get = [](const service_config& c) {
    return c.node.listen ? json(c.node.net.listen_address + ":" + std::to_string(c.node.net.listen_port))
                         : json(nullptr);
  };
  listen.set = [](service_config& c, const json& v, const std::string& name) -> config_result {
    if (v.is_null()) {
      c.node.listen = false;
      return ok{};
    }
    host_port hp;
    auto r = set_host_port(hp, v, name);
    if (!r) return r;
    c.node.listen = true;
    c.node.net.listen_address = hp.host;
    c.node.net.listen_port = hp.port;
    return ok{};
  };
  keys.push_back(std::move(listen));

  auto http = base_key("http_listen", key_kind::host_port, "`\"host:port\"`", "HTTP API");
  http.init_writes = true;
  http.example = "127.0.0.1:7581";
  http.get = [](const service_config& c) { return json(c.http.host + ":" + std::to_string(c.http.port)); };
  http.set = [](service_config& c, const json& v, const std::string& name) { return set_host_port(c.http, v, name); };
  keys.push_back(std::move(http));

  auto peers = base_key("peers", key_kind::list, "array of `ws://` URLs", "URLs to dial");
  peers.flag = "--peer";
  peers.env_replaces = peers.init_writes = true;
  peers.example = "ws://10.0.0.2:7400/v1/sync";
  peers.get = [](const service_config& c) { return json(c.node.peers); };
  peers.clear = [](service_config& c) { c.node.peers.clear(); };
  peers.set = [](service_config& c, const json& v, const std::string& name) -> config_result {
    std::string url, why;
    auto r = want_string(v, name, url);
    if (!r) return r;
    if (!net::parse_ws_url(url, &why)) return config_error(named(name) + ": " + why);
    c.node.peers.push_back(url);
    return ok{};
  };
  keys.push_back(std::move(peers));

  auto trusted = base_key("trusted", key_kind::list, "array of node ids or `{key, perm, docs, note}`",
                          "keys seeded into the trust store at start; a bare id gets `read,write` on all documents; "
                          "`perm` default `\"read,write\"`, `docs`: patterns (default all documents)");
  trusted.env = "STARLING_TRUST";
  trusted.flag = "--trust";
  trusted.init_writes = true;
  trusted.example = std::string(64, 'a');
  trusted.get = [](const service_config& c) {
    json out = json::array();
    for (auto& e : c.node.trusted) {
      json t{{"key", to_hex(e.key)}, {"perm", e.perm.format()}};
      if (!e.doc_patterns.empty()) t["docs"] = e.doc_patterns;
      if (!e.note.empty()) t["note"] = e.note;
      out.push_back(std::move(t));
    }
    return out;
  };
  trusted.clear = [](service_config& c) { c.node.trusted.clear(); };
  trusted.set = add_trusted;
  keys.push_back(std::move(trusted));

  auto join = base_key("join_token", key_kind::text, "string or `null`",
                       "token presented when dialing (a new node); empty: none");
  join.nullable = join.secret = true;
  join.example = "starling-join-example";
  join.get = [](const service_config& c) { return c.node.join_token ? json(*c.node.join_token) : json(nullptr); };
  join.set = [](service_config& c, const json& v, const std::string& name) -> config_result {
    if (v.is_null()) {
      c.node.join_token.reset();
      return ok{};
    }
    std::string s;
    auto r = want_string(v, name, s);
    if (r) c.node.join_token = s;
    return r;
  };
  keys.push_back(std::move(join));

  using persistence::durability_mode;
  auto durability = choice_key<durability_mode>(
      "durability",
      {{"sync", durability_mode::sync}, {"nometasync", durability_mode::nometasync}, {"nosync", durability_mode::nosync}},
      "see Persistence and durability", [](auto& c) -> auto& { return c.node.store.durability; });
  durability.init_writes = true;
  keys.push_back(std::move(durability));
  keys.push_back(choice_key<log::level>(
      "log_level",
      {{"debug", log::level::debug}, {"info", log::level::info}, {"warn", log::level::warn}, {"error", log::level::error}},
      "least severe level logged", [](auto& c) -> auto& { return c.log_level; }));
  keys.push_back(choice_key<log::format>("log_format", {{"text", log::format::text}, {"json", log::format::json}},
                                         "see Observability", [](auto& c) -> auto& { return c.log_format; }));

  auto tokens = base_key("api_token_hashes", key_kind::list, "array of 64 lowercase hex",
                         "BLAKE2b-256 of accepted API bearer tokens (`init` adds one)");
  tokens.flag.clear();  // a hash on a command line would only invite pasting the token itself
  tokens.init_writes = true;
  tokens.example = std::string(64, 'b');
  tokens.get = [](const service_config& c) { return json(c.api_token_hashes); };
  tokens.clear = [](service_config& c) { c.api_token_hashes.clear(); };
  tokens.set = add_token_hash;
  keys.push_back(std::move(tokens));

  keys.push_back(count_key("io_threads", 1, 64, "threads of each network runtime",
                           [](auto& c) -> auto& { return c.node.net.io_threads; }));
  keys.push_back(count_key("scheduler_threads", 0, 256, "actor worker threads; 0: one per core, at least 4",
                           [](auto& c) -> auto& { return c.node.scheduler.threads; }));
  keys.push_back(count_key("scheduler_polls", 0, 1'000'000,
                           "rounds an idle worker polls its queue (every 50 µs) before it sleeps until woken",
                           [](auto& c) -> auto& { return c.node.scheduler.poll_attempts; }));

  keys.push_back(count_key("limits.frame_bytes", 1024, gib,
                           "largest incoming WebSocket message (larger: close 1009); the sync decoder's own frame "
                           "limit stays 4 MiB",
                           [](auto& c) -> auto& { return c.node.net.frame_limit; }));
  keys.push_back(count_key("limits.send_queue_bytes", 64 * 1024, big, "bytes queued for sending per connection",
                           [](auto& c) -> auto& { return c.node.net.send_queue_limit; }));
  keys.push_back(count_key("limits.http_body_bytes", 1024, gib, "HTTP request body",
                           [](auto& c) -> auto& { return c.node.net.http_body_limit; }));
  keys.push_back(count_key("limits.http_header_bytes", 1024, mib, "HTTP request header",
                           [](auto& c) -> auto& { return c.node.net.http_header_limit; }));
  keys.push_back(count_key("limits.pending_changes", 1, big, "dependency-blocked changes held per document",
                           [](auto& c) -> auto& { return c.node.document.max_pending; }));
  keys.push_back(count_key("limits.subscriber_max_changes", 1, big, "fan-out backlog per subscriber before `lagged`",
                           [](auto& c) -> auto& { return c.node.subscriber_max_changes; }));
  keys.push_back(count_key("limits.subscriber_max_bytes", 1024, big, "the same, in bytes",
                           [](auto& c) -> auto& { return c.node.subscriber_max_bytes; }));
  keys.push_back(count_key("limits.commit_changes", 1, big, "changes per grouped store transaction",
                           [](auto& c) -> auto& { return c.node.max_commit_changes; }));
  keys.push_back(count_key("limits.uncommitted_changes", 0, big,
                           "remote changes a document applies ahead of their commit (0: each batch waits for its "
                           "commit)",
                           [](auto& c) -> auto& { return c.node.max_uncommitted_changes; }));
  keys.push_back(count_key("limits.event_streams", 0, mib, "open Server-Sent Event streams",
                           [](auto& c) -> auto& { return c.max_event_streams; }));
  keys.push_back(count_key("limits.http_json_depth", 1, 4096,
                           "arrays and objects open at once in an HTTP request body (a written value may nest 64 deep)",
                           [](auto& c) -> auto& { return c.http_json_depth; }));
  keys.push_back(count_key("limits.docs_page_default", 1, mib,
                           "documents per `GET /v1/docs` page without `limit` (at most `limits.docs_page_max`)",
                           [](auto& c) -> auto& { return c.docs_page_default; }));
  keys.push_back(count_key("limits.docs_page_max", 1, mib, "the largest `limit` of `GET /v1/docs`",
                           [](auto& c) -> auto& { return c.docs_page_max; }));
  keys.push_back(count_key("limits.max_resyncs", 0, mib,
                           "times per `timeouts.lag_window_ms` a session asks a peer again for a document's delta after "
                           "refusing a batch as `chain_gap` or `pending_full`",
                           [](auto& c) -> auto& { return c.node.sync.max_resyncs; }));
  keys.push_back(count_key("limits.owner_retries", 0, 1000,
                           "retries of a failed document-owner lookup before a peer session ends with `internal`",
                           [](auto& c) -> auto& { return c.node.owner_retries; }));
  keys.push_back(count_key("limits.sync_batch_bytes", 1024, gib, "change batch frame this node sends",
                           [](auto& c) -> auto& { return c.node.sync.max_batch_bytes; }));
  keys.push_back(count_key("limits.held_changes", 1, big,
                           "live changes held back per document while a peer catches up (more: a lag)",
                           [](auto& c) -> auto& { return c.node.sync.max_held_changes; }));
  keys.push_back(count_key("limits.max_lags", 1, mib, "lags tolerated per `timeouts.lag_window_ms` before the "
                           "session is closed",
                           [](auto& c) -> auto& { return c.node.sync.max_lags; }));

  keys.push_back(millis_key("timeouts.auth_ms", 1, hour_ms, "hello/auth handshake of a new connection",
                            [](auto& c) -> auto& { return c.node.auth_timeout; }));
  keys.push_back(millis_key("timeouts.handshake_ms", 1, hour_ms, "WebSocket handshake, and a close handshake",
                            [](auto& c) -> auto& { return c.node.net.handshake_timeout; }));
  keys.push_back(millis_key("timeouts.connect_ms", 1, hour_ms, "resolving and connecting when dialing",
                            [](auto& c) -> auto& { return c.node.net.connect_timeout; }));
  keys.push_back(millis_key("timeouts.ping_interval_ms", 0, hour_ms, "WebSocket ping interval (0: none)",
                            [](auto& c) -> auto& { return c.node.net.ping_interval; }));
  keys.push_back(millis_key("timeouts.pong_timeout_ms", 0, hour_ms,
                            "close a connection that sent nothing for this long (0: never)",
                            [](auto& c) -> auto& { return c.node.net.pong_timeout; }));
  keys.push_back(millis_key("timeouts.http_idle_ms", 1, hour_ms,
                            "idle keep-alive HTTP connection; also bounds each write of an event stream",
                            [](auto& c) -> auto& { return c.node.net.http_idle_timeout; }));
  keys.push_back(millis_key("timeouts.lag_window_ms", 1, day_ms, "window of `limits.max_lags`",
                            [](auto& c) -> auto& { return c.node.sync.lag_window; }));
  keys.push_back(millis_key("timeouts.http_request_ms", 1, hour_ms,
                            "an HTTP request waiting for the node (longer: 503 `timeout`)",
                            [](auto& c) -> auto& { return c.http_request_timeout; }));
  keys.push_back(millis_key("timeouts.readyz_ms", 1, hour_ms, "`/readyz` waiting for the node",
                            [](auto& c) -> auto& { return c.readyz_timeout; }));
  keys.push_back(millis_key("timeouts.sse_keepalive_ms", 1, hour_ms,
                            "an idle event stream sends a keep-alive comment this often",
                            [](auto& c) -> auto& { return c.sse_keepalive; }));
  keys.push_back(millis_key("timeouts.owner_lookup_ms", 1, hour_ms, "finding a document's owner through the node",
                            [](auto& c) -> auto& { return c.node.owner_lookup_timeout; }));
  keys.push_back(millis_key("timeouts.owner_retry_ms", 1, hour_ms,
                            "delay between retries of a failed document-owner lookup",
                            [](auto& c) -> auto& { return c.node.owner_retry_delay; }));

  keys.push_back(millis_key("dialer.base_backoff_ms", 1, hour_ms, "first reconnect delay cap",
                            [](auto& c) -> auto& { return c.node.dialer.base_backoff; }));
  keys.push_back(millis_key("dialer.max_backoff_ms", 1, day_ms, "largest reconnect delay cap",
                            [](auto& c) -> auto& { return c.node.dialer.max_backoff; }));
  keys.push_back(count_key("dialer.error_after", 1, mib, "consecutive failures before the dialer logs at ERROR",
                           [](auto& c) -> auto& { return c.node.dialer.error_after; }));
  return keys;
}

std::vector<std::string> split_commas(const std::string& s) {
  std::vector<std::string> out;
  std::string cur;
  for (char c : s) {
    if (c == ',') {
      if (!cur.empty()) out.push_back(cur);
      cur.clear();
    } else if (c != ' ') {
      cur += c;
    }
  }
  if (!cur.empty()) out.push_back(cur);
  return out;
}

// A number given as text becomes a JSON number, so that the setter's
// checks and messages are the ones the file gets; anything else stays a
// string and is refused there as not a non-negative integer.
json number_or_text(const std::string& text) {
  if (text.empty() || text.size() > 20) return json(text);
  std::uint64_t n = 0;
  for (char c : text) {
    if (!std::isdigit(static_cast<unsigned char>(c))) return json(text);
    auto digit = static_cast<std::uint64_t>(c - '0');
    if (n > (UINT64_MAX - digit) / 10) return json(text);
    n = n * 10 + digit;
  }
  return json(n);
}

}  // namespace

const std::vector<config_key>& config_keys() {
  static const std::vector<config_key> keys = make_keys();
  return keys;
}

const config_key* find_config_key(const std::string& path) {
  for (auto& k : config_keys())
    if (k.path == path) return &k;
  return nullptr;
}

config_result apply_config_text(service_config& cfg, const config_key& key, const std::string& text,
                                const std::string& name, bool split) {
  if (key.kind == key_kind::list) {
    if (!split) return key.set(cfg, json(text), name);
    if (key.env_replaces) key.clear(cfg);
    for (auto& part : split_commas(text)) {
      auto r = key.set(cfg, json(part), name);
      if (!r) return r;
    }
    return ok{};
  }
  if (key.nullable && text.empty()) return key.set(cfg, json(nullptr), name);
  if (key.kind == key_kind::count || key.kind == key_kind::millis) return key.set(cfg, number_or_text(text), name);
  return key.set(cfg, json(text), name);
}

namespace {

std::string default_text(const config_key& k, const json& v) {
  if (k.required) return "(required)";
  if (v.is_number_unsigned()) {
    auto n = v.get<std::uint64_t>();
    std::string out = std::to_string(n);
    bool bytes = k.path.size() > 6 && k.path.compare(k.path.size() - 6, 6, "_bytes") == 0;
    if (bytes && n >= 1024 && n % 1024 == 0)
      out += n % (1u << 20) == 0 ? " (" + std::to_string(n >> 20) + " MiB)" : " (" + std::to_string(n >> 10) + " KiB)";
    return out;
  }
  return "`" + v.dump() + "`";
}

}  // namespace

std::string config_reference_markdown() {
  auto defaults = default_service_config();
  std::ostringstream out;
  out << "| key | type | default | variable | flag | meaning |\n|---|---|---|---|---|---|\n";
  for (auto& k : config_keys()) {
    std::string env, flag;
    if (!k.env.empty()) {
      env = "`" + k.env + "`";
      if (k.kind == key_kind::list) env += k.env_replaces ? " (comma-separated, replaces)" : " (comma-separated, adds)";
    }
    if (!k.flag.empty()) {
      flag = "`" + k.flag + "`";
      if (k.kind == key_kind::list) flag += " (repeatable, adds)";
    }
    out << "| `" << k.path << "` | " << k.type << " | " << default_text(k, k.get(defaults)) << " | " << env << " | "
        << flag << " | " << k.meaning << " |\n";
  }
  return out.str();
}

}  // namespace starling::app
