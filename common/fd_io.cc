#include "common/fd_io.h"

#include <unistd.h>

#include <cerrno>
#include <system_error>

namespace gf {

std::string ErrnoText(int error) {
  return std::error_code(error, std::generic_category()).message();
}

int ReadFully(int fd, void* data, size_t size, size_t* done) {
  auto* out = static_cast<char*>(data);
  *done = 0;
  while (*done < size) {
    const ssize_t n = read(fd, out + *done, size - *done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return errno;
    if (n == 0) break;  // end of file
    *done += static_cast<size_t>(n);
  }
  return 0;
}

int WriteFully(int fd, const void* data, size_t size) {
  const auto* in = static_cast<const char*>(data);
  size_t done = 0;
  while (done < size) {
    const ssize_t n = write(fd, in + done, size - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return n < 0 ? errno : EIO;
    done += static_cast<size_t>(n);
  }
  return 0;
}

}  // namespace gf
