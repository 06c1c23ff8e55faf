#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "protocol/control.hpp"

using namespace starling;
using namespace starling::protocol;
using json = nlohmann::json;

namespace {

template <std::size_t N>
fixed_bytes<N> filled(std::uint8_t b) {
  fixed_bytes<N> f;
  f.v.fill(b);
  return f;
}

starling::frontier sample_frontier() {
  starling::frontier f;
  f[filled<32>(0xaa)] = chain_head{7, filled<32>(0x01)};
  f[filled<32>(0x11)] = chain_head{1, filled<32>(0x02)};
  f[filled<32>(0xfe)] = chain_head{std::uint64_t(1) << 60, filled<32>(0x03)};
  return f;
}

hello_frame sample_hello() {
  hello_frame h;
  h.versions = {1, 2, 7};
  h.node_id = filled<32>(0x42);
  h.challenge = filled<32>(0x07);
  h.ephemeral_key = filled<32>(0x99);
  return h;
}

std::vector<control_frame> sample_frames() {
  auto with_token = sample_hello();
  with_token.token = "tok_abc.123";
  snapshot_frame s{"doc-1", sample_frontier(), 123456789, filled<32>(0x5a)};
  return {sample_hello(),
          with_token,
          auth_frame{filled<64>(0xc3)},
          frontier_frame{"todo.list_2", sample_frontier()},
          frontier_frame{"empty", {}},
          ready_frame{"a"},
          error_frame{errc::bad_field, "field 'x' is wrong", std::nullopt},
          error_frame{errc::forbidden, "no read permission", std::string("secret-doc")},
          error_frame{errc::internal, "", std::nullopt},
          s};
}

// Encodes f, lets edit change the JSON, decodes the result.
template <class F, class Edit>
expected<control_frame, protocol_error> edited(const F& f, Edit edit, const protocol_limits& lim = {}) {
  json j = json::parse(encode(f));
  edit(j);
  return decode_control(j.dump(), lim);
}

void expect_error(const expected<control_frame, protocol_error>& r, errc code, const std::string& mentions = "") {
  REQUIRE_FALSE(r);
  INFO(r.error().message);
  CHECK(r.error().code == code);
  if (!mentions.empty()) CHECK_THAT(r.error().message, Catch::Contains(mentions));
}

}  // namespace

TEST_CASE("control: every frame round trips", "[protocol]") {
  for (auto& f : sample_frames()) {
    INFO(type_name(f));
    auto text = encode(f);
    auto back = decode_control(text);
    REQUIRE(back);
    CHECK(*back == f);
    CHECK(encode(*back) == text);
    CHECK(back->index() == f.index());
  }
}

TEST_CASE("control: encoding is JSON with type first and lowercase hex", "[protocol]") {
  auto text = encode(sample_hello());
  CHECK(text.rfind("{\"type\":\"hello\"", 0) == 0);
  auto j = json::parse(text);
  CHECK(j["node_id"].get<std::string>() == to_hex(filled<32>(0x42)));
  CHECK(j["versions"] == json::array({1, 2, 7}));
  CHECK_FALSE(j.contains("token"));
  auto a = json::parse(encode(auth_frame{filled<64>(0xab)}));
  std::string abab;
  for (int i = 0; i < 64; ++i) abab += "ab";
  CHECK(a["signature"].get<std::string>() == abab);
  auto fr = json::parse(encode(frontier_frame{"d", sample_frontier()}));
  REQUIRE(fr["frontier"].size() == 3);
  CHECK(fr["frontier"][0]["author"].get<std::string>() == to_hex(filled<32>(0x11)));  // ordered by author
  CHECK(fr["frontier"][0]["seq"] == 1);
  CHECK(fr["frontier"][0]["head"].get<std::string>() == to_hex(filled<32>(0x02)));
  CHECK(std::string(type_name(control_frame(ready_frame{"x"}))) == "ready");
}

TEST_CASE("control: unknown extra fields are ignored", "[protocol]") {
  auto r = edited(sample_hello(), [](json& j) {
    j["future_field"] = {{"nested", {1, 2, 3}}};
    j["compression"] = "zstd";
  });
  REQUIRE(r);
  CHECK(*r == control_frame(sample_hello()));
  auto fr = edited(frontier_frame{"d", sample_frontier()}, [](json& j) { j["frontier"][0]["extra"] = true; });
  REQUIRE(fr);
}

