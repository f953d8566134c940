#include <catch2/catch.hpp>

#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#include <reg4rec/kernels.hpp>

#include "test_util.hpp"

using namespace reg4rec;
using simd_be = backend::simd<>;

namespace {

const trans kTrans[] = {trans::no, trans::yes};

const char* name(trans t) { return t == trans::yes ? "T" : "N"; }

// A matrix stored inside a larger one (row stride > columns, offset start), filled with
// random values; the surrounding elements hold a sentinel that must never change.
template <class T>
struct embedded {
  matrix<T> storage;
  index_t r0, c0, rows, cols;
  embedded(index_t rows_, index_t cols_, std::uint64_t seed, index_t pad_cols, T sentinel)
      : r0(2), c0(3), rows(rows_), cols(cols_) {
    storage = matrix<T>::Constant(rows + 4, cols + 3 + pad_cols, sentinel);
    storage.block(r0, c0, rows, cols) = test::random_matrix<T>(rows, cols, seed);
  }
  matrix_view<T> view() { return matrix_view<T>(storage.data() + r0 * storage.cols() + c0, rows, cols, storage.cols()); }
  cmatrix_view<T> cview() const {
    return cmatrix_view<T>(storage.data() + r0 * storage.cols() + c0, rows, cols, storage.cols());
  }
  // Every element outside the block is still the sentinel.
  bool frame_intact(T sentinel) const {
    for (index_t i = 0; i < storage.rows(); ++i)
      for (index_t j = 0; j < storage.cols(); ++j) {
        const bool inside = i >= r0 && i < r0 + rows && j >= c0 && j < c0 + cols;
        if (!inside && !(storage(i, j) == sentinel)) return false;
      }
    return true;
  }
};

// Elementwise bound on the rounding error of a length-K dot product computed in T:
// |ĉ − c| ≤ γ·(|α|·Σ_k |a_ik||b_kj| + |β||c_ij|), with γ a generous multiple of K·eps.
template <class T>
void check_against_exact(trans ta, trans tb, T alpha, cmatrix_view<T> A, cmatrix_view<T> B, T beta,
                         const matrix<T>& C0, cmatrix_view<T> got, const char* what) {
  const index_t M = got.rows(), N = got.cols(), K = ta == trans::yes ? A.rows() : A.cols();
  const double eps = std::numeric_limits<T>::epsilon();
  double worst = 0;
  for (index_t i = 0; i < M; ++i)
    for (index_t j = 0; j < N; ++j) {
      double exact = 0, mag = 0;
      for (index_t k = 0; k < K; ++k) {
        const double a = ta == trans::yes ? A(k, i) : A(i, k);
        const double b = tb == trans::yes ? B(j, k) : B(k, j);
        exact += a * b;
        mag += std::abs(a * b);
      }
      exact *= double(alpha);
      mag *= std::abs(double(alpha));
      if (beta != T(0)) {
        exact += double(beta) * double(C0(i, j));
        mag += std::abs(double(beta) * double(C0(i, j)));
      }
      const double err = std::abs(double(got(i, j)) - exact);
      const double bound = 2.0 * double(K + 2) * eps * mag + std::numeric_limits<T>::min();
      worst = std::max(worst, err / bound);
    }
  INFO(what << ": worst error / bound = " << worst);
  CHECK(worst <= 1.0);
}

template <class T, class Backend>
void run_case(Backend be, trans ta, trans tb, index_t M, index_t N, index_t K, T alpha, T beta, std::uint64_t seed) {
  const T sentinel = T(-777.25);
  const embedded<T> A(ta == trans::yes ? K : M, ta == trans::yes ? M : K, seed, 5, sentinel);
  const embedded<T> B(tb == trans::yes ? N : K, tb == trans::yes ? K : N, seed + 1, 2, sentinel);
  embedded<T> C(M, N, seed + 2, 7, sentinel);
  const matrix<T> C0 = C.storage.block(C.r0, C.c0, M, N);
  if (beta == T(0)) C.storage.block(C.r0, C.c0, M, N).setConstant(std::numeric_limits<T>::quiet_NaN());
  kernels::gemm<T>(be, ta, tb, alpha, A.cview(), B.cview(), beta, C.view());
  INFO(Backend::name() << " " << name(ta) << name(tb) << " M " << M << " N " << N << " K " << K << " alpha "
                       << alpha << " beta " << beta);
  CHECK(C.frame_intact(sentinel));
  check_against_exact<T>(ta, tb, alpha, A.cview(), B.cview(), beta, C0, C.cview(), Backend::name());
}

template <class T, class Backend>
void awkward_shapes(Backend be) {
  std::uint64_t seed = 11;
  const index_t sizes[] = {1, 7, 17, 33, 65, 100};
  const T ab[][2] = {{T(1), T(0)}, {T(1), T(1)}, {T(-0.5), T(2)}, {T(2), T(0)}, {T(0.75), T(-1)}};
  int combo = 0;
  for (trans ta : kTrans)
    for (trans tb : kTrans)
      for (index_t M : sizes)
        for (index_t N : sizes)
          for (index_t K : {index_t(1), index_t(9), index_t(64), index_t(257)}) {
            const auto& c = ab[combo++ % 5];
            run_case<T>(be, ta, tb, M, N, K, c[0], c[1], seed);
            seed += 3;
          }
}

}  // namespace

