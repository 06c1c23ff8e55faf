// Local writes: JSON Pointer mutations resolved against the current state
// into one signed change, and pointer reads.
#include <cmath>
#include <limits>

#include "crdt/document.hpp"
#include "crdt/varint.hpp"

namespace starling::crdt {

namespace {

// RFC 6901 tokens; nullopt on bad syntax.
std::optional<std::vector<std::string>> parse_pointer(std::string_view p) {
  std::vector<std::string> out;
  if (p.empty()) return out;
  if (p[0] != '/') return std::nullopt;
  std::string cur;
  for (std::size_t i = 1; i <= p.size(); ++i) {
    if (i == p.size() || p[i] == '/') {
      out.push_back(std::move(cur));
      cur.clear();
      continue;
    }
    if (p[i] == '~') {
      if (i + 1 >= p.size() || (p[i + 1] != '0' && p[i + 1] != '1')) return std::nullopt;
      cur.push_back(p[i + 1] == '0' ? '~' : '/');
      ++i;
      continue;
    }
    cur.push_back(p[i]);
  }
  return out;
}

// "0" or [1-9][0-9]*, within 32 bits.
std::optional<std::uint32_t> parse_index(const std::string& t) {
  if (t.empty() || t.size() > 10 || (t.size() > 1 && t[0] == '0')) return std::nullopt;
  std::uint64_t v = 0;
  for (char c : t) {
    if (c < '0' || c > '9') return std::nullopt;
    v = v * 10 + static_cast<std::uint64_t>(c - '0');
  }
  if (v >= npos32) return std::nullopt;
  return static_cast<std::uint32_t>(v);
}

bool visible(const reg& r) { return r.k != reg::kind::absent || r.inc_count > 0; }

std::string prefix_path(const std::vector<std::string>& tokens, std::size_t n) {
  std::string out;
  for (std::size_t i = 0; i < n; ++i) {
    out += '/';
    for (char c : tokens[i]) {
      if (c == '~') out += "~0";
      else if (c == '/') out += "~1";
      else out += c;
    }
  }
  return out;
}

}  // namespace

expected<mutation, std::string> parse_mutation(const nlohmann::json& j) {
  if (!j.is_object()) return make_unexpected(std::string("a mutation must be a JSON object"));
  auto op = j.find("op");
  if (op == j.end() || !op->is_string()) return make_unexpected(std::string("mutation field 'op' must be a string"));
  mutation m;
  const auto& name = op->get_ref<const std::string&>();
  if (name == "set") m.k = mutation::kind::set;
  else if (name == "del") m.k = mutation::kind::del;
  else if (name == "ins") m.k = mutation::kind::ins;
  else if (name == "rm") m.k = mutation::kind::rm;
  else if (name == "inc") m.k = mutation::kind::inc;
  else return make_unexpected("unknown mutation op '" + name + "' (set, del, ins, rm, inc)");
  auto path = j.find("path");
  if (path == j.end() || !path->is_string()) return make_unexpected(std::string("mutation field 'path' must be a string"));
  m.path = path->get<std::string>();
  bool needs_value = m.k == mutation::kind::set || m.k == mutation::kind::ins || m.k == mutation::kind::inc;
  auto value = j.find("value");
  if (needs_value && value == j.end()) return make_unexpected("mutation '" + name + "' needs a 'value'");
  if (value != j.end()) m.value = *value;
  return m;
}

// Builds a local change op by op, applying each op as it is made so that
// later mutations of the batch see earlier ones; undoes everything on error.
class change_builder {
 public:
  change_builder(document& d, const crypto::keypair& kp, std::uint64_t wall_ms)
      : d_(d), s_(d.state_), kp_(kp), ref_(static_cast<std::uint32_t>(s_.changes.size())),
        time_(hlc(d.clock_).tick(wall_ms)), applier_(s_, ref_, time_, &undo_) {
    c_.doc = d.name_;
    c_.author = kp.pk;
    c_.seq = d.chain_length(kp.pk) + 1;
    if (c_.seq > 1) c_.prev = d.chain_at(kp.pk, c_.seq - 1)->hash;
    for (auto& h : d.heads_)
      if (!(c_.seq > 1 && h == c_.prev)) c_.deps.push_back(h);  // std::set: already sorted
    c_.time = time_;
    author_ = s_.intern_author(kp.pk);
    // A placeholder entry so that op ordering works while building; the hash
    // is filled in after signing (it only breaks ties this change cannot have).
    s_.changes.push_back(change_meta{hash256{}, c_.seq, c_.time, author_, 0});
  }

