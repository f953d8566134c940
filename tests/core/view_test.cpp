#include <catch2/catch.hpp>

#include <vector>

#include <reg4rec/core.hpp>

using namespace reg4rec;

namespace {
float sum_view(cmatrix_view<float> v) {
  float s = 0;
  for (index_t i = 0; i < v.rows(); ++i)
    for (index_t j = 0; j < v.cols(); ++j) s += v(i, j);
  return s;
}
index_t span_len(cspan<float> s) { return s.size(); }
}  // namespace

TEST_CASE("views convert from Eigen and containers without copying", "[core][view]") {
  matrix<float> m(3, 4);
  for (index_t i = 0; i < 12; ++i) m.data()[i] = float(i);
  matrix_view<float> v = m;
  CHECK(v.data() == m.data());
  CHECK(v.rows() == 3);
  CHECK(v.cols() == 4);
  CHECK(v.stride() == 4);
  CHECK(sum_view(m) == 66.0f);
  CHECK(sum_view(v) == 66.0f);  // mutable view → const view

  // A block of rows keeps the stride of its parent.
  auto blk = m.middleRows(1, 2);
  cmatrix_view<float> bv = blk;
  CHECK(bv(0, 0) == 4.0f);
  CHECK(v.middle_cols(1, 2)(2, 1) == 10.0f);
  CHECK(v.middle_cols(1, 2).stride() == 4);

  std::vector<float> s{1, 2, 3};
  CHECK(span_len(s) == 3);
  vec<float> ev(5);
  CHECK(span_len(ev) == 5);
}

TEST_CASE("eigen() of a strided view is the same memory", "[core][view]") {
  std::vector<double> buf(20, 0.0);
  matrix_view<double> v(buf.data(), 4, 3, 5);
  v.eigen().setConstant(2.0);
  double total = 0;
  for (double x : buf) total += x;
  CHECK(total == 24.0);  // 4 rows × 3 columns, the 2 padding columns untouched
  CHECK(buf[3] == 0.0);
  CHECK(buf[5] == 2.0);
}

TEST_CASE("as_matrix checks the buffer size", "[core][view]") {
  std::vector<float> b(6);
  CHECK(as_matrix(span<float>(b), 2, 3).cols() == 3);
  CHECK_THROWS_AS(as_matrix(span<float>(b), 3, 3), dimension_error);
}
