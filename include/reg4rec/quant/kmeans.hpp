// k-means: one codebook of K centroids fitted by Lloyd's algorithm.
//
//   quant::l2_kmeans km(256);                      // l2, k-means++, standard assignment
//   quant::fit_options o;
//   o.seed = 7;
//   km.fit(x, o);                                  // x: (n, d), n ≥ K
//   auto codes = km.encode(x);                     // (n, 1) int32
//
// Steps, each deterministic for a given seed and independent of the thread count:
// - seeding (Init policy): k-means++ draws centre k with probability ∝ cost(x_i, nearest chosen
//   centre); by default 2 + ⌊ln K⌋ draws per centre, keeping the one that lowers the total
//   cost most (greedy k-means++). A step evaluates a handful of candidates against every
//   point, which Eigen does on row blocks; the nearest-code kernel would not help (it returns
//   only the best code, and packs 64 codes per panel). Sampling walks fixed blocks of partial
//   sums.
// - assignment (Assign policy): the nearest-code kernel (kernels::codebook_search) over the
//   Distance policy's search codebook, rows split across threads.
// - update: each centroid becomes the mean of its members, summed in double in item order.
//   Empty clusters are repaired first: in index order, each empty cluster takes the point
//   farthest from its centroid (ties: smaller index) among clusters that keep at least one
//   member. That point's cost drops to 0, so the objective still cannot increase.
// - stop after `iterations` updates or when the objective falls by less than
//   `tolerance` × its previous value. The objective recorded after every assignment is
//   Σ cost (inertia = squared distances, or Σ 1 − cosine) and never increases under standard
//   assignment.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <numeric>
#include <string>
#include <vector>

#include "reg4rec/core/error.hpp"
#include "reg4rec/core/parallel.hpp"
#include "reg4rec/core/progress.hpp"
#include "reg4rec/core/rng.hpp"
#include "reg4rec/core/types.hpp"
#include "reg4rec/core/view.hpp"
#include "reg4rec/io/binary.hpp"
#include "reg4rec/kernels/nearest.hpp"
#include "reg4rec/quant/detail/distance.hpp"
#include "reg4rec/quant/detail/sid_groups.hpp"
#include "reg4rec/quant/quantizer.hpp"
#include "reg4rec/quant/sid_metrics.hpp"