  expected<change, mutation_error> build(const std::vector<mutation>& batch) {
    if (batch.empty()) return fail(0, "", "a change needs at least one mutation");
    auto q = d_.quarantine_.find(kp_.pk);
    if (q != d_.quarantine_.end() && c_.seq >= q->second)
      return fail(0, "", "this author is quarantined in this document (fork proof)");
    for (std::size_t i = 0; i < batch.size(); ++i) {
      index_ = i;
      path_ = batch[i].path;
      if (!one(batch[i])) return fail(i, path_, error_);
    }
    s_.changes[ref_].n_ops = static_cast<std::uint32_t>(c_.ops.size());
    if (encode_unsigned(c_).size() + 64 > d_.limits_.codec.max_encoded_bytes)
      return fail(batch.size() - 1, path_, "the change exceeds the size limit");
    sign(c_, kp_);
    s_.changes[ref_].hash = c_.hash;
    s_.index_change(ref_);
    if (d_.chain_.size() <= author_) d_.chain_.resize(author_ + 1);
    d_.record_applied(c_, ref_, author_, nullptr, c_.encoded);
    return c_;
  }

 private:
  expected<change, mutation_error> fail(std::size_t i, std::string path, std::string msg) {
    for (auto it = undo_.rbegin(); it != undo_.rend(); ++it) (*it)();
    s_.changes.pop_back();
    if (author_ + 1 == s_.authors.size() && (d_.chain_.size() <= author_ || d_.chain_[author_].empty())) {
      s_.author_index.erase(s_.authors.back());
      s_.authors.pop_back();
    }
    return make_unexpected(mutation_error{i, std::move(path), std::move(msg)});
  }
  bool error(std::string m) {
    error_ = std::move(m);
    return false;
  }

  // Checks and applies one op; no_op if the state refuses it (only the
  // nesting limit can: everything else was resolved against the state).
  op_id emit(op o) {
    auto index = static_cast<std::uint32_t>(c_.ops.size());
    auto chk = applier_.check(o, index);
    if (chk.r != op_check::result::ok) {
      error(chk.message);
      return no_op;
    }
    applier_.apply(o, index);
    c_.ops.push_back(std::move(o));
    return make_op_id(ref_, index);
  }
  op_ref ref(op_id id) const { return s_.ref_to(id, ref_); }

  struct location {
    op_id obj = root_object;
    bool is_list = false;
    std::string key;             // map
    std::uint32_t pos = npos32;  // list: arena position of the element, npos32 if none
    std::string token;
  };

  // Resolves every token but the last; the last names the place.
  bool locate(const std::string& path, location& loc) {
    auto tokens = parse_pointer(path);
    if (!tokens) return error("invalid JSON Pointer");
    if (tokens->empty()) return error("the root cannot be replaced or removed; address its keys");
    op_id cur = root_object;
    for (std::size_t i = 0; i + 1 < tokens->size(); ++i) {
      const object& o = s_.objects.at(cur);
      const reg* r = nullptr;
      if (o.is_list) {
        auto n = parse_index((*tokens)[i]);
        auto pos = n ? o.nth_visible(*n) : npos32;
        if (pos != npos32) r = &o.elems[pos].value;
      } else {
        auto it = o.entries.find((*tokens)[i]);
        if (it != o.entries.end() && visible(it->second)) r = &it->second;
      }
      if (!r) return error("no such path " + prefix_path(*tokens, i + 1));
      if (r->k != reg::kind::map && r->k != reg::kind::list)
        return error(prefix_path(*tokens, i + 1) + " is not an object or array");
      cur = r->winner;
    }
    const object& o = s_.objects.at(cur);
    loc.obj = cur;
    loc.is_list = o.is_list;
    loc.token = tokens->back();
    if (!o.is_list) {
      loc.key = loc.token;
      if (!wire::valid_utf8(loc.key)) return error("key is not UTF-8");
      if (loc.key.size() > d_.limits_.codec.max_key_bytes) return error("key too long");
    }
    return true;
  }

