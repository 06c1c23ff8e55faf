// The HTTP API against hostile bodies, many documents and a stopping node,
// over real loopback sockets.
#include <catch2/catch.hpp>

#include <caf/scoped_actor.hpp>
#include <caf/send.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "actors/errors.hpp"
#include "actors/node_actor.hpp"
#include "app/http_errors.hpp"
#include "http_support.hpp"

using namespace starling;
using namespace starling::app;
using namespace starling::app::test;

namespace {

// Resident memory of this process (the node runs in it), in KiB.
long vm_rss_kib() {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("VmRSS:", 0) == 0) return std::stol(line.substr(6));
  return -1;
}

std::string mutation_with_value(const std::string& value_json) {
  return R"({"mutations":[{"op":"set","path":"/v","value":)" + value_json + "}]}";
}

void expect_json_refusal(const answer& a, const std::string& detail) {
  INFO(a.raw.substr(0, 300));
  CHECK(a.status == 400);
  REQUIRE(a.body.is_object());
  REQUIRE(a.body.contains("error"));
  CHECK(a.body["error"].value("code", "") == "bad_request");
  CHECK(a.body["error"].value("detail", "") == detail);
}

double median_read_ms(const running_node& n, const std::string& doc, int reads) {
  std::vector<double> ms;
  for (int i = 0; i < reads; ++i) {
    auto t0 = std::chrono::steady_clock::now();
    REQUIRE(call(n, "GET", "/v1/docs/" + doc).status == 200);
    ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
  }
  std::sort(ms.begin(), ms.end());
  return ms[ms.size() / 2];
}

}  // namespace

