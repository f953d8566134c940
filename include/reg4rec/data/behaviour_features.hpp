// Behaviour features of items (SPEC §2): who-bought-what-near-what, from the training
// sequences only.
//
//   C[i, j]  = Σ over training sequences, over position pairs p < q with q − p ≤ window and
//              s_p = i ≠ j = s_q, of w(q − p), counted both ways (C is symmetric);
//              w(d) = 1/d (nearer pairs count more) or 1 without distance weighting
//   PPMI[i,j]= max(0, ln( C[i,j] · Z / (r_i · r_j^α) )),  r_i = Σ_j C[i,j],  Z = Σ_j r_j^α
//              (α = context_smoothing, 0.75 as in word2vec / Levy et al. 2015; α = 1 is plain PMI)
//   embedding = U_d Σ_d^{1/2} of the rank-d randomized SVD of PPMI, rows L2-normalised
// (the symmetric weighting Σ^{1/2}, which works better than U Σ for similarity in Levy et al.).
//
// Only split.train(u) is read: everything but each user's last two items (the validation and
// test targets), and the whole sequence of users too short to be evaluated. So the features
// can be used for the test evaluation without leaking any held-out interaction. An item that
// never co-occurs with another in training gets a zero row.
//
// Default width 128, not 256: Beauty has ~154k training interactions for 12k items, ~13 per
// item, and the PPMI spectrum beyond a hundred-odd directions is mostly noise from single
// co-occurrences; docs/data.md gives the measurement.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <ostream>
#include <vector>

#include "reg4rec/core/error.hpp"
#include "reg4rec/core/progress.hpp"
#include "reg4rec/core/types.hpp"
#include "reg4rec/data/randomized_svd.hpp"
#include "reg4rec/data/split.hpp"
#include "reg4rec/data/text_features.hpp"

namespace reg4rec::data {

struct behaviour_feature_options {
  index_t window = 3;              ///< pairs at most this many positions apart
  bool distance_weighting = true;  ///< w(d) = 1/d instead of 1
  double context_smoothing = 0.75; ///< α of the context distribution
  index_t dim = 128;               ///< embedding width d_b
  index_t oversample = 16;
  int power_iterations = 2;
  std::uint64_t seed = 0xbe4aULL;
  std::ostream* log = nullptr;
};

/// Symmetric co-occurrence counts of the training sequences: (n_items × n_items).
inline sparse_matrix cooccurrence(const leave_one_out_split& split, const behaviour_feature_options& o = {}) {
  require(o.window >= 1, "cooccurrence: window must be >= 1, got ", o.window);
  std::vector<Eigen::Triplet<double, std::int64_t>> trip;
  for (index_t u = 0; u < split.n_users(); ++u) {
    const auto s = split.train(u);
    for (index_t p = 0; p < s.size(); ++p)
      for (index_t q = p + 1; q < s.size() && q - p <= o.window; ++q) {
        if (s[p] == s[q]) continue;
        const double w = o.distance_weighting ? 1.0 / double(q - p) : 1.0;
        trip.emplace_back(s[p], s[q], w);
        trip.emplace_back(s[q], s[p], w);
      }
  }
  sparse_matrix c(split.n_items(), split.n_items());
  c.setFromTriplets(trip.begin(), trip.end());
  return c;
}

/// Positive PMI of a co-occurrence matrix with context smoothing α (see the file comment).
inline sparse_matrix ppmi(const sparse_matrix& c, double alpha = 0.75) {
  require(alpha > 0 && alpha <= 1, "ppmi: context smoothing must be in (0, 1], got ", alpha);
  const index_t n = c.rows();
  std::vector<double> r(static_cast<std::size_t>(n), 0.0), ra(static_cast<std::size_t>(n), 0.0);
  for (index_t i = 0; i < n; ++i)
    for (sparse_matrix::InnerIterator it(c, i); it; ++it) r[static_cast<std::size_t>(i)] += it.value();
  double z = 0;
  for (index_t i = 0; i < n; ++i) z += ra[static_cast<std::size_t>(i)] = std::pow(r[static_cast<std::size_t>(i)], alpha);
  std::vector<Eigen::Triplet<double, std::int64_t>> trip;
  for (index_t i = 0; i < n; ++i)
    for (sparse_matrix::InnerIterator it(c, i); it; ++it) {
      if (it.value() <= 0) continue;
      const double pmi = std::log(it.value() * z / (r[static_cast<std::size_t>(i)] * ra[static_cast<std::size_t>(it.col())]));
      if (pmi > 0) trip.emplace_back(i, it.col(), pmi);
    }
  sparse_matrix p(n, c.cols());
  p.setFromTriplets(trip.begin(), trip.end());
  return p;
}

/// Behaviour embedding from co-occurrence counts `c` (as cooccurrence() returns them):
/// (n_items × dim) float, rows L2-normalised (zero for an item without co-occurrence).
/// o.window and o.distance_weighting are not read here; they shaped `c`.
inline matrix<float> behaviour_features(const sparse_matrix& c, const behaviour_feature_options& o = {}) {
  check_dim("behaviour_features: columns of the co-occurrence matrix", c.cols(), c.rows());
  progress p("behaviour features", 2, o.log, "steps");
  const sparse_matrix pm = ppmi(c, o.context_smoothing);
  p.advance(1, reg4rec::detail::cat("ppmi ", pm.rows(), " x ", pm.cols(), ", ", pm.nonZeros(), " non-zeros"));
  require(o.dim >= 1 && o.dim <= pm.rows(), "behaviour_features: dim ", o.dim, " must be in [1, n_items = ", pm.rows(), "]");
  randomized_svd_options so;
  so.rank = o.dim;
  so.oversample = o.oversample;
  so.power_iterations = o.power_iterations;
  so.seed = o.seed;
  const svd_result svd = randomized_svd(pm, so);
  matrix<float> f = (svd.u * svd.s.cwiseSqrt().asDiagonal()).cast<float>();
  // Items without co-occurrence have exactly zero rows in exact arithmetic; clear the rounding
  // residue so that normalisation does not blow it up.
  for (index_t i = 0; i < pm.rows(); ++i)
    if (pm.outerIndexPtr()[i + 1] == pm.outerIndexPtr()[i]) f.row(i).setZero();
  detail::normalize_rows(f);
  p.advance(1, reg4rec::detail::cat("svd to ", o.dim, ", top singular value ", svd.s(0)));
  p.finish();
  return f;
}

/// Behaviour embedding of every item from the split's training sequences: (n_items × dim)
/// float, rows L2-normalised (zero for an item without training co-occurrence).
inline matrix<float> behaviour_features(const leave_one_out_split& split, const behaviour_feature_options& o = {}) {
  return behaviour_features(cooccurrence(split, o), o);
}

}  // namespace reg4rec::data
