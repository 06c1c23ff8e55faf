#include "protocol/errors.hpp"

namespace starling::protocol {

namespace {

struct errc_row {
  errc code;
  const char* name;
  std::uint16_t close;
};

// The table in errors.hpp, as data.
constexpr errc_row rows[] = {
    {errc::malformed, "malformed", 4000},
    {errc::bad_field, "bad_field", 4001},
    {errc::unknown_type, "unknown_type", 4002},
    {errc::too_large, "too_large", 4009},
    {errc::unsupported_version, "unsupported_version", 4010},
    {errc::bad_change, "bad_change", 4201},
    {errc::lagged, "lagged", 4202},
    {errc::auth_failed, "auth_failed", 4401},
    {errc::token_invalid, "token_invalid", 4402},
    {errc::forbidden, "forbidden", 4403},
    {errc::untrusted, "untrusted", 4404},
    {errc::timeout, "timeout", 4408},
    {errc::revoked, "revoked", 4410},
    {errc::internal, "internal", 4500},
    {errc::unrecognized, "unrecognized", 4999},
};

const errc_row* find(errc c) {
  for (auto& r : rows)
    if (r.code == c) return &r;
  return nullptr;
}

}  // namespace

const char* to_string(errc c) {
  auto r = find(c);
  return r ? r->name : "unrecognized";
}

std::optional<errc> errc_from_string(std::string_view name) {
  for (auto& r : rows)
    if (name == r.name) return r.code;
  return std::nullopt;
}

std::uint16_t close_code(errc c) {
  auto r = find(c);
  return r ? r->close : 4999;
}

std::optional<errc> errc_from_close_code(std::uint16_t code) {
  for (auto& r : rows)
    if (code == r.close) return r.code;
  return std::nullopt;
}

}  // namespace starling::protocol
