// The service configuration: file, environment and validation.
#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>

#include "app/service_config.hpp"

using namespace starling;
using namespace starling::app;

namespace {
std::string error_of(const std::string& json_text) {
  auto cfg = default_service_config();
  auto r = apply_json_text(cfg, json_text);
  return r ? std::string() : r.error();
}
}  // namespace

TEST_CASE("config: defaults are loopback, durable, on ports 7400 and 7480", "[config]") {
  auto cfg = default_service_config();
  CHECK(cfg.node.listen);
  CHECK(cfg.node.net.listen_address == "127.0.0.1");
  CHECK(cfg.node.net.listen_port == 7400);
  CHECK(cfg.http.host == "127.0.0.1");
  CHECK(cfg.http.port == 7480);
  CHECK(cfg.node.store.durability == persistence::durability_mode::sync);
  CHECK_FALSE(validate(cfg));  // no data_dir
  cfg.node.data_dir = "/tmp/x";
  CHECK(validate(cfg));
}

TEST_CASE("config: every key of the file is applied", "[config]") {
  auto cfg = default_service_config();
  auto key = std::string(64, 'a');
  auto r = apply_json_text(cfg, R"({
    "data_dir": "/var/lib/starling", "listen": "0.0.0.0:7500", "http_listen": "127.0.0.1:0",
    "peers": ["ws://10.0.0.2:7400/v1/sync"], "trusted": [{"key": ")" + key + R"(", "perm": "read", "docs": ["team-*"]}],
    "join_token": null, "durability": "nosync", "log_level": "debug", "log_format": "json",
    "api_token_hashes": [")" + std::string(64, 'b') + R"("], "io_threads": 2,
    "limits": {"frame_bytes": 65536, "send_queue_bytes": 1048576, "pending_changes": 100, "event_streams": 3},
    "timeouts": {"auth_ms": 500, "ping_interval_ms": 1000, "pong_timeout_ms": 3000},
    "dialer": {"base_backoff_ms": 10, "max_backoff_ms": 100}})");
  REQUIRE(r);
  CHECK(cfg.node.data_dir == "/var/lib/starling");
  CHECK(cfg.node.net.listen_address == "0.0.0.0");
  CHECK(cfg.node.net.listen_port == 7500);
  CHECK(cfg.http.port == 0);
  REQUIRE(cfg.node.peers.size() == 1);
  REQUIRE(cfg.node.trusted.size() == 1);
  CHECK(cfg.node.trusted[0].doc_patterns == std::vector<std::string>{"team-*"});
  CHECK(cfg.node.trusted[0].perm == auth::permissions(auth::permission::read));
  CHECK(cfg.node.store.durability == persistence::durability_mode::nosync);
  CHECK(cfg.log_level == log::level::debug);
  CHECK(cfg.log_format == log::format::json);
  CHECK(cfg.node.net.frame_limit == 65536);
  CHECK(cfg.node.document.max_pending == 100);
  CHECK(cfg.max_event_streams == 3);
  CHECK(cfg.node.auth_timeout == std::chrono::milliseconds(500));
  CHECK(cfg.node.net.pong_timeout == std::chrono::milliseconds(3000));
  CHECK(cfg.node.dialer.max_backoff == std::chrono::milliseconds(100));
  CHECK(validate(cfg));
  // The file written by init reads back to the same settings.
  auto again = default_service_config();
  REQUIRE(apply_json(again, to_json(cfg)));
  CHECK(again.node.peers == cfg.node.peers);
  CHECK(again.node.trusted[0].key == cfg.node.trusted[0].key);
  CHECK(again.http.port == cfg.http.port);
  CHECK(again.api_token_hashes == cfg.api_token_hashes);
}

