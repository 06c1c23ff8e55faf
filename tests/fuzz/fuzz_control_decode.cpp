// Fuzzes the JSON control frame decoder: whatever decodes must re-encode to
// text that decodes to the same frame and re-encodes identically.
#include <cstdio>
#include <cstdlib>

#include "protocol/control.hpp"

using namespace starling;
using namespace starling::protocol;

namespace {
[[noreturn]] void fail(const char* what) {
  std::fprintf(stderr, "fuzz_control_decode: %s\n", what);
  std::abort();
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  auto f = decode_control(text);
  if (!f) return 0;
  const std::string once = encode(*f);
  auto again = decode_control(once);
  if (!again) {
    std::fprintf(stderr, "re-decode failed: %s\n", again.error().message.c_str());
    fail("an encoded frame does not decode");
  }
  if (!(*again == *f)) fail("re-decoded frame differs");
  if (encode(*again) != once) fail("re-encoding differs");
  return 0;
}
