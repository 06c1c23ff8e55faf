// Fuzzes the binary frame decoders (change batches and snapshot chunks).
// Both formats have one encoding per value, so whatever decodes must
// re-encode to the exact input bytes.
#include <cstdio>
#include <cstdlib>

#include "protocol/binary.hpp"

using namespace starling;
using namespace starling::protocol;

namespace {
[[noreturn]] void fail(const char* what) {
  std::fprintf(stderr, "fuzz_batch_decode: %s\n", what);
  std::abort();
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const byte_view in(reinterpret_cast<const char*>(data), size);
  auto kind = peek_binary_kind(in);

  auto batch = decode_batch(in);
  if (batch) {
    if (!kind || *kind != binary_kind::change_batch) fail("batch decoded, but peek says otherwise");
    if (encode_batch(batch->doc, batch->changes) != in) fail("batch does not re-encode to the input bytes");
    for (auto& c : batch->changes)
      if (c.doc != batch->doc) fail("change of another doc accepted");
  }

  auto chunk = decode_snapshot_chunk(in);
  if (chunk) {
    if (!kind || *kind != binary_kind::snapshot_chunk) fail("chunk decoded, but peek says otherwise");
    if (encode_snapshot_chunk(*chunk) != in) fail("chunk does not re-encode to the input bytes");
  }
  if (batch && chunk) fail("one frame decoded as two kinds");
  return 0;
}
