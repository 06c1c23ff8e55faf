// The configuration of `starling serve`: a JSON file, then environment
// variables, then command-line flags, each overriding the one before, over
// the defaults of actors::node_config and net::settings.
//
// The keys are listed once, in app/config_keys.cpp, which drives the file,
// the environment and the flags alike and generates README.md's
// "Configuration reference". Unknown keys and wrong types are refused with
// the key's name: a typo must not silently fall back to a default.
//
// Threading: pure functions over plain values.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "actors/config.hpp"
#include "actors/log.hpp"
#include "crdt/expected.hpp"
#include "crdt/json_parse.hpp"

namespace starling::app {

inline constexpr std::uint16_t default_sync_port = 7400;
inline constexpr std::uint16_t default_http_port = 7480;
inline constexpr const char* config_file_name = "starling.json";
inline constexpr const char* api_token_file_name = "api.token";

struct host_port {
  std::string host;
  std::uint16_t port = 0;
};
// "host:port", "[v6]:port" or ":port" (host 127.0.0.1); port 0 is ephemeral.
expected<host_port, std::string> parse_host_port(const std::string& text);
bool is_loopback(const std::string& host);

// The config file is read with these bounds (crdt/json_parse.hpp): its
// deepest key is three levels down.
inline constexpr json_limits config_json_limits{/*max_depth=*/16, /*max_bytes=*/std::size_t{1} << 20};

struct service_config {
  actors::node_config node;  // data_dir, listen address/port (node.net), peers, trusted, limits
  host_port http{"127.0.0.1", default_http_port};
  // BLAKE2b-256 (hex) of the bearer tokens the HTTP API accepts. Required
  // (non-empty) when http.host is not a loopback address.
  std::vector<std::string> api_token_hashes;
  log::level log_level = log::level::info;
  log::format log_format = log::format::text;
  // SSE streams: at most this many open at once.
  std::size_t max_event_streams = 256;
  // Request bodies of the HTTP API: arrays and objects open at once (a
  // mutation's value may nest document_limits::max_value_depth deep inside
  // the body's own three levels). Their size is node.net.http_body_limit.
  std::size_t http_json_depth = 128;
  // GET /v1/docs: documents per page when the request names no limit, and
  // the largest limit a request may ask for.
  std::size_t docs_page_default = 100;
  std::size_t docs_page_max = 1000;
  // The HTTP API's pacing: how long a request waits for the node, how long
  // `/readyz` waits, how often an idle event stream sends a keep-alive
  // comment, and how soon a replay paused by a full client queue tries
  // again; and the replay's page and the live changes it holds meanwhile.
  std::chrono::milliseconds http_request_timeout{30'000};
  std::chrono::milliseconds readyz_timeout{2'000};
  std::chrono::milliseconds sse_keepalive{15'000};
  std::chrono::milliseconds sse_replay_retry{20};
  std::size_t sse_replay_page_changes = 512;
  std::size_t sse_max_buffered_live = 10'000;
};

// The defaults: sync on 127.0.0.1:7400, HTTP on 127.0.0.1:7480, durable.
service_config default_service_config();

// Applies a JSON object (the config file) over `cfg`. Errors name the key:
// "config: unknown key 'lisen'", "config: 'limits.frame_bytes' must be a
// positive integer".
expected<persistence::done, std::string> apply_json(service_config& cfg, const nlohmann::json& j);
expected<persistence::done, std::string> apply_json_text(service_config& cfg, const std::string& text);
// Applies STARLING_* variables from `env` (name -> value); variables that
// are no key's (STARLING_NODE of the client, ...) are left alone.
expected<persistence::done, std::string> apply_env(service_config& cfg, const std::map<std::string, std::string>& env);
// The environment of this process, as apply_env wants it.
std::map<std::string, std::string> process_env();
// Checks the whole: data_dir set, ports, tokens when exposed, peer URLs.
expected<persistence::done, std::string> validate(const service_config& cfg);

// The file `starling init` writes: the operator-facing keys, and every other
// key that differs from its default, except the secret join_token.
nlohmann::json to_json(const service_config& cfg);

}  // namespace starling::app