TEST_CASE("gemm: scalar reference agrees with exact products", "[kernels][gemm]") {
  for (trans ta : kTrans)
    for (trans tb : kTrans) {
      run_case<double>(backend::scalar{}, ta, tb, 7, 5, 9, 1.5, 0.0, 1);
      run_case<float>(backend::scalar{}, ta, tb, 13, 17, 33, -1.0f, 0.5f, 2);
    }
}

TEST_CASE("gemm: SIMD float, four transpose cases, awkward shapes, strided views, alpha/beta", "[kernels][gemm]") {
  awkward_shapes<float>(simd_be{});
}

TEST_CASE("gemm: SIMD double, four transpose cases, awkward shapes, strided views, alpha/beta", "[kernels][gemm]") {
  awkward_shapes<double>(simd_be{});
}

TEST_CASE("gemm: deep and wide products cross the k and column blocks", "[kernels][gemm]") {
  // K beyond one k block (several passes over C, β applied once), N beyond one column block.
  for (trans ta : kTrans)
    for (trans tb : kTrans) {
      run_case<float>(simd_be{}, ta, tb, 37, 1100, 700, 1.0f, 0.0f, 5);
      run_case<float>(simd_be{}, ta, tb, 13, 300, 1300, 0.5f, -2.0f, 6);
      run_case<double>(simd_be{}, ta, tb, 19, 257, 650, 1.0f, 1.0f, 7);
    }
}

#if XSIMD_WITH_FMA3_AVX2
TEST_CASE("gemm: SIMD with 16 vector registers (AVX2 + FMA)", "[kernels][gemm]") {
  using avx2_be = backend::simd<xsimd::fma3<xsimd::avx2>>;
  std::uint64_t seed = 99;
  for (trans ta : kTrans)
    for (trans tb : kTrans)
      for (index_t M : {1, 7, 33})
        for (index_t N : {1, 17, 65}) {
          run_case<float>(avx2_be{}, ta, tb, M, N, 300, 1.0f, 0.5f, seed++);
          run_case<double>(avx2_be{}, ta, tb, M, N, 33, -1.0, 0.0, seed++);
        }
}
#endif

#if XSIMD_WITH_SSE2
TEST_CASE("gemm: SIMD with SSE2", "[kernels][gemm]") {
  using sse_be = backend::simd<xsimd::sse2>;
  for (trans ta : kTrans)
    for (trans tb : kTrans) {
      run_case<float>(sse_be{}, ta, tb, 17, 33, 65, 1.0f, 1.0f, 3);
      run_case<double>(sse_be{}, ta, tb, 7, 9, 100, 2.0, 0.0, 4);
    }
}
#endif

