// NumPy .npy files, so that item embeddings made with Python tools plug in and ours go out:
//
//   np.save("emb.npy", x.astype(np.float32))   →   matrix<float> x = io::read_npy<float>("emb.npy");
//   io::write_npy<float>("features.npy", x);   →   x = np.load("features.npy")
//
// Format (numpy's NEP 1): "\x93NUMPY", major and minor version bytes, the header length
// (u16 in version 1.0, u32 in 2.0 and 3.0), an ASCII Python dict literal
// {'descr': '<f4', 'fortran_order': False, 'shape': (n, d), } padded with spaces to a multiple
// of 64 bytes and ended by '\n', then the raw little-endian data.
//
// Reading accepts versions 1.0, 2.0 and 3.0; shapes (n, d) and (n,) (read as n × 1); dtypes
// float32 and float64 for float/double targets (float64 is converted), int32 and int64 for
// integer targets (int64 → int32 only when every value fits). Rejected with format_error
// naming the file and the header field: bad magic, unknown version, malformed header,
// Fortran order, another dtype (big-endian, complex, object, ...), other ranks, data shorter
// or longer than the shape says. Writing produces version 1.0 (2.0 for huge headers),
// little-endian, C order, atomically (temporary file + rename).
#pragma once

#include <cctype>
#include <cstdint>
#include <cstring>
#include <limits>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "reg4rec/core/error.hpp"
#include "reg4rec/core/types.hpp"
#include "reg4rec/core/view.hpp"
#include "reg4rec/io/atomic_file.hpp"

namespace reg4rec::io {

static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "the .npy reader assumes a little-endian host");

/// What the header of a .npy file says.
struct npy_header {
  int major = 1, minor = 0;
  std::string descr;               ///< e.g. "<f4"
  bool fortran_order = false;
  std::vector<index_t> shape;
  std::size_t data_offset = 0;     ///< bytes before the data
};

namespace detail {

inline constexpr char npy_magic[6] = {'\x93', 'N', 'U', 'M', 'P', 'Y'};

// Parses the header dict: string keys; values are strings, True/False or tuples of integers.
class npy_dict_parser {
 public:
  npy_dict_parser(std::string_view s, const std::string& path) : s_(s), path_(path) {}

  npy_header parse() {
    npy_header h;
    bool seen_descr = false, seen_order = false, seen_shape = false;
    skip();
    expect('{');
    while (true) {
      skip();
      if (peek() == '}') break;
      const std::string key = string_literal();
      skip();
      expect(':');
      skip();
      if (key == "descr") {
        h.descr = string_literal();
        seen_descr = true;
      } else if (key == "fortran_order") {
        h.fortran_order = boolean();
        seen_order = true;
      } else if (key == "shape") {
        h.shape = tuple();
        seen_shape = true;
      } else {
        fail("header", "unexpected key '" + key + "'");
      }
      skip();
      if (peek() == ',') {
        ++i_;
        continue;
      }
      skip();
      if (peek() != '}') fail("header", "expected ',' or '}'");
    }
    ++i_;
    skip();
    if (i_ != s_.size()) fail("header", "unexpected text after the dict");
    if (!seen_descr) fail("descr", "missing");
    if (!seen_order) fail("fortran_order", "missing");
    if (!seen_shape) fail("shape", "missing");
    return h;
  }

 private:
  [[noreturn]] void fail(const std::string& field, const std::string& what) const {
    throw format_error(path_, 0, field, what + " in the .npy header");
  }
  char peek() const { return i_ < s_.size() ? s_[i_] : '\0'; }
  void skip() {
    while (i_ < s_.size() && (s_[i_] == ' ' || s_[i_] == '\n' || s_[i_] == '\t' || s_[i_] == '\r')) ++i_;
  }
  void expect(char c) {
    if (peek() != c) fail("header", std::string("expected '") + c + "'");
    ++i_;
  }
  std::string string_literal() {
    const char q = peek();
    if (q != '\'' && q != '"') fail("header", "expected a quoted string");
    ++i_;
    const std::size_t b = i_;
    while (i_ < s_.size() && s_[i_] != q) ++i_;
    if (i_ >= s_.size()) fail("header", "unterminated string");
    return std::string(s_.substr(b, i_++ - b));
  }
  bool boolean() {
    if (s_.substr(i_, 4) == "True") return i_ += 4, true;
    if (s_.substr(i_, 5) == "False") return i_ += 5, false;
    fail("fortran_order", "expected True or False");
  }
  std::vector<index_t> tuple() {
    std::vector<index_t> v;
    expect('(');
    while (true) {
      skip();
      if (peek() == ')') break;
      if (!std::isdigit(static_cast<unsigned char>(peek()))) fail("shape", "expected a non-negative integer");
      index_t x = 0;
      while (std::isdigit(static_cast<unsigned char>(peek()))) {
        if (x > (std::numeric_limits<index_t>::max() - 9) / 10) fail("shape", "dimension too large");
        x = 10 * x + (s_[i_++] - '0');
      }
      v.push_back(x);
      skip();
      if (peek() == ',') ++i_;
      else if (peek() != ')') fail("shape", "expected ',' or ')'");
    }
    ++i_;
    return v;
  }

