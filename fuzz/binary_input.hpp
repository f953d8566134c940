// Input framing of the fuzz targets for files in the binary container (io/binary.hpp).
//
// The container ends with a CRC-32 of everything before it, so random mutations of a real file
// are almost all stopped by the checksum and never reach the record and model checks. The
// first input byte therefore picks a mode:
//   even: the rest of the input is the file, as is (exercises the outer checks);
//   odd:  the second byte is a record count and the rest is the body of a file (header and
//         records); the target appends a valid footer (end marker, that count, the body's
//         CRC), so mutations of the records are seen by the reader's structural checks and by
//         the loaders' own validation.
// Seeds in fuzz/corpus/ come in both modes (fuzz/make_seeds.cpp writes them).
#pragma once

#include <cstdint>
#include <cstring>
#include <string>

#include <reg4rec/io/binary.hpp>

namespace reg4rec::fuzz {

inline std::string binary_file_from_input(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return {};
  if ((data[0] & 1) == 0) return std::string(reinterpret_cast<const char*>(data) + 1, size - 1);
  if (size < 2) return {};
  const std::uint64_t count = data[1];
  std::string f(reinterpret_cast<const char*>(data) + 2, size - 2);
  const std::uint32_t crc = io::crc32(f.data(), f.size());
  f.append(io::detail::end_magic, 8);
  f.append(reinterpret_cast<const char*>(&count), 8);
  f.append(reinterpret_cast<const char*>(&crc), 4);
  return f;
}

/// The inverse for seeds: the framed (odd-mode) input holding a whole container file.
inline std::string framed_input_from_file(const std::string& file) {
  const std::size_t footer = 8 + 8 + 4;
  std::uint64_t count = 0;
  std::memcpy(&count, file.data() + file.size() - footer + 8, 8);
  std::string in;
  in += '\x01';
  in += static_cast<char>(count);
  in += file.substr(0, file.size() - footer);
  return in;
}

}  // namespace reg4rec::fuzz
