// What a trusted peer may do: a set of {read, write, admin}. The trust store
// and join tokens (a later layer) attach one to each key; this is only the
// value type and its text form ("read,write"), used by the CLI and config.
//
// Threading: a plain value; all functions are pure and thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "auth/identity.hpp"

namespace starling::auth {

enum class permission : std::uint8_t { read = 1, write = 2, admin = 4 };
const char* to_string(permission p);

class permissions {
 public:
  constexpr permissions() = default;
  constexpr permissions(permission p) : bits_(static_cast<std::uint8_t>(p)) {}  // NOLINT: implicit on purpose

  constexpr bool has(permission p) const { return (bits_ & static_cast<std::uint8_t>(p)) != 0; }
  constexpr bool empty() const { return bits_ == 0; }
  constexpr std::uint8_t bits() const { return bits_; }
  // From bits(); bits outside {read, write, admin} are dropped.
  static constexpr permissions from_bits(std::uint8_t b) {
    permissions p;
    p.bits_ = b & 7;
    return p;
  }

  friend constexpr permissions operator|(permissions a, permissions b) { return from_bits(a.bits_ | b.bits_); }
  friend constexpr bool operator==(permissions a, permissions b) { return a.bits_ == b.bits_; }
  friend constexpr bool operator!=(permissions a, permissions b) { return a.bits_ != b.bits_; }

  // "read", "read,write", "read,write,admin" (any order, repeats allowed);
  // "" is the empty set. Unknown names and empty items are refused.
  static expected<permissions, auth_error> parse(std::string_view text);
  // Canonical text: names in the order read, write, admin, comma-separated;
  // "" for the empty set. parse(format()) gives the same set back.
  std::string format() const;

 private:
  std::uint8_t bits_ = 0;
};

}  // namespace starling::auth
