// Snapshot codec: the complete CRDT state of a document (op ids, registers,
// tombstones, RGA order, change table, forks), so that later changes apply
// on top of it exactly as on the full history. Decoding takes untrusted
// bytes: every index is bounds-checked and every container reference
// resolved before the document is returned.
#include <algorithm>

#include "crdt/document.hpp"
#include "crdt/varint.hpp"

namespace starling::crdt {

namespace {
constexpr char snapshot_magic[] = "STSN";
constexpr std::uint8_t snapshot_version = 1;

void put_scalar(std::string& out, const scalar& v) {
  out.push_back(static_cast<char>(v.index()));
  switch (v.index()) {
    case 1: out.push_back(std::get<bool>(v) ? 1 : 0); break;
    case 2: wire::put_varint(out, wire::zigzag(std::get<std::int64_t>(v))); break;
    case 3: {
      std::uint64_t bits;
      double d = std::get<double>(v);
      std::memcpy(&bits, &d, 8);
      wire::put_u64be(out, bits);
      break;
    }
    case 4: wire::put_bytes(out, std::get<std::string>(v)); break;
    default: break;
  }
}

void put_reg(std::string& out, const reg& r) {
  wire::put_varint(out, r.winner);
  out.push_back(static_cast<char>(r.k));
  if (r.k == reg::kind::scalar) put_scalar(out, r.value);
  wire::put_varint(out, wire::zigzag(r.inc_sum));
  wire::put_varint(out, r.inc_count);
}
}  // namespace

struct snapshot_codec {
  static bytes write(const document& d) {
    const doc_state& s = d.state_;
    std::string out(snapshot_magic, 4);
    out.push_back(static_cast<char>(snapshot_version));
    wire::put_bytes(out, d.name_);
    wire::put_varint(out, d.clock_.last());
    wire::put_varint(out, s.authors.size());
    for (auto& a : s.authors) out.append(a.view());
    wire::put_varint(out, s.changes.size());
    for (auto& m : s.changes) {
      out.append(m.hash.view());
      wire::put_varint(out, m.seq);
      wire::put_varint(out, m.time);
      wire::put_varint(out, m.author);
      wire::put_varint(out, m.n_ops);
    }
    wire::put_varint(out, d.heads_.size());
    for (auto& h : d.heads_) out.append(h.view());
    std::vector<op_id> ids;
    ids.reserve(s.objects.size());
    for (auto& [id, o] : s.objects) ids.push_back(id);
    std::sort(ids.begin(), ids.end());
    wire::put_varint(out, ids.size());
    for (op_id id : ids) {
      const object& o = s.objects.at(id);
      wire::put_varint(out, id);
      out.push_back(o.is_list ? 1 : 0);
      wire::put_varint(out, o.depth);
      if (o.is_list) {
        wire::put_varint(out, o.elems.size());
        for (auto i = o.head; i != npos32; i = o.elems[i].next) {
          wire::put_varint(out, o.elems[i].id);
          out.push_back(o.elems[i].removed ? 1 : 0);
          put_reg(out, o.elems[i].value);
        }
      } else {
        std::vector<const std::string*> keys;
        for (auto& [k, r] : o.entries) keys.push_back(&k);
        std::sort(keys.begin(), keys.end(), [](auto* a, auto* b) { return *a < *b; });
        wire::put_varint(out, keys.size());
        for (auto* k : keys) {
          wire::put_bytes(out, *k);
          put_reg(out, o.entries.at(*k));
        }
      }
    }
    wire::put_varint(out, d.forks_.size());
    for (auto& f : d.forks_) {
      out.append(f.author.view());
      wire::put_varint(out, f.seq);
      wire::put_bytes(out, f.a);
      wire::put_bytes(out, f.b);
    }
    wire::put_varint(out, d.quarantine_.size());
    for (auto& [a, seq] : d.quarantine_) {
      out.append(a.view());
      wire::put_varint(out, seq);
    }
    wire::put_varint(out, d.excluded_.size());
    for (auto& h : d.excluded_) out.append(h.view());
    return out;
  }

