#include <catch2/catch.hpp>

#include <algorithm>
#include <limits>
#include <sstream>

#include <reg4rec/quant.hpp>

#include "quant/quant_test_util.hpp"

using namespace reg4rec;

TEST_CASE("rq_kmeans: on clustered data every level is used and nothing collapses", "[quant][residual_kmeans]") {
  const index_t n = 4000;
  const auto m = test::make_mixture(n, 16, 64, 1);
  quant::rq_kmeans rq(3, 16);
  std::ostringstream log;
  quant::fit_options o;
  o.seed = 2;
  o.log = &log;
  rq.fit(m.x, o);
  CHECK(log.str().find("level 3/3") != std::string::npos);
  CHECK(log.str().find("relative residual energy") != std::string::npos);
  const auto s = rq.stats(m.x);
  REQUIRE(s.num_codebooks == 3);
  for (index_t l = 0; l < 3; ++l) {
    INFO("level " << l);
    CHECK(s.utilisation[l] > 0.9);
    CHECK(s.perplexity[l] > 0.6 * 16);
  }
  CHECK(s.largest_bucket <= n / 20);       // no SID swallows the data
  CHECK(s.distinct_sids >= 200);
  CHECK(s.semantic_cohesion > 0.5);        // items sharing a SID are similar
  // Each level removes energy: the per-level k-means objective shrinks level after level.
  const auto& rep = rq.reports();
  REQUIRE(rep.size() == 3);
  CHECK(rep[1].objective.back() < rep[0].objective.back());
  CHECK(rep[2].objective.back() < rep[1].objective.back());
  // Decoding with more levels reconstructs better.
  const auto codes = rq.encode(m.x);
  const auto xhat = rq.decode(codes);
  matrix<float> one = xhat;
  for (index_t i = 0; i < n; ++i)
    one.row(i) = rq.codebook(0).eigen().row(codes(i, 0));
  CHECK(test::mean_sq_error(m.x, xhat) < 0.5 * test::mean_sq_error(m.x, one));
}

TEST_CASE("rq_kmeans: encode uses the beam width; beam 5 is at least as good on average", "[quant][residual_kmeans]") {
  const auto m = test::make_mixture(3000, 12, 40, 3);
  quant::rq_kmeans rq(3, 32);
  rq.fit(m.x);
  const auto greedy = rq.encode(m.x);
  rq.set_beam_width(5);
  CHECK(rq.beam_width() == 5);
  const auto beam = rq.encode(m.x);
  matrix<std::int32_t> explicit_beam(m.x.rows(), 3);
  rq.encode(m.x, explicit_beam, 5);
  CHECK(beam == explicit_beam);
  CHECK(test::mean_sq_error(m.x, rq.decode(beam)) <= test::mean_sq_error(m.x, rq.decode(greedy)) * (1 + 1e-6));
  CHECK_THROWS_AS(rq.set_beam_width(0), argument_error);
}

TEST_CASE("rq_kmeans: same seed, same codebooks for any thread count", "[quant][residual_kmeans]") {
  const auto m = test::make_mixture(2500, 8, 20, 4);
  quant::rq_kmeans a(2, 16), b(2, 16), c(2, 16);
  quant::fit_options o;
  o.seed = 9;
  set_num_threads(1);
  a.fit(m.x, o);
  set_num_threads(2);
  b.fit(m.x, o);
  for (index_t l = 0; l < 2; ++l) CHECK(a.codebook(l).eigen() == b.codebook(l).eigen());
  o.seed = 10;
  c.fit(m.x, o);
  CHECK(a.codebook(0).eigen() != c.codebook(0).eigen());
}

