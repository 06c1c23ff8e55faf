// `starling demo`: a three-node cluster on loopback with embedded defaults.
#pragma once

#include <cstdint>
#include <string>

namespace starling::app {

struct demo_options {
  std::uint64_t seed = 0;  // 0: a random seed (printed)
  int rounds = 20;         // writes per node
  std::string dir;         // parent of the nodes' data dirs; empty: a temp dir, removed at the end
  bool keep = false;       // keep running until Ctrl-C, print the URLs, keep the data
};

// Returns the process exit code: 0 when all nodes converged.
int run_demo(const demo_options& opt);

}  // namespace starling::app
