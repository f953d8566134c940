#include <catch2/catch.hpp>

#include <limits>

#include <reg4rec/kernels.hpp>

#include "test_util.hpp"

using namespace reg4rec;
using simd_be = backend::simd<>;

namespace {
using test::exact_score;

// The chosen code must be optimal up to float rounding, and its score must be right.
void check_optimal(metric m, const matrix<float>& x, const matrix<float>& c,
                   const std::vector<std::int32_t>& idx, const std::vector<float>& score) {
  for (index_t i = 0; i < x.rows(); ++i) {
    REQUIRE(idx[i] >= 0);
    REQUIRE(idx[i] < c.rows());
    double best = m == metric::l2 ? 1e300 : -1e300;
    for (index_t k = 0; k < c.rows(); ++k) {
      const double s = exact_score(m, x, c, i, k);
      best = m == metric::l2 ? std::min(best, s) : std::max(best, s);
    }
    const double got = exact_score(m, x, c, i, idx[i]);
    const double tol = 1e-4 * (1.0 + std::abs(best));
    REQUIRE(std::abs(got - best) <= tol);
    REQUIRE(std::abs(score[i] - got) <= tol);
  }
}
}  // namespace

TEST_CASE("nearest: SIMD and scalar find optimal codes on awkward sizes", "[kernels][nearest]") {
  std::uint64_t seed = 1;
  for (metric m : {metric::l2, metric::inner_product})
    for (index_t d : {1, 3, 17, 32, 33})
      for (index_t K : {1, 7, 63, 65, 300}) {
        const index_t n = 1 + (d * 37 + K) % 29;  // 1..29 rows: partial row blocks too
        const auto x = test::random_matrix<float>(n, d, seed++);
        const auto c = test::random_matrix<float>(K, d, seed++);
        std::vector<std::int32_t> i_ref(n), i_simd(n);
        std::vector<float> s_ref(n), s_simd(n);
        kernels::nearest<float>(backend::scalar{}, m, x, c, i_ref, s_ref);
        kernels::nearest<float>(simd_be{}, m, x, c, i_simd, s_simd);
        INFO("metric " << to_string(m) << " d " << d << " K " << K << " n " << n);
        check_optimal(m, x, c, i_ref, s_ref);
        check_optimal(m, x, c, i_simd, s_simd);
        // Random data has no near-ties at this precision: the indices agree exactly.
        CHECK(i_ref == i_simd);
      }
}

TEST_CASE("nearest: ties go to the smallest index on every backend", "[kernels][nearest]") {
  auto c = test::random_matrix<float>(100, 20, 3);
  c.row(10) = c.row(3);
  c.row(70) = c.row(3);
  c.row(99) = c.row(3);
  matrix<float> x(7, 20);
  for (index_t i = 0; i < 7; ++i) x.row(i) = c.row(3) * 1.0f;
  x.row(6) = c.row(3) * 0.5f;
  for (metric m : {metric::l2, metric::inner_product}) {
    for (int b = 0; b < 2; ++b) {
      std::vector<std::int32_t> idx(7);
      std::vector<float> s(7);
      if (b == 0)
        kernels::nearest<float>(backend::scalar{}, m, x, c, idx, s);
      else
        kernels::nearest<float>(simd_be{}, m, x, c, idx, s);
      for (index_t i = 0; i < 6; ++i) CHECK(idx[i] == 3);
    }
  }
}

