#include "crdt/change.hpp"

#include <cmath>

#include "crdt/varint.hpp"

namespace starling::wire {

bool valid_utf8(std::string_view s) {
  std::size_t i = 0, n = s.size();
  while (i < n) {
    auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
      ++i;
      continue;
    }
    int len;
    std::uint32_t cp;
    if ((c & 0xe0) == 0xc0) len = 2, cp = c & 0x1f;
    else if ((c & 0xf0) == 0xe0) len = 3, cp = c & 0x0f;
    else if ((c & 0xf8) == 0xf0) len = 4, cp = c & 0x07;
    else return false;
    if (i + len > n) return false;
    for (int k = 1; k < len; ++k) {
      auto cc = static_cast<unsigned char>(s[i + k]);
      if ((cc & 0xc0) != 0x80) return false;
      cp = (cp << 6) | (cc & 0x3f);
    }
    if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
        cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
      return false;
    i += len;
  }
  return true;
}

}  // namespace starling::wire

namespace starling::crdt {

namespace {

constexpr std::uint8_t format_version = 1;

void put_ref(std::string& out, const op_ref& r) {
  out.push_back(static_cast<char>(r.t));
  if (r.t == op_ref::tag::ext) out.append(r.change.view());
  if (r.t != op_ref::tag::none) wire::put_varint(out, r.index);
}

void put_scalar(std::string& out, const scalar& v) {
  switch (v.index()) {
    case 0: out.push_back(0); break;
    case 1: out.push_back(std::get<bool>(v) ? 2 : 1); break;
    case 2:
      out.push_back(3);
      wire::put_varint(out, wire::zigzag(std::get<std::int64_t>(v)));
      break;
    case 3: {
      out.push_back(4);
      double d = std::get<double>(v);
      std::uint64_t bits;
      std::memcpy(&bits, &d, 8);
      for (int i = 0; i < 8; ++i) out.push_back(static_cast<char>((bits >> (8 * i)) & 0xff));
      break;
    }
    case 4:
      out.push_back(5);
      wire::put_bytes(out, std::get<std::string>(v));
      break;
  }
}

bool has_value(op_kind k) { return k == op_kind::set || k == op_kind::ins; }

// Which places each op kind may address.
bool place_allowed(op_kind k, place_kind p) {
  switch (k) {
    case op_kind::make_map:
    case op_kind::make_list: return true;
    case op_kind::set:
    case op_kind::inc: return p != place_kind::list_after;
    case op_kind::del: return p == place_kind::map_key;
    case op_kind::rm: return p == place_kind::list_elem;
    case op_kind::ins: return p == place_kind::list_after;
  }
  return false;
}

struct decoder {
  wire::reader r;
  const change_limits& lim;
  codec_error err{};

  bool fail(codec_errc c, std::string msg) {
    err = {c, std::move(msg)};
    return false;
  }
  bool check(wire::read_status s, const char* field) {
    switch (s) {
      case wire::read_status::ok: return true;
      case wire::read_status::truncated: return fail(codec_errc::truncated, std::string("truncated at ") + field);
      case wire::read_status::non_canonical:
        return fail(codec_errc::non_canonical, std::string("non-minimal varint in ") + field);
      case wire::read_status::overflow: return fail(codec_errc::too_large, std::string("value too large in ") + field);
    }
    return false;
  }
  bool u64(std::uint64_t& v, const char* f) { return check(r.varint(v), f); }
  bool u32(std::uint32_t& v, const char* f) {
    std::uint64_t x;
    if (!u64(x, f)) return false;
    if (x > 0xffffffffu) return fail(codec_errc::too_large, std::string(f) + " exceeds 32 bits");
    v = static_cast<std::uint32_t>(x);
    return true;
  }
  template <std::size_t N>
  bool fixed(fixed_bytes<N>& out, const char* f) {
    std::string_view s;
    if (!check(r.raw(N, s), f)) return false;
    out = fixed_bytes<N>::from(s);
    return true;
  }

  bool ref(op_ref& out, std::uint32_t op_index, const char* f) {
    std::uint8_t t = 0;
    if (!check(r.u8(t), f)) return false;
    if (t > 2) return fail(codec_errc::bad_field, std::string("unknown reference tag in ") + f);
    out.t = static_cast<op_ref::tag>(t);
    if (out.t == op_ref::tag::ext && !fixed(out.change, f)) return false;
    if (out.t != op_ref::tag::none && !u32(out.index, f)) return false;
    if (out.t == op_ref::tag::self && out.index >= op_index)
      return fail(codec_errc::bad_field, std::string(f) + " refers to itself or a later op");
    return true;
  }

