// The starling command line.
#include <cstring>
#include <iostream>
#include <string>

#include "app/demo.hpp"

namespace {

const char* usage =
    "usage: starling <command> [options]\n"
    "\n"
    "commands:\n"
    "  demo [--seed N] [--rounds N] [--dir DIR] [--keep]\n"
    "      three replicas with their own LMDB stores write concurrently to one\n"
    "      document, exchange changes in a seeded random order, restart from\n"
    "      disk and show identical state and digest\n";

int bad_usage(const std::string& why) {
  std::cerr << "starling: " << why << "\n" << usage;
  return 2;
}

bool parse_number(const char* s, std::uint64_t& out) {
  if (!s || !*s) return false;
  char* end = nullptr;
  out = std::strtoull(s, &end, 10);
  return *end == '\0';
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) return bad_usage("no command given");
  std::string cmd = argv[1];
  if (cmd == "--help" || cmd == "-h" || cmd == "help") {
    std::cout << usage;
    return 0;
  }
  if (cmd != "demo") return bad_usage("unknown command '" + cmd + "'");
  starling::app::demo_options opt;
  for (int i = 2; i < argc; ++i) {
    std::string a = argv[i];
    std::uint64_t n = 0;
    if (a == "--help" || a == "-h") {
      std::cout << usage;
      return 0;
    } else if (a == "--seed" && i + 1 < argc && parse_number(argv[i + 1], n) && n > 0) {
      opt.seed = n, ++i;
    } else if (a == "--rounds" && i + 1 < argc && parse_number(argv[i + 1], n) && n > 0 && n <= 100000) {
      opt.rounds = static_cast<int>(n), ++i;
    } else if (a == "--dir" && i + 1 < argc) {
      opt.dir = argv[++i];
    } else if (a == "--keep") {
      opt.keep = true;
    } else {
      return bad_usage("bad option '" + a + "'");
    }
  }
  try {
    return starling::app::run_demo(opt);
  } catch (const std::exception& e) {
    std::cerr << "starling demo: " << e.what() << "\n";
    return 1;
  }
}
