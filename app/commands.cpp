#include "app/commands.hpp"

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "actors/scheduler.hpp"
#include "app/config_keys.hpp"
#include "app/service.hpp"
#include "auth/identity.hpp"
#include "auth/token.hpp"
#include "crdt/json_parse.hpp"
#include "net/http_client.hpp"

namespace starling::app {

namespace fs = std::filesystem;
using nlohmann::json;

int usage_error(const std::string& why) {
  std::cerr << "starling: " << why << "\n";
  return exit_usage;
}

namespace {

std::optional<std::string> read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

// Writes a file readable by its owner only.
bool write_private_file(const std::string& path, const std::string& text) {
  auto tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out) return false;
    out << text;
    if (!out.flush()) return false;
  }
  if (::chmod(tmp.c_str(), 0600) != 0) return false;
  std::error_code ec;
  fs::rename(tmp, path, ec);
  return !ec;
}

}  // namespace

int cmd_id(const std::string& data_dir) {
  std::string dir = !data_dir.empty() ? data_dir : process_env()["STARLING_DATA_DIR"];
  if (dir.empty()) return usage_error("id needs --data-dir DIR");
  auto id = auth::identity::load((fs::path(dir) / "node.key").string());
  if (!id) return usage_error(id.error().message);
  std::cout << id->node_id() << "\n";
  return exit_ok;
}

expected<service_config, std::string> resolve_config(const node_flags& flags, bool check) {
  service_config cfg = default_service_config();
  std::string file = flags.config_file;
  if (file.empty()) {
    auto flag_dir = flags.value("data_dir");
    std::string dir = !flag_dir.empty() ? flag_dir : process_env()["STARLING_DATA_DIR"];
    if (!dir.empty() && fs::exists(fs::path(dir) / config_file_name)) file = (fs::path(dir) / config_file_name).string();
  }
  if (!file.empty()) {
    auto text = read_file(file);
    if (!text) return make_unexpected("cannot read config file " + file);
    auto r = apply_json_text(cfg, *text);
    if (!r) return make_unexpected(file + ": " + r.error());
  }
  auto r = apply_env(cfg, process_env());
  if (!r) return make_unexpected("environment: " + r.error());
  r = apply_flags(cfg, flags);
  if (!r) return make_unexpected(r.error());
  if (check) {
    r = validate(cfg);
    if (!r) return make_unexpected(r.error());
  }
  return cfg;
}

int cmd_init(const node_flags& flags) {
  if (flags.value("data_dir").empty()) return usage_error("init needs --data-dir DIR");
  auto cfg = resolve_config(flags, /*check=*/false);  // checked below, once the API token exists
  if (!cfg) return usage_error(cfg.error());
  fs::path dir = flags.value("data_dir");
  auto cfg_path = dir / config_file_name;
  if (fs::exists(cfg_path)) return usage_error(cfg_path.string() + " exists: this data directory is initialised");
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return std::cerr << "starling: cannot create " << dir << ": " << ec.message() << "\n", exit_failure;
  fs::permissions(dir, fs::perms::owner_all, fs::perm_options::replace, ec);
  if (ec) std::cerr << "starling: warning: cannot make " << dir << " private (mode 0700): " << ec.message() << "\n";
  auto key_path = (dir / "node.key").string();
  std::string node_id;
  if (fs::exists(key_path)) {
    auto id = auth::identity::load(key_path);
    if (!id) return std::cerr << "starling: " << id.error().message << "\n", exit_failure;
    node_id = id->node_id();
  } else {
    auto id = auth::identity::generate();
    auto saved = id.save(key_path);
    if (!saved) return std::cerr << "starling: " << saved.error().message << "\n", exit_failure;
    node_id = id.node_id();
  }
  // An API token for the command line and for an exposed HTTP API; the
  // config keeps only its hash.
  auto api_token = auth::generate_token();
  cfg->api_token_hashes.push_back(to_hex(auth::hash_token(api_token)));
  cfg->node.data_dir = fs::absolute(dir).string();
  if (auto valid = validate(*cfg); !valid) return usage_error(valid.error());
  if (!write_private_file((dir / api_token_file_name).string(), api_token + "\n") ||
      !write_private_file(cfg_path.string(), to_json(*cfg).dump(2) + "\n"))
    return std::cerr << "starling: cannot write into " << dir << "\n", exit_failure;
  std::cout << "initialised " << fs::absolute(dir).string() << "\n"
            << "node id:     " << node_id << "\n"
            << "config:      " << cfg_path.string() << "\n"
            << "api token:   " << (dir / api_token_file_name).string() << " (mode 0600)\n"
            << "next:        starling serve --data-dir " << dir.string() << "\n";
  return exit_ok;
}

