#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>
#include <set>

#include "auth/token.hpp"

using namespace starling;
using namespace starling::auth;

namespace {

token_record sample_record() {
  token_record r;
  r.perm = permissions(permission::read) | permission::write;
  r.doc_patterns = {"team-*", "notes"};
  r.created_ms = 1'700'000'000'000;
  r.expires_ms = r.created_ms + 24 * 3600 * 1000;
  r.note = "new laptop";
  return r;
}

}  // namespace

TEST_CASE("token: generated tokens have the documented format and differ", "[auth][token]") {
  std::set<std::string> seen;
  for (int i = 0; i < 50; ++i) {
    auto t = generate_token();
    CHECK(t.size() == token_length);
    CHECK(t.rfind("stk1_", 0) == 0);
    CHECK(check_token_format(t));
    seen.insert(t);
  }
  CHECK(seen.size() == 50);
}

TEST_CASE("token: malformed tokens are refused without echoing them", "[auth][token]") {
  auto good = generate_token();
  std::string upper = good;
  upper[10] = 'A';
  upper[11] = 'F';
  std::string bad_char = good;
  bad_char[20] = 'g';
  std::string wrong_prefix = "stk2_" + good.substr(5);
  for (const std::string& bad : {std::string(), std::string("stk1_"), good.substr(0, good.size() - 1), good + "0",
                                 upper, bad_char, wrong_prefix, std::string("stk1") + good.substr(4, 1) + "x",
                                 std::string(good.size(), '\0')}) {
    INFO(bad);
    auto r = check_token_format(bad);
    REQUIRE_FALSE(r);
    CHECK(r.error().code == auth_errc::malformed);
    if (bad.size() > 10) {
      CHECK(r.error().message.find(bad.substr(5)) == std::string::npos);
    }
  }
}

TEST_CASE("token: hash covers the whole string", "[auth][token]") {
  auto t = generate_token();
  auto h = hash_token(t);
  CHECK(h == hash_token(t));
  CHECK_FALSE(h.is_zero());
  auto other = t;
  other.back() = other.back() == '0' ? '1' : '0';
  CHECK(hash_token(other) != h);
  CHECK(hash_token(t.substr(5)) != h);  // the prefix is part of what is hashed
  CHECK(to_hex(h).find(t.substr(5)) == std::string::npos);
}

TEST_CASE("token: validity window boundaries", "[auth][token]") {
  auto r = sample_record();
  CHECK(token_valid_at(r, r.created_ms - 1));  // a clock stepped back does not void it
  CHECK(token_valid_at(r, 0));
  CHECK(token_valid_at(r, r.created_ms));
  CHECK(token_valid_at(r, r.expires_ms - 1));
  CHECK_FALSE(token_valid_at(r, r.expires_ms));
  CHECK_FALSE(token_valid_at(r, r.expires_ms + 1));
  token_record zero_length = r;
  zero_length.expires_ms = zero_length.created_ms;
  CHECK_FALSE(token_valid_at(zero_length, zero_length.created_ms));
}

TEST_CASE("token: record JSON round trip", "[auth][token]") {
  auto r = sample_record();
  auto j = to_json(r);
  CHECK(j["perm"] == "read,write");
  auto back = token_record_from_json(j);
  REQUIRE(back);
  CHECK(*back == r);
  auto from_text = token_record_from_json_text(j.dump());
  REQUIRE(from_text);
  CHECK(*from_text == r);

  token_record empty;  // no permissions, all documents, times zero
  auto e = token_record_from_json(to_json(empty));
  REQUIRE(e);
  CHECK(*e == empty);
}