TEST_CASE("gemm: SIMD and scalar agree closely on large products", "[kernels][gemm]") {
  for (trans ta : kTrans)
    for (trans tb : kTrans) {
      const index_t M = 257, N = 130, K = 300;
      const auto A = ta == trans::yes ? test::random_matrix<float>(K, M, 1) : test::random_matrix<float>(M, K, 1);
      const auto B = tb == trans::yes ? test::random_matrix<float>(N, K, 2) : test::random_matrix<float>(K, N, 2);
      matrix<float> c_ref = test::random_matrix<float>(M, N, 3), c_simd = c_ref;
      kernels::gemm<float>(backend::scalar{}, ta, tb, 1.0f, A, B, 1.0f, c_ref);
      kernels::gemm<float>(simd_be{}, ta, tb, 1.0f, A, B, 1.0f, c_simd);
      INFO(name(ta) << name(tb));
      CHECK(test::max_rel_diff(c_simd.data(), c_ref.data(), c_ref.size()) < 2e-4);
    }
}

TEST_CASE("gemm: beta = 0 never reads C, alpha = 0 and K = 0 scale C", "[kernels][gemm]") {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const auto A = test::random_matrix<float>(9, 5, 1);
  const auto B = test::random_matrix<float>(5, 70, 2);
  for (int b = 0; b < 2; ++b) {
    auto gemm = [&](float alpha, cmatrix_view<float> a, cmatrix_view<float> bm, float beta, matrix_view<float> c) {
      if (b == 0)
        kernels::gemm<float>(backend::scalar{}, trans::no, trans::no, alpha, a, bm, beta, c);
      else
        kernels::gemm<float>(simd_be{}, trans::no, trans::no, alpha, a, bm, beta, c);
    };
    matrix<float> C = matrix<float>::Constant(9, 70, nan);
    gemm(1.0f, A, B, 0.0f, C);
    CHECK(C.allFinite());
    // α = 0: C ← β·C, A and B not read (NaN in them does not propagate).
    matrix<float> An = matrix<float>::Constant(9, 5, nan);
    matrix<float> C2 = matrix<float>::Constant(9, 70, 3.0f);
    gemm(0.0f, An, B, 2.0f, C2);
    CHECK((C2.array() == 6.0f).all());
    gemm(0.0f, An, B, 0.0f, C2);
    CHECK((C2.array() == 0.0f).all());
    // K = 0: the product is empty.
    matrix<float> A0(9, 0), B0(0, 70);
    matrix<float> C3 = matrix<float>::Constant(9, 70, nan);
    gemm(1.0f, A0, B0, 0.0f, C3);
    CHECK((C3.array() == 0.0f).all());
    C3.setConstant(1.5f);
    gemm(1.0f, A0, B0, -1.0f, C3);
    CHECK((C3.array() == -1.5f).all());
    // M = 0 or N = 0: nothing to do.
    matrix<float> Am(0, 5), Cm(0, 70), Bn(5, 0), Cn(9, 0);
    gemm(1.0f, Am, B, 0.0f, Cm);
    gemm(1.0f, A, Bn, 0.0f, Cn);
  }
}

TEST_CASE("gemm: the result does not depend on the thread count", "[kernels][gemm]") {
  struct shape {
    index_t M, N, K;
  };
  // Split by rows (tall), by column panels (wide, few rows), and with several k blocks.
  const shape shapes[] = {{301, 257, 130}, {5, 2000, 1000}, {200, 75, 1500}};
  for (trans ta : kTrans)
    for (trans tb : kTrans)
      for (const auto& s : shapes)
        for (float beta : {0.0f, 1.0f}) {
          const auto A = ta == trans::yes ? test::random_matrix<float>(s.K, s.M, 1) : test::random_matrix<float>(s.M, s.K, 1);
          const auto B = tb == trans::yes ? test::random_matrix<float>(s.N, s.K, 2) : test::random_matrix<float>(s.K, s.N, 2);
          const matrix<float> C0 = test::random_matrix<float>(s.M, s.N, 3);
          const auto bias = test::random_vector<float>(s.N, 4);
          matrix<float> c1 = C0, c2 = C0;
          std::vector<float> s1(std::size_t(s.N), 0.0f), s2 = s1;
          set_num_threads(1);
          kernels::gemm<float>(ta, tb, 0.5f, A, B, beta, c1, {bias, s1});
          set_num_threads(2);
          kernels::gemm<float>(ta, tb, 0.5f, A, B, beta, c2, {bias, s2});
          INFO(name(ta) << name(tb) << " M " << s.M << " N " << s.N << " K " << s.K << " beta " << beta);
          CHECK(std::memcmp(c1.data(), c2.data(), sizeof(float) * std::size_t(c1.size())) == 0);
          CHECK(s1 == s2);
        }
  set_num_threads(2);
}

