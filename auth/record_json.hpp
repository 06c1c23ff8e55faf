// Field readers shared by the JSON forms of token_record and trust_entry.
// Internal to auth/ (included by .cpp files only).
//
// Each reader checks presence and type and returns the first problem as an
// auth_error (malformed) naming the field; none of them throws past here
// except std::bad_alloc.
//
// Threading: pure functions; thread-safe.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "auth/identity.hpp"
#include "crdt/json_parse.hpp"
#include "auth/permissions.hpp"

namespace starling::auth::record_json {

inline auth_error field_error(const char* what, const char* field, const std::string& detail) {
  std::string msg = std::string(what) + ": field '" + field + "' " + detail;
  return {auth_errc::malformed, std::move(msg)};
}

// Reads fields of one JSON object; the first failure is kept in `error`.
class reader {
 public:
  reader(const nlohmann::json& obj, const char* what) : obj_(obj), what_(what) {
    if (!obj_.is_object()) error = auth_error{auth_errc::malformed, std::string(what) + ": not a JSON object"};
  }

  std::optional<auth_error> error;

  const nlohmann::json* get(const char* field) {
    if (error) return nullptr;
    auto it = obj_.find(field);
    if (it == obj_.end()) {
      fail(field, "is missing");
      return nullptr;
    }
    return &*it;
  }

  void string(const char* field, std::string& out, std::size_t max_bytes) {
    auto* v = get(field);
    if (!v) return;
    if (!v->is_string()) return fail(field, "is not a string");
    const auto& s = v->get_ref<const std::string&>();
    if (s.size() > max_bytes) return fail(field, "is longer than " + std::to_string(max_bytes) + " bytes");
    out = s;
  }

  void boolean(const char* field, bool& out) {
    auto* v = get(field);
    if (!v) return;
    if (!v->is_boolean()) return fail(field, "is not true or false");
    out = v->get<bool>();
  }

  // A non-negative integer that fits in int64.
  void time_ms(const char* field, std::int64_t& out) {
    auto* v = get(field);
    if (!v) return;
    if (v->is_number_unsigned()) {
      auto u = v->get<std::uint64_t>();
      if (u > static_cast<std::uint64_t>(INT64_MAX)) return fail(field, "is out of range");
      out = static_cast<std::int64_t>(u);
    } else if (v->is_number_integer()) {
      auto i = v->get<std::int64_t>();
      if (i < 0) return fail(field, "is negative");
      out = i;
    } else {
      return fail(field, "is not a non-negative integer (milliseconds since the epoch)");
    }
  }

  void perms(const char* field, permissions& out) {
    std::string text;
    string(field, text, 64);
    if (error) return;
    auto p = permissions::parse(text);
    if (!p) return fail(field, p.error().message);
    out = *p;
  }

  // A list of strings, each accepted by valid(), at most max_items.
  template <class Valid>
  void string_list(const char* field, std::vector<std::string>& out, std::size_t max_items, Valid valid) {
    auto* v = get(field);
    if (!v) return;
    if (!v->is_array()) return fail(field, "is not a list");
    if (v->size() > max_items) return fail(field, "has more than " + std::to_string(max_items) + " items");
    out.clear();
    for (std::size_t i = 0; i < v->size(); ++i) {
      const auto& item = (*v)[i];
      if (!item.is_string() || !valid(item.get_ref<const std::string&>()))
        return fail(field, "item " + std::to_string(i) + " is not a valid document pattern");
      out.push_back(item.get<std::string>());
    }
  }

  void fail(const char* field, const std::string& detail) {
    if (!error) error = field_error(what_, field, detail);
  }

 private:
  const nlohmann::json& obj_;
  const char* what_;
};

// Trust entries and token records are flat objects with one list; 256
// patterns of 128 bytes and a 4 KiB note fit well inside max_bytes.
inline constexpr json_limits record_limits{/*max_depth=*/8, /*max_bytes=*/std::size_t{256} << 10};

// Parses a record's JSON text with the project's guarded parser; the error
// says what was wrong ("an object repeats the key 'perm'").
inline expected<nlohmann::json, std::string> parse_text(std::string_view text) {
  auto j = parse_json(text, record_limits);
  if (!j) return make_unexpected(j.error().message);
  return std::move(*j);
}

}  // namespace starling::auth::record_json
