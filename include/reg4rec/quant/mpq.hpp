// MPQ — MoE-based parallel quantisation codebooks (REG4Rec; SPEC §3.5).
//
// M experts E_r (MLPs to a latent of width h), each with its own codebook C_r (D × h):
//   c_r = nearest(E_r(x), C_r),  g = softmax(W_g·x + b),  q = Σ_r g_r·C_r[c_r],  x̂ = Dec(q)
//   loss = (1/n)Σ‖x − x̂‖² + (1/n)Σ_r Σ_i (‖sg(e_r) − C_r[c_r]‖² + β‖e_r − sg(C_r[c_r])‖²)
//          + γ·‖V̂V̂ᵀ − I‖²_F + λ·Σ_{a<b} ‖Ẑ_aᵀẐ_b / n‖²_F / h
// with straight-through gradients from q to each expert output e_r (scaled by its gate), and
// V̂ the L2-normalised flattened parameters of the experts (one row per expert): keeping their
// Gram matrix near the identity keeps the experts' weights apart. The last term (off by
// default, λ = mpq_config::decorrelation) acts on what the experts compute rather than on
// their weights: Ẑ_r is expert r's batch of latents standardised per column, and the term is
// the squared cross-correlation between different experts' latents. Every expert receives
// the same straight-through gradient direction dq, so without it the experts drift towards
// one partition of the items, and the M tokens of an item repeat each other (on Beauty 4 × 256
// codes gave 6,170 distinct tuples for 12,101 items).
//
// S²GR's usage-balanced assignment and uniformity penalty act on each expert's codebook
// (mpq_config::balance, off by default; quant/codebook_balance.hpp).
//
// The M tokens of an item are unordered: the item is the set {(r, c_r)} (canonically the
// tuple ordered by r). decode() has no router input, so it gates with the mean training gates.
//
// MMQ (SPEC §3.6) is the same model with experts that read only some columns of x
// (mpq_config::expert_inputs): shared experts over the whole [text ; behaviour] vector beside
// modality-specific experts over one block. The router still reads all of x and gates every
// expert; the orthogonality term acts within each group of experts reading the same columns.
#pragma once

#include <chrono>
#include <cmath>
#include <limits>
#include <memory>
#include <numeric>
#include <string>
#include <vector>

#include "reg4rec/core/progress.hpp"
#include "reg4rec/io/binary.hpp"
#include "reg4rec/kernels/nearest.hpp"
#include "reg4rec/kernels/softmax.hpp"
#include "reg4rec/loss/mse.hpp"
#include "reg4rec/nn/data_parallel.hpp"
#include "reg4rec/nn/linear.hpp"
#include "reg4rec/nn/mlp.hpp"
#include "reg4rec/optim/adamw.hpp"
#include "reg4rec/quant/distinct_tuples.hpp"
#include "reg4rec/quant/kmeans.hpp"
#include "reg4rec/quant/quantizer.hpp"
#include "reg4rec/quant/rq_vae.hpp"
#include "reg4rec/quant/sid_metrics.hpp"

