// Residual k-means (RQ-KMeans): L levels of K codes; level l is a k-means fitted to what the
// levels before it left over, so the SID (c_0, ..., c_{L−1}) is coarse-to-fine (ordered).
//
//   quant::rq_kmeans rq(3, 256);            // 3 levels × 256 codes
//   quant::fit_options o;
//   o.seed = 1;
//   o.log = &std::clog;                     // k-means progress per level, residual energy
//   rq.fit(x, o);
//   rq.set_beam_width(5);
//   auto codes = rq.encode(x);             // (n, 3) int32
//   auto xhat = rq.decode(codes);          // Σ_l C_l[c_l]
//
// Training: r_0 = x; for each level, a kmeans<Distance, Init, Assign> with a seed forked from
// fit_options::seed for that level is fitted to r_l, then every training row is moved to its
// nearest codeword (greedy, as encode with B = 1 does) and r_{l+1} = r_l − C_l[c_l]. With a
// balanced assignment policy the balance holds for each level's training assignment.
// Encoding: residual_encoder (quant/residual_encode.hpp), beam width set_beam_width(B).
#pragma once

#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include "reg4rec/core/error.hpp"
#include "reg4rec/core/rng.hpp"
#include "reg4rec/core/types.hpp"
#include "reg4rec/core/view.hpp"
#include "reg4rec/io/binary.hpp"
#include "reg4rec/kernels/nearest.hpp"
#include "reg4rec/quant/balanced_kmeans.hpp"
#include "reg4rec/quant/detail/distance.hpp"
#include "reg4rec/quant/kmeans.hpp"
#include "reg4rec/quant/quantizer.hpp"
#include "reg4rec/quant/residual_encode.hpp"
#include "reg4rec/quant/sid_metrics.hpp"

namespace reg4rec::quant {

template <class Distance = l2_distance, class Init = kmeanspp_init, class Assign = standard_assignment>
class residual_kmeans {
  static_assert(is_distance_policy_v<Distance>, "residual_kmeans: Distance must be l2_distance or cosine_distance");
  static_assert(is_init_policy_v<Init>, "residual_kmeans: Init must be kmeanspp_init or random_init");
  static_assert(is_assignment_policy_v<Assign>, "residual_kmeans: Assign must be an assignment policy tag");

 public:
  using level_quantizer = kmeans<Distance, Init, Assign>;
  using level_report = typename level_quantizer::fit_report;

  residual_kmeans() = default;
  residual_kmeans(index_t levels, index_t codebook_size, index_t beam_width = 1)
      : L_(levels), K_(codebook_size) {
    require(levels >= 1, "residual_kmeans: levels L must be at least 1, got ", levels);
    require(codebook_size >= 1, "residual_kmeans: codebook size K must be at least 1, got ", codebook_size);
    set_beam_width(beam_width);
  }

  static std::string policy_name() {
    return std::string("residual_kmeans<") + Distance::name + "," + Init::name + "," + Assign::name + ">";
  }

  /// x: (n, d), n ≥ K, finite.
  void fit(cmatrix_view<float> x, const fit_options& opts = {}) {
    static constexpr const char* who = "residual_kmeans::fit";
    require(L_ >= 1 && K_ >= 1, who, ": levels and codebook size are not set (construct residual_kmeans(L, K))");
    require(x.rows() >= 1 && x.cols() >= 1, who, ": the training matrix is empty (", x.rows(), " x ", x.cols(), ")");
    require(K_ <= x.rows(), who, ": K = ", K_, " exceeds the number of training vectors n = ", x.rows());
    detail::check_finite(who, x);
    const index_t n = x.rows();
    const rng g(opts.seed);
    matrix<float> res = x.eigen();
    const double energy0 = centred_energy(x);
    std::vector<matrix<float>> books;
    std::vector<level_report> reports;
    std::vector<std::int32_t> labels(static_cast<std::size_t>(n));
    std::vector<float> cost(static_cast<std::size_t>(n));
    for (index_t l = 0; l < L_; ++l) {
      level_quantizer km(K_);
      fit_options o = opts;
      rng gl = g.fork(static_cast<std::uint64_t>(l));
      o.seed = gl();
      o.label = (opts.label.empty() ? std::string("rq-kmeans") : opts.label) + " level " + std::to_string(l + 1) +
                "/" + std::to_string(L_);
      km.fit(res, o);
      books.emplace_back(km.centroids().eigen());
      reports.push_back(km.report());
      km.nearest(res, labels, cost);
      for (index_t i = 0; i < n; ++i) res.row(i) -= books.back().row(labels[i]);
      if (opts.log) {
        const double e = res.squaredNorm() / double(n);
        char b[160];
        std::snprintf(b, sizeof b, "%s: relative residual energy %.5f\n", o.label.c_str(),
                      energy0 > 0 ? e / energy0 : 0.0);
        *opts.log << b << std::flush;
      }
    }
    encoder_.set_codebooks(std::vector<cmatrix_view<float>>(books.begin(), books.end()));
    reports_ = std::move(reports);
  }

