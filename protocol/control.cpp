#include "protocol/control.hpp"

#include <algorithm>
#include <iterator>
#include <new>
#include <nlohmann/json.hpp>

#include "crdt/json_parse.hpp"

namespace starling::protocol {

namespace {

using json = nlohmann::json;
// Encoding keeps insertion order so that "type" comes first in logs.
using ordered_json = nlohmann::ordered_json;

constexpr std::size_t max_unknown_code_shown = 64;

// ---------------------------------------------------------------- helpers

// Cuts s to at most n bytes without splitting a UTF-8 sequence.
void truncate_utf8(std::string& s, std::size_t n) {
  if (s.size() <= n) return;
  std::size_t cut = n;
  while (cut > 0 && (static_cast<unsigned char>(s[cut]) & 0xc0) == 0x80) --cut;
  s.resize(cut);
}

// Peer-supplied text quoted in a message: printable ASCII only, bounded, so
// that it cannot forge log lines.
std::string printable(std::string_view s, std::size_t max) {
  std::string out;
  for (char c : s.substr(0, max)) out.push_back(c >= 0x20 && c < 0x7f ? c : '?');
  if (s.size() > max) out += "...";
  return out;
}

template <std::size_t N>
std::optional<fixed_bytes<N>> lower_hex(std::string_view hex) {
  if (hex.size() != 2 * N) return std::nullopt;
  fixed_bytes<N> out;
  for (std::size_t i = 0; i < N; ++i) {
    int v[2];
    for (int k = 0; k < 2; ++k) {
      char c = hex[2 * i + k];
      if (c >= '0' && c <= '9') v[k] = c - '0';
      else if (c >= 'a' && c <= 'f') v[k] = c - 'a' + 10;
      else return std::nullopt;
    }
    out.v[i] = static_cast<std::uint8_t>(v[0] * 16 + v[1]);
  }
  return out;
}

std::string dump(const ordered_json& j) {
  // replace: an invalid UTF-8 byte in a reason must not throw.
  return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

ordered_json frontier_to_json(const starling::frontier& f) {
  ordered_json arr = ordered_json::array();
  for (auto& [author, head] : f)
    arr.push_back(ordered_json{{"author", to_hex(author)}, {"seq", head.seq}, {"head", to_hex(head.hash)}});
  return arr;
}

ordered_json with_type(const char* type) {
  ordered_json j = ordered_json::object();
  j["type"] = type;
  return j;
}

// Reads typed fields out of one JSON object; the first failure is kept.
class fields {
 public:
  fields(const json& obj, const protocol_limits& lim, std::string prefix = {})
      : obj_(obj), lim_(lim), prefix_(std::move(prefix)) {}

  std::optional<protocol_error> error;

  bool fail(errc c, const std::string& msg) {
    if (!error) error = protocol_error{c, msg};
    return false;
  }
  std::string name(const char* f) const { return prefix_ + f; }

  const json* find(const char* f) const {
    auto it = obj_.find(f);
    return it == obj_.end() ? nullptr : &*it;
  }
  const json* require(const char* f) {
    auto v = find(f);
    if (!v) fail(errc::bad_field, "missing field '" + name(f) + "'");
    return v;
  }

  bool string(const char* f, std::string& out, std::size_t max) {
    auto v = require(f);
    if (!v) return false;
    return string_value(*v, f, out, max);
  }
  // Absent or null -> nullopt.
  bool optional_string(const char* f, std::optional<std::string>& out, std::size_t max) {
    auto v = find(f);
    if (!v || v->is_null()) {
      out.reset();
      return true;
    }
    std::string s;
    if (!string_value(*v, f, s, max)) return false;
    out = std::move(s);
    return true;
  }
  bool doc(const char* f, std::string& out) {
    if (!string(f, out, max_doc_name + 1)) return false;
    return check_doc(f, out);
  }
  bool optional_doc(const char* f, std::optional<std::string>& out) {
    if (!optional_string(f, out, max_doc_name + 1)) return false;
    return !out || check_doc(f, *out);
  }
  bool u64(const char* f, std::uint64_t& out) {
    auto v = require(f);
    if (!v) return false;
    if (!v->is_number_unsigned()) return fail(errc::bad_field, "field '" + name(f) + "' must be a non-negative integer");
    out = v->get<std::uint64_t>();
    return true;
  }
  template <std::size_t N>
  bool hex(const char* f, fixed_bytes<N>& out) {
    auto v = require(f);
    if (!v) return false;
    const std::string* s = v->is_string() ? v->get_ptr<const std::string*>() : nullptr;
    auto b = s ? lower_hex<N>(*s) : std::nullopt;
    if (!b)
      return fail(errc::bad_field, "field '" + name(f) + "' must be " + std::to_string(2 * N) +
                                       " lowercase hex characters");
    out = *b;
    return true;
  }
  bool versions(const char* f, std::vector<std::uint32_t>& out) {
    auto v = require(f);
    if (!v) return false;
    if (!v->is_array() || v->empty())
      return fail(errc::bad_field, "field '" + name(f) + "' must be a non-empty array of versions");
    if (v->size() > lim_.max_versions)
      return fail(errc::too_large, "field '" + name(f) + "' lists more than " +
                                       std::to_string(lim_.max_versions) + " versions");
    for (auto& e : *v) {
      if (!e.is_number_unsigned() || e.get<std::uint64_t>() > 0xffffffffu)
        return fail(errc::bad_field, "field '" + name(f) + "' must hold 32-bit unsigned integers");
      out.push_back(static_cast<std::uint32_t>(e.get<std::uint64_t>()));
    }
    return true;
  }
  bool frontier(const char* f, starling::frontier& out) {
    auto v = require(f);
    if (!v) return false;
    if (!v->is_array()) return fail(errc::bad_field, "field '" + name(f) + "' must be an array");
    if (v->size() > lim_.max_frontier_entries)
      return fail(errc::too_large, "field '" + name(f) + "' has more than " +
                                       std::to_string(lim_.max_frontier_entries) + " entries");
    for (std::size_t i = 0; i < v->size(); ++i) {
      const json& e = (*v)[i];
      std::string at = name(f) + "[" + std::to_string(i) + "]";
      if (!e.is_object()) return fail(errc::bad_field, "'" + at + "' must be an object");
      fields ef(e, lim_, at + ".");
      public_key author;
      chain_head head;
      bool ok = ef.hex("author", author) && ef.u64("seq", head.seq) && ef.hex("head", head.hash);
      if (!ok) return fail(ef.error->code, ef.error->message);
      if (head.seq == 0) return fail(errc::bad_field, "'" + at + ".seq' must be at least 1");
      if (!out.emplace(author, head).second)
        return fail(errc::bad_field, "'" + at + ".author' repeats an earlier entry");
    }
    return true;
  }

 private:
  bool string_value(const json& v, const char* f, std::string& out, std::size_t max) {
    if (!v.is_string()) return fail(errc::bad_field, "field '" + name(f) + "' must be a string");
    const auto& s = *v.get_ptr<const std::string*>();
    if (s.size() > max)
      return fail(errc::too_large, "field '" + name(f) + "' is longer than " + std::to_string(max) + " bytes");
    out = s;
    return true;
  }
  bool check_doc(const char* f, const std::string& d) {
    if (!valid_doc_name(d))
      return fail(errc::bad_field, "field '" + name(f) + "' is not a document name ([A-Za-z0-9._-]{1,128})");
    return true;
  }

  const json& obj_;
  const protocol_limits& lim_;
  std::string prefix_;
};

template <class T>
expected<control_frame, protocol_error> done(fields& in, T&& frame, bool ok) {
  if (!ok) return make_unexpected(*in.error);
  return control_frame(std::forward<T>(frame));
}

expected<control_frame, protocol_error> decode_object(const json& j, const protocol_limits& lim) {
  fields in(j, lim);
  std::string type;
  if (!in.string("type", type, 256)) return make_unexpected(*in.error);

  if (type == "hello") {
    hello_frame f;
    bool ok = in.versions("versions", f.versions) && in.hex("node_id", f.node_id) &&
              in.hex("nonce", f.challenge) && in.hex("ephemeral_key", f.ephemeral_key) &&
              in.optional_string("token", f.token, lim.max_token_bytes);
    return done(in, std::move(f), ok);
  }
  if (type == "auth") {
    auth_frame f;
    bool ok = in.hex("signature", f.sig);
    return done(in, std::move(f), ok);
  }
  if (type == "frontier") {
    frontier_frame f;
    bool ok = in.doc("doc", f.doc) && in.frontier("frontier", f.heads);
    return done(in, std::move(f), ok);
  }
  if (type == "ready") {
    ready_frame f;
    bool ok = in.doc("doc", f.doc);
    return done(in, std::move(f), ok);
  }
  if (type == "error") {
    error_frame f;
    std::string code;
    // Long reasons are cut rather than refused: the frame is only informative.
    bool ok = in.string("code", code, 4096) && in.string("reason", f.reason, std::string::npos) &&
              in.optional_doc("doc", f.doc);
    if (ok) {
      if (auto c = errc_from_string(code)) {
        f.code = *c;
      } else {
        f.code = errc::unrecognized;
        f.reason = printable(code, max_unknown_code_shown) + ": " + f.reason;
      }
      truncate_utf8(f.reason, lim.max_reason_bytes);
    }
    return done(in, std::move(f), ok);
  }
  if (type == "snapshot") {
    snapshot_frame f;
    bool ok = in.doc("doc", f.doc) && in.frontier("frontier", f.at) && in.u64("size", f.size) &&
              in.hex("digest", f.digest);
    if (ok && f.size > lim.max_snapshot_bytes)
      return make_unexpected(protocol_error{errc::too_large, "snapshot size " + std::to_string(f.size) +
                                                                 " exceeds the limit of " +
                                                                 std::to_string(lim.max_snapshot_bytes)});
    return done(in, std::move(f), ok);
  }
  return make_unexpected(
      protocol_error{errc::unknown_type, "unknown control frame type '" + printable(type, 32) + "'"});
}

}  // namespace

std::vector<std::uint32_t> supported_versions() { return {protocol_version}; }

const char* type_name(const control_frame& f) {
  static const char* names[] = {"hello", "auth", "frontier", "ready", "error", "snapshot"};
  return f.index() < std::size(names) ? names[f.index()] : "invalid";  // valueless_by_exception
}

std::string encode(const hello_frame& f) {
  auto j = with_type("hello");
  j["versions"] = f.versions;
  j["node_id"] = to_hex(f.node_id);
  j["nonce"] = to_hex(f.challenge);
  j["ephemeral_key"] = to_hex(f.ephemeral_key);
  if (f.token) j["token"] = *f.token;
  return dump(j);
}

std::string encode(const auth_frame& f) {
  auto j = with_type("auth");
  j["signature"] = to_hex(f.sig);
  return dump(j);
}

std::string encode(const frontier_frame& f) {
  auto j = with_type("frontier");
  j["doc"] = f.doc;
  j["frontier"] = frontier_to_json(f.heads);
  return dump(j);
}

std::string encode(const ready_frame& f) {
  auto j = with_type("ready");
  j["doc"] = f.doc;
  return dump(j);
}

std::string encode(const error_frame& f) {
  auto j = with_type("error");
  j["code"] = to_string(f.code);
  std::string reason = f.reason;
  truncate_utf8(reason, default_max_reason_bytes);
  j["reason"] = std::move(reason);
  if (f.doc) j["doc"] = *f.doc;
  return dump(j);
}

std::string encode(const snapshot_frame& f) {
  auto j = with_type("snapshot");
  j["doc"] = f.doc;
  j["frontier"] = frontier_to_json(f.at);
  j["size"] = f.size;
  j["digest"] = to_hex(f.digest);
  return dump(j);
}

std::string encode(const control_frame& f) {
  return std::visit([](const auto& x) { return encode(x); }, f);
}

expected<control_frame, protocol_error> decode_control(std::string_view text, const protocol_limits& lim) {
  if (text.size() > lim.max_frame_bytes)
    return make_unexpected(protocol_error{errc::too_large, "control frame of " + std::to_string(text.size()) +
                                                               " bytes exceeds the limit of " +
                                                               std::to_string(lim.max_frame_bytes)});
  try {
    // The project's one guarded parse: nesting is bounded while reading,
    // repeated keys and integers beyond 64 bits are refused.
    auto parsed = parse_json(text, json_limits{lim.max_json_depth, lim.max_frame_bytes});
    if (!parsed) return make_unexpected(protocol_error{errc::malformed, parsed.error().message});
    const json& j = *parsed;
    if (!j.is_object()) return make_unexpected(protocol_error{errc::malformed, "a control frame is a JSON object"});
    return decode_object(j, lim);
  } catch (const std::bad_alloc&) {
    return make_unexpected(protocol_error{errc::internal, "out of memory decoding a control frame"});
  } catch (const std::exception& e) {
    // Should not happen: every access above is type-checked first.
    return make_unexpected(protocol_error{errc::malformed, std::string("control frame: ") + e.what()});
  }
}

error_frame to_error_frame(const protocol_error& e, std::optional<std::string> doc) {
  error_frame f;
  f.code = e.code;
  f.reason = e.message;
  truncate_utf8(f.reason, default_max_reason_bytes);
  f.doc = std::move(doc);
  return f;
}

expected<std::uint32_t, protocol_error> choose_version(const std::vector<std::uint32_t>& ours,
                                                       const std::vector<std::uint32_t>& theirs) {
  std::optional<std::uint32_t> best;
  for (auto v : ours)
    if (std::find(theirs.begin(), theirs.end(), v) != theirs.end() && (!best || v > *best)) best = v;
  if (best) return *best;
  auto list = [](const std::vector<std::uint32_t>& vs) {
    std::string s = "[";
    for (std::size_t i = 0; i < vs.size() && i < 16; ++i) s += (i ? "," : "") + std::to_string(vs[i]);
    return s + (vs.size() > 16 ? ",...]" : "]");
  };
  return make_unexpected(protocol_error{errc::unsupported_version, "no protocol version in common: we speak " +
                                                                       list(ours) + ", the peer speaks " +
                                                                       list(theirs)});
}

bool operator==(const hello_frame& a, const hello_frame& b) {
  return a.versions == b.versions && a.node_id == b.node_id && a.challenge == b.challenge &&
         a.ephemeral_key == b.ephemeral_key && a.token == b.token;
}
bool operator==(const auth_frame& a, const auth_frame& b) { return a.sig == b.sig; }
bool operator==(const frontier_frame& a, const frontier_frame& b) { return a.doc == b.doc && a.heads == b.heads; }
bool operator==(const ready_frame& a, const ready_frame& b) { return a.doc == b.doc; }
bool operator==(const error_frame& a, const error_frame& b) {
  return a.code == b.code && a.reason == b.reason && a.doc == b.doc;
}
bool operator==(const snapshot_frame& a, const snapshot_frame& b) {
  return a.doc == b.doc && a.at == b.at && a.size == b.size && a.digest == b.digest;
}

}  // namespace starling::protocol
