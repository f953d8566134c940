// Small text-parsing helpers shared by the loaders: a line cursor over a whole file with
// 1-based line numbers, field splitting, and strict number parsing (the whole token must be
// consumed, so "12x" or "1.5" is never read as an integer).
#pragma once

#include <charconv>
#include <cmath>
#include <cstdlib>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "reg4rec/core/error.hpp"
#include "reg4rec/core/types.hpp"

namespace reg4rec::data::detail {

// Message building from core, visible as detail::cat inside reg4rec::data.
using reg4rec::detail::cat;

/// Walks a file's content line by line. Accepts LF and CRLF endings; the last line may lack
/// a newline. `number()` is the 1-based number of the line last returned.
class line_reader {
 public:
  explicit line_reader(std::string_view content) noexcept : s_(content) {}

  bool next(std::string_view& line) noexcept {
    if (pos_ >= s_.size()) return false;
    const std::size_t end = s_.find('\n', pos_);
    const std::size_t stop = end == std::string_view::npos ? s_.size() : end;
    line = s_.substr(pos_, stop - pos_);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    pos_ = end == std::string_view::npos ? s_.size() : end + 1;
    ++line_;
    return true;
  }
  std::int64_t number() const noexcept { return line_; }

 private:
  std::string_view s_;
  std::size_t pos_ = 0;
  std::int64_t line_ = 0;
};

inline bool is_space(char c) noexcept { return c == ' ' || c == '\t' || c == '\v' || c == '\f'; }

inline std::string_view trim(std::string_view s) noexcept {
  while (!s.empty() && is_space(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_space(s.back())) s.remove_suffix(1);
  return s;
}

/// True when the line holds nothing but white space.
inline bool is_blank(std::string_view s) noexcept { return trim(s).empty(); }

/// Tokens separated by runs of spaces or tabs (no empty tokens).
inline void split_whitespace(std::string_view s, std::vector<std::string_view>& out) {
  out.clear();
  std::size_t i = 0;
  while (i < s.size()) {
    while (i < s.size() && is_space(s[i])) ++i;
    const std::size_t b = i;
    while (i < s.size() && !is_space(s[i])) ++i;
    if (i > b) out.push_back(s.substr(b, i - b));
  }
}

/// Fields separated by one delimiter character; empty fields are kept ("a,,b" has three).
inline void split_char(std::string_view s, char delim, std::vector<std::string_view>& out) {
  out.clear();
  std::size_t b = 0;
  while (true) {
    const std::size_t e = s.find(delim, b);
    if (e == std::string_view::npos) {
      out.push_back(s.substr(b));
      return;
    }
    out.push_back(s.substr(b, e - b));
    b = e + 1;
  }
}

/// Fields separated by a multi-character separator (" | ", ","), each trimmed.
inline std::vector<std::string_view> split_trimmed(std::string_view s, std::string_view sep) {
  std::vector<std::string_view> out;
  if (trim(s).empty()) return out;
  std::size_t b = 0;
  while (true) {
    const std::size_t e = s.find(sep, b);
    if (e == std::string_view::npos) {
      out.push_back(trim(s.substr(b)));
      return out;
    }
    out.push_back(trim(s.substr(b, e - b)));
    b = e + sep.size();
  }
}

/// A decimal integer (optional leading '-', digits only, no '+', no spaces) that fits int64.
inline bool parse_int(std::string_view s, std::int64_t& value) noexcept {
  if (s.empty()) return false;
  const char* first = s.data();
  const char* last = s.data() + s.size();
  const auto r = std::from_chars(first, last, value);
  return r.ec == std::errc() && r.ptr == last;
}

/// A finite decimal or scientific floating-point number (the whole token).
inline bool parse_number(std::string_view s, long double& value) {
  if (s.empty()) return false;
  // from_chars for long double is not available everywhere; strtold on a bounded copy is.
  std::string tmp(s);
  char* end = nullptr;
  value = std::strtold(tmp.c_str(), &end);
  if (end != tmp.c_str() + tmp.size()) return false;
  if (!std::isfinite(value)) return false;
  // strtold also accepts "inf", "nan", hex and leading spaces; keep plain decimals only.
  for (char c : s)
    if (!((c >= '0' && c <= '9') || c == '.' || c == '-' || c == '+' || c == 'e' || c == 'E')) return false;
  return true;
}

/// Quotes a field for an error message, shortened when long.
inline std::string quoted(std::string_view s) {
  std::string q = "'";
  if (s.size() > 40) {
    q += s.substr(0, 37);
    q += "...";
  } else {
    q += s;
  }
  return q + "'";
}

}  // namespace reg4rec::data::detail
