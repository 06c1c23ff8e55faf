// The one JSON parser for text from outside the process: HTTP API bodies,
// the config file, trust and token records, sync control frames, replies
// the command line reads. Everything else that turns untrusted text into
// nlohmann::json goes through parse_json, so that every entry point refuses
// the same things:
//
//  - nesting deeper than json_limits::max_depth, found while reading, before
//    anything of that depth is built: a body of 100,000 '[' costs nothing,
//    where a whole-tree parse builds a tree that later recursive code (copy,
//    dump, comparison) walks until the stack overflows;
//  - text longer than json_limits::max_bytes, before parsing;
//  - integers outside int64/uint64, which the library would silently turn
//    into doubles (losing digits): refused, so a number is either exact or a
//    float the sender wrote as one (with '.', 'e' or 'E');
//  - a key repeated in one object: JSON parsers disagree on which one wins,
//    so two readers of one text could see two different values;
//  - anything that is not JSON (invalid UTF-8 included), and bytes after the
//    value.
//
// Messages are printable ASCII (text from the input is shortened and
// escaped), fit for a log line or an HTTP error body.
//
// Threading: pure functions; thread-safe. Throws only std::bad_alloc.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "crdt/expected.hpp"

namespace starling {

struct json_limits {
  // Arrays and objects open at once, counting the outermost ({} is 1,
  // {"a":[1]} is 2). Far below what would endanger the stack, far above
  // what any of the project's formats needs.
  std::size_t max_depth = 128;
  // The whole text, in bytes.
  std::size_t max_bytes = std::size_t{16} << 20;
};

enum class json_errc : std::uint8_t {
  too_large = 1,        // over max_bytes
  syntax,               // not JSON, invalid UTF-8, or text after the value
  too_deep,             // over max_depth
  number_out_of_range,  // an integer outside int64/uint64
  duplicate_key,        // one object names a key twice
};

// "too_deep", ... (stable names, used as error codes).
const char* to_string(json_errc e);

struct json_error {
  json_errc code = json_errc::syntax;
  std::string message;  // what was wrong, printable ASCII
};

expected<nlohmann::json, json_error> parse_json(std::string_view text, const json_limits& lim = {});

}  // namespace starling
