#include <catch2/catch.hpp>

#include "auth/permissions.hpp"

using namespace starling::auth;

TEST_CASE("permissions: set operations", "[auth]") {
  permissions p;
  CHECK(p.empty());
  p = p | permission::write;
  CHECK(p.has(permission::write));
  CHECK_FALSE(p.has(permission::read));
  CHECK((permissions(permission::read) | permission::admin).bits() == 5);
  CHECK(permissions::from_bits(0xff).bits() == 7);
}

TEST_CASE("permissions: parse and format round trip", "[auth]") {
  struct {
    const char* in;
    const char* canonical;
  } cases[] = {{"", ""},
               {"read", "read"},
               {"write,read", "read,write"},
               {"admin,read,write", "read,write,admin"},
               {"read,read", "read"}};
  for (auto& c : cases) {
    INFO(c.in);
    auto p = permissions::parse(c.in);
    REQUIRE(p);
    CHECK(p->format() == c.canonical);
    auto again = permissions::parse(p->format());
    REQUIRE(again);
    CHECK(*again == *p);
  }
  for (std::uint8_t b = 0; b < 8; ++b) {
    auto p = permissions::from_bits(b);
    auto q = permissions::parse(p.format());
    REQUIRE(q);
    CHECK(*q == p);
  }
}

TEST_CASE("permissions: parse refuses unknown names and empty items", "[auth]") {
  for (const char* bad : {"root", "read,", ",read", "read,,write", "Read", "read write", "read, write"}) {
    INFO(bad);
    auto p = permissions::parse(bad);
    REQUIRE_FALSE(p);
    CHECK(p.error().code == auth_errc::bad_permissions);
  }
  CHECK_THAT(permissions::parse("read,sudo").error().message, Catch::Contains("'sudo'"));
  CHECK(std::string(to_string(permission::admin)) == "admin");
}
