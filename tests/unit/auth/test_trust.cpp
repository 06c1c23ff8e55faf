#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>
#include <random>

#include "auth/trust.hpp"

using namespace starling;
using namespace starling::auth;

namespace {

public_key key_of(std::uint8_t b) {
  std::array<std::uint8_t, 32> seed{};
  seed.fill(b);
  return identity::from_seed(seed).key();
}

trust_entry entry(public_key k, permissions p, std::vector<std::string> patterns = {}) {
  trust_entry e;
  e.key = k;
  e.perm = p;
  e.doc_patterns = std::move(patterns);
  e.note = "test";
  e.added_ms = 1000;
  return e;
}

// Reference glob: plain recursion, fine for the short strings of the fuzz test.
bool glob_reference(std::string_view p, std::string_view n) {
  if (p.empty()) return n.empty();
  if (p[0] == '*') return glob_reference(p.substr(1), n) || (!n.empty() && glob_reference(p, n.substr(1)));
  if (n.empty()) return false;
  return (p[0] == '?' || p[0] == n[0]) && glob_reference(p.substr(1), n.substr(1));
}

}  // namespace

TEST_CASE("trust: glob matching", "[auth][trust]") {
  struct {
    const char* pattern;
    const char* name;
    bool match;
  } cases[] = {
      {"*", "anything", true},      {"*", "", true},           {"", "", true},
      {"", "a", false},             {"notes", "notes", true},  {"notes", "notes2", false},
      {"notes", "note", false},     {"team-*", "team-a", true}, {"team-*", "team-", true},
      {"team-*", "team", false},    {"*-log", "app-log", true}, {"*-log", "app-log2", false},
      {"a*b*c", "abc", true},       {"a*b*c", "aXXbYYc", true}, {"a*b*c", "aXXbYY", false},
      {"a*b*c", "acb", false},      {"?", "x", true},           {"?", "", false},
      {"?", "xy", false},           {"doc-??", "doc-12", true}, {"doc-??", "doc-1", false},
      {"*?", "", false},            {"*?", "a", true},          {"**", "a", true},
      {"a*a*a*a*b", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", false},
      {"*.json", "x.json", true},   {"*.json", "x.jsonx", false}, {"A*", "a1", false},
  };
  for (auto& c : cases) {
    INFO(c.pattern << " vs " << c.name);
    CHECK(glob_match(c.pattern, c.name) == c.match);
  }
}

TEST_CASE("trust: glob agrees with a reference on random inputs", "[auth][trust]") {
  std::mt19937 rng(12345);
  const char alphabet[] = "ab*?";
  for (int i = 0; i < 20000; ++i) {
    std::string p, n;
    for (int k = rng() % 8; k > 0; --k) p.push_back(alphabet[rng() % 4]);
    for (int k = rng() % 10; k > 0; --k) n.push_back(alphabet[rng() % 2]);
    INFO(p << " vs " << n);
    REQUIRE(glob_match(p, n) == glob_reference(p, n));
  }
}

TEST_CASE("trust: glob is fast on hostile inputs", "[auth][trust]") {
  std::string pattern, name(100000, 'a');
  for (int i = 0; i < 200; ++i) pattern += "*a";
  pattern += "b";
  CHECK_FALSE(glob_match(pattern, name));
  std::string binary("\0*\xff?", 4);
  CHECK(glob_match(binary, std::string("\0z\xffq", 4)));
}

TEST_CASE("trust: doc pattern validation", "[auth][trust]") {
  for (const char* ok : {"*", "?", "notes", "team-*", "a.b_c-D9", "*.*"}) {
    INFO(ok);
    CHECK(valid_doc_pattern(ok));
  }
  for (const char* bad : {"", "a/b", "a b", "ä", "[abc]", "a\\*"}) {
    INFO(bad);
    CHECK_FALSE(valid_doc_pattern(bad));
  }
  CHECK(valid_doc_pattern(std::string(max_doc_pattern, '*')));
  CHECK_FALSE(valid_doc_pattern(std::string(max_doc_pattern + 1, 'a')));
}

TEST_CASE("trust: allows", "[auth][trust]") {
  auto e = entry(key_of(1), permissions(permission::read) | permission::write, {"team-*", "shared"});
  CHECK(allows(e, permission::read, "team-a"));
  CHECK(allows(e, permission::write, "shared"));
  CHECK_FALSE(allows(e, permission::admin, "shared"));
  CHECK_FALSE(allows(e, permission::read, "private"));
  auto all_docs = entry(key_of(1), permission::read);
  CHECK(allows(all_docs, permission::read, "anything"));
  CHECK_FALSE(allows(all_docs, permission::write, "anything"));
  all_docs.revoked = true;
  CHECK_FALSE(allows(all_docs, permission::read, "anything"));
}

TEST_CASE("trust: entry JSON round trip", "[auth][trust]") {
  auto e = entry(key_of(3), permissions(permission::read) | permission::admin, {"a*", "b?"});
  e.revoked = true;
  auto j = to_json(e);
  CHECK(j["key"] == to_hex(e.key));
  CHECK(j["perm"] == "read,admin");
  auto back = trust_entry_from_json(j);
  REQUIRE(back);
  CHECK(*back == e);
  auto text = trust_entry_from_json_text(j.dump());
  REQUIRE(text);
  CHECK(*text == e);
}

TEST_CASE("trust: entry JSON refuses malformed entries", "[auth][trust]") {
  auto base = to_json(entry(key_of(4), permission::read));
  struct edit {
    const char* field;
    nlohmann::json value;  // null = remove the field
    const char* expect;
  };
  std::vector<edit> edits = {
      {"key", nullptr, "'key' is missing"},
      {"key", "abcd", "'key' is not 64 hex"},
      {"key", std::string(64, 'g'), "'key' is not 64 hex"},
      {"key", std::string(66, 'a'), "'key' is longer"},
      {"key", 5, "'key' is not a string"},
      {"perm", "superuser", "'perm'"},
      {"doc_patterns", nlohmann::json::array({"x y"}), "item 0"},
      {"doc_patterns", nlohmann::json::object(), "not a list"},
      {"revoked", "false", "'revoked' is not true or false"},
      {"revoked", nullptr, "'revoked' is missing"},
      {"note", 1, "'note' is not a string"},
      {"added_ms", -5, "'added_ms' is negative"},
  };
  for (auto& e : edits) {
    INFO(e.field << " = " << e.value.dump());
    auto j = base;
    if (e.value.is_null()) j.erase(e.field);
    else j[e.field] = e.value;
    auto r = trust_entry_from_json(j);
    REQUIRE_FALSE(r);
    CHECK(r.error().code == auth_errc::malformed);
    CHECK_THAT(r.error().message, Catch::Contains(e.expect));
  }
  for (const char* text : {"", "[", "{\"key\":", "null", "true", "[{}]"}) {
    INFO(text);
    CHECK_FALSE(trust_entry_from_json_text(text));
  }
}

TEST_CASE("trust: entry text is read by the guarded JSON parser", "[auth][trust]") {
  auto text = to_json(entry(key_of(5), permission::read)).dump();
  REQUIRE(trust_entry_from_json_text(text));
  // A second "revoked" could make one reader see a revoked key and another
  // a trusted one.
  auto twice = "{\"revoked\":true," + text.substr(1);
  auto r = trust_entry_from_json_text(twice);
  REQUIRE_FALSE(r);
  CHECK(r.error().code == auth_errc::malformed);
  CHECK_THAT(r.error().message, Catch::Contains("repeats the key 'revoked'"));
  auto deep = "{\"x\":" + std::string(100000, '[');
  r = trust_entry_from_json_text(deep);
  REQUIRE_FALSE(r);
  CHECK_THAT(r.error().message, Catch::Contains("deeper"));
}

TEST_CASE("trust: static policy decisions", "[auth][trust]") {
  std::int64_t now = 10'000;
  static_trust_policy policy([&] { return now; });
  auto alice = key_of(1), bob = key_of(2), carol = key_of(3), dave = key_of(4);
  policy.trust(entry(alice, permissions(permission::read) | permission::write, {"team-*"}));
  policy.trust(entry(bob, permission::read));
  REQUIRE(policy.revoke(bob));
  CHECK_FALSE(policy.revoke(carol));

  auto token = generate_token();
  token_record rec;
  rec.perm = permission::write;
  rec.doc_patterns = {"inbox"};
  rec.created_ms = 5'000;
  rec.expires_ms = 20'000;
  policy.add_token(hash_token(token), rec);

  SECTION("trusted key") {
    auto d = policy.check_peer(alice, std::nullopt);
    REQUIRE(d.accepted);
    CHECK(d.perm == (permissions(permission::read) | permission::write));
    CHECK(d.doc_patterns == std::vector<std::string>{"team-*"});
    CHECK_FALSE(d.token_used);
    // A trusted key presenting a token does not use it up.
    auto with_token = policy.check_peer(alice, token);
    REQUIRE(with_token.accepted);
    CHECK_FALSE(with_token.token_used);
  }
  SECTION("revoked key, even with a valid token") {
    for (auto t : {std::optional<std::string>{}, std::optional<std::string>{token}}) {
      auto d = policy.check_peer(bob, t);
      REQUIRE_FALSE(d.accepted);
      CHECK(d.why == rejection::revoked);
    }
    CHECK_FALSE(policy.consume_token(hash_token(token), bob));
    CHECK(policy.has_token(hash_token(token)));
  }
  SECTION("unknown key without a token") {
    auto d = policy.check_peer(carol, std::nullopt);
    REQUIRE_FALSE(d.accepted);
    CHECK(d.why == rejection::untrusted);
    CHECK_THAT(d.reason, Catch::Contains(short_id(carol)));
  }
  SECTION("unknown key with a valid token, then consumed") {
    auto d = policy.check_peer(carol, token);
    REQUIRE(d.accepted);
    CHECK(d.perm == permissions(permission::write));
    CHECK(d.doc_patterns == std::vector<std::string>{"inbox"});
    REQUIRE(d.token_used);
    CHECK(*d.token_used == hash_token(token));
    // check_peer changes nothing: the token is still there.
    CHECK(policy.has_token(hash_token(token)));
    CHECK(policy.find(carol) == nullptr);

    REQUIRE(policy.consume_token(*d.token_used, carol));
    CHECK_FALSE(policy.has_token(hash_token(token)));
    auto* e = policy.find(carol);
    REQUIRE(e);
    CHECK(e->perm == permissions(permission::write));
    CHECK(e->added_ms == now);
    CHECK(allows(*e, permission::write, "inbox"));
    CHECK_FALSE(allows(*e, permission::write, "other"));
    // Now trusted without a token.
    CHECK(policy.check_peer(carol, std::nullopt).accepted);
    // The token is single-use: another new key cannot use it.
    auto again = policy.check_peer(dave, token);
    REQUIRE_FALSE(again.accepted);
    CHECK(again.why == rejection::token_invalid);
    CHECK_FALSE(policy.consume_token(hash_token(token), dave));
  }
  SECTION("token expiry boundaries") {
    now = 19'999;
    CHECK(policy.check_peer(carol, token).accepted);
    now = 20'000;
    auto d = policy.check_peer(carol, token);
    REQUIRE_FALSE(d.accepted);
    CHECK(d.why == rejection::token_invalid);
    CHECK_FALSE(policy.consume_token(hash_token(token), carol));
    now = 4'999;  // before creation: the clock stepped back
    CHECK(policy.check_peer(carol, token).accepted);
  }
  SECTION("bad or unknown tokens") {
    for (const std::string& bad : {std::string(""), std::string("nonsense"), generate_token(), token + "0",
                                   std::string(token.size(), 'x')}) {
      auto d = policy.check_peer(carol, bad);
      REQUIRE_FALSE(d.accepted);
      CHECK(d.why == rejection::token_invalid);
    }
  }
  SECTION("re-trusting replaces the entry") {
    policy.trust(entry(bob, permission::admin));
    auto d = policy.check_peer(bob, std::nullopt);
    REQUIRE(d.accepted);
    CHECK(d.perm == permissions(permission::admin));
  }
}

TEST_CASE("trust: rejection names", "[auth][trust]") {
  CHECK(std::string(to_string(rejection::untrusted)) == "untrusted");
  CHECK(std::string(to_string(rejection::token_invalid)) == "token_invalid");
  CHECK(std::string(to_string(rejection::revoked)) == "revoked");
  CHECK(system_now_ms() > 1'600'000'000'000);
}