  struct parser {
    wire::reader r;
    std::string err;
    bool fail(std::string m) {
      if (err.empty()) err = std::move(m);
      return false;
    }
    bool u64(std::uint64_t& v) { return r.varint(v) == wire::read_status::ok || fail("bad varint"); }
    bool count(std::uint64_t& v, std::size_t min_bytes_each) {
      if (!u64(v)) return false;
      if (min_bytes_each && v > r.remaining() / min_bytes_each) return fail("count exceeds input");
      return true;
    }
    template <std::size_t N>
    bool fixed(fixed_bytes<N>& out) {
      std::string_view s;
      if (r.raw(N, s) != wire::read_status::ok) return fail("truncated");
      out = fixed_bytes<N>::from(s);
      return true;
    }
    bool str(std::string& out) {
      std::string_view s;
      if (r.bytes(s, r.remaining()) != wire::read_status::ok) return fail("truncated string");
      out = std::string(s);
      return true;
    }
    bool sc(scalar& v) {
      std::uint8_t t;
      if (r.u8(t) != wire::read_status::ok) return fail("truncated");
      switch (t) {
        case 0: v = std::monostate{}; return true;
        case 1: {
          std::uint8_t b;
          if (r.u8(b) != wire::read_status::ok || b > 1) return fail("bad bool");
          v = b == 1;
          return true;
        }
        case 2: {
          std::uint64_t z;
          if (!u64(z)) return false;
          v = wire::unzigzag(z);
          return true;
        }
        case 3: {
          std::string_view s;
          if (r.raw(8, s) != wire::read_status::ok) return fail("truncated");
          auto bits = wire::get_u64be(s.data());
          double d;
          std::memcpy(&d, &bits, 8);
          if (!std::isfinite(d)) return fail("non-finite double");
          v = d;
          return true;
        }
        case 4: {
          std::string s;
          if (!str(s)) return false;
          if (!wire::valid_utf8(s)) return fail("string not UTF-8");
          v = std::move(s);
          return true;
        }
        default: return fail("bad scalar tag");
      }
    }
    bool rg(reg& x, std::size_t n_changes) {
      std::uint8_t k;
      std::uint64_t z, n;
      if (!u64(x.winner)) return false;
      if (x.winner != no_op && change_of(x.winner) >= n_changes) return fail("register winner out of range");
      if (r.u8(k) != wire::read_status::ok || k > 3) return fail("bad register kind");
      x.k = static_cast<reg::kind>(k);
      if (x.k == reg::kind::scalar && !sc(x.value)) return false;
      if ((x.k == reg::kind::map || x.k == reg::kind::list) && x.winner == no_op)
        return fail("container register without a writer");
      if (!u64(z) || !u64(n)) return false;
      if (n > 0xffffffffu) return fail("inc count out of range");
      x.inc_sum = wire::unzigzag(z);
      x.inc_count = static_cast<std::uint32_t>(n);
      return true;
    }
  };

