// Writing files so that nothing written is lost: content goes to a temporary file in the
// target's directory, is flushed to disk, and replaces the target by rename (atomic on POSIX).
// A failure at any point (disk full, unwritable directory) throws io_error naming the path
// and leaves the previous file untouched.
#pragma once

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>
#include <string_view>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "reg4rec/core/error.hpp"

namespace reg4rec::io {

class atomic_file {
 public:
  explicit atomic_file(std::string path) : path_(std::move(path)) {
    tmp_ = path_ + ".tmp.XXXXXX";
    fd_ = ::mkstemp(tmp_.data());
    if (fd_ < 0) throw io_error(path_, std::string("cannot create a temporary file: ") + std::strerror(errno));
  }
  atomic_file(const atomic_file&) = delete;
  atomic_file& operator=(const atomic_file&) = delete;
  ~atomic_file() {
    if (fd_ >= 0) {
      ::close(fd_);
      ::unlink(tmp_.c_str());
    }
  }

  void write(const void* data, std::size_t bytes) {
    const char* p = static_cast<const char*>(data);
    while (bytes > 0) {
      const ssize_t n = ::write(fd_, p, bytes);
      if (n < 0) {
        if (errno == EINTR) continue;
        throw io_error(path_, std::string("write failed: ") + std::strerror(errno));
      }
      p += n;
      bytes -= static_cast<std::size_t>(n);
      written_ += static_cast<std::size_t>(n);
    }
  }
  void write(std::string_view s) { write(s.data(), s.size()); }

  std::size_t bytes_written() const noexcept { return written_; }
  const std::string& path() const noexcept { return path_; }

  /// Flushes to disk and renames over the target. Without commit, the target is untouched.
  void commit() {
    if (::fsync(fd_) != 0) throw io_error(path_, std::string("fsync failed: ") + std::strerror(errno));
    // mkstemp creates 0600; give the file the usual permissions of a new file (reading the
    // umask would mean changing it, which is not thread-safe).
    ::fchmod(fd_, 0644);
    if (::close(fd_) != 0) {
      fd_ = -1;
      ::unlink(tmp_.c_str());
      throw io_error(path_, std::string("close failed: ") + std::strerror(errno));
    }
    fd_ = -1;
    if (::rename(tmp_.c_str(), path_.c_str()) != 0) {
      const int e = errno;
      ::unlink(tmp_.c_str());
      throw io_error(path_, std::string("rename failed: ") + std::strerror(e));
    }
  }

 private:
  std::string path_, tmp_;
  int fd_ = -1;
  std::size_t written_ = 0;
};

/// Writes `content` to `path` atomically.
inline void write_file_atomic(const std::string& path, std::string_view content) {
  atomic_file f(path);
  f.write(content);
  f.commit();
}

/// Reads a whole file; io_error naming the path when it cannot.
inline std::string read_file(const std::string& path) {
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (!f) throw io_error(path, std::string("cannot open: ") + std::strerror(errno));
  std::string out;
  char buf[1 << 16];
  std::size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) out.append(buf, n);
  const int e = errno;
  const bool bad = std::ferror(f) != 0;
  std::fclose(f);
  if (bad) throw io_error(path, std::string("read failed: ") + std::strerror(e));
  return out;
}

}  // namespace reg4rec::io
