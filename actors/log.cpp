#include "actors/log.hpp"

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
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
  char buf[40];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<int>(unix_ms % 1000));
  return buf;
}

// A value goes bare when it is a plain token, else quoted with escapes.
void append_value(std::string& out, const std::string& v) {
  bool plain = !v.empty();
  for (char c : v)
    if (c == ' ' || c == '"' || c == '=' || c == '\\' || static_cast<unsigned char>(c) < 0x20) plain = false;
  if (plain) {
    out += v;
    return;
  }
  out += nlohmann::json(v).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}
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
    for (auto& [k, v] : fields) j[std::string(k)] = v;
    return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
  }
  std::string line = timestamp(unix_ms);
  line += ' ';
  line += name(l);
  line += ' ';
  line += component;
  line += ' ';
  line += message;
  for (auto& [k, v] : fields) {
    line += ' ';
    line += k;
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
