#include "persistence/dir_lock.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

namespace starling::persistence {

namespace {

constexpr std::size_t max_pid_text = 32;

std::string os_error(const char* call, int err) { return std::string(call) + ": " + std::strerror(err); }

// The pid the holder wrote, digits only; empty if it has not written one yet.
std::string read_pid(int fd) {
  char buf[max_pid_text];
  auto n = ::pread(fd, buf, sizeof buf, 0);
  std::string pid;
  for (ssize_t i = 0; i < n && buf[i] >= '0' && buf[i] <= '9'; ++i) pid += buf[i];
  return pid;
}

}  // namespace

expected<dir_lock, store_error> dir_lock::acquire(const std::string& dir) {
  const std::string path = dir + "/" + lock_file_name;
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) return make_unexpected(store_error{store_errc::io, "cannot open " + path + ": " + os_error("open", errno)});
  dir_lock lock(fd);  // closes fd on every return below but the last
  int rc;
  do rc = ::flock(fd, LOCK_EX | LOCK_NB);
  while (rc != 0 && errno == EINTR);
  if (rc != 0) {
    int err = errno;
    if (err != EWOULDBLOCK)
      return make_unexpected(store_error{store_errc::io, "cannot lock " + path + ": " + os_error("flock", err)});
    auto pid = read_pid(fd);
    return make_unexpected(store_error{
        store_errc::locked, "data directory " + dir + " is in use by another process (pid " +
                                (pid.empty() ? std::string("unknown") : pid) + " holds " + path +
                                "); two nodes must not share a data directory"});
  }
  const std::string text = std::to_string(::getpid()) + "\n";
  if (::ftruncate(fd, 0) != 0 || ::pwrite(fd, text.data(), text.size(), 0) != static_cast<ssize_t>(text.size()))
    return make_unexpected(store_error{store_errc::io, "cannot write " + path + ": " + os_error("write", errno)});
  return expected<dir_lock, store_error>(std::move(lock));
}

dir_lock::dir_lock(dir_lock&& o) noexcept : fd_(std::exchange(o.fd_, -1)) {}

dir_lock& dir_lock::operator=(dir_lock&& o) noexcept {
  if (this != &o) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = std::exchange(o.fd_, -1);
  }
  return *this;
}

dir_lock::~dir_lock() {
  // Closing the descriptor releases the lock; the file stays (removing it
  // would race with a new opener that already has it open).
  if (fd_ >= 0) ::close(fd_);
}

}  // namespace starling::persistence