namespace reg4rec::quant {

/// Columns [first, first + count) of the item vectors; count 0: every column.
struct column_range {
  index_t first = 0, count = 0;
};

struct mpq_config {
  index_t experts = 4;                           // M
  index_t codebook_size = 256;                   // D
  index_t latent_dim = 32;                       // h
  std::vector<index_t> expert_hidden{512, 256};  // each expert: d → hidden... → h
  std::vector<index_t> decoder_hidden{256, 512}; // decoder: h → hidden... → d
  double beta = 0.25;
  double gamma = 0.005;        // orthogonality weight (expert parameters)
  double decorrelation = 0.0;  // λ: cross-correlation weight (expert latents); 0 = off
  index_t epochs = 100;
  index_t batch_size = 1024;
  double lr = 1e-3;
  double weight_decay = 0.0;
  bool kmeans_init = true;
  index_t dead_code_reset = 20;  // steps a code may stay unused before it is reset (0: never)
  /// MMQ: the columns each expert reads (one entry per expert); empty: all of x for every expert.
  std::vector<column_range> expert_inputs;
  codebook_balance_options balance;  // S²GR codebook optimisation per expert (training only; l2_distance)
};

/// MMQ's expert inputs for x = [text (text_dim columns) ; the rest]: `per_modality` experts
/// over the text block, as many over the rest, and the other experts shared over all of x
/// (listed first).
inline std::vector<column_range> modality_experts(index_t experts, index_t per_modality, index_t text_dim) {
  require(per_modality >= 0 && 2 * per_modality <= experts, "modality_experts: ", per_modality,
          " experts per modality need at least ", 2 * per_modality, " experts, got ", experts);
  require(text_dim >= 1, "modality_experts: the text block needs at least one column");
  std::vector<column_range> in(static_cast<std::size_t>(experts - 2 * per_modality));
  for (index_t k = 0; k < per_modality; ++k) in.push_back({0, text_dim});
  for (index_t k = 0; k < per_modality; ++k) in.push_back({text_dim, 0});  // to the end: set by the fit
  return in;
}

/// Σ_{a<b} ‖Ẑ_aᵀẐ_b / n‖²_F / h over the experts' latents z[r] (n × h each), Ẑ the column-
/// standardised z (batch mean 0, variance 1 + ε): the mean squared correlation between a
/// column of one expert and a column of another, times h; 0 for uncorrelated experts, about 1
/// per pair for two experts whose whitened latents are rotations of each other. With grad,
/// grad[r] (n × h) receives the derivative with respect to z[r].
template <class T>
double expert_cross_correlation(const std::vector<cmatrix_view<T>>& z, std::vector<matrix<T>>* grad = nullptr,
                                double eps = 1e-5) {
  const auto M = static_cast<index_t>(z.size());
  if (M == 0) return 0;
  const index_t n = z[0].rows(), h = z[0].cols();
  require(n >= 2, "expert_cross_correlation: at least 2 rows needed, got ", n);
  using dmat = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic>;
  std::vector<dmat> zs(static_cast<std::size_t>(M));
  std::vector<Eigen::RowVectorXd> sd(static_cast<std::size_t>(M));
  for (index_t r = 0; r < M; ++r) {
    check_dim("expert_cross_correlation: rows of z[r]", z[r].rows(), n);
    check_dim("expert_cross_correlation: columns of z[r]", z[r].cols(), h);
    dmat a = z[r].eigen().template cast<double>();
    a.rowwise() -= a.colwise().mean();
    sd[r] = ((a.array().square().colwise().sum() / double(n)) + eps).sqrt().matrix();
    a.array().rowwise() /= sd[r].array();
    zs[r] = std::move(a);
  }
  double term = 0;
  std::vector<dmat> g(static_cast<std::size_t>(M), dmat::Zero(n, h));
  for (index_t a = 0; a < M; ++a)
    for (index_t b = a + 1; b < M; ++b) {
      const dmat C = zs[a].transpose() * zs[b] / double(n);  // h × h
      term += C.squaredNorm() / double(h);
      if (grad) {
        g[a].noalias() += zs[b] * C.transpose() * (2.0 / (double(n) * double(h)));
        g[b].noalias() += zs[a] * C * (2.0 / (double(n) * double(h)));
      }
    }
  if (grad) {
    grad->resize(static_cast<std::size_t>(M));
    for (index_t r = 0; r < M; ++r) {
      // Back through the standardisation: dz = (g − mean(g) − ẑ·mean(g ⊙ ẑ)) / σ per column.
      const Eigen::RowVectorXd mg = g[r].colwise().mean();
      const Eigen::RowVectorXd mgz = (g[r].array() * zs[r].array()).colwise().mean().matrix();
      dmat d = g[r];
      d.rowwise() -= mg;
      d -= (zs[r].array().rowwise() * mgz.array()).matrix();
      d.array().rowwise() /= sd[r].array();
      (*grad)[r] = d.template cast<T>();
    }
  }
  return term;
}

template <class Distance = l2_distance>
class mpq {
  static_assert(is_distance_policy_v<Distance>, "mpq: Distance must be l2_distance or cosine_distance");

 public:
  explicit mpq(mpq_config c = {}) : cfg_(std::move(c)) {
    require(cfg_.experts >= 1 && cfg_.experts <= 32, "mpq: experts must be in [1, 32], got ", cfg_.experts);
    require(cfg_.codebook_size >= 2 && cfg_.latent_dim >= 1, "mpq: codebook size ≥ 2 and latent dimension ≥ 1 needed");
    require(cfg_.batch_size >= cfg_.codebook_size || !cfg_.kmeans_init, "mpq: batch_size ", cfg_.batch_size,
            " is smaller than the codebook size ", cfg_.codebook_size);
    require(cfg_.expert_inputs.empty() || static_cast<index_t>(cfg_.expert_inputs.size()) == cfg_.experts,
            "mpq: expert_inputs has ", cfg_.expert_inputs.size(), " entries for ", cfg_.experts, " experts");
    cfg_.balance.validate("mpq");
    require(cfg_.balance.usage_bias == 0 || std::is_same_v<Distance, l2_distance>,
            "mpq: balance.usage_bias needs l2_distance");
  }

