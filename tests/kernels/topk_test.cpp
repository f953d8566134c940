#include <catch2/catch.hpp>

#include <limits>

#include <reg4rec/kernels.hpp>

#include "test_util.hpp"

using namespace reg4rec;
using simd_be = backend::simd<>;

TEST_CASE("topk: SIMD equals scalar on awkward sizes, best first", "[kernels][topk]") {
  std::uint64_t seed = 1;
  for (index_t m : test::awkward_sizes())
    for (index_t k : {1, 2, 5, 17}) {
      if (k > m) continue;
      const index_t n = 11;
      auto x = test::random_matrix<float>(n, m, seed++);
      matrix<std::int32_t> i_ref(n, k), i_simd(n, k);
      matrix<float> v_ref(n, k), v_simd(n, k);
      kernels::topk<float>(backend::scalar{}, x, i_ref, v_ref);
      kernels::topk<float>(simd_be{}, x, i_simd, v_simd);
      INFO("m " << m << " k " << k);
      CHECK((i_ref.array() == i_simd.array()).all());
      CHECK((v_ref.array() == v_simd.array()).all());
      for (index_t i = 0; i < n; ++i) {
        // Every value outside the selection is no larger than the k-th.
        for (index_t j = 0; j < m; ++j) {
          bool chosen = false;
          for (index_t b = 0; b < k; ++b) chosen |= i_ref(i, b) == j;
          if (!chosen) CHECK(x(i, j) <= v_ref(i, k - 1));
        }
        for (index_t b = 1; b < k; ++b) CHECK(v_ref(i, b - 1) >= v_ref(i, b));
      }
    }
}

TEST_CASE("topk: ties to the smaller index, then -inf, then NaN", "[kernels][topk]") {
  const float inf = std::numeric_limits<float>::infinity();
  const float nan = std::numeric_limits<float>::quiet_NaN();
  matrix<float> x(3, 21);
  x.setConstant(0.0f);
  x(0, 4) = 2.0f;
  x(0, 19) = 2.0f;  // tie with 4: 4 first
  x(0, 20) = 1.0f;
  x.row(1).setConstant(-inf);
  x(1, 7) = nan;
  x(1, 2) = 5.0f;
  x.row(2).setConstant(nan);
  x(2, 20) = -inf;
  for (int b = 0; b < 2; ++b) {
    matrix<std::int32_t> idx(3, 4);
    matrix<float> val(3, 4);
    if (b == 0)
      kernels::topk<float>(backend::scalar{}, x, idx, val);
    else
      kernels::topk<float>(simd_be{}, x, idx, val);
    INFO("backend " << b);
    CHECK(idx(0, 0) == 4);
    CHECK(idx(0, 1) == 19);
    CHECK(idx(0, 2) == 20);
    CHECK(idx(0, 3) == 0);  // zeros tie: smallest index
    CHECK(idx(1, 0) == 2);
    CHECK(idx(1, 1) == 0);  // -inf entries by index, NaN last
    CHECK(idx(1, 2) == 1);
    CHECK(idx(1, 3) == 3);
    CHECK(idx(2, 0) == 20);
    CHECK(idx(2, 1) == 0);
    CHECK(std::isnan(val(2, 1)));
  }
}

TEST_CASE("topk: k = m returns a full sort, k > m is an error", "[kernels][topk]") {
  const auto x = test::random_matrix<double>(4, 9, 3);
  matrix<std::int32_t> idx(4, 9);
  matrix<double> val(4, 9);
  kernels::topk<double>(simd_be{}, x, idx, val);
  for (index_t i = 0; i < 4; ++i)
    for (index_t b = 1; b < 9; ++b) CHECK(val(i, b - 1) >= val(i, b));
  matrix<std::int32_t> idx2(4, 10);
  matrix<double> val2(4, 10);
  CHECK_THROWS_AS(kernels::topk<double>(x, idx2, val2), argument_error);
}
