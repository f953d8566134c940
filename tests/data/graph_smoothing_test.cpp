#include <catch2/catch.hpp>

#include <cmath>
#include <limits>

#include <reg4rec/core/rng.hpp>
#include <reg4rec/data/graph_smoothing.hpp>

using namespace reg4rec;
using dense = Eigen::MatrixXd;

namespace {
// Items 0 and 1 co-occur twice; item 2 never co-occurs.
data::sparse_matrix pair_and_isolated() {
  data::sparse_matrix c(3, 3);
  c.insert(0, 1) = 2;
  c.insert(1, 0) = 2;
  c.makeCompressed();
  return c;
}

matrix<float> random_rows(index_t n, index_t d, std::uint64_t seed) {
  rng g(seed);
  matrix<float> x(n, d);
  for (index_t i = 0; i < n; ++i)
    for (index_t j = 0; j < d; ++j) x(i, j) = static_cast<float>(g.uniform() * 2 - 1);
  return x;
}
}  // namespace

TEST_CASE("graph smoothing: normalised adjacency by hand", "[data][smoothing]") {
  // With self-loops the degrees are 3, 3, 1: Â = [[1/3, 2/3, 0], [2/3, 1/3, 0], [0, 0, 1]].
  const dense a = data::normalized_adjacency(pair_and_isolated());
  CHECK(a(0, 0) == Approx(1.0 / 3));
  CHECK(a(0, 1) == Approx(2.0 / 3));
  CHECK(a(1, 0) == Approx(2.0 / 3));
  CHECK(a(2, 2) == Approx(1.0));
  CHECK(a(0, 2) == 0.0);
  // Without: degrees 2, 2, 0, so Â = [[0, 1, 0], [1, 0, 0], [0, 0, 0]].
  const dense b = data::normalized_adjacency(pair_and_isolated(), false);
  CHECK(b(0, 1) == Approx(1.0));
  CHECK(b(0, 0) == 0.0);
  CHECK(b.row(2).norm() == 0.0);
}

TEST_CASE("graph smoothing: matches the recurrence computed densely", "[data][smoothing]") {
  const index_t n = 9, d = 5;
  rng g(4);
  data::sparse_matrix c(n, n);
  std::vector<Eigen::Triplet<double, std::int64_t>> t;
  for (int e = 0; e < 14; ++e) {
    const index_t i = static_cast<index_t>(g.below(n)), j = static_cast<index_t>(g.below(n));
    if (i == j) continue;
    const double w = 0.5 + g.uniform();
    t.emplace_back(i, j, w);
    t.emplace_back(j, i, w);
  }
  c.setFromTriplets(t.begin(), t.end());
  const matrix<float> x = random_rows(n, d, 5);

  for (const bool loops : {true, false}) {
    // Dense reference: Â = D^{-1/2}(C + sI)D^{-1/2}, H_k = (1-a)ÂH_{k-1} + aX, H = Σ w_k H_k / Σ w.
    dense cs = dense(c) + (loops ? 1.0 : 0.0) * dense::Identity(n, n);
    Eigen::VectorXd deg = cs.rowwise().sum();
    for (index_t i = 0; i < n; ++i) deg(i) = deg(i) > 0 ? 1 / std::sqrt(deg(i)) : 0;
    const dense a_hat = deg.asDiagonal() * cs * deg.asDiagonal();
    const std::vector<double> w{1, 3, 0.5, 2};
    const double a = 0.3;
    const dense x0 = x.cast<double>();
    dense h = x0, want = w[0] * x0;
    for (int k = 1; k <= 3; ++k) {
      h = (1 - a) * a_hat * h + a * x0;
      want += w[static_cast<std::size_t>(k)] * h;
    }
    want /= 6.5;

    data::graph_smoothing_options o;
    o.hops = 3;
    o.restart = a;
    o.hop_weights = w;
    o.self_loops = loops;
    o.normalize = false;
    const dense got = data::graph_smooth(x, c, o).cast<double>();
    CHECK((got - want).cwiseAbs().maxCoeff() < 1e-5);

    o.normalize = true;
    const matrix<float> unit = data::graph_smooth(x, c, o);
    for (index_t i = 0; i < n; ++i) {
      CHECK(unit.row(i).norm() == Approx(1.0).epsilon(1e-5));
      CHECK((unit.row(i).cast<double>() - want.row(i).normalized()).cwiseAbs().maxCoeff() < 1e-5);
    }
  }
}

