// Pieces of URL and header handling shared by the dialer and the HTTP
// client and server. Internal to net/.
//
// Threading: pure functions; thread-safe.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace starling::net::detail {

inline bool equal_ignoring_case(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    auto lower = [](char c) { return (c >= 'A' && c <= 'Z') ? char(c - 'A' + 'a') : c; };
    if (lower(a[i]) != lower(b[i])) return false;
  }
  return true;
}

// Splits "host", "host:port", "[v6]" or "[v6]:port". Returns nullptr on
// success, else what is wrong; *port stays unset when none is given.
inline const char* split_authority(std::string_view authority, std::string* host,
                                   std::optional<std::uint16_t>* port) {
  std::string_view port_text;
  bool has_port = false;
  if (!authority.empty() && authority.front() == '[') {  // [v6 address]:port
    auto close = authority.find(']');
    if (close == std::string_view::npos) return "unterminated '['";
    *host = std::string(authority.substr(1, close - 1));
    auto after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') return "expected ':' after ']'";
      has_port = true;
      port_text = after.substr(1);
    }
  } else {
    auto colon = authority.rfind(':');
    *host = std::string(authority.substr(0, colon));
    has_port = colon != std::string_view::npos;
    if (has_port) port_text = authority.substr(colon + 1);
  }
  if (host->empty()) return "no host";
  if (has_port && port_text.empty()) return "empty port";
  if (!port_text.empty()) {
    unsigned long n = 0;
    for (char c : port_text) {
      if (c < '0' || c > '9') return "port is not a number";
      n = n * 10 + static_cast<unsigned long>(c - '0');
      if (n > 65535) return "port out of range";
    }
    if (n == 0) return "port 0";
    *port = static_cast<std::uint16_t>(n);
  }
  return nullptr;
}

}  // namespace starling::net::detail
