// The table of configuration keys: the file, the environment and the flags
// reach the same keys through the same setter, and README.md's reference is
// the table's.
#include <catch2/catch.hpp>

#include <CLI/CLI.hpp>

#include <fstream>
#include <set>
#include <sstream>

#include <nlohmann/json.hpp>

#include "app/config_keys.hpp"
#include "app/node_flags.hpp"
#include "app/service_config.hpp"

using namespace starling;
using namespace starling::app;
using nlohmann::json;

namespace {

using result = expected<persistence::done, std::string>;

// A value the key accepts that differs from its default, as text.
std::string sample_text(const config_key& k) {
  auto def = k.get(default_service_config());
  switch (k.kind) {
    case key_kind::count:
    case key_kind::millis:
      for (auto n : {k.min, k.max, k.min + (k.max - k.min) / 2})
        if (json(n) != def) return std::to_string(n);
      break;
    case key_kind::choice:
      for (auto& c : k.choices)
        if (json(c) != def) return c;
      break;
    default: return k.example;
  }
  return {};
}

// Text as the file would hold it: numbers as JSON numbers, lists as arrays.
json file_value(const config_key& k, const std::string& text) {
  json v = text;
  if ((k.kind == key_kind::count || k.kind == key_kind::millis) && !text.empty() &&
      text.find_first_not_of("-0123456789") == std::string::npos)
    v = json::parse(text);
  return k.kind == key_kind::list ? json::array({v}) : v;
}

json file_with(const config_key& k, const json& v) {
  std::string pointer = "/" + k.path;
  std::replace(pointer.begin(), pointer.end(), '.', '/');
  json j = json::object();
  j[json::json_pointer(pointer)] = v;
  return j;
}

result from_file(service_config& cfg, const config_key& k, const std::string& text) {
  return apply_json(cfg, file_with(k, file_value(k, text)));
}

result from_env(service_config& cfg, const config_key& k, const std::string& text) {
  return apply_env(cfg, {{k.env, text}});
}

// Through the real command-line parser of `serve`.
result from_flag(service_config& cfg, const config_key& k, const std::string& text) {
  CLI::App app{"test"};
  auto* serve = app.add_subcommand("serve");
  node_flags f;
  add_node_flags(serve, f, true);
  std::vector<std::string> args{"starling", "serve", k.flag, text};
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  app.parse(static_cast<int>(argv.size()), argv.data());
  return apply_flags(cfg, f);
}

// The message with the key's name (as the user wrote it) taken out.
std::string without_name(std::string msg, const std::string& name) {
  auto at = msg.find("'" + name);
  if (at == std::string::npos) return "(name missing) " + msg;
  auto end = msg.find('\'', at + 1);
  return msg.replace(at, end - at + 1, "'KEY'");
}

// Values the key refuses, as text.
std::vector<std::string> bad_texts(const config_key& k) {
  switch (k.kind) {
    case key_kind::count:
    case key_kind::millis: {
      std::vector<std::string> out{std::to_string(k.max + 1), "big", "-1"};
      if (k.min > 0) out.push_back(std::to_string(k.min - 1));
      return out;
    }
    case key_kind::choice: return {"nonsense"};
    case key_kind::host_port: return {"nohost", "h:65536"};
    case key_kind::list:
      if (k.path == "peers") return {"http://x:1"};
      return {"zz"};
    case key_kind::text: return {};
  }
  return {};
}

std::string readme_reference() {
  std::ifstream in(STARLING_README);
  std::stringstream s;
  s << in.rdbuf();
  auto text = s.str();
  const std::string begin = "<!-- begin config-reference", end = "<!-- end config-reference -->";
  auto b = text.find(begin);
  auto e = text.find(end);
  if (b == std::string::npos || e == std::string::npos || e < b) return "(markers missing)";
  b = text.find('\n', b) + 1;
  return text.substr(b, e - b);
}

}  // namespace

TEST_CASE("config keys: the table is whole and its names are unique", "[config]") {
  std::set<std::string> paths, envs, flags;
  for (auto& k : config_keys()) {
    INFO(k.path);
    CHECK(paths.insert(k.path).second);
    if (!k.env.empty()) CHECK(envs.insert(k.env).second);
    if (!k.flag.empty()) CHECK(flags.insert(k.flag).second);
    CHECK(k.env.rfind("STARLING_", 0) == (k.env.empty() ? std::string::npos : 0));
    CHECK((k.flag.empty() || k.flag.rfind("--", 0) == 0));
    CHECK(k.get);
    CHECK(k.set);
    CHECK(bool(k.clear) == (k.kind == key_kind::list));
    CHECK_FALSE(k.meaning.empty());
    CHECK_FALSE(k.type.empty());
    CHECK_FALSE(sample_text(k).empty());
    CHECK(find_config_key(k.path) == &k);
  }
  // The client's own variables are no key's.
  CHECK(envs.count("STARLING_NODE") == 0);
  CHECK(envs.count("STARLING_API_TOKEN") == 0);
}

TEST_CASE("config keys: every key is reachable from the file", "[config]") {
  for (auto& k : config_keys()) {
    INFO(k.path);
    auto cfg = default_service_config();
    auto text = sample_text(k);
    auto r = from_file(cfg, k, text);
    REQUIRE(r);
    CHECK(k.get(cfg) != k.get(default_service_config()));
    if (k.kind != key_kind::list) CHECK(k.get(cfg) == file_value(k, text));
  }
}

