// Randomized truncated SVD (Halko, Martinsson & Tropp, "Finding structure with randomness",
// SIAM Review 2011, Algorithms 4.4 and 5.1), for the item-feature builders: the top k singular
// values and left singular vectors of a large sparse (or dense) m × n matrix A, with m the
// number of items, without ever forming anything of size m × m or n × n.
//
// The iteration runs on the row side, on G = A Aᵀ (whose eigenvalues are σ² and eigenvectors
// the left singular vectors):
//   Q ← orth(A (Aᵀ Ω))               Ω: m × l Gaussian from the seeded rng, l = k + oversample
//   repeat power_iterations times:    Q ← orth(A (Aᵀ Q))     (Householder QR, Eigen)
//   T = Qᵀ A Aᵀ Q (l × l), eigen-decomposition T = W Λ Wᵀ   (Rayleigh–Ritz)
//   U = Q W[:, :k], σ = sqrt(Λ[:k]), V = Aᵀ U / σ (only when asked)
// Starting from Ω on the short side is the standard range finder with the test matrix AᵀΩ,
// which lies in A's row space. Re-orthonormalising after every product with G keeps the
// small singular directions from being swamped (each product squares the spectrum's spread,
// well within double precision for the ratios that matter here). A Aᵀ Q is applied in blocks
// of columns so the n × block intermediate stays small even when n = 2^18 hash buckets.
//
// Orthonormalisation and the small eigenproblem are in double, the products with A in float
// by default (float_products); the result is deterministic for a seed and a thread count (the
// products are Eigen's, parallel with OpenMP; another thread count can change the last bits).
// Signs are fixed: the largest-magnitude entry of each column of U is positive.
#pragma once

#include <Eigen/Dense>
#include <Eigen/Sparse>
#include <algorithm>
#include <cmath>
#include <cstdint>

#include "reg4rec/core/error.hpp"
#include "reg4rec/core/parallel.hpp"
#include "reg4rec/core/rng.hpp"
#include "reg4rec/core/types.hpp"

