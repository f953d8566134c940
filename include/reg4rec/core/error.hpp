// The reg4rec::error hierarchy. Every message names what is wrong: the file and line, the
// field, the dimension or the parameter, so that a user can fix the input without a debugger.
#pragma once

#include <cstdint>
#include <sstream>
#include <stdexcept>
#include <string>
#include <utility>

#include "reg4rec/core/config.hpp"

namespace reg4rec {

/// Base of every exception the library throws on bad input or failed work.
class error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// A shape does not match: a matrix with the wrong number of columns, a buffer too small.
class dimension_error : public error {
 public:
  using error::error;
};

/// A value is outside its domain: NaN or Inf in data, a negative id, a probability above 1.
class value_error : public error {
 public:
  using error::error;
};

/// A parameter of a call or a configuration is invalid: beam width 0, K larger than n.
class argument_error : public error {
 public:
  using error::error;
};

/// A key that must exist does not: an unknown item id, a missing parameter name.
class not_found_error : public error {
 public:
  using error::error;
};

/// Training produced a non-finite loss or gradient.
class numerical_error : public error {
 public:
  using error::error;
};

/// The CUDA runtime reported a failure (only thrown by the CUDA add-on).
class cuda_error : public error {
 public:
  using error::error;
};

/// A file could not be opened, read or written. Carries the path.
class io_error : public error {
 public:
  io_error(std::string path, const std::string& what)
      : error(path + ": " + what), path_(std::move(path)) {}
  const std::string& path() const noexcept { return path_; }

 protected:
  io_error(std::string path, std::string message, int)
      : error(std::move(message)), path_(std::move(path)) {}

 private:
  std::string path_;
};

/// A file was read but its content is malformed. Carries path, 1-based line (0 when the
/// format has no lines) and the field that is wrong (may be empty).
class format_error : public io_error {
 public:
  format_error(std::string path, std::int64_t line, std::string field, const std::string& what)
      : io_error(path, compose(path, line, field, what), 0), line_(line), field_(std::move(field)) {}
  std::int64_t line() const noexcept { return line_; }
  const std::string& field() const noexcept { return field_; }

 private:
  static std::string compose(const std::string& path, std::int64_t line, const std::string& field,
                             const std::string& what) {
    std::string m = path;
    if (line > 0) m += ":" + std::to_string(line);
    m += ": ";
    if (!field.empty()) m += "field '" + field + "': ";
    return m + what;
  }
  std::int64_t line_;
  std::string field_;
};

/// A checkpoint is truncated, corrupted, of another version or of another model.
class checkpoint_error : public format_error {
 public:
  checkpoint_error(std::string path, std::string field, const std::string& what)
      : format_error(std::move(path), 0, std::move(field), what) {}
};

namespace detail {
template <class... Args>
std::string cat(Args&&... args) {
  std::ostringstream os;
  (os << ... << std::forward<Args>(args));
  return os.str();
}
}  // namespace detail

/// Throws dimension_error "<what>: expected <expected>, got <got>" when they differ.
template <class A, class B>
inline void check_dim(const char* what, const A& got, const B& expected) {
  if (!(got == expected))
    throw dimension_error(detail::cat(what, ": expected ", expected, ", got ", got));
}

/// Throws argument_error with the concatenated message when cond is false.
template <class... Args>
inline void require(bool cond, Args&&... message) {
  if (REG4REC_UNLIKELY(!cond)) throw argument_error(detail::cat(std::forward<Args>(message)...));
}

}  // namespace reg4rec
