#include <catch2/catch.hpp>

#include <algorithm>
#include <limits>
#include <set>
#include <sstream>

#include <reg4rec/quant.hpp>

#include "quant/quant_test_util.hpp"

using namespace reg4rec;

namespace {
template <class KM>
void check_objective_non_increasing(const KM& km) {
  const auto& obj = km.report().objective;
  REQUIRE(obj.size() >= 2);
  for (std::size_t t = 1; t < obj.size(); ++t) {
    INFO("iteration " << t << ": " << obj[t - 1] << " -> " << obj[t]);
    CHECK(obj[t] <= obj[t - 1] * (1 + 1e-5) + 1e-9);
  }
}
}  // namespace

TEST_CASE("kmeans: the objective never increases over Lloyd iterations", "[quant][kmeans]") {
  const auto m = test::make_mixture(3000, 12, 40, 1, 1.0f, 1.5f);  // overlapping clusters: many iterations
  quant::fit_options o;
  o.iterations = 30;
  o.tolerance = 0;
  SECTION("l2, k-means++") {
    quant::l2_kmeans km(32);
    km.fit(m.x, o);
    check_objective_non_increasing(km);
    CHECK(km.report().objective.size() > 5);
    CHECK(km.report().objective.back() < km.report().objective.front());
  }
  SECTION("l2, random init") {
    quant::kmeans<quant::l2_distance, quant::random_init> km(32);
    km.fit(m.x, o);
    check_objective_non_increasing(km);
  }
  SECTION("cosine on unit vectors (spherical k-means)") {
    const auto xn = test::normalised(m.x);
    quant::cosine_kmeans km(32);
    km.fit(xn, o);
    check_objective_non_increasing(km);
  }
}

TEST_CASE("kmeans: on clustered data every code is used and none collapses", "[quant][kmeans]") {
  const index_t comps = 32, n = 3200;
  const auto m = test::make_mixture(n, 16, comps, 2, 3.0f, 0.5f);
  quant::l2_kmeans km(comps);
  quant::fit_options o;
  o.seed = 3;
  km.fit(m.x, o);
  const auto& sizes = km.report().cluster_sizes;
  CHECK(km.report().utilisation.back() > 0.9);
  CHECK(*std::max_element(sizes.begin(), sizes.end()) <= 3 * n / comps);
  const auto s = km.stats(m.x);
  CHECK(s.utilisation[0] > 0.9);
  CHECK(s.perplexity[0] > 0.8 * comps);
  // Every true centre has a centroid nearby (greedy k-means++ seeding finds all clusters here;
  // classic k-means++, seeding_trials = 1, misses some for some seeds).
  index_t found = 0;
  for (index_t c = 0; c < comps; ++c) {
    double best = 1e300;
    for (index_t k = 0; k < comps; ++k)
      best = std::min(best, test::sqdist(m.centres.row(c).data(), km.centroids().row_ptr(k), 16));
    found += best < 0.1;
  }
  CHECK(found >= comps - 1);
}

TEST_CASE("kmeans: nearest and encode agree with brute force; decode returns centroids", "[quant][kmeans]") {
  const auto m = test::make_mixture(800, 9, 10, 4);
  quant::l2_kmeans km(20);
  km.fit(m.x);
  const auto x = test::random_matrix<float>(57, 9, 5, 2.0f);
  const auto codes = km.encode(x);
  REQUIRE(codes.rows() == 57);
  REQUIRE(codes.cols() == 1);
  const auto xhat = km.decode(codes);
  for (index_t i = 0; i < x.rows(); ++i) {
    double best = 1e300;
    for (index_t k = 0; k < 20; ++k) best = std::min(best, test::sqdist(x.row(i).data(), km.centroids().row_ptr(k), 9));
    CHECK(test::sqdist(x.row(i).data(), km.centroids().row_ptr(codes(i, 0)), 9) <= best * (1 + 1e-5) + 1e-6);
    CHECK(xhat.row(i) == km.centroids().eigen().row(codes(i, 0)));
  }
}

TEST_CASE("kmeans: same seed gives the same centroids for any thread count", "[quant][kmeans]") {
  const auto m = test::make_mixture(5000, 8, 25, 6);
  quant::fit_options o;
  o.seed = 11;
  o.seeding_trials = 2;
  quant::l2_kmeans a(24), b(24), c(24);
  set_num_threads(1);
  a.fit(m.x, o);
  set_num_threads(2);
  b.fit(m.x, o);
  CHECK(a.centroids().eigen() == b.centroids().eigen());
  o.seed = 12;
  c.fit(m.x, o);
  CHECK(a.centroids().eigen() != c.centroids().eigen());
}

