// Fuzzes document::from_snapshot: untrusted snapshot bytes (a peer behind the
// compaction horizon receives one). Whatever decodes must be a usable
// document whose snapshot decodes again to the same state.
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "crdt/document.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  auto d = starling::crdt::document::from_snapshot("fuzz", in);
  if (!d) return 0;
  auto state = d->state().dump();
  auto again = starling::crdt::document::from_snapshot("fuzz", d->snapshot());
  if (!again || again->state().dump() != state) std::abort();
  return 0;
}
