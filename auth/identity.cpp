#include "auth/identity.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <system_error>

#include "auth/secret_memory.hpp"

namespace starling::auth {

namespace {

constexpr std::string_view format_name = "starling-identity-1";
// Generous for the three lines and comments; anything larger is not ours.
constexpr std::size_t max_key_file_bytes = 4096;

std::string os_reason(int err) { return std::error_code(err, std::generic_category()).message(); }

auth_error io_error(const std::string& what, const std::string& path, int err) {
  return {auth_errc::io, what + " '" + path + "': " + os_reason(err)};
}

std::string octal_mode(mode_t m) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "%04o", static_cast<unsigned>(m & 07777));
  return buf;
}

int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Decodes exactly 2*N hex characters into out; no heap copies of the bytes,
// so secret seeds can be decoded without leaving stray copies behind.
template <std::size_t N>
bool decode_hex_into(std::string_view hex, std::array<std::uint8_t, N>& out) {
  if (hex.size() != 2 * N) return false;
  for (std::size_t i = 0; i < N; ++i) {
    int hi = hex_digit(hex[2 * i]), lo = hex_digit(hex[2 * i + 1]);
    if (hi < 0 || lo < 0) return false;
    out[i] = static_cast<std::uint8_t>(hi * 16 + lo);
  }
  return true;
}

std::string parent_dir(const std::string& path) {
  auto slash = path.find_last_of('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

bool write_all(int fd, std::string_view data) {
  while (!data.empty()) {
    ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    data.remove_prefix(static_cast<std::size_t>(n));
  }
  return true;
}

expected<done, auth_error> fsync_dir(const std::string& dir) {
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return make_unexpected(io_error("cannot open directory", dir, errno));
  int rc = ::fsync(fd);
  int err = errno;
  ::close(fd);
  if (rc != 0) return make_unexpected(io_error("cannot fsync directory", dir, err));
  return done{};
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) s.remove_suffix(1);
  return s;
}

// Parses the key file text. Messages name lines and fields, never values.
expected<identity, auth_error> parse_key_file(std::string_view text, const std::string& path) {
  auto bad = [&](const std::string& why) {
    return make_unexpected(auth_error{auth_errc::malformed,
                                      "key file '" + path + "' is not a starling identity: " + why});
  };
  std::string_view format, pk_hex, seed_hex;
  bool have_format = false, have_pk = false, have_seed = false;
  std::size_t line_no = 0;
  while (!text.empty()) {
    ++line_no;
    auto nl = text.find('\n');
    std::string_view line = trim(text.substr(0, nl));
    text.remove_prefix(nl == std::string_view::npos ? text.size() : nl + 1);
    if (line.empty() || line.front() == '#') continue;
    auto colon = line.find(':');
    if (colon == std::string_view::npos)
      return bad("line " + std::to_string(line_no) + " is not `name: value`");
    auto name = trim(line.substr(0, colon));
    auto value = trim(line.substr(colon + 1));
    bool* seen;
    std::string_view* slot;
    if (name == "format") seen = &have_format, slot = &format;
    else if (name == "public-key") seen = &have_pk, slot = &pk_hex;
    else if (name == "secret-seed") seen = &have_seed, slot = &seed_hex;
    else return bad("line " + std::to_string(line_no) + " has an unknown field");
    if (*seen) return bad("field " + std::string(name) + " appears twice");
    *seen = true;
    *slot = value;
  }
  if (!have_format) return bad("no `format:` line");
  if (format != format_name)
    return bad("unknown format (this build reads " + std::string(format_name) + ")");
  if (!have_pk) return bad("no `public-key:` line");
  if (!have_seed) return bad("no `secret-seed:` line");
  auto pk = fixed_from_hex<32>(pk_hex);
  if (!pk) return bad("public-key is not 64 hex characters");
  std::array<std::uint8_t, 32> seed{};
  bool seed_ok = decode_hex_into(seed_hex, seed);
  if (!seed_ok) {
    wipe(seed.data(), seed.size());
    return bad("secret-seed is not 64 hex characters");
  }
  auto id = identity::from_seed(seed);
  wipe(seed.data(), seed.size());
  if (id.key() != *pk)
    return bad("public-key does not match secret-seed (the file is damaged or was edited)");
  return id;
}

}  // namespace

const char* to_string(auth_errc c) {
  switch (c) {
    case auth_errc::io: return "io";
    case auth_errc::insecure_permissions: return "insecure_permissions";
    case auth_errc::malformed: return "malformed";
    case auth_errc::exists: return "exists";
    case auth_errc::bad_node_id: return "bad_node_id";
    case auth_errc::bad_permissions: return "bad_permissions";
  }
  return "unknown";
}

identity identity::generate() { return identity(crypto::generate_keypair()); }

identity identity::from_seed(const std::array<std::uint8_t, 32>& seed) {
  return identity(crypto::keypair_from_seed(seed));
}

std::string identity::node_id() const { return to_hex(kp_.pk); }
std::string identity::short_id() const { return starling::short_id(kp_.pk); }

