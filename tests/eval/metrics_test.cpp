#include <catch2/catch.hpp>

#include <cmath>
#include <limits>

#include <reg4rec/eval/metrics.hpp>

using namespace reg4rec;
using eval::not_found;

TEST_CASE("metrics: pessimistic rank from scores, hand-computed", "[eval][metrics]") {
  const std::vector<float> s{0.5f, 0.9f, 0.5f, 0.1f, 0.5f};
  // Target 0 (0.5): item 1 scores higher, items 2 and 4 tie → placed after them.
  CHECK(eval::score_rank<float>(s, 0) == 3);
  CHECK(eval::score_rank<float>(s, 1) == 0);
  CHECK(eval::score_rank<float>(s, 3) == 4);
  // Ties with every item: last.
  const std::vector<float> flat(7, 1.0f);
  CHECK(eval::score_rank<float>(flat, 3) == 6);
  // Masked history: items 1 and 2 removed; the target itself listed in the history and
  // duplicates change nothing; a lower-scored masked item changes nothing.
  const std::vector<std::int32_t> h12{1, 2}, h_dup{1, 1, 0, 2, 2}, h3{3}, none, bad{9};
  CHECK(eval::score_rank<float>(s, 0, h12) == 1);
  CHECK(eval::score_rank<float>(s, 0, h_dup) == 1);
  CHECK(eval::score_rank<float>(s, 0, h3) == 3);
  // Empty history.
  CHECK(eval::score_rank<float>(s, 0, none) == 3);
  CHECK_THROWS_AS(eval::score_rank<float>(s, 5), argument_error);
  CHECK_THROWS_AS(eval::score_rank<float>(s, 0, bad), argument_error);
}

TEST_CASE("metrics: NaN and infinite scores", "[eval][metrics]") {
  const float nan = std::numeric_limits<float>::quiet_NaN(), inf = std::numeric_limits<float>::infinity();
  const std::vector<float> s{nan, 0.2f, -inf, nan, 0.7f};
  CHECK(eval::score_rank<float>(s, 1) == 1);  // NaN items never outrank
  CHECK(eval::score_rank<float>(s, 2) == 2);
  CHECK(eval::score_rank<float>(s, 0) == 4);  // a NaN target is last
  const std::vector<std::int32_t> h{4, 3};
  CHECK(eval::score_rank<float>(s, 0, h) == 2);
}

TEST_CASE("metrics: ranked lists and K beyond the list", "[eval][metrics]") {
  const std::vector<std::int32_t> list{7, 3, 9};
  CHECK(eval::list_rank(list, 7) == 0);
  CHECK(eval::list_rank(list, 9) == 2);
  CHECK(eval::list_rank(list, 4) == not_found);
  const std::vector<std::int32_t> empty;
  CHECK(eval::list_rank(empty, 4) == not_found);

  eval::metric_accumulator acc({1, 3, 10});
  acc.add(eval::list_rank(list, 9));  // rank 2: a hit at K = 3 and K = 10 (longer than the list)
  acc.add(eval::list_rank(list, 4));  // absent: counts as a user with zero everywhere
  CHECK(acc.count() == 2);
  CHECK(acc.recall(1) == 0.0);
  CHECK(acc.recall(3) == Approx(0.5));
  CHECK(acc.recall(10) == Approx(0.5));
  CHECK(acc.ndcg(10) == Approx(0.5 / std::log2(4.0)));
  CHECK(acc.mrr() == Approx(0.5 / 3.0));
}

TEST_CASE("metrics: accumulator means, hand-computed", "[eval][metrics]") {
  eval::metric_accumulator acc({1, 5, 10});
  for (index_t r : {index_t(0), index_t(3), not_found, index_t(9), index_t(10)}) acc.add(r);
  CHECK(acc.count() == 5);
  CHECK(acc.recall(1) == Approx(1.0 / 5));
  CHECK(acc.recall(5) == Approx(2.0 / 5));
  CHECK(acc.recall(10) == Approx(3.0 / 5));
  CHECK(acc.ndcg(1) == Approx(1.0 / 5));
  CHECK(acc.ndcg(5) == Approx((1.0 + 1.0 / std::log2(5.0)) / 5));
  CHECK(acc.ndcg(10) == Approx((1.0 + 1.0 / std::log2(5.0) + 1.0 / std::log2(11.0)) / 5));
  // MRR over the full ranking: ranks 0, 3, 9, 10 count, the absent target gives 0.
  CHECK(acc.mrr() == Approx((1.0 + 1.0 / 4 + 1.0 / 10 + 1.0 / 11) / 5));
  CHECK_THROWS_AS(acc.recall(20), argument_error);
  CHECK_THROWS_AS(acc.add(-2), argument_error);
  CHECK_THROWS_AS(eval::metric_accumulator({0}), argument_error);

  eval::metric_accumulator empty;
  CHECK(empty.recall(10) == 0.0);
  CHECK(empty.mrr() == 0.0);
}