TEST_CASE("token: record JSON refuses malformed records", "[auth][token]") {
  auto base = to_json(sample_record());
  struct edit {
    const char* field;
    nlohmann::json value;  // null = remove the field
    const char* expect;
  };
  std::vector<edit> edits = {
      {"perm", nullptr, "'perm' is missing"},
      {"perm", 7, "'perm' is not a string"},
      {"perm", "read,root", "'perm'"},
      {"doc_patterns", "team-*", "'doc_patterns' is not a list"},
      {"doc_patterns", nlohmann::json::array({"ok", 3}), "item 1"},
      {"doc_patterns", nlohmann::json::array({""}), "item 0"},
      {"doc_patterns", nlohmann::json::array({"a/b"}), "item 0"},
      {"created_ms", -1, "'created_ms' is negative"},
      {"created_ms", 1.5, "'created_ms' is not"},
      {"created_ms", "1", "'created_ms' is not"},
      {"expires_ms", nullptr, "'expires_ms' is missing"},
      {"expires_ms", 18446744073709551615ull, "'expires_ms' is out of range"},
      {"expires_ms", 1, "'expires_ms' is before created_ms"},
      {"note", nlohmann::json::array(), "'note' is not a string"},
      {"note", std::string(5000, 'x'), "'note' is longer"},
  };
  for (auto& e : edits) {
    INFO(e.field << " = " << e.value.dump());
    auto j = base;
    if (e.value.is_null()) j.erase(e.field);
    else j[e.field] = e.value;
    auto r = token_record_from_json(j);
    REQUIRE_FALSE(r);
    CHECK(r.error().code == auth_errc::malformed);
    CHECK_THAT(r.error().message, Catch::Contains(e.expect));
  }
  for (const char* text : {"", "{", "[]", "null", "42", "\"stk1_\"", "{\"perm\":\"read\"}", "{} trailing"}) {
    INFO(text);
    auto r = token_record_from_json_text(text);
    REQUIRE_FALSE(r);
    CHECK(r.error().code == auth_errc::malformed);
  }
  // Extra fields are ignored.
  auto j = base;
  j["future_field"] = {1, 2, 3};
  CHECK(token_record_from_json(j));
}

TEST_CASE("token: record text is read by the guarded JSON parser", "[auth][token]") {
  auto text = to_json(sample_record()).dump();
  REQUIRE(token_record_from_json_text(text));
  // Two "perm" keys: which one a reader takes depends on the parser.
  auto twice = "{\"perm\":\"admin\"," + text.substr(1);
  auto r = token_record_from_json_text(twice);
  REQUIRE_FALSE(r);
  CHECK(r.error().code == auth_errc::malformed);
  CHECK_THAT(r.error().message, Catch::Contains("repeats the key 'perm'"));
  // Nesting in an unknown field is bounded before anything is built.
  auto deep = "{\"x\":" + std::string(100000, '[') + std::string(100000, ']') + "," + text.substr(1);
  r = token_record_from_json_text(deep);
  REQUIRE_FALSE(r);
  CHECK_THAT(r.error().message, Catch::Contains("deeper"));
  // An expiry beyond 64 bits is refused as such, not read as a double.
  auto j = to_json(sample_record());
  j.erase("expires_ms");
  auto huge = "{\"expires_ms\":123456789012345678901234," + j.dump().substr(1);
  r = token_record_from_json_text(huge);
  REQUIRE_FALSE(r);
  CHECK_THAT(r.error().message, Catch::Contains("64-bit"));
}

TEST_CASE("token: durations", "[auth][token]") {
  struct {
    const char* text;
    std::int64_t ms;
  } good[] = {{"90s", 90'000}, {"30m", 1'800'000}, {"24h", 86'400'000}, {"7d", 604'800'000},
              {"1s", 1000},    {"007d", 604'800'000}, {"36500d", std::int64_t(36500) * 86'400'000}};
  for (auto& g : good) {
    INFO(g.text);
    auto d = parse_duration(g.text);
    REQUIRE(d);
    CHECK(*d == g.ms);
  }
  for (const char* bad : {"", "s", "h", "0s", "00h", "10", "10x", "10 h", " 10h", "-5m", "+5m", "1.5h", "1h30m",
                          "10H", "36501d", "99999999999999999999d", "9223372036854775807s"}) {
    INFO(bad);
    auto d = parse_duration(bad);
    REQUIRE_FALSE(d);
    CHECK(d.error().code == auth_errc::malformed);
  }
}
