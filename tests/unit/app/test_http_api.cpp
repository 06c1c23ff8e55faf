// The HTTP API of a running node, over real loopback sockets.
#include <catch2/catch.hpp>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>

#include <stdlib.h>

#include <atomic>
#include <filesystem>
#include <thread>

#include <nlohmann/json.hpp>

#include "auth/token.hpp"
#include "http_support.hpp"

using namespace starling;
using namespace starling::app;
using namespace starling::app::test;
using nlohmann::json;

TEST_CASE("http api: health, readiness and the status page", "[http_api]") {
  running_node n;
  CHECK(call(n, "GET", "/healthz").status == 200);
  auto ready = call(n, "GET", "/readyz");
  CHECK(ready.status == 200);
  CHECK(ready.body["ready"] == true);
  auto page = call(n, "GET", "/");
  CHECK(page.status == 200);
  CHECK(page.raw.find("<title>starling node</title>") != std::string::npos);
  CHECK(call(n, "POST", "/healthz").status == 405);
}

TEST_CASE("http api: a write replies with the hash and frontier after commit, reads see it", "[http_api]") {
  running_node n;
  auto w = call(n, "POST", "/v1/docs/todos/changes", write_body("/title", "milk"));
  REQUIRE(w.status == 200);
  CHECK(w.body["hash"].get<std::string>().size() == 64);
  REQUIRE(w.body["frontier"].contains(n.svc->node_id()));
  CHECK(w.body["frontier"][n.svc->node_id()]["seq"] == 1);
  auto whole = call(n, "GET", "/v1/docs/todos");
  REQUIRE(whole.status == 200);
  CHECK(whole.body["value"] == json{{"title", "milk"}});
  auto at = call(n, "GET", "/v1/docs/todos?pointer=%2Ftitle");
  CHECK(at.body["value"] == "milk");
  auto list = call(n, "GET", "/v1/docs");
  REQUIRE(list.body["docs"].size() == 1);
  CHECK(list.body["docs"][0]["name"] == "todos");
  CHECK(list.body["docs"][0]["changes"] == 1);
  // A batch of mutations is one change.
  auto batch = call(n, "POST", "/v1/docs/todos/changes",
                    json{{"mutations",
                          {{{"op", "set"}, {"path", "/n"}, {"value", 1}}, {{"op", "inc"}, {"path", "/n"}, {"value", 41}}}}}
                        .dump());
  REQUIRE(batch.status == 200);
  CHECK(batch.body["frontier"][n.svc->node_id()]["seq"] == 2);
  CHECK(call(n, "GET", "/v1/docs/todos?pointer=/n").body["value"] == 42);
}