namespace reg4rec::quant {

namespace detail {

/// What an assignment step sees.
struct assign_input {
  cmatrix_view<float> x;          // (n, d) training points
  cspan<float> inv_norm;          // (n) 1/‖x_i‖ for cosine, empty for l2
  cmatrix_view<float> codewords;  // (K, d) centroids
  cmatrix_view<float> search;     // (K, d) what the kernel searches (unit rows for cosine)
  const kernels::codebook_search<float>& plan;  // packed `search`
  const fit_options& opts;
};

/// One specialisation per assignment policy: run<Distance>(in, state, labels, cost) fills
/// labels (n) and cost (n, in the Distance's units). `state` lives across the iterations of
/// one fit (warm starts).
template <class Assign>
struct assigner;

template <>
struct assigner<standard_assignment> {
  struct state {};
  template <class Distance>
  static void run(const assign_input& in, state&, span<std::int32_t> labels, span<float> cost) {
    in.plan.nearest(in.x, labels, cost);
    if constexpr (Distance::normalise_codewords)
      for (index_t i = 0; i < cost.size(); ++i) cost[i] = score_to_cost<Distance>(cost[i], in.inv_norm[i]);
  }
};

/// Rows per block of the seeding's partial sums (fixed, so sums do not depend on threads).
inline constexpr index_t sample_block = 1024;

/// Index drawn with probability ∝ w_i (uniform when all weights are zero).
inline index_t sample_proportional(cspan<float> w, const std::vector<double>& part, double total, rng& g) {
  const index_t n = w.size();
  if (!(total > 0)) return static_cast<index_t>(g.below(static_cast<std::uint64_t>(n)));
  double u = g.uniform<double>() * total;
  index_t last_positive = -1;
  for (std::size_t b = 0; b < part.size(); ++b) {
    if (u >= part[b] && b + 1 < part.size()) {
      u -= part[b];
      continue;
    }
    for (index_t i = index_t(b) * sample_block, e = std::min(n, index_t(b + 1) * sample_block); i < e; ++i) {
      const double wi = std::max(0.0f, w[i]);
      if (wi > 0) last_positive = i;
      if (u < wi) return i;
      u -= wi;
    }
  }
  // Rounding left u just above the last block's sum: take the last point with weight.
  if (last_positive >= 0) return last_positive;
  for (index_t i = n - 1; i >= 0; --i)
    if (w[i] > 0) return i;
  return n - 1;
}

template <class Init>
struct initialiser;

template <>
struct initialiser<kmeanspp_init> {
  // One step costs one pass over x (the candidates' costs, in one parallel region) and one
  // cheap pass folding the chosen candidate into the running minimum; both work on fixed
  // blocks of sample_block rows, so the partial sums do not depend on the thread count.
  template <class Distance>
  static matrix<float> run(cmatrix_view<float> x, cspan<float> inv_norm, index_t K, int trials, rng& g) {
    const index_t n = x.rows(), d = x.cols(), T = trials;
    const index_t nb = (n + sample_block - 1) / sample_block;
    matrix<float> C(K, d);
    std::vector<float> mind(static_cast<std::size_t>(n), std::numeric_limits<float>::infinity());
    matrix<float> D(n, T);      // costs of every point to this step's candidates
    matrix<double> pot(nb, T);  // per block: Σ min(mind, D(:, t))
    std::vector<double> part(static_cast<std::size_t>(nb));
    std::vector<index_t> cand(static_cast<std::size_t>(T));
    matrix<float> Ct(T, d);
    const auto rows_of = [&](index_t b) { return std::min(sample_block, n - b * sample_block); };

    // Costs of all points to the candidate rows Ct, and the per-block potentials.
    const auto evaluate = [&](index_t t_count) {
      matrix<float> unit = Ct.topRows(t_count);
      if constexpr (Distance::normalise_codewords)
        for (index_t t = 0; t < t_count; ++t) {
          const float nc = unit.row(t).norm();
          if (nc > 0) unit.row(t) /= nc;
        }
      parallel_for(0, nb, 1, [&](index_t lo, index_t hi) {
        for (index_t b = lo; b < hi; ++b) {
          const index_t r0 = b * sample_block, rn = rows_of(b);
          const auto X = x.eigen().middleRows(r0, rn);
          Eigen::VectorXd acc = Eigen::VectorXd::Zero(t_count);
          for (index_t i = 0; i < rn; ++i)
            for (index_t t = 0; t < t_count; ++t) {
              float c;
              if constexpr (Distance::normalise_codewords)
                c = 1.0f - X.row(i).dot(unit.row(t)) * inv_norm[r0 + i];
              else
                c = (X.row(i) - unit.row(t)).squaredNorm();
              D(r0 + i, t) = c;
              acc[t] += std::min(mind[r0 + i], c);
            }
          pot.row(b).head(t_count) = acc.transpose();
        }
      });
    };
    // mind = min(mind, D(:, t)) and the block sums used for sampling. Cheap: one thread
    // unless there are very many points.
    const auto fold = [&](index_t t) {
      parallel_for(0, nb, 64, [&](index_t lo, index_t hi) {
        for (index_t b = lo; b < hi; ++b) {
          double sb = 0;
          for (index_t i = b * sample_block, e = i + rows_of(b); i < e; ++i) {
            mind[i] = std::min(mind[i], D(i, t));
            sb += std::max(0.0f, mind[i]);
          }
          part[static_cast<std::size_t>(b)] = sb;
        }
      });
      double total = 0;
      for (double p : part) total += p;
      return total;
    };

    const index_t first = static_cast<index_t>(g.below(static_cast<std::uint64_t>(n)));
    C.row(0) = Ct.row(0) = x.eigen().row(first);
    evaluate(1);
    double total = fold(0);
    for (index_t k = 1; k < K; ++k) {
      for (index_t t = 0; t < T; ++t) {
        cand[t] = sample_proportional(mind, part, total, g);
        Ct.row(t) = x.eigen().row(cand[t]);
      }
      evaluate(T);
      // Greedy k-means++: the candidate that lowers Σ min(mind, cost) most (first on ties).
      index_t best = 0;
      double best_pot = std::numeric_limits<double>::infinity();
      for (index_t t = 0; t < T; ++t) {
        double p = 0;
        for (index_t b = 0; b < nb; ++b) p += pot(b, t);
        if (p < best_pot) {
          best_pot = p;
          best = t;
        }
      }
      C.row(k) = Ct.row(best);
      total = fold(best);
    }
    return C;
  }
};

template <>
struct initialiser<random_init> {
  template <class Distance>
  static matrix<float> run(cmatrix_view<float> x, cspan<float>, index_t K, int, rng& g) {
    const index_t n = x.rows();
    std::vector<index_t> idx(static_cast<std::size_t>(n));
    std::iota(idx.begin(), idx.end(), 0);
    matrix<float> C(K, x.cols());
    for (index_t k = 0; k < K; ++k) {  // partial Fisher–Yates: K distinct points
      const index_t j = k + static_cast<index_t>(g.below(static_cast<std::uint64_t>(n - k)));
      std::swap(idx[k], idx[j]);
      C.row(k) = x.eigen().row(idx[k]);
    }
    return C;
  }
};

inline std::string format_note(const char* name, double objective, double utilisation) {
  char b[128];
  std::snprintf(b, sizeof b, "%s %.6g, utilisation %.3f", name, objective, utilisation);
  return b;
}

}  // namespace detail

template <class Distance = l2_distance, class Init = kmeanspp_init, class Assign = standard_assignment>
class kmeans {
  static_assert(is_distance_policy_v<Distance>, "kmeans: Distance must be l2_distance or cosine_distance");
  static_assert(is_init_policy_v<Init>, "kmeans: Init must be kmeanspp_init or random_init");
  static_assert(is_assignment_policy_v<Assign>,
                "kmeans: Assign must be standard_assignment, balanced_assignment or sinkhorn_assignment");

