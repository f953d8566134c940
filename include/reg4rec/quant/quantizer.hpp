// The contract every quantizer of reg4rec::quant follows, the options they are trained with
// and the policy tags they are assembled from.
//
// A quantizer maps an item vector x ∈ R^d to M tokens, each a code in [0, K):
//
//   void fit(cmatrix_view<float> x, const fit_options&);        x: (n, d), n ≥ K
//   void encode(cmatrix_view<float> x, matrix_view<std::int32_t> codes) const;  codes: (n, M)
//   matrix<std::int32_t> encode(cmatrix_view<float> x) const;
//   void decode(cmatrix_view<std::int32_t> codes, matrix_view<float> out) const; out: (n, d)
//   index_t num_codebooks() const;   // M
//   index_t codebook_size() const;   // K
//   index_t dim() const;             // d
//   bool ordered() const;            // true: token r refines tokens < r (residual SIDs);
//                                    // false: unordered token sets (MPQ)
//   sid_stats stats(cmatrix_view<float> x) const;   // encodes x, metrics with x as vectors
//   void save(const std::string& path) const;  void load(const std::string& path);
//
// One int32 per token, never bit-packed. `is_quantizer_v<Q>` checks the contract at compile
// time (`static_assert(quant::is_quantizer_v<quant::rq_kmeans>)`).
//
// Algorithms vary through policy tags (CUTLASS style: the tag selects a specialisation, and
// the template static_asserts that it got a tag of the right family):
// - distance:        l2_distance (squared Euclidean), cosine_distance (nearest by inner product
//                    with the unit-normalised codewords, i.e. largest cosine; codewords keep
//                    their magnitude so residuals and decoding stay meaningful);
// - initialisation:  kmeanspp_init (D² sampling), random_init (K distinct training points);
// - assignment:      standard_assignment (nearest codeword), balanced_assignment (nearest
//                    codeword under a capacity per cluster: sizes ⌊n/K⌋ or ⌈n/K⌉), and
//                    sinkhorn_assignment (entropic optimal transport to uniform marginals,
//                    then nearest under the transport potentials).
#pragma once

#include <cstdint>
#include <ostream>
#include <string>
#include <type_traits>
#include <utility>

#include "reg4rec/core/metric.hpp"
#include "reg4rec/core/types.hpp"
#include "reg4rec/core/view.hpp"
#include "reg4rec/optim/nonfinite.hpp"
#include "reg4rec/quant/sid_metrics.hpp"

