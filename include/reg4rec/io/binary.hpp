// The reg4rec binary container: one format for checkpoints, trained quantizers and SID
// tables. A file is a header, named typed records and a footer with a CRC-32 of everything
// before it:
//
//   header  "REG4REC\x1a" | u32 format version | u32 length | kind ("checkpoint", "rq_vae", ...)
//   record  u32 length | name | u8 dtype | u8 ndim | i64 dims[ndim] | u64 bytes | payload
//   footer  "R4R-END\0" | u64 record count | u32 crc32(header + records)
//
// Little-endian, no padding. The reader checks the magic, the version, the kind, the checksum
// and every record's type and shape, and throws checkpoint_error naming the file and the
// record for anything wrong: a truncated, corrupted, foreign or mismatched file never loads.
// The writer builds the file in memory and commits it atomically (temporary file + rename).
#pragma once

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstring>
#include <map>
#include <set>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "reg4rec/core/error.hpp"
#include "reg4rec/core/types.hpp"
#include "reg4rec/core/view.hpp"
#include "reg4rec/io/atomic_file.hpp"

namespace reg4rec::io {

static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "the reg4rec container is little-endian");

inline constexpr std::uint32_t binary_format_version = 1;

enum class dtype : std::uint8_t { f32 = 1, f64 = 2, i32 = 3, i64 = 4, u64 = 5, u8 = 6 };

template <class T>
constexpr dtype dtype_of() {
  if constexpr (std::is_same_v<T, float>) return dtype::f32;
  else if constexpr (std::is_same_v<T, double>) return dtype::f64;
  else if constexpr (std::is_same_v<T, std::int32_t>) return dtype::i32;
  else if constexpr (std::is_same_v<T, std::int64_t>) return dtype::i64;
  else if constexpr (std::is_same_v<T, std::uint64_t>) return dtype::u64;
  else if constexpr (std::is_same_v<T, std::uint8_t> || std::is_same_v<T, char>) return dtype::u8;
  else static_assert(sizeof(T) == 0, "unsupported record type");
}

inline const char* to_string(dtype t) {
  switch (t) {
    case dtype::f32: return "float32";
    case dtype::f64: return "float64";
    case dtype::i32: return "int32";
    case dtype::i64: return "int64";
    case dtype::u64: return "uint64";
    case dtype::u8: return "bytes";
  }
  return "unknown";
}

namespace detail {
inline constexpr char magic[8] = {'R', 'E', 'G', '4', 'R', 'E', 'C', '\x1a'};
inline constexpr char end_magic[8] = {'R', '4', 'R', '-', 'E', 'N', 'D', '\0'};

inline const std::array<std::uint32_t, 256>& crc_table() {
  static const auto table = [] {
    std::array<std::uint32_t, 256> t{};
    for (std::uint32_t i = 0; i < 256; ++i) {
      std::uint32_t c = i;
      for (int k = 0; k < 8; ++k) c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
      t[i] = c;
    }
    return t;
  }();
  return table;
}
}  // namespace detail

/// CRC-32 (IEEE 802.3, as zlib's crc32).
inline std::uint32_t crc32(const void* data, std::size_t n, std::uint32_t crc = 0) {
  const auto& t = detail::crc_table();
  const auto* p = static_cast<const unsigned char*>(data);
  crc = ~crc;
  for (std::size_t i = 0; i < n; ++i) crc = t[(crc ^ p[i]) & 0xff] ^ (crc >> 8);
  return ~crc;
}

class binary_writer {
 public:
  binary_writer(std::string path, std::string_view kind) : path_(std::move(path)) {
    raw(detail::magic, 8);
    pod(binary_format_version);
    str(kind);
  }

  /// A flat record with the given shape (default: one dimension of data.size()).
  template <class T>
  void put(std::string_view name, cspan<T> data, std::vector<index_t> shape = {}) {
    if (shape.empty()) shape = {data.size()};
    index_t count = 1;
    for (index_t d : shape) count *= d;
    check_dim(reg4rec::detail::cat("binary_writer: elements of record '", name, "'").c_str(), data.size(), count);
    header(name, dtype_of<T>(), shape, static_cast<std::uint64_t>(data.size()) * sizeof(T));
    raw(data.data(), static_cast<std::size_t>(data.size()) * sizeof(T));
  }
  template <class T>
  void put(std::string_view name, const std::vector<T>& v) {
    put<T>(name, cspan<T>(v.data(), static_cast<index_t>(v.size())));
  }
  /// A (rows × cols) record from a possibly strided view.
  template <class T>
  void put_matrix(std::string_view name, cmatrix_view<T> m) {
    header(name, dtype_of<T>(), {m.rows(), m.cols()}, static_cast<std::uint64_t>(m.size()) * sizeof(T));
    for (index_t i = 0; i < m.rows(); ++i) raw(m.row_ptr(i), static_cast<std::size_t>(m.cols()) * sizeof(T));
  }
  template <class T>
  void put_scalar(std::string_view name, T value) {
    put<T>(name, cspan<T>(&value, 1), {});
  }
  void put_string(std::string_view name, std::string_view s) {
    header(name, dtype::u8, {static_cast<index_t>(s.size())}, s.size());
    raw(s.data(), s.size());
  }

