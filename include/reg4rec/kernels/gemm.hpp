// General matrix product: C = α·op(A)·op(B) + β·C on row-major views with any row strides.
//
//   kernels::gemm<float>(trans::no, trans::no, 1.f, x, W, 0.f, y);         // y = x·W
//   kernels::gemm<float>(trans::no, trans::yes, 1.f, dy, W, 1.f, dx);       // dx += dy·Wᵀ
//   kernels::gemm<float>(trans::yes, trans::no, 1.f, x, dy, 1.f, dW);       // dW += xᵀ·dy
//   kernels::gemm<float>(backend::scalar{}, trans::no, trans::no, ...);      // the reference
//   kernels::gemm<float>(trans::no, trans::no, 1.f, x, W, 0.f, y, {b});     // y = x·W + b
//   kernels::gemm<float>(trans::yes, trans::no, 1.f, x, dy, 1.f, dW, {{}, db}); // and db += Σ dy
//
// op(A) is M × K and op(B) is K × N (op = identity or transpose), C is M × N. Contract:
// - β = 0 means C is only written (it may hold garbage or NaN); otherwise it is read once.
// - α = 0 or K = 0: C ← β·C (0 when β = 0); A is not read, nor B unless b_sums is asked for.
// - C must not overlap A or B (nor the extras' spans).
// - extras.bias (N values) is added to every row of C after the product; extras.b_sums (N
//   values) receives += the column sums of op(B) (Σ over k), taken while op(B) is packed, so a
//   bias gradient costs no extra pass over dy. Both are computed even when α = 0 or K = 0.
// - Large products are split across threads by blocks of C (never along k) unless the call
//   is already inside a parallel region; every element of C is computed by the same
//   operations whatever the split, so results do not depend on the thread count.
#pragma once

#include <algorithm>

#include "reg4rec/backend/gemm_op.hpp"
#include "reg4rec/backend/scalar/gemm.hpp"
#include "reg4rec/backend/simd/gemm.hpp"
#include "reg4rec/backend/tags.hpp"
#include "reg4rec/core/error.hpp"
#include "reg4rec/core/parallel.hpp"
#include "reg4rec/core/view.hpp"