  bool existing_elem(location& loc) {
    auto n = parse_index(loc.token);
    if (!n) return error("'" + loc.token + "' is not an array index");
    loc.pos = s_.objects.at(loc.obj).nth_visible(*n);
    if (loc.pos == npos32) return error("index " + loc.token + " is past the end of the array");
    return true;
  }

  bool to_scalar(const nlohmann::json& v, scalar& out) {
    switch (v.type()) {
      case nlohmann::json::value_t::null: out = std::monostate{}; return true;
      case nlohmann::json::value_t::boolean: out = v.get<bool>(); return true;
      case nlohmann::json::value_t::number_integer: out = v.get<std::int64_t>(); return true;
      case nlohmann::json::value_t::number_unsigned: {
        auto u = v.get<std::uint64_t>();
        if (u > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()))
          return error("integer out of the int64 range");
        out = static_cast<std::int64_t>(u);
        return true;
      }
      case nlohmann::json::value_t::number_float: {
        double d = v.get<double>();
        if (!std::isfinite(d)) return error("numbers must be finite");
        out = d;
        return true;
      }
      case nlohmann::json::value_t::string: {
        const auto& s = v.get_ref<const std::string&>();
        if (!wire::valid_utf8(s)) return error("string is not UTF-8");
        out = s;
        return true;
      }
      default: return error("unsupported JSON value");
    }
  }

  // Writes a JSON value at a place: scalars as set/ins, objects and arrays as
  // make_map/make_list followed by their contents.
  bool put_value(op base, const nlohmann::json& v, std::size_t depth) {
    if (depth > d_.limits_.max_value_depth) return error("value nested too deeply");
    if (c_.ops.size() >= d_.limits_.max_ops_per_change) return error("the change has too many ops");
    if (v.is_object() || v.is_array()) {
      base.kind = v.is_object() ? op_kind::make_map : op_kind::make_list;
      base.value = {};
      op_id container = emit(std::move(base));
      if (container == no_op) return false;
      if (v.is_object()) {
        for (auto it = v.begin(); it != v.end(); ++it) {
          if (!wire::valid_utf8(it.key())) return error("key is not UTF-8");
          if (it.key().size() > d_.limits_.codec.max_key_bytes) return error("key too long");
          op child;
          child.kind = op_kind::set;
          child.obj = ref(container);
          child.place = place_kind::map_key;
          child.key = it.key();
          if (!put_value(std::move(child), *it, depth + 1)) return false;
        }
      } else {
        op_id after = no_op;
        for (auto& item : v) {
          op child;
          child.kind = op_kind::ins;
          child.obj = ref(container);
          child.place = place_kind::list_after;
          child.elem = ref(after);
          auto before = c_.ops.size();
          if (!put_value(std::move(child), item, depth + 1)) return false;
          after = make_op_id(ref_, static_cast<std::uint32_t>(before));
        }
      }
      return true;
    }
    if (!to_scalar(v, base.value)) return false;
    if (base.kind != op_kind::ins) base.kind = op_kind::set;
    return emit(std::move(base)) != no_op;
  }

