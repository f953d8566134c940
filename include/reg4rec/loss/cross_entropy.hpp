// Cross-entropy losses.
//
// cross_entropy(logits, targets, ...): fused softmax + cross-entropy over rows of logits,
// which are overwritten with the gradient (the backward of the loss seeds itself, as in
// llm.c). Rows whose target is `ignore_index` contribute nothing. With per-row weights w
// (PARS needs a weighted log-likelihood; weights may be negative) the loss is
//     L = (1/N) Σ_i w_i · ce_i,   N = number of non-ignored rows (or options.normalizer),
// and dL/dlogits_i = (w_i/N)·(softmax_i − q_i), q_i the (label-smoothed) target distribution.
//
// linear_cross_entropy(h, W, ...): the output layer and the loss in one pass over chunks of
// rows: logits = h·Wᵀ (+ b) for a chunk, loss and gradient in place, then dh = g·W and
// dW += gᵀ·h. The full (n × V) logits never exist, which saves memory traffic on large
// vocabularies (SASRec's full-softmax over the item catalogue, the LM head).
#pragma once

#include <algorithm>
#include <cmath>

#include "reg4rec/backend/scalar/softmax.hpp"
#include "reg4rec/backend/simd/softmax.hpp"
#include "reg4rec/core/error.hpp"
#include "reg4rec/core/parallel.hpp"
#include "reg4rec/core/view.hpp"
#include "reg4rec/core/workspace.hpp"
#include "reg4rec/kernels/gemm.hpp"

namespace reg4rec::loss {

struct cross_entropy_options {
  std::int32_t ignore_index = -100;
  double label_smoothing = 0.0;
  double normalizer = 0.0;  // 0: the number of non-ignored rows
};

namespace detail {
template <class T>
index_t check_targets(const char* who, cspan<std::int32_t> targets, index_t rows, index_t vocab,
                      cspan<T> weights, const cross_entropy_options& o) {
  check_dim(reg4rec::detail::cat(who, ": number of targets (rows of the logits)").c_str(), targets.size(), rows);
  if (!weights.empty()) check_dim(reg4rec::detail::cat(who, ": number of row weights").c_str(), weights.size(), rows);
  require(o.label_smoothing >= 0 && o.label_smoothing < 1, who, ": label smoothing must lie in [0, 1), got ",
          o.label_smoothing);
  index_t used = 0;
  for (index_t i = 0; i < rows; ++i) {
    if (targets[i] == o.ignore_index) continue;
    if (targets[i] < 0 || targets[i] >= vocab)
      throw value_error(reg4rec::detail::cat(who, ": target ", targets[i], " of row ", i, " is outside [0, ", vocab, ")"));
    ++used;
  }
  return used;
}

template <class T>
T normalizer(index_t used, const cross_entropy_options& o) {
  return o.normalizer > 0 ? T(o.normalizer) : T(std::max<index_t>(used, 1));
}
}  // namespace detail

/// logits: (n, V), replaced by the gradient of the returned loss; per_row (optional, n)
/// receives each row's unweighted cross-entropy (0 for ignored rows).
template <class T, class Backend = default_backend>
double cross_entropy(matrix_view<T> logits, cspan<std::int32_t> targets, cspan<nodeduce<T>> weights = {},
                     const cross_entropy_options& o = {}, span<T> per_row = {}) {
  const index_t n = logits.rows(), V = logits.cols();
  const index_t used = detail::check_targets<T>("cross_entropy", targets, n, V, weights, o);
  if (!per_row.empty()) check_dim("cross_entropy: length of per_row", per_row.size(), n);
  const T norm = detail::normalizer<T>(used, o);
  const T eps = T(o.label_smoothing);
  const int nt = std::max(1, max_threads());
  std::vector<double> partial(static_cast<std::size_t>(nt), 0.0);
  parallel_for(0, n, std::max<index_t>(1, 8192 / std::max<index_t>(V, 1)), [&](index_t lo, index_t hi) {
    double acc = 0;
    for (index_t i = lo; i < hi; ++i) {
      T* row = logits.row_ptr(i);
      if (targets[i] == o.ignore_index) {
        std::fill(row, row + V, T(0));
        if (!per_row.empty()) per_row[i] = T(0);
        continue;
      }
      const T w = weights.empty() ? T(1) : weights[i];
      const T ce = backend::softmax_xent_row(Backend{}, row, V, targets[i], eps, w / norm);
      if (!per_row.empty()) per_row[i] = ce;
      acc += double(w) * double(ce);
    }
    partial[static_cast<std::size_t>(thread_index())] += acc;
  });
  double total = 0;
  for (double p : partial) total += p;
  return total / double(norm);
}

/// h: (n, d); W: (V, d) (an embedding table for a tied head); bias: (V) or empty.
/// dh: (n, d) written; dW: (V, d) and dbias ADDED. Returns the loss (as cross_entropy).
template <class T, class Backend = default_backend>
double linear_cross_entropy(cmatrix_view<T> h, cmatrix_view<T> W, cspan<nodeduce<T>> bias,
                            cspan<std::int32_t> targets, cspan<nodeduce<T>> weights,
                            const cross_entropy_options& o, matrix_view<T> dh, matrix_view<T> dW,
                            span<T> dbias, workspace& ws, index_t chunk = 1024) {
  const index_t n = h.rows(), V = W.rows();
  check_dim("linear_cross_entropy: columns of W (hidden width)", W.cols(), h.cols());
  check_dim("linear_cross_entropy: shape of dW (rows)", dW.rows(), V);
  check_dim("linear_cross_entropy: rows of dh", dh.rows(), n);
  if (!bias.empty()) check_dim("linear_cross_entropy: length of bias", bias.size(), V);
  const index_t used = detail::check_targets<T>("linear_cross_entropy", targets, n, V, weights, o);
  cross_entropy_options per_chunk = o;
  per_chunk.normalizer = double(detail::normalizer<T>(used, o));
  auto frame = ws.scope();
  auto logits = ws.take_matrix<T>(std::min(chunk, std::max<index_t>(n, 1)), V);
  double loss = 0;
  for (index_t r0 = 0; r0 < n; r0 += chunk) {
    const index_t c = std::min(chunk, n - r0);
    auto lg = logits.middle_rows(0, c);
    const auto hc = h.middle_rows(r0, c);
    kernels::gemm<T>(trans::no, trans::yes, T(1), hc, W, T(0), lg, {bias, {}});
    loss += cross_entropy<T, Backend>(lg, targets.subspan(r0, c), weights.empty() ? weights : weights.subspan(r0, c),
                                      per_chunk);
    kernels::gemm<T>(trans::no, trans::no, T(1), lg, W, T(0), dh.middle_rows(r0, c));
    kernels::gemm<T>(trans::yes, trans::no, T(1), lg, hc, T(1), dW);
    if (!dbias.empty()) dbias.eigen() += lg.eigen().colwise().sum().transpose();
  }
  return loss;
}

}  // namespace reg4rec::loss
