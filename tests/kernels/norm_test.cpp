#include <catch2/catch.hpp>

#include <reg4rec/kernels.hpp>

#include "test_util.hpp"

using namespace reg4rec;
using simd_be = backend::simd<>;

namespace {
// Loss L = Σ w ⊙ y for a fixed random w: dL/dy = w.
template <class F>
double weighted_sum(F&& forward, const matrix<double>& w) {
  matrix<double> y = forward();
  return (y.array() * w.array()).sum();
}
}  // namespace

TEST_CASE("layer norm: SIMD equals scalar, forward and backward", "[kernels][norm]") {
  std::uint64_t seed = 1;
  for (index_t c : test::awkward_sizes()) {
    const index_t n = 37;
    const auto x = test::random_matrix<float>(n, c, seed++, 2.0f);
    const auto g = test::random_vector<float>(c, seed++);
    const auto b = test::random_vector<float>(c, seed++);
    const auto dy = test::random_matrix<float>(n, c, seed++);
    matrix<float> y1(n, c), y2(n, c), dx1(n, c), dx2(n, c);
    std::vector<float> m1(n), r1(n), m2(n), r2(n), dg1(c, 0.5f), db1(c, 0.25f), dg2(c, 0.5f), db2(c, 0.25f);
    kernels::layer_norm_forward<float>(backend::scalar{}, x, g, b, 1e-5f, y1, m1, r1);
    kernels::layer_norm_forward<float>(simd_be{}, x, g, b, 1e-5f, y2, m2, r2);
    kernels::layer_norm_backward<float>(backend::scalar{}, x, g, m1, r1, dy, dx1, dg1, db1);
    kernels::layer_norm_backward<float>(simd_be{}, x, g, m2, r2, dy, dx2, dg2, db2);
    INFO("c = " << c);
    CHECK(test::max_rel_diff(y2.data(), y1.data(), y1.size()) < 1e-5);
    CHECK(test::max_rel_diff(dx2.data(), dx1.data(), dx1.size()) < 1e-4);
    CHECK(test::max_rel_diff(dg2.data(), dg1.data(), c) < 1e-4);
    CHECK(test::max_rel_diff(db2.data(), db1.data(), c) < 1e-5);
  }
}

TEST_CASE("layer norm backward agrees with finite differences (double)", "[kernels][norm][gradcheck]") {
  const index_t n = 5, c = 13;
  auto x = test::random_matrix<double>(n, c, 1);
  auto g = test::random_vector<double>(c, 2);
  auto b = test::random_vector<double>(c, 3);
  const auto w = test::random_matrix<double>(n, c, 4);
  std::vector<double> mean(n), rstd(n);
  auto fwd = [&] {
    matrix<double> y(n, c);
    kernels::layer_norm_forward<double>(backend::scalar{}, x, g, b, 1e-5, y, mean, rstd);
    return y;
  };
  fwd();
  matrix<double> dx(n, c);
  std::vector<double> dg(c, 0.0), db(c, 0.0);
  kernels::layer_norm_backward<double>(simd_be{}, x, g, mean, rstd, w, dx, dg, db);
  const double h = 1e-6;
  auto fd = [&](double& p) {
    const double keep = p;
    p = keep + h;
    const double up = weighted_sum(fwd, w);
    p = keep - h;
    const double down = weighted_sum(fwd, w);
    p = keep;
    return (up - down) / (2 * h);
  };
  for (index_t i = 0; i < n; ++i)
    for (index_t j = 0; j < c; ++j) CHECK(dx(i, j) == Approx(fd(x(i, j))).epsilon(1e-6).margin(1e-8));
  for (index_t j = 0; j < c; ++j) {
    CHECK(dg[j] == Approx(fd(g[j])).epsilon(1e-6).margin(1e-8));
    CHECK(db[j] == Approx(fd(b[j])).epsilon(1e-6).margin(1e-8));
  }
}