signature identity::sign(byte_view message) const { return crypto::sign(message, kp_.sk); }

bool identity::verify(const public_key& pk, byte_view message, const signature& sig) {
  return crypto::verify(message, sig, pk);
}

expected<done, auth_error> identity::save(const std::string& path, on_existing mode) const {
  // libsodium's secret key layout is seed || public key.
  wiped_string text;
  text.get().reserve(512);  // no reallocation: no unwiped copies of the seed
  text.get() += "# starling node identity. Secret: keep this file mode 0600, never share it.\n";
  text.get() += "format: ";
  text.get() += format_name;
  text.get() += "\npublic-key: ";
  text.get() += to_hex(kp_.pk);
  text.get() += "\nsecret-seed: ";
  {
    wiped_string seed_hex;
    seed_hex.get() = to_hex(byte_view(reinterpret_cast<const char*>(kp_.sk.v.data()), 32));
    text.get() += seed_hex.get();
  }
  text.get() += "\n";

  std::array<std::uint8_t, 6> rnd;
  crypto::random_bytes(rnd.data(), rnd.size());
  const std::string tmp = path + ".tmp-" + to_hex(byte_view(reinterpret_cast<const char*>(rnd.data()), rnd.size()));

  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) return make_unexpected(io_error("cannot create key file", tmp, errno));
  auto fail = [&](const std::string& what, const std::string& p, int err) {
    ::unlink(tmp.c_str());
    return make_unexpected(io_error(what, p, err));
  };
  // The umask can only clear bits, but make the mode exact regardless.
  if (::fchmod(fd, 0600) != 0) {
    int err = errno;
    ::close(fd);
    return fail("cannot set mode 0600 on", tmp, err);
  }
  if (!write_all(fd, text.get()) || ::fsync(fd) != 0) {
    int err = errno;
    ::close(fd);
    return fail("cannot write key file", tmp, err);
  }
  if (::close(fd) != 0) return fail("cannot write key file", tmp, errno);

  if (mode == on_existing::refuse) {
    // link() fails with EEXIST atomically if the target exists.
    if (::link(tmp.c_str(), path.c_str()) != 0) {
      int err = errno;
      ::unlink(tmp.c_str());
      if (err == EEXIST)
        return make_unexpected(auth_error{
            auth_errc::exists, "key file '" + path +
                                   "' already exists; refusing to overwrite an identity (move it away first)"});
      return make_unexpected(io_error("cannot create key file", path, err));
    }
    ::unlink(tmp.c_str());
  } else if (::rename(tmp.c_str(), path.c_str()) != 0) {
    return fail("cannot replace key file", path, errno);
  }
  return fsync_dir(parent_dir(path));
}

expected<identity, auth_error> identity::load(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY);
  if (fd < 0) return make_unexpected(io_error("cannot open key file", path, errno));
  struct closer {
    int fd;
    ~closer() { ::close(fd); }
  } close_on_exit{fd};

  // fstat on the open descriptor: the checked file is the file read.
  struct stat st;
  if (::fstat(fd, &st) != 0) return make_unexpected(io_error("cannot stat key file", path, errno));
  if (!S_ISREG(st.st_mode))
    return make_unexpected(auth_error{auth_errc::malformed, "key file '" + path + "' is not a regular file"});
  if ((st.st_mode & 077) != 0)
    return make_unexpected(auth_error{
        auth_errc::insecure_permissions,
        "key file '" + path + "' has mode " + octal_mode(st.st_mode) +
            ", so group or others can access the secret key; it must be readable by its owner only. "
            "Fix it with: chmod 600 '" + path + "'"});

  wiped_string text;
  text.get().resize(max_key_file_bytes + 1);
  std::size_t len = 0;
  while (len < text.get().size()) {
    ssize_t n = ::read(fd, text.get().data() + len, text.get().size() - len);
    if (n < 0) {
      if (errno == EINTR) continue;
      return make_unexpected(io_error("cannot read key file", path, errno));
    }
    if (n == 0) break;
    len += static_cast<std::size_t>(n);
  }
  if (len > max_key_file_bytes)
    return make_unexpected(auth_error{auth_errc::malformed, "key file '" + path + "' is larger than " +
                                                               std::to_string(max_key_file_bytes) +
                                                               " bytes; not a starling identity"});
  return parse_key_file(std::string_view(text.get()).substr(0, len), path);
}

expected<public_key, auth_error> parse_node_id(std::string_view text) {
  constexpr std::size_t want = 2 * public_key::size();
  if (text.size() != want)
    return make_unexpected(auth_error{auth_errc::bad_node_id,
                                      "a node id is " + std::to_string(want) +
                                          " hex characters (an Ed25519 public key); got " +
                                          std::to_string(text.size()) + " characters"});
  for (std::size_t i = 0; i < text.size(); ++i)
    if (hex_digit(text[i]) < 0)
      return make_unexpected(auth_error{auth_errc::bad_node_id, "node id has a non-hex character at position " +
                                                                    std::to_string(i + 1)});
  return *fixed_from_hex<32>(text);
}

}  // namespace starling::auth
