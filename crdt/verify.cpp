#include "crdt/verify.hpp"

#include <algorithm>
#include <map>

namespace starling::crdt {

batch_verification verify_batch(const std::vector<change>& batch) {
  batch_verification out;
  out.verdicts.assign(batch.size(), verdict::bad_signature);
  auto check_one = [&](std::size_t i) {
    ++out.signatures_checked;
    out.verdicts[i] = signature_valid(batch[i]) ? verdict::valid : verdict::bad_signature;
  };
  std::map<public_key, std::vector<std::size_t>> by_author;
  for (std::size_t i = 0; i < batch.size(); ++i) by_author[batch[i].author].push_back(i);
  for (auto& [author, idx] : by_author) {
    std::stable_sort(idx.begin(), idx.end(),
                     [&](std::size_t a, std::size_t b) { return batch[a].seq < batch[b].seq; });
    std::size_t run_start = 0;
    bool gap = false;
    for (std::size_t k = 0; k < idx.size(); ++k) {
      if (gap) {
        out.verdicts[idx[k]] = verdict::chain_gap;
        continue;
      }
      const change& c = batch[idx[k]];
      bool linked = false;
      if (k + 1 < idx.size()) {
        const change& n = batch[idx[k + 1]];
        if (n.seq > c.seq + 1) gap = true;
        linked = n.seq == c.seq + 1 && n.prev == c.hash;
      }
      if (linked) continue;
      check_one(idx[k]);
      if (out.verdicts[idx[k]] == verdict::valid) {
        for (std::size_t j = run_start; j < k; ++j) out.verdicts[idx[j]] = verdict::valid;
      } else {
        for (std::size_t j = run_start; j < k; ++j) check_one(idx[j]);
      }
      run_start = k + 1;
    }
  }
  return out;
}

}  // namespace starling::crdt