  /// Writes the file atomically; until then the target is untouched.
  void commit() {
    const std::uint32_t crc = crc32(buf_.data(), buf_.size());
    raw(detail::end_magic, 8);
    pod(static_cast<std::uint64_t>(records_));
    pod(crc);
    atomic_file f(path_);
    f.write(buf_.data(), buf_.size());
    f.commit();
  }

 private:
  void raw(const void* p, std::size_t n) { buf_.append(static_cast<const char*>(p), n); }
  template <class T>
  void pod(T v) {
    raw(&v, sizeof v);
  }
  void str(std::string_view s) {
    pod(static_cast<std::uint32_t>(s.size()));
    raw(s.data(), s.size());
  }
  void header(std::string_view name, dtype t, const std::vector<index_t>& shape, std::uint64_t bytes) {
    require(!name.empty(), "binary_writer: empty record name");
    require(names_.emplace(name).second, "binary_writer: duplicate record '", name, "'");
    require(shape.size() < 256, "binary_writer: too many dimensions in '", name, "'");
    str(name);
    pod(static_cast<std::uint8_t>(t));
    pod(static_cast<std::uint8_t>(shape.size()));
    for (index_t d : shape) pod(static_cast<std::int64_t>(d));
    pod(bytes);
    ++records_;
  }

  std::string path_;
  std::string buf_;
  std::size_t records_ = 0;
  std::set<std::string, std::less<>> names_;
};

class binary_reader {
 public:
  struct record {
    dtype type;
    std::vector<index_t> shape;
    std::size_t offset;  // payload offset in the file
    std::uint64_t bytes;
  };

  /// Reads and validates `path`; `expected_kind` empty accepts any kind.
  binary_reader(std::string path, std::string_view expected_kind) : path_(std::move(path)) {
    data_ = read_file(path_);
    const std::size_t footer = 8 + 8 + 4;
    if (data_.size() < 8 + 4 + 4 + footer)
      fail("header", reg4rec::detail::cat("file is truncated or empty (", data_.size(), " bytes)"));
    if (std::memcmp(data_.data(), detail::magic, 8) != 0) fail("header", "not a reg4rec file (bad magic)");
    const std::size_t body = data_.size() - footer;
    if (std::memcmp(data_.data() + body, detail::end_magic, 8) != 0)
      fail("footer", "file is truncated (end marker missing)");
    std::uint64_t count;
    std::uint32_t crc;
    std::memcpy(&count, data_.data() + body + 8, 8);
    std::memcpy(&crc, data_.data() + body + 16, 4);
    if (crc32(data_.data(), body) != crc) fail("footer", "checksum mismatch: the file is corrupted");

    pos_ = 8;
    const auto version = pod<std::uint32_t>("header", body);
    if (version > binary_format_version)
      fail("header", reg4rec::detail::cat("format version ", version, " is newer than this library's ",
                                          binary_format_version));
    kind_ = str("header", body);
    if (!expected_kind.empty() && kind_ != expected_kind)
      fail("header", reg4rec::detail::cat("holds a '", kind_, "', expected a '", expected_kind, "'"));
    // Every record header is at least 4 + 1 + 1 + 8 bytes: a count larger than the body can
    // hold is corruption (and must not drive the loop).
    if (count > body / 14) fail("footer", reg4rec::detail::cat("record count ", count, " is impossible for a ", body,
                                                                "-byte file"));
    for (std::uint64_t r = 0; r < count; ++r) {
      std::string name = str("record", body);
      record rec;
      const auto type = pod<std::uint8_t>(name, body);
      if (type < static_cast<std::uint8_t>(dtype::f32) || type > static_cast<std::uint8_t>(dtype::u8))
        fail(name, reg4rec::detail::cat("unknown element type code ", int(type)));
      rec.type = static_cast<dtype>(type);
      const auto ndim = pod<std::uint8_t>(name, body);
      std::uint64_t elements = 1;
      for (int d = 0; d < ndim; ++d) {
        const auto n = pod<std::int64_t>(name, body);
        if (n < 0) fail(name, reg4rec::detail::cat("negative dimension ", n));
        if (n > 0 && elements > (std::uint64_t(1) << 62) / static_cast<std::uint64_t>(n))
          fail(name, "shape is too large");
        elements *= static_cast<std::uint64_t>(n);
        rec.shape.push_back(n);
      }
      rec.bytes = pod<std::uint64_t>(name, body);
      rec.offset = pos_;
      if (rec.bytes > body - pos_) fail(name, "record runs past the end of the file");
      if (elements * element_size(rec.type) != rec.bytes)
        fail(name, reg4rec::detail::cat("holds ", rec.bytes, " bytes, its shape ", shape_string(rec.shape), " of ",
                                        to_string(rec.type), " needs ", elements * element_size(rec.type)));
      pos_ += rec.bytes;
      if (!records_.emplace(name, std::move(rec)).second) fail(name, "record appears twice");
    }
    if (pos_ != body) fail("footer", "trailing bytes after the last record");
  }

