// Nearest-code search: for each of n vectors, the best of K codes (argmin) or the best B
// (for beam search), under squared L2 or inner product.
//
//   kernels::nearest(metric::l2, x, codes, idx, dist);              // default backend
//   kernels::nearest(backend::scalar{}, metric::l2, x, codes, idx, dist);
//   kernels::codebook_search<float> cs(metric::l2, codes);           // pack once, query often
//   cs.topb(x, idx_nb, dist_nb);                                     // B = idx_nb.cols()
//
// Contract: ties go to the smallest code index; a row of x that yields no finite score (NaN
// or Inf in it) throws value_error naming the row; codes must be finite. Rows are split
// across threads for large n.
#pragma once

#include <cmath>
#include <cstdint>

#include "reg4rec/backend/scalar/nearest.hpp"
#include "reg4rec/backend/simd/nearest.hpp"
#include "reg4rec/backend/tags.hpp"
#include "reg4rec/core/error.hpp"
#include "reg4rec/core/metric.hpp"
#include "reg4rec/core/parallel.hpp"
#include "reg4rec/core/view.hpp"
#include "reg4rec/core/workspace.hpp"
#if REG4REC_HAS_CUDA
#include "reg4rec/backend/cuda/api.hpp"
#endif

namespace reg4rec::kernels {

namespace detail {
template <class T>
void check_codes(const char* who, cmatrix_view<T> codes) {
  require(codes.rows() >= 1, who, ": the codebook is empty (K = 0)");
  require(codes.cols() >= 1, who, ": codes have no dimensions (d = 0)");
  for (index_t k = 0; k < codes.rows(); ++k)
    for (index_t j = 0; j < codes.cols(); ++j)
      if (!std::isfinite(codes(k, j)))
        throw value_error(reg4rec::detail::cat(who, ": code ", k, " has a non-finite value in dimension ", j));
}

template <class T>
void check_results(const char* who, index_t n, const std::int32_t* idx, index_t ldi, const T* score,
                   index_t lds) {
  for (index_t i = 0; i < n; ++i)
    if (idx[i * ldi] < 0 || !std::isfinite(score[i * lds]))
      throw value_error(reg4rec::detail::cat(who, ": row ", i,
                                             " of x gives no finite score (NaN or Inf in the input)"));
}

// Rows per parallel task so that each carries about a million flops.
inline index_t rows_grain(index_t K, index_t d) { return std::max<index_t>(1, (1 << 20) / std::max<index_t>(1, 2 * K * d)); }
}  // namespace detail

/// A codebook prepared for repeated searches on one backend (the SIMD backend packs the codes
/// into panels once). Holds a view of `codes` for the scalar backend: keep them alive.
template <class T, class Backend = default_backend>
class codebook_search {
  static_assert(backend::is_host_v<Backend>,
                "codebook_search runs on host backends; use kernels::nearest(backend::cuda{}, ...)");

 public:
  codebook_search(metric m, cmatrix_view<T> codes, Backend = {})
      : plan_((detail::check_codes("codebook_search", codes), m), codes) {}

  index_t size() const noexcept { return plan_.size(); }
  index_t dim() const noexcept { return plan_.dim(); }

  /// idx: (n) best code per row; score: (n) its squared distance or inner product.
  void nearest(cmatrix_view<T> x, span<std::int32_t> idx, span<T> score) const {
    check_dim("nearest: columns of x (vector dimension d)", x.cols(), dim());
    check_dim("nearest: length of idx (rows of x)", idx.size(), x.rows());
    check_dim("nearest: length of score (rows of x)", score.size(), x.rows());
    parallel_for(0, x.rows(), detail::rows_grain(size(), dim()), [&](index_t lo, index_t hi) {
      plan_.argmin(x.middle_rows(lo, hi - lo), idx.data() + lo, score.data() + lo);
    });
    detail::check_results("nearest", x.rows(), idx.data(), 1, score.data(), 1);
  }