  std::string_view s_;
  const std::string& path_;
  std::size_t i_ = 0;
};

inline npy_header parse_npy_header(const std::string& bytes, const std::string& path) {
  if (bytes.size() < 10 || std::memcmp(bytes.data(), npy_magic, 6) != 0)
    throw format_error(path, 0, "magic", "not a .npy file (the first bytes are not \\x93NUMPY)");
  const int major = static_cast<unsigned char>(bytes[6]), minor = static_cast<unsigned char>(bytes[7]);
  std::size_t len, pre;
  if (major == 1) {
    len = static_cast<unsigned char>(bytes[8]) | std::size_t(static_cast<unsigned char>(bytes[9])) << 8;
    pre = 10;
  } else if (major == 2 || major == 3) {
    if (bytes.size() < 12) throw format_error(path, 0, "header", "truncated .npy header");
    len = 0;
    for (int k = 3; k >= 0; --k) len = len << 8 | static_cast<unsigned char>(bytes[8 + k]);
    pre = 12;
  } else {
    throw format_error(path, 0, "version", reg4rec::detail::cat("unsupported .npy version ", major, ".", minor));
  }
  if (bytes.size() < pre + len) throw format_error(path, 0, "header", "truncated .npy header");
  npy_header h = npy_dict_parser(std::string_view(bytes).substr(pre, len), path).parse();
  h.major = major;
  h.minor = minor;
  h.data_offset = pre + len;
  return h;
}

inline std::size_t npy_item_size(const std::string& descr) { return descr.size() == 3 ? std::size_t(descr[2] - '0') : 0; }

template <class Src, class T>
void npy_convert(const char* p, index_t n, T* out, const std::string& path) {
  for (index_t i = 0; i < n; ++i) {
    Src v;
    std::memcpy(&v, p + i * sizeof(Src), sizeof(Src));
    if constexpr (std::is_integral_v<T> && std::is_integral_v<Src> && sizeof(Src) > sizeof(T)) {
      if (v < Src(std::numeric_limits<T>::min()) || v > Src(std::numeric_limits<T>::max()))
        throw format_error(path, 0, "data", reg4rec::detail::cat("value ", v, " at element ", i, " does not fit the target type"));
    }
    out[i] = static_cast<T>(v);
  }
}

template <class T>
constexpr const char* npy_descr() {
  if constexpr (std::is_same_v<T, float>) return "<f4";
  else if constexpr (std::is_same_v<T, double>) return "<f8";
  else if constexpr (std::is_same_v<T, std::int32_t>) return "<i4";
  else if constexpr (std::is_same_v<T, std::int64_t>) return "<i8";
  else static_assert(sizeof(T) == 0, ".npy: supported types are float, double, int32 and int64");
}

inline std::string npy_header_bytes(const char* descr, const std::vector<index_t>& shape) {
  std::string dict = std::string("{'descr': '") + descr + "', 'fortran_order': False, 'shape': (";
  for (std::size_t k = 0; k < shape.size(); ++k) dict += std::to_string(shape[k]) + (shape.size() == 1 || k + 1 < shape.size() ? "," : "") + (k + 1 < shape.size() ? " " : "");
  dict += "), }";
  // Pad with spaces so that the data starts at a multiple of 64 bytes.
  std::size_t pre = 10;
  std::size_t total = pre + dict.size() + 1;
  if ((total + 63) / 64 * 64 - pre > 65535) pre = 12, total = pre + dict.size() + 1;
  const std::size_t padded = (total + 63) / 64 * 64;
  dict.append(padded - total, ' ');
  dict += '\n';
  const std::size_t len = dict.size();
  std::string out(npy_magic, 6);
  out += static_cast<char>(pre == 10 ? 1 : 2);
  out += '\0';
  if (pre == 10) {
    out += static_cast<char>(len & 0xff);
    out += static_cast<char>(len >> 8);
  } else {
    for (int k = 0; k < 4; ++k) out += static_cast<char>((len >> (8 * k)) & 0xff);
  }
  return out + dict;
}

}  // namespace detail