int cmd_serve(const node_flags& flags) {
  auto cfg = resolve_config(flags);
  if (!cfg) return usage_error(cfg.error());
  log::configure(cfg->log_level, cfg->log_format);
  // Signals are taken by sigwait on this thread; block them before any
  // other thread exists so that every thread inherits the mask.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  int exit_code = exit_ok;
  {
    caf::actor_system_config sys_cfg;
    actors::apply_scheduler_settings(cfg->node.scheduler, sys_cfg);
    caf::actor_system sys{sys_cfg};
    auto svc = service::start(sys, *cfg);
    if (!svc) {
      log::write(log::level::error, "serve", "cannot start", {{"error", svc.error()}});
      std::cerr << "starling: " << svc.error() << "\n";
      return exit_failure;
    }
    log::write(log::level::info, "serve", "node running",
               {{"node_id", (*svc)->node_id()},
                {"sync", (*svc)->sync_port() ? (*svc)->sync_url() : std::string("off")},
                {"http", (*svc)->http_url()},
                {"data_dir", cfg->node.data_dir},
                {"peers", std::to_string(cfg->node.peers.size())}});
    int sig = 0;
    sigwait(&stop_signals, &sig);
    log::write(log::level::info, "serve", "stopping", {{"signal", sig == SIGINT ? "SIGINT" : "SIGTERM"}});
    (*svc)->stop();
    svc->reset();
    sys.await_all_actors_done();
  }
  log::write(log::level::info, "serve", "stopped", {});
  return exit_code;
}

int cmd_config_reference() {
  std::cout << config_reference_markdown();
  return exit_ok;
}

// ------------------------------------------------------------ client side

void fill_client_defaults(client_options& o) {
  auto env = process_env();
  if (auto it = env.find("STARLING_NODE"); it != env.end() && o.node == client_options{}.node) o.node = it->second;
  if (o.api_token.empty())
    if (auto it = env.find("STARLING_API_TOKEN"); it != env.end()) o.api_token = it->second;
  if (o.api_token.empty()) {
    std::string dir = !o.data_dir.empty() ? o.data_dir : env["STARLING_DATA_DIR"];
    if (!dir.empty())
      if (auto t = read_file((fs::path(dir) / api_token_file_name).string())) {
        o.api_token = *t;
        while (!o.api_token.empty() && (o.api_token.back() == '\n' || o.api_token.back() == '\r'))
          o.api_token.pop_back();
      }
  }
  while (!o.node.empty() && o.node.back() == '/') o.node.pop_back();
}

namespace {

std::vector<net::http_header> auth_headers(const client_options& o) {
  std::vector<net::http_header> h{{"Accept", "application/json"}};
  if (!o.api_token.empty()) h.push_back({"Authorization", "Bearer " + o.api_token});
  return h;
}

struct api_answer {
  unsigned status = 0;
  json body;
};

// One API call; on failure prints why and sets *exit_code.
std::optional<api_answer> call(const client_options& o, const std::string& method, const std::string& path,
                               const std::string& body, int* exit_code) {
  auto headers = auth_headers(o);
  if (!body.empty()) headers.push_back({"Content-Type", "application/json"});
  std::string error;
  auto r = net::http_fetch(o.node + path, method, body, headers, std::chrono::milliseconds(o.timeout_ms), &error);
  if (!r) {
    std::cerr << "starling: cannot reach the node at " << o.node << ": " << error << "\n";
    *exit_code = exit_failure;
    return std::nullopt;
  }
  api_answer a;
  a.status = r->status;
  auto parsed = parse_json(r->body, o.reply_json);
  a.body = parsed ? std::move(*parsed) : json(json::value_t::discarded);
  if (a.status >= 400) {
    std::string msg = a.body.is_object() && a.body.contains("error")
                          ? a.body["error"].value("code", std::string("error")) + ": " +
                                a.body["error"].value("message", std::string())
                          : "HTTP " + std::to_string(a.status);
    std::cerr << "starling: " << msg << "\n";
    // The node refused what we asked (bad input, unknown doc): a usage
    // error. Its own failures (5xx): a failure.
    *exit_code = a.status < 500 ? exit_usage : exit_failure;
    return std::nullopt;
  }
  if (a.body.is_discarded()) {
    std::cerr << "starling: the node sent a response that is not JSON\n";
    *exit_code = exit_failure;
    return std::nullopt;
  }
  return a;
}

std::string encode_query(const std::string& v) {
  static const char* hex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : v) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~' || c == '/') out += static_cast<char>(c);
    else out += '%', out += hex[c >> 4], out += hex[c & 15];
  }
  return out;
}

