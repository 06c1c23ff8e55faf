#include "crdt/state.hpp"

#include <cstring>

namespace starling::crdt {

std::uint32_t object::nth_visible(std::uint32_t n) const {
  for (auto i = head; i != npos32; i = elems[i].next) {
    if (elems[i].removed) continue;
    if (n == 0) return i;
    --n;
  }
  return npos32;
}

doc_state::doc_state() { clear(); }

void doc_state::clear() {
  changes.clear();
  by_hash_.clear();
  authors.clear();
  author_index.clear();
  objects.clear();
  objects.emplace(root_object, object{});
}

std::uint32_t doc_state::intern_author(const public_key& k) {
  auto [it, fresh] = author_index.emplace(k, static_cast<std::uint32_t>(authors.size()));
  if (fresh) authors.push_back(k);
  return it->second;
}

bool doc_state::op_less(op_id a, op_id b) const {
  if (a == b) return false;
  if (a == no_op) return true;
  if (b == no_op) return false;
  const auto& ca = changes[change_of(a)];
  const auto& cb = changes[change_of(b)];
  if (ca.time != cb.time) return ca.time < cb.time;
  if (ca.author != cb.author) return authors[ca.author] < authors[cb.author];
  if (change_of(a) != change_of(b) && ca.hash != cb.hash) return ca.hash < cb.hash;
  return index_of(a) < index_of(b);
}

op_ref doc_state::ref_to(op_id id, std::uint32_t current_change) const {
  if (id == root_object || id == no_op) return op_ref::none();
  if (change_of(id) == current_change) return op_ref::self(index_of(id));
  return op_ref::ext(hash_of(id), index_of(id));
}

nlohmann::json doc_state::materialise(const reg& r) const {
  switch (r.k) {
    case reg::kind::absent:
      return r.inc_count ? nlohmann::json(r.inc_sum) : nlohmann::json();
    case reg::kind::scalar:
      switch (r.value.index()) {
        case 0: return nullptr;
        case 1: return std::get<bool>(r.value);
        case 2: {  // counters wrap like two's complement, identically everywhere
          auto v = static_cast<std::uint64_t>(std::get<std::int64_t>(r.value)) +
                   static_cast<std::uint64_t>(r.inc_sum);
          return static_cast<std::int64_t>(v);
        }
        case 3: return std::get<double>(r.value);
        default: return std::get<std::string>(r.value);
      }
    case reg::kind::map:
    case reg::kind::list: return materialise_object(r.winner);
  }
  return nullptr;
}

nlohmann::json doc_state::materialise_object(op_id id) const {
  const object& o = objects.at(id);
  if (o.is_list) {
    auto out = nlohmann::json::array();
    for (auto i = o.head; i != npos32; i = o.elems[i].next)
      if (!o.elems[i].removed) out.push_back(materialise(o.elems[i].value));
    return out;
  }
  auto out = nlohmann::json::object();
  for (const auto& [key, r] : o.entries) {
    if (r.k == reg::kind::absent && r.inc_count == 0) continue;
    out[key] = materialise(r);
  }
  return out;
}

nlohmann::json doc_state::materialise() const { return materialise_object(root_object); }

// ---------------------------------------------------------------- applier

op_id doc_state::change_applier::resolve(const op_ref& r, op_id none_value) const {
  switch (r.t) {
    case op_ref::tag::none: return none_value;
    case op_ref::tag::self: return make_op_id(ref_, r.index);
    case op_ref::tag::ext: return make_op_id(s_.find_change(r.change), r.index);
  }
  return none_value;
}

op_check doc_state::change_applier::ext_known(const op_ref& r) {
  if (r.t != op_ref::tag::ext) return {};
  auto ref = s_.find_change(r.change);
  if (ref == npos32) return {op_check::result::missing, r.change, {}};
  const auto& m = s_.changes[ref];
  if (r.index >= m.n_ops) return {op_check::result::invalid, {}, "reference to op past the end of its change"};
  // Lamport property: a change is later than everything it refers to. RGA
  // ordering and LWW causality rely on it.
  if (m.time >= time_) return {op_check::result::invalid, {}, "time not after a referenced change"};
  return {};
}

op_check doc_state::change_applier::check(const op& o, std::uint32_t index) {
  auto invalid = [](std::string m) { return op_check{op_check::result::invalid, {}, std::move(m)}; };
  for (const op_ref* r : {&o.obj, &o.elem, &o.target}) {
    auto c = ext_known(*r);
    if (c.r != op_check::result::ok) return c;
  }
  // The container.
  int obj_kind;  // 0 map, 1 list
  std::uint16_t obj_depth;
  op_id obj = resolve(o.obj, root_object);
  if (o.obj.t == op_ref::tag::self) {
    obj_kind = created_[o.obj.index].object;
    if (obj_kind < 0) return invalid("object reference is not a container");
    obj_depth = created_[o.obj.index].depth;
  } else {
    auto it = s_.objects.find(obj);
    if (it == s_.objects.end()) return invalid("object reference is not a container");
    obj_kind = it->second.is_list ? 1 : 0;
    obj_depth = it->second.depth;
  }
  bool makes = o.kind == op_kind::make_map || o.kind == op_kind::make_list;
  if (makes && obj_depth >= max_nesting)
    return invalid("containers nest deeper than " + std::to_string(max_nesting));
  if ((o.place == place_kind::map_key) != (obj_kind == 0))
    return invalid(obj_kind == 0 ? "list place in a map" : "map key in a list");
  // The list element.
  if (o.place != place_kind::map_key && !o.elem.is_none()) {
    op_id e = resolve(o.elem, no_op);
    bool found;
    if (o.elem.t == op_ref::tag::self) found = created_[o.elem.index].in_list == obj;
    else {
      auto it = s_.objects.find(obj);
      found = it != s_.objects.end() && it->second.elem_index.count(e);
    }
    if (!found) return invalid("element reference is not in this list");
  }
  created c;
  if (o.kind == op_kind::make_map) c.object = 0;
  if (o.kind == op_kind::make_list) c.object = 1;
  c.depth = static_cast<std::uint16_t>(obj_depth + 1);
  if (o.place == place_kind::list_after) c.in_list = obj;
  if (created_.size() <= index) created_.resize(index + 1);
  created_[index] = c;
  return {};
}

void doc_state::change_applier::write(reg& r, op_id w, reg::kind k, scalar&& v) {
  if (!s_.op_less(r.winner, w)) return;
  r.winner = w;
  r.k = k;
  r.value = k == reg::kind::scalar ? std::move(v) : scalar{};
  r.inc_sum = 0;
  r.inc_count = 0;
}

reg& doc_state::change_applier::map_slot(op_id obj, const std::string& key) {
  auto& entries = s_.objects.at(obj).entries;
  auto it = entries.find(key);
  if (it != entries.end()) {
    if (undo_) undo_->push_back([&s = s_, obj, key, old = it->second] { s.objects.at(obj).entries[key] = old; });
    return it->second;
  }
  if (undo_) undo_->push_back([&s = s_, obj, key] { s.objects.at(obj).entries.erase(key); });
  return entries[key];
}

reg& doc_state::change_applier::elem_slot(op_id obj, op_id elem) {
  auto& o = s_.objects.at(obj);
  auto pos = o.elem_index.at(elem);
  if (undo_) undo_->push_back([&s = s_, obj, pos, old = o.elems[pos].value] { s.objects.at(obj).elems[pos].value = old; });
  return o.elems[pos].value;
}

void doc_state::change_applier::insert_elem(op_id list, op_id after, op_id id, reg value) {
  auto& o = s_.objects.at(list);
  std::uint32_t prev = npos32, cur = o.head;
  if (after != no_op) {
    prev = o.elem_index.at(after);
    cur = o.elems[prev].next;
  }
  // RGA: skip the elements inserted concurrently at the same place with a
  // greater id; their subtrees have greater ids too (Lamport property).
  while (cur != npos32 && s_.op_less(id, o.elems[cur].id)) {
    prev = cur;
    cur = o.elems[cur].next;
  }
  auto pos = static_cast<std::uint32_t>(o.elems.size());
  o.elems.push_back(list_elem{id, cur, false, std::move(value)});
  if (prev == npos32) o.head = pos;
  else o.elems[prev].next = pos;
  o.elem_index.emplace(id, pos);
  ++o.visible;
  if (undo_)
    undo_->push_back([&s = s_, list, prev, pos, id] {
      auto& l = s.objects.at(list);
      if (prev == npos32) l.head = l.elems[pos].next;
      else l.elems[prev].next = l.elems[pos].next;
      l.elem_index.erase(id);
      l.elems.pop_back();  // undone in reverse order: it is the last one
      --l.visible;
    });
}

void doc_state::change_applier::apply(const op& o, std::uint32_t index) {
  op copy = o;
  apply(std::move(copy), index);
}

void doc_state::change_applier::apply(op&& o, std::uint32_t index) {
  const op_id self = make_op_id(ref_, index);
  const op_id obj = resolve(o.obj, root_object);
  const op_id elem = resolve(o.elem, no_op);
  if (created_.size() <= index) created_.resize(index + 1);
  created_[index].object = o.kind == op_kind::make_map ? 0 : o.kind == op_kind::make_list ? 1 : -1;
  created_[index].in_list = o.place == place_kind::list_after ? obj : no_op;
  auto slot = [&]() -> reg& {
    return o.place == place_kind::map_key ? map_slot(obj, o.key) : elem_slot(obj, elem);
  };
  switch (o.kind) {
    case op_kind::make_map:
    case op_kind::make_list: {
      bool is_list = o.kind == op_kind::make_list;
      object fresh;
      fresh.is_list = is_list;
      fresh.depth = static_cast<std::uint16_t>(s_.objects.at(obj).depth + 1);
      s_.objects.emplace(self, std::move(fresh));
      if (undo_) undo_->push_back([&s = s_, self] { s.objects.erase(self); });
      auto k = is_list ? reg::kind::list : reg::kind::map;
      if (o.place == place_kind::list_after) insert_elem(obj, elem, self, reg{self, k, {}, 0, 0});
      else write(slot(), self, k, {});
      break;
    }
    case op_kind::set: write(slot(), self, reg::kind::scalar, std::move(o.value)); break;
    case op_kind::del: write(slot(), self, reg::kind::absent, {}); break;
    case op_kind::ins: insert_elem(obj, elem, self, reg{self, reg::kind::scalar, std::move(o.value), 0, 0}); break;
    case op_kind::rm: {
      auto& l = s_.objects.at(obj);
      auto pos = l.elem_index.at(elem);
      if (!l.elems[pos].removed) {
        l.elems[pos].removed = true;
        --l.visible;
        if (undo_)
          undo_->push_back([&s = s_, obj, pos] {
            auto& x = s.objects.at(obj);
            x.elems[pos].removed = false;
            ++x.visible;
          });
      }
      break;
    }
    case op_kind::inc: {
      reg& r = slot();
      if (r.winner == resolve(o.target, no_op)) {
        r.inc_sum = static_cast<std::int64_t>(static_cast<std::uint64_t>(r.inc_sum) +
                                              static_cast<std::uint64_t>(o.delta));
        ++r.inc_count;
      }
      break;
    }
  }
}

}  // namespace starling::crdt
