// Minimal LEB128 varints and a bounds-checked reader, shared by every binary
// codec. The reader never reads past its input and reports non-minimal
// encodings, so decoders built on it can insist on canonical input.
#pragma once

#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

namespace starling::wire {

inline void put_varint(std::string& out, std::uint64_t v) {
  while (v >= 0x80) {
    out.push_back(static_cast<char>((v & 0x7f) | 0x80));
    v >>= 7;
  }
  out.push_back(static_cast<char>(v));
}
inline std::uint64_t zigzag(std::int64_t v) {
  return (static_cast<std::uint64_t>(v) << 1) ^ static_cast<std::uint64_t>(v >> 63);
}
inline std::int64_t unzigzag(std::uint64_t v) {
  return static_cast<std::int64_t>((v >> 1) ^ (~(v & 1) + 1));
}
inline void put_bytes(std::string& out, std::string_view b) {
  put_varint(out, b.size());
  out.append(b.data(), b.size());
}
inline void put_u64be(std::string& out, std::uint64_t v) {
  for (int i = 7; i >= 0; --i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}
inline std::uint64_t get_u64be(const char* p) {
  std::uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v = (v << 8) | static_cast<unsigned char>(p[i]);
  return v;
}

enum class read_status { ok, truncated, non_canonical, overflow };

class reader {
 public:
  explicit reader(std::string_view in) : in_(in) {}

  std::size_t remaining() const { return in_.size() - pos_; }
  std::size_t position() const { return pos_; }
  bool empty() const { return pos_ == in_.size(); }
  std::string_view rest() const { return in_.substr(pos_); }

  read_status varint(std::uint64_t& v) {
    v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      if (pos_ >= in_.size()) return read_status::truncated;
      auto b = static_cast<unsigned char>(in_[pos_++]);
      if (shift == 63 && b > 1) return read_status::overflow;
      v |= static_cast<std::uint64_t>(b & 0x7f) << shift;
      if (!(b & 0x80)) {
        if (b == 0 && shift != 0) return read_status::non_canonical;  // trailing zero group
        return read_status::ok;
      }
    }
    return read_status::overflow;
  }
  read_status u8(std::uint8_t& v) {
    if (pos_ >= in_.size()) return read_status::truncated;
    v = static_cast<std::uint8_t>(in_[pos_++]);
    return read_status::ok;
  }
  read_status raw(std::size_t n, std::string_view& out) {
    if (remaining() < n) return read_status::truncated;
    out = in_.substr(pos_, n);
    pos_ += n;
    return read_status::ok;
  }
  // Length-prefixed bytes, the length bounded by max.
  read_status bytes(std::string_view& out, std::size_t max) {
    std::uint64_t n;
    auto s = varint(n);
    if (s != read_status::ok) return s;
    if (n > max) return read_status::overflow;
    return raw(static_cast<std::size_t>(n), out);
  }

 private:
  std::string_view in_;
  std::size_t pos_ = 0;
};

// True if s is well-formed UTF-8 (no overlongs, no surrogates, <= U+10FFFF).
bool valid_utf8(std::string_view s);

}  // namespace starling::wire