  const mpq_config& config() const noexcept { return cfg_; }
  index_t num_codebooks() const noexcept { return cfg_.experts; }
  index_t codebook_size() const noexcept { return cfg_.codebook_size; }
  index_t dim() const noexcept { return dim_; }
  bool ordered() const noexcept { return false; }
  const std::vector<vae_epoch>& history() const noexcept { return history_; }
  nn::parameter_store<float>& params() { return *ps_; }
  /// Mean router gates over the training items (used by decode()).
  const std::vector<float>& mean_gates() const noexcept { return mean_gates_; }

  void fit(cmatrix_view<float> x, const fit_options& fo = {}) {
    require(x.rows() >= cfg_.codebook_size, "mpq::fit: ", x.rows(), " items for ", cfg_.codebook_size, " codes (K > n)");
    require(x.cols() >= 1, "mpq::fit: the item vectors have no columns");
    detail::check_finite("mpq::fit", x);
    build(x.cols(), fo.seed);
    const index_t M = cfg_.experts, K = cfg_.codebook_size;
    balance_ = codebook_balance(cfg_.balance, M, K);
    const auto before = [&](cmatrix_view<float> xb, long long t) {
      if (t == 0 && cfg_.kmeans_init) init_codebooks(xb, fo.seed);
    };
    const auto step = [&](cmatrix_view<float> xb, double& rec) { return train_step(xb, rec); };
    const auto after = [&](long long t, rng& eg, std::vector<std::vector<index_t>>& last_used) {
      if (balance_.biased()) balance_.record(codes_, expert_sq_);
      if (cfg_.dead_code_reset > 0) reset_dead_codes(last_used, t, eg);
    };
    history_ = detail::fit_vae_epochs(x, cfg_.epochs, cfg_.batch_size, cfg_.lr, cfg_.weight_decay, *ps_, codes_, M, K,
                                      rng(fo.seed ^ 0x4d5051ULL), fo, "mpq", "mpq::fit", before, step, after);
    // Mean gates for decode().
    const matrix<float> gates = router_gates(x);
    mean_gates_.assign(static_cast<std::size_t>(M), 0.0f);
    for (index_t r = 0; r < M; ++r) mean_gates_[r] = gates.col(r).mean();
  }

  /// Expert latents of x for expert r: (n, h).
  matrix<float> expert_latents(cmatrix_view<float> x, index_t r) const {
    check_ready("mpq::expert_latents", x);
    matrix<float> z(x.rows(), cfg_.latent_dim);
    parallel_for(0, x.rows(), 512, [&](index_t lo, index_t hi) {
      experts_[r].infer(input(x.middle_rows(lo, hi - lo), r), matrix_view<float>(z).middle_rows(lo, hi - lo),
                        thread_workspace());
    });
    return z;
  }

  /// Router gates g(x): (n, M), rows summing to one.
  matrix<float> router_gates(cmatrix_view<float> x) const {
    check_ready("mpq::router_gates", x);
    matrix<float> g(x.rows(), cfg_.experts);
    router_.forward(x, g);
    kernels::softmax<float>(g, g);
    return g;
  }

  void encode(cmatrix_view<float> x, matrix_view<std::int32_t> codes) const {
    check_dim("mpq::encode: rows of codes", codes.rows(), x.rows());
    check_dim("mpq::encode: columns of codes (experts)", codes.cols(), cfg_.experts);
    std::vector<std::int32_t> idx(static_cast<std::size_t>(x.rows()));
    std::vector<float> sc(static_cast<std::size_t>(x.rows()));
    for (index_t r = 0; r < cfg_.experts; ++r) {
      const auto z = expert_latents(x, r);
      search(r).nearest(z, idx, sc);
      for (index_t i = 0; i < x.rows(); ++i) codes(i, r) = idx[i];
    }
  }
  matrix<std::int32_t> encode(cmatrix_view<float> x) const {
    matrix<std::int32_t> c(x.rows(), cfg_.experts);
    encode(x, c);
    return c;
  }