  bool scalar_value(scalar& v) {
    std::uint8_t t = 0;
    if (!check(r.u8(t), "value")) return false;
    switch (t) {
      case 0: v = std::monostate{}; return true;
      case 1: v = false; return true;
      case 2: v = true; return true;
      case 3: {
        std::uint64_t z;
        if (!u64(z, "int value")) return false;
        v = wire::unzigzag(z);
        return true;
      }
      case 4: {
        std::string_view s;
        if (!check(r.raw(8, s), "double value")) return false;
        std::uint64_t bits = 0;
        for (int i = 7; i >= 0; --i) bits = (bits << 8) | static_cast<unsigned char>(s[i]);
        double d;
        std::memcpy(&d, &bits, 8);
        if (!std::isfinite(d)) return fail(codec_errc::bad_field, "non-finite double value");
        v = d;
        return true;
      }
      case 5: {
        std::string_view s;
        if (!check(r.bytes(s, lim.max_encoded_bytes), "string value")) return false;
        if (!wire::valid_utf8(s)) return fail(codec_errc::bad_field, "string value is not UTF-8");
        v = std::string(s);
        return true;
      }
      default: return fail(codec_errc::bad_field, "unknown value tag");
    }
  }

  bool one_op(op& o, std::uint32_t index) {
    std::uint8_t k = 0;
    if (!check(r.u8(k), "op kind")) return false;
    if (k < 1 || k > 7) return fail(codec_errc::bad_field, "unknown op kind " + std::to_string(k));
    o.kind = static_cast<op_kind>(k);
    if (!ref(o.obj, index, "op object")) return false;
    std::uint8_t p = 0;
    if (!check(r.u8(p), "op place")) return false;
    if (p > 2) return fail(codec_errc::bad_field, "unknown place tag");
    o.place = static_cast<place_kind>(p);
    if (!place_allowed(o.kind, o.place))
      return fail(codec_errc::bad_field, std::string(to_string(o.kind)) + " cannot address this place");
    if (o.place == place_kind::map_key) {
      std::string_view key;
      if (!check(r.bytes(key, lim.max_key_bytes), "map key")) return false;
      if (!wire::valid_utf8(key)) return fail(codec_errc::bad_field, "map key is not UTF-8");
      o.key = std::string(key);
    } else {
      if (!ref(o.elem, index, "list element")) return false;
      if (o.place == place_kind::list_elem && o.elem.is_none())
        return fail(codec_errc::bad_field, "list element reference is empty");
    }
    if (o.obj.is_none() && o.place != place_kind::map_key)
      return fail(codec_errc::bad_field, "the root is a map");
    if (has_value(o.kind) && !scalar_value(o.value)) return false;
    if (o.kind == op_kind::inc) {
      std::uint64_t z;
      if (!u64(z, "inc delta")) return false;
      o.delta = wire::unzigzag(z);
      if (!ref(o.target, index, "inc target")) return false;
    }
    return true;
  }

