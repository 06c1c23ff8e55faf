// Fuzzes the canonical change codec: whatever decodes must re-encode to the
// exact input bytes (one encoding per change), with a consistent hash, and
// decode_prefix must agree with decode.
#include <cstdio>
#include <cstdlib>

#include "crdt/change.hpp"

using namespace starling;

namespace {
[[noreturn]] void fail(const char* what) {
  std::fprintf(stderr, "fuzz_change_decode: %s\n", what);
  std::abort();
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const byte_view in(reinterpret_cast<const char*>(data), size);
  auto c = crdt::decode(in);

  byte_view rest = in;
  auto p = crdt::decode_prefix(rest);
  if (c) {
    if (crdt::encode(*c) != in) fail("decoded change does not re-encode to the input bytes");
    if (crdt::compute_hash(*c) != c->hash) fail("decoded hash differs from the hash of the re-encoding");
    if (!p || !rest.empty() || p->hash != c->hash) fail("decode_prefix disagrees with decode");
  } else if (c.error().code == crdt::codec_errc::trailing_bytes) {
    if (!p || rest.empty()) fail("trailing_bytes, yet decode_prefix fails or consumed everything");
    if (crdt::encode(*p) != in.substr(0, in.size() - rest.size())) fail("prefix does not re-encode");
  }
  return 0;
}