  /// The C best codes of every codebook for each item, best first, and their search scores:
  /// cand[r], score[r] (n × C). For quant::make_tuples_distinct (collision handling).
  void candidates(cmatrix_view<float> x, index_t C, std::vector<matrix<std::int32_t>>& cand,
                  std::vector<matrix<float>>& score) const {
    require(C >= 1 && C <= cfg_.codebook_size, "mpq::candidates: C = ", C, " must be in [1, ", cfg_.codebook_size, "]");
    cand.resize(static_cast<std::size_t>(cfg_.experts));
    score.resize(static_cast<std::size_t>(cfg_.experts));
    for (index_t r = 0; r < cfg_.experts; ++r) {
      cand[r].resize(x.rows(), C);
      score[r].resize(x.rows(), C);
      const matrix<float> z = expert_latents(x, r);
      search(r).topb(z, cand[r], score[r]);
    }
  }

  /// x̂ = Dec(Σ_r ḡ_r·C_r[codes_r]) with ḡ the mean training gates.
  void decode(cmatrix_view<std::int32_t> codes, matrix_view<float> out) const {
    require(ps_ != nullptr, "mpq::decode: the model is not trained");
    check_dim("mpq::decode: columns of codes (experts)", codes.cols(), cfg_.experts);
    check_dim("mpq::decode: rows of out", out.rows(), codes.rows());
    check_dim("mpq::decode: columns of out", out.cols(), dim_);
    matrix<float> q = matrix<float>::Zero(codes.rows(), cfg_.latent_dim);
    for (index_t i = 0; i < codes.rows(); ++i)
      for (index_t r = 0; r < cfg_.experts; ++r) {
        const auto c = codes(i, r);
        if (c < 0 || c >= cfg_.codebook_size)
          throw value_error(reg4rec::detail::cat("mpq::decode: code ", c, " of item ", i, " in codebook ", r,
                                                 " is outside [0, ", cfg_.codebook_size, ")"));
        q.row(i) += mean_gates_[r] * books_[r].value().eigen().row(c);
      }
    parallel_for(0, codes.rows(), 512, [&](index_t lo, index_t hi) {
      dec_.infer(cmatrix_view<float>(q).middle_rows(lo, hi - lo), out.middle_rows(lo, hi - lo), thread_workspace());
    });
  }

  sid_stats stats(cmatrix_view<float> x, const sid_metric_options& o = {}) const {
    const auto codes = encode(x);
    return compute_sid_stats(codes, cfg_.codebook_size, x, o);
  }

  cmatrix_view<float> codebook(index_t r) const { return books_[static_cast<std::size_t>(r)].value(); }

  /// The orthogonality term ‖V̂V̂ᵀ − I‖²_F of the current experts (without γ); with
  /// add_gradient, γ times its gradient is added to params().grads() (as a training step does).
  double expert_overlap(bool add_gradient = false) const { return orthogonality(add_gradient); }

  void save(const std::string& path) const {
    require(ps_ != nullptr, "mpq::save: the model is not trained");
    io::binary_writer w(path, "mpq");
    std::vector<std::int64_t> ints{dim_, cfg_.experts, cfg_.codebook_size, cfg_.latent_dim,
                                   static_cast<std::int64_t>(cfg_.expert_hidden.size())};
    ints.insert(ints.end(), cfg_.expert_hidden.begin(), cfg_.expert_hidden.end());
    ints.insert(ints.end(), cfg_.decoder_hidden.begin(), cfg_.decoder_hidden.end());
    w.put("config.int", ints);
    w.put("config.real", std::vector<double>{cfg_.beta, cfg_.gamma});
    if (!cfg_.expert_inputs.empty()) {
      std::vector<std::int64_t> in;
      for (const auto& c : inputs_) in.insert(in.end(), {c.first, c.count});
      w.put("config.expert_inputs", in);
    }
    w.put_string("distance", Distance::name);
    w.put("mean_gates", mean_gates_);
    for (const auto& e : ps_->entries())
      w.put<float>("param/" + e.name, cspan<float>(ps_->values().data() + e.offset, e.rows * e.cols), {e.rows, e.cols});
    w.commit();
  }

