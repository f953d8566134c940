#include <catch2/catch.hpp>

#include <cmath>

#include <reg4rec/kernels.hpp>

#include "test_util.hpp"

using namespace reg4rec;
using simd_be = backend::simd<>;

TEST_CASE("gelu: SIMD equals scalar on awkward lengths", "[kernels][gelu]") {
  for (index_t n : {0, 1, 7, 17, 33, 1000, 100003}) {
    const auto x = test::random_vector<float>(n, n + 1, 3.0f);
    const auto dy = test::random_vector<float>(n, n + 2);
    std::vector<float> y1(n), y2(n), d1(n), d2(n);
    kernels::gelu_forward<float>(backend::scalar{}, x, y1);
    kernels::gelu_forward<float>(simd_be{}, x, y2);
    kernels::gelu_backward<float>(backend::scalar{}, x, dy, d1);
    kernels::gelu_backward<float>(simd_be{}, x, dy, d2);
    INFO("n = " << n);
    CHECK(test::max_rel_diff(y2.data(), y1.data(), n) < 2e-6);
    CHECK(test::max_rel_diff(d2.data(), d1.data(), n) < 2e-6);
  }
}

TEST_CASE("gelu: known values and derivative by finite differences", "[kernels][gelu][gradcheck]") {
  std::vector<double> x{-3.0, -1.0, -0.1, 0.0, 0.5, 1.0, 2.5}, y(7), ones(7, 1.0), d(7);
  kernels::gelu_forward<double>(simd_be{}, x, y);
  CHECK(y[3] == 0.0);
  CHECK(y[5] == Approx(0.8411919906));  // tanh-approximate GELU(1)
  CHECK(y[0] == Approx(-0.0036373920).epsilon(1e-6));
  kernels::gelu_backward<double>(simd_be{}, x, ones, d);
  for (std::size_t i = 0; i < x.size(); ++i) {
    const double h = 1e-6;
    std::vector<double> a{x[i] + h}, b{x[i] - h}, ya(1), yb(1);
    kernels::gelu_forward<double>(backend::scalar{}, a, ya);
    kernels::gelu_forward<double>(backend::scalar{}, b, yb);
    CHECK(d[i] == Approx((ya[0] - yb[0]) / (2 * h)).epsilon(1e-7));
  }
  std::vector<double> short_out(3);
  CHECK_THROWS_AS(kernels::gelu_forward<double>(x, short_out), dimension_error);
}