  /// codes: (n, L) with the current beam width.
  void encode(cmatrix_view<float> x, matrix_view<std::int32_t> codes) const { encode(x, codes, beam_); }
  /// codes: (n, L); score: (n) final path score (l2: squared reconstruction error) or empty.
  void encode(cmatrix_view<float> x, matrix_view<std::int32_t> codes, index_t beam, span<float> score = {}) const {
    require(fitted(), "residual_kmeans::encode: the quantizer is not fitted (call fit or load first)");
    encoder_.encode(x, beam, codes, score);
  }
  matrix<std::int32_t> encode(cmatrix_view<float> x) const {
    matrix<std::int32_t> codes(x.rows(), L_);
    encode(x, codes);
    return codes;
  }

  /// out: (n, d) = Σ_l C_l[codes(i, l)].
  void decode(cmatrix_view<std::int32_t> codes, matrix_view<float> out) const {
    require(fitted(), "residual_kmeans::decode: the quantizer is not fitted (call fit or load first)");
    encoder_.decode(codes, out);
  }
  matrix<float> decode(cmatrix_view<std::int32_t> codes) const {
    matrix<float> out(codes.rows(), dim());
    decode(codes, out);
    return out;
  }

  /// For sid_table<reassign_nearest_free>: the `C` best last-level codes of every row of x
  /// given the prefix that encode (current beam) chooses, best first. candidates, cost:
  /// (n, C), C ≤ K; cost = squared reconstruction error with that last code (l2) or the
  /// last level's 1 − cos (cosine).
  void last_level_candidates(cmatrix_view<float> x, matrix_view<std::int32_t> candidates,
                             matrix_view<float> cost) const {
    require(fitted(), "residual_kmeans::last_level_candidates: the quantizer is not fitted");
    check_dim("last_level_candidates: rows of candidates (rows of x)", candidates.rows(), x.rows());
    check_dim("last_level_candidates: rows of cost (rows of x)", cost.rows(), x.rows());
    check_dim("last_level_candidates: columns of cost (C)", cost.cols(), candidates.cols());
    require(candidates.cols() >= 1 && candidates.cols() <= K_, "last_level_candidates: C = ", candidates.cols(),
            " must be in [1, K = ", K_, "]");
    const auto codes = encode(x);
    matrix<float> r = x.eigen();
    for (index_t i = 0; i < x.rows(); ++i)
      for (index_t l = 0; l + 1 < L_; ++l) r.row(i) -= encoder_.codebook(l).eigen().row(codes(i, l));
    const auto search = detail::search_codebook<Distance>(encoder_.codebook(L_ - 1));
    const kernels::codebook_search<float> plan(Distance::search_metric, search);
    matrix<std::int32_t> ci(x.rows(), candidates.cols());
    matrix<float> cs(x.rows(), candidates.cols());
    plan.topb(r, ci, cs);
    for (index_t i = 0; i < x.rows(); ++i) {
      float inv = 0;
      if constexpr (Distance::normalise_codewords) {
        const float nr = r.row(i).norm();
        inv = nr > 0 ? 1.0f / nr : 0.0f;
      }
      for (index_t t = 0; t < ci.cols(); ++t) {
        candidates(i, t) = ci(i, t);
        cost(i, t) = detail::score_to_cost<Distance>(cs(i, t), inv);
      }
    }
  }

  index_t num_codebooks() const noexcept { return L_; }
  index_t codebook_size() const noexcept { return K_; }
  index_t dim() const noexcept { return encoder_.dim(); }
  bool ordered() const noexcept { return true; }
  bool fitted() const noexcept { return encoder_.levels() > 0; }