TEST_CASE("graph smoothing: no hops, full restart, isolated items and neighbours", "[data][smoothing]") {
  const matrix<float> x = random_rows(3, 4, 6);
  matrix<float> xn = x;
  for (index_t i = 0; i < 3; ++i) xn.row(i).normalize();
  const auto c = pair_and_isolated();
  data::graph_smoothing_options o;
  o.hops = 0;
  CHECK((data::graph_smooth(x, c, o) - xn).cwiseAbs().maxCoeff() < 1e-6f);
  o.hops = 4;
  o.restart = 1;
  CHECK((data::graph_smooth(x, c, o) - xn).cwiseAbs().maxCoeff() < 1e-6f);

  // The default (2 hops, restart 0.5): the isolated item keeps its direction; the pair, made
  // orthogonal, moves together. By hand: ÂX = [[1/3, 2/3], [2/3, 1/3]] on the pair's rows,
  // H_1 = 0.5·ÂX + 0.5·X, H_2 = 0.5·ÂH_1 + 0.5·X, H = (X + H_1 + H_2) / 3.
  const matrix<float> h = data::graph_smooth(x, c);
  CHECK((h.row(2) - xn.row(2)).cwiseAbs().maxCoeff() < 1e-6f);
  matrix<float> e = matrix<float>::Identity(3, 3);
  const matrix<float> he = data::graph_smooth(e, c);
  // Row 0: H_1 = (2/3, 1/3), H_2 = 0.5·(1/3·2/3 + 2/3·1/3, 2/3·2/3 + 1/3·1/3) + (0.5, 0) = (13/18, 5/18).
  const double r0 = 1 + 2.0 / 3 + 13.0 / 18, r1 = 1.0 / 3 + 5.0 / 18;
  CHECK(he(0, 0) == Approx(r0 / std::hypot(r0, r1)));
  CHECK(he(0, 1) == Approx(r1 / std::hypot(r0, r1)));
  CHECK(he.row(0).dot(he.row(1)) > 0.4f);
}

TEST_CASE("graph smoothing: bad input is refused", "[data][smoothing]") {
  const auto c = pair_and_isolated();
  matrix<float> x = random_rows(3, 4, 7);
  CHECK_THROWS_AS(data::graph_smooth(x.topRows(2), c), dimension_error);
  data::graph_smoothing_options o;
  o.hop_weights = {1, 1};  // hops 2 needs 3 weights
  CHECK_THROWS_AS(data::graph_smooth(x, c, o), dimension_error);
  o.hop_weights = {0, 0, 0};
  CHECK_THROWS_WITH(data::graph_smooth(x, c, o), Catch::Contains("all zero"));
  o.hop_weights.clear();
  o.restart = 1.5;
  CHECK_THROWS_WITH(data::graph_smooth(x, c, o), Catch::Contains("restart"));
  o.restart = 0.5;
  o.hops = -1;
  CHECK_THROWS_WITH(data::graph_smooth(x, c, o), Catch::Contains("hops"));
  x(1, 2) = std::numeric_limits<float>::quiet_NaN();
  CHECK_THROWS_WITH(data::graph_smooth(x, c), Catch::Contains("row 1"));
  CHECK_THROWS_AS(data::graph_smooth(x, c), value_error);
  data::sparse_matrix neg = c;
  neg.coeffRef(0, 1) = -1;
  CHECK_THROWS_WITH(data::normalized_adjacency(neg), Catch::Contains("(0, 1)"));
  CHECK_THROWS_AS(data::normalized_adjacency(neg), value_error);
  CHECK_THROWS_AS(data::normalized_adjacency(data::sparse_matrix(3, 2)), dimension_error);
}