namespace reg4rec::kernels {

namespace detail {
// A thread gets at least this many flops (≈ 20 µs at our per-core rate), so that waking a
// sleeping OpenMP worker never costs more than it brings.
inline constexpr double gemm_flops_per_thread = 4e6;

template <class T>
cmatrix_view<T> op_rows(trans t, cmatrix_view<T> X, index_t lo, index_t count) {
  return t == trans::yes ? X.middle_cols(lo, count) : X.middle_rows(lo, count);
}
template <class T>
cmatrix_view<T> op_cols(trans t, cmatrix_view<T> X, index_t lo, index_t count) {
  return t == trans::yes ? X.middle_rows(lo, count) : X.middle_cols(lo, count);
}
}  // namespace detail

/// Work folded into a product's passes over its operands (see the contract above).
template <class T>
struct gemm_extras {
  cspan<T> bias;   ///< (N) or empty: C += 1·biasᵀ after the product
  span<T> b_sums;  ///< (N) or empty: b_sums += 1ᵀ·op(B)
};

/// C (M × N) = α·op(A)·op(B) + β·C (+ extras); op(A): (M × K), op(B): (K × N).
template <class T, class Backend>
void gemm(Backend be, trans ta, trans tb, nodeduce<T> alpha, cmatrix_view<nodeduce<T>> A,
          cmatrix_view<nodeduce<T>> B, nodeduce<T> beta, matrix_view<T> C,
          const gemm_extras<nodeduce<T>>& extras = {}) {
  static_assert(backend::is_host_v<Backend>, "gemm runs on host backends");
  static_assert(std::is_floating_point_v<T>, "gemm works in float or double");
  const index_t M = ta == trans::yes ? A.cols() : A.rows();
  const index_t K = ta == trans::yes ? A.rows() : A.cols();
  const index_t KB = tb == trans::yes ? B.cols() : B.rows();
  const index_t N = tb == trans::yes ? B.rows() : B.cols();
  check_dim(ta == trans::yes ? "gemm: rows of C (columns of A, op(A) = Aᵀ)" : "gemm: rows of C (rows of A)",
            C.rows(), M);
  check_dim(tb == trans::yes ? "gemm: columns of C (rows of B, op(B) = Bᵀ)" : "gemm: columns of C (columns of B)",
            C.cols(), N);
  check_dim(tb == trans::yes ? "gemm: columns of B (op(B) = Bᵀ) against the inner dimension K of op(A)"
                             : "gemm: rows of B against the inner dimension K of op(A)",
            KB, K);
  require(A.rows() <= 1 || A.stride() >= A.cols(), "gemm: row stride of A (", A.stride(),
          ") is smaller than its columns (", A.cols(), ")");
  require(B.rows() <= 1 || B.stride() >= B.cols(), "gemm: row stride of B (", B.stride(),
          ") is smaller than its columns (", B.cols(), ")");
  require(C.rows() <= 1 || C.stride() >= C.cols(), "gemm: row stride of C (", C.stride(),
          ") is smaller than its columns (", C.cols(), ")");
  if (!extras.bias.empty()) check_dim("gemm: length of the bias (columns of C)", extras.bias.size(), N);
  if (!extras.b_sums.empty()) check_dim("gemm: length of b_sums (columns of op(B))", extras.b_sums.size(), N);
  if (M == 0 || N == 0) {
    if (N > 0 && !extras.b_sums.empty())  // M = 0: the column sums of op(B) are still asked for
      backend::gemm<T>(backend::scalar{}, ta, tb, T(1), A, B, T(0), C, nullptr, extras.b_sums.data());
    return;
  }
  const T* bias = extras.bias.empty() ? nullptr : extras.bias.data();
  T* b_sums = extras.b_sums.empty() ? nullptr : extras.b_sums.data();

  using tile = backend::gemm_tile<Backend, T>;
  const double flops = 2.0 * double(M) * double(N) * double(K);
  const int threads = in_parallel() ? 1 : max_threads();
  if (threads > 1 && K > 0 && alpha != T(0) && flops >= 2 * detail::gemm_flops_per_thread) {
    const index_t row_blocks = (M + tile::rows - 1) / tile::rows;
    const index_t col_blocks = (N + tile::cols - 1) / tile::cols;
    // Rows when there are enough row blocks to share out evenly, else column panels.
    if (row_blocks >= 4 * threads || row_blocks >= col_blocks) {
      const double per_block = flops / double(row_blocks);
      const index_t grain = std::max<index_t>(1, index_t(detail::gemm_flops_per_thread / per_block));
      parallel_for(0, row_blocks, grain, [&](index_t lo, index_t hi) {
        const index_t i0 = lo * tile::rows, i1 = std::min(M, hi * tile::rows);
        // Every row block packs all of op(B): the first one alone adds its column sums.
        backend::gemm(be, ta, tb, T(alpha), detail::op_rows(ta, A, i0, i1 - i0), B, T(beta),
                      C.middle_rows(i0, i1 - i0), bias, i0 == 0 ? b_sums : nullptr);
      });
    } else {
      const double per_block = flops / double(col_blocks);
      const index_t grain = std::max<index_t>(1, index_t(detail::gemm_flops_per_thread / per_block));
      parallel_for(0, col_blocks, grain, [&](index_t lo, index_t hi) {
        const index_t j0 = lo * tile::cols, j1 = std::min(N, hi * tile::cols);
        backend::gemm(be, ta, tb, T(alpha), A, detail::op_cols(tb, B, j0, j1 - j0), T(beta),
                      C.middle_cols(j0, j1 - j0), bias ? bias + j0 : nullptr, b_sums ? b_sums + j0 : nullptr);
      });
    }
    return;
  }
  backend::gemm(be, ta, tb, T(alpha), A, B, T(beta), C, bias, b_sums);
}

/// The same on reg4rec::default_backend.
template <class T>
void gemm(trans ta, trans tb, nodeduce<T> alpha, cmatrix_view<nodeduce<T>> A, cmatrix_view<nodeduce<T>> B,
          nodeduce<T> beta, matrix_view<T> C, const gemm_extras<nodeduce<T>>& extras = {}) {
  // Qualified: unqualified, argument-dependent lookup would find backend::gemm (a better
  // match) and skip the checks and the thread split.
  kernels::gemm<T>(default_backend{}, ta, tb, alpha, A, B, beta, C, extras);
}

}  // namespace reg4rec::kernels
