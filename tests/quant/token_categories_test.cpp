#include <catch2/catch.hpp>

#include <map>

#include <reg4rec/quant.hpp>

#include "quant/quant_test_util.hpp"

using namespace reg4rec;

TEST_CASE("token_category_table: a hand-computed case", "[quant][token_categories]") {
  // item:      0  1  2  3  4  5
  // codebook 0: 0  0  0  1  1  2
  // codebook 1: 3  3  1  1  0  0
  // category:   5  5  2  2  7 -1 (unknown)
  matrix<std::int32_t> codes(6, 2);
  codes << 0, 3, 0, 3, 0, 1, 1, 1, 1, 0, 2, 0;
  std::vector<std::int32_t> cat{5, 5, 2, 2, 7, -1};
  const auto t = quant::token_category_table::build(codes, 4, cat);
  CHECK(t.category(0, 0) == 5);  // {5, 5, 2}
  CHECK(t.count(0, 0) == 2);
  CHECK(t.support(0, 0) == 3);
  CHECK(t.category(0, 1) == 2);  // {2, 7}: tie → smaller id
  CHECK(t.count(0, 1) == 1);
  CHECK(t.category(0, 2) == -1);  // only item 5, whose category is unknown
  CHECK(t.support(0, 2) == 0);
  CHECK(t.category(0, 3) == -1);  // no item
  CHECK(t.category(1, 0) == 7);
  CHECK(t.category(1, 1) == 2);
  CHECK(t.category(1, 2) == -1);
  CHECK(t.category(1, 3) == 5);
  CHECK(t.table().rows() == 2);
  CHECK(t.table().cols() == 4);
}

TEST_CASE("token_category_table: random tables agree with brute force and round-trip", "[quant][token_categories]") {
  const index_t n = 500, M = 3, K = 10;
  const auto codes = test::random_codes(n, M, K, 1);
  rng g(2);
  std::vector<std::int32_t> cat(n);
  for (auto& c : cat) c = static_cast<std::int32_t>(g.below(6)) - 1;  // -1..4
  const auto t = quant::token_category_table::build(codes, K, cat);
  for (index_t r = 0; r < M; ++r)
    for (index_t c = 0; c < K; ++c) {
      std::map<std::int32_t, int> count;
      for (index_t i = 0; i < n; ++i)
        if (codes(i, r) == c && cat[i] >= 0) ++count[cat[i]];
      std::int32_t best = -1;
      int best_n = 0;
      for (const auto& kv : count)
        if (kv.second > best_n) best = kv.first, best_n = kv.second;  // map order: ties keep the smaller id
      CHECK(t.category(r, c) == best);
      CHECK(t.count(r, c) == best_n);
    }
  test::temp_file f("cats.r4r");
  t.save(f.path);
  quant::token_category_table back;
  back.load(f.path);
  CHECK(back.table().eigen() == t.table().eigen());
  CHECK(back.count(2, 3) == t.count(2, 3));
}

TEST_CASE("token_category_table: bad input is a clear error", "[quant][token_categories]") {
  auto codes = test::random_codes(8, 2, 3, 3);
  std::vector<std::int32_t> cat(7, 0);
  CHECK_THROWS_AS(quant::token_category_table::build(codes, 3, cat), dimension_error);
  cat.assign(8, 0);
  codes(2, 0) = 3;
  CHECK_THROWS_AS(quant::token_category_table::build(codes, 3, cat), value_error);
  codes(2, 0) = 0;
  const auto t = quant::token_category_table::build(codes, 3, cat);
  CHECK_THROWS_AS(t.category(2, 0), argument_error);
  CHECK_THROWS_AS(t.category(0, 3), argument_error);
}