TEST_CASE("nearest: edge cases", "[kernels][nearest]") {
  const auto c = test::random_matrix<float>(16, 8, 5);
  SECTION("n = 0 is a no-op") {
    matrix<float> x(0, 8);
    std::vector<std::int32_t> idx;
    std::vector<float> s;
    CHECK_NOTHROW(kernels::nearest<float>(metric::l2, x, c, idx, s));
  }
  SECTION("K = 1 always picks code 0") {
    const auto x = test::random_matrix<float>(9, 8, 6);
    std::vector<std::int32_t> idx(9, 5);
    std::vector<float> s(9);
    kernels::nearest<float>(metric::l2, x, c.topRows(1), idx, s);
    for (auto i : idx) CHECK(i == 0);
  }
  SECTION("dimension mismatch, empty codebook and short outputs are reported") {
    const auto x = test::random_matrix<float>(4, 7, 6);
    std::vector<std::int32_t> idx(4);
    std::vector<float> s(4);
    CHECK_THROWS_AS(kernels::nearest<float>(metric::l2, x, c, idx, s), dimension_error);
    const auto x8 = test::random_matrix<float>(4, 8, 6);
    std::vector<std::int32_t> short_idx(3);
    CHECK_THROWS_AS(kernels::nearest<float>(metric::l2, x8, c, short_idx, s), dimension_error);
    CHECK_THROWS_AS(kernels::nearest<float>(metric::l2, x8, c.topRows(0), idx, s), argument_error);
  }
  SECTION("NaN or Inf in x is an error naming the row, on both backends") {
    auto x = test::random_matrix<float>(13, 8, 7);
    x(11, 2) = std::numeric_limits<float>::quiet_NaN();
    std::vector<std::int32_t> idx(13);
    std::vector<float> s(13);
    CHECK_THROWS_WITH(kernels::nearest<float>(backend::scalar{}, metric::l2, x, c, idx, s),
                      Catch::Contains("row 11"));
    CHECK_THROWS_WITH(kernels::nearest<float>(simd_be{}, metric::l2, x, c, idx, s),
                      Catch::Contains("row 11"));
    x(11, 2) = std::numeric_limits<float>::infinity();
    CHECK_THROWS_AS(kernels::nearest<float>(simd_be{}, metric::l2, x, c, idx, s), value_error);
    CHECK_THROWS_AS(kernels::nearest<float>(simd_be{}, metric::inner_product, x, c, idx, s), value_error);
  }
  SECTION("a non-finite code is an error naming the code") {
    auto bad = c;
    bad(4, 1) = std::numeric_limits<float>::quiet_NaN();
    const auto x = test::random_matrix<float>(2, 8, 8);
    std::vector<std::int32_t> idx(2);
    std::vector<float> s(2);
    CHECK_THROWS_WITH(kernels::nearest<float>(metric::l2, x, bad, idx, s), Catch::Contains("code 4"));
  }
}

TEST_CASE("nearest_topb: SIMD equals the scalar reference and top-1 equals argmin", "[kernels][nearest]") {
  std::uint64_t seed = 100;
  for (metric m : {metric::l2, metric::inner_product})
    for (index_t d : {3, 32, 33})
      for (index_t K : {5, 64, 257})
        for (index_t B : {1, 5, 20}) {
          if (B > K) continue;
          const index_t n = 23;
          const auto x = test::random_matrix<float>(n, d, seed++);
          const auto c = test::random_matrix<float>(K, d, seed++);
          matrix<std::int32_t> i_ref(n, B), i_simd(n, B);
          matrix<float> s_ref(n, B), s_simd(n, B);
          kernels::nearest_topb<float>(backend::scalar{}, m, x, c, i_ref, s_ref);
          kernels::nearest_topb<float>(simd_be{}, m, x, c, i_simd, s_simd);
          INFO("metric " << to_string(m) << " d " << d << " K " << K << " B " << B);
          CHECK((i_ref.array() == i_simd.array()).all());
          CHECK(test::max_rel_diff(s_simd.data(), s_ref.data(), s_ref.size()) < 1e-4);
          // Best first.
          for (index_t i = 0; i < n; ++i)
            for (index_t b = 1; b < B; ++b)
              CHECK((m == metric::l2 ? s_ref(i, b - 1) <= s_ref(i, b) : s_ref(i, b - 1) >= s_ref(i, b)));
          std::vector<std::int32_t> arg(n);
          std::vector<float> sc(n);
          kernels::nearest<float>(simd_be{}, m, x, c, arg, sc);
          for (index_t i = 0; i < n; ++i) CHECK(arg[i] == i_simd(i, 0));
        }
}

TEST_CASE("nearest_topb: B out of range is an argument error", "[kernels][nearest]") {
  const auto c = test::random_matrix<float>(4, 3, 1);
  const auto x = test::random_matrix<float>(2, 3, 2);
  matrix<std::int32_t> idx(2, 5);
  matrix<float> s(2, 5);
  CHECK_THROWS_AS(kernels::nearest_topb<float>(metric::l2, x, c, idx, s), argument_error);
  matrix<std::int32_t> idx0(2, 0);
  matrix<float> s0(2, 0);
  CHECK_THROWS_AS(kernels::nearest_topb<float>(metric::l2, x, c, idx0, s0), argument_error);
}

