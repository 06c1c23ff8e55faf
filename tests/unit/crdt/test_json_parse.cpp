// The guarded JSON parser (crdt/json_parse.hpp): depth, integer range,
// duplicate keys, size, and agreement with the library on everything else.
//
// STARLING_SEED=<n> replays the random-input test with seed n.
#include <catch2/catch.hpp>

#include <cstdlib>
#include <functional>
#include <iostream>
#include <random>
#include <string>

#include "crdt/json_parse.hpp"

using namespace starling;
using nlohmann::json;

namespace {

void expect_refused(std::string_view text, json_errc code, const std::string& words = {},
                    const json_limits& lim = {}) {
  auto r = parse_json(text, lim);
  INFO(std::string(text.substr(0, 120)));
  REQUIRE_FALSE(r);
  CHECK(r.error().code == code);
  CHECK_THAT(r.error().message, Catch::Contains(words));
  for (char c : r.error().message) CHECK((c >= 0x20 && c < 0x7f));
}

std::string nested(std::size_t depth, const char* open = "[", const char* close = "]") {
  std::string s;
  for (std::size_t i = 0; i < depth; ++i) s += open;
  for (std::size_t i = 0; i < depth; ++i) s += close;
  return s;
}

}  // namespace

TEST_CASE("json: parses what the library parses", "[json]") {
  for (const char* text : {"null", "true", "0", "-0", "1.5", "-2e-3", "1E5", "\"a\\u00e9\\n\"", "[]", "{}",
                           " {\"a\": [1, {\"b\": null}], \"c\": \"d\"} ", "18446744073709551615",
                           "-9223372036854775808", "[\"\xc3\xa9\"]"}) {
    INFO(text);
    auto r = parse_json(text);
    REQUIRE(r);
    CHECK(*r == json::parse(text));
  }
  CHECK(parse_json("18446744073709551615")->is_number_unsigned());
  CHECK(parse_json("-9223372036854775808")->is_number_integer());
  CHECK(parse_json("1E5")->is_number_float());
}

