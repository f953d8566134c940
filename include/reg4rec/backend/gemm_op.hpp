// Types and helpers shared by the GEMM backends: the transposition flag of an operand, the
// tile shape a backend computes at once (the entry point splits C across threads on tile
// boundaries) and the degenerate product (K = 0 or α = 0).
#pragma once

#include <algorithm>

#include "reg4rec/core/config.hpp"
#include "reg4rec/core/view.hpp"

namespace reg4rec {

/// Whether a GEMM operand is used as stored (`trans::no`) or transposed (`trans::yes`).
enum class trans : bool { no = false, yes = true };

namespace backend {
/// Rows × columns of C that one call of a backend's micro-kernel produces (1 × 1: no tiling).
template <class Backend, class T>
struct gemm_tile {
  static constexpr index_t rows = 1;
  static constexpr index_t cols = 1;
};

/// C ← β·C (0 when β = 0, C not read), then + bias on every row when bias is not null.
template <class T>
void gemm_scale_only(T beta, const T* bias, matrix_view<T> C) {
  for (index_t i = 0; i < C.rows(); ++i) {
    T* c = C.row_ptr(i);
    for (index_t j = 0; j < C.cols(); ++j) {
      const T v = beta == T(0) ? T(0) : beta * c[j];
      c[j] = bias ? v + bias[j] : v;
    }
  }
}
}  // namespace backend

}  // namespace reg4rec
