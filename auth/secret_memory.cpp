#include "auth/secret_memory.hpp"

#include <sodium.h>

namespace starling::auth {

void wipe(void* p, std::size_t n) { sodium_memzero(p, n); }

}  // namespace starling::auth
