// The libsodium calls auth/ makes itself (everything else goes through
// crdt/crypto.hpp). Thread-safe.
#pragma once

#include <cstddef>
#include <string>

namespace starling::auth {

// Overwrites n bytes at p with zeros in a way the compiler cannot elide:
// secret key material is wiped from buffers once they are no longer needed.
void wipe(void* p, std::size_t n);
inline void wipe(std::string& s) {
  if (!s.empty()) wipe(s.data(), s.size());
}

// Owns a std::string holding secret material and wipes it on destruction.
class wiped_string {
 public:
  wiped_string() = default;
  wiped_string(const wiped_string&) = delete;
  wiped_string& operator=(const wiped_string&) = delete;
  ~wiped_string() {
    s_.resize(s_.capacity());  // wipe the whole buffer, not just the live part
    wipe(s_);
  }
  std::string& get() { return s_; }
  const std::string& get() const { return s_; }

 private:
  std::string s_;
};

}  // namespace starling::auth
