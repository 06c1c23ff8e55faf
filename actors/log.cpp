#include "actors/log.hpp"

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <ctime>

#include <nlohmann/json.hpp>

namespace starling::log {

namespace {
std::atomic<int> min_level{static_cast<int>(level::info)};
std::atomic<int> out_format{static_cast<int>(format::text)};

const char* name(level l) {
  switch (l) {
    case level::debug: return "DEBUG";
    case level::info: return "INFO";
    case level::warn: return "WARN";
    case level::error: return "ERROR";
  }
  return "INFO";
}

std::string timestamp(long long unix_ms) {
  std::time_t secs = static_cast<std::time_t>(unix_ms / 1000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  // strftime bounds its output itself; the milliseconds are three digits.
  char buf[64];
  std::size_t n = std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  std::string out(buf, n);
  auto ms = static_cast<int>(unix_ms % 1000);
  if (ms < 0) ms += 1000;
  out += '.';
  out += static_cast<char>('0' + ms / 100);
  out += static_cast<char>('0' + ms / 10 % 10);
  out += static_cast<char>('0' + ms % 10);
  out += 'Z';
  return out;
}

// Values and messages carry text from outside (a peer's close reason, a
// URL): escaped so that one event stays one line and cannot forge fields.
// ensure_ascii: control characters, DEL and everything non-ASCII become
// \u escapes, so no byte can drive a terminal.
std::string quoted(std::string_view v) {
  return nlohmann::json(std::string(v)).dump(-1, ' ', /*ensure_ascii=*/true, nlohmann::json::error_handler_t::replace);
}

bool is_control(char c) { return static_cast<unsigned char>(c) < 0x20 || c == 0x7f; }

// A value goes bare when it is a plain token, else quoted with escapes.
void append_value(std::string& out, std::string_view v) {
  bool plain = !v.empty();
  for (char c : v)
    if (c == ' ' || c == '"' || c == '=' || c == '\\' || is_control(c) || static_cast<unsigned char>(c) >= 0x80)
      plain = false;
  if (plain) out += v;
  else out += quoted(v);
}

// A message goes bare when nothing in it could read as a field, a quote or
// a line break; else it is quoted as a whole.
void append_message(std::string& out, std::string_view m) {
  bool plain = true;
  for (char c : m)
    if (c == '"' || c == '=' || c == '\\' || is_control(c)) plain = false;
  if (plain) out += m;
  else out += quoted(m);
}

// Keys and components are the code's own words; anything else is replaced
// rather than trusted.
void append_name(std::string& out, std::string_view k) {
  if (k.empty()) out += '_';
  for (char c : k) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '.' ||
              c == '-';
    out += ok ? c : '_';
  }
}

bool is_line_key(std::string_view k) { return k == "ts" || k == "level" || k == "component" || k == "msg"; }
}  // namespace

void configure(level min, format f) {
  min_level = static_cast<int>(min);
  out_format = static_cast<int>(f);
}

bool enabled(level l) { return static_cast<int>(l) >= min_level.load(std::memory_order_relaxed); }

std::optional<level> parse_level(std::string_view s) {
  if (s == "debug") return level::debug;
  if (s == "info") return level::info;
  if (s == "warn") return level::warn;
  if (s == "error") return level::error;
  return std::nullopt;
}

std::optional<format> parse_format(std::string_view s) {
  if (s == "text") return format::text;
  if (s == "json") return format::json;
  return std::nullopt;
}

std::string render(format f, level l, std::string_view component, std::string_view message,
                   std::initializer_list<field> fields, long long unix_ms) {
  if (f == format::json) {
    nlohmann::json j;
    j["ts"] = timestamp(unix_ms);
    j["level"] = name(l);
    j["component"] = std::string(component);
    j["msg"] = std::string(message);
    // A field never replaces the line's own keys.
    for (auto& [k, v] : fields) j[is_line_key(k) ? "field." + std::string(k) : std::string(k)] = v;
    return j.dump(-1, ' ', /*ensure_ascii=*/true, nlohmann::json::error_handler_t::replace) + "\n";
  }
  std::string line = timestamp(unix_ms);
  line += ' ';
  line += name(l);
  line += ' ';
  append_name(line, component);
  line += ' ';
  append_message(line, message);
  for (auto& [k, v] : fields) {
    line += ' ';
    append_name(line, k);
    line += '=';
    append_value(line, v);
  }
  line += '\n';
  return line;
}

void write(level l, std::string_view component, std::string_view message, std::initializer_list<field> fields) {
  if (!enabled(l)) return;
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                std::chrono::system_clock::now().time_since_epoch())
                .count();
  auto line = render(static_cast<format>(out_format.load(std::memory_order_relaxed)), l, component, message, fields, ms);
  // One write(2) per line: lines from different threads do not interleave.
  auto rc = ::write(2, line.data(), line.size());
  (void)rc;
}

}  // namespace starling::log