  index_t beam_width() const noexcept { return beam_; }
  void set_beam_width(index_t beam) {
    require(beam >= 1, "residual_kmeans: beam width must be at least 1, got ", beam);
    beam_ = beam;
  }
  /// (K, d) the codewords of level l.
  cmatrix_view<float> codebook(index_t l) const {
    require(l >= 0 && l < encoder_.levels(), "residual_kmeans::codebook: level ", l, " out of range [0, ",
            encoder_.levels(), ")");
    return encoder_.codebook(l);
  }
  const residual_encoder<Distance>& encoder() const noexcept { return encoder_; }
  /// Per level: the k-means objective and utilisation after each assignment.
  const std::vector<level_report>& reports() const noexcept { return reports_; }

  sid_stats stats(cmatrix_view<float> x, const sid_metric_options& opts = {}) const {
    const auto codes = encode(x);
    return compute_sid_stats(codes, K_, x, opts);
  }

  void save(const std::string& path) const {
    require(fitted(), "residual_kmeans::save: the quantizer is not fitted");
    io::binary_writer w(path, "residual_kmeans");
    w.put_string("policy", policy_name());
    w.put_scalar<std::int64_t>("levels", L_);
    w.put_scalar<std::int64_t>("codebook_size", K_);
    w.put_scalar<std::int64_t>("beam_width", beam_);
    for (index_t l = 0; l < L_; ++l) {
      w.put_matrix<float>("codebook." + std::to_string(l), encoder_.codebook(l));
      if (static_cast<std::size_t>(l) < reports_.size())
        w.put("objective." + std::to_string(l), reports_[l].objective);
    }
    w.commit();
  }
  void load(const std::string& path) {
    io::binary_reader r(path, "residual_kmeans");
    const std::string policy = r.get_string("policy");
    if (policy != policy_name()) r.fail("policy", "saved by " + policy + ", cannot be loaded into " + policy_name());
    const auto L = r.get_scalar<std::int64_t>("levels"), K = r.get_scalar<std::int64_t>("codebook_size"),
               B = r.get_scalar<std::int64_t>("beam_width");
    if (L < 1) r.fail("levels", "must be at least 1");
    if (K < 1) r.fail("codebook_size", "must be at least 1");
    if (B < 1) r.fail("beam_width", "must be at least 1");
    std::vector<matrix<float>> books;
    std::vector<level_report> reports;
    for (index_t l = 0; l < L; ++l) {
      const std::string name = "codebook." + std::to_string(l);
      books.push_back(r.get_matrix<float>(name));
      if (books.back().rows() != K) r.fail(name, "does not have codebook_size rows");
      if (books.back().cols() < 1 || books.back().cols() != books[0].cols())
        r.fail(name, "has a different dimension than codebook.0");
      for (index_t i = 0; i < books.back().size(); ++i)
        if (!std::isfinite(books.back().data()[i])) r.fail(name, "holds a non-finite value");
      level_report rep;
      if (r.has("objective." + std::to_string(l))) rep.objective = r.get_vector<double>("objective." + std::to_string(l));
      reports.push_back(std::move(rep));
    }
    encoder_.set_codebooks(std::vector<cmatrix_view<float>>(books.begin(), books.end()));
    L_ = L;
    K_ = K;
    beam_ = B;
    reports_ = std::move(reports);
  }

 private:
  static double centred_energy(cmatrix_view<float> x) {
    const Eigen::RowVectorXd mean = x.eigen().template cast<double>().colwise().mean();
    double e = 0;
    for (index_t i = 0; i < x.rows(); ++i) e += (x.eigen().row(i).template cast<double>() - mean).squaredNorm();
    return e / double(x.rows());
  }

  index_t L_ = 0, K_ = 0, beam_ = 1;
  residual_encoder<Distance> encoder_;
  std::vector<level_report> reports_;
};

/// RQ-KMeans as in the papers: squared Euclidean, k-means++ seeding, nearest assignment.
using rq_kmeans = residual_kmeans<l2_distance, kmeanspp_init, standard_assignment>;
/// RQ-KMeans with capacity-balanced levels (every code of every level used about n/K times
/// on the training set).
using balanced_rq_kmeans = residual_kmeans<l2_distance, kmeanspp_init, balanced_assignment>;
/// RQ-KMeans choosing codes by cosine similarity.
using cosine_rq_kmeans = residual_kmeans<cosine_distance, kmeanspp_init, standard_assignment>;

}  // namespace reg4rec::quant
