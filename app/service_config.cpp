#include "app/service_config.hpp"

#include <cctype>
#include <cstdlib>
#include <functional>
#include <set>

#include <nlohmann/json.hpp>

#include "auth/identity.hpp"
#include "auth/permissions.hpp"
#include "crdt/json_parse.hpp"
#include "net/dial.hpp"

extern char** environ;

namespace starling::app {

using nlohmann::json;
using ok = persistence::done;
using result = expected<ok, std::string>;

namespace {

result fail(std::string msg) { return make_unexpected("config: " + std::move(msg)); }

result want_uint(const json& v, const std::string& key, std::uint64_t min, std::uint64_t max, std::uint64_t& out) {
  if (!v.is_number_unsigned() && !(v.is_number_integer() && v.get<std::int64_t>() >= 0))
    return fail("'" + key + "' must be a non-negative integer");
  auto n = v.get<std::uint64_t>();
  if (n < min || n > max)
    return fail("'" + key + "' must be between " + std::to_string(min) + " and " + std::to_string(max));
  out = n;
  return ok{};
}

result want_string(const json& v, const std::string& key, std::string& out) {
  if (!v.is_string()) return fail("'" + key + "' must be a string");
  out = v.get<std::string>();
  return ok{};
}

// A JSON object whose keys each have a setter; anything else is refused.
using setter = std::function<result(const json&, const std::string& key)>;
result apply_object(const json& obj, const std::string& prefix, const std::map<std::string, setter>& keys) {
  if (!obj.is_object()) return fail("'" + (prefix.empty() ? std::string("(top level)") : prefix) + "' must be an object");
  for (auto it = obj.begin(); it != obj.end(); ++it) {
    std::string key = prefix.empty() ? it.key() : prefix + "." + it.key();
    auto s = keys.find(it.key());
    if (s == keys.end()) return fail("unknown key '" + key + "'");
    auto r = s->second(it.value(), key);
    if (!r) return r;
  }
  return ok{};
}

template <class T>
setter size_setter(T& field, std::uint64_t min, std::uint64_t max) {
  return [&field, min, max](const json& v, const std::string& key) -> result {
    std::uint64_t n = 0;
    auto r = want_uint(v, key, min, max, n);
    if (r) field = static_cast<T>(n);
    return r;
  };
}

setter millis_setter(std::chrono::milliseconds& field, std::uint64_t min, std::uint64_t max) {
  return [&field, min, max](const json& v, const std::string& key) -> result {
    std::uint64_t n = 0;
    auto r = want_uint(v, key, min, max, n);
    if (r) field = std::chrono::milliseconds(n);
    return r;
  };
}

result set_listen(service_config& cfg, const std::string& text, const std::string& key) {
  auto hp = parse_host_port(text);
  if (!hp) return fail("'" + key + "': " + hp.error());
  cfg.node.listen = true;
  cfg.node.net.listen_address = hp->host;
  cfg.node.net.listen_port = hp->port;
  return ok{};
}

result set_http(service_config& cfg, const std::string& text, const std::string& key) {
  auto hp = parse_host_port(text);
  if (!hp) return fail("'" + key + "': " + hp.error());
  cfg.http = *hp;
  return ok{};
}

result set_durability(service_config& cfg, const std::string& text, const std::string& key) {
  if (text == "sync") cfg.node.store.durability = persistence::durability_mode::sync;
  else if (text == "nometasync") cfg.node.store.durability = persistence::durability_mode::nometasync;
  else if (text == "nosync") cfg.node.store.durability = persistence::durability_mode::nosync;
  else return fail("'" + key + "' must be one of sync, nometasync, nosync");
  return ok{};
}

result add_peer(service_config& cfg, const std::string& url, const std::string& key) {
  std::string why;
  if (!net::parse_ws_url(url, &why)) return fail("'" + key + "': " + why);
  cfg.node.peers.push_back(url);
  return ok{};
}

result add_trusted_key(service_config& cfg, const std::string& hex, auth::permissions perm,
                       std::vector<std::string> docs, std::string note, const std::string& key) {
  auto k = auth::parse_node_id(hex);
  if (!k) return fail("'" + key + "' is not a node id (64 hex characters)");
  for (auto& d : docs)
    if (!auth::valid_doc_pattern(d)) return fail("'" + key + "': invalid document pattern '" + d + "'");
  auth::trust_entry e;
  e.key = *k;
  e.perm = perm;
  e.doc_patterns = std::move(docs);
  e.note = std::move(note);
  cfg.node.trusted.push_back(std::move(e));
  return ok{};
}

result add_token_hash(service_config& cfg, const std::string& hex, const std::string& key) {
  bool good = hex.size() == 64;
  for (char c : hex) good = good && std::isxdigit(static_cast<unsigned char>(c)) && !std::isupper(static_cast<unsigned char>(c));
  if (!good) return fail("'" + key + "' must hold 64 lowercase hex characters (a token hash)");
  cfg.api_token_hashes.push_back(hex);
  return ok{};
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

}  // namespace

expected<host_port, std::string> parse_host_port(const std::string& text) {
  host_port hp;
  std::string port_text;
  if (!text.empty() && text[0] == '[') {
    auto close = text.find(']');
    if (close == std::string::npos || close + 1 >= text.size() || text[close + 1] != ':')
      return make_unexpected(std::string("expected [address]:port"));
    hp.host = text.substr(1, close - 1);
    port_text = text.substr(close + 2);
  } else {
    auto colon = text.rfind(':');
    if (colon == std::string::npos) return make_unexpected(std::string("expected host:port"));
    hp.host = colon == 0 ? "127.0.0.1" : text.substr(0, colon);
    port_text = text.substr(colon + 1);
  }
  if (port_text.empty() || port_text.size() > 5) return make_unexpected(std::string("port must be 0-65535"));
  for (char c : port_text)
    if (!std::isdigit(static_cast<unsigned char>(c))) return make_unexpected(std::string("port must be 0-65535"));
  auto port = std::stoul(port_text);
  if (port > 65535) return make_unexpected(std::string("port must be 0-65535"));
  hp.port = static_cast<std::uint16_t>(port);
  if (hp.host.empty()) return make_unexpected(std::string("empty host"));
  return hp;
}

bool is_loopback(const std::string& host) {
  return host == "localhost" || host == "::1" || host.rfind("127.", 0) == 0;
}

service_config default_service_config() {
  service_config cfg;
  cfg.node.listen = true;
  cfg.node.net.listen_address = "127.0.0.1";
  cfg.node.net.listen_port = default_sync_port;
  return cfg;
}

result apply_json(service_config& cfg, const json& j) {
  auto& n = cfg.node;
  auto& net = n.net;
  const std::uint64_t big = std::uint64_t{1} << 40;
  std::map<std::string, setter> limits{
      {"frame_bytes", size_setter(net.frame_limit, 1024, std::uint64_t{1} << 30)},
      {"send_queue_bytes", size_setter(net.send_queue_limit, 64 * 1024, big)},
      {"http_body_bytes", size_setter(net.http_body_limit, 1024, std::uint64_t{1} << 30)},
      {"http_header_bytes", size_setter(net.http_header_limit, 1024, 1u << 20)},
      {"pending_changes", size_setter(n.document.max_pending, 1, big)},
      {"subscriber_max_changes", size_setter(n.subscriber_max_changes, 1, big)},
      {"subscriber_max_bytes", size_setter(n.subscriber_max_bytes, 1024, big)},
      {"commit_changes", size_setter(n.max_commit_changes, 1, big)},
      {"uncommitted_changes", size_setter(n.max_uncommitted_changes, 0, big)},
      {"event_streams", size_setter(cfg.max_event_streams, 0, 1u << 20)},
      {"http_json_depth", size_setter(cfg.http_json_depth, 1, 4096)},
      {"docs_page_default", size_setter(cfg.docs_page_default, 1, 1u << 20)},
      {"docs_page_max", size_setter(cfg.docs_page_max, 1, 1u << 20)},
      {"sync_batch_bytes", size_setter(n.sync.max_batch_bytes, 1024, std::uint64_t{1} << 30)},
      {"held_changes", size_setter(n.sync.max_held_changes, 1, big)},
      {"max_lags", size_setter(n.sync.max_lags, 1, 1u << 20)},
  };
  std::map<std::string, setter> timeouts{
      {"auth_ms", millis_setter(n.auth_timeout, 1, 3'600'000)},
      {"handshake_ms", millis_setter(net.handshake_timeout, 1, 3'600'000)},
      {"connect_ms", millis_setter(net.connect_timeout, 1, 3'600'000)},
      {"ping_interval_ms", millis_setter(net.ping_interval, 0, 3'600'000)},
      {"pong_timeout_ms", millis_setter(net.pong_timeout, 0, 3'600'000)},
      {"http_idle_ms", millis_setter(net.http_idle_timeout, 1, 3'600'000)},
      {"lag_window_ms", millis_setter(n.sync.lag_window, 1, 86'400'000)},
  };
  std::map<std::string, setter> dialer{
      {"base_backoff_ms", millis_setter(n.dialer.base_backoff, 1, 3'600'000)},
      {"max_backoff_ms", millis_setter(n.dialer.max_backoff, 1, 86'400'000)},
      {"error_after", size_setter(n.dialer.error_after, 1, 1u << 20)},
  };
  std::map<std::string, setter> top{
      {"data_dir", [&](const json& v, const std::string& k) { return want_string(v, k, n.data_dir); }},
      {"listen",
       [&](const json& v, const std::string& k) -> result {
         if (v.is_null()) {
           n.listen = false;
           return ok{};
         }
         std::string s;
         auto r = want_string(v, k, s);
         return r ? set_listen(cfg, s, k) : r;
       }},
      {"http_listen",
       [&](const json& v, const std::string& k) -> result {
         std::string s;
         auto r = want_string(v, k, s);
         return r ? set_http(cfg, s, k) : r;
       }},
      {"peers",
       [&](const json& v, const std::string& k) -> result {
         if (!v.is_array()) return fail("'" + k + "' must be an array of ws:// URLs");
         n.peers.clear();
         for (std::size_t i = 0; i < v.size(); ++i) {
           std::string url;
           auto key = k + "[" + std::to_string(i) + "]";
           auto r = want_string(v[i], key, url);
           if (r) r = add_peer(cfg, url, key);
           if (!r) return r;
         }
         return ok{};
       }},
      {"trusted",
       [&](const json& v, const std::string& k) -> result {
         if (!v.is_array()) return fail("'" + k + "' must be an array");
         n.trusted.clear();
         for (std::size_t i = 0; i < v.size(); ++i) {
           auto key = k + "[" + std::to_string(i) + "]";
           std::string hex, perm_text = "read,write", note;
           std::vector<std::string> docs;
           auto r = apply_object(v[i], key,
                                 {{"key", [&](const json& x, const std::string& kk) { return want_string(x, kk, hex); }},
                                  {"perm", [&](const json& x, const std::string& kk) { return want_string(x, kk, perm_text); }},
                                  {"note", [&](const json& x, const std::string& kk) { return want_string(x, kk, note); }},
                                  {"docs", [&](const json& x, const std::string& kk) -> result {
                                     if (!x.is_array()) return fail("'" + kk + "' must be an array of patterns");
                                     for (auto& d : x) {
                                       if (!d.is_string()) return fail("'" + kk + "' must be an array of patterns");
                                       docs.push_back(d.get<std::string>());
                                     }
                                     return ok{};
                                   }}});
           if (!r) return r;
           if (hex.empty()) return fail("'" + key + ".key' is required");
           auto perm = auth::permissions::parse(perm_text);
           if (!perm) return fail("'" + key + ".perm': " + perm.error().message);
           r = add_trusted_key(cfg, hex, *perm, docs, note, key + ".key");
           if (!r) return r;
         }
         return ok{};
       }},
      {"join_token",
       [&](const json& v, const std::string& k) -> result {
         if (v.is_null()) {
           n.join_token.reset();
           return ok{};
         }
         std::string s;
         auto r = want_string(v, k, s);
         if (r) n.join_token = s;
         return r;
       }},
      {"durability",
       [&](const json& v, const std::string& k) -> result {
         std::string s;
         auto r = want_string(v, k, s);
         return r ? set_durability(cfg, s, k) : r;
       }},
      {"log_level",
       [&](const json& v, const std::string& k) -> result {
         std::string s;
         auto r = want_string(v, k, s);
         if (!r) return r;
         auto l = log::parse_level(s);
         if (!l) return fail("'" + k + "' must be one of debug, info, warn, error");
         cfg.log_level = *l;
         return ok{};
       }},
      {"log_format",
       [&](const json& v, const std::string& k) -> result {
         std::string s;
         auto r = want_string(v, k, s);
         if (!r) return r;
         auto f = log::parse_format(s);
         if (!f) return fail("'" + k + "' must be text or json");
         cfg.log_format = *f;
         return ok{};
       }},
      {"api_token_hashes",
       [&](const json& v, const std::string& k) -> result {
         if (!v.is_array()) return fail("'" + k + "' must be an array of token hashes");
         cfg.api_token_hashes.clear();
         for (std::size_t i = 0; i < v.size(); ++i) {
           std::string h;
           auto key = k + "[" + std::to_string(i) + "]";
           auto r = want_string(v[i], key, h);
           if (r) r = add_token_hash(cfg, h, key);
           if (!r) return r;
         }
         return ok{};
       }},
      {"io_threads", size_setter(net.io_threads, 1, 64)},
      {"scheduler_threads", size_setter(n.scheduler.threads, 0, 256)},
      {"scheduler_polls", size_setter(n.scheduler.poll_attempts, 0, 1'000'000)},
      {"limits", [&](const json& v, const std::string& k) { return apply_object(v, k, limits); }},
      {"timeouts", [&](const json& v, const std::string& k) { return apply_object(v, k, timeouts); }},
      {"dialer", [&](const json& v, const std::string& k) { return apply_object(v, k, dialer); }},
  };
  return apply_object(j, "", top);
}

result apply_json_text(service_config& cfg, const std::string& text) {
  auto j = parse_json(text, config_json_limits);
  if (!j) return fail(j.error().message);
  return apply_json(cfg, *j);
}

result apply_env(service_config& cfg, const std::map<std::string, std::string>& env) {
  auto get = [&](const char* name) -> const std::string* {
    auto it = env.find(name);
    return it == env.end() ? nullptr : &it->second;
  };
  if (auto v = get("STARLING_DATA_DIR")) cfg.node.data_dir = *v;
  if (auto v = get("STARLING_LISTEN")) {
    auto r = set_listen(cfg, *v, "STARLING_LISTEN");
    if (!r) return r;
  }
  if (auto v = get("STARLING_HTTP_LISTEN")) {
    auto r = set_http(cfg, *v, "STARLING_HTTP_LISTEN");
    if (!r) return r;
  }
  if (auto v = get("STARLING_PEERS")) {
    cfg.node.peers.clear();
    for (auto& url : split_commas(*v)) {
      auto r = add_peer(cfg, url, "STARLING_PEERS");
      if (!r) return r;
    }
  }
  if (auto v = get("STARLING_TRUST")) {
    for (auto& hex : split_commas(*v)) {
      auto r = add_trusted_key(cfg, hex, auth::permissions(auth::permission::read) | auth::permission::write, {}, "",
                               "STARLING_TRUST");
      if (!r) return r;
    }
  }
  if (auto v = get("STARLING_JOIN_TOKEN")) {
    if (v->empty()) cfg.node.join_token.reset();
    else cfg.node.join_token = *v;
  }
  if (auto v = get("STARLING_DURABILITY")) {
    auto r = set_durability(cfg, *v, "STARLING_DURABILITY");
    if (!r) return r;
  }
  if (auto v = get("STARLING_LOG_LEVEL")) {
    auto l = log::parse_level(*v);
    if (!l) return fail("'STARLING_LOG_LEVEL' must be one of debug, info, warn, error");
    cfg.log_level = *l;
  }
  if (auto v = get("STARLING_LOG_FORMAT")) {
    auto f = log::parse_format(*v);
    if (!f) return fail("'STARLING_LOG_FORMAT' must be text or json");
    cfg.log_format = *f;
  }
  if (auto v = get("STARLING_API_TOKEN_HASHES")) {  // added to the file's (init's own token keeps working)
    for (auto& h : split_commas(*v)) {
      auto r = add_token_hash(cfg, h, "STARLING_API_TOKEN_HASHES");
      if (!r) return r;
    }
  }
  return ok{};
}

std::map<std::string, std::string> process_env() {
  std::map<std::string, std::string> out;
  for (char** e = environ; e && *e; ++e) {
    std::string kv = *e;
    auto eq = kv.find('=');
    if (eq == std::string::npos || kv.rfind("STARLING_", 0) != 0) continue;
    out[kv.substr(0, eq)] = kv.substr(eq + 1);
  }
  return out;
}

result validate(const service_config& cfg) {
  if (cfg.node.data_dir.empty()) return fail("'data_dir' is required (--data-dir, STARLING_DATA_DIR or the file)");
  if (!is_loopback(cfg.http.host) && cfg.api_token_hashes.empty())
    return fail("'http_listen' binds " + cfg.http.host +
                ", which is not loopback: set 'api_token_hashes' (see 'starling init') so that the API needs a token");
  if (cfg.node.listen && cfg.http.port != 0 && cfg.http.port == cfg.node.net.listen_port &&
      cfg.http.host == cfg.node.net.listen_address)
    return fail("'listen' and 'http_listen' must differ");
  if (cfg.node.dialer.base_backoff > cfg.node.dialer.max_backoff)
    return fail("'dialer.base_backoff_ms' must not exceed 'dialer.max_backoff_ms'");
  if (cfg.node.net.ping_interval.count() > 0 && cfg.node.net.pong_timeout.count() > 0 &&
      cfg.node.net.pong_timeout <= cfg.node.net.ping_interval)
    return fail("'timeouts.pong_timeout_ms' must exceed 'timeouts.ping_interval_ms'");
  if (cfg.docs_page_default > cfg.docs_page_max)
    return fail("'limits.docs_page_default' must not exceed 'limits.docs_page_max'");
  std::set<std::string> seen;
  for (auto& p : cfg.node.peers)
    if (!seen.insert(p).second) return fail("peer '" + p + "' is listed twice");
  return ok{};
}

json to_json(const service_config& cfg) {
  json j;
  j["data_dir"] = cfg.node.data_dir;
  j["listen"] = cfg.node.listen ? json(cfg.node.net.listen_address + ":" + std::to_string(cfg.node.net.listen_port))
                                : json(nullptr);
  j["http_listen"] = cfg.http.host + ":" + std::to_string(cfg.http.port);
  j["peers"] = cfg.node.peers;
  json trusted = json::array();
  for (auto& e : cfg.node.trusted) {
    json t{{"key", to_hex(e.key)}, {"perm", e.perm.format()}};
    if (!e.doc_patterns.empty()) t["docs"] = e.doc_patterns;
    if (!e.note.empty()) t["note"] = e.note;
    trusted.push_back(std::move(t));
  }
  j["trusted"] = trusted;
  j["api_token_hashes"] = cfg.api_token_hashes;
  switch (cfg.node.store.durability) {
    case persistence::durability_mode::sync: j["durability"] = "sync"; break;
    case persistence::durability_mode::nometasync: j["durability"] = "nometasync"; break;
    case persistence::durability_mode::nosync: j["durability"] = "nosync"; break;
  }
  return j;
}

}  // namespace starling::app
