// The quantizer contract, checked once for every quantizer of the k-means family.
#include <catch2/catch.hpp>

#include <limits>

#include <reg4rec/quant.hpp>

#include "quant/quant_test_util.hpp"

using namespace reg4rec;

static_assert(quant::is_quantizer_v<quant::l2_kmeans>);
static_assert(quant::is_quantizer_v<quant::cosine_kmeans>);
static_assert(quant::is_quantizer_v<quant::balanced_kmeans>);
static_assert(quant::is_quantizer_v<quant::sinkhorn_kmeans>);
static_assert(quant::is_quantizer_v<quant::rq_kmeans>);
static_assert(quant::is_quantizer_v<quant::balanced_rq_kmeans>);
static_assert(quant::is_quantizer_v<quant::cosine_rq_kmeans>);
static_assert(!quant::is_quantizer_v<quant::residual_encoder<>>);
static_assert(!quant::is_quantizer_v<int>);

namespace {
template <class Q>
void check_contract(Q q, index_t M) {
  const auto m = test::make_mixture(900, 6, 9, 1);
  quant::fit_options o;
  o.seed = 4;
  q.fit(m.x, o);
  CHECK(q.num_codebooks() == M);
  CHECK(q.codebook_size() == 8);
  CHECK(q.dim() == 6);
  CHECK(q.ordered());
  const matrix<std::int32_t> codes = q.encode(m.x);
  CHECK(codes.rows() == 900);
  CHECK(codes.cols() == M);
  CHECK(codes.minCoeff() >= 0);
  CHECK(codes.maxCoeff() < 8);
  matrix<std::int32_t> into(900, M);
  q.encode(m.x, into);
  CHECK(into == codes);
  matrix<float> out(900, 6);
  q.decode(codes, out);
  CHECK(test::mean_sq_error(m.x, out) < test::mean_sq_error(m.x, matrix<float>::Zero(900, 6)));
  const quant::sid_stats s = q.stats(m.x);
  CHECK(s.num_codebooks == M);
  CHECK(s.codebook_size == 8);
  test::temp_file f("contract.r4r");
  q.save(f.path);
  Q back;
  back.load(f.path);
  CHECK(back.encode(m.x) == codes);

  // Bad input: every quantizer names the problem.
  const auto x7 = test::random_matrix<float>(5, 7, 2);
  CHECK_THROWS_AS(q.encode(x7), dimension_error);
  auto nan = m.x;
  nan(123, 0) = std::numeric_limits<float>::quiet_NaN();
  CHECK_THROWS_WITH(q.encode(nan), Catch::Contains("row 123"));
  CHECK_THROWS_WITH(q.fit(nan, o), Catch::Contains("row 123"));
  matrix<float> empty(0, 6);
  CHECK_THROWS_AS(q.fit(empty, o), argument_error);
  const auto few = test::random_matrix<float>(7, 6, 3);
  CHECK_THROWS_WITH(q.fit(few, o), Catch::Contains("exceeds the number of training vectors"));
  matrix<std::int32_t> wrong_cols(3, M + 1);
  wrong_cols.setZero();
  matrix<float> out3(3, 6);
  CHECK_THROWS_AS(q.decode(wrong_cols, out3), dimension_error);
  matrix<std::int32_t> out_of_range = codes.topRows(2);
  out_of_range(1, M - 1) = 8;
  matrix<float> out2(2, 6);
  CHECK_THROWS_AS(q.decode(out_of_range, out2), value_error);
}
}  // namespace

TEST_CASE("quantizer contract: kmeans", "[quant][contract]") { check_contract(quant::l2_kmeans(8), 1); }
TEST_CASE("quantizer contract: balanced kmeans", "[quant][contract]") { check_contract(quant::balanced_kmeans(8), 1); }
TEST_CASE("quantizer contract: sinkhorn kmeans", "[quant][contract]") { check_contract(quant::sinkhorn_kmeans(8), 1); }
TEST_CASE("quantizer contract: rq_kmeans", "[quant][contract]") { check_contract(quant::rq_kmeans(3, 8), 3); }
TEST_CASE("quantizer contract: balanced rq_kmeans", "[quant][contract]") {
  check_contract(quant::balanced_rq_kmeans(2, 8), 2);
}
