// The configuration keys of `starling serve`, written once.
//
// Each key has its path in the JSON file (`limits.frame_bytes`), its
// STARLING_* variable and command-line flag if it has them, its type and
// range, a one-line meaning, a getter (the default shown in the reference is
// the getter applied to default_service_config()) and the one setter that
// parses and applies a value. The file reader, the environment reader and
// the flag parser all go through that setter, so the three sources accept
// the same values and refuse the others with the same message, naming the
// key as the user wrote it (`limits.frame_bytes`,
// `STARLING_LIMITS_FRAME_BYTES`, `--limits-frame-bytes`). README.md's
// configuration reference is generated from this table
// (`starling config reference`).
//
// Threading: the table is built once (thread-safe static) and never changed;
// the functions are pure over their arguments.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "crdt/expected.hpp"
#include "persistence/store.hpp"

namespace starling::app {

struct service_config;

using config_result = expected<persistence::done, std::string>;

enum class key_kind {
  text,       // a string (may be null when `nullable`)
  host_port,  // "host:port" (may be null when `nullable`)
  choice,     // one of `choices`
  count,      // an integer in [min, max]
  millis,     // milliseconds in [min, max]
  list,       // an array; the setter applies one element
};

struct config_key {
  std::string path;  // in the JSON file; a dot descends into an object
  std::string env;   // empty: no variable
  std::string flag;  // empty: no flag
  key_kind kind = key_kind::text;
  std::string type;  // as the reference shows it
  std::uint64_t min = 0, max = 0;  // count and millis
  std::vector<std::string> choices;
  bool nullable = false;      // an empty variable or flag value means null
  bool required = false;      // validate() refuses the default
  bool env_replaces = false;  // lists: the variable replaces the list (else it adds, as the flag does)
  bool secret = false;        // never written to the file `init` writes
  bool init_writes = false;   // `init` writes it even when it has its default
  std::string meaning;
  // A value the key accepts, as a variable would hold it (tests use it).
  std::string example;

  // The value now, as the file holds it.
  std::function<nlohmann::json(const service_config&)> get;
  // Applies one value (for a list, one element). `name` is the key as the
  // user wrote it: the path (with an index), the variable or the flag.
  std::function<config_result(service_config&, const nlohmann::json&, const std::string& name)> set;
  std::function<void(service_config&)> clear;  // lists only
};

// Every key, in the order of the reference.
const std::vector<config_key>& config_keys();
// The key at a JSON path, or nullptr.
const config_key* find_config_key(const std::string& path);

// "config: <msg>", the form every configuration error takes.
config_result config_error(std::string msg);

// Applies a value given as text (a variable or a flag; `name` is which).
// Lists take one element here unless `split` (a variable: comma-separated,
// replacing the list when the key says so).
config_result apply_config_text(service_config& cfg, const config_key& key, const std::string& text,
                                const std::string& name, bool split);

// The configuration reference: a Markdown table, one row per key, with
// the defaults of default_service_config(). README.md holds it verbatim.
std::string config_reference_markdown();

}  // namespace starling::app
