#include "auth/permissions.hpp"

namespace starling::auth {

namespace {
constexpr permission all[] = {permission::read, permission::write, permission::admin};
}

const char* to_string(permission p) {
  switch (p) {
    case permission::read: return "read";
    case permission::write: return "write";
    case permission::admin: return "admin";
  }
  return "unknown";
}

expected<permissions, auth_error> permissions::parse(std::string_view text) {
  permissions out;
  if (text.empty()) return out;
  while (true) {
    auto comma = text.find(',');
    auto item = text.substr(0, comma);
    bool known = false;
    for (auto p : all) {
      if (item == to_string(p)) {
        out = out | p;
        known = true;
      }
    }
    if (!known) {
      std::string shown = item.size() > 32 ? std::string(item.substr(0, 32)) + "..." : std::string(item);
      return make_unexpected(auth_error{
          auth_errc::bad_permissions,
          item.empty() ? std::string("empty item in permission list (expected read, write, admin)")
                       : "unknown permission '" + shown + "' (expected read, write, admin)"});
    }
    if (comma == std::string_view::npos) break;
    text.remove_prefix(comma + 1);
  }
  return out;
}

std::string permissions::format() const {
  std::string out;
  for (auto p : all) {
    if (!has(p)) continue;
    if (!out.empty()) out += ',';
    out += to_string(p);
  }
  return out;
}

}  // namespace starling::auth
