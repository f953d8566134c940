#include <catch2/catch.hpp>

#include <algorithm>

#include <reg4rec/quant.hpp>

#include "quant/quant_test_util.hpp"

using namespace reg4rec;

namespace {
// Heavily imbalanced mixture: component c has weight ∝ (c + 1)^2.
test::mixture skewed(index_t n, std::uint64_t seed) { return test::make_mixture(n, 8, 12, seed, 2.0f, 1.0f, 2.0); }
}  // namespace

TEST_CASE("balanced k-means: cluster sizes are exactly floor(n/K) or ceil(n/K)", "[quant][balanced]") {
  const index_t n = 1003, K = 16;  // n/K = 62.7: sizes 62 or 63
  const auto m = skewed(n, 1);
  for (std::uint64_t seed : {1, 2}) {
    quant::balanced_kmeans km(K);
    quant::fit_options o;
    o.seed = seed;
    o.iterations = 15;
    km.fit(m.x, o);
    const auto& sizes = km.report().cluster_sizes;
    REQUIRE(static_cast<index_t>(sizes.size()) == K);
    index_t total = 0, at_ceil = 0;
    for (index_t s : sizes) {
      CHECK((s == n / K || s == n / K + 1));
      total += s;
      at_ceil += s == n / K + 1;
    }
    CHECK(total == n);
    CHECK(at_ceil == n % K);
  }
  // Plain k-means on the same data is far from balanced: the test data does need balancing.
  quant::l2_kmeans plain(K);
  plain.fit(m.x);
  const auto& ps = plain.report().cluster_sizes;
  CHECK(*std::max_element(ps.begin(), ps.end()) > 2 * n / K);
}

TEST_CASE("balanced k-means: with slack the sizes stay under the capacity", "[quant][balanced]") {
  const index_t n = 1200, K = 10;
  const auto m = skewed(n, 3);
  quant::balanced_kmeans km(K);
  quant::fit_options o;
  o.balance_slack = 0.25;
  o.balance_candidates = 4;
  km.fit(m.x, o);
  for (index_t s : km.report().cluster_sizes) CHECK(s <= 150);  // ceil(1.25 · 1200 / 10)
  CHECK(km.report().utilisation.back() == 1.0);
}

TEST_CASE("balanced k-means: cosine distance and a codebook on balanced data", "[quant][balanced]") {
  const auto m = test::make_mixture(960, 8, 16, 4, 3.0f, 0.5f);  // 16 similar-sized clusters
  quant::kmeans<quant::cosine_distance, quant::kmeanspp_init, quant::balanced_assignment> cb(16);
  const auto xn = test::normalised(m.x);
  cb.fit(xn);
  for (index_t s : cb.report().cluster_sizes) CHECK(s == 60);
  // With capacity above the natural cluster sizes (about 60 ± 8 here), the balanced
  // assignment finds the plain k-means solution; forcing exactly 60 per cluster moves points
  // between well-separated clusters and costs far more.
  quant::balanced_kmeans b(16);
  quant::l2_kmeans p(16);
  quant::fit_options o;
  o.balance_slack = 0.5;
  b.fit(m.x, o);
  p.fit(m.x);
  CHECK(b.report().objective.back() < 1.05 * p.report().objective.back());
  quant::balanced_kmeans exact(16);
  exact.fit(m.x);
  CHECK(exact.report().objective.back() > b.report().objective.back());
}

TEST_CASE("sinkhorn k-means: near-uniform cluster sizes", "[quant][balanced]") {
  const index_t n = 1600, K = 16;
  const auto m = skewed(n, 5);
  quant::sinkhorn_kmeans km(K);
  quant::fit_options o;
  o.iterations = 10;
  o.sinkhorn_iterations = 60;
  o.sinkhorn_epsilon = 0.02;
  km.fit(m.x, o);
  const auto& sizes = km.report().cluster_sizes;
  // Stated bound (SPEC: near-uniform, not exact): every cluster within [0.5, 1.5] · n/K.
  for (index_t s : sizes) {
    CHECK(s >= n / K / 2);
    CHECK(s <= 3 * n / K / 2);
  }
  quant::l2_kmeans plain(K);
  plain.fit(m.x);
  const auto& ps = plain.report().cluster_sizes;
  CHECK(*std::max_element(sizes.begin(), sizes.end()) < *std::max_element(ps.begin(), ps.end()));
}

TEST_CASE("balanced k-means: bad options are reported", "[quant][balanced]") {
  const auto x = test::random_matrix<float>(100, 3, 6);
  quant::fit_options o;
  o.balance_slack = -0.1;
  quant::balanced_kmeans km(4);
  CHECK_THROWS_AS(km.fit(x, o), argument_error);
  o = {};
  o.sinkhorn_epsilon = 0;
  quant::sinkhorn_kmeans sk(4);
  CHECK_THROWS_AS(sk.fit(x, o), argument_error);
}
