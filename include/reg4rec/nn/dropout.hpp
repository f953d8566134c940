// Inverted dropout: kept entries are scaled by 1/(1 − p) in training so inference is the
// identity. The mask (0 or 1/(1 − p) per entry) is saved for backward. Row i draws from
// rng::fork(seed_stream + i), so the mask does not depend on the thread split.
#pragma once

#include "reg4rec/core/error.hpp"
#include "reg4rec/core/parallel.hpp"
#include "reg4rec/core/rng.hpp"
#include "reg4rec/core/view.hpp"

namespace reg4rec::nn {

/// Randomness of one training forward: the generator, a stream id (step- and layer-unique),
/// and the global index of the first row, so that a row's mask does not depend on how the
/// batch was split into shards.
struct dropout_stream {
  const rng* gen = nullptr;
  std::uint64_t stream = 0;
  std::uint64_t row_offset = 0;
};

template <class T>
struct dropout {
  T p = T(0);

  /// y = x ⊙ mask; mask: (n, c) written. p = 0 copies x and fills the mask with ones.
  void forward(cmatrix_view<T> x, matrix_view<T> y, matrix_view<T> mask, const rng& g,
               std::uint64_t stream) const {
    require(p >= T(0) && p < T(1), "dropout: p must lie in [0, 1), got ", p);
    check_dim("dropout: rows of y", y.rows(), x.rows());
    check_dim("dropout: rows of the mask", mask.rows(), x.rows());
    const T keep = T(1) / (T(1) - p);
    parallel_for(0, x.rows(), 64, [&](index_t lo, index_t hi) {
      for (index_t i = lo; i < hi; ++i) {
        rng r = g.fork(stream + static_cast<std::uint64_t>(i));
        for (index_t j = 0; j < x.cols(); ++j) {
          const T m = (p == T(0) || r.uniform<T>() >= p) ? keep : T(0);
          mask(i, j) = m;
          y(i, j) = x(i, j) * m;
        }
      }
    });
  }

  /// dx = dy ⊙ mask (written).
  static void backward(cmatrix_view<T> dy, cmatrix_view<T> mask, matrix_view<T> dx) {
    check_dim("dropout: rows of dx", dx.rows(), dy.rows());
    parallel_for(0, dy.rows(), 256, [&](index_t lo, index_t hi) {
      for (index_t i = lo; i < hi; ++i)
        for (index_t j = 0; j < dy.cols(); ++j) dx(i, j) = dy(i, j) * mask(i, j);
    });
  }
};

}  // namespace reg4rec::nn
