// Helpers of the data and evaluation tests: small fixture files in /tmp, the bundled data.
#pragma once

#include <catch2/catch.hpp>

#include <cstdio>
#include <fstream>
#include <string>

#include <unistd.h>

#include <reg4rec/core/error.hpp>

namespace reg4rec::test {

/// A file in /tmp holding `content`, removed when the object goes.
class temp_file {
 public:
  temp_file(const std::string& name, const std::string& content)
      : path_("/tmp/reg4rec_data_test_" + std::to_string(::getpid()) + "_" + name) {
    std::ofstream f(path_, std::ios::binary | std::ios::trunc);
    f << content;
  }
  ~temp_file() { std::remove(path_.c_str()); }
  temp_file(const temp_file&) = delete;
  temp_file& operator=(const temp_file&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

inline std::string beauty_dir() { return std::string(REG4REC_TEST_DATA_DIR) + "/beauty"; }
inline std::string toys_dir() { return std::string(REG4REC_SHARED_DATA_DIR) + "/toys"; }
inline bool file_exists(const std::string& p) { return std::ifstream(p).good(); }

}  // namespace reg4rec::test

/// Checks that `expr` throws format_error with the given line and a message naming the file,
/// the line and containing `fragment`.
#define REG4REC_CHECK_FORMAT_ERROR(expr, file, line_no, fragment)                          \
  do {                                                                                     \
    try {                                                                                  \
      (void)(expr);                                                                        \
      FAIL("expected format_error");                                                       \
    } catch (const ::reg4rec::format_error& e) {                                           \
      const std::string msg = e.what();                                                    \
      INFO(msg);                                                                           \
      CHECK(e.path() == (file));                                                           \
      CHECK(e.line() == (line_no));                                                        \
      const std::string where = std::string(file) + ((line_no) > 0 ? ":" + std::to_string(line_no) : std::string()) + ": "; \
      CHECK(msg.find(where) == 0);                                                         \
      CHECK(msg.find(fragment) != std::string::npos);                                      \
    }                                                                                      \
  } while (false)
