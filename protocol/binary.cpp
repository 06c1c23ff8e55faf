#include "protocol/binary.hpp"

#include <algorithm>
#include <new>

#include "crdt/varint.hpp"

namespace starling::protocol {

namespace {

constexpr std::size_t header_bytes = 3;
// Smallest possible signed change: version, 1-byte doc, author, seq, prev,
// ndeps, time, nops, one 4-byte op, signature. Bounds up-front reservations.
constexpr std::size_t min_change_bytes = 1 + 2 + 32 + 1 + 32 + 1 + 1 + 1 + 4 + 64;

std::size_t varint_size(std::uint64_t v) {
  std::size_t n = 1;
  while (v >= 0x80) v >>= 7, ++n;
  return n;
}

void put_header(bytes& out, binary_kind k, std::string_view doc) {
  out.push_back(static_cast<char>(binary_magic));
  out.push_back(static_cast<char>(k));
  out.push_back(static_cast<char>(binary_format_version));
  wire::put_bytes(out, doc);
}

protocol_error err(errc c, std::string msg) { return {c, std::move(msg)}; }

// Maps a reader failure to a protocol error naming the field.
protocol_error read_error(wire::read_status s, const char* field) {
  switch (s) {
    case wire::read_status::truncated: return err(errc::malformed, std::string("frame ends inside ") + field);
    case wire::read_status::non_canonical:
      return err(errc::malformed, std::string("non-minimal varint in ") + field);
    case wire::read_status::overflow: return err(errc::too_large, std::string(field) + " is too large");
    case wire::read_status::ok: break;
  }
  return err(errc::internal, "read_error called on success");
}

// Header and document name, shared by both frame kinds.
expected<std::string, protocol_error> read_header(wire::reader& r, byte_view frame, binary_kind want,
                                                  const protocol_limits& lim) {
  if (frame.size() > lim.max_frame_bytes)
    return make_unexpected(err(errc::too_large, "binary frame of " + std::to_string(frame.size()) +
                                                    " bytes exceeds the limit of " +
                                                    std::to_string(lim.max_frame_bytes)));
  auto kind = peek_binary_kind(frame);
  if (!kind) return make_unexpected(kind.error());
  if (*kind != want)
    return make_unexpected(err(errc::malformed, want == binary_kind::change_batch
                                                    ? "expected a change batch, got a snapshot chunk"
                                                    : "expected a snapshot chunk, got a change batch"));
  std::string_view skip;
  r.raw(header_bytes, skip);
  std::string_view doc;
  auto s = r.bytes(doc, max_doc_name);
  if (s == wire::read_status::overflow) return make_unexpected(err(errc::bad_field, "doc name is too long"));
  if (s != wire::read_status::ok) return make_unexpected(read_error(s, "doc"));
  if (!valid_doc_name(doc))
    return make_unexpected(err(errc::bad_field, "doc is not a document name ([A-Za-z0-9._-]{1,128})"));
  return std::string(doc);
}

std::string change_label(std::uint64_t i, std::uint64_t n) {
  return "change " + std::to_string(i + 1) + " of " + std::to_string(n);
}

}  // namespace

expected<binary_kind, protocol_error> peek_binary_kind(byte_view frame) {
  if (frame.size() < header_bytes) return make_unexpected(err(errc::malformed, "binary frame shorter than its header"));
  if (static_cast<std::uint8_t>(frame[0]) != binary_magic)
    return make_unexpected(err(errc::malformed, "not a starling binary frame (bad magic byte)"));
  auto kind = static_cast<std::uint8_t>(frame[1]);
  if (kind != static_cast<std::uint8_t>(binary_kind::change_batch) &&
      kind != static_cast<std::uint8_t>(binary_kind::snapshot_chunk))
    return make_unexpected(err(errc::unknown_type, "unknown binary frame kind " + std::to_string(kind)));
  auto version = static_cast<std::uint8_t>(frame[2]);
  if (version != binary_format_version)
    return make_unexpected(err(errc::unsupported_version,
                               "binary frame format " + std::to_string(version) + " (this build reads " +
                                   std::to_string(binary_format_version) + ")"));
  return static_cast<binary_kind>(kind);
}

// ------------------------------------------------------------ change batch

bytes encode_batch(std::string_view doc, const std::vector<bytes>& encoded_changes, batch_range r) {
  std::size_t total = header_bytes + varint_size(doc.size()) + doc.size() + varint_size(r.end - r.begin);
  for (std::size_t i = r.begin; i < r.end; ++i)
    total += varint_size(encoded_changes[i].size()) + encoded_changes[i].size();
  bytes out;
  out.reserve(total);
  put_header(out, binary_kind::change_batch, doc);
  wire::put_varint(out, r.end - r.begin);
  for (std::size_t i = r.begin; i < r.end; ++i) wire::put_bytes(out, encoded_changes[i]);
  return out;
}

bytes encode_batch(std::string_view doc, const std::vector<bytes>& encoded_changes) {
  return encode_batch(doc, encoded_changes, batch_range{0, encoded_changes.size()});
}

bytes encode_batch(std::string_view doc, const std::vector<crdt::change>& changes) {
  std::vector<bytes> encoded;
  encoded.reserve(changes.size());
  for (auto& c : changes) encoded.push_back(crdt::encode(c));
  return encode_batch(doc, encoded);
}

expected<change_batch, protocol_error> decode_batch(byte_view frame, const protocol_limits& lim) {
  try {
    wire::reader r(frame);
    auto doc = read_header(r, frame, binary_kind::change_batch, lim);
    if (!doc) return make_unexpected(doc.error());
    change_batch out;
    out.doc = std::move(*doc);

    std::uint64_t count;
    if (auto s = r.varint(count); s != wire::read_status::ok) return make_unexpected(read_error(s, "change count"));
    if (count > lim.max_batch_changes)
      return make_unexpected(err(errc::too_large, "batch of " + std::to_string(count) + " changes exceeds the limit of " +
                                                      std::to_string(lim.max_batch_changes)));
    // The count is untrusted: reserve no more than the bytes could hold.
    out.changes.reserve(static_cast<std::size_t>(std::min<std::uint64_t>(count, r.remaining() / min_change_bytes + 1)));

    for (std::uint64_t i = 0; i < count; ++i) {
      std::uint64_t len;
      if (auto s = r.varint(len); s != wire::read_status::ok)
        return make_unexpected(read_error(s, "change length"));
      if (len > lim.change.max_encoded_bytes)
        return make_unexpected(err(errc::too_large, change_label(i, count) + " is " + std::to_string(len) +
                                                        " bytes, over the limit of " +
                                                        std::to_string(lim.change.max_encoded_bytes)));
      std::string_view body;
      if (auto s = r.raw(static_cast<std::size_t>(len), body); s != wire::read_status::ok)
        return make_unexpected(read_error(s, "a change"));
      auto c = crdt::decode(body, lim.change);
      if (!c)
        return make_unexpected(err(c.error().code == crdt::codec_errc::too_large ? errc::too_large : errc::bad_change,
                                   change_label(i, count) + ": " + c.error().message));
      if (c->doc != out.doc)
        return make_unexpected(err(errc::bad_change, change_label(i, count) + " belongs to doc '" + c->doc +
                                                         "', not the batch's doc '" + out.doc + "'"));
      out.changes.push_back(std::move(*c));
    }
    if (!r.empty()) return make_unexpected(err(errc::malformed, "bytes after the last change of the batch"));
    return out;
  } catch (const std::bad_alloc&) {
    return make_unexpected(err(errc::internal, "out of memory decoding a change batch"));
  }
}

std::vector<batch_range> plan_batches(std::string_view doc, const std::vector<bytes>& encoded_changes,
                                      std::size_t max_bytes, std::size_t max_changes) {
  // The count varint is sized for the largest count a batch may hold, so
  // that the estimate never grows as changes are added.
  const std::size_t fixed = header_bytes + varint_size(doc.size()) + doc.size() +
                            varint_size(std::max<std::size_t>(max_changes, encoded_changes.size()));
  std::vector<batch_range> out;
  batch_range cur{0, 0};
  std::size_t size = fixed;
  for (std::size_t i = 0; i < encoded_changes.size(); ++i) {
    std::size_t add = varint_size(encoded_changes[i].size()) + encoded_changes[i].size();
    bool full = cur.end > cur.begin && (size + add > max_bytes || cur.end - cur.begin >= max_changes);
    if (full) {
      out.push_back(cur);
      cur = {i, i};
      size = fixed;
    }
    size += add;
    cur.end = i + 1;
  }
  if (cur.end > cur.begin) out.push_back(cur);
  return out;
}

std::vector<bytes> encode_batches(std::string_view doc, const std::vector<bytes>& encoded_changes,
                                  const protocol_limits& lim) {
  std::vector<bytes> frames;
  for (auto r : plan_batches(doc, encoded_changes, lim.max_batch_bytes, lim.max_batch_changes))
    frames.push_back(encode_batch(doc, encoded_changes, r));
  return frames;
}

// ---------------------------------------------------------- snapshot chunk

bytes encode_snapshot_chunk(const snapshot_chunk& c) {
  bytes out;
  out.reserve(header_bytes + 2 + c.doc.size() + 10 + 5 + c.data.size());
  put_header(out, binary_kind::snapshot_chunk, c.doc);
  wire::put_varint(out, c.offset);
  wire::put_bytes(out, c.data);
  return out;
}

expected<snapshot_chunk, protocol_error> decode_snapshot_chunk(byte_view frame, const protocol_limits& lim) {
  try {
    wire::reader r(frame);
    auto doc = read_header(r, frame, binary_kind::snapshot_chunk, lim);
    if (!doc) return make_unexpected(doc.error());
    snapshot_chunk out;
    out.doc = std::move(*doc);
    if (auto s = r.varint(out.offset); s != wire::read_status::ok) return make_unexpected(read_error(s, "offset"));
    std::string_view data;
    if (auto s = r.bytes(data, lim.max_frame_bytes); s != wire::read_status::ok)
      return make_unexpected(read_error(s, "chunk data"));
    if (out.offset > lim.max_snapshot_bytes || data.size() > lim.max_snapshot_bytes - out.offset)
      return make_unexpected(err(errc::too_large, "snapshot chunk ends past the snapshot size limit of " +
                                                      std::to_string(lim.max_snapshot_bytes)));
    if (!r.empty()) return make_unexpected(err(errc::malformed, "bytes after the snapshot chunk"));
    out.data = std::string(data);
    return out;
  } catch (const std::bad_alloc&) {
    return make_unexpected(err(errc::internal, "out of memory decoding a snapshot chunk"));
  }
}

std::vector<bytes> encode_snapshot_chunks(std::string_view doc, byte_view body, std::size_t max_data_bytes) {
  std::vector<bytes> frames;
  if (max_data_bytes == 0) max_data_bytes = 1;
  for (std::size_t off = 0; off < body.size(); off += max_data_bytes)
    frames.push_back(encode_snapshot_chunk({std::string(doc), off, bytes(body.substr(off, max_data_bytes))}));
  return frames;
}

}  // namespace starling::protocol