  static expected<document, std::string> read(std::string name, byte_view snap, document_limits limits) {
    document d(std::move(name), limits);
    doc_state& s = d.state_;
    parser p{wire::reader(snap), {}};
    auto bad = [&](std::string m) { return make_unexpected("invalid snapshot: " + (p.err.empty() ? m : p.err)); };
    std::string_view magic;
    if (p.r.raw(4, magic) != wire::read_status::ok || magic != std::string_view(snapshot_magic, 4))
      return bad("not a snapshot");
    std::uint8_t version;
    if (p.r.u8(version) != wire::read_status::ok) return bad("truncated");
    if (version != snapshot_version)
      return make_unexpected("snapshot format " + std::to_string(version) + " is not supported (this build reads " +
                             std::to_string(snapshot_version) + ")");
    std::string doc_name;
    std::uint64_t clock, n;
    if (!p.str(doc_name) || !p.u64(clock)) return bad("");
    if (doc_name != d.name_) return bad("snapshot of document " + doc_name);
    d.clock_.observe(clock);
    if (!p.count(n, 32)) return bad("");
    for (std::uint64_t i = 0; i < n; ++i) {
      public_key a;
      if (!p.fixed(a)) return bad("");
      if (s.intern_author(a) != i) return bad("duplicate author");
    }
    d.chain_.resize(s.authors.size());
    if (!p.count(n, 36)) return bad("");
    s.reserve_changes(n);
    for (std::uint64_t i = 0; i < n; ++i) {
      change_meta m;
      std::uint64_t author, n_ops;
      if (!p.fixed(m.hash) || !p.u64(m.seq) || !p.u64(m.time) || !p.u64(author) || !p.u64(n_ops)) return bad("");
      if (author >= s.authors.size() || n_ops > 0xffffffffu) return bad("change entry out of range");
      m.author = static_cast<std::uint32_t>(author);
      m.n_ops = static_cast<std::uint32_t>(n_ops);
      auto& chain = d.chain_[m.author];
      if (m.seq != chain.size() + 1) return bad("change table out of chain order");
      s.changes.push_back(m);
      if (!s.index_change(static_cast<std::uint32_t>(i))) return bad("duplicate change");
      chain.push_back(static_cast<std::uint32_t>(i));
      d.frontier_[s.authors[m.author]] = chain_head{m.seq, m.hash};
    }
    if (!p.count(n, 32)) return bad("");
    for (std::uint64_t i = 0; i < n; ++i) {
      hash256 h;
      if (!p.fixed(h)) return bad("");
      if (!s.knows(h)) return bad("head is not a known change");
      d.heads_.insert(h);
    }
    s.objects.clear();
    if (!p.count(n, 2)) return bad("");
    for (std::uint64_t i = 0; i < n; ++i) {
      std::uint64_t id, entries, depth;
      std::uint8_t is_list;
      if (!p.u64(id) || p.r.u8(is_list) != wire::read_status::ok || is_list > 1 || !p.u64(depth))
        return bad("bad object");
      if (depth > max_nesting || (id == root_object) != (depth == 0)) return bad("bad object depth");
      if (id != root_object && (change_of(id) >= s.changes.size() || index_of(id) >= s.changes[change_of(id)].n_ops))
        return bad("object id out of range");
      if (id == root_object && is_list) return bad("the root is a map");
      object o;
      o.is_list = is_list == 1;
      o.depth = static_cast<std::uint16_t>(depth);
      if (!p.count(entries, 2)) return bad("");
      for (std::uint64_t e = 0; e < entries; ++e) {
        if (o.is_list) {
          list_elem el;
          std::uint8_t removed;
          if (!p.u64(el.id) || p.r.u8(removed) != wire::read_status::ok || removed > 1) return bad("bad element");
          if (el.id == no_op || change_of(el.id) >= s.changes.size()) return bad("element id out of range");
          el.removed = removed == 1;
          if (!p.rg(el.value, s.changes.size())) return bad("");
          auto pos = static_cast<std::uint32_t>(o.elems.size());
          if (!o.elem_index.emplace(el.id, pos).second) return bad("duplicate element");
          if (pos > 0) o.elems[pos - 1].next = pos;
          else o.head = pos;
          if (!el.removed) ++o.visible;
          o.elems.push_back(std::move(el));
        } else {
          std::string key;
          reg x;
          if (!p.str(key) || !p.rg(x, s.changes.size())) return bad("");
          if (!wire::valid_utf8(key)) return bad("map key is not UTF-8");
          if (!o.entries.emplace(std::move(key), std::move(x)).second) return bad("duplicate key");
        }
      }
      if (!s.objects.emplace(id, std::move(o)).second) return bad("duplicate object");
    }
    if (!s.objects.count(root_object)) return bad("no root object");
    // Every container a register names must exist with the right kind, be
    // made after its parent, one level below it, and be named only once: the
    // containers form a tree, so materialising terminates and stays linear.
    std::unordered_map<op_id, bool> named;
    for (auto& entry : s.objects) {
      const op_id id = entry.first;
      const object& o = entry.second;
      auto check = [&](const reg& x) {
        if (x.k != reg::kind::map && x.k != reg::kind::list) return true;
        auto it = s.objects.find(x.winner);
        return it != s.objects.end() && it->second.is_list == (x.k == reg::kind::list) &&
               (id == root_object || id < x.winner) && it->second.depth == o.depth + 1 &&
               named.emplace(x.winner, true).second;
      };
      for (auto& [k, x] : o.entries)
        if (!check(x)) return bad("register names a missing container");
      for (auto& el : o.elems)
        if (!check(el.value)) return bad("register names a missing container");
    }
    if (!p.count(n, 34)) return bad("");
    for (std::uint64_t i = 0; i < n; ++i) {
      fork_proof f;
      if (!p.fixed(f.author) || !p.u64(f.seq) || !p.str(f.a) || !p.str(f.b)) return bad("");
      d.forks_.push_back(std::move(f));
    }
    if (!p.count(n, 33)) return bad("");
    for (std::uint64_t i = 0; i < n; ++i) {
      public_key a;
      std::uint64_t seq;
      if (!p.fixed(a) || !p.u64(seq)) return bad("");
      d.quarantine_[a] = seq;
    }
    if (!p.count(n, 32)) return bad("");
    for (std::uint64_t i = 0; i < n; ++i) {
      hash256 h;
      if (!p.fixed(h)) return bad("");
      d.excluded_.insert(h);
    }
    if (!p.r.empty()) return bad("trailing bytes");
    d.log_base_ = s.changes.size();
    d.base_snapshot_ = bytes(snap);
    return d;
  }
};

bytes document::snapshot() const { return snapshot_codec::write(*this); }

expected<bytes, std::string> document::snapshot_at(const frontier& at) const {
  for (auto& [author, head] : at) {
    const change_meta* m = chain_at(author, head.seq);
    if (!m || m->hash != head.hash) return make_unexpected(std::string("frontier is not a state of this document"));
  }
  document past(name_, limits_);
  if (base_snapshot_) {
    auto base = from_snapshot(name_, *base_snapshot_, limits_);
    if (!base) return make_unexpected(base.error());
    past = std::move(*base);
  }
  std::vector<change> upto;
  for (std::size_t i = 0; i < log_.size(); ++i) {
    const auto& m = state_.changes[log_base_ + i];
    auto it = at.find(state_.authors[m.author]);
    if (it != at.end() && m.seq <= it->second.seq) upto.push_back(*decode(log_[i], limits_.codec));
  }
  past.apply_batch(std::move(upto));
  if (past.pending_count() != 0) return make_unexpected(std::string("frontier is not causally closed"));
  for (auto& [author, head] : at)
    if (past.chain_length(author) != head.seq) return make_unexpected(std::string("frontier reaches into the base snapshot"));
  return past.snapshot();
}

expected<document, std::string> document::from_snapshot(std::string name, byte_view snap,
                                                         document_limits limits) {
  return snapshot_codec::read(std::move(name), snap, limits);
}

}  // namespace starling::crdt