TEST_CASE("config keys: a variable and a flag give the value the file gives", "[config]") {
  using source = result (*)(service_config&, const config_key&, const std::string&);
  int with_env = 0, with_flag = 0;
  for (auto& k : config_keys()) {
    INFO(k.path);
    auto text = sample_text(k);
    auto by_file = default_service_config();
    REQUIRE(from_file(by_file, k, text));
    with_env += !k.env.empty();
    with_flag += !k.flag.empty();
    for (auto [name, apply] : {std::pair<std::string, source>{k.env, from_env}, {k.flag, from_flag}}) {
      if (name.empty()) continue;
      INFO(name);
      auto cfg = default_service_config();
      REQUIRE(apply(cfg, k, text));
      CHECK(k.get(cfg) == k.get(by_file));
    }
  }
  CHECK(with_env == static_cast<int>(config_keys().size()));
  CHECK(with_flag == static_cast<int>(config_keys().size()) - 1);  // all but api_token_hashes
}

TEST_CASE("config keys: a refused value gets the same message from the file, a variable and a flag", "[config]") {
  int compared = 0;
  for (auto& k : config_keys()) {
    for (auto& bad : bad_texts(k)) {
      INFO(k.path << " = " << bad);
      auto cfg = default_service_config();
      auto by_file = from_file(cfg, k, bad);
      REQUIRE_FALSE(by_file);
      auto file_name = k.kind == key_kind::list ? k.path + "[0]" : k.path;
      auto expected_msg = without_name(by_file.error(), file_name);
      CHECK(expected_msg.rfind("config: ", 0) == 0);
      if (!k.env.empty()) {
        auto by_env = from_env(cfg, k, bad);
        REQUIRE_FALSE(by_env);
        CHECK(without_name(by_env.error(), k.env) == expected_msg);
      }
      if (!k.flag.empty()) {
        auto by_flag = from_flag(cfg, k, bad);
        REQUIRE_FALSE(by_flag);
        CHECK(without_name(by_flag.error(), k.flag) == expected_msg);
      }
      ++compared;
    }
  }
  CHECK(compared > 80);
  // The one the reference quotes.
  auto cfg = default_service_config();
  CHECK(from_flag(cfg, *find_config_key("limits.frame_bytes"), "10").error() ==
        "config: '--limits-frame-bytes' must be between 1024 and 1073741824");
  CHECK(from_env(cfg, *find_config_key("limits.frame_bytes"), "10").error() ==
        "config: 'STARLING_LIMITS_FRAME_BYTES' must be between 1024 and 1073741824");
}

TEST_CASE("config keys: lists from a variable replace or add as the table says; empty means null", "[config]") {
  auto cfg = default_service_config();
  REQUIRE(apply_json_text(cfg, R"({"peers": ["ws://a:1/v1/sync"], "trusted": [")" + std::string(64, 'a') +
                                   R"("], "join_token": "t", "listen": "127.0.0.1:9"})"));
  REQUIRE(apply_env(cfg, {{"STARLING_PEERS", "ws://b:1/v1/sync,ws://c:1/v1/sync"},
                          {"STARLING_TRUST", std::string(64, 'b')},
                          {"STARLING_JOIN_TOKEN", ""},
                          {"STARLING_LISTEN", ""}}));
  CHECK(cfg.node.peers == std::vector<std::string>{"ws://b:1/v1/sync", "ws://c:1/v1/sync"});
  CHECK(cfg.node.trusted.size() == 2);
  CHECK_FALSE(cfg.node.join_token);
  CHECK_FALSE(cfg.node.listen);
  node_flags f;
  f.keys = {{"peers", "ws://d:1/v1/sync"}, {"trusted", std::string(64, 'c')}};
  REQUIRE(apply_flags(cfg, f));
  CHECK(cfg.node.peers.size() == 3);
  CHECK(cfg.node.trusted.size() == 3);
  CHECK(cfg.node.trusted[2].perm == (auth::permissions(auth::permission::read) | auth::permission::write));
}

TEST_CASE("config keys: the file init writes reads back to every key's value", "[config]") {
  auto cfg = default_service_config();
  for (auto& k : config_keys()) REQUIRE(from_file(cfg, k, sample_text(k)));
  auto written = to_json(cfg);
  CHECK_FALSE(written.contains("join_token"));  // a secret, and single use
  auto again = default_service_config();
  REQUIRE(apply_json(again, written));
  for (auto& k : config_keys()) {
    INFO(k.path);
    if (!k.secret) CHECK(k.get(again) == k.get(cfg));
  }
  // Defaults are written only for the operator-facing keys.
  auto plain = to_json(default_service_config());
  CHECK(plain.contains("durability"));
  CHECK_FALSE(plain.contains("limits"));
  CHECK_FALSE(plain.contains("log_level"));
}

TEST_CASE("config keys: README.md's configuration reference is the generated one", "[config]") {
  auto generated = config_reference_markdown();
  CHECK(generated.find("| `limits.frame_bytes` | integer, 1024..2^30 | 4194304 (4 MiB) |") != std::string::npos);
  INFO("regenerate it with scripts/update-config-reference.sh BUILD/app/starling");
  CHECK(readme_reference() == generated);
}