TEST_CASE("json: nesting is bounded while reading", "[json]") {
  json_limits lim;
  lim.max_depth = 4;
  REQUIRE(parse_json(nested(4), lim));
  REQUIRE(parse_json("{\"a\":[{\"b\":[]}]}", lim));
  expect_refused(nested(5), json_errc::too_deep, "deeper than 4", lim);
  expect_refused("{\"a\":[{\"b\":[{}]}]}", json_errc::too_deep, "", lim);
  // Siblings do not add up.
  REQUIRE(parse_json("[[[[]]],[[[]]],[[[]]]]", lim));

  // The defect: a 100,000-deep body (and a 1 MB one) is refused at the
  // default depth without building anything that deep.
  expect_refused(nested(100'000), json_errc::too_deep, "deeper than 128");
  expect_refused(nested(500'000, "{\"a\":", "}"), json_errc::too_deep);
  // Unclosed: refused for the depth, before the parser reaches the end.
  expect_refused(std::string(1'000'000, '['), json_errc::too_deep);
  REQUIRE(parse_json(nested(128)));
}

TEST_CASE("json: integers outside 64 bits are refused, not rounded", "[json]") {
  expect_refused("18446744073709551616", json_errc::number_out_of_range, "18446744073709551616");
  expect_refused("-9223372036854775809", json_errc::number_out_of_range);
  expect_refused("{\"seq\": 99999999999999999999999}", json_errc::number_out_of_range);
  expect_refused("[1, 2, " + std::string(300, '9') + "]", json_errc::number_out_of_range, "...");
  // Written as floats, large numbers are floats.
  auto f = parse_json("1e300");
  REQUIRE(f);
  CHECK(f->is_number_float());
  REQUIRE(parse_json("18446744073709551616.0"));
  // Out of double range is not JSON the library can represent.
  expect_refused("1e400", json_errc::syntax);
}

TEST_CASE("json: a key repeated in one object is refused", "[json]") {
  expect_refused("{\"a\":1,\"a\":2}", json_errc::duplicate_key, "'a'");
  expect_refused("{\"a\":1,\"b\":{\"c\":1,\"c\":1}}", json_errc::duplicate_key, "'c'");
  expect_refused("[{\"x\":[]},{\"y\":1,\"y\":{}}]", json_errc::duplicate_key);
  // The same key in different objects is fine, also nested in itself.
  auto r = parse_json("{\"a\":{\"a\":{\"a\":1}},\"b\":[{\"a\":1},{\"a\":2}]}");
  REQUIRE(r);
  CHECK((*r)["a"]["a"]["a"] == 1);
  // Control characters in a repeated key are not copied into the message.
  expect_refused("{\"\\n\":1,\"\\n\":2}", json_errc::duplicate_key, "'?'");
}

TEST_CASE("json: size, syntax and trailing text", "[json]") {
  json_limits lim;
  lim.max_bytes = 10;
  REQUIRE(parse_json("[1,2,3,45]", lim));
  expect_refused("[1,2,3,456]", json_errc::too_large, "11 bytes", lim);
  for (const char* bad : {"", " ", "{", "[1,]", "{\"a\"}", "{'a':1}", "nul", "[1] x", "{} {}", "\"\xff\"", "\"\x01\"",
                          "01", "+1", "NaN", "[1\n\x1b[2J"}) {
    INFO(bad);
    expect_refused(bad, json_errc::syntax, "not valid JSON");
  }
}

TEST_CASE("json: random and mutated input agree with the library", "[json]") {
  // Valid documents round-trip; mutated text is either refused or parsed to
  // what the library parses; nothing throws.
  unsigned seed = std::random_device{}();
  if (const char* s = std::getenv("STARLING_SEED")) seed = static_cast<unsigned>(std::strtoul(s, nullptr, 10));
  std::cout << "json random input: STARLING_SEED=" << seed << "\n";
  INFO("STARLING_SEED=" << seed);
  std::mt19937_64 rng(seed);
  auto pick = [&](std::uint64_t n) { return std::uniform_int_distribution<std::uint64_t>(0, n - 1)(rng); };
  std::function<json(int)> random_value = [&](int depth) -> json {
    switch (pick(depth > 6 ? 5 : 7)) {
      case 0: return nullptr;
      case 1: return pick(2) == 0;
      case 2: return static_cast<std::int64_t>(rng());
      case 3: return static_cast<double>(static_cast<std::int64_t>(pick(2000)) - 1000) / 8.0;
      case 4: {
        std::string s;
        for (auto n = pick(6); n > 0; --n) s += static_cast<char>(0x20 + pick(0x5f));
        if (pick(4) == 0) s += "\n\xc3\xa9";
        return s;
      }
      case 5: {
        json a = json::array();
        for (auto n = pick(4); n > 0; --n) a.push_back(random_value(depth + 1));
        return a;
      }
      default: {
        json o = json::object();
        for (auto n = pick(4); n > 0; --n) o["k" + std::to_string(pick(8))] = random_value(depth + 1);
        return o;
      }
    }
  };
  const std::string alphabet = "[]{}:,\"0123456789-+.eEtrufalsn \\\x01\xff";
  for (int i = 0; i < 2000; ++i) {
    json v = random_value(0);
    std::string text = v.dump();
    auto r = parse_json(text);
    INFO(text);
    REQUIRE(r);
    REQUIRE(*r == v);
    for (auto edits = 1 + pick(3); edits > 0 && !text.empty(); --edits) {
      auto at = pick(text.size());
      switch (pick(3)) {
        case 0: text[at] = alphabet[pick(alphabet.size())]; break;
        case 1: text.insert(at, 1, alphabet[pick(alphabet.size())]); break;
        default: text.erase(at, 1);
      }
    }
    INFO("mutated: " << text);
    auto m = parse_json(text);
    bool library_accepts = json::accept(text);
    if (m) {
      REQUIRE(library_accepts);
      REQUIRE(*m == json::parse(text));
    } else if (m.error().code == json_errc::syntax) {
      REQUIRE_FALSE(library_accepts);
    }
  }
}
