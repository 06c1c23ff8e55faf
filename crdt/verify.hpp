// Signature verification of changes, single and amortised.
// Pure functions; thread-safe (a caller may verify off its owner's thread).
#pragma once

#include <vector>

#include "crdt/change.hpp"

namespace starling::crdt {

enum class verdict : std::uint8_t {
  valid,          // signature checked, or vouched by a later change's signature
  bad_signature,  // the signature that covers this change does not verify
  chain_gap,      // the batch skips a seq of this author before this change
};

struct batch_verification {
  std::vector<verdict> verdicts;  // one per input change
  std::size_t signatures_checked = 0;
};

// Per author, the changes of a batch form runs linked by `prev` hashes; the
// signature of a run's newest change vouches for every change below it (its
// hash covers prev, which covers the one before, and so on). So a batch costs
// one signature check per run plus the hashes decode() already computed.
// If a run's newest signature fails, each change of the run is checked on its
// own, so a bad signature refuses only itself.
batch_verification verify_batch(const std::vector<change>& batch);

}  // namespace starling::crdt
