// The log's line format: whatever a field or message holds, one event is one
// line, and text taken from outside cannot forge a field or a line.
#include <catch2/catch.hpp>

#include <algorithm>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "actors/log.hpp"

using namespace starling;

namespace {

constexpr long long some_ms = 1'700'000'000'123;

std::size_t count_newlines(const std::string& s) { return static_cast<std::size_t>(std::count(s.begin(), s.end(), '\n')); }

// The keys of the key=value fields of a text line, as a log reader splits
// it: on spaces outside double quotes (with backslash escapes inside).
std::vector<std::string> field_keys(const std::string& line) {
  std::vector<std::string> tokens(1);
  bool quoted = false;
  for (std::size_t i = 0; i < line.size() && line[i] != '\n'; ++i) {
    char c = line[i];
    if (quoted && c == '\\') {
      tokens.back() += c;
      if (i + 1 < line.size()) tokens.back() += line[++i];
      continue;
    }
    if (c == '"') quoted = !quoted;
    if (c == ' ' && !quoted) tokens.emplace_back();
    else tokens.back() += c;
  }
  std::vector<std::string> keys;
  for (auto& t : tokens) {
    auto eq = t.find('=');
    if (eq != std::string::npos && eq > 0 && t.find('"') > eq) keys.push_back(t.substr(0, eq));
  }
  return keys;
}

// Text a peer controls: a WebSocket close reason, an error frame's reason.
const std::string hostile =
    "bye\n2026-01-01T00:00:00.000Z ERROR serve forged line peer=evil\r\x1b[2J\t\x01\x7f \"quoted\" a=b \\";

}  // namespace

TEST_CASE("a text line stays one line whatever its fields hold", "[log]") {
  auto line = log::render(log::format::text, log::level::warn, "peer_link", "closed",
                          {{"reason", hostile}, {"peer", "ab12cd34"}}, some_ms);
  INFO(line);
  CHECK(count_newlines(line) == 1);
  CHECK(line.back() == '\n');
  CHECK(line.find('\r') == std::string::npos);
  CHECK(line.find('\x1b') == std::string::npos);
  CHECK(line.find('\x7f') == std::string::npos);
  // The hostile value is one quoted field; the real field after it is intact.
  CHECK(line.find(" peer=ab12cd34\n") != std::string::npos);
  CHECK(field_keys(line) == std::vector<std::string>{"reason", "peer"});
}

TEST_CASE("a text line stays one line whatever its message holds", "[log]") {
  // Callers build messages from outside text too ("closed 4000 " + reason).
  auto line = log::render(log::format::text, log::level::info, "peer_link", "closed 4000 " + hostile,
                          {{"peer", "ab12cd34"}}, some_ms);
  INFO(line);
  CHECK(count_newlines(line) == 1);
  CHECK(line.find('\r') == std::string::npos);
  CHECK(line.find('\x1b') == std::string::npos);
  CHECK(line.find('\x01') == std::string::npos);
  CHECK(line.find('\x7f') == std::string::npos);
  // A message that could pass for fields is quoted, so that only real fields
  // read as key=value.
  CHECK(field_keys(line) == std::vector<std::string>{"peer"});
  CHECK(line.find(" peer=ab12cd34\n") != std::string::npos);
}

TEST_CASE("plain messages and values are written bare", "[log]") {
  auto line = log::render(log::format::text, log::level::info, "serve", "node running",
                          {{"port", "7000"}, {"note", "two words"}}, some_ms);
  CHECK(line == "2023-11-14T22:13:20.123Z INFO serve node running port=7000 note=\"two words\"\n");
}

TEST_CASE("a JSON line stays one line and keeps the text", "[log]") {
  auto line = log::render(log::format::json, log::level::warn, "peer_link", "closed " + hostile,
                          {{"reason", hostile}, {"bad_utf8", std::string("\xff\xfe")}}, some_ms);
  INFO(line);
  CHECK(count_newlines(line) == 1);
  for (char c : line.substr(0, line.size() - 1)) CHECK(static_cast<unsigned char>(c) >= 0x20);
  CHECK(line.find('\x7f') == std::string::npos);
  auto j = nlohmann::json::parse(line);
  CHECK(j["reason"] == hostile);
  CHECK(j["msg"] == "closed " + hostile);
  CHECK(j["ts"] == "2023-11-14T22:13:20.123Z");
}

TEST_CASE("a field cannot overwrite the line's own keys in JSON", "[log]") {
  auto line = log::render(log::format::json, log::level::info, "serve", "real",
                          {{"msg", "forged"}, {"level", "ERROR"}}, some_ms);
  auto j = nlohmann::json::parse(line);
  CHECK(j["msg"] == "real");
  CHECK(j["level"] == "INFO");
}
