#include <catch2/catch.hpp>

#include <Eigen/SVD>

#include <reg4rec/data/randomized_svd.hpp>

#include "test_util.hpp"

using namespace reg4rec;

namespace {
Eigen::MatrixXd gaussian(index_t r, index_t c, std::uint64_t seed) {
  rng g(seed);
  Eigen::MatrixXd m(r, c);
  for (index_t i = 0; i < r; ++i)
    for (index_t j = 0; j < c; ++j) m(i, j) = g.normal<double>();
  return m;
}
// Orthonormal m × k basis from a seeded Gaussian.
Eigen::MatrixXd orthonormal(index_t m, index_t k, std::uint64_t seed) {
  Eigen::HouseholderQR<Eigen::MatrixXd> qr(gaussian(m, k, seed));
  return qr.householderQ() * Eigen::MatrixXd::Identity(m, k);
}
}  // namespace

TEST_CASE("randomized SVD: low-rank matrix against Eigen's exact SVD", "[data][svd]") {
  // Rank 6 plus noise 1e-4.
  const Eigen::MatrixXd a = gaussian(120, 6, 1) * gaussian(6, 80, 2) + 1e-4 * gaussian(120, 80, 3);
  const Eigen::JacobiSVD<Eigen::MatrixXd> exact(a, Eigen::ComputeThinU | Eigen::ComputeThinV);
  data::randomized_svd_options o;
  o.rank = 6;
  o.oversample = 4;
  o.compute_v = true;
  for (bool fp : {false, true}) {
    o.float_products = fp;
    const auto r = data::randomized_svd(a, o);
    REQUIRE(r.u.rows() == 120);
    REQUIRE(r.u.cols() == 6);
    REQUIRE(r.v.rows() == 80);
    INFO("float products " << fp);
    for (index_t j = 0; j < 6; ++j) {
      CHECK(r.s(j) == Approx(exact.singularValues()(j)).epsilon(fp ? 1e-5 : 1e-9));
      CHECK(std::abs(r.u.col(j).dot(exact.matrixU().col(j))) == Approx(1.0).epsilon(1e-6));
      // Sign rule: the largest-magnitude entry is positive.
      Eigen::Index at;
      r.u.col(j).cwiseAbs().maxCoeff(&at);
      CHECK(r.u(at, j) > 0);
    }
    CHECK((r.u.transpose() * r.u - Eigen::MatrixXd::Identity(6, 6)).norm() < 1e-10);
    const Eigen::MatrixXd recon = r.u * r.s.asDiagonal() * r.v.transpose();
    CHECK((recon - a).norm() / a.norm() < 1e-4);
  }
}

TEST_CASE("randomized SVD: decaying spectrum, sparse equals dense, seeded", "[data][svd]") {
  // σ_i = 0.8^i: no gap, the hard case for randomized methods.
  const index_t m = 150, n = 100;
  Eigen::VectorXd sigma(n);
  for (index_t i = 0; i < n; ++i) sigma(i) = std::pow(0.8, double(i));
  const Eigen::MatrixXd a = orthonormal(m, n, 11) * sigma.asDiagonal() * orthonormal(n, n, 12).transpose();
  data::randomized_svd_options o;
  o.rank = 10;
  o.oversample = 10;
  o.power_iterations = 3;
  o.float_products = false;
  const auto r = data::randomized_svd(a, o);
  for (index_t j = 0; j < 10; ++j) CHECK(r.s(j) == Approx(sigma(j)).epsilon(1e-3));

  data::sparse_matrix sp = a.sparseView();
  const auto rs = data::randomized_svd(sp, o);
  CHECK((rs.s - r.s).norm() < 1e-10);
  CHECK((rs.u - r.u).norm() < 1e-8);

  const auto again = data::randomized_svd(a, o);
  CHECK(again.u == r.u);
  CHECK(again.s == r.s);
  o.seed += 1;
  const auto other = data::randomized_svd(a, o);
  CHECK(other.u != r.u);  // another seed, another (equally good) subspace
  for (index_t j = 0; j < 10; ++j) CHECK(other.s(j) == Approx(sigma(j)).epsilon(1e-3));

  o.rank = 101;
  CHECK_THROWS_AS(data::randomized_svd(a, o), argument_error);
}
