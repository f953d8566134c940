// General matrix product, scalar reference: C = α·op(A)·op(B) + β·C by the textbook triple
// loop, each dot product accumulated in T in increasing k. With β = 0, C is only written.
#pragma once

#include "reg4rec/backend/gemm_op.hpp"
#include "reg4rec/backend/tags.hpp"
#include "reg4rec/core/view.hpp"

namespace reg4rec::backend {

/// op(A): (M × K), op(B): (K × N), C: (M × N); shapes are checked by kernels::gemm.
template <class T>
void gemm(scalar, trans ta, trans tb, T alpha, cmatrix_view<T> A, cmatrix_view<T> B, T beta,
          matrix_view<T> C) {
  const index_t M = C.rows(), N = C.cols();
  const index_t K = ta == trans::yes ? A.rows() : A.cols();
  if (K == 0 || alpha == T(0)) {  // C ← β·C without reading A and B
    for (index_t i = 0; i < M; ++i)
      for (index_t j = 0; j < N; ++j) C(i, j) = beta == T(0) ? T(0) : beta * C(i, j);
    return;
  }
  for (index_t i = 0; i < M; ++i)
    for (index_t j = 0; j < N; ++j) {
      T sum = T(0);
      for (index_t k = 0; k < K; ++k) {
        const T a = ta == trans::yes ? A(k, i) : A(i, k);
        const T b = tb == trans::yes ? B(j, k) : B(k, j);
        sum += a * b;
      }
      C(i, j) = beta == T(0) ? alpha * sum : alpha * sum + beta * C(i, j);
    }
}

}  // namespace reg4rec::backend
