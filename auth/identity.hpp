// A node's identity: its Ed25519 key pair, the key file that holds it, and
// node ids (the lowercase hex public key).
//
// Key file format (UTF-8 text, written with mode 0600; lines are `name: value`,
// blank lines and lines starting with '#' are ignored, each name appears once):
//
//   # starling node identity. Secret: keep this file mode 0600, never share it.
//   format: starling-identity-1
//   public-key: <64 lowercase hex: the Ed25519 public key = node id>
//   secret-seed: <64 lowercase hex: the 32-byte Ed25519 seed>
//
// The public key is redundant (it follows from the seed); load() checks that
// it matches, which catches a damaged or hand-edited file, and it lets an
// operator read the node id without any tool.
//
// Threading: identity is a value; const member functions and the free
// functions are safe to call from any thread. save()/load() touch only the
// files they are given.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <variant>

#include "crdt/crypto.hpp"
#include "crdt/expected.hpp"
#include "crdt/types.hpp"

namespace starling::auth {

enum class auth_errc {
  io = 1,                // the file system refused (message carries the OS reason)
  insecure_permissions,  // key file accessible by group or others
  malformed,             // not a key file in the format above
  exists,                // save() would overwrite an existing key file
  bad_node_id,           // parse_node_id: not 64 hex characters
  bad_permissions,       // permissions::parse: unknown name
};
const char* to_string(auth_errc c);

struct auth_error {
  auth_errc code;
  std::string message;  // says what is wrong and how to fix it; never key material
};

// The "no value" of expected<done, E>.
using done = std::monostate;

class identity {
 public:
  // A fresh random key pair.
  static identity generate();
  // Deterministic key pair from a 32-byte seed (tests and benchmarks).
  static identity from_seed(const std::array<std::uint8_t, 32>& seed);

  enum class on_existing { refuse, replace };
  // Writes the key file atomically: a temporary file in the same directory
  // created with O_EXCL and mode 0600, fsync'd, then moved into place (link
  // for `refuse`, so an existing identity is never clobbered; rename for
  // `replace`), then the directory is fsync'd. Readers see the old file or
  // the complete new one, never a partial one.
  expected<done, auth_error> save(const std::string& path,
                                  on_existing mode = on_existing::refuse) const;

  // Reads a key file. Refuses, with a message naming the path, the mode and
  // the fix (chmod 600), a file that group or others may access in any way
  // (like ssh, any of the 077 bits); refuses anything not in the format.
  static expected<identity, auth_error> load(const std::string& path);

  const public_key& key() const { return kp_.pk; }
  // Lowercase hex public key (64 characters).
  std::string node_id() const;
  // First 8 hex characters: how logs show this node.
  std::string short_id() const;
  // The key pair, for crdt::sign().
  const crypto::keypair& keys() const { return kp_; }

  signature sign(byte_view message) const;
  static bool verify(const public_key& pk, byte_view message, const signature& sig);

 private:
  explicit identity(crypto::keypair kp) : kp_(std::move(kp)) {}
  crypto::keypair kp_;
};

// Parses a node id: exactly 64 hex characters (either case; node_id() writes
// lowercase). Errors say what was wrong without echoing long input.
expected<public_key, auth_error> parse_node_id(std::string_view text);

}  // namespace starling::auth