 public:
  using distance_policy = Distance;
  using init_policy = Init;
  using assignment_policy = Assign;

  /// One fit's trace: the objective and the fraction of non-empty clusters after each
  /// assignment (entry 0: after seeding), and how many empty clusters were repaired.
  struct fit_report {
    std::vector<double> objective;
    std::vector<double> utilisation;
    std::vector<index_t> cluster_sizes;  // (K) points per cluster in the final assignment
    index_t repaired_clusters = 0;
    index_t training_points = 0;
  };

  kmeans() = default;
  explicit kmeans(index_t codebook_size) : K_(codebook_size) {
    require(codebook_size >= 1, "kmeans: codebook size K must be at least 1, got ", codebook_size);
  }

  static std::string policy_name() {
    return std::string("kmeans<") + Distance::name + "," + Init::name + "," + Assign::name + ">";
  }

  /// Fits K centroids to x: (n, d), n ≥ K, finite.
  void fit(cmatrix_view<float> x_in, const fit_options& opts = {}) {
    static constexpr const char* who = "kmeans::fit";
    require(K_ >= 1, who, ": codebook size K is not set (construct kmeans(K))");
    require(x_in.rows() >= 1 && x_in.cols() >= 1, who, ": the training matrix is empty (", x_in.rows(), " x ",
            x_in.cols(), ")");
    require(K_ <= x_in.rows(), who, ": K = ", K_, " exceeds the number of training vectors n = ", x_in.rows());
    require(opts.iterations >= 0, who, ": iterations must be non-negative, got ", opts.iterations);
    require(opts.tolerance >= 0, who, ": tolerance must be non-negative, got ", opts.tolerance);
    require(opts.seeding_trials >= 0, who, ": seeding_trials must be non-negative, got ", opts.seeding_trials);
    require(opts.max_points_per_centroid >= 0, who, ": max_points_per_centroid must be non-negative");
    detail::check_finite(who, x_in);

    rng g(opts.seed);
    // Optional subsample (Faiss's max_points_per_centroid): sorted so the order stays the data's.
    matrix<float> sub;
    cmatrix_view<float> x = x_in;
    if (opts.max_points_per_centroid > 0 && x_in.rows() > opts.max_points_per_centroid * K_) {
      const index_t m = opts.max_points_per_centroid * K_;
      rng gs = g.fork(0x5ab5);
      std::vector<index_t> idx(static_cast<std::size_t>(x_in.rows()));
      std::iota(idx.begin(), idx.end(), 0);
      for (index_t k = 0; k < m; ++k)
        std::swap(idx[k], idx[k + static_cast<index_t>(gs.below(static_cast<std::uint64_t>(x_in.rows() - k)))]);
      std::sort(idx.begin(), idx.begin() + m);
      sub.resize(m, x_in.cols());
      for (index_t k = 0; k < m; ++k) sub.row(k) = x_in.eigen().row(idx[k]);
      x = sub;
    }
    const index_t n = x.rows();
    std::vector<float> inv;
    if constexpr (Distance::normalise_codewords) {
      inv.resize(static_cast<std::size_t>(n));
      detail::inverse_norms(x, inv);
    }

    report_ = fit_report{};
    report_.training_points = n;
    const int trials = opts.seeding_trials > 0 ? opts.seeding_trials : 2 + static_cast<int>(std::log(double(K_)));
    centroids_ = detail::initialiser<Init>::template run<Distance>(x, inv, K_, trials, g);
    search_ = detail::search_codebook<Distance>(centroids_);

    std::vector<std::int32_t> labels(static_cast<std::size_t>(n));
    std::vector<float> cost(static_cast<std::size_t>(n));
    typename detail::assigner<Assign>::state state;
    auto assign = [&] {
      const kernels::codebook_search<float> plan(Distance::search_metric, search_);
      detail::assign_input in{x, inv, centroids_, search_, plan, opts};
      detail::assigner<Assign>::template run<Distance>(in, state, labels, cost);
      const double obj = detail::ordered_sum(n, [&](index_t i) { return double(cost[i]); });
      report_.objective.push_back(obj);
      report_.utilisation.push_back(utilisation_of(labels));
      return obj;
    };

    const std::string label = opts.label.empty() ? policy_name() + " K=" + std::to_string(K_) : opts.label;
    progress p(label, opts.iterations, opts.log, "iter");
    double prev = assign();
    for (int it = 1; it <= opts.iterations; ++it) {
      update(x, labels, cost);
      search_ = detail::search_codebook<Distance>(centroids_);
      const double obj = assign();
      p.advance(1, detail::format_note(objective_name(), obj, report_.utilisation.back()));
      if (prev - obj <= opts.tolerance * std::abs(prev)) break;
      prev = obj;
    }
    report_.cluster_sizes.assign(static_cast<std::size_t>(K_), 0);
    for (auto l : labels) ++report_.cluster_sizes[static_cast<std::size_t>(l)];
    p.finish(detail::format_note(objective_name(), report_.objective.back(), report_.utilisation.back()));
  }