namespace reg4rec::data {

/// Sparse matrix type of the feature builders: row-major, double.
using sparse_matrix = Eigen::SparseMatrix<double, Eigen::RowMajor, std::int64_t>;

struct randomized_svd_options {
  index_t rank = 256;          ///< k: singular triplets wanted
  index_t oversample = 16;     ///< extra directions in the subspace (l = k + oversample)
  int power_iterations = 2;    ///< q: extra products with A Aᵀ after the range finder
  std::uint64_t seed = 0x5eedULL;
  bool compute_v = false;      ///< also return the right singular vectors
  /// Products with A and Aᵀ in float (twice as fast, memory-bound); the orthonormalisation
  /// and the small eigenproblem stay in double. Singular values then carry a relative error
  /// of about 1e-7 · (σ_1 / σ_i)².
  bool float_products = true;
  /// Bytes allowed for the n × block intermediate of A Aᵀ Q (sets the block width).
  std::size_t block_bytes = std::size_t(64) << 20;
};

struct svd_result {
  matrix<double> u;  ///< (m, k) left singular vectors, columns orthonormal
  vec<double> s;     ///< (k) singular values, decreasing
  matrix<double> v;  ///< (n, k) right singular vectors (empty unless compute_v)
};

namespace detail {

// Thin Q factor (m × l) of Y by Householder QR.
inline Eigen::MatrixXd orthonormal_basis(const Eigen::MatrixXd& y) {
  Eigen::HouseholderQR<Eigen::MatrixXd> qr(y);
  return qr.householderQ() * Eigen::MatrixXd::Identity(y.rows(), y.cols());
}

// out = A (Aᵀ q), a column block at a time, in the scalar type of A. The dense operands of
// the sparse products are row-major: each non-zero of A then reads one contiguous row of the
// dense factor (ten times faster than column-major on the Beauty text matrix).
template <class M>
void apply_gram(const M& a, const M& at, const Eigen::MatrixXd& q, Eigen::MatrixXd& out, std::size_t block_bytes) {
  using scalar = typename M::Scalar;
  using row_major = Eigen::Matrix<scalar, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
  const index_t n = a.cols(), l = q.cols();
  const index_t block = std::clamp<index_t>(
      static_cast<index_t>(block_bytes / (sizeof(scalar) * std::max<index_t>(n, 1))), 4, l);
  out.resize(q.rows(), l);
  row_major qb, t, ob;
  for (index_t c = 0; c < l; c += block) {
    const index_t b = std::min(block, l - c);
    qb = q.middleCols(c, b).template cast<scalar>();
    t.noalias() = at * qb;
    ob.noalias() = a * t;
    out.middleCols(c, b) = ob.template cast<double>();
  }
}

template <class M>
svd_result randomized_svd_impl(const M& a, const M& at, const randomized_svd_options& o) {
  const index_t m = a.rows(), n = a.cols(), k = o.rank;
  require(k >= 1 && k <= std::min(m, n), "randomized_svd: rank ", k, " must be in [1, min(rows, cols) = ",
          std::min(m, n), "]");
  require(o.oversample >= 0 && o.power_iterations >= 0, "randomized_svd: oversample and power_iterations must be >= 0");
  const index_t l = std::min({k + o.oversample, m, n});

  // Ω row i comes from its own stream, so it does not depend on the thread split.
  const rng g(o.seed);
  Eigen::MatrixXd omega(m, l);
  parallel_for(0, m, 512, [&](index_t lo, index_t hi) {
    for (index_t i = lo; i < hi; ++i) {
      rng gi = g.fork(static_cast<std::uint64_t>(i));
      for (index_t j = 0; j < l; ++j) omega(i, j) = gi.normal<double>();
    }
  });
  // Range finder (Ω is well conditioned: no orthonormalisation needed before the first
  // product), then the power iterations.
  Eigen::MatrixXd q, y;
  apply_gram(a, at, omega, y, o.block_bytes);
  q = orthonormal_basis(y);
  for (int it = 0; it < o.power_iterations; ++it) {
    apply_gram(a, at, q, y, o.block_bytes);
    q = orthonormal_basis(y);
  }
  apply_gram(a, at, q, y, o.block_bytes);
  Eigen::MatrixXd t = q.transpose() * y;
  t = 0.5 * (t + t.transpose()).eval();
  Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd> eig(t);
  if (eig.info() != Eigen::Success) throw numerical_error("randomized_svd: eigen-decomposition failed");
  // Eigenvalues come in increasing order; take the last k, largest first.
  svd_result r;
  r.s.resize(k);
  Eigen::MatrixXd w(l, k);
  for (index_t j = 0; j < k; ++j) {
    const index_t src = l - 1 - j;
    r.s(j) = std::sqrt(std::max(0.0, eig.eigenvalues()(src)));
    w.col(j) = eig.eigenvectors().col(src);
  }
  Eigen::MatrixXd u = q * w;
  for (index_t j = 0; j < k; ++j) {
    Eigen::Index at_max;
    u.col(j).cwiseAbs().maxCoeff(&at_max);
    if (u(at_max, j) < 0) u.col(j) = -u.col(j);
  }
  r.u = u;
  if (o.compute_v) {
    Eigen::MatrixXd v = at.template cast<double>() * u;
    for (index_t j = 0; j < k; ++j)
      if (r.s(j) > 0) v.col(j) /= r.s(j);
    r.v = v;
  }
  return r;
}

}  // namespace detail

/// Top-k SVD of a sparse matrix (see the file comment).
inline svd_result randomized_svd(const sparse_matrix& a, const randomized_svd_options& o) {
  if (o.float_products) {
    using sparse_f = Eigen::SparseMatrix<float, Eigen::RowMajor, std::int64_t>;
    const sparse_f af = a.cast<float>();
    const sparse_f atf = af.transpose();
    return detail::randomized_svd_impl(af, atf, o);
  }
  const sparse_matrix at = a.transpose();
  return detail::randomized_svd_impl(a, at, o);
}

/// Top-k SVD of a dense matrix (mainly for tests and small inputs).
inline svd_result randomized_svd(const Eigen::MatrixXd& a, const randomized_svd_options& o) {
  if (o.float_products) {
    const Eigen::MatrixXf af = a.cast<float>();
    const Eigen::MatrixXf atf = af.transpose();
    return detail::randomized_svd_impl(af, atf, o);
  }
  const Eigen::MatrixXd at = a.transpose();
  return detail::randomized_svd_impl(a, at, o);
}

}  // namespace reg4rec::data