bool stdout_is_terminal() { return ::isatty(1) == 1; }

std::string bar(double fraction, int width = 24) {
  if (fraction < 0) fraction = 0;
  if (fraction > 1) fraction = 1;
  int full = static_cast<int>(fraction * width + 0.5);
  return "[" + std::string(full, '#') + std::string(width - full, '.') + "]";
}

}  // namespace

int cmd_put(const client_options& o, const std::string& doc, const std::string& pointer, const std::string& json_text,
            const std::string& op) {
  json m{{"op", op}, {"path", pointer}};
  if (op == "set" || op == "ins" || op == "inc") {
    auto v = parse_json(json_text);
    if (!v) return usage_error("VALUE is not accepted as JSON: " + v.error().message + " (a string needs quotes: '\"text\"')");
    m["value"] = std::move(*v);
  } else if (!json_text.empty()) {
    return usage_error("'" + op + "' takes no VALUE");
  }
  int code = exit_ok;
  auto a = call(o, "POST", "/v1/docs/" + doc + "/changes", json{{"mutations", json::array({m})}}.dump(), &code);
  if (!a) return code;
  std::cout << a->body.value("hash", std::string()) << "\n";
  return exit_ok;
}

int cmd_get(const client_options& o, const std::string& doc, const std::string& pointer) {
  int code = exit_ok;
  std::string path = "/v1/docs/" + doc + (pointer.empty() ? "" : "?pointer=" + encode_query(pointer));
  auto a = call(o, "GET", path, "", &code);
  if (!a) return code;
  std::cout << a->body["value"].dump(2) << "\n";
  return exit_ok;
}

int cmd_watch(const client_options& o, const std::string& doc, const std::string& from_id, long max_events) {
  auto headers = auth_headers(o);
  headers[0] = {"Accept", "text/event-stream"};
  std::string query = from_id.empty() ? "" : "?from=" + from_id;
  std::string buffer, error, data, id;
  long seen = 0;
  int code = exit_ok;
  std::string error_body;
  unsigned status = net::http_stream_get(
      o.node + "/v1/docs/" + doc + "/events" + query, headers,
      [&](std::string_view bytes) {
        if (code != exit_ok) {
          error_body.append(bytes);
          return true;
        }
        buffer.append(bytes);
        std::size_t nl;
        while ((nl = buffer.find('\n')) != std::string::npos) {
          std::string line = buffer.substr(0, nl);
          buffer.erase(0, nl + 1);
          if (!line.empty() && line.back() == '\r') line.pop_back();
          if (line.empty()) {  // end of one event
            if (!data.empty()) {
              std::cout << data << std::endl;
              data.clear();
              if (max_events > 0 && ++seen >= max_events) return false;
            }
          } else if (line.rfind("data:", 0) == 0) {
            data += line.substr(line.size() > 5 && line[5] == ' ' ? 6 : 5);
          }
        }
        return true;
      },
      std::chrono::hours(24 * 365), &error,
      [&](const net::http_result& head) {
        if (head.status >= 400) code = head.status < 500 ? exit_usage : exit_failure;
        return true;
      });
  if (status == 0) {
    std::cerr << "starling: cannot reach the node at " << o.node << ": " << error << "\n";
    return exit_failure;
  }
  if (code != exit_ok) {
    auto j = parse_json(error_body, o.reply_json);
    std::cerr << "starling: "
              << (j && j->is_object() && j->contains("error") ? (*j)["error"].value("message", std::string()) : error_body)
              << "\n";
    return code;
  }
  return exit_ok;
}