TEST_CASE("rq_kmeans: last-level candidates rank the final code first", "[quant][residual_kmeans]") {
  const auto m = test::make_mixture(1500, 8, 20, 5);
  quant::rq_kmeans rq(3, 8);
  rq.fit(m.x);
  rq.set_beam_width(3);
  const auto codes = rq.encode(m.x);
  matrix<std::int32_t> cand(m.x.rows(), 4);
  matrix<float> cost(m.x.rows(), 4);
  rq.last_level_candidates(m.x, cand, cost);
  const auto xhat = rq.decode(codes);
  for (index_t i = 0; i < m.x.rows(); ++i) {
    const double e = test::sqdist(m.x.row(i).data(), xhat.row(i).data(), 8);
    CHECK(std::abs(cost(i, 0) - e) <= 1e-4 * (1 + e));
    CHECK(cost(i, 0) <= cost(i, 1));
    CHECK(cost(i, 2) <= cost(i, 3));
  }
  // The first candidate is the encoded code except for exact ties.
  index_t same = 0;
  for (index_t i = 0; i < m.x.rows(); ++i) same += cand(i, 0) == codes(i, 2);
  CHECK(same == m.x.rows());
  matrix<std::int32_t> too_many(m.x.rows(), 9);
  matrix<float> too_many_cost(m.x.rows(), 9);
  CHECK_THROWS_AS(rq.last_level_candidates(m.x, too_many, too_many_cost), argument_error);
}

TEST_CASE("balanced and cosine RQ-KMeans", "[quant][residual_kmeans]") {
  const auto m = test::make_mixture(1600, 8, 10, 6, 2.0f, 1.0f, 1.5);
  SECTION("balanced levels: training sizes exactly n/K") {
    quant::balanced_rq_kmeans rq(2, 16);
    rq.fit(m.x);
    for (const auto& rep : rq.reports())
      for (index_t s : rep.cluster_sizes) CHECK(s == 100);
    CHECK(rq.stats(m.x).utilisation[0] == 1.0);
  }
  SECTION("cosine") {
    const auto xn = test::normalised(m.x);
    quant::cosine_rq_kmeans rq(2, 16);
    rq.fit(xn);
    const auto codes = rq.encode(xn);
    CHECK(codes.cols() == 2);
    CHECK(rq.stats(xn).utilisation[0] > 0.9);
    CHECK(test::mean_sq_error(xn, rq.decode(codes)) < 0.5);  // unit vectors: 1 would be no information
  }
}

TEST_CASE("rq_kmeans: save and load round-trip", "[quant][residual_kmeans]") {
  const auto m = test::make_mixture(1000, 6, 12, 7);
  quant::rq_kmeans rq(3, 8, 4);
  rq.fit(m.x);
  test::temp_file f("rq.r4r");
  rq.save(f.path);
  quant::rq_kmeans back;
  back.load(f.path);
  CHECK(back.num_codebooks() == 3);
  CHECK(back.codebook_size() == 8);
  CHECK(back.beam_width() == 4);
  CHECK(back.dim() == 6);
  for (index_t l = 0; l < 3; ++l) CHECK(back.codebook(l).eigen() == rq.codebook(l).eigen());
  CHECK(back.encode(m.x) == rq.encode(m.x));
  CHECK(back.reports()[1].objective == rq.reports()[1].objective);
  quant::balanced_rq_kmeans other;
  CHECK_THROWS_AS(other.load(f.path), checkpoint_error);
  quant::l2_kmeans wrong_kind;
  CHECK_THROWS_WITH(wrong_kind.load(f.path), Catch::Contains("expected a 'kmeans'"));
}

TEST_CASE("rq_kmeans: bad input is a clear error", "[quant][residual_kmeans]") {
  const auto x = test::random_matrix<float>(40, 5, 8);
  quant::rq_kmeans rq(2, 8);
  CHECK_THROWS_WITH(rq.encode(x), Catch::Contains("not fitted"));
  matrix<float> empty(0, 5);
  CHECK_THROWS_AS(rq.fit(empty), argument_error);
  quant::rq_kmeans big(2, 41);
  CHECK_THROWS_WITH(big.fit(x), Catch::Contains("K = 41"));
  auto bad = x;
  bad(3, 4) = std::numeric_limits<float>::quiet_NaN();
  CHECK_THROWS_WITH(rq.fit(bad), Catch::Contains("row 3"));
  rq.fit(x);
  const auto x4 = test::random_matrix<float>(3, 4, 9);
  CHECK_THROWS_AS(rq.encode(x4), dimension_error);
  matrix<std::int32_t> codes(1, 2);
  codes << 1, 9;
  CHECK_THROWS_AS(rq.decode(codes), value_error);
  matrix<std::int32_t> three(1, 3);
  three.setZero();
  CHECK_THROWS_AS(rq.decode(three), dimension_error);
  CHECK_THROWS_AS(quant::rq_kmeans(0, 8), argument_error);
  CHECK_THROWS_AS(rq.codebook(2), argument_error);
}