TEST_CASE("nearest in double precision matches the scalar reference", "[kernels][nearest]") {
  const auto x = test::random_matrix<double>(50, 19, 1);
  const auto c = test::random_matrix<double>(70, 19, 2);
  std::vector<std::int32_t> a(50), b(50);
  std::vector<double> sa(50), sb(50);
  kernels::nearest<double>(backend::scalar{}, metric::l2, x, c, a, sa);
  kernels::nearest<double>(simd_be{}, metric::l2, x, c, b, sb);
  CHECK(a == b);
  CHECK(test::max_rel_diff(sb.data(), sa.data(), 50) < 1e-10);
}

TEST_CASE("codebook_search reuses one packed codebook across calls and threads", "[kernels][nearest]") {
  const auto c = test::random_matrix<float>(256, 32, 9);
  const auto x = test::random_matrix<float>(5000, 32, 10);
  kernels::codebook_search<float> cs(metric::l2, c);
  std::vector<std::int32_t> all(5000), part(1000);
  std::vector<float> s_all(5000), s_part(1000);
  cs.nearest(x, all, s_all);
  cs.nearest(cmatrix_view<float>(x).middle_rows(2000, 1000), part, s_part);
  bool same = true;
  for (index_t i = 0; i < 1000; ++i) same &= part[i] == all[2000 + i];
  CHECK(same);
}

TEST_CASE("nearest_topb: ties, double precision and very large codebooks match the scalar reference",
          "[kernels][nearest]") {
  SECTION("many duplicated codes: ties ranked by index") {
    auto c = test::random_matrix<float>(200, 16, 31);
    for (index_t k = 0; k < 200; k += 3) c.row(k) = c.row(7);  // 67 copies of code 7
    matrix<float> x(9, 16);
    for (index_t i = 0; i < 9; ++i) x.row(i) = c.row(7) + 0.01f * test::random_matrix<float>(1, 16, 40 + i);
    for (index_t B : {1, 5, 20, 70}) {
      matrix<std::int32_t> i_ref(9, B), i_simd(9, B);
      matrix<float> s_ref(9, B), s_simd(9, B);
      kernels::nearest_topb<float>(backend::scalar{}, metric::l2, x, c, i_ref, s_ref);
      kernels::nearest_topb<float>(simd_be{}, metric::l2, x, c, i_simd, s_simd);
      INFO("B " << B);
      CHECK((i_ref.array() == i_simd.array()).all());
    }
  }
  SECTION("double precision") {
    const auto x = test::random_matrix<double>(31, 19, 50);
    const auto c = test::random_matrix<double>(150, 19, 51);
    for (index_t B : {1, 7, 9, 40}) {
      matrix<std::int32_t> i_ref(31, B), i_simd(31, B);
      matrix<double> s_ref(31, B), s_simd(31, B);
      kernels::nearest_topb<double>(backend::scalar{}, metric::l2, x, c, i_ref, s_ref);
      kernels::nearest_topb<double>(simd_be{}, metric::l2, x, c, i_simd, s_simd);
      CHECK((i_ref.array() == i_simd.array()).all());
      CHECK(test::max_rel_diff(s_simd.data(), s_ref.data(), s_ref.size()) < 1e-10);
    }
  }
  SECTION("a codebook too large to keep a row's scores (streaming selection)") {
    const auto x = test::random_matrix<float>(13, 8, 60);
    const auto c = test::random_matrix<float>(9000, 8, 61);
    for (metric m : {metric::l2, metric::inner_product}) {
      matrix<std::int32_t> i_ref(13, 6), i_simd(13, 6);
      matrix<float> s_ref(13, 6), s_simd(13, 6);
      kernels::nearest_topb<float>(backend::scalar{}, m, x, c, i_ref, s_ref);
      kernels::nearest_topb<float>(simd_be{}, m, x, c, i_simd, s_simd);
      CHECK((i_ref.array() == i_simd.array()).all());
    }
  }
}
