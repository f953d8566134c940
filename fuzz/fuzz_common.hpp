// Shared by the fuzz targets: the input-to-file plumbing and the entry-point macro.
//
// Every parser of the library reads a path, so each input is written to one temporary file per
// process (in /dev/shm when it exists, so no disk traffic) and the loader reads it back. A
// target returns normally when the input is accepted or rejected with reg4rec::error; any
// other outcome — a crash, a sanitizer report, another exception type, a hang, a huge
// allocation — is a bug that libFuzzer reports.
//
// REG4REC_FUZZ_TARGET(name) { body using data, size } defines reg4rec_fuzz_<name>(data, size)
// and, when compiled with REG4REC_FUZZ_LIBFUZZER, the LLVMFuzzerTestOneInput that calls it.
// Without it the functions can be linked together into an ordinary program (the corpus replay
// test in tests/robustness/ runs every seed file through them with any compiler).
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <reg4rec/core/error.hpp>

namespace reg4rec::fuzz {

class scratch_file {
 public:
  scratch_file() {
    struct stat st;
    const std::string dir = ::stat("/dev/shm", &st) == 0 && S_ISDIR(st.st_mode) ? "/dev/shm" : "/tmp";
    path_ = dir + "/reg4rec-fuzz-XXXXXX";
    const int fd = ::mkstemp(path_.data());
    if (fd < 0) {
      std::perror("reg4rec fuzz: mkstemp");
      std::abort();
    }
    ::close(fd);
  }
  ~scratch_file() { ::unlink(path_.c_str()); }
  scratch_file(const scratch_file&) = delete;
  scratch_file& operator=(const scratch_file&) = delete;

  /// Replaces the file's content with the bytes and returns its path.
  const std::string& write(const void* data, std::size_t size) {
    const int fd = ::open(path_.c_str(), O_WRONLY | O_TRUNC);
    if (fd < 0) std::abort();
    const char* p = static_cast<const char*>(data);
    while (size > 0) {
      const ssize_t n = ::write(fd, p, size);
      if (n <= 0) std::abort();
      p += n;
      size -= static_cast<std::size_t>(n);
    }
    ::close(fd);
    return path_;
  }
  const std::string& path() const noexcept { return path_; }

 private:
  std::string path_;
};

/// The process's scratch file.
inline scratch_file& scratch() {
  static scratch_file f;
  return f;
}

/// Runs f(); an accepted input and a reg4rec::error are both fine. Anything else escapes.
template <class F>
void expect_clean(F&& f) {
  try {
    f();
  } catch (const reg4rec::error&) {
  }
}

}  // namespace reg4rec::fuzz

#ifdef REG4REC_FUZZ_LIBFUZZER
#define REG4REC_FUZZ_TARGET(name)                                                              \
  int reg4rec_fuzz_##name(const std::uint8_t* data, std::size_t size);                         \
  extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {          \
    return reg4rec_fuzz_##name(data, size);                                                    \
  }                                                                                            \
  int reg4rec_fuzz_##name(const std::uint8_t* data, std::size_t size)
#else
#define REG4REC_FUZZ_TARGET(name) inline int reg4rec_fuzz_##name(const std::uint8_t* data, std::size_t size)
#endif
