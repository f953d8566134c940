#include <catch2/catch.hpp>

#include <cstdio>
#include <cstring>
#include <fstream>

#include <unistd.h>

#include <reg4rec/io/npy.hpp>

#include "test_util.hpp"

using namespace reg4rec;

namespace {
std::string temp_path(const std::string& name) {
  return std::string("/tmp/reg4rec_npy_test_") + std::to_string(::getpid()) + "_" + name;
}
void spit(const std::string& p, const std::string& s) {
  std::ofstream f(p, std::ios::binary | std::ios::trunc);
  f << s;
}
// A .npy file as numpy 1.x writes it: version 1.0, header padded to 64 bytes.
std::string npy_bytes(const std::string& dict, const std::string& data, int major = 1) {
  std::string d = dict;
  const std::size_t pre = major == 1 ? 10 : 12;
  while ((pre + d.size() + 1) % 64) d += ' ';
  d += '\n';
  std::string out("\x93NUMPY", 6);
  out += char(major);
  out += '\0';
  const std::size_t len = d.size();
  out += char(len & 0xff);
  out += char(len >> 8);
  if (major != 1) out += std::string(2, '\0');
  return out + d + data;
}
template <class T>
std::string raw(const std::vector<T>& v) {
  return std::string(reinterpret_cast<const char*>(v.data()), v.size() * sizeof(T));
}
void check_npy_error(const std::string& path, const std::string& field) {
  try {
    (void)io::read_npy<float>(path);
    FAIL("expected format_error");
  } catch (const format_error& e) {
    INFO(e.what());
    CHECK(e.path() == path);
    CHECK(e.field() == field);
    CHECK(std::string(e.what()).find(path) == 0);
  }
}
}  // namespace

TEST_CASE("npy: float32 round trip, header as numpy writes it", "[io][npy]") {
  const auto path = temp_path("roundtrip.npy");
  const auto m = test::random_matrix<float>(7, 5, 3);
  io::write_npy<float>(path, m);
  const std::string bytes = io::read_file(path);
  CHECK(bytes.size() == 128 + 7 * 5 * 4);  // header padded to 64 bytes
  CHECK(bytes.substr(0, 8) == std::string("\x93NUMPY\x01\x00", 8));
  CHECK(bytes.find("{'descr': '<f4', 'fortran_order': False, 'shape': (7, 5), }") == 10);
  CHECK(bytes[127] == '\n');
  const auto h = io::read_npy_header(path);
  CHECK(h.descr == "<f4");
  CHECK(h.shape == std::vector<index_t>{7, 5});
  CHECK(h.data_offset == 128);
  CHECK(io::read_npy<float>(path) == m);
  // Read as double: exact widening.
  CHECK(io::read_npy<double>(path) == m.cast<double>());
  std::remove(path.c_str());
}

TEST_CASE("npy: float64 converted, 1-D, int32 and version 2/3 headers", "[io][npy]") {
  const auto path = temp_path("conv.npy");
  spit(path, npy_bytes("{'descr': '<f8', 'fortran_order': False, 'shape': (2, 3), }",
                       raw(std::vector<double>{1.5, -2, 3, 0.1, 1e-3, 7})));
  const auto m = io::read_npy<float>(path);
  REQUIRE(m.rows() == 2);
  REQUIRE(m.cols() == 3);
  CHECK(m(0, 0) == 1.5f);
  CHECK(m(1, 0) == 0.1f);
  CHECK(m(1, 2) == 7.0f);

  spit(path, npy_bytes("{\"descr\": \"<f4\", \"shape\": (3,), \"fortran_order\": False}", raw(std::vector<float>{1, 2, 3}), 2));
  const auto v = io::read_npy<float>(path);
  CHECK(v.rows() == 3);
  CHECK(v.cols() == 1);
  CHECK(v(2, 0) == 3.0f);

  spit(path, npy_bytes("{'descr': '<f4', 'fortran_order': False, 'shape': (0, 4), }", "", 3));
  CHECK(io::read_npy<float>(path).rows() == 0);

  const std::vector<std::int32_t> codes{4, 0, 255, 17};
  io::write_npy_vector<std::int32_t>(path, codes);
  const auto c = io::read_npy<std::int32_t>(path);
  CHECK(c.rows() == 4);
  CHECK(c(2, 0) == 255);
  CHECK(io::read_npy<std::int64_t>(path)(3, 0) == 17);
  spit(path, npy_bytes("{'descr': '<i8', 'fortran_order': False, 'shape': (1,), }", raw(std::vector<std::int64_t>{1LL << 40})));
  CHECK_THROWS_AS(io::read_npy<std::int32_t>(path), format_error);
  std::remove(path.c_str());
}

TEST_CASE("npy: malformed files name the file and the field", "[io][npy]") {
  const auto path = temp_path("bad.npy");
  const std::string data = raw(std::vector<float>(6, 1.0f));
  SECTION("bad magic") {
    std::string b = npy_bytes("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }", data);
    b[1] = 'X';
    spit(path, b);
    check_npy_error(path, "magic");
  }
  SECTION("empty file") {
    spit(path, "");
    check_npy_error(path, "magic");
  }
  SECTION("unknown version") {
    std::string b = npy_bytes("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }", data);
    b[6] = 9;
    spit(path, b);
    check_npy_error(path, "version");
  }
  SECTION("Fortran order") {
    spit(path, npy_bytes("{'descr': '<f4', 'fortran_order': True, 'shape': (2, 3), }", data));
    check_npy_error(path, "fortran_order");
  }
  SECTION("bad dtype") {
    for (const char* d : {">f4", "<i4", "<c8", "|O", "<f2"}) {
      spit(path, npy_bytes(std::string("{'descr': '") + d + "', 'fortran_order': False, 'shape': (2, 3), }", data));
      check_npy_error(path, "descr");
    }
  }
  SECTION("truncated data") {
    spit(path, npy_bytes("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }", data.substr(0, 20)));
    check_npy_error(path, "data");
  }
  SECTION("trailing data") {
    spit(path, npy_bytes("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }", data + "xxxx"));
    check_npy_error(path, "data");
  }
  SECTION("truncated header") {
    spit(path, npy_bytes("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }", data).substr(0, 30));
    check_npy_error(path, "header");
  }
  SECTION("malformed dict") {
    spit(path, npy_bytes("{'descr': '<f4', 'fortran_order': False, 'shape': (2, x), }", data));
    check_npy_error(path, "shape");
    spit(path, npy_bytes("{'descr': '<f4', 'shape': (2, 3), }", data));
    check_npy_error(path, "fortran_order");
    spit(path, npy_bytes("{'descr': '<f4', 'fortran_order': False, 'shape': (1, 2, 3), }", data));
    check_npy_error(path, "shape");
  }
  SECTION("missing file") {
    CHECK_THROWS_AS(io::read_npy<float>("/nonexistent/reg4rec/x.npy"), io_error);
  }
  std::remove(path.c_str());
}