  /// Nearest centroid of every row of x: labels (n), cost (n; squared distance or 1 − cos).
  void nearest(cmatrix_view<float> x, span<std::int32_t> labels, span<float> cost) const {
    check_input("kmeans::nearest", x);
    check_dim("kmeans::nearest: length of labels (rows of x)", labels.size(), x.rows());
    check_dim("kmeans::nearest: length of cost (rows of x)", cost.size(), x.rows());
    if (x.rows() == 0) return;
    const kernels::codebook_search<float> plan(Distance::search_metric, search_);
    plan.nearest(x, labels, cost);
    if constexpr (Distance::normalise_codewords) {
      std::vector<float> inv(static_cast<std::size_t>(x.rows()));
      detail::inverse_norms(x, inv);
      for (index_t i = 0; i < x.rows(); ++i) cost[i] = detail::score_to_cost<Distance>(cost[i], inv[i]);
    }
  }

  /// codes: (n, 1), the nearest centroid (balanced policies constrain training only).
  void encode(cmatrix_view<float> x, matrix_view<std::int32_t> codes) const {
    check_dim("kmeans::encode: rows of codes (rows of x)", codes.rows(), x.rows());
    check_dim("kmeans::encode: columns of codes (M)", codes.cols(), index_t(1));
    std::vector<std::int32_t> labels(static_cast<std::size_t>(x.rows()));
    std::vector<float> cost(static_cast<std::size_t>(x.rows()));
    nearest(x, labels, cost);
    for (index_t i = 0; i < x.rows(); ++i) codes(i, 0) = labels[i];
  }
  matrix<std::int32_t> encode(cmatrix_view<float> x) const {
    matrix<std::int32_t> codes(x.rows(), 1);
    encode(x, codes);
    return codes;
  }