  const std::string& path() const noexcept { return path_; }
  const std::string& kind() const noexcept { return kind_; }
  bool has(std::string_view name) const { return records_.find(std::string(name)) != records_.end(); }
  std::vector<std::string> names() const {
    std::vector<std::string> out;
    for (const auto& kv : records_) out.push_back(kv.first);
    return out;
  }
  const record& info(std::string_view name) const {
    auto it = records_.find(std::string(name));
    if (it == records_.end()) fail(std::string(name), "record is missing");
    return it->second;
  }

  /// Copies record `name` into `out` after checking its type and its shape (`shape` empty:
  /// only the element count must match out.size()).
  template <class T>
  void get(std::string_view name, span<T> out, const std::vector<index_t>& shape = {}) const {
    const record& r = typed<T>(name);
    if (!shape.empty() && r.shape != shape)
      fail(std::string(name), reg4rec::detail::cat("shape ", shape_string(r.shape), " does not match the expected ",
                                                   shape_string(shape)));
    if (r.bytes != static_cast<std::uint64_t>(out.size()) * sizeof(T))
      fail(std::string(name), reg4rec::detail::cat("holds ", r.bytes / sizeof(T), " elements, expected ", out.size()));
    if (r.bytes > 0) std::memcpy(out.data(), data_.data() + r.offset, r.bytes);  // empty: data() may be null
  }
  template <class T>
  std::vector<T> get_vector(std::string_view name) const {
    const record& r = typed<T>(name);
    std::vector<T> v(r.bytes / sizeof(T));
    if (r.bytes > 0) std::memcpy(v.data(), data_.data() + r.offset, r.bytes);  // empty: data() may be null
    return v;
  }
  template <class T>
  matrix<T> get_matrix(std::string_view name) const {
    const record& r = typed<T>(name);
    if (r.shape.size() != 2) fail(std::string(name), "is not a matrix");
    matrix<T> m(r.shape[0], r.shape[1]);
    if (r.bytes > 0) std::memcpy(m.data(), data_.data() + r.offset, r.bytes);  // empty: data() may be null
    return m;
  }
  template <class T>
  T get_scalar(std::string_view name) const {
    T v;
    get<T>(name, span<T>(&v, 1));
    return v;
  }
  std::string get_string(std::string_view name) const {
    const record& r = typed<char>(name);
    return std::string(data_.data() + r.offset, r.bytes);
  }

  [[noreturn]] void fail(const std::string& field, const std::string& what) const {
    throw checkpoint_error(path_, field, what);
  }

 private:
  template <class T>
  const record& typed(std::string_view name) const {
    const record& r = info(name);
    if (r.type != dtype_of<T>())
      fail(std::string(name), reg4rec::detail::cat("holds ", to_string(r.type), ", expected ", to_string(dtype_of<T>())));
    return r;
  }
  static std::string shape_string(const std::vector<index_t>& s) {
    std::string out = "(";
    for (std::size_t i = 0; i < s.size(); ++i) out += (i ? ", " : "") + std::to_string(s[i]);
    return out + ")";
  }
  static std::size_t element_size(dtype t) {
    switch (t) {
      case dtype::f32: case dtype::i32: return 4;
      case dtype::f64: case dtype::i64: case dtype::u64: return 8;
      case dtype::u8: return 1;
    }
    return 1;
  }
  // Reads below `end` (the footer's start for the records; the whole file by default).
  template <class T>
  T pod(const std::string& field, std::size_t end = std::size_t(-1)) {
    end = std::min(end, data_.size());
    if (pos_ > end || end - pos_ < sizeof(T)) fail(field, "file is truncated");
    T v;
    std::memcpy(&v, data_.data() + pos_, sizeof(T));
    pos_ += sizeof(T);
    return v;
  }
  std::string str(const std::string& field, std::size_t end = std::size_t(-1)) {
    const auto n = pod<std::uint32_t>(field, end);
    end = std::min(end, data_.size());
    if (pos_ > end || end - pos_ < n) fail(field, "file is truncated");
    std::string s(data_.data() + pos_, n);
    pos_ += n;
    return s;
  }

  std::string path_;
  std::string data_;
  std::size_t pos_ = 0;
  std::string kind_;
  std::map<std::string, record> records_;
};

}  // namespace reg4rec::io
