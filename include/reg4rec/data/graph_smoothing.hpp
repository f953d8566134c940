// Smoothing item vectors over the co-occurrence graph before quantising (S²GR's codebook
// optimisation, SPEC §3.7): items bought near each other get nearer vectors, so a tokenizer
// fitted on the result gives them shared tokens.
//
//   Â   = D^{-1/2} (C + s·I) D^{-1/2},   D = diag of the row sums of C + s·I
//         (s = 1 with self-loops, the default; 0 without)
//   H_0 = X,   H_k = (1 − a) · Â H_{k−1} + a · X        (k = 1 … K; a = restart)
//   H   = Σ_k w_k H_k  (w uniform over k = 0 … K unless given), rows L2-normalised
//
// a is the weight of the item's own vector at every hop (a = 1 gives H = X), K how far the
// neighbourhood reaches. With self-loops an item without any co-occurrence keeps its own
// vector (Â's row is the unit row); without them its hops hold only a · X.
// C should be symmetric (data::cooccurrence gives one) and must be built from training
// sequences only, like the behaviour features, so nothing held out leaks into the tokens.
#pragma once

#include <cmath>
#include <vector>

#include "reg4rec/core/error.hpp"
#include "reg4rec/core/types.hpp"
#include "reg4rec/data/randomized_svd.hpp"
#include "reg4rec/data/text_features.hpp"

namespace reg4rec::data {

struct graph_smoothing_options {
  index_t hops = 2;                 ///< K (0: no smoothing)
  double restart = 0.5;             ///< a, the own vector's weight at every hop, in [0, 1]
  std::vector<double> hop_weights;  ///< w_0 … w_K (non-negative, any scale); empty: uniform
  bool self_loops = true;           ///< add I to C before normalising
  bool normalize = true;            ///< L2-normalise the rows of H
};

/// Options that leave the vectors as they are (hops 0), the default of item_feature_options.
inline graph_smoothing_options no_graph_smoothing() {
  graph_smoothing_options o;
  o.hops = 0;
  return o;
}

/// Â = D^{-1/2}(C + s·I)D^{-1/2} of a square non-negative co-occurrence matrix.
inline sparse_matrix normalized_adjacency(const sparse_matrix& c, bool self_loops = true) {
  check_dim("normalized_adjacency: columns of the co-occurrence matrix (its rows)", c.cols(), c.rows());
  const index_t n = c.rows();
  const double s = self_loops ? 1.0 : 0.0;
  std::vector<double> inv_sqrt(static_cast<std::size_t>(n), 0.0);
  for (index_t i = 0; i < n; ++i) {
    double deg = s;
    for (sparse_matrix::InnerIterator it(c, i); it; ++it) {
      if (!(std::isfinite(it.value()) && it.value() >= 0))
        throw value_error(reg4rec::detail::cat("normalized_adjacency: co-occurrence (", i, ", ", it.col(), ") = ",
                                               it.value(), " must be finite and non-negative"));
      deg += it.value();
    }
    if (deg > 0) inv_sqrt[static_cast<std::size_t>(i)] = 1.0 / std::sqrt(deg);
  }
  sparse_matrix a = c;
  if (self_loops) {
    sparse_matrix eye(n, n);
    eye.setIdentity();
    a += eye;
  }
  for (index_t i = 0; i < n; ++i)
    for (sparse_matrix::InnerIterator it(a, i); it; ++it)
      it.valueRef() *= inv_sqrt[static_cast<std::size_t>(i)] * inv_sqrt[static_cast<std::size_t>(it.col())];
  return a;
}

/// H of the file comment for item vectors `x` (n × d) and co-occurrence `c` (n × n).
inline matrix<float> graph_smooth(const matrix<float>& x, const sparse_matrix& c,
                                  const graph_smoothing_options& o = {}) {
  check_dim("graph_smooth: rows of the co-occurrence matrix (items)", c.rows(), x.rows());
  require(o.hops >= 0, "graph_smooth: hops must be >= 0, got ", o.hops);
  require(o.restart >= 0 && o.restart <= 1, "graph_smooth: restart must be in [0, 1], got ", o.restart);
  std::vector<double> w = o.hop_weights;
  if (w.empty()) w.assign(static_cast<std::size_t>(o.hops + 1), 1.0);
  check_dim("graph_smooth: hop_weights (hops + 1)", static_cast<index_t>(w.size()), o.hops + 1);
  double total = 0;
  for (std::size_t k = 0; k < w.size(); ++k) {
    require(std::isfinite(w[k]) && w[k] >= 0, "graph_smooth: hop_weights[", k, "] = ", w[k],
            " must be finite and >= 0");
    total += w[k];
  }
  require(total > 0, "graph_smooth: hop_weights are all zero");
  for (index_t i = 0; i < x.rows(); ++i)
    if (!x.row(i).allFinite())
      throw value_error(reg4rec::detail::cat("graph_smooth: row ", i, " of the item vectors is not finite"));

  const sparse_matrix a_hat = normalized_adjacency(c, o.self_loops);
  using dense = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
  const dense x0 = x.cast<double>();
  dense h = x0, sum = (w[0] / total) * x0;
  for (index_t k = 1; k <= o.hops; ++k) {
    h = (1.0 - o.restart) * (a_hat * h) + o.restart * x0;
    sum += (w[static_cast<std::size_t>(k)] / total) * h;
  }
  matrix<float> out = sum.cast<float>();
  if (o.normalize) detail::normalize_rows(out);
  return out;
}

}  // namespace reg4rec::data
