// General matrix product, scalar reference: C = α·op(A)·op(B) + β·C (+ bias on every row) by
// the textbook triple loop, each dot product accumulated in T in increasing k. With β = 0, C
// is only written.
#pragma once

#include "reg4rec/backend/gemm_op.hpp"
#include "reg4rec/backend/tags.hpp"
#include "reg4rec/core/view.hpp"

namespace reg4rec::backend {

/// op(A): (M × K), op(B): (K × N), C: (M × N); shapes are checked by kernels::gemm.
/// bias (N values or null): added to every row of C. b_sums (N values or null): Σ_k op(B)(k, j)
/// added to b_sums[j].
template <class T>
void gemm(scalar, trans ta, trans tb, T alpha, cmatrix_view<T> A, cmatrix_view<T> B, T beta, matrix_view<T> C,
          const T* bias = nullptr, T* b_sums = nullptr) {
  const index_t M = C.rows(), N = C.cols();
  const index_t K = ta == trans::yes ? A.rows() : A.cols();
  auto b_at = [&](index_t k, index_t j) { return tb == trans::yes ? B(j, k) : B(k, j); };
  if (b_sums)
    for (index_t j = 0; j < N; ++j) {
      T s = T(0);
      for (index_t k = 0; k < K; ++k) s += b_at(k, j);
      b_sums[j] += s;
    }
  if (K == 0 || alpha == T(0)) {  // C ← β·C (+ bias) without reading A and B
    gemm_scale_only(beta, bias, C);
    return;
  }
  for (index_t i = 0; i < M; ++i)
    for (index_t j = 0; j < N; ++j) {
      T sum = T(0);
      for (index_t k = 0; k < K; ++k) sum += (ta == trans::yes ? A(k, i) : A(i, k)) * b_at(k, j);
      T v = beta == T(0) ? alpha * sum : alpha * sum + beta * C(i, j);
      C(i, j) = bias ? v + bias[j] : v;
    }
}

}  // namespace reg4rec::backend