  /// out: (n, d), row i = centroid codes(i, 0).
  void decode(cmatrix_view<std::int32_t> codes, matrix_view<float> out) const {
    require(fitted(), "kmeans::decode: the quantizer is not fitted (call fit or load first)");
    check_dim("kmeans::decode: columns of codes (M)", codes.cols(), index_t(1));
    check_dim("kmeans::decode: rows of out (rows of codes)", out.rows(), codes.rows());
    check_dim("kmeans::decode: columns of out (d)", out.cols(), dim());
    detail::check_codes("kmeans::decode", codes, K_);
    for (index_t i = 0; i < codes.rows(); ++i) out.eigen().row(i) = centroids_.row(codes(i, 0));
  }
  matrix<float> decode(cmatrix_view<std::int32_t> codes) const {
    matrix<float> out(codes.rows(), dim());
    decode(codes, out);
    return out;
  }

  index_t num_codebooks() const noexcept { return 1; }
  index_t codebook_size() const noexcept { return K_; }
  index_t dim() const noexcept { return centroids_.cols(); }
  bool ordered() const noexcept { return true; }
  bool fitted() const noexcept { return centroids_.rows() > 0; }

  /// (K, d) the centroids.
  cmatrix_view<float> centroids() const noexcept { return centroids_; }
  /// Replaces the centroids (K × d, finite), e.g. to encode with a codebook trained elsewhere.
  void set_centroids(cmatrix_view<float> c) {
    require(c.rows() >= 1 && c.cols() >= 1, "kmeans::set_centroids: the codebook is empty");
    detail::check_finite("kmeans::set_centroids", c);
    centroids_ = c.eigen();
    K_ = c.rows();
    search_ = detail::search_codebook<Distance>(centroids_);
  }
  const fit_report& report() const noexcept { return report_; }

  /// Encodes x and computes the SID statistics with x as the item vectors.
  sid_stats stats(cmatrix_view<float> x, const sid_metric_options& opts = {}) const {
    const auto codes = encode(x);
    return compute_sid_stats(codes, K_, x, opts);
  }

  void save(const std::string& path) const {
    require(fitted(), "kmeans::save: the quantizer is not fitted");
    io::binary_writer w(path, "kmeans");
    w.put_string("policy", policy_name());
    w.put_matrix<float>("centroids", centroids_);
    w.put("objective", report_.objective);
    w.put("utilisation", report_.utilisation);
    w.commit();
  }
  void load(const std::string& path) {
    io::binary_reader r(path, "kmeans");
    const std::string policy = r.get_string("policy");
    if (policy != policy_name())
      r.fail("policy", "saved by " + policy + ", cannot be loaded into " + policy_name());
    matrix<float> c = r.get_matrix<float>("centroids");
    if (c.rows() < 1 || c.cols() < 1) r.fail("centroids", "the codebook is empty");
    for (index_t i = 0; i < c.size(); ++i)
      if (!std::isfinite(c.data()[i])) r.fail("centroids", "holds a non-finite value");
    fit_report rep;
    rep.objective = r.get_vector<double>("objective");
    rep.utilisation = r.get_vector<double>("utilisation");
    centroids_ = std::move(c);
    K_ = centroids_.rows();
    search_ = detail::search_codebook<Distance>(centroids_);
    report_ = std::move(rep);
  }

