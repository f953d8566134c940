#include <catch2/catch.hpp>

#include <cmath>
#include <limits>

#include <reg4rec/kernels.hpp>

#include "test_util.hpp"

using namespace reg4rec;
using simd_be = backend::simd<>;

TEMPLATE_TEST_CASE("softmax and log_softmax: SIMD equals scalar, rows sum to one", "[kernels][softmax]",
                   float, double) {
  using T = TestType;
  const double tol = std::is_same_v<T, float> ? 2e-6 : 1e-13;
  std::uint64_t seed = 1;
  for (index_t m : test::awkward_sizes()) {
    const index_t n = 9;
    const auto x = test::random_matrix<T>(n, m, seed++, T(3));
    matrix<T> y_ref(n, m), y_simd(n, m), l_ref(n, m), l_simd(n, m);
    kernels::softmax<T>(backend::scalar{}, x, y_ref);
    kernels::softmax<T>(simd_be{}, x, y_simd);
    kernels::log_softmax<T>(backend::scalar{}, x, l_ref);
    kernels::log_softmax<T>(simd_be{}, x, l_simd);
    INFO("m = " << m);
    CHECK(test::max_rel_diff(y_simd.data(), y_ref.data(), y_ref.size()) < tol);
    CHECK(test::max_rel_diff(l_simd.data(), l_ref.data(), l_ref.size()) < tol);
    for (index_t i = 0; i < n; ++i) {
      CHECK(y_simd.row(i).sum() == Approx(1.0).epsilon(tol * 10));
      for (index_t j = 0; j < m; ++j) CHECK(std::exp(l_ref(i, j)) == Approx(y_ref(i, j)).epsilon(1e-5));
    }
  }
}

TEST_CASE("softmax is stable at extreme logits and works in place", "[kernels][softmax]") {
  matrix<float> x(2, 5);
  x << 1e4f, -1e4f, 0.f, 1e4f, 3.f,  //
      -1e4f, -1e4f, -1e4f, -1e4f, -1e4f + 1.f;
  for (int b = 0; b < 2; ++b) {
    matrix<float> y = x;
    if (b == 0)
      kernels::softmax<float>(backend::scalar{}, y, y);
    else
      kernels::softmax<float>(simd_be{}, y, y);
    CHECK(y(0, 0) == Approx(0.5f));
    CHECK(y(0, 3) == Approx(0.5f));
    CHECK(y(0, 1) == 0.0f);
    CHECK(std::isfinite(y(1, 4)));
    CHECK(y(1, 4) == Approx(std::exp(1.0) / (4 + std::exp(1.0))));
    matrix<float> l(2, 5);
    kernels::log_softmax<float>(simd_be{}, x, l);
    CHECK(l(0, 1) == Approx(-2e4f - std::log(2.0f)));
    CHECK(l(0, 0) == Approx(-std::log(2.0f)));
  }
}

TEST_CASE("softmax: NaN in a row gives a NaN row (documented), other rows untouched", "[kernels][softmax]") {
  auto x = test::random_matrix<float>(3, 20, 4);
  x(1, 17) = std::numeric_limits<float>::quiet_NaN();
  matrix<float> y(3, 20);
  kernels::softmax<float>(simd_be{}, x, y);
  for (index_t j = 0; j < 20; ++j) CHECK(std::isnan(y(1, j)));
  CHECK(y.row(0).sum() == Approx(1.0f));
  CHECK(y.row(2).sum() == Approx(1.0f));
  matrix<float> bad(3, 19);
  CHECK_THROWS_AS(kernels::softmax<float>(x, bad), dimension_error);
}