  void load(const std::string& path) {
    io::binary_reader r(path, "mpq");
    if (r.get_string("distance") != Distance::name)
      r.fail("distance", "holds an mpq with distance " + r.get_string("distance") + ", this one is " + Distance::name);
    const auto ints = r.get_vector<std::int64_t>("config.int");
    if (ints.size() < 5 || ints.size() < 5 + static_cast<std::size_t>(ints[4])) r.fail("config.int", "too short");
    cfg_.experts = ints[1];
    cfg_.codebook_size = ints[2];
    cfg_.latent_dim = ints[3];
    cfg_.expert_hidden.assign(ints.begin() + 5, ints.begin() + 5 + ints[4]);
    cfg_.decoder_hidden.assign(ints.begin() + 5 + ints[4], ints.end());
    const auto real = r.get_vector<double>("config.real");
    cfg_.beta = real.at(0);
    cfg_.gamma = real.at(1);
    cfg_.expert_inputs.clear();
    if (r.has("config.expert_inputs")) {  // MMQ (files written before it have every expert on all of x)
      const auto in = r.get_vector<std::int64_t>("config.expert_inputs");
      if (static_cast<index_t>(in.size()) != 2 * cfg_.experts) r.fail("config.expert_inputs", "two numbers per expert expected");
      for (std::size_t k = 0; k < in.size(); k += 2) cfg_.expert_inputs.push_back({in[k], in[k + 1]});
      for (const auto& c : cfg_.expert_inputs)
        if (c.first < 0 || c.count < 1 || c.first + c.count > ints[0])
          r.fail("config.expert_inputs", "a column range outside the item dimension");
    }
    build(ints[0], 0);
    mean_gates_ = r.get_vector<float>("mean_gates");
    if (static_cast<index_t>(mean_gates_.size()) != cfg_.experts) r.fail("mean_gates", "one gate per expert expected");
    for (const auto& e : ps_->entries())
      r.get<float>("param/" + e.name, span<float>(ps_->values().data() + e.offset, e.rows * e.cols), {e.rows, e.cols});
  }

 private:
  struct shard_state {
    std::vector<typename nn::mlp<float, nn::relu>::activations> experts;
    typename nn::mlp<float, nn::relu>::activations dec;
    std::vector<nn::buffer<float>> de;
    nn::buffer<float> gates, q, xhat, dxhat, dq, da, score, augmented;
    nn::buffer<std::int32_t> idx;
    std::vector<double> expert_sq;  // per expert, Σ‖e_r − C_r[c_r]‖² over the shard's rows
  };

  void build(index_t d, std::uint64_t seed) {
    dim_ = d;
    inputs_.assign(static_cast<std::size_t>(cfg_.experts), column_range{0, d});
    for (std::size_t r = 0; r < cfg_.expert_inputs.size(); ++r) {
      const auto [first, count] = cfg_.expert_inputs[r];
      require(first >= 0 && count >= 0 && first + count <= d && first < d, "mpq: expert ", r, " reads columns [", first,
              ", ", first + count, ") of ", d, "-dimensional items");
      inputs_[r] = {first, count > 0 ? count : d - first};
    }
    ps_ = std::make_unique<nn::parameter_store<float>>();
    experts_.clear();
    books_.clear();
    for (index_t r = 0; r < cfg_.experts; ++r) {
      std::vector<index_t> w{inputs_[r].count};
      w.insert(w.end(), cfg_.expert_hidden.begin(), cfg_.expert_hidden.end());
      w.push_back(cfg_.latent_dim);
      experts_.emplace_back(*ps_, "expert." + std::to_string(r), w);
    }
    router_ = nn::linear<float>(*ps_, "router", d, cfg_.experts);
    std::vector<index_t> dw{cfg_.latent_dim};
    dw.insert(dw.end(), cfg_.decoder_hidden.begin(), cfg_.decoder_hidden.end());
    dw.push_back(d);
    dec_ = nn::mlp<float, nn::relu>(*ps_, "decoder", dw);
    for (index_t r = 0; r < cfg_.experts; ++r)
      books_.push_back(ps_->add("codebook." + std::to_string(r), cfg_.codebook_size, cfg_.latent_dim, false));
    rng g(seed);
    for (auto& e : experts_) e.init(g);
    router_.init(g);
    dec_.init(g);
    for (auto& b : books_) nn::init_normal(b.value(), 0.1f, g);
    mean_gates_.assign(static_cast<std::size_t>(cfg_.experts), 1.0f / float(cfg_.experts));
  }