TEST_CASE("control: refuses what is not a JSON object", "[protocol]") {
  for (const char* bad : {"", "   ", "{", "[1,2]", "\"hello\"", "42", "null", "{\"type\":\"ready\",\"doc\":\"a\"} x",
                          "{\"type\":\"ready\",\"doc\":\"a\",}", "{'type':'ready'}"}) {
    INFO(bad);
    expect_error(decode_control(bad), errc::malformed);
  }
  // Invalid UTF-8 inside a string.
  expect_error(decode_control("{\"type\":\"ready\",\"doc\":\"\xff\"}"), errc::malformed);
}

TEST_CASE("control: type selects the frame", "[protocol]") {
  expect_error(decode_control("{}"), errc::bad_field, "type");
  expect_error(decode_control("{\"type\":7}"), errc::bad_field, "type");
  expect_error(decode_control("{\"type\":\"changes\"}"), errc::unknown_type, "changes");
  expect_error(decode_control("{\"type\":\"HELLO\"}"), errc::unknown_type);
  // Peer text in messages is made printable.
  auto r = decode_control("{\"type\":\"x\\ny\"}");
  expect_error(r, errc::unknown_type);
  CHECK(r.error().message.find('\n') == std::string::npos);
}

TEST_CASE("control: missing and wrong-typed fields name the field", "[protocol]") {
  auto hello = sample_hello();
  for (const char* field : {"versions", "node_id", "nonce", "ephemeral_key"}) {
    INFO(field);
    expect_error(edited(hello, [&](json& j) { j.erase(field); }), errc::bad_field, field);
    expect_error(edited(hello, [&](json& j) { j[field] = 5; }), errc::bad_field, field);
    expect_error(edited(hello, [&](json& j) { j[field] = nullptr; }), errc::bad_field, field);
  }
  expect_error(edited(auth_frame{}, [](json& j) { j.erase("signature"); }), errc::bad_field, "signature");
  expect_error(edited(ready_frame{"a"}, [](json& j) { j["doc"] = json::array(); }), errc::bad_field, "doc");
  expect_error(edited(frontier_frame{"a", {}}, [](json& j) { j.erase("frontier"); }), errc::bad_field, "frontier");
  expect_error(edited(frontier_frame{"a", {}}, [](json& j) { j["frontier"] = json::object(); }), errc::bad_field,
               "frontier");
  error_frame e{errc::timeout, "slow", std::nullopt};
  expect_error(edited(e, [](json& j) { j.erase("code"); }), errc::bad_field, "code");
  expect_error(edited(e, [](json& j) { j.erase("reason"); }), errc::bad_field, "reason");
  expect_error(edited(e, [](json& j) { j["reason"] = 1; }), errc::bad_field, "reason");
  snapshot_frame s{"d", {}, 10, {}};
  for (const char* field : {"doc", "frontier", "size", "digest"}) {
    INFO(field);
    expect_error(edited(s, [&](json& j) { j.erase(field); }), errc::bad_field, field);
  }
  expect_error(edited(s, [](json& j) { j["size"] = -1; }), errc::bad_field, "size");
  expect_error(edited(s, [](json& j) { j["size"] = 1.5; }), errc::bad_field, "size");
  expect_error(edited(s, [](json& j) { j["size"] = "10"; }), errc::bad_field, "size");
}