namespace reg4rec::quant {

/// Options of fit(). Every quantizer reads the fields that concern it and ignores the rest.
struct fit_options {
  std::uint64_t seed = 0;            // every random choice derives from it
  int iterations = 25;               // Lloyd iterations per k-means (at most)
  double tolerance = 1e-4;           // stop when the objective falls by less than this fraction
  std::ostream* log = nullptr;       // progress lines (objective, utilisation); nullptr = quiet
  std::string label;                 // prefix of the progress lines (empty: the algorithm's name)
  index_t max_points_per_centroid = 0;  // subsample to K·this training points (0 = use all)
  int seeding_trials = 0;            // k-means++ candidates per centre: 0 = 2 + ⌊ln K⌋ (greedy), 1 = classic
  double balance_slack = 0.0;        // balanced: capacity ⌈(1 + slack)·n/K⌉ (0: sizes ⌊n/K⌋ or ⌈n/K⌉)
  index_t balance_candidates = 16;   // balanced: nearest codes considered per point before a full scan
  int sinkhorn_iterations = 50;      // sinkhorn: Sinkhorn–Knopp sweeps per assignment
  double sinkhorn_epsilon = 0.05;    // sinkhorn: entropic regularisation, relative to the mean cost
  // Neural quantizers (RQ-VAE, MPQ, R3-VAE): a step with a NaN/Inf loss or gradient stops the
  // fit (numerical_error) or is skipped (counted in vae_epoch::skipped_steps).
  optim::nonfinite_policy nonfinite = optim::nonfinite_policy::stop;
};

// ---- policy tags ----------------------------------------------------------------------------

/// Squared Euclidean distance.
struct l2_distance {
  static constexpr const char* name = "l2";
  static constexpr metric search_metric = metric::l2;
  static constexpr bool normalise_codewords = false;
};
/// Cosine distance 1 − cos(x, c): the search runs by inner product against unit codewords.
struct cosine_distance {
  static constexpr const char* name = "cosine";
  static constexpr metric search_metric = metric::inner_product;
  static constexpr bool normalise_codewords = true;
};

/// k-means++ seeding: each new centre drawn with probability proportional to its distance to
/// the nearest centre chosen so far. By default (fit_options::seeding_trials = 0) each step
/// draws 2 + ⌊ln K⌋ candidates and keeps the one that lowers the total distance most ("greedy
/// k-means++", as scikit-learn); seeding_trials = 1 is the classic single draw.
struct kmeanspp_init {
  static constexpr const char* name = "kmeans++";
};
/// K distinct training points drawn uniformly.
struct random_init {
  static constexpr const char* name = "random";
};

/// Each point goes to its nearest codeword.
struct standard_assignment {
  static constexpr const char* name = "standard";
};
/// Capacity-constrained: points in decreasing order of regret take their nearest codeword
/// that still has room (defined in quant/balanced_kmeans.hpp).
struct balanced_assignment {
  static constexpr const char* name = "balanced";
};
/// Sinkhorn: uniform-marginal entropic transport, then argmin of cost − potential (defined in
/// quant/balanced_kmeans.hpp).
struct sinkhorn_assignment {
  static constexpr const char* name = "sinkhorn";
};

template <class P>
inline constexpr bool is_distance_policy_v =
    std::is_same_v<P, l2_distance> || std::is_same_v<P, cosine_distance>;
template <class P>
inline constexpr bool is_init_policy_v = std::is_same_v<P, kmeanspp_init> || std::is_same_v<P, random_init>;
template <class P>
inline constexpr bool is_assignment_policy_v = std::is_same_v<P, standard_assignment> ||
                                               std::is_same_v<P, balanced_assignment> ||
                                               std::is_same_v<P, sinkhorn_assignment>;

// ---- the contract as a trait ----------------------------------------------------------------

namespace detail {
template <class Q, class = void>
struct quantizer_check : std::false_type {};

template <class Q>
struct quantizer_check<
    Q, std::void_t<decltype(std::declval<Q&>().fit(std::declval<cmatrix_view<float>>(),
                                                    std::declval<const fit_options&>())),
                   decltype(std::declval<const Q&>().encode(std::declval<cmatrix_view<float>>(),
                                                            std::declval<matrix_view<std::int32_t>>())),
                   decltype(std::declval<const Q&>().decode(std::declval<cmatrix_view<std::int32_t>>(),
                                                            std::declval<matrix_view<float>>())),
                   decltype(std::declval<Q&>().load(std::declval<const std::string&>())),
                   decltype(std::declval<const Q&>().save(std::declval<const std::string&>()))>>
    : std::bool_constant<
          std::is_same_v<decltype(std::declval<const Q&>().encode(std::declval<cmatrix_view<float>>())),
                         matrix<std::int32_t>> &&
          std::is_convertible_v<decltype(std::declval<const Q&>().num_codebooks()), index_t> &&
          std::is_convertible_v<decltype(std::declval<const Q&>().codebook_size()), index_t> &&
          std::is_convertible_v<decltype(std::declval<const Q&>().dim()), index_t> &&
          std::is_same_v<decltype(std::declval<const Q&>().ordered()), bool> &&
          std::is_same_v<decltype(std::declval<const Q&>().stats(std::declval<cmatrix_view<float>>())),
                         sid_stats>> {};
}  // namespace detail

/// True when Q provides the quantizer contract above.
template <class Q>
struct is_quantizer : detail::quantizer_check<Q> {};
template <class Q>
inline constexpr bool is_quantizer_v = is_quantizer<Q>::value;

}  // namespace reg4rec::quant
