// The node's log: one line per event with a timestamp, level, component,
// message and key=value fields; or one JSON object per line for machines.
//
// Never pass a secret (a key, a token) as a field: the log is not a safe
// place, and nothing here can tell a secret from any other string.
//
// Threading: configure() once at start, before other threads log; write()
// from any thread (one line is one write call, so lines do not interleave).
#pragma once

#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

namespace starling::log {

enum class level { debug = 0, info, warn, error };
enum class format { text, json };

// Defaults: info, text, standard error.
void configure(level min, format f);
bool enabled(level l);
std::optional<level> parse_level(std::string_view s);
std::optional<format> parse_format(std::string_view s);

using field = std::pair<std::string_view, std::string>;
void write(level l, std::string_view component, std::string_view message, std::initializer_list<field> fields = {});

// The line write() would emit (for tests).
std::string render(format f, level l, std::string_view component, std::string_view message,
                   std::initializer_list<field> fields, long long unix_ms);

}  // namespace starling::log