TEST_CASE("kmeans: empty clusters are repaired deterministically", "[quant][kmeans]") {
  // 50 copies of one point and two outliers: a random start usually picks three copies, so two
  // clusters start empty and must take the two outliers.
  matrix<float> x(52, 2);
  for (index_t i = 0; i < 50; ++i) x.row(i) << 1.0f, 1.0f;
  x.row(50) << 5.0f, 0.0f;
  x.row(51) << -4.0f, 2.0f;
  index_t repaired = 0;
  for (std::uint64_t seed = 0; seed < 6; ++seed) {
    quant::kmeans<quant::l2_distance, quant::random_init> km(3);
    quant::fit_options o;
    o.seed = seed;
    km.fit(x, o);
    repaired += km.report().repaired_clusters;
    CHECK(km.report().objective.back() == 0.0);
    CHECK(km.report().utilisation.back() == 1.0);
  }
  CHECK(repaired > 0);
}

TEST_CASE("kmeans: subsampling, greedy seeding and progress lines", "[quant][kmeans]") {
  const auto m = test::make_mixture(4000, 6, 8, 7);
  quant::l2_kmeans km(8);
  std::ostringstream log;
  quant::fit_options o;
  o.max_points_per_centroid = 100;
  o.seeding_trials = 3;
  o.log = &log;
  km.fit(m.x, o);
  CHECK(km.report().training_points == 800);
  CHECK(log.str().find("inertia") != std::string::npos);
  CHECK(log.str().find("utilisation") != std::string::npos);
  CHECK(km.report().utilisation.back() == 1.0);
}

TEST_CASE("kmeans: save and load round-trip; a file of another policy is refused", "[quant][kmeans]") {
  const auto m = test::make_mixture(600, 5, 6, 8);
  quant::l2_kmeans km(6);
  km.fit(m.x);
  test::temp_file f("kmeans.r4r");
  km.save(f.path);
  quant::l2_kmeans back;
  back.load(f.path);
  CHECK(back.centroids().eigen() == km.centroids().eigen());
  CHECK(back.codebook_size() == 6);
  CHECK(back.encode(m.x) == km.encode(m.x));
  CHECK(back.report().objective == km.report().objective);
  quant::cosine_kmeans other;
  CHECK_THROWS_AS(other.load(f.path), checkpoint_error);
  CHECK_THROWS_WITH(other.load(f.path), Catch::Contains("kmeans<l2"));
}

TEST_CASE("kmeans: bad input is a clear error", "[quant][kmeans]") {
  const auto x = test::random_matrix<float>(30, 4, 9);
  quant::l2_kmeans km(8);
  SECTION("empty matrix") {
    matrix<float> e(0, 4);
    CHECK_THROWS_WITH(km.fit(e), Catch::Contains("empty"));
    CHECK_THROWS_AS(km.fit(e), argument_error);
  }
  SECTION("K larger than n") {
    quant::l2_kmeans big(31);
    CHECK_THROWS_WITH(big.fit(x), Catch::Contains("K = 31") && Catch::Contains("n = 30"));
  }
  SECTION("NaN and Inf rows are named") {
    auto bad = x;
    bad(17, 2) = std::numeric_limits<float>::quiet_NaN();
    CHECK_THROWS_AS(km.fit(bad), value_error);
    CHECK_THROWS_WITH(km.fit(bad), Catch::Contains("row 17"));
    bad(17, 2) = std::numeric_limits<float>::infinity();
    CHECK_THROWS_WITH(km.fit(bad), Catch::Contains("row 17"));
  }
  SECTION("not fitted, dimension mismatch, codes out of range") {
    CHECK_THROWS_WITH(km.encode(x), Catch::Contains("not fitted"));
    km.fit(x);
    const auto x5 = test::random_matrix<float>(3, 5, 10);
    CHECK_THROWS_AS(km.encode(x5), dimension_error);
    matrix<std::int32_t> codes(2, 1);
    codes << 3, 8;
    CHECK_THROWS_AS(km.decode(codes), value_error);
    CHECK_THROWS_WITH(km.decode(codes), Catch::Contains("row 1"));
    codes(1, 0) = -1;
    CHECK_THROWS_AS(km.decode(codes), value_error);
  }
  SECTION("bad options and sizes") {
    quant::fit_options o;
    o.iterations = -1;
    CHECK_THROWS_AS(km.fit(x, o), argument_error);
    CHECK_THROWS_AS(quant::l2_kmeans(0), argument_error);
  }
}