int cmd_status(const client_options& o, bool as_json) {
  int code = exit_ok;
  auto a = call(o, "GET", "/v1/status", "", &code);
  if (!a) return code;
  auto& s = a->body;
  if (as_json) {
    std::cout << s.dump(2) << "\n";
    return exit_ok;
  }
  bool tty = stdout_is_terminal();
  std::cout << "node " << s.value("node_id", std::string()) << "  up " << static_cast<long>(s.value("uptime_seconds", 0.0))
            << " s\n";
  std::cout << "peers (" << s["peers"].size() << "):\n";
  for (auto& p : s["peers"]) {
    auto received = p.value("changes_received", std::uint64_t{0});
    auto behind = p.value("behind_changes", std::uint64_t{0});
    std::cout << "  " << p.value("peer_id", std::string("(authenticating)")).substr(0, 16) << "  "
              << p.value("state", std::string()) << "  " << p.value("direction", std::string()) << " "
              << p.value("address", std::string()) << "  sent=" << p.value("changes_sent", 0)
              << " received=" << received << " lag_changes=" << p.value("lag_changes", 0)
              << " lag_seconds=" << p.value("lag_seconds", 0.0) << " behind=" << behind;
    if (tty) {
      double frac = received + behind == 0 ? 1.0 : static_cast<double>(received) / static_cast<double>(received + behind);
      std::cout << "  catch-up " << bar(frac) << " " << static_cast<int>(frac * 100) << "%";
    }
    std::cout << "\n";
  }
  for (auto& d : s["dialers"])
    std::cout << "  dialer " << d.value("url", std::string()) << "  " << d.value("state", std::string())
              << " attempts=" << d.value("attempts", 0) << " failures=" << d.value("consecutive_failures", 0)
              << (d.value("last_error", std::string()).empty() ? "" : " last_error=\"" + d.value("last_error", std::string()) + "\"")
              << "\n";
  std::cout << "documents (" << s["docs"].size() << "):\n";
  for (auto& d : s["docs"]) {
    std::cout << "  " << d.value("name", std::string()) << "  changes=" << d.value("changes", 0)
              << " pending=" << d.value("pending", 0) << " forks=" << d.value("forks", 0)
              << " digest=" << d.value("digest", std::string()).substr(0, 16) << "\n";
    for (auto it = d["frontier"].begin(); it != d["frontier"].end(); ++it)
      std::cout << "      " << it.key().substr(0, 16) << " seq=" << it.value().value("seq", 0) << "\n";
  }
  return exit_ok;
}

int cmd_token_create(const client_options& o, const std::string& perm, const std::string& ttl,
                     const std::vector<std::string>& docs, const std::string& note) {
  json body{{"perm", perm}, {"ttl", ttl}, {"note", note}};
  if (!docs.empty()) body["docs"] = docs;
  int code = exit_ok;
  auto a = call(o, "POST", "/v1/tokens", body.dump(), &code);
  if (!a) return code;
  auto& b = a->body;
  std::cout << b.value("token", std::string()) << "\n";
  std::cerr << "issuer " << b.value("issuer", std::string()) << ", perm " << b.value("perm", std::string())
            << ", single use, expires in " << ttl << ". Join a new node with:\n  starling serve --data-dir DIR --peer "
            << "ws://<this node's listen address>/v1/sync --trust " << b.value("issuer", std::string())
            << " --join-token <token>\n";
  return exit_ok;
}

int cmd_token_list(const client_options& o) {
  int code = exit_ok;
  auto a = call(o, "GET", "/v1/tokens", "", &code);
  if (!a) return code;
  for (auto& t : a->body["tokens"])
    std::cout << t.value("hash", std::string()).substr(0, 16) << "  perm=" << t.value("perm", std::string())
              << " expires_ms=" << t.value("expires_ms", 0LL) << " note=\"" << t.value("note", std::string()) << "\"\n";
  return exit_ok;
}

int cmd_token_revoke(const client_options& o, const std::string& hash_prefix) {
  int code = exit_ok;
  auto a = call(o, "DELETE", "/v1/tokens/" + hash_prefix, "", &code);
  if (!a) return code;
  std::cout << "removed " << a->body.value("hash", std::string()) << "\n";
  return exit_ok;
}

int cmd_trust_add(const client_options& o, const std::string& key, const std::string& perm,
                  const std::vector<std::string>& docs, const std::string& note) {
  json body{{"key", key}, {"perm", perm}, {"note", note}};
  if (!docs.empty()) body["docs"] = docs;
  int code = exit_ok;
  auto a = call(o, "POST", "/v1/trust", body.dump(), &code);
  if (!a) return code;
  std::cout << (a->body.value("added", false) ? "trusted " : "updated ") << key << "\n";
  return exit_ok;
}

int cmd_trust_list(const client_options& o) {
  int code = exit_ok;
  auto a = call(o, "GET", "/v1/trust", "", &code);
  if (!a) return code;
  for (auto& e : a->body["trusted"]) {
    std::cout << e.value("key", std::string()) << "  perm=" << e.value("perm", std::string());
    if (e.value("revoked", false)) std::cout << " REVOKED";
    if (e.contains("doc_patterns") && !e["doc_patterns"].empty()) std::cout << " docs=" << e["doc_patterns"].dump();
    if (!e.value("note", std::string()).empty()) std::cout << " note=\"" << e.value("note", std::string()) << "\"";
    std::cout << "\n";
  }
  return exit_ok;
}

int cmd_trust_remove(const client_options& o, const std::string& key) {
  int code = exit_ok;
  auto a = call(o, "DELETE", "/v1/trust/" + key, "", &code);
  if (!a) return code;
  std::cout << "revoked " << key << " (its live sessions are closed)\n";
  return exit_ok;
}

}  // namespace starling::app