  bool one(const mutation& m) {
    location loc;
    if (!locate(m.path, loc)) return false;
    op o;
    o.obj = ref(loc.obj);
    const object& obj = s_.objects.at(loc.obj);
    switch (m.k) {
      case mutation::kind::set:
        if (loc.is_list) {
          if (loc.token == "-") return error("use ins to append to an array");
          if (!existing_elem(loc)) return false;
          o.place = place_kind::list_elem;
          o.elem = ref(obj.elems[loc.pos].id);
        } else {
          o.place = place_kind::map_key;
          o.key = loc.key;
        }
        o.kind = op_kind::set;
        return put_value(std::move(o), m.value, 0);
      case mutation::kind::ins: {
        if (!loc.is_list) return error("ins needs an array index as the last token");
        std::uint32_t n;
        if (loc.token == "-") n = obj.visible;
        else {
          auto idx = parse_index(loc.token);
          if (!idx) return error("'" + loc.token + "' is not an array index");
          if (*idx > obj.visible) return error("index " + loc.token + " is past the end of the array");
          n = *idx;
        }
        o.kind = op_kind::ins;
        o.place = place_kind::list_after;
        o.elem = n == 0 ? op_ref::none() : ref(obj.elems[obj.nth_visible(n - 1)].id);
        return put_value(std::move(o), m.value, 0);
      }
      case mutation::kind::del:
      case mutation::kind::rm:
        if (loc.is_list) {
          if (!existing_elem(loc)) return false;
          o.kind = op_kind::rm;
          o.place = place_kind::list_elem;
          o.elem = ref(obj.elems[loc.pos].id);
        } else {
          if (m.k == mutation::kind::rm) return error("rm removes an array element; use del for a key");
          auto it = obj.entries.find(loc.key);
          if (it == obj.entries.end() || !visible(it->second)) return error("no such key");
          o.kind = op_kind::del;
          o.place = place_kind::map_key;
          o.key = loc.key;
        }
        return emit(std::move(o)) != no_op;
      case mutation::kind::inc: {
        scalar delta;
        if (!m.value.is_number_integer() || !to_scalar(m.value, delta))
          return error("inc needs an integer value");
        const reg* r = nullptr;
        if (loc.is_list) {
          if (!existing_elem(loc)) return false;
          r = &obj.elems[loc.pos].value;
          o.place = place_kind::list_elem;
          o.elem = ref(obj.elems[loc.pos].id);
        } else {
          auto it = obj.entries.find(loc.key);
          if (it != obj.entries.end()) r = &it->second;
          o.place = place_kind::map_key;
          o.key = loc.key;
        }
        if (r && r->k != reg::kind::absent &&
            !(r->k == reg::kind::scalar && std::holds_alternative<std::int64_t>(r->value)))
          return error("inc needs an integer or a missing key at the path");
        o.kind = op_kind::inc;
        o.delta = std::get<std::int64_t>(delta);
        o.target = r ? ref(r->winner) : op_ref::none();
        return emit(std::move(o)) != no_op;
      }
    }
    return error("unknown mutation");
  }

  document& d_;
  doc_state& s_;
  const crypto::keypair& kp_;
  std::uint32_t ref_;
  std::uint64_t time_;
  std::uint32_t author_ = 0;
  undo_log undo_;
  doc_state::change_applier applier_;
  change c_;
  std::size_t index_ = 0;
  std::string path_;
  std::string error_;
};

expected<change, mutation_error> document::make_change(const std::vector<mutation>& batch,
                                                       const crypto::keypair& author,
                                                       std::uint64_t wall_ms) {
  change_builder b(*this, author, wall_ms);
  return b.build(batch);
}

std::optional<nlohmann::json> document::read(std::string_view pointer) const {
  auto tokens = parse_pointer(pointer);
  if (!tokens) return std::nullopt;
  if (tokens->empty()) return state();
  op_id cur = root_object;
  const reg* r = nullptr;
  for (std::size_t i = 0; i < tokens->size(); ++i) {
    if (r) {
      if (r->k != reg::kind::map && r->k != reg::kind::list) return std::nullopt;
      cur = r->winner;
    }
    const object& o = state_.objects.at(cur);
    r = nullptr;
    if (o.is_list) {
      auto n = parse_index((*tokens)[i]);
      auto pos = n ? o.nth_visible(*n) : npos32;
      if (pos == npos32) return std::nullopt;
      r = &o.elems[pos].value;
    } else {
      auto it = o.entries.find((*tokens)[i]);
      if (it == o.entries.end() || !visible(it->second)) return std::nullopt;
      r = &it->second;
    }
  }
  return state_.materialise(*r);
}

}  // namespace starling::crdt
