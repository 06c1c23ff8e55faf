#include "app/node_flags.hpp"

#include <CLI/CLI.hpp>

#include "app/config_keys.hpp"

namespace starling::app {

std::string node_flags::value(const std::string& path) const {
  for (auto it = keys.rbegin(); it != keys.rend(); ++it)
    if (it->first == path) return it->second;
  return {};
}

namespace {

// The help line: the table's meaning and type, without Markdown.
std::string help_of(const config_key& k) {
  std::string out = k.meaning + " (" + k.type + ")";
  std::string plain;
  for (char c : out)
    if (c != '`') plain += c;
  return plain;
}

// What --help shows as the value.
std::string value_name(const config_key& k) {
  switch (k.kind) {
    case key_kind::count:
    case key_kind::millis: return "N";
    case key_kind::host_port: return "HOST:PORT";
    default: return "TEXT";
  }
}

}  // namespace

void add_node_flags(CLI::App* cmd, node_flags& f, bool with_config) {
  if (with_config) cmd->add_option("--config", f.config_file, "JSON config file (default: DATA_DIR/starling.json if present)");
  for (auto& key : config_keys()) {
    if (key.flag.empty()) continue;
    const std::string* path = &key.path;  // the table lives as long as the process
    CLI::Option* opt = nullptr;
    if (key.kind == key_kind::list) {
      opt = cmd->add_option_function<std::vector<std::string>>(
          key.flag,
          [&f, path](const std::vector<std::string>& values) {
            for (auto& v : values) f.keys.emplace_back(*path, v);
          },
          help_of(key) + ", repeatable");
    } else {
      opt = cmd->add_option_function<std::string>(
          key.flag, [&f, path](const std::string& v) { f.keys.emplace_back(*path, v); }, help_of(key));
    }
    opt->type_name(value_name(key));
  }
}

expected<persistence::done, std::string> apply_flags(service_config& cfg, const node_flags& f) {
  for (auto& [path, text] : f.keys) {
    auto* key = find_config_key(path);
    if (!key) return config_error("unknown key '" + path + "'");
    auto r = apply_config_text(cfg, *key, text, key->flag, /*split=*/false);
    if (!r) return r;
  }
  return persistence::done{};
}

}  // namespace starling::app
