// Row softmax and log-softmax: y (n × m) from x (n × m); y may be x itself.
// NaN anywhere in a row makes that output row NaN (callers that must not see NaN check their
// inputs; training loops check the loss).
#pragma once

#include "reg4rec/backend/scalar/softmax.hpp"
#include "reg4rec/backend/simd/softmax.hpp"
#include "reg4rec/backend/tags.hpp"
#include "reg4rec/core/error.hpp"
#include "reg4rec/core/parallel.hpp"
#include "reg4rec/core/view.hpp"
#if REG4REC_HAS_CUDA
#include "reg4rec/backend/cuda/api.hpp"
#endif

namespace reg4rec::kernels {

namespace detail {
template <class T, class Backend>
void softmax_rows(Backend be, cmatrix_view<T> x, matrix_view<T> y, bool log) {
  const char* who = log ? "log_softmax" : "softmax";
  check_dim(log ? "log_softmax: rows of y" : "softmax: rows of y", y.rows(), x.rows());
  check_dim(log ? "log_softmax: columns of y" : "softmax: columns of y", y.cols(), x.cols());
  if (x.rows() == 0) return;
  require(x.cols() >= 1, who, ": rows have no entries");
  if constexpr (std::is_same_v<Backend, backend::cuda>) {
#if REG4REC_HAS_CUDA
    static_assert(std::is_same_v<T, float>, "the CUDA add-on works in float");
    cuda::softmax(x.data(), x.rows(), x.cols(), x.stride(), y.data(), y.stride(), log);
#else
    static_assert(sizeof(T) == 0, "backend::cuda needs REG4REC_ENABLE_CUDA (target reg4rec::cuda)");
#endif
  } else {
    parallel_for(0, x.rows(), std::max<index_t>(1, 16384 / x.cols()), [&](index_t lo, index_t hi) {
      for (index_t i = lo; i < hi; ++i) backend::softmax_row(be, x.row_ptr(i), y.row_ptr(i), x.cols(), log);
    });
  }
}
}  // namespace detail

template <class T, class Backend>
void softmax(Backend be, cmatrix_view<nodeduce<T>> x, matrix_view<T> y) {
  detail::softmax_rows<T>(be, x, y, false);
}
template <class T>
void softmax(cmatrix_view<nodeduce<T>> x, matrix_view<T> y) {
  detail::softmax_rows<T>(default_backend{}, x, y, false);
}
template <class T, class Backend>
void log_softmax(Backend be, cmatrix_view<nodeduce<T>> x, matrix_view<T> y) {
  detail::softmax_rows<T>(be, x, y, true);
}
template <class T>
void log_softmax(cmatrix_view<nodeduce<T>> x, matrix_view<T> y) {
  detail::softmax_rows<T>(default_backend{}, x, y, true);
}

}  // namespace reg4rec::kernels