 private:
  // What the objective is called in progress lines: inertia (Σ squared distance) for l2.
  static const char* objective_name() { return Distance::normalise_codewords ? "cosine cost" : "inertia"; }

  void check_input(const char* who, cmatrix_view<float> x) const {
    require(fitted(), who, ": the quantizer is not fitted (call fit or load first)");
    check_dim(reg4rec::detail::cat(who, ": columns of x (dimension d)").c_str(), x.cols(), dim());
    detail::check_finite(who, x);
  }

  double utilisation_of(const std::vector<std::int32_t>& labels) const {
    std::vector<char> used(static_cast<std::size_t>(K_), 0);
    for (auto l : labels) used[static_cast<std::size_t>(l)] = 1;
    return double(std::count(used.begin(), used.end(), 1)) / double(K_);
  }

  // Repairs empty clusters, then centroids = means of their members.
  void update(cmatrix_view<float> x, std::vector<std::int32_t>& labels, std::vector<float>& cost) {
    const index_t n = x.rows(), d = x.cols();
    std::vector<index_t> count(static_cast<std::size_t>(K_), 0);
    for (auto l : labels) ++count[static_cast<std::size_t>(l)];
    std::vector<std::int32_t> empty;
    for (index_t k = 0; k < K_; ++k)
      if (count[k] == 0) empty.push_back(static_cast<std::int32_t>(k));
    if (!empty.empty()) {
      std::vector<std::int32_t> cand;
      for (index_t i = 0; i < n; ++i)
        if (count[labels[i]] >= 2) cand.push_back(static_cast<std::int32_t>(i));
      std::sort(cand.begin(), cand.end(), [&](std::int32_t a, std::int32_t b) {
        return cost[a] != cost[b] ? cost[a] > cost[b] : a < b;
      });
      std::size_t p = 0;
      for (std::int32_t k : empty) {
        while (p < cand.size() && count[labels[cand[p]]] < 2) ++p;
        if (p == cand.size()) break;  // cannot happen when n ≥ K
        const std::int32_t i = cand[p++];
        --count[labels[i]];
        labels[i] = k;
        count[k] = 1;
        cost[i] = 0;
        ++report_.repaired_clusters;
      }
    }
    // Members of each cluster in item order (counting sort), then one mean per cluster.
    std::vector<index_t> start(static_cast<std::size_t>(K_) + 1, 0);
    for (index_t k = 0; k < K_; ++k) start[k + 1] = start[k] + count[k];
    std::vector<std::int32_t> members(static_cast<std::size_t>(n));
    {
      std::vector<index_t> fill(start.begin(), start.end() - 1);
      for (index_t i = 0; i < n; ++i) members[fill[labels[i]]++] = static_cast<std::int32_t>(i);
    }
    parallel_for(0, K_, 16, [&](index_t lo, index_t hi) {
      Eigen::VectorXd s(d);
      for (index_t k = lo; k < hi; ++k) {
        if (count[k] == 0) continue;  // only when n < K, excluded by fit
        s.setZero();
        for (index_t t = start[k]; t < start[k + 1]; ++t)
          s += x.eigen().row(members[t]).template cast<double>().transpose();
        centroids_.row(k) = (s / double(count[k])).template cast<float>().transpose();
      }
    });
  }

  index_t K_ = 0;
  matrix<float> centroids_;  // (K, d)
  matrix<float> search_;     // (K, d) searched by the kernel
  fit_report report_;
};

/// Plain k-means (Lloyd, k-means++ seeding, squared Euclidean distance).
using l2_kmeans = kmeans<l2_distance, kmeanspp_init, standard_assignment>;
/// Spherical-style k-means: nearest by cosine, centroids are member means.
using cosine_kmeans = kmeans<cosine_distance, kmeanspp_init, standard_assignment>;

}  // namespace reg4rec::quant