TEST_CASE("http api: bad requests get a 4xx with a JSON error and change nothing", "[http_api]") {
  running_node n([](service_config& cfg) { cfg.node.net.http_body_limit = 64 * 1024; });
  REQUIRE(call(n, "POST", "/v1/docs/d/changes", write_body("/a", 1)).status == 200);
  auto expect = [&](unsigned status, const std::string& code, const std::string& method, const std::string& path,
                    const std::string& body = "") {
    auto a = call(n, method, path, body);
    INFO(method << " " << path << " -> " << a.raw);
    CHECK(a.status == status);
    REQUIRE(a.body.is_object());
    CHECK(a.body["error"]["code"] == code);
    CHECK(a.body["error"]["message"].get<std::string>().size() > 0);
  };
  expect(404, "not_found", "GET", "/v1/docs/missing");
  expect(404, "not_found", "GET", "/v1/docs/d?pointer=/nothing");
  expect(400, "bad_request", "GET", "/v1/docs/d?pointer=relative");
  expect(400, "bad_request", "GET", "/v1/docs/bad%20name");
  expect(400, "bad_request", "POST", "/v1/docs/d/changes", "{not json");
  expect(400, "bad_request", "POST", "/v1/docs/d/changes", R"({"mutations": []})");
  expect(400, "bad_request", "POST", "/v1/docs/d/changes", R"({"mutations": [{"op": "zap", "path": "/a"}]})");
  expect(400, "bad_request", "POST", "/v1/docs/d/changes", R"({"mutations": [], "extra": 1})");
  expect(422, "invalid_mutation", "POST", "/v1/docs/d/changes", R"({"mutations": [{"op": "inc", "path": "/a/b/c", "value": 1}]})");
  expect(405, "method_not_allowed", "DELETE", "/v1/docs/d");
  expect(404, "not_found", "GET", "/v2/nothing");
  expect(400, "bad_request", "POST", "/v1/tokens", R"({"ttl": "forever"})");
  expect(400, "bad_request", "POST", "/v1/trust", R"({"key": "abc"})");
  expect(404, "not_found", "DELETE", "/v1/trust/" + std::string(64, 'e'));
  expect(400, "bad_request", "POST", "/v1/trust", R"({"key": ")" + std::string(64, 'a') + R"(", "perm": 5})");
  expect(400, "bad_request", "POST", "/v1/tokens", R"({"ttl": 3600})");
  // Nothing of that was written: one change, the first.
  auto st = call(n, "GET", "/v1/status");
  CHECK(st.body["docs"][0]["changes"] == 1);
  // A body over the limit (64 KiB here) is refused before it is read.
  auto big = call(n, "POST", "/v1/docs/d/changes", write_body("/big", std::string(100'000, 'x')));
  CHECK(big.status == 413);
  CHECK(call(n, "GET", "/v1/status").body["docs"][0]["changes"] == 1);
}

TEST_CASE("http api: the event stream replays from Last-Event-ID, then goes live without gaps or duplicates",
          "[http_api]") {
  running_node n;
  for (int i = 0; i < 5; ++i) REQUIRE(call(n, "POST", "/v1/docs/ev/changes", write_body("/k" + std::to_string(i), i)).status == 200);
  // Collects events from one stream until `want` have arrived.
  auto read_events = [&](std::vector<net::http_header> headers, const std::string& query, std::size_t want,
                         std::function<void()> after_open) {
    std::vector<std::pair<std::uint64_t, json>> events;
    std::string buffer, id, data;
    bool opened = false;
    std::string error;
    auto status = net::http_stream_get(
        n.url("/v1/docs/ev/events" + query), headers,
        [&](std::string_view bytes) {
          if (!opened) {
            opened = true;
            if (after_open) after_open();
          }
          buffer.append(bytes);
          std::size_t nl;
          while ((nl = buffer.find('\n')) != std::string::npos) {
            auto line = buffer.substr(0, nl);
            buffer.erase(0, nl + 1);
            if (line.rfind("id: ", 0) == 0) id = line.substr(4);
            else if (line.rfind("data: ", 0) == 0) data = line.substr(6);
            else if (line.empty() && !data.empty()) {
              events.emplace_back(std::stoull(id), json::parse(data));
              data.clear();
              if (events.size() >= want) return false;
            }
          }
          return true;
        },
        std::chrono::seconds(20), &error);
    INFO(error);
    CHECK(status == 200);
    return events;
  };
  // From the start of the log, then two more written while streaming.
  std::atomic<int> live_writes{0};
  std::thread writer;
  auto all = read_events({}, "?from=0", 7, [&] {
    writer = std::thread([&] {
      for (int i = 5; i < 7; ++i)
        if (call(n, "POST", "/v1/docs/ev/changes", write_body("/k" + std::to_string(i), i)).status == 200) ++live_writes;
    });
  });
  if (writer.joinable()) writer.join();
  REQUIRE(all.size() == 7);
  for (std::size_t i = 0; i < all.size(); ++i) {
    CHECK(all[i].first == i);  // log indexes, in order, none missing or twice
    CHECK(all[i].second["seq"] == i + 1);
    CHECK(all[i].second["author"] == n.svc->node_id());
  }
  CHECK(all[6].second["ops"][0]["key"] == "k6");
  REQUIRE(live_writes == 2);
  // Resume after event 4: events 5 and 6 only.
  auto resumed = read_events({{"Last-Event-ID", "4"}}, "", 2, {});
  REQUIRE(resumed.size() == 2);
  CHECK(resumed[0].first == 5);
  CHECK(resumed[1].first == 6);
  // A bad id is a 400, an unknown document a 404.
  CHECK(call(n, "GET", "/v1/docs/ev/events?from=x").status == 400);
  CHECK(call(n, "GET", "/v1/docs/nothing/events").status == 404);
}

TEST_CASE("http api: status, peers and metrics describe the node", "[http_api]") {
  running_node n;
  REQUIRE(call(n, "POST", "/v1/docs/m/changes", write_body("/a", 1)).status == 200);
  auto st = call(n, "GET", "/v1/status");
  REQUIRE(st.status == 200);
  CHECK(st.body["node_id"] == n.svc->node_id());
  CHECK(st.body["counters"]["changes_local"] == 1);
  CHECK(st.body["peers"].is_array());
  CHECK(call(n, "GET", "/v1/peers").body.contains("dialers"));
  auto m = call(n, "GET", "/metrics");
  REQUIRE(m.status == 200);
  for (const char* family : {"starling_changes_applied_total{origin=\"local\"} 1", "starling_commit_seconds_bucket",
                             "starling_changes_refused_total{reason=\"bad_signature\"}", "starling_sessions_total",
                             "starling_peer_errors_total{code=\"untrusted\"}", "starling_doc_changes{doc=\"m\"} 1",
                             "starling_fork_proofs_total", "starling_dial_attempts_total"})
    CHECK(m.raw.find(family) != std::string::npos);
}

TEST_CASE("http api: trust and join tokens over HTTP", "[http_api]") {
  running_node n;
  auto key = std::string(64, 'a');
  auto t = call(n, "POST", "/v1/trust", json{{"key", key}, {"perm", "read"}}.dump());
  CHECK(t.status == 201);
  auto list = call(n, "GET", "/v1/trust");
  REQUIRE(list.body["trusted"].size() == 1);
  CHECK(list.body["trusted"][0]["perm"] == "read");
  CHECK(call(n, "DELETE", "/v1/trust/" + key).status == 200);
  CHECK(call(n, "GET", "/v1/trust").body["trusted"][0]["revoked"] == true);
  auto tok = call(n, "POST", "/v1/tokens", json{{"perm", "read,write"}, {"ttl", "1h"}}.dump());
  REQUIRE(tok.status == 201);
  auto text = tok.body["token"].get<std::string>();
  CHECK(text.rfind("stk1_", 0) == 0);
  CHECK(tok.body["issuer"] == n.svc->node_id());
  auto tokens = call(n, "GET", "/v1/tokens");
  REQUIRE(tokens.body["tokens"].size() == 1);
  auto hash = tokens.body["tokens"][0]["hash"].get<std::string>();
  CHECK(hash == to_hex(auth::hash_token(text)));
  CHECK(tokens.raw.find(text) == std::string::npos);  // never shown again
  CHECK(call(n, "DELETE", "/v1/tokens/" + hash.substr(0, 12)).status == 200);
  CHECK(call(n, "GET", "/v1/tokens").body["tokens"].empty());
}

TEST_CASE("http api: bound beyond loopback, every route but health needs a bearer token", "[http_api]") {
  const std::string token = auth::generate_token();
  running_node n([&](service_config& cfg) {
    cfg.http.host = "0.0.0.0";
    cfg.api_token_hashes.push_back(to_hex(auth::hash_token(token)));
  });
  CHECK(call(n, "GET", "/healthz").status == 200);
  auto refused = call(n, "GET", "/v1/status");
  CHECK(refused.status == 401);
  CHECK(refused.body["error"]["code"] == "unauthorized");
  CHECK(call(n, "GET", "/v1/status", "", {{"Authorization", "Bearer stk1_wrong"}}).status == 401);
  CHECK(call(n, "GET", "/v1/status", "", {{"Authorization", "Bearer " + token}}).status == 200);
}