  bool run(change& c) {
    std::uint8_t v = 0;
    if (!check(r.u8(v), "format version")) return false;
    if (v != format_version) return fail(codec_errc::bad_field, "unknown change format " + std::to_string(v));
    std::string_view doc;
    if (!check(r.bytes(doc, max_doc_name), "doc")) return false;
    if (!valid_doc_name(doc)) return fail(codec_errc::bad_field, "invalid doc name");
    c.doc = std::string(doc);
    if (!fixed(c.author, "author")) return false;
    if (!u64(c.seq, "seq")) return false;
    if (c.seq == 0) return fail(codec_errc::bad_field, "seq must start at 1");
    if (!fixed(c.prev, "prev")) return false;
    if ((c.seq == 1) != c.prev.is_zero())
      return fail(codec_errc::bad_field, "prev must be zero exactly at seq 1");
    std::uint64_t ndeps;
    if (!u64(ndeps, "deps count")) return false;
    if (ndeps > lim.max_deps) return fail(codec_errc::too_large, "too many deps");
    c.deps.resize(static_cast<std::size_t>(ndeps));
    for (std::size_t i = 0; i < c.deps.size(); ++i) {
      if (!fixed(c.deps[i], "dep")) return false;
      if (i > 0 && !(c.deps[i - 1] < c.deps[i]))
        return fail(codec_errc::non_canonical, "deps not strictly ascending");
    }
    if (!u64(c.time, "time")) return false;
    std::uint64_t nops;
    if (!u64(nops, "ops count")) return false;
    if (nops == 0) return fail(codec_errc::bad_field, "a change needs at least one op");
    if (nops > lim.max_ops) return fail(codec_errc::too_large, "too many ops");
    if (nops > r.remaining() / 3) return fail(codec_errc::truncated, "ops count exceeds input");
    c.ops.resize(static_cast<std::size_t>(nops));
    for (std::uint32_t i = 0; i < c.ops.size(); ++i)
      if (!one_op(c.ops[i], i)) return false;
    return true;
  }
};

}  // namespace

const char* to_string(op_kind k) {
  switch (k) {
    case op_kind::make_map: return "make_map";
    case op_kind::make_list: return "make_list";
    case op_kind::set: return "set";
    case op_kind::del: return "del";
    case op_kind::ins: return "ins";
    case op_kind::rm: return "rm";
    case op_kind::inc: return "inc";
  }
  return "unknown";
}

const char* to_string(codec_errc e) {
  switch (e) {
    case codec_errc::truncated: return "truncated";
    case codec_errc::non_canonical: return "non_canonical";
    case codec_errc::bad_field: return "bad_field";
    case codec_errc::too_large: return "too_large";
    case codec_errc::trailing_bytes: return "trailing_bytes";
  }
  return "unknown";
}

bytes encode_unsigned(const change& c) {
  std::string out;
  out.reserve(128 + c.ops.size() * 24);
  out.push_back(static_cast<char>(format_version));
  wire::put_bytes(out, c.doc);
  out.append(c.author.view());
  wire::put_varint(out, c.seq);
  out.append(c.prev.view());
  wire::put_varint(out, c.deps.size());
  for (auto& d : c.deps) out.append(d.view());
  wire::put_varint(out, c.time);
  wire::put_varint(out, c.ops.size());
  for (auto& o : c.ops) {
    out.push_back(static_cast<char>(o.kind));
    put_ref(out, o.obj);
    out.push_back(static_cast<char>(o.place));
    if (o.place == place_kind::map_key) wire::put_bytes(out, o.key);
    else put_ref(out, o.elem);
    if (has_value(o.kind)) put_scalar(out, o.value);
    if (o.kind == op_kind::inc) {
      wire::put_varint(out, wire::zigzag(o.delta));
      put_ref(out, o.target);
    }
  }
  return out;
}

bytes encode(const change& c) {
  bytes out = encode_unsigned(c);
  out.append(c.sig.view());
  return out;
}

expected<change, codec_error> decode_prefix(byte_view& in, const change_limits& lim) {
  decoder d{wire::reader(in), lim};
  change c;
  if (!d.run(c)) return make_unexpected(d.err);
  std::size_t unsigned_len = d.r.position();
  if (!d.fixed(c.sig, "signature")) return make_unexpected(d.err);
  std::size_t total = d.r.position();
  if (total > lim.max_encoded_bytes)
    return make_unexpected(codec_error{codec_errc::too_large, "change exceeds the size limit"});
  c.hash = crypto::blake2b_256(in.substr(0, unsigned_len));
  c.encoded.assign(in.data(), total);
  in.remove_prefix(total);
  return c;
}

expected<change, codec_error> decode(byte_view in, const change_limits& lim) {
  if (in.size() > lim.max_encoded_bytes)
    return make_unexpected(codec_error{codec_errc::too_large, "change exceeds the size limit"});
  auto r = decode_prefix(in, lim);
  if (r && !in.empty())
    return make_unexpected(codec_error{codec_errc::trailing_bytes, "bytes after the change"});
  return r;
}

std::optional<std::pair<public_key, std::uint64_t>> peek_author_seq(byte_view encoded) {
  wire::reader r(encoded);
  std::uint8_t version;
  std::string_view doc, author;
  std::uint64_t seq;
  if (r.u8(version) != wire::read_status::ok || r.bytes(doc, 255) != wire::read_status::ok ||
      r.raw(32, author) != wire::read_status::ok || r.varint(seq) != wire::read_status::ok)
    return std::nullopt;
  return std::make_pair(public_key::from(author), seq);
}

hash256 compute_hash(const change& c) { return crypto::blake2b_256(encode_unsigned(c)); }

void sign(change& c, const crypto::keypair& kp) {
  bytes enc = encode_unsigned(c);
  c.hash = crypto::blake2b_256(enc);
  c.sig = crypto::sign(c.hash.view(), kp.sk);
  enc.append(c.sig.view());
  c.encoded = std::move(enc);
}

bool signature_valid(const change& c) { return crypto::verify(c.hash.view(), c.sig, c.author); }

}  // namespace starling::crdt