  /// The columns of x expert r reads.
  cmatrix_view<float> input(cmatrix_view<float> x, index_t r) const {
    const auto& c = inputs_[static_cast<std::size_t>(r)];
    return c.first == 0 && c.count == x.cols() ? x : x.middle_cols(c.first, c.count);
  }
  bool same_input(index_t a, index_t b) const {
    return inputs_[a].first == inputs_[b].first && inputs_[a].count == inputs_[b].count;
  }

  void check_ready(const char* who, cmatrix_view<float> x) const {
    require(ps_ != nullptr, who, ": the model is not trained");
    check_dim(reg4rec::detail::cat(who, ": columns of x (item dimension)").c_str(), x.cols(), dim_);
    detail::check_finite(who, x);
  }

  kernels::codebook_search<float> search(index_t r) const {
    matrix<float> c = cmatrix_view<float>(books_[r].value()).eigen();
    if constexpr (Distance::normalise_codewords) c.rowwise().normalize();
    return kernels::codebook_search<float>(Distance::search_metric, c);
  }

  void init_codebooks(cmatrix_view<float> xb, std::uint64_t seed) {
    for (index_t r = 0; r < cfg_.experts; ++r) {
      matrix<float> z(xb.rows(), cfg_.latent_dim);
      experts_[r].infer(input(xb, r), z, thread_workspace());
      kmeans<Distance> km(cfg_.codebook_size);
      fit_options o;
      o.seed = seed + 101 * static_cast<std::uint64_t>(r);
      o.iterations = 20;
      km.fit(z, o);
      books_[r].value().eigen() = km.centroids().eigen();
    }
  }

  // γ·‖V̂V̂ᵀ − I‖²_F over the experts' flattened parameters; with `backward`, adds its gradient
  // to the experts' (main) gradients. Returns the term without γ.
  double orthogonality(bool backward) const {
    const index_t M = cfg_.experts;
    std::vector<std::vector<const nn::parameter_store<float>::entry*>> parts(static_cast<std::size_t>(M));
    for (const auto& e : ps_->entries())
      for (index_t r = 0; r < M; ++r)
        if (e.name.rfind("expert." + std::to_string(r) + ".", 0) == 0) parts[r].push_back(&e);
    auto value = [&](index_t r, auto&& f) {
      for (const auto* e : parts[r]) f(e->offset, e->rows * e->cols);
    };
    std::vector<double> norm(static_cast<std::size_t>(M), 0.0);
    const float* v = ps_->values().data();
    for (index_t r = 0; r < M; ++r)
      value(r, [&](index_t off, index_t n) {
        for (index_t i = 0; i < n; ++i) norm[r] += double(v[off + i]) * double(v[off + i]);
      });
    for (auto& x : norm) x = std::sqrt(std::max(x, 1e-30));
    matrix<double> G = matrix<double>::Identity(M, M);
    for (index_t a = 0; a < M; ++a)
      for (index_t b = a + 1; b < M; ++b) {
        if (!same_input(a, b)) continue;  // MMQ: orthogonal within each group only
        double dot = 0;
        // Experts of a group share one architecture, so their slices align entry by entry.
        for (std::size_t k = 0; k < parts[a].size(); ++k) {
          const float* pa = v + parts[a][k]->offset;
          const float* pb = v + parts[b][k]->offset;
          for (index_t i = 0; i < parts[a][k]->rows * parts[a][k]->cols; ++i) dot += double(pa[i]) * double(pb[i]);
        }
        G(a, b) = G(b, a) = dot / (norm[a] * norm[b]);
      }
    const matrix<double> E = G - matrix<double>::Identity(M, M);
    const double term = E.squaredNorm();
    if (backward && cfg_.gamma > 0) {
      // dL/dV̂ = 4γ(G − I)V̂; through V̂_r = V_r/‖V_r‖: dV_r = (dV̂_r − V̂_r(V̂_r·dV̂_r))/‖V_r‖.
      float* gr = ps_->grads().data();
      for (index_t r = 0; r < M; ++r) {
        // dV̂_r = 4γ Σ_b E_rb V̂_b ; V̂_r·dV̂_r = 4γ Σ_b E_rb G_rb.
        double proj = 0;
        for (index_t b = 0; b < M; ++b) proj += E(r, b) * G(r, b);
        proj *= 4 * cfg_.gamma;
        for (std::size_t k = 0; k < parts[r].size(); ++k) {
          const index_t n = parts[r][k]->rows * parts[r][k]->cols;
          float* g = gr + parts[r][k]->offset;
          const float* vr = v + parts[r][k]->offset;
          for (index_t i = 0; i < n; ++i) {
            double dvhat = 0;
            for (index_t b = 0; b < M; ++b)
              if (b != r && same_input(r, b)) dvhat += E(r, b) * double(v[parts[b][k]->offset + i]) / norm[b];
            dvhat *= 4 * cfg_.gamma;
            g[i] += float((dvhat - double(vr[i]) / norm[r] * proj) / norm[r]);
          }
        }
      }
    }
    return term;
  }

