#pragma once

#include <cstdint>
#include <string>

namespace starling::app {

struct demo_options {
  std::uint64_t seed = 0;  // 0: a random seed (printed)
  int rounds = 20;
  std::string dir;         // empty: a temp dir, removed at the end
  bool keep = false;       // keep the temp dir
};

// Returns the process exit code: 0 when all replicas converged.
int run_demo(const demo_options& opt);

}  // namespace starling::app
