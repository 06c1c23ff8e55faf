#include "app/service_config.hpp"
#include "app/config_keys.hpp"

#include <algorithm>
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

result fail(std::string msg) { return config_error(std::move(msg)); }

// A key path that has keys below it (`limits`): its value is an object.
bool is_section(const std::string& path) {
  for (auto& k : config_keys())
    if (k.path.size() > path.size() && k.path.compare(0, path.size(), path) == 0 && k.path[path.size()] == '.')
      return true;
  return false;
}

result apply_value(service_config& cfg, const config_key& key, const json& v, const std::string& path) {
  if (key.kind != key_kind::list) return key.set(cfg, v, path);
  if (!v.is_array()) return fail("'" + path + "' must be an array");
  key.clear(cfg);
  for (std::size_t i = 0; i < v.size(); ++i) {
    auto r = key.set(cfg, v[i], path + "[" + std::to_string(i) + "]");
    if (!r) return r;
  }
  return ok{};
}

// Walks one JSON object; every member is a key of the table or a section
// of them, anything else is refused by its full path.
result apply_object(service_config& cfg, const json& obj, const std::string& prefix) {
  if (!obj.is_object()) return fail("'" + (prefix.empty() ? std::string("(top level)") : prefix) + "' must be an object");
  for (auto it = obj.begin(); it != obj.end(); ++it) {
    std::string path = prefix.empty() ? it.key() : prefix + "." + it.key();
    result r = ok{};
    if (auto* key = find_config_key(path)) r = apply_value(cfg, *key, it.value(), path);
    else if (is_section(path)) r = apply_object(cfg, it.value(), path);
    else r = fail("unknown key '" + path + "'");
    if (!r) return r;
  }
  return ok{};
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

result apply_json(service_config& cfg, const json& j) { return apply_object(cfg, j, ""); }

result apply_json_text(service_config& cfg, const std::string& text) {
  auto j = parse_json(text, config_json_limits);
  if (!j) return fail(j.error().message);
  return apply_json(cfg, *j);
}

result apply_env(service_config& cfg, const std::map<std::string, std::string>& env) {
  for (auto& key : config_keys()) {
    if (key.env.empty()) continue;
    auto it = env.find(key.env);
    if (it == env.end()) continue;
    auto r = apply_config_text(cfg, key, it->second, key.env, /*split=*/true);
    if (!r) return r;
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
  auto defaults = default_service_config();
  json j = json::object();
  for (auto& key : config_keys()) {
    if (key.secret) continue;
    auto v = key.get(cfg);
    if (!key.init_writes && v == key.get(defaults)) continue;
    std::string pointer = "/" + key.path;
    std::replace(pointer.begin(), pointer.end(), '.', '/');
    j[json::json_pointer(pointer)] = std::move(v);
  }
  return j;
}

}  // namespace starling::app
