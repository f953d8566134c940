// Mean squared error with its gradient.
//   mean_elements: L = (1/(n·d)) Σ (p − t)²   (PyTorch's MSELoss default)
//   mean_rows:     L = (1/n) Σ_i ‖p_i − t_i‖²  (per-item squared error, averaged over items)
#pragma once

#include "reg4rec/core/error.hpp"
#include "reg4rec/core/parallel.hpp"
#include "reg4rec/core/view.hpp"

namespace reg4rec::loss {

enum class mse_reduction { mean_elements, mean_rows };

/// Returns L; grad (same shape, may be empty) receives scale·dL/dpred (written).
template <class T>
double mse(cmatrix_view<nodeduce<T>> pred, cmatrix_view<nodeduce<T>> target, matrix_view<T> grad,
           mse_reduction r = mse_reduction::mean_elements, nodeduce<T> scale = T(1)) {
  check_dim("mse: rows of the target", target.rows(), pred.rows());
  check_dim("mse: columns of the target", target.cols(), pred.cols());
  if (!grad.empty()) {
    check_dim("mse: rows of the gradient", grad.rows(), pred.rows());
    check_dim("mse: columns of the gradient", grad.cols(), pred.cols());
  }
  const index_t n = pred.rows(), d = pred.cols();
  if (n == 0 || d == 0) return 0.0;
  const double denom = r == mse_reduction::mean_elements ? double(n) * double(d) : double(n);
  const T g = T(2.0 / denom) * scale;
  std::vector<double> partial(static_cast<std::size_t>(std::max(1, max_threads())), 0.0);
  parallel_for(0, n, 256, [&](index_t lo, index_t hi) {
    double acc = 0;
    for (index_t i = lo; i < hi; ++i)
      for (index_t j = 0; j < d; ++j) {
        const T diff = pred(i, j) - target(i, j);
        acc += double(diff) * double(diff);
        if (!grad.empty()) grad(i, j) = g * diff;
      }
    partial[static_cast<std::size_t>(thread_index())] += acc;
  });
  double total = 0;
  for (double p : partial) total += p;
  return total / denom;
}

}  // namespace reg4rec::loss
