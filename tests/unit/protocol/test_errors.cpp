#include <catch2/catch.hpp>
#include <set>

#include "protocol/errors.hpp"

using namespace starling::protocol;

TEST_CASE("errc: wire names round trip and are unique", "[protocol]") {
  std::set<std::string> names;
  for (auto c : all_errcs) {
    std::string n = to_string(c);
    INFO(n);
    CHECK(names.insert(n).second);
    auto back = errc_from_string(n);
    REQUIRE(back);
    CHECK(*back == c);
  }
  CHECK_FALSE(errc_from_string(""));
  CHECK_FALSE(errc_from_string("Malformed"));
  CHECK_FALSE(errc_from_string("no_such_code"));
}

TEST_CASE("errc: stable wire names", "[protocol]") {
  CHECK(std::string(to_string(errc::malformed)) == "malformed");
  CHECK(std::string(to_string(errc::too_large)) == "too_large");
  CHECK(std::string(to_string(errc::unsupported_version)) == "unsupported_version");
  CHECK(std::string(to_string(errc::unknown_type)) == "unknown_type");
  CHECK(std::string(to_string(errc::bad_field)) == "bad_field");
  CHECK(std::string(to_string(errc::auth_failed)) == "auth_failed");
  CHECK(std::string(to_string(errc::token_invalid)) == "token_invalid");
  CHECK(std::string(to_string(errc::lagged)) == "lagged");
}

TEST_CASE("errc: close codes are private-range, unique, and 44xx for auth", "[protocol]") {
  std::set<std::uint16_t> codes;
  for (auto c : all_errcs) {
    auto code = close_code(c);
    INFO(to_string(c) << " -> " << code);
    CHECK(code >= 4000);
    CHECK(code <= 4999);
    CHECK(codes.insert(code).second);
    auto back = errc_from_close_code(code);
    REQUIRE(back);
    CHECK(*back == c);
  }
  for (auto c : {errc::auth_failed, errc::untrusted, errc::token_invalid, errc::revoked, errc::timeout,
                 errc::forbidden}) {
    INFO(to_string(c));
    CHECK(close_code(c) / 100 == 44);
  }
  CHECK(close_code(errc::auth_failed) == 4401);
  CHECK(close_code(errc::forbidden) == 4403);
  CHECK(close_code(errc::malformed) == 4000);
  CHECK_FALSE(errc_from_close_code(1000));
  CHECK_FALSE(errc_from_close_code(4405));
}