  /// idx, score: (n × B) the B best codes per row, best first; B = idx.cols() ≤ K.
  void topb(cmatrix_view<T> x, matrix_view<std::int32_t> idx, matrix_view<T> score) const {
    const index_t B = idx.cols();
    check_dim("nearest_topb: columns of x (vector dimension d)", x.cols(), dim());
    check_dim("nearest_topb: rows of idx (rows of x)", idx.rows(), x.rows());
    check_dim("nearest_topb: shape of score (rows)", score.rows(), x.rows());
    check_dim("nearest_topb: shape of score (columns = B)", score.cols(), B);
    require(B >= 1, "nearest_topb: B (beam width) must be at least 1, got ", B);
    require(B <= size(), "nearest_topb: B = ", B, " exceeds the number of codes K = ", size());
    require(idx.stride() == score.stride(), "nearest_topb: idx and score must share a row stride");
    parallel_for(0, x.rows(), detail::rows_grain(size(), dim()), [&](index_t lo, index_t hi) {
      plan_.topb(x.middle_rows(lo, hi - lo), B, idx.row_ptr(lo), score.row_ptr(lo), idx.stride());
    });
    detail::check_results("nearest_topb", x.rows(), idx.data(), idx.stride(), score.data(),
                          score.stride());
  }

 private:
  backend::nearest_plan<Backend, T> plan_;
};

template <class T, class Backend>
void nearest(Backend be, metric m, cmatrix_view<nodeduce<T>> x, cmatrix_view<nodeduce<T>> codes,
             span<std::int32_t> idx, span<T> score) {
  if constexpr (std::is_same_v<Backend, backend::cuda>) {
#if REG4REC_HAS_CUDA
    static_assert(std::is_same_v<T, float>, "the CUDA add-on works in float");
    detail::check_codes("nearest", codes);
    check_dim("nearest: columns of x (vector dimension d)", x.cols(), codes.cols());
    check_dim("nearest: length of idx (rows of x)", idx.size(), x.rows());
    check_dim("nearest: length of score (rows of x)", score.size(), x.rows());
    cuda::nearest(m, x.data(), x.rows(), x.cols(), x.stride(), codes.data(), codes.rows(),
                  codes.stride(), idx.data(), score.data());
    detail::check_results("nearest", x.rows(), idx.data(), 1, score.data(), 1);
#else
    static_assert(sizeof(T) == 0, "backend::cuda needs REG4REC_ENABLE_CUDA (target reg4rec::cuda)");
#endif
  } else {
    codebook_search<T, Backend>(m, codes, be).nearest(x, idx, score);
  }
}

template <class T>
void nearest(metric m, cmatrix_view<nodeduce<T>> x, cmatrix_view<nodeduce<T>> codes,
             span<std::int32_t> idx, span<T> score) {
  nearest<T>(default_backend{}, m, x, codes, idx, score);
}

template <class T, class Backend>
void nearest_topb(Backend be, metric m, cmatrix_view<nodeduce<T>> x,
                  cmatrix_view<nodeduce<T>> codes, matrix_view<std::int32_t> idx,
                  matrix_view<T> score) {
  if constexpr (std::is_same_v<Backend, backend::cuda>) {
#if REG4REC_HAS_CUDA
    static_assert(std::is_same_v<T, float>, "the CUDA add-on works in float");
    detail::check_codes("nearest_topb", codes);
    const index_t B = idx.cols();
    check_dim("nearest_topb: columns of x (vector dimension d)", x.cols(), codes.cols());
    check_dim("nearest_topb: rows of idx (rows of x)", idx.rows(), x.rows());
    check_dim("nearest_topb: shape of score (rows)", score.rows(), x.rows());
    check_dim("nearest_topb: shape of score (columns = B)", score.cols(), B);
    require(B >= 1 && B <= codes.rows(), "nearest_topb: B = ", B, " must be in [1, K = ", codes.rows(), "]");
    require(idx.contiguous() && score.contiguous(), "nearest_topb (cuda): idx and score must be contiguous");
    cuda::nearest_topb(m, x.data(), x.rows(), x.cols(), x.stride(), codes.data(), codes.rows(),
                       codes.stride(), B, idx.data(), score.data());
    detail::check_results("nearest_topb", x.rows(), idx.data(), B, score.data(), B);
#else
    static_assert(sizeof(T) == 0, "backend::cuda needs REG4REC_ENABLE_CUDA (target reg4rec::cuda)");
#endif
  } else {
    codebook_search<T, Backend>(m, codes, be).topb(x, idx, score);
  }
}

template <class T>
void nearest_topb(metric m, cmatrix_view<nodeduce<T>> x, cmatrix_view<nodeduce<T>> codes,
                  matrix_view<std::int32_t> idx, matrix_view<T> score) {
  nearest_topb<T>(default_backend{}, m, x, codes, idx, score);
}

}  // namespace reg4rec::kernels
