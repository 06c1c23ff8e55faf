// The flags of `init` and `serve` that set configuration keys: one flag per
// key of app/config_keys.hpp that has one, applied by the key's own setter
// after the file and the environment.
//
// Threading: called once from main (and from tests).
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "app/service_config.hpp"

namespace CLI {
class App;
}

namespace starling::app {

struct node_flags {
  std::string config_file;  // --config (serve only)
  // The keys given, in the order given: (key path, the flag's text).
  std::vector<std::pair<std::string, std::string>> keys;

  // The last value given for `path`, or "" if none.
  std::string value(const std::string& path) const;
};

// Declares --config (when `with_config`) and every key's flag on `cmd`,
// storing what is given into `f` (which must outlive parsing).
void add_node_flags(CLI::App* cmd, node_flags& f, bool with_config);

// Applies the flags over `cfg`; errors name the flag.
expected<persistence::done, std::string> apply_flags(service_config& cfg, const node_flags& f);

}  // namespace starling::app