TEST_CASE("gemm: extras add a bias row and the column sums of op(B)", "[kernels][gemm]") {
  std::uint64_t seed = 500;
  for (trans ta : kTrans)
    for (trans tb : kTrans)
      for (index_t M : {1, 7, 100})
        for (index_t N : {1, 17, 65, 130})
          for (index_t K : {1, 9, 300, 700})
            for (float beta : {0.0f, 0.5f}) {
              const auto A = ta == trans::yes ? test::random_matrix<float>(K, M, seed) : test::random_matrix<float>(M, K, seed);
              const auto B = tb == trans::yes ? test::random_matrix<float>(N, K, seed + 1) : test::random_matrix<float>(K, N, seed + 1);
              const auto C0 = test::random_matrix<float>(M, N, seed + 2);
              const auto bias = test::random_vector<float>(N, seed + 3);
              const auto sums0 = test::random_vector<float>(N, seed + 4);
              seed += 5;
              matrix<float> c_simd = C0, c_ref = C0;
              if (beta == 0.0f) c_simd.setConstant(std::numeric_limits<float>::quiet_NaN());
              std::vector<float> s_simd = sums0, s_ref = sums0;
              kernels::gemm<float>(simd_be{}, ta, tb, 1.5f, A, B, beta, c_simd, {bias, s_simd});
              kernels::gemm<float>(backend::scalar{}, ta, tb, 1.5f, A, B, beta, c_ref, {bias, s_ref});
              INFO(name(ta) << name(tb) << " M " << M << " N " << N << " K " << K << " beta " << beta);
              // Exact values in double, with the bound of check_against_exact plus the bias.
              double worst_c = 0, worst_s = 0;
              const double eps = std::numeric_limits<float>::epsilon();
              for (index_t j = 0; j < N; ++j) {
                double sum = sums0[j], mag_s = std::abs(double(sums0[j]));
                for (index_t k = 0; k < K; ++k) {
                  const double b = tb == trans::yes ? B(j, k) : B(k, j);
                  sum += b;
                  mag_s += std::abs(b);
                }
                worst_s = std::max(worst_s, std::abs(double(s_simd[j]) - sum) / (2.0 * double(K + 2) * eps * mag_s));
                CHECK(std::abs(double(s_ref[j]) - sum) <= 2.0 * double(K + 2) * eps * mag_s);
                for (index_t i = 0; i < M; ++i) {
                  double exact = 0, mag = 0;
                  for (index_t k = 0; k < K; ++k) {
                    const double a = ta == trans::yes ? A(k, i) : A(i, k);
                    const double b = tb == trans::yes ? B(j, k) : B(k, j);
                    exact += a * b;
                    mag += std::abs(a * b);
                  }
                  exact = 1.5 * exact + double(beta) * C0(i, j) + bias[j];
                  mag = 1.5 * mag + std::abs(double(beta) * C0(i, j)) + std::abs(double(bias[j]));
                  worst_c = std::max(worst_c, std::abs(double(c_simd(i, j)) - exact) / (2.0 * double(K + 3) * eps * mag));
                }
              }
              CHECK(worst_c <= 1.0);
              CHECK(worst_s <= 1.0);
            }
}

