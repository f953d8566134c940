#include <catch2/catch.hpp>

#include <cmath>

#include <reg4rec/kernels.hpp>
#include <reg4rec/loss.hpp>

#include "nn/gradcheck.hpp"
#include "test_util.hpp"

using namespace reg4rec;
using test::random_matrix;

TEST_CASE("cross-entropy: a hand-computed case", "[loss][cross_entropy]") {
  // logits (0, ln 2, ln 3 ...) → p = (1, 2, 3)/6; target 2: ce = −ln(3/6) = ln 2.
  matrix<double> x(1, 3);
  x << 0.0, std::log(2.0), std::log(3.0);
  const std::vector<std::int32_t> t{2};
  const double l = loss::cross_entropy<double>(x, t);
  CHECK(l == Approx(std::log(2.0)));
  CHECK(x(0, 0) == Approx(1.0 / 6));
  CHECK(x(0, 1) == Approx(2.0 / 6));
  CHECK(x(0, 2) == Approx(3.0 / 6 - 1));
}

TEST_CASE("cross-entropy: SIMD row kernel equals the scalar reference", "[loss][cross_entropy]") {
  for (index_t V : test::awkward_sizes()) {
    auto a = random_matrix<float>(5, V, V, 4.0f);
    auto b = a;
    for (index_t i = 0; i < 5; ++i) {
      const index_t t = (i * 7) % V;
      const float la = backend::softmax_xent_row(backend::scalar{}, a.row(i).data(), V, t, 0.1f, 0.5f);
      const float lb = backend::softmax_xent_row(backend::simd<>{}, b.row(i).data(), V, t, 0.1f, 0.5f);
      CHECK(lb == Approx(la).epsilon(1e-5));
    }
    CHECK(test::max_rel_diff(b.data(), a.data(), a.size()) < 1e-5);
  }
}

TEST_CASE("cross-entropy: gradient with weights, ignore index and label smoothing", "[loss][cross_entropy][gradcheck]") {
  matrix<double> x = random_matrix<double>(6, 9, 1, 2.0);
  const std::vector<std::int32_t> t{3, -100, 0, 8, 8, 5};
  const std::vector<double> w{1.0, 3.0, -0.5, 2.0, 1.0, 0.25};
  loss::cross_entropy_options o;
  o.label_smoothing = 0.2;
  auto value = [&] {
    matrix<double> c = x;
    return loss::cross_entropy<double>(c, t, w, o);
  };
  matrix<double> g = x;
  std::vector<double> per_row(6);
  const double l = loss::cross_entropy<double>(g, t, w, o, per_row);
  CHECK(l == Approx(value()));
  CHECK(g.row(1).isZero());  // ignored row
  CHECK(per_row[1] == 0.0);
  CHECK(test::relative_error(g.data(), test::numeric_gradient(x.data(), x.size(), value)) < 1e-7);
  // Mean over the 5 used rows of w_i · ce_i.
  double expect = 0;
  for (int i = 0; i < 6; ++i) expect += w[i] * per_row[i];
  CHECK(l == Approx(expect / 5));
  const std::vector<std::int32_t> bad{3, 9, 0, 0, 0, 0};
  CHECK_THROWS_WITH(loss::cross_entropy<double>(g, bad), Catch::Contains("target 9 of row 1"));
}

TEST_CASE("cross-entropy is stable at extreme logits", "[loss][cross_entropy]") {
  matrix<float> x(2, 4);
  x << 1e4f, -1e4f, 0.f, 5e3f, -1e4f, -1e4f, -1e4f, -1e4f;
  const std::vector<std::int32_t> t{1, 2};
  const double l = loss::cross_entropy<float>(x, t);
  CHECK(std::isfinite(l));
  CHECK(l == Approx((2e4 + std::log(4.0)) / 2).epsilon(1e-4));
  CHECK(x.allFinite());
}

TEST_CASE("linear cross-entropy head equals logits + cross-entropy, and its gradients check", "[loss][gradcheck]") {
  const index_t n = 11, d = 5, V = 13;
  matrix<double> h = random_matrix<double>(n, d, 1), W = random_matrix<double>(V, d, 2);
  std::vector<double> b = test::random_vector<double>(V, 3);
  std::vector<std::int32_t> t(n);
  for (index_t i = 0; i < n; ++i) t[i] = static_cast<std::int32_t>((i * 5) % V);
  t[4] = -100;
  loss::cross_entropy_options o;
  o.label_smoothing = 0.05;
  workspace ws;
  auto value = [&] {
    matrix<double> logits = h * W.transpose();
    logits.rowwise() += Eigen::Map<Eigen::RowVectorXd>(b.data(), V);
    return loss::cross_entropy<double>(logits, t, {}, o);
  };
  matrix<double> dh(n, d), dW = matrix<double>::Zero(V, d);
  std::vector<double> db(V, 0.0);
  const double l = loss::linear_cross_entropy<double>(h, W, b, t, {}, o, dh, dW, db, ws, 4);  // 3 chunks
  CHECK(l == Approx(value()).epsilon(1e-12));
  CHECK(test::relative_error(dh.data(), test::numeric_gradient(h.data(), h.size(), value)) < 1e-7);
  CHECK(test::relative_error(dW.data(), test::numeric_gradient(W.data(), W.size(), value)) < 1e-7);
  CHECK(test::relative_error(db.data(), test::numeric_gradient(b.data(), V, value)) < 1e-7);
}

TEST_CASE("mse: values and gradients for both reductions", "[loss][mse][gradcheck]") {
  matrix<double> p = random_matrix<double>(4, 3, 1), t = random_matrix<double>(4, 3, 2), g(4, 3);
  for (auto r : {loss::mse_reduction::mean_elements, loss::mse_reduction::mean_rows}) {
    const double l = loss::mse<double>(p, t, g, r);
    const double sq = (p - t).squaredNorm();
    CHECK(l == Approx(r == loss::mse_reduction::mean_elements ? sq / 12 : sq / 4));
    auto value = [&] { return loss::mse<double>(p, t, matrix_view<double>(), r); };
    CHECK(test::relative_error(g.data(), test::numeric_gradient(p.data(), p.size(), value)) < 1e-7);
  }
}
