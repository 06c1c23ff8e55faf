// Helpers of the HTTP API tests: a node with its HTTP API on ephemeral
// loopback ports in a fresh data directory, and one-call requests.
#pragma once

#include <catch2/catch.hpp>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>

#include <stdlib.h>

#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "app/service.hpp"
#include "net/http_client.hpp"

namespace starling::app::test {

using nlohmann::json;

struct temp_dir {
  std::string path;
  temp_dir() {
    char tmpl[] = "/tmp/starling-app-XXXXXX";
    path = ::mkdtemp(tmpl);
  }
  ~temp_dir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
};

struct running_node {
  temp_dir dir;
  caf::actor_system_config sys_cfg;
  std::unique_ptr<caf::actor_system> sys;
  std::unique_ptr<service> svc;
  explicit running_node(std::function<void(service_config&)> tweak = {}) {
    sys = std::make_unique<caf::actor_system>(sys_cfg);
    auto cfg = default_service_config();
    cfg.node.data_dir = dir.path;
    cfg.node.net.listen_port = 0;
    cfg.http.port = 0;
    cfg.node.store.durability = persistence::durability_mode::nosync;
    if (tweak) tweak(cfg);
    auto s = service::start(*sys, cfg);
    REQUIRE(s);
    svc = std::move(*s);
  }
  ~running_node() {
    svc->stop();
    svc.reset();
    sys->await_all_actors_done();
  }
  std::string url(const std::string& path) const { return svc->http_url() + path; }
};

struct answer {
  unsigned status = 0;
  json body;
  std::string raw;
};

inline answer call(const running_node& n, const std::string& method, const std::string& path, const std::string& body = "",
            std::vector<net::http_header> headers = {}) {
  std::string error;
  auto r = net::http_fetch(n.url(path), method, body, headers, std::chrono::seconds(20), &error);
  INFO(error);
  REQUIRE(r);
  answer a;
  a.status = r->status;
  a.raw = r->body;
  a.body = json::parse(r->body, nullptr, false);
  return a;
}

inline std::string write_body(const std::string& path, json value) {
  return json{{"mutations", {{{"op", "set"}, {"path", path}, {"value", value}}}}}.dump();
}

}  // namespace starling::app::test