  double train_step(cmatrix_view<float> xb, double& rec) {
    const index_t n = xb.rows(), h = cfg_.latent_dim, M = cfg_.experts;
    // With the usage bias the search runs over the biased codebooks instead (codebook_balance).
    std::vector<kernels::codebook_search<float>> cs;
    std::vector<const kernels::codebook_search<float>*> biased(static_cast<std::size_t>(M), nullptr);
    for (index_t r = 0; r < M; ++r)
      if (balance_.biased())
        biased[r] = &balance_.prepare(r, books_[r].value());
      else
        cs.push_back(search(r));
    codes_.resize(n, M);
    const int shards = nn::shard_count(n);
    if (static_cast<int>(shards_.size()) < shards) shards_.resize(static_cast<std::size_t>(shards));
    latents_.resize(static_cast<std::size_t>(M));
    for (auto& z : latents_) z.resize(n, h);
    // Pass 1: the experts' latents of the whole batch (the cross-correlation term needs them all).
    nn::for_each_shard(n, [&](int s, index_t lo, index_t hi) {
      auto& st = shards_[static_cast<std::size_t>(s)];
      st.experts.resize(static_cast<std::size_t>(M));
      for (index_t r = 0; r < M; ++r)
        experts_[r].forward(input(xb.middle_rows(lo, hi - lo), r),
                            matrix_view<float>(latents_[r]).middle_rows(lo, hi - lo), st.experts[r]);
    });
    double decor = 0;
    if (cfg_.decorrelation > 0) {
      std::vector<cmatrix_view<float>> z(latents_.begin(), latents_.end());
      decor = cfg_.decorrelation * expert_cross_correlation<float>(z, &decor_grad_);
    }
    // Pass 2: quantise, decode, and back-propagate (same shards, so pass 1's activations fit).
    std::vector<double> loss(static_cast<std::size_t>(shards), 0.0), recon(static_cast<std::size_t>(shards), 0.0);
    const float inv_n = 1.0f / float(n), beta = float(cfg_.beta), lambda = float(cfg_.decorrelation);
    nn::data_parallel(*ps_, n, [&](int s, index_t lo, index_t hi) {
      auto& st = shards_[static_cast<std::size_t>(s)];
      const index_t m = hi - lo;
      const auto x = xb.middle_rows(lo, m);
      st.de.resize(static_cast<std::size_t>(M));
      auto gates = st.gates.view(m, M);
      router_.forward(x, gates);
      kernels::softmax<float>(gates, gates);
      auto q = st.q.view(m, h);
      q.eigen().setZero();
      auto idx = st.idx.flat(m);
      auto sc = st.score.flat(m);
      double quant = 0;
      st.expert_sq.assign(static_cast<std::size_t>(M), 0.0);
      for (index_t r = 0; r < M; ++r) {
        const auto e = cmatrix_view<float>(latents_[r]).middle_rows(lo, m);
        if (biased[r])
          biased[r]->nearest(codebook_balance::augment(e, st.augmented), idx, sc);
        else
          cs[r].nearest(e, idx, sc);
        const auto C = books_[r].value();
        for (index_t i = 0; i < m; ++i) {
          codes_(lo + i, r) = idx[i];
          const float* c = C.row_ptr(idx[i]);
          const float gr = gates(i, r);
          double qq = 0;
          for (index_t j = 0; j < h; ++j) {
            q(i, j) += gr * c[j];
            qq += double(e(i, j) - c[j]) * double(e(i, j) - c[j]);
          }
          quant += qq;
          st.expert_sq[r] += qq;
        }
      }
      auto xhat = st.xhat.view(m, dim_);
      dec_.forward(q, xhat, st.dec);
      auto dxhat = st.dxhat.view(m, dim_);
      const double r_loss = loss::mse<float>(xhat, x, dxhat, loss::mse_reduction::mean_rows, float(m) * inv_n);
      recon[s] = r_loss * double(m) * inv_n;
      loss[s] = recon[s] + (1.0 + cfg_.beta) * quant * inv_n;
      auto dq = st.dq.view(m, h);
      dec_.backward(q, dxhat, dq, st.dec);
      // Gates: dg_r = dq·C_r[c_r]; softmax backward into the router's pre-activations.
      auto da = st.da.view(m, M);
      for (index_t i = 0; i < m; ++i) {
        double mean = 0;
        for (index_t r = 0; r < M; ++r) {
          const float* c = books_[r].value().row_ptr(codes_(lo + i, r));
          double dg = 0;
          for (index_t j = 0; j < h; ++j) dg += double(dq(i, j)) * double(c[j]);
          da(i, r) = float(dg);
          mean += double(gates(i, r)) * dg;
        }
        for (index_t r = 0; r < M; ++r) da(i, r) = gates(i, r) * float(double(da(i, r)) - mean);
      }
      router_.backward(x, da, matrix_view<float>());
      // Each expert: straight-through gradient g_r·dq plus its commitment term (and the
      // cross-correlation term); codebook term.
      for (index_t r = 0; r < M; ++r) {
        const auto e = cmatrix_view<float>(latents_[r]).middle_rows(lo, m);
        auto de = st.de[r].view(m, h);
        const auto C = books_[r].value();
        auto G = books_[r].grad();
        for (index_t i = 0; i < m; ++i) {
          const auto c = codes_(lo + i, r);
          const float gr = gates(i, r);
          for (index_t j = 0; j < h; ++j) {
            const float diff = e(i, j) - C(c, j);
            de(i, j) = gr * dq(i, j) + 2.0f * beta * inv_n * diff;
            G(c, j) -= 2.0f * inv_n * diff;
          }
          if (lambda > 0)
            for (index_t j = 0; j < h; ++j) de(i, j) += lambda * decor_grad_[r](lo + i, j);
        }
        experts_[r].backward(input(x, r), de, matrix_view<float>(), st.experts[r]);
      }
    });
    double total = cfg_.gamma * orthogonality(true) + decor;
    rec = 0;
    expert_sq_.assign(static_cast<std::size_t>(M), 0.0);
    for (int s = 0; s < shards; ++s) {
      total += loss[static_cast<std::size_t>(s)];
      rec += recon[static_cast<std::size_t>(s)];
      for (index_t r = 0; r < M; ++r) expert_sq_[r] += shards_[static_cast<std::size_t>(s)].expert_sq[r] / double(n);
    }
    if (cfg_.balance.uniformity > 0)
      for (index_t r = 0; r < M; ++r) total += balance_.penalty(books_[r].value(), books_[r].grad());
    return total;
  }