/// Reads only the header of a .npy file.
inline npy_header read_npy_header(const std::string& path) {
  return detail::parse_npy_header(read_file(path), path);
}

/// Reads a 1-D (n → n × 1) or 2-D C-order array as a row-major matrix of T (float, double,
/// int32 or int64), converting float64 → float32, float32 → float64 and in-range int64 → int32.
template <class T>
matrix<T> read_npy(const std::string& path) {
  const std::string bytes = read_file(path);
  const npy_header h = detail::parse_npy_header(bytes, path);
  if (h.fortran_order)
    throw format_error(path, 0, "fortran_order",
                       "Fortran-order arrays are not supported; save np.ascontiguousarray(x) instead");
  if (h.shape.size() != 1 && h.shape.size() != 2)
    throw format_error(path, 0, "shape", reg4rec::detail::cat("expected a 1-D or 2-D array, got ", h.shape.size(), " dimensions"));
  const index_t rows = h.shape[0], cols = h.shape.size() == 2 ? h.shape[1] : 1;
  constexpr bool want_float = std::is_floating_point_v<T>;
  const bool is_float = h.descr == "<f4" || h.descr == "<f8";
  const bool is_int = h.descr == "<i4" || h.descr == "<i8";
  if (!(want_float ? is_float : is_int))
    throw format_error(path, 0, "descr",
                       "dtype '" + h.descr + "' cannot be read as " + detail::npy_descr<T>() +
                           (want_float ? " (expected little-endian float32 '<f4' or float64 '<f8')"
                                       : " (expected little-endian int32 '<i4' or int64 '<i8')"));
  const std::size_t item = detail::npy_item_size(h.descr);
  if (cols > 0 && rows > std::numeric_limits<index_t>::max() / cols / static_cast<index_t>(item))
    throw format_error(path, 0, "shape", "array too large");
  const std::size_t need = static_cast<std::size_t>(rows * cols) * item;
  const std::size_t have = bytes.size() - h.data_offset;
  if (have != need)
    throw format_error(path, 0, "data", reg4rec::detail::cat(have < need ? "truncated: " : "trailing bytes: ", "the shape (",
                                                    rows, ", ", cols, ") needs ", need, " data bytes, the file has ", have));
  matrix<T> m(rows, cols);
  const char* p = bytes.data() + h.data_offset;
  if (h.descr == "<f4") detail::npy_convert<float>(p, rows * cols, m.data(), path);
  else if (h.descr == "<f8") detail::npy_convert<double>(p, rows * cols, m.data(), path);
  else if (h.descr == "<i4") detail::npy_convert<std::int32_t>(p, rows * cols, m.data(), path);
  else detail::npy_convert<std::int64_t>(p, rows * cols, m.data(), path);
  return m;
}

/// Writes a rows × cols matrix as a 2-D C-order .npy file, atomically.
template <class T>
void write_npy(const std::string& path, cmatrix_view<nodeduce<T>> m) {
  atomic_file f(path);
  f.write(detail::npy_header_bytes(detail::npy_descr<T>(), {m.rows(), m.cols()}));
  for (index_t i = 0; i < m.rows(); ++i) f.write(m.row_ptr(i), static_cast<std::size_t>(m.cols()) * sizeof(T));
  f.commit();
}

/// Writes a vector as a 1-D .npy file, atomically.
template <class T>
void write_npy_vector(const std::string& path, cspan<nodeduce<T>> v) {
  atomic_file f(path);
  f.write(detail::npy_header_bytes(detail::npy_descr<T>(), {v.size()}));
  f.write(v.data(), static_cast<std::size_t>(v.size()) * sizeof(T));
  f.commit();
}

}  // namespace reg4rec::io