TEST_CASE("config: unknown keys and wrong types are refused with the key's name", "[config]") {
  CHECK(error_of(R"({"lisen": "127.0.0.1:1"})") == "config: unknown key 'lisen'");
  CHECK(error_of(R"({"limits": {"frame_byte": 1}})") == "config: unknown key 'limits.frame_byte'");
  CHECK(error_of(R"({"listen": 7400})") == "config: 'listen' must be a string");
  CHECK(error_of(R"({"limits": {"frame_bytes": "4MiB"}})") ==
        "config: 'limits.frame_bytes' must be a non-negative integer");
  CHECK(error_of(R"({"limits": {"frame_bytes": 10}})").find("'limits.frame_bytes' must be between") != std::string::npos);
  CHECK(error_of(R"({"durability": "fast"})").find("'durability'") != std::string::npos);
  CHECK(error_of(R"({"peers": ["http://x:1"]})").find("'peers[0]'") != std::string::npos);
  CHECK(error_of(R"({"trusted": [{"key": "zz"}]})").find("'trusted[0].key'") != std::string::npos);
  CHECK(error_of(R"({"trusted": [{"key": ")" + std::string(64, 'a') + R"(", "perms": "read"}]})") ==
        "config: unknown key 'trusted[0].perms'");
  CHECK(error_of(R"([1, 2])").find("must be an object") != std::string::npos);
  CHECK(error_of("{not json").find("not valid JSON") != std::string::npos);
  CHECK(error_of(R"({"api_token_hashes": ["ABC"]})").find("'api_token_hashes[0]'") != std::string::npos);
}

TEST_CASE("config: the file is read by the guarded JSON parser", "[config]") {
  // JSON parsers disagree on which of two equal keys wins: refused.
  CHECK(error_of(R"({"data_dir": "/a", "data_dir": "/b"})").find("repeats the key 'data_dir'") != std::string::npos);
  CHECK(error_of(R"({"limits": {"frame_bytes": 4096, "frame_bytes": 8192}})").find("'frame_bytes'") !=
        std::string::npos);
  // Not rounded to a double and then reported as the wrong type.
  CHECK(error_of(R"({"limits": {"frame_bytes": 99999999999999999999}})").find("64-bit range") != std::string::npos);
  auto deep = error_of("{\"limits\": " + std::string(100000, '[') + std::string(100000, ']') + "}");
  CHECK(deep.find("deeper than " + std::to_string(config_json_limits.max_depth)) != std::string::npos);
  CHECK(error_of(std::string(config_json_limits.max_bytes + 1, ' ')).find("exceeds the limit") != std::string::npos);
}

TEST_CASE("config: the HTTP API's JSON depth and page sizes are settings", "[config]") {
  auto cfg = default_service_config();
  CHECK(cfg.http_json_depth == 128);
  CHECK(cfg.docs_page_default == 100);
  CHECK(cfg.docs_page_max == 1000);
  REQUIRE(apply_json_text(cfg, R"({"limits": {"http_json_depth": 32, "docs_page_default": 10, "docs_page_max": 50}})"));
  CHECK(cfg.http_json_depth == 32);
  CHECK(cfg.docs_page_default == 10);
  CHECK(cfg.docs_page_max == 50);
  cfg.node.data_dir = "/tmp/x";
  CHECK(validate(cfg));
  cfg.docs_page_default = 51;
  CHECK_FALSE(validate(cfg));
}

TEST_CASE("config: environment variables override the file and are checked too", "[config]") {
  auto cfg = default_service_config();
  REQUIRE(apply_json_text(cfg, R"({"data_dir": "/a", "durability": "sync"})"));
  std::map<std::string, std::string> env{{"STARLING_DATA_DIR", "/b"},
                                         {"STARLING_DURABILITY", "nometasync"},
                                         {"STARLING_PEERS", "ws://h1:7400/v1/sync, ws://h2:7400/v1/sync"},
                                         {"STARLING_TRUST", std::string(64, 'c')},
                                         {"STARLING_LOG_FORMAT", "json"},
                                         {"STARLING_UNRELATED", "ignored"}};
  REQUIRE(apply_env(cfg, env));
  CHECK(cfg.node.data_dir == "/b");
  CHECK(cfg.node.store.durability == persistence::durability_mode::nometasync);
  CHECK(cfg.node.peers.size() == 2);
  CHECK(cfg.node.trusted.size() == 1);
  CHECK(cfg.log_format == log::format::json);
  auto bad = default_service_config();
  auto r = apply_env(bad, {{"STARLING_LISTEN", "nohost"}});
  REQUIRE_FALSE(r);
  CHECK(r.error().find("STARLING_LISTEN") != std::string::npos);
}

TEST_CASE("config: an HTTP API bound beyond loopback needs token hashes", "[config]") {
  auto cfg = default_service_config();
  cfg.node.data_dir = "/tmp/x";
  cfg.http = {"0.0.0.0", 7480};
  auto r = validate(cfg);
  REQUIRE_FALSE(r);
  CHECK(r.error().find("api_token_hashes") != std::string::npos);
  cfg.api_token_hashes.push_back(std::string(64, 'd'));
  CHECK(validate(cfg));
  cfg.node.net.ping_interval = std::chrono::milliseconds(5000);
  cfg.node.net.pong_timeout = std::chrono::milliseconds(1000);
  CHECK_FALSE(validate(cfg));
}

TEST_CASE("config: host and port parsing", "[config]") {
  CHECK(parse_host_port("127.0.0.1:7400")->port == 7400);
  CHECK(parse_host_port(":80")->host == "127.0.0.1");
  CHECK(parse_host_port("[::1]:9")->host == "::1");
  CHECK_FALSE(parse_host_port("127.0.0.1"));
  CHECK_FALSE(parse_host_port("h:65536"));
  CHECK_FALSE(parse_host_port("h:-1"));
  CHECK_FALSE(parse_host_port("[::1]9"));
  CHECK(is_loopback("127.0.0.2"));
  CHECK(is_loopback("::1"));
  CHECK_FALSE(is_loopback("0.0.0.0"));
}
