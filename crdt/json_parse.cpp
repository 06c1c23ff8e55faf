#include "crdt/json_parse.hpp"

#include <optional>
#include <utility>
#include <vector>

namespace starling {

namespace {

using json = nlohmann::json;

constexpr std::size_t max_quoted_bytes = 64;  // of input text quoted in a message

// Input text in a message: printable ASCII only, bounded.
std::string printable(std::string_view s, std::size_t max = max_quoted_bytes) {
  std::string out;
  for (char c : s.substr(0, max)) out.push_back(c >= 0x20 && c < 0x7f ? c : '?');
  if (s.size() > max) out += "...";
  return out;
}

// Builds the tree as nlohmann's own DOM parser does, but checks depth,
// integer range and duplicate keys at each event, and stops the parser at
// the first problem (a SAX handler returning false ends sax_parse at once).
class guarded_builder : public nlohmann::json_sax<json> {
 public:
  explicit guarded_builder(const json_limits& lim) : lim_(lim) {}

  json root;
  std::optional<json_error> error;

  bool null() override { return put(nullptr); }
  bool boolean(bool v) override { return put(v); }
  bool number_integer(number_integer_t v) override { return put(v); }
  bool number_unsigned(number_unsigned_t v) override { return put(v); }
  bool number_float(number_float_t v, const string_t& text) override {
    // The library reads an integer too large for 64 bits as a double; the
    // text tells them apart.
    if (text.find_first_of(".eE") == string_t::npos)
      return fail(json_errc::number_out_of_range, "the integer " + printable(text) + " is outside the 64-bit range");
    return put(v);
  }
  bool string(string_t& v) override { return put(std::move(v)); }
  bool binary(binary_t&) override { return fail(json_errc::syntax, "binary values are not JSON text"); }

  bool start_object(std::size_t) override { return open(json::value_t::object); }
  bool key(string_t& k) override {
    json& obj = *open_.back();
    if (obj.contains(k)) return fail(json_errc::duplicate_key, "an object repeats the key '" + printable(k) + "'");
    slot_ = &obj[k];
    return true;
  }
  bool end_object() override { return close(); }
  bool start_array(std::size_t) override { return open(json::value_t::array); }
  bool end_array() override { return close(); }

  bool parse_error(std::size_t position, const std::string&, const nlohmann::detail::exception& e) override {
    // what() is "[json.exception.parse_error.101] parse error at line 1, ...".
    std::string_view what = e.what();
    auto bracket = what.find("] ");
    if (bracket != std::string_view::npos) what.remove_prefix(bracket + 2);
    return fail(json_errc::syntax, "not valid JSON (byte " + std::to_string(position) + "): " + printable(what, 200));
  }

 private:
  // Where the next value goes: the root, the end of the open array, or the
  // slot the last key made in the open object.
  json* place(json&& v) {
    if (open_.empty()) {
      root = std::move(v);
      return &root;
    }
    json& parent = *open_.back();
    if (parent.is_array()) {
      parent.get_ref<json::array_t&>().push_back(std::move(v));
      return &parent.get_ref<json::array_t&>().back();
    }
    *slot_ = std::move(v);
    return slot_;
  }
  bool put(json&& v) {
    place(std::move(v));
    return true;
  }
  bool open(json::value_t t) {
    if (open_.size() >= lim_.max_depth)
      return fail(json_errc::too_deep, "JSON nests deeper than " + std::to_string(lim_.max_depth) + " levels");
    // A pointer into the parent stays valid while this container is open:
    // the parent gets no other element before this one closes.
    open_.push_back(place(json(t)));
    return true;
  }
  bool close() {
    open_.pop_back();
    return true;
  }
  bool fail(json_errc c, std::string msg) {
    if (!error) error = json_error{c, std::move(msg)};
    return false;
  }

  const json_limits& lim_;
  std::vector<json*> open_;  // the containers being filled, outermost first
  json* slot_ = nullptr;
};

}  // namespace

const char* to_string(json_errc e) {
  switch (e) {
    case json_errc::too_large: return "too_large";
    case json_errc::syntax: return "syntax";
    case json_errc::too_deep: return "too_deep";
    case json_errc::number_out_of_range: return "number_out_of_range";
    case json_errc::duplicate_key: return "duplicate_key";
  }
  return "unknown";
}

expected<nlohmann::json, json_error> parse_json(std::string_view text, const json_limits& lim) {
  if (text.size() > lim.max_bytes)
    return make_unexpected(json_error{json_errc::too_large, "JSON text of " + std::to_string(text.size()) +
                                                                " bytes exceeds the limit of " +
                                                                std::to_string(lim.max_bytes)});
  guarded_builder b(lim);
  bool ok = false;
  try {
    ok = json::sax_parse(text.begin(), text.end(), &b);
  } catch (const std::bad_alloc&) {
    throw;
  } catch (const std::exception& e) {
    // sax_parse reports errors through parse_error; this is a fallback.
    return make_unexpected(json_error{json_errc::syntax, "not valid JSON: " + printable(e.what(), 200)});
  }
  if (b.error) return make_unexpected(std::move(*b.error));
  if (!ok) return make_unexpected(json_error{json_errc::syntax, "not valid JSON"});
  return std::move(b.root);
}

}  // namespace starling
