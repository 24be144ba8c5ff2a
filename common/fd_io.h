// Whole-buffer reads and writes on POSIX file descriptors, retried on EINTR, and errno text.
// Used by every file the cache writes (disk tier records, context files, the cache secret).
// Pure functions of their arguments; thread-safe as the descriptors are. Sizes in bytes.
#pragma once

#include <cstddef>
#include <string>

namespace gf {

// strerror-style text of an errno value (thread-safe).
std::string ErrnoText(int error);

// Reads up to `size` bytes into `data`, stopping early only at end of file. Returns 0 and sets
// *done to the bytes read, or returns the errno of a failed read (*done = bytes read before it).
int ReadFully(int fd, void* data, size_t size, size_t* done);

// Writes all `size` bytes. Returns 0, or the errno of the failed write (EIO when the kernel
// accepted nothing without an error).
int WriteFully(int fd, const void* data, size_t size);

}  // namespace gf
