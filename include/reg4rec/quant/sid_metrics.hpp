// Quality of a SID assignment, computed from the codes alone (and the item vectors for the
// two semantic metrics), so tokenizers can be compared without training a recommender.
//
//   auto s = quant::compute_sid_stats(codes, 256, item_vectors);
//   std::cout << s.to_markdown();  io::write_file_atomic("sid_stats.json", s.to_json());
//
// Definitions (SPEC §3.4), with n items, M codebooks of K codes:
// - utilisation[r]  = distinct codes used in codebook r / K;
// - perplexity[r]   = exp(H_r), H_r the entropy (nats) of codebook r's code frequencies:
//                     K when usage is uniform, 1 when one code takes everything;
// - distinct_sids   = number of distinct full SIDs (M-tuples);
// - collision_rate  = items whose full SID is shared with at least one other item / n;
// - largest_bucket  = most items sharing one SID;
// - semantic_cohesion (SC): a group is a set of items sharing a SID (or, with
//   options.prefix = p, its first p tokens); for every group with m ≥ 2 items the mean pairwise
//   cosine of its vectors, by the identity mean_{i≠j} ûi·ûj = (‖Σ û‖² − Σ‖û‖²)/(m(m−1)) with
//   û the unit vectors (Σ‖û‖² = m unless a vector is zero; a zero vector has cosine 0 with
//   everything). SC is the unweighted mean over those groups; NaN if there are none.
// - preference_discrimination (PD): every distinct SID (or prefix) is a group, singletons
//   included; c̄_g is the mean of its items' vectors (as given, not normalised). PD =
//   log(mean over pairs a < b of exp(−2(1 − cos(c̄_a, c̄_b)))), exact over all pairs, computed
//   blockwise with matrix products on the unit centres (a zero centre has cosine 0). Lower is
//   better. Since ‖Σ u_g‖² ≥ 0 the mean pairwise cosine is at least −1/(G − 1), and exp is
//   convex, so PD ≥ −2 − 2/(G − 1): the floor is −2 for many groups. NaN for fewer than two
//   groups.
#pragma once

#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include <Eigen/Core>

#include "reg4rec/core/error.hpp"
#include "reg4rec/core/parallel.hpp"
#include "reg4rec/core/types.hpp"
#include "reg4rec/core/view.hpp"
#include "reg4rec/io/json.hpp"
#include "reg4rec/quant/detail/sid_groups.hpp"

namespace reg4rec::quant {

struct sid_metric_options {
  /// Tokens that define a group for SC and PD: 0 = the full SID, p = the first p tokens.
  index_t prefix = 0;
  /// PD costs O(G² d) for G groups (about 0.1 s for 12k groups at d = 32); off to skip it.
  bool preference_discrimination = true;
};

struct sid_stats {
  index_t num_items = 0;
  index_t num_codebooks = 0;  // M
  index_t codebook_size = 0;  // K
  std::vector<index_t> codes_used;  // per codebook
  std::vector<double> utilisation;  // per codebook, codes_used / K
  std::vector<double> perplexity;   // per codebook, exp(entropy of the code frequencies)
  index_t distinct_sids = 0;
  double collision_rate = 0;
  index_t largest_bucket = 0;
  index_t group_prefix = 0;       // tokens defining the SC/PD groups (M for the full SID)
  index_t groups = 0;             // distinct groups (for PD)
  index_t cohesion_groups = 0;    // groups with at least two items (for SC)
  double semantic_cohesion = std::numeric_limits<double>::quiet_NaN();
  double preference_discrimination = std::numeric_limits<double>::quiet_NaN();

  double mean_utilisation() const { return mean_of(utilisation); }
  double mean_perplexity() const { return mean_of(perplexity); }

  static double mean_of(const std::vector<double>& v) {
    double s = 0;
    for (double x : v) s += x;
    return v.empty() ? 0.0 : s / double(v.size());
  }

  /// A two-column Markdown table (metric | value), one row per codebook for the usage rows.
  std::string to_markdown() const {
    std::string out = "| metric | value |\n|---|---|\n";
    auto row = [&](const std::string& k, const std::string& v) { out += "| " + k + " | " + v + " |\n"; };
    auto num = [](double v, const char* fmt = "%.4f") {
      if (!std::isfinite(v)) return std::string("n/a");
      char b[64];
      std::snprintf(b, sizeof b, fmt, v);
      return std::string(b);
    };
    row("items", std::to_string(num_items));
    row("codebooks x codes", std::to_string(num_codebooks) + " x " + std::to_string(codebook_size));
    for (std::size_t r = 0; r < utilisation.size(); ++r) {
      row("utilisation[" + std::to_string(r) + "]",
          num(utilisation[r]) + " (" + std::to_string(codes_used[r]) + " codes)");
      row("perplexity[" + std::to_string(r) + "]", num(perplexity[r], "%.2f"));
    }
    row("distinct SIDs", std::to_string(distinct_sids));
    row("collision rate", num(collision_rate));
    row("largest bucket", std::to_string(largest_bucket));
    const std::string by = group_prefix == num_codebooks ? "" : " (prefix " + std::to_string(group_prefix) + ")";
    row("semantic cohesion" + by, num(semantic_cohesion) + " over " + std::to_string(cohesion_groups) + " groups");
    row("preference discrimination" + by, num(preference_discrimination) + " over " + std::to_string(groups) + " groups");
    return out;
  }