TEST_CASE("gemm: extras with alpha = 0, K = 0 and M = 0", "[kernels][gemm]") {
  const auto B = test::random_matrix<float>(5, 3, 1);
  const std::vector<float> bias{1.0f, 2.0f, 3.0f};
  for (int b = 0; b < 2; ++b) {
    auto gemm = [&](float alpha, cmatrix_view<float> a, float beta, matrix_view<float> c, span<float> sums) {
      if (b == 0)
        kernels::gemm<float>(backend::scalar{}, trans::no, trans::no, alpha, a, B, beta, c, {bias, sums});
      else
        kernels::gemm<float>(simd_be{}, trans::no, trans::no, alpha, a, B, beta, c, {bias, sums});
    };
    const matrix<float> A = matrix<float>::Constant(4, 5, std::numeric_limits<float>::quiet_NaN());
    matrix<float> C = matrix<float>::Constant(4, 3, 2.0f);
    std::vector<float> sums(3, 1.0f);
    gemm(0.0f, A, 0.5f, C, sums);  // α = 0: C = β·C + bias, A not read
    for (index_t j = 0; j < 3; ++j) {
      CHECK((C.col(j).array() == 1.0f + bias[j]).all());
      CHECK(sums[j] == Approx(1.0 + B.col(j).sum()));
    }
    matrix<float> A0(0, 5), C0(0, 3);
    std::vector<float> sums2(3, 0.0f);
    gemm(1.0f, A0, 0.0f, C0, sums2);  // M = 0: nothing to write, the sums are still taken
    for (index_t j = 0; j < 3; ++j) CHECK(sums2[j] == Approx(B.col(j).sum()));
  }
  matrix<float> C(4, 3);
  const auto A = test::random_matrix<float>(4, 5, 2);
  const std::vector<float> short_bias{1.0f, 2.0f};
  CHECK_THROWS_WITH(kernels::gemm<float>(trans::no, trans::no, 1.0f, A, B, 0.0f, C, {short_bias, {}}),
                    Catch::Contains("length of the bias") && Catch::Contains("expected 3, got 2"));
}

TEST_CASE("gemm: shape errors name the dimension", "[kernels][gemm]") {
  const auto A = test::random_matrix<float>(4, 3, 1);
  const auto B = test::random_matrix<float>(3, 5, 2);
  matrix<float> C(4, 5), Cbad(4, 6), Cbad2(5, 5);
  CHECK_NOTHROW(kernels::gemm<float>(trans::no, trans::no, 1.0f, A, B, 0.0f, C));
  CHECK_THROWS_AS(kernels::gemm<float>(trans::no, trans::no, 1.0f, A, B, 0.0f, Cbad), dimension_error);
  CHECK_THROWS_WITH(kernels::gemm<float>(trans::no, trans::no, 1.0f, A, B, 0.0f, Cbad),
                    Catch::Contains("columns of C") && Catch::Contains("expected 5, got 6"));
  CHECK_THROWS_WITH(kernels::gemm<float>(trans::no, trans::no, 1.0f, A, B, 0.0f, Cbad2),
                    Catch::Contains("rows of C") && Catch::Contains("expected 4, got 5"));
  // Inner dimensions disagree: op(A) is 4 × 3, op(B) = B2ᵀ is 4 × 5.
  const auto B2 = test::random_matrix<float>(5, 4, 3);
  CHECK_THROWS_WITH(kernels::gemm<float>(trans::no, trans::yes, 1.0f, A, B2, 0.0f, C),
                    Catch::Contains("inner dimension K") && Catch::Contains("expected 3, got 4"));
  CHECK_THROWS_AS(kernels::gemm<float>(backend::scalar{}, trans::yes, trans::no, 1.0f, A, B, 0.0f, C), dimension_error);
  // A view whose stride is shorter than its rows.
  const cmatrix_view<float> bad(A.data(), 2, 3, 2);
  CHECK_THROWS_AS(kernels::gemm<float>(trans::no, trans::no, 1.0f, bad, B, 0.0f, C.topRows(2)), argument_error);
}