TEST_CASE("control: hex fields must be lowercase and exactly the right length", "[protocol]") {
  auto hello = sample_hello();
  std::string good = to_hex(filled<32>(0xab));
  std::string upper = good;
  for (auto& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  for (std::string bad : {upper, good.substr(2), good + "00", good.substr(1), "zz" + good.substr(2), std::string(),
                          "0x" + good.substr(2)}) {
    INFO(bad);
    expect_error(edited(hello, [&](json& j) { j["nonce"] = bad; }), errc::bad_field, "nonce");
  }
  expect_error(edited(auth_frame{}, [&](json& j) { j["signature"] = good; }), errc::bad_field, "128");
}

TEST_CASE("control: hello versions and token", "[protocol]") {
  auto hello = sample_hello();
  expect_error(edited(hello, [](json& j) { j["versions"] = json::array(); }), errc::bad_field, "versions");
  expect_error(edited(hello, [](json& j) { j["versions"] = {1, "2"}; }), errc::bad_field, "versions");
  expect_error(edited(hello, [](json& j) { j["versions"] = {1, -2}; }), errc::bad_field, "versions");
  expect_error(edited(hello, [](json& j) { j["versions"] = {std::uint64_t(1) << 32}; }), errc::bad_field);
  auto max = edited(hello, [](json& j) { j["versions"] = {0xffffffffu}; });
  REQUIRE(max);
  CHECK(std::get<hello_frame>(*max).versions == std::vector<std::uint32_t>{0xffffffffu});
  expect_error(edited(hello, [](json& j) { j["versions"] = std::vector<int>(17, 1); }), errc::too_large, "versions");
  REQUIRE(edited(hello, [](json& j) { j["versions"] = std::vector<int>(16, 1); }));

  auto null_token = edited(hello, [](json& j) { j["token"] = nullptr; });
  REQUIRE(null_token);
  CHECK_FALSE(std::get<hello_frame>(*null_token).token);
  expect_error(edited(hello, [](json& j) { j["token"] = 12; }), errc::bad_field, "token");
  expect_error(edited(hello, [](json& j) { j["token"] = std::string(1025, 't'); }), errc::too_large, "token");
  REQUIRE(edited(hello, [](json& j) { j["token"] = std::string(1024, 't'); }));
}

TEST_CASE("control: doc names are validated", "[protocol]") {
  for (std::string bad : {std::string(), std::string("a/b"), std::string("sp ace"), std::string(129, 'a'),
                          std::string("caf\xc3\xa9")}) {
    INFO(bad);
    auto r = edited(ready_frame{"a"}, [&](json& j) { j["doc"] = bad; });
    REQUIRE_FALSE(r);
    CHECK((r.error().code == errc::bad_field || r.error().code == errc::too_large));
    CHECK_THAT(r.error().message, Catch::Contains("doc"));
  }
  REQUIRE(edited(ready_frame{"a"}, [](json& j) { j["doc"] = std::string(128, 'a'); }));
  expect_error(edited(error_frame{}, [](json& j) { j["doc"] = "no/slash"; }), errc::bad_field, "doc");
}

TEST_CASE("control: frontier entries", "[protocol]") {
  frontier_frame f{"d", sample_frontier()};
  expect_error(edited(f, [](json& j) { j["frontier"][1] = 3; }), errc::bad_field, "frontier[1]");
  expect_error(edited(f, [](json& j) { j["frontier"][2].erase("head"); }), errc::bad_field, "frontier[2].head");
  expect_error(edited(f, [](json& j) { j["frontier"][0]["seq"] = 0; }), errc::bad_field, "frontier[0].seq");
  expect_error(edited(f, [](json& j) { j["frontier"][0]["seq"] = -3; }), errc::bad_field, "frontier[0].seq");
  expect_error(edited(f, [](json& j) { j["frontier"][0]["author"] = "ab"; }), errc::bad_field, "frontier[0].author");
  expect_error(edited(f, [](json& j) { j["frontier"][1]["author"] = j["frontier"][0]["author"]; }), errc::bad_field,
               "repeats");
  protocol_limits small;
  small.max_frontier_entries = 2;
  expect_error(decode_control(encode(f), small), errc::too_large, "frontier");
  small.max_frontier_entries = 3;
  REQUIRE(decode_control(encode(f), small));
  // Snapshots carry a frontier too.
  expect_error(edited(snapshot_frame{"d", sample_frontier(), 1, {}}, [](json& j) { j["frontier"][0]["seq"] = 0; }),
               errc::bad_field, "frontier[0].seq");
}

TEST_CASE("control: size and nesting limits", "[protocol]") {
  protocol_limits lim;
  lim.max_frame_bytes = 64;
  auto text = encode(sample_hello());
  expect_error(decode_control(text, lim), errc::too_large);
  lim.max_frame_bytes = text.size();
  REQUIRE(decode_control(text, lim));

  std::string deep = "{\"type\":\"ready\",\"doc\":\"a\",\"x\":" + std::string(100000, '[') + std::string(100000, ']') + "}";
  expect_error(decode_control(deep), errc::malformed, "deeper");
  std::string ok_depth = "{\"type\":\"ready\",\"doc\":\"a\",\"x\":[[[{\"y\":[]}]]]}";
  REQUIRE(decode_control(ok_depth));

  snapshot_frame s{"d", {}, (std::uint64_t(1) << 32) + 1, {}};
  expect_error(decode_control(encode(s)), errc::too_large, "snapshot");
  s.size = std::uint64_t(1) << 32;
  REQUIRE(decode_control(encode(s)));
}

TEST_CASE("control: integers beyond 64 bits are malformed, not rounded", "[protocol]") {
  frontier_frame f{"d", sample_frontier()};
  auto text = encode(f);
  auto at = text.find("\"seq\":") + 6;
  auto end = text.find_first_not_of("0123456789", at);
  text.replace(at, end - at, "18446744073709551617");
  expect_error(decode_control(text), errc::malformed, "64-bit");
}

TEST_CASE("control: duplicate keys are refused", "[protocol]") {
  expect_error(decode_control("{\"type\":\"ready\",\"doc\":\"a\",\"doc\":\"b\"}"), errc::malformed, "repeats");
  expect_error(decode_control("{\"type\":\"ready\",\"type\":\"ready\",\"doc\":\"a\"}"), errc::malformed);
  // The same key in different objects is fine.
  REQUIRE(decode_control("{\"type\":\"ready\",\"doc\":\"a\",\"x\":{\"doc\":1},\"y\":[{\"doc\":2},{\"doc\":3}]}"));
}

TEST_CASE("control: error frames are decoded leniently", "[protocol]") {
  auto unknown = decode_control("{\"type\":\"error\",\"code\":\"quota_exceeded\",\"reason\":\"too many docs\"}");
  REQUIRE(unknown);
  auto& e = std::get<error_frame>(*unknown);
  CHECK(e.code == errc::unrecognized);
  CHECK(e.reason == "quota_exceeded: too many docs");
  // Re-encoding keeps what we know.
  auto again = decode_control(encode(e));
  REQUIRE(again);
  CHECK(std::get<error_frame>(*again) == e);

  json long_reason = {{"type", "error"}, {"code", "lagged"}, {"reason", std::string(3000, 'r')}};
  auto cut = decode_control(long_reason.dump());
  REQUIRE(cut);
  CHECK(std::get<error_frame>(*cut).reason.size() == 1024);

  // Truncation never splits a UTF-8 sequence.
  std::string accents;
  for (int i = 0; i < 600; ++i) accents += "\xc3\xa9";
  json utf = {{"type", "error"}, {"code", "lagged"}, {"reason", accents}};
  auto u = decode_control(utf.dump());
  REQUIRE(u);
  CHECK(std::get<error_frame>(*u).reason.size() == 1024);
  CHECK(std::get<error_frame>(*u).reason == accents.substr(0, 1024));
  protocol_limits odd;
  odd.max_reason_bytes = 1023;
  auto o = decode_control(utf.dump(), odd);
  REQUIRE(o);
  CHECK(std::get<error_frame>(*o).reason.size() == 1022);
}

TEST_CASE("control: encoding an error never throws on bad UTF-8 and bounds the reason", "[protocol]") {
  error_frame e{errc::internal, std::string("bad \xff\xfe bytes"), std::nullopt};
  std::string text;
  REQUIRE_NOTHROW(text = encode(e));
  auto back = decode_control(text);
  REQUIRE(back);
  CHECK(std::get<error_frame>(*back).code == errc::internal);

  error_frame big{errc::internal, std::string(5000, 'z'), std::nullopt};
  auto b = decode_control(encode(big));
  REQUIRE(b);
  CHECK(std::get<error_frame>(*b).reason.size() == default_max_reason_bytes);
}

TEST_CASE("control: to_error_frame", "[protocol]") {
  auto f = to_error_frame(protocol_error{errc::bad_field, "field 'doc' bad"}, std::string("d"));
  CHECK(f.code == errc::bad_field);
  CHECK(f.reason == "field 'doc' bad");
  CHECK(f.doc == std::optional<std::string>("d"));
  CHECK(to_error_frame(protocol_error{errc::internal, std::string(2000, 'x')}).reason.size() == 1024);
}

TEST_CASE("choose_version: highest common version", "[protocol]") {
  CHECK(*choose_version({1}, {1}) == 1u);
  CHECK(*choose_version({1, 2, 3}, {2, 3, 4}) == 3u);
  CHECK(*choose_version({3, 1, 2}, {9, 1, 2}) == 2u);
  CHECK(*choose_version(supported_versions(), {protocol_version}) == protocol_version);
  for (auto [ours, theirs] : {std::pair<std::vector<std::uint32_t>, std::vector<std::uint32_t>>{{1}, {2}},
                              {{}, {1}},
                              {{1}, {}},
                              {{1, 2}, {3, 4}}}) {
    auto r = choose_version(ours, theirs);
    REQUIRE_FALSE(r);
    CHECK(r.error().code == errc::unsupported_version);
  }
  CHECK_THAT(choose_version({1}, {2, 3}).error().message, Catch::Contains("[2,3]"));
}
