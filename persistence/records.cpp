#include "persistence/records.hpp"

#include "crdt/varint.hpp"

namespace starling::persistence::records {

std::optional<std::string> parse_doc_key(byte_view k) {
  if (k.empty()) return std::nullopt;
  auto n = static_cast<unsigned char>(k[0]);
  if (k.size() != 1u + n) return std::nullopt;
  std::string name(k.substr(1));
  if (!valid_doc_name(name)) return std::nullopt;
  return name;
}

std::optional<log_entry> decode_log_entry(byte_view v) {
  if (v.size() <= log_entry_header) return std::nullopt;
  return log_entry{hash256::from(v.substr(0, 32)), v.substr(log_entry_header)};
}

std::optional<chain_entry> decode_chain_entry(byte_view v) {
  if (v.size() != 40) return std::nullopt;
  return chain_entry{hash256::from(v.substr(0, 32)), wire::get_u64be(v.data() + 32)};
}

bytes encode_doc_record(const doc_record& r) {
  bytes out;
  wire::put_varint(out, r.next_log_index);
  wire::put_varint(out, r.change_count);
  return out;
}
std::optional<doc_record> decode_doc_record(byte_view v) {
  wire::reader in(v);
  doc_record r;
  if (in.varint(r.next_log_index) != wire::read_status::ok) return std::nullopt;
  if (in.varint(r.change_count) != wire::read_status::ok) return std::nullopt;
  if (!in.empty() || r.change_count > r.next_log_index) return std::nullopt;
  return r;
}

void encode_frontier(bytes& out, const frontier& f) {
  wire::put_varint(out, f.size());
  for (const auto& [author, head] : f) {
    out.append(author.view());
    wire::put_varint(out, head.seq);
    out.append(head.hash.view());
  }
}
bytes encode_frontier(const frontier& f) {
  bytes out;
  encode_frontier(out, f);
  return out;
}
std::optional<frontier> decode_frontier_prefix(byte_view& v) {
  wire::reader in(v);
  std::uint64_t n;
  if (in.varint(n) != wire::read_status::ok || n > in.remaining() / 65) return std::nullopt;
  frontier f;
  for (std::uint64_t i = 0; i < n; ++i) {
    byte_view author, head;
    chain_head h;
    if (in.raw(32, author) != wire::read_status::ok) return std::nullopt;
    if (in.varint(h.seq) != wire::read_status::ok || h.seq == 0) return std::nullopt;
    if (in.raw(32, head) != wire::read_status::ok) return std::nullopt;
    h.hash = hash256::from(head);
    auto key = public_key::from(author);
    if (!f.empty() && !(f.rbegin()->first < key)) return std::nullopt;  // ascending, unique
    f.emplace_hint(f.end(), key, h);
  }
  v.remove_prefix(in.position());
  return f;
}
std::optional<frontier> decode_frontier(byte_view v) {
  auto f = decode_frontier_prefix(v);
  if (!f || !v.empty()) return std::nullopt;
  return f;
}

bytes encode_snapshot(const frontier& at, byte_view state) {
  bytes out;
  encode_frontier(out, at);
  out.append(state);
  return out;
}
std::optional<snapshot_record> decode_snapshot(byte_view v) {
  auto at = decode_frontier_prefix(v);
  if (!at) return std::nullopt;
  return snapshot_record{std::move(*at), bytes(v)};
}

bytes encode_token(const token_record& t) {
  bytes out(1, t.consumed ? '\1' : '\0');
  out.append(t.json);
  return out;
}
std::optional<token_record> decode_token(byte_view v) {
  if (v.empty() || static_cast<unsigned char>(v[0]) > 1) return std::nullopt;
  return token_record{v[0] == 1, std::string(v.substr(1))};
}

bytes encode_format_version(std::uint64_t v) { return std::to_string(v); }
std::optional<std::uint64_t> decode_format_version(byte_view v) {
  if (v.empty() || v.size() > 19) return std::nullopt;
  std::uint64_t r = 0;
  for (char c : v) {
    if (c < '0' || c > '9') return std::nullopt;
    r = r * 10 + static_cast<std::uint64_t>(c - '0');
  }
  return r;
}

}  // namespace starling::persistence::records