  /// Writes the stats as one JSON object (NaN as null).
  void write_json(io::json_writer& j) const {
    j.begin_object();
    j.field("num_items", num_items).field("num_codebooks", num_codebooks).field("codebook_size", codebook_size);
    j.key("codes_used").begin_array();
    for (index_t v : codes_used) j.value(v);
    j.end_array().key("utilisation").begin_array();
    for (double v : utilisation) j.value(v);
    j.end_array().key("perplexity").begin_array();
    for (double v : perplexity) j.value(v);
    j.end_array();
    j.field("distinct_sids", distinct_sids).field("collision_rate", collision_rate);
    j.field("largest_bucket", largest_bucket).field("group_prefix", group_prefix);
    j.field("groups", groups).field("cohesion_groups", cohesion_groups);
    j.field("semantic_cohesion", semantic_cohesion);
    j.field("preference_discrimination", preference_discrimination);
    j.end_object();
  }
  std::string to_json(bool pretty = true) const {
    io::json_writer j(pretty);
    write_json(j);
    return j.str();
  }
};

namespace detail {

inline index_t resolve_prefix(index_t prefix, index_t M) {
  require(prefix >= 0 && prefix <= M, "SID metrics: prefix length must be in [0, M = ", M, "], got ", prefix);
  return prefix == 0 ? M : prefix;
}

inline void check_vectors(const char* who, cmatrix_view<std::int32_t> codes, cmatrix_view<float> vectors) {
  check_dim(reg4rec::detail::cat(who, ": rows of the item vectors (items in codes)").c_str(), vectors.rows(),
            codes.rows());
  require(vectors.cols() >= 1, who, ": the item vectors have no columns");
  check_finite(who, vectors);
}

// SC over an existing grouping.
inline double semantic_cohesion(const sid_grouping& g, cmatrix_view<float> v, index_t* used_groups) {
  const index_t d = v.cols();
  double total = 0;
  index_t count = 0;
  Eigen::VectorXd s(d);
  for (index_t k = 0; k < g.groups(); ++k) {
    const index_t m = g.size(k);
    if (m < 2) continue;
    s.setZero();
    double units = 0;  // Σ ‖û‖²: 1 per non-zero vector
    for (index_t t = g.offsets[k]; t < g.offsets[k + 1]; ++t) {
      const auto row = v.eigen().row(g.order[t]).template cast<double>();
      const double norm = row.norm();
      if (norm == 0) continue;
      s += row.transpose() / norm;
      units += 1;
    }
    total += (s.squaredNorm() - units) / (double(m) * double(m - 1));
    ++count;
  }
  if (used_groups) *used_groups = count;
  return count == 0 ? std::numeric_limits<double>::quiet_NaN() : total / double(count);
}

// PD over an existing grouping: unit centres U (G × d), then Σ_{a<b} exp(2(u_a·u_b − 1)) by
// blocks of `block` centres, each block pair one matrix product; partial sums are kept per
// pair and added in a fixed order, so the result does not depend on the thread count.
inline double preference_discrimination(const sid_grouping& g, cmatrix_view<float> v) {
  const index_t G = g.groups(), d = v.cols();
  if (G < 2) return std::numeric_limits<double>::quiet_NaN();
  matrix<float> U(G, d);
  for (index_t k = 0; k < G; ++k) {
    Eigen::VectorXd c = Eigen::VectorXd::Zero(d);
    for (index_t t = g.offsets[k]; t < g.offsets[k + 1]; ++t)
      c += v.eigen().row(g.order[t]).template cast<double>().transpose();
    const double norm = c.norm();
    if (norm > 0)
      U.row(k) = (c / norm).cast<float>().transpose();
    else
      U.row(k).setZero();
  }
  constexpr index_t block = 512;
  const index_t nb = (G + block - 1) / block;
  std::vector<std::pair<index_t, index_t>> pairs;
  for (index_t a = 0; a < nb; ++a)
    for (index_t b = a; b < nb; ++b) pairs.emplace_back(a, b);
  std::vector<double> partial(pairs.size(), 0.0);
  parallel_for_dynamic(0, static_cast<index_t>(pairs.size()), 1, [&](index_t lo, index_t hi) {
    matrix<float> P;
    for (index_t p = lo; p < hi; ++p) {
      const auto [a, b] = pairs[static_cast<std::size_t>(p)];
      const index_t a0 = a * block, an = std::min(block, G - a0);
      const index_t b0 = b * block, bn = std::min(block, G - b0);
      P.noalias() = U.middleRows(a0, an) * U.middleRows(b0, bn).transpose();
      P.array() = ((P.array() - 1.0f) * 2.0f).exp();
      double s = 0;
      if (a != b) {
        for (index_t i = 0; i < an; ++i) s += static_cast<double>(P.row(i).sum());
      } else {
        for (index_t i = 0; i < an; ++i)  // strict upper triangle
          s += static_cast<double>(P.row(i).tail(an - i - 1).sum());
      }
      partial[static_cast<std::size_t>(p)] = s;
    }
  });
  double total = 0;
  for (double s : partial) total += s;
  const double pairs_count = double(G) * double(G - 1) / 2.0;
  return std::log(total / pairs_count);
}

}  // namespace detail

/// Semantic Cohesion of the groups of items sharing a SID (prefix 0) or its first `prefix`
/// tokens. codes: (n, M) int32; vectors: (n, d) float, row i for item i.
inline double semantic_cohesion(cmatrix_view<std::int32_t> codes, cmatrix_view<float> vectors,
                                index_t prefix = 0) {
  detail::check_codes("semantic_cohesion", codes, 0);
  detail::check_vectors("semantic_cohesion", codes, vectors);
  if (codes.rows() == 0) return std::numeric_limits<double>::quiet_NaN();
  const auto g = detail::group_by_sid(codes, detail::resolve_prefix(prefix, codes.cols()));
  return detail::semantic_cohesion(g, vectors, nullptr);
}

/// Preference Discrimination over the distinct SIDs (or prefixes); singletons count as groups.
inline double preference_discrimination(cmatrix_view<std::int32_t> codes, cmatrix_view<float> vectors,
                                        index_t prefix = 0) {
  detail::check_codes("preference_discrimination", codes, 0);
  detail::check_vectors("preference_discrimination", codes, vectors);
  if (codes.rows() == 0) return std::numeric_limits<double>::quiet_NaN();
  const auto g = detail::group_by_sid(codes, detail::resolve_prefix(prefix, codes.cols()));
  return detail::preference_discrimination(g, vectors);
}

/// All statistics of a code matrix. codes: (n, M) int32 in [0, K); vectors: (n, d) float or
/// an empty view (then SC and PD stay NaN).
inline sid_stats compute_sid_stats(cmatrix_view<std::int32_t> codes, index_t codebook_size,
                                   cmatrix_view<float> vectors = {}, const sid_metric_options& opts = {}) {
  require(codebook_size >= 1, "compute_sid_stats: codebook size K must be at least 1, got ", codebook_size);
  require(codes.rows() >= 1, "compute_sid_stats: the code matrix is empty (no items)");
  detail::check_codes("compute_sid_stats", codes, codebook_size);
  const bool semantic = vectors.rows() != 0 || vectors.cols() != 0;
  if (semantic) detail::check_vectors("compute_sid_stats", codes, vectors);
  const index_t n = codes.rows(), M = codes.cols(), K = codebook_size;

  sid_stats s;
  s.num_items = n;
  s.num_codebooks = M;
  s.codebook_size = K;
  std::vector<index_t> count(static_cast<std::size_t>(K));
  for (index_t r = 0; r < M; ++r) {
    std::fill(count.begin(), count.end(), 0);
    for (index_t i = 0; i < n; ++i) ++count[static_cast<std::size_t>(codes(i, r))];
    index_t used = 0;
    double h = 0;
    for (index_t c : count)
      if (c > 0) {
        ++used;
        const double p = double(c) / double(n);
        h -= p * std::log(p);
      }
    s.codes_used.push_back(used);
    s.utilisation.push_back(double(used) / double(K));
    s.perplexity.push_back(std::exp(h));
  }

  const auto full = detail::group_by_sid(codes, M);
  s.distinct_sids = full.groups();
  index_t shared = 0;
  for (index_t g = 0; g < full.groups(); ++g) {
    const index_t m = full.size(g);
    s.largest_bucket = std::max(s.largest_bucket, m);
    if (m >= 2) shared += m;
  }
  s.collision_rate = double(shared) / double(n);

  s.group_prefix = detail::resolve_prefix(opts.prefix, M);
  if (semantic) {
    const auto g = s.group_prefix == M ? full : detail::group_by_sid(codes, s.group_prefix);
    s.groups = g.groups();
    s.semantic_cohesion = detail::semantic_cohesion(g, vectors, &s.cohesion_groups);
    if (opts.preference_discrimination) s.preference_discrimination = detail::preference_discrimination(g, vectors);
  }
  return s;
}

}  // namespace reg4rec::quant