  void reset_dead_codes(std::vector<std::vector<index_t>>& last_used, long long step, rng& g) {
    for (index_t r = 0; r < cfg_.experts; ++r) {
      auto C = books_[r].value();
      const auto& e = latents_[static_cast<std::size_t>(r)];
      for (index_t k = 0; k < cfg_.codebook_size; ++k) {
        if (step - last_used[r][k] < cfg_.dead_code_reset) continue;
        C.row(k).eigen() = e.row(static_cast<index_t>(g.below(static_cast<std::uint64_t>(e.rows()))));
        last_used[r][k] = step;
      }
    }
  }

  mpq_config cfg_;
  index_t dim_ = 0;
  std::unique_ptr<nn::parameter_store<float>> ps_;
  std::vector<column_range> inputs_;  // the columns each expert reads (resolved expert_inputs)
  std::vector<nn::mlp<float, nn::relu>> experts_;
  nn::linear<float> router_;
  nn::mlp<float, nn::relu> dec_;
  std::vector<nn::param<float>> books_;
  std::vector<float> mean_gates_;
  matrix<std::int32_t> codes_;
  std::vector<matrix<float>> latents_, decor_grad_;  // the batch's expert latents, dλ-term/dlatents
  std::vector<shard_state> shards_;
  std::vector<vae_epoch> history_;
  codebook_balance balance_;
  std::vector<double> expert_sq_;  // the last step's mean ‖e_r − C_r[c_r]‖² per expert
};

/// REG4Rec's tokenizer: four experts with 256-code books, L2 nearest codewords.
using reg4rec_mpq = mpq<l2_distance>;

}  // namespace reg4rec::quant
