// The starling command line.
#include <CLI/CLI.hpp>

#include <iostream>

#include "app/commands.hpp"

using namespace starling::app;

namespace {

void add_client_flags(CLI::App* cmd, client_options& o) {
  cmd->add_option("--node", o.node, "the node's HTTP API (default http://127.0.0.1:7480, or STARLING_NODE)");
  cmd->add_option("--api-token", o.api_token, "bearer token (default STARLING_API_TOKEN, or DATA_DIR/api.token)");
  cmd->add_option("--data-dir", o.data_dir, "read the API token from this data directory");
  cmd->add_option("--timeout-ms", o.timeout_ms, "request timeout")->check(CLI::Range(1, 3'600'000));
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"starling: replicated JSON documents (CRDTs) over authenticated WebSocket sync"};
  app.require_subcommand(1, 1);
  app.set_help_all_flag("--help-all", "help for every command");

  node_flags nf;
  client_options co;
  auto* init = app.add_subcommand("init", "create a data directory: node key, config, API token");
  add_node_flags(init, nf, false);
  std::string id_dir;
  auto* id = app.add_subcommand("id", "print the node id of a data directory");
  id->add_option("--data-dir", id_dir, "data directory (default STARLING_DATA_DIR)");
  auto* serve = app.add_subcommand("serve", "run a node (sync listener, dialers, HTTP API) until SIGINT/SIGTERM");
  add_node_flags(serve, nf, true);

  auto* config = app.add_subcommand("config", "the configuration keys of init and serve");
  config->require_subcommand(1, 1);
  auto* config_reference = config->add_subcommand(
      "reference", "print every key: type, default, variable, flag, meaning (the Markdown table of README.md)");

  auto* token = app.add_subcommand("token", "join tokens of a running node");
  token->require_subcommand(1, 1);
  std::string perm = "read,write", ttl = "24h", note, hash_prefix, key;
  std::vector<std::string> docs;
  auto* token_create = token->add_subcommand("create", "issue a single-use join token (printed once)");
  token_create->add_option("--perm", perm, "read, write, admin, comma-separated (default read,write)");
  token_create->add_option("--ttl", ttl, "lifetime: 90s, 30m, 24h, 7d (default 24h)");
  token_create->add_option("--docs", docs, "document patterns the key may use (default all)");
  token_create->add_option("--note", note, "free text for operators");
  auto* token_list = token->add_subcommand("list", "unused tokens, by hash");
  auto* token_revoke = token->add_subcommand("revoke", "withdraw an unused token");
  token_revoke->add_option("HASH", hash_prefix, "the token's hash or its first 8+ characters")->required();
  for (auto* c : {token_create, token_list, token_revoke}) add_client_flags(c, co);

  auto* trust = app.add_subcommand("trust", "trusted keys of a running node");
  trust->require_subcommand(1, 1);
  auto* trust_add = trust->add_subcommand("add", "trust a node id");
  trust_add->add_option("KEY", key, "node id (64 hex characters)")->required();
  trust_add->add_option("--perm", perm, "read, write, admin, comma-separated (default read,write)");
  trust_add->add_option("--docs", docs, "document patterns (default all)");
  trust_add->add_option("--note", note, "free text for operators");
  auto* trust_list = trust->add_subcommand("list", "trusted keys");
  auto* trust_remove = trust->add_subcommand("remove", "revoke a key and close its live sessions");
  trust_remove->add_option("KEY", key, "node id")->required();
  for (auto* c : {trust_add, trust_list, trust_remove}) add_client_flags(c, co);

  std::string doc, pointer, value, op = "set", from_id;
  long max_events = 0;
  bool as_json = false;
  auto* put = app.add_subcommand("put", "write one mutation to a document (one signed change)");
  put->add_option("DOC", doc, "document name")->required();
  put->add_option("POINTER", pointer, "JSON Pointer, e.g. /todo/0 ('-' appends to a list)")->required();
  put->add_option("VALUE", value, "JSON value (not for del and rm)");
  put->add_option("--op", op, "set | inc | ins | del | rm (default set)")
      ->check(CLI::IsMember({"set", "inc", "ins", "del", "rm"}));
  auto* get = app.add_subcommand("get", "read a document, or the value at a JSON Pointer");
  get->add_option("DOC", doc, "document name")->required();
  get->add_option("POINTER", pointer, "JSON Pointer (default: the whole document)");
  auto* watch = app.add_subcommand("watch", "stream a document's applied changes, one JSON line each");
  watch->add_option("DOC", doc, "document name")->required();
  watch->add_option("--from", from_id, "start at this event id (0: the whole stored log); default: new changes only");
  watch->add_option("--max", max_events, "stop after N events")->check(CLI::Range(0L, 1L << 40));
  auto* status = app.add_subcommand("status", "peers, lag, catch-up and per-document frontiers");
  status->add_flag("--json", as_json, "the raw /v1/status JSON");
  for (auto* c : {put, get, watch, status}) add_client_flags(c, co);

  demo_options demo_opt;
  auto* demo = app.add_subcommand("demo", "a 3-node cluster on loopback: join, write, converge");
  demo->add_option("--seed", demo_opt.seed, "seed of the write schedule (default random, printed)");
  demo->add_option("--rounds", demo_opt.rounds, "writes per node")->check(CLI::Range(1, 100000));
  demo->add_option("--dir", demo_opt.dir, "parent directory for the nodes' data (default a temp dir)");
  demo->add_flag("--keep", demo_opt.keep, "keep running (and the data) and print the URLs");

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp&) {
    std::cout << (app.get_subcommands().empty() ? app.help() : app.get_subcommands().back()->help());
    return exit_ok;
  } catch (const CLI::CallForAllHelp&) {
    std::cout << app.help("", CLI::AppFormatMode::All);
    return exit_ok;
  } catch (const CLI::ParseError& e) {
    std::string what = e.what();
    return usage_error(what + " (see 'starling --help')");
  }
  auto client = [&] {
    fill_client_defaults(co);
    return co;
  };
  if (*init) return cmd_init(nf);
  if (*id) return cmd_id(id_dir);
  if (*serve) return cmd_serve(nf);
  if (*config_reference) return cmd_config_reference();
  if (*token_create) return cmd_token_create(client(), perm, ttl, docs, note);
  if (*token_list) return cmd_token_list(client());
  if (*token_revoke) return cmd_token_revoke(client(), hash_prefix);
  if (*trust_add) return cmd_trust_add(client(), key, perm, docs, note);
  if (*trust_list) return cmd_trust_list(client());
  if (*trust_remove) return cmd_trust_remove(client(), key);
  if (*put) return cmd_put(client(), doc, pointer, value, op);
  if (*get) return cmd_get(client(), doc, pointer);
  if (*watch) return cmd_watch(client(), doc, from_id, max_events);
  if (*status) return cmd_status(client(), as_json);
  if (*demo) {
    try {
      return run_demo(demo_opt);
    } catch (const std::exception& e) {
      std::cerr << "starling demo: " << e.what() << "\n";
      return exit_failure;
    }
  }
  return usage_error("no command");
}
