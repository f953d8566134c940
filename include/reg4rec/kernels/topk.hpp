// Top-k selection per row: idx, val (n × k) hold the k largest entries of each row of x
// (n × m), best first; ties go to the smaller index; -inf ranks below finite values and NaN
// below -inf (a NaN is returned only when a row has fewer than k other entries).
#pragma once

#include <cstdint>

#include "reg4rec/backend/scalar/topk.hpp"
#include "reg4rec/backend/simd/topk.hpp"
#include "reg4rec/backend/tags.hpp"
#include "reg4rec/core/error.hpp"
#include "reg4rec/core/parallel.hpp"
#include "reg4rec/core/view.hpp"
#if REG4REC_HAS_CUDA
#include "reg4rec/backend/cuda/api.hpp"
#endif

namespace reg4rec::kernels {

template <class T, class Backend>
void topk(Backend be, cmatrix_view<nodeduce<T>> x, matrix_view<std::int32_t> idx, matrix_view<T> val) {
  const index_t k = idx.cols();
  check_dim("topk: rows of idx (rows of x)", idx.rows(), x.rows());
  check_dim("topk: rows of val (rows of x)", val.rows(), x.rows());
  check_dim("topk: columns of val (k)", val.cols(), k);
  require(k <= x.cols(), "topk: k = ", k, " exceeds the row length m = ", x.cols());
  if (x.rows() == 0 || k == 0) return;
  if constexpr (std::is_same_v<Backend, backend::cuda>) {
#if REG4REC_HAS_CUDA
    static_assert(std::is_same_v<T, float>, "the CUDA add-on works in float");
    require(idx.contiguous() && val.contiguous(), "topk (cuda): idx and val must be contiguous");
    cuda::topk(x.data(), x.rows(), x.cols(), x.stride(), k, idx.data(), val.data());
#else
    static_assert(sizeof(T) == 0, "backend::cuda needs REG4REC_ENABLE_CUDA (target reg4rec::cuda)");
#endif
  } else {
    parallel_for(0, x.rows(), std::max<index_t>(1, 32768 / x.cols()), [&](index_t lo, index_t hi) {
      for (index_t i = lo; i < hi; ++i)
        backend::topk_row(be, x.row_ptr(i), x.cols(), k, idx.row_ptr(i), val.row_ptr(i));
    });
  }
}

template <class T>
void topk(cmatrix_view<nodeduce<T>> x, matrix_view<std::int32_t> idx, matrix_view<T> val) {
  topk<T>(default_backend{}, x, idx, val);
}

}  // namespace reg4rec::kernels