TEST_CASE("rms norm: SIMD equals scalar and backward agrees with finite differences", "[kernels][norm][gradcheck]") {
  for (index_t c : test::awkward_sizes()) {
    const index_t n = 21;
    const auto x = test::random_matrix<float>(n, c, c);
    const auto g = test::random_vector<float>(c, c + 1);
    const auto dy = test::random_matrix<float>(n, c, c + 2);
    matrix<float> y1(n, c), y2(n, c), dx1(n, c), dx2(n, c);
    std::vector<float> r1(n), r2(n), dg1(c, 0.f), dg2(c, 0.f);
    kernels::rms_norm_forward<float>(backend::scalar{}, x, g, 1e-6f, y1, r1);
    kernels::rms_norm_forward<float>(simd_be{}, x, g, 1e-6f, y2, r2);
    kernels::rms_norm_backward<float>(backend::scalar{}, x, g, r1, dy, dx1, dg1);
    kernels::rms_norm_backward<float>(simd_be{}, x, g, r2, dy, dx2, dg2);
    INFO("c = " << c);
    CHECK(test::max_rel_diff(y2.data(), y1.data(), y1.size()) < 1e-5);
    CHECK(test::max_rel_diff(dx2.data(), dx1.data(), dx1.size()) < 1e-4);
    CHECK(test::max_rel_diff(dg2.data(), dg1.data(), c) < 1e-4);
  }
  const index_t n = 4, c = 9;
  auto x = test::random_matrix<double>(n, c, 7);
  auto g = test::random_vector<double>(c, 8);
  const auto w = test::random_matrix<double>(n, c, 9);
  std::vector<double> rstd(n);
  auto fwd = [&] {
    matrix<double> y(n, c);
    kernels::rms_norm_forward<double>(backend::scalar{}, x, g, 1e-6, y, rstd);
    return y;
  };
  fwd();
  matrix<double> dx(n, c);
  std::vector<double> dg(c, 0.0);
  kernels::rms_norm_backward<double>(simd_be{}, x, g, rstd, w, dx, dg);
  const double h = 1e-6;
  auto fd = [&](double& p) {
    const double keep = p;
    p = keep + h;
    const double up = weighted_sum(fwd, w);
    p = keep - h;
    const double down = weighted_sum(fwd, w);
    p = keep;
    return (up - down) / (2 * h);
  };
  for (index_t i = 0; i < n; ++i)
    for (index_t j = 0; j < c; ++j) CHECK(dx(i, j) == Approx(fd(x(i, j))).epsilon(1e-6).margin(1e-8));
  for (index_t j = 0; j < c; ++j) CHECK(dg[j] == Approx(fd(g[j])).epsilon(1e-6).margin(1e-8));
}

TEST_CASE("norm backward parameter gradients do not depend on the thread split", "[kernels][norm]") {
  const index_t n = 5000, c = 64;
  const auto x = test::random_matrix<float>(n, c, 1);
  const auto g = test::random_vector<float>(c, 2);
  const auto dy = test::random_matrix<float>(n, c, 3);
  matrix<float> y(n, c), dx(n, c);
  std::vector<float> mean(n), rstd(n), dg(c, 0.f), db(c, 0.f);
  kernels::layer_norm_forward<float>(x, g, {}, 1e-5f, y, mean, rstd);
  kernels::layer_norm_backward<float>(x, g, mean, rstd, dy, dx, dg, db);
  // Reference: the same sums in double.
  for (index_t j = 0; j < c; ++j) {
    double sg = 0, sb = 0;
    for (index_t i = 0; i < n; ++i) {
      sg += double(dy(i, j)) * (double(x(i, j)) - mean[i]) * rstd[i];
      sb += dy(i, j);
    }
    CHECK(dg[j] == Approx(sg).epsilon(1e-4).margin(1e-3));
    CHECK(db[j] == Approx(sb).epsilon(1e-4).margin(1e-3));
  }
  std::vector<float> wrong(c + 1);
  CHECK_THROWS_AS(kernels::layer_norm_forward<float>(x, wrong, {}, 1e-5f, y, mean, rstd), dimension_error);
}