TEST_CASE("http api: deeply nested bodies get 400 with a code, the node keeps serving, memory stays put",
          "[http_api][guards]") {
  running_node n;
  REQUIRE(call(n, "POST", "/v1/docs/d/changes", write_body("/a", 1)).status == 200);
  // Warm up the paths the hostile requests take, so that what is measured
  // below is what they leave behind.
  expect_json_refusal(call(n, "POST", "/v1/docs/d/changes", mutation_with_value(std::string(200, '['))), "too_deep");
  const long before = vm_rss_kib();
  REQUIRE(before > 0);

  // 100,000 levels in ~200 KB: once enough to overflow the stack.
  auto deep = mutation_with_value(std::string(100'000, '[') + std::string(100'000, ']'));
  expect_json_refusal(call(n, "POST", "/v1/docs/d/changes", deep), "too_deep");
  // ~1 MB of nesting, several times: once ~118 MiB left allocated.
  auto big = mutation_with_value(std::string(500'000, '[') + std::string(500'000, ']'));
  REQUIRE(big.size() < 1024 * 1024);
  for (int i = 0; i < 5; ++i) expect_json_refusal(call(n, "POST", "/v1/docs/d/changes", big), "too_deep");
  // Objects nest the same way.
  std::string objects;
  for (int i = 0; i < 50'000; ++i) objects += R"({"a":)";
  objects += "1" + std::string(50'000, '}');
  expect_json_refusal(call(n, "POST", "/v1/docs/d/changes", mutation_with_value(objects)), "too_deep");

  // The same node answers the next requests, and nothing was written.
  auto read = call(n, "GET", "/v1/docs/d");
  REQUIRE(read.status == 200);
  CHECK(read.body["value"] == json{{"a", 1}});
  REQUIRE(call(n, "POST", "/v1/docs/d/changes", write_body("/b", 2)).status == 200);
  const long after = vm_rss_kib();
  INFO("VmRSS before " << before << " KiB, after " << after << " KiB");
  CHECK(after - before < 32 * 1024);

  // A value as deep as a document allows still goes through.
  std::string ok_value = std::string(60, '[') + "1" + std::string(60, ']');
  CHECK(call(n, "POST", "/v1/docs/d/changes", mutation_with_value(ok_value)).status == 200);
}

TEST_CASE("http api: every JSON body refuses big integers and repeated keys", "[http_api][guards]") {
  running_node n;
  expect_json_refusal(call(n, "POST", "/v1/docs/d/changes", mutation_with_value("123456789012345678901234567890")),
                      "number_out_of_range");
  expect_json_refusal(
      call(n, "POST", "/v1/docs/d/changes",
           R"({"mutations":[{"op":"set","path":"/a","value":1}],"mutations":[{"op":"set","path":"/b","value":1}]})"),
      "duplicate_key");
  expect_json_refusal(call(n, "POST", "/v1/docs/d/changes", "{not json"), "syntax");
  expect_json_refusal(call(n, "POST", "/v1/tokens", R"({"perm":"read","perm":"admin"})"), "duplicate_key");
  expect_json_refusal(call(n, "POST", "/v1/trust", "{\"key\":" + std::string(10'000, '[')), "too_deep");
  CHECK(call(n, "GET", "/v1/docs/d").status == 404);  // nothing written
  // The refusals are counted.
  auto metrics = call(n, "GET", "/metrics").raw;
  CHECK_THAT(metrics, Catch::Contains("starling_http_json_refused_total 5"));
}

TEST_CASE("http api: GET /v1/docs is paged with after and limit", "[http_api][guards]") {
  running_node n([](service_config& cfg) {
    cfg.docs_page_default = 2;
    cfg.docs_page_max = 3;
  });
  for (const char* d : {"e", "a", "c", "b", "d"}) REQUIRE(call(n, "POST", std::string("/v1/docs/") + d + "/changes", write_body("/x", 1)).status == 200);
  auto names = [](const answer& a) {
    std::vector<std::string> out;
    for (auto& d : a.body["docs"]) out.push_back(d["name"]);
    return out;
  };
  auto p1 = call(n, "GET", "/v1/docs");
  REQUIRE(p1.status == 200);
  CHECK(names(p1) == std::vector<std::string>{"a", "b"});
  CHECK(p1.body["next"] == "b");
  CHECK(p1.body["docs"][0]["changes"] == 1);
  auto p2 = call(n, "GET", "/v1/docs?after=b&limit=3");
  CHECK(names(p2) == std::vector<std::string>{"c", "d", "e"});
  CHECK(p2.body["next"] == "e");
  auto p3 = call(n, "GET", "/v1/docs?after=e");
  CHECK(names(p3).empty());
  CHECK_FALSE(p3.body.contains("next"));
  CHECK(names(call(n, "GET", "/v1/docs?after=bb&limit=1")) == std::vector<std::string>{"c"});
  CHECK(call(n, "GET", "/v1/docs?limit=4").status == 400);  // over docs_page_max
  CHECK(call(n, "GET", "/v1/docs?limit=0").status == 400);
  CHECK(call(n, "GET", "/v1/docs?limit=x").status == 400);
  CHECK(call(n, "GET", "/v1/docs?after=no%2Fslash").status == 400);
}

TEST_CASE("http api: a read with thousands of documents costs what it costs with one", "[http_api][guards]") {
  running_node n;
  REQUIRE(call(n, "POST", "/v1/docs/doc0/changes", write_body("/n", 0)).status == 200);
  const double one = median_read_ms(n, "doc0", 40);
  // Written through the API, so that every document has a live owner, as
  // on a node that has been serving them.
  constexpr int docs = 5000;
  std::atomic<int> next{1}, failed{0};
  std::vector<std::thread> writers;
  for (int t = 0; t < 4; ++t)
    writers.emplace_back([&] {
      for (int i = next++; i < docs; i = next++) {
        auto r = net::http_fetch(n.url("/v1/docs/doc" + std::to_string(i) + "/changes"), "POST", write_body("/n", i),
                                 {}, std::chrono::seconds(60));
        if (!r || r->status != 200) ++failed;
      }
    });
  for (auto& w : writers) w.join();
  REQUIRE(failed == 0);
  const double many = median_read_ms(n, "doc4321", 40);
  INFO("median read: " << one << " ms with 1 document, " << many << " ms with " << docs);
  // Loose: the machine is shared. A read that listed every document took
  // tens of milliseconds here.
  CHECK(many < 3 * one + 10);
  // Event streams and reads of documents the node lacks look up one name.
  CHECK(call(n, "GET", "/v1/docs/nothing").status == 404);
  CHECK(call(n, "GET", "/v1/docs/nothing/events").status == 404);
}

TEST_CASE("http api: each error of the node maps to one status", "[http_api][guards]") {
  using actors::errc;
  using actors::make_error;
  struct row {
    caf::error e;
    unsigned status;
    const char* code;
  };
  for (const auto& r : std::vector<row>{
           {make_error(errc::bad_request, "invalid document name 'a/b'"), 400, "bad_request"},
           {make_error(errc::invalid_mutation, "mutation 0 at '/a/b': no such path"), 422, "invalid_mutation"},
           {make_error(errc::storage, "commit failed"), 503, "storage"},
           {make_error(errc::storage_full, "map_full: mdb_put: MDB_MAP_FULL"), 507, "storage_full"},
           {make_error(errc::conflict, "token already used"), 409, "conflict"},
           {make_error(errc::peer_closed, "4202 lagged"), 500, "internal"},
           {make_error(errc::refused, "untrusted: key 1a2b3c4d is not trusted"), 500, "internal"},
           {caf::make_error(caf::sec::request_timeout), 503, "timeout"},
           {caf::make_error(caf::sec::request_receiver_down), 503, "unavailable"},
           {caf::make_error(caf::sec::unexpected_message), 500, "internal"},
       }) {
    auto f = http_failure_of(r.e);
    INFO(actors::render(r.e));
    CHECK(f.status == r.status);
    CHECK(f.code == r.code);
    CHECK_FALSE(f.message.empty());
  }
  // The message is the detail: the code is not repeated in it.
  CHECK(http_failure_of(make_error(errc::invalid_mutation, "mutation 0 at '/a'")).message == "mutation 0 at '/a'");
}

TEST_CASE("http api: requests while the node stops get 503, not 500", "[http_api][guards]") {
  running_node n;
  REQUIRE(call(n, "POST", "/v1/docs/d/changes", write_body("/a", 1)).status == 200);
  {
    caf::scoped_actor self{*n.sys};
    self->monitor(n.svc->node().handle);
    self->send(n.svc->node().handle, actors::stop_atom::value);
    self->receive([](const caf::down_msg&) {});
  }
  for (const char* path : {"/v1/docs/d", "/v1/docs/d/events"}) {
    auto a = call(n, "GET", path);
    INFO(path << " -> " << a.raw);
    CHECK(a.status == 503);
    CHECK(a.body["error"]["code"] == "unavailable");
  }
  auto w = call(n, "POST", "/v1/docs/d/changes", write_body("/b", 2));
  CHECK(w.status == 503);
  CHECK(call(n, "GET", "/readyz").status == 503);
}
