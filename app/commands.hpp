// The `starling` subcommands, each a function returning the process exit
// code: 0 success, 1 failure (the node is unreachable, a server error), 2
// bad usage or input refused (with a one-line reason on stderr).
//
// Threading: called once from main.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "app/demo.hpp"
#include "app/node_flags.hpp"
#include "app/service_config.hpp"

namespace starling::app {

constexpr int exit_ok = 0, exit_failure = 1, exit_usage = 2;

// Prints "starling: <why>" and returns exit_usage.
int usage_error(const std::string& why);

// The configuration `serve` would run: defaults, the file (--config, else
// DATA_DIR/starling.json if present), STARLING_* variables, then flags.
// `check`: validate the result (init validates later, after adding its token).
expected<service_config, std::string> resolve_config(const node_flags& flags, bool check = true);

int cmd_init(const node_flags& flags);
// Prints the node id of a data directory (from its key file).
int cmd_id(const std::string& data_dir);
int cmd_serve(const node_flags& flags);
// Prints the configuration reference (the Markdown table in README.md).
int cmd_config_reference();

// Client commands talk to a running node's HTTP API.
struct client_options {
  std::string node = "http://127.0.0.1:7480";  // --node, STARLING_NODE
  std::string api_token;                       // --api-token, STARLING_API_TOKEN, or DATA_DIR/api.token
  std::string data_dir;                        // to find api.token
  int timeout_ms = 10'000;
  // The node's replies are read with the project's guarded JSON parser: a
  // document nests at most 128 containers, a reply wraps it in two more.
  json_limits reply_json{/*max_depth=*/256, /*max_bytes=*/std::size_t{64} << 20};
};
void fill_client_defaults(client_options& o);

int cmd_put(const client_options& o, const std::string& doc, const std::string& pointer, const std::string& json_text,
            const std::string& op);
int cmd_get(const client_options& o, const std::string& doc, const std::string& pointer);
int cmd_watch(const client_options& o, const std::string& doc, const std::string& from_id, long max_events);
int cmd_status(const client_options& o, bool as_json);
int cmd_token_create(const client_options& o, const std::string& perm, const std::string& ttl,
                     const std::vector<std::string>& docs, const std::string& note);
int cmd_token_list(const client_options& o);
int cmd_token_revoke(const client_options& o, const std::string& hash_prefix);
int cmd_trust_add(const client_options& o, const std::string& key, const std::string& perm,
                  const std::vector<std::string>& docs, const std::string& note);
int cmd_trust_list(const client_options& o);
int cmd_trust_remove(const client_options& o, const std::string& key);

}  // namespace starling::app
