// R3-VAE (SPEC §3.3): the RQ-VAE skeleton with three changes.
//  - A learnable reference vector r in the latent space anchors the features: α = z·r/‖r‖²,
//    first residual e₀ = z − α·r.
//  - Rating quantisation: at level l the residual rates every codeword by cosine,
//    s_k = cos(e_{l−1}, c_k), w = softmax(s/τ), q_l = Σ_k w_k·c_k, e_l = e_{l−1} − q_l. Training
//    is differentiable end to end (no straight-through); encoding takes argmax_k w_k along the
//    same chain.
//  - Semantic Cohesion and Preference Discrimination as a regulariser, λ·Σ_l (PD_l − SC_l). On a
//    training batch we use their differentiable surrogates: SC_l = mean_i Σ_k w_ik·s_ik (how
//    close items are to the codewords that claim them) and PD_l = log mean_{a<b}
//    exp(−2(1 − cos(c_a, c_b))) over level l's codewords (how well the groups' anchors are
//    told apart). stats() reports the exact metrics of §3.4 on the final SIDs.
// The decoder reads α·r + Σ_l q_l. decode(codes) has no α, so it uses the mean training α.
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
#include "reg4rec/kernels/softmax.hpp"
#include "reg4rec/loss/mse.hpp"
#include "reg4rec/nn/data_parallel.hpp"
#include "reg4rec/nn/mlp.hpp"
#include "reg4rec/optim/adamw.hpp"
#include "reg4rec/quant/quantizer.hpp"
#include "reg4rec/quant/rq_vae.hpp"
#include "reg4rec/quant/sid_metrics.hpp"

namespace reg4rec::quant {

namespace detail {

// One level of rating quantisation on a batch, forward and backward (any scalar type, so the
// gradients can be checked in double). E: (n, e) residuals in; C: (K, e) codewords.
template <class T>
struct rating_level {
  matrix<T> En, Cn, S, W;     // unit residuals, unit codewords, cosines, weights
  std::vector<T> enorm, cnorm;

  // Q = W·C (soft), or C[argmax W] with `hard` (the backward stays the soft one); returns
  // SC = (1/n_total)·Σ_i Σ_k W_ik S_ik over these rows.
  T forward(cmatrix_view<T> E, cmatrix_view<T> C, T tau, matrix_view<T> Q, index_t n_total, bool hard = false) {
    normalise(E, En, enorm);
    normalise(C, Cn, cnorm);
    S.noalias() = En * Cn.transpose();
    W = S / tau;
    kernels::softmax<T>(W, W);
    if (hard) {
      for (index_t i = 0; i < E.rows(); ++i) {
        Eigen::Index k;
        W.row(i).maxCoeff(&k);
        Q.row(i).eigen() = C.row(k).eigen();
      }
    } else {
      Q.eigen().noalias() = W * C.eigen();
    }
    return (W.array() * S.array()).sum() / T(n_total);
  }

  // dQ: gradient reaching Q; g_sc: weight of SC in the loss (−λ). Adds to dE and dC.
  void backward(cmatrix_view<T> /*E: the forward pass kept what it needs*/, cmatrix_view<T> C, T tau, cmatrix_view<T> dQ, T g_sc, index_t n_total,
                matrix_view<T> dE, matrix_view<T> dC) const {
    const T scn = g_sc / T(n_total);
    matrix<T> dW = dQ.eigen() * C.eigen().transpose();
    dW += scn * S;
    dC.eigen().noalias() += W.transpose() * dQ.eigen();
    // softmax backward, plus SC's direct dependence on S
    matrix<T> dS(W.rows(), W.cols());
    for (index_t i = 0; i < W.rows(); ++i) {
      const T dot = W.row(i).dot(dW.row(i));
      dS.row(i) = (W.row(i).array() * (dW.row(i).array() - dot)).matrix() / tau + scn * W.row(i);
    }
    const matrix<T> dEn = dS * Cn;
    const matrix<T> dCn = dS.transpose() * En;
    normalise_backward(En, enorm, dEn, dE);
    normalise_backward(Cn, cnorm, dCn, dC);
  }

  static void normalise(cmatrix_view<T> X, matrix<T>& Xn, std::vector<T>& norms) {
    Xn = X.eigen();
    norms.resize(static_cast<std::size_t>(X.rows()));
    for (index_t i = 0; i < X.rows(); ++i) {
      norms[i] = std::max(Xn.row(i).norm(), T(1e-12));
      Xn.row(i) /= norms[i];
    }
  }
  // x = x̂·‖x‖: dx += (dx̂ − x̂(x̂·dx̂))/‖x‖.
  static void normalise_backward(const matrix<T>& Xn, const std::vector<T>& norms, const matrix<T>& dXn,
                                 matrix_view<T> dX) {
    for (index_t i = 0; i < Xn.rows(); ++i) {
      const T p = Xn.row(i).dot(dXn.row(i));
      dX.row(i).eigen() += ((dXn.row(i) - p * Xn.row(i)) / norms[i]).transpose();
    }
  }
};

// PD surrogate over a codebook: log mean_{a<b} exp(2·cos(c_a, c_b) − 2); with g ≠ 0 adds
// g·dPD/dC to dC.
template <class T>
T codeword_discrimination(cmatrix_view<T> C, T g, matrix_view<T> dC) {
  const index_t K = C.rows();
  if (K < 2) return T(0);
  matrix<T> Cn;
  std::vector<T> norms;
  rating_level<T>::normalise(C, Cn, norms);
  const matrix<T> G = Cn * Cn.transpose();
  // Stable log-sum-exp over the pairs a < b of 2G − 2 (bounded by 0).
  matrix<T> P = ((2 * G).array() - 2).exp().matrix();
  P.diagonal().setZero();
  const T total = P.sum() / 2;  // each pair once
  const T pd = std::log(total / (T(K) * T(K - 1) / 2));
  if (g != T(0)) {
    // dPD/dG_ab = 2·exp(2G_ab − 2)/total for a < b; dĈ = 2·(P/total)·Ĉ (P symmetric).
    const matrix<T> dCn = (g * 2 / total) * (P * Cn);
    rating_level<T>::normalise_backward(Cn, norms, dCn, dC);
  }
  return pd;
}

}  // namespace detail

struct r3_vae_config {
  std::vector<index_t> hidden{512, 256, 128};
  index_t latent_dim = 32;
  index_t levels = 3;
  index_t codebook_size = 256;
  double tau = 1.0;
  double lambda = 0.01;
  index_t epochs = 100;
  index_t batch_size = 1024;
  double lr = 5e-4;
  double weight_decay = 0.0;
  // false (SPEC §3.3): soft codeword mixtures in training. true (the estimator of SPEC §3.6):
  // the argmax codeword in the forward pass, the soft rating's gradient in the backward pass,
  // so that reconstruction depends on the discrete codes.
  bool hard_forward = false;
};

class r3_vae {
 public:
  explicit r3_vae(r3_vae_config c = {}) : cfg_(std::move(c)) {
    require(cfg_.levels >= 1 && cfg_.codebook_size >= 2 && cfg_.latent_dim >= 1 && cfg_.tau > 0,
            "r3_vae: levels ≥ 1, codebook size ≥ 2, latent dimension ≥ 1 and τ > 0 needed");
  }

  const r3_vae_config& config() const noexcept { return cfg_; }
  index_t num_codebooks() const noexcept { return cfg_.levels; }
  index_t codebook_size() const noexcept { return cfg_.codebook_size; }
  index_t dim() const noexcept { return dim_; }
  bool ordered() const noexcept { return true; }
  const std::vector<vae_epoch>& history() const noexcept { return history_; }
  nn::parameter_store<float>& params() { return *ps_; }

  void fit(cmatrix_view<float> x, const fit_options& fo = {}) {
    require(x.rows() >= cfg_.codebook_size, "r3_vae::fit: ", x.rows(), " items for ", cfg_.codebook_size,
            " codes (K > n)");
    require(x.cols() >= 1, "r3_vae::fit: the item vectors have no columns");
    detail::check_finite("r3_vae::fit", x);
    build(x.cols(), fo.seed);
    const auto step = [&](cmatrix_view<float> xb, double& rec) { return train_step(xb, rec); };
    history_ = detail::fit_vae_epochs(
        x, cfg_.epochs, cfg_.batch_size, cfg_.lr, cfg_.weight_decay, *ps_, codes_, cfg_.levels, cfg_.codebook_size,
        rng(fo.seed ^ 0x523356ULL), fo, "r3-vae", "r3_vae::fit", [](cmatrix_view<float>, long long) {}, step,
        [](long long, rng&, std::vector<std::vector<index_t>>&) {});
    // Mean α of the training items, for decode().
    const auto z = latents(x);
    const auto r = ref_.value().eigen().row(0);
    mean_alpha_ = float((z * r.transpose()).mean() / std::max(1e-12f, r.squaredNorm()));
  }

  matrix<float> latents(cmatrix_view<float> x) const {
    check_ready("r3_vae::latents", x);
    matrix<float> z(x.rows(), cfg_.latent_dim);
    parallel_for(0, x.rows(), 512, [&](index_t lo, index_t hi) {
      enc_.infer(x.middle_rows(lo, hi - lo), matrix_view<float>(z).middle_rows(lo, hi - lo), thread_workspace());
    });
    return z;
  }

  /// Codes: argmax_k w_k at each level along the soft residual chain used in training.
  void encode(cmatrix_view<float> x, matrix_view<std::int32_t> codes) const {
    check_dim("r3_vae::encode: rows of codes", codes.rows(), x.rows());
    check_dim("r3_vae::encode: columns of codes (levels)", codes.cols(), cfg_.levels);
    const auto z = latents(x);
    parallel_for(0, x.rows(), 256, [&](index_t lo, index_t hi) {
      const index_t m = hi - lo;
      matrix<float> E = residual0(cmatrix_view<float>(z).middle_rows(lo, m)), Q(m, cfg_.latent_dim);
      detail::rating_level<float> lvl;
      for (index_t l = 0; l < cfg_.levels; ++l) {
        lvl.forward(E, books_[l].value(), float(cfg_.tau), Q, m, cfg_.hard_forward);
        for (index_t i = 0; i < m; ++i) {
          Eigen::Index k;
          lvl.W.row(i).maxCoeff(&k);
          codes(lo + i, l) = static_cast<std::int32_t>(k);
        }
        E -= Q;
      }
    });
  }
  matrix<std::int32_t> encode(cmatrix_view<float> x) const {
    matrix<std::int32_t> c(x.rows(), cfg_.levels);
    encode(x, c);
    return c;
  }

  /// x̂ = D(ᾱ·r + Σ_l C_l[codes_l]), ᾱ the mean training α.
  void decode(cmatrix_view<std::int32_t> codes, matrix_view<float> out) const {
    require(ps_ != nullptr, "r3_vae::decode: the model is not trained");
    check_dim("r3_vae::decode: columns of codes (levels)", codes.cols(), cfg_.levels);
    check_dim("r3_vae::decode: rows of out", out.rows(), codes.rows());
    check_dim("r3_vae::decode: columns of out", out.cols(), dim_);
    matrix<float> zq(codes.rows(), cfg_.latent_dim);
    for (index_t i = 0; i < codes.rows(); ++i) {
      zq.row(i) = mean_alpha_ * ref_.value().eigen().row(0);
      for (index_t l = 0; l < cfg_.levels; ++l) {
        const auto c = codes(i, l);
        if (c < 0 || c >= cfg_.codebook_size)
          throw value_error(reg4rec::detail::cat("r3_vae::decode: code ", c, " of item ", i, " at level ", l,
                                                 " is outside [0, ", cfg_.codebook_size, ")"));
        zq.row(i) += books_[l].value().eigen().row(c);
      }
    }
    parallel_for(0, codes.rows(), 512, [&](index_t lo, index_t hi) {
      dec_.infer(cmatrix_view<float>(zq).middle_rows(lo, hi - lo), out.middle_rows(lo, hi - lo), thread_workspace());
    });
  }

  sid_stats stats(cmatrix_view<float> x, const sid_metric_options& o = {}) const {
    const auto codes = encode(x);
    return compute_sid_stats(codes, cfg_.codebook_size, x, o);
  }

  void save(const std::string& path) const {
    require(ps_ != nullptr, "r3_vae::save: the model is not trained");
    io::binary_writer w(path, "r3_vae");
    std::vector<std::int64_t> ints{dim_, cfg_.latent_dim, cfg_.levels, cfg_.codebook_size, cfg_.hard_forward ? 1 : 0};
    ints.insert(ints.end(), cfg_.hidden.begin(), cfg_.hidden.end());
    w.put("config.int", ints);
    w.put("config.real", std::vector<double>{cfg_.tau, cfg_.lambda, double(mean_alpha_)});
    for (const auto& e : ps_->entries())
      w.put<float>("param/" + e.name, cspan<float>(ps_->values().data() + e.offset, e.rows * e.cols), {e.rows, e.cols});
    w.commit();
  }

  void load(const std::string& path) {
    io::binary_reader r(path, "r3_vae");
    const auto ints = r.get_vector<std::int64_t>("config.int");
    const auto real = r.get_vector<double>("config.real");
    if (ints.size() < 5 || real.size() != 3) r.fail("config", "unexpected configuration records");
    cfg_.latent_dim = ints[1];
    cfg_.levels = ints[2];
    cfg_.codebook_size = ints[3];
    cfg_.hard_forward = ints[4] != 0;
    cfg_.hidden.assign(ints.begin() + 5, ints.end());
    cfg_.tau = real[0];
    cfg_.lambda = real[1];
    mean_alpha_ = float(real[2]);
    build(ints[0], 0);
    for (const auto& e : ps_->entries())
      r.get<float>("param/" + e.name, span<float>(ps_->values().data() + e.offset, e.rows * e.cols), {e.rows, e.cols});
  }

 private:
  struct shard_state {
    typename nn::mlp<float, nn::relu>::activations enc, dec;
    std::vector<detail::rating_level<float>> levels;
    std::vector<matrix<float>> E;  // residual entering each level
    nn::buffer<float> z, zq, xhat, dxhat, dzq;
    std::vector<float> alpha;
    index_t rows = 0;
  };

  void build(index_t d, std::uint64_t seed) {
    dim_ = d;
    ps_ = std::make_unique<nn::parameter_store<float>>();
    std::vector<index_t> ew{d};
    ew.insert(ew.end(), cfg_.hidden.begin(), cfg_.hidden.end());
    ew.push_back(cfg_.latent_dim);
    std::vector<index_t> dw(ew.rbegin(), ew.rend());
    enc_ = nn::mlp<float, nn::relu>(*ps_, "encoder", ew);
    dec_ = nn::mlp<float, nn::relu>(*ps_, "decoder", dw);
    ref_ = ps_->add("reference", 1, cfg_.latent_dim, false);
    books_.clear();
    for (index_t l = 0; l < cfg_.levels; ++l)
      books_.push_back(ps_->add("codebook." + std::to_string(l), cfg_.codebook_size, cfg_.latent_dim, false));
    rng g(seed);
    enc_.init(g);
    dec_.init(g);
    nn::init_normal(ref_.value(), 1.0f, g);
    for (auto& b : books_) nn::init_normal(b.value(), 0.5f, g);
  }

  void check_ready(const char* who, cmatrix_view<float> x) const {
    require(ps_ != nullptr, who, ": the model is not trained");
    check_dim(reg4rec::detail::cat(who, ": columns of x (item dimension)").c_str(), x.cols(), dim_);
    detail::check_finite(who, x);
  }

  // e₀ = z − α·r with α = z·r/‖r‖².
  matrix<float> residual0(cmatrix_view<float> z, std::vector<float>* alpha = nullptr) const {
    const auto r = ref_.value().eigen().row(0);
    const float rr = std::max(1e-12f, r.squaredNorm());
    matrix<float> E = z.eigen();
    if (alpha) alpha->resize(static_cast<std::size_t>(z.rows()));
    for (index_t i = 0; i < z.rows(); ++i) {
      const float a = z.row(i).eigen().dot(r.transpose()) / rr;
      if (alpha) (*alpha)[i] = a;
      E.row(i) -= a * r;
    }
    return E;
  }

  double train_step(cmatrix_view<float> xb, double& rec) {
    const index_t n = xb.rows(), e = cfg_.latent_dim, L = cfg_.levels;
    codes_.resize(n, L);
    const int shards = nn::shard_count(n);
    if (static_cast<int>(shards_.size()) < shards) shards_.resize(static_cast<std::size_t>(shards));
    std::vector<double> loss(static_cast<std::size_t>(shards), 0.0), recon(static_cast<std::size_t>(shards), 0.0);
    const float inv_n = 1.0f / float(n), tau = float(cfg_.tau), lam = float(cfg_.lambda);
    nn::data_parallel(*ps_, n, [&](int s, index_t lo, index_t hi) {
      auto& st = shards_[static_cast<std::size_t>(s)];
      const index_t m = hi - lo;
      st.rows = m;
      const auto x = xb.middle_rows(lo, m);
      auto z = st.z.view(m, e);
      enc_.forward(x, z, st.enc);
      st.levels.resize(static_cast<std::size_t>(L));
      st.E.resize(static_cast<std::size_t>(L + 1));
      st.E[0] = residual0(z, &st.alpha);
      const auto r = ref_.value().eigen().row(0);
      auto zq = st.zq.view(m, e);
      for (index_t i = 0; i < m; ++i) zq.row(i).eigen() = (st.alpha[i] * r).transpose();
      double sc = 0;
      matrix<float> Q(m, e);
      for (index_t l = 0; l < L; ++l) {
        sc += st.levels[l].forward(st.E[l], books_[l].value(), tau, Q, n, cfg_.hard_forward);
        zq.eigen() += Q;
        st.E[l + 1] = st.E[l] - Q;
        for (index_t i = 0; i < m; ++i) {
          Eigen::Index k;
          st.levels[l].W.row(i).maxCoeff(&k);
          codes_(lo + i, l) = static_cast<std::int32_t>(k);
        }
      }
      auto xhat = st.xhat.view(m, dim_);
      dec_.forward(zq, xhat, st.dec);
      auto dxhat = st.dxhat.view(m, dim_);
      const double r_loss = loss::mse<float>(xhat, x, dxhat, loss::mse_reduction::mean_rows, float(m) * inv_n);
      recon[s] = r_loss * double(m) * inv_n;
      loss[s] = recon[s] - double(lam) * sc;
      auto dzq = st.dzq.view(m, e);
      dec_.backward(zq, dxhat, dzq, st.dec);
      // Back through the levels: e_l = e_{l−1} − q_l, and every q_l feeds the decoder input.
      matrix<float> dE = matrix<float>::Zero(m, e), dQ(m, e);
      for (index_t l = L - 1; l >= 0; --l) {
        dQ = dzq.eigen() - dE;  // q_l reaches the decoder directly and the later residuals negatively
        st.levels[l].backward(st.E[l], books_[l].value(), tau, dQ, -lam, n, dE, books_[l].grad());
      }
      // e₀ = z − α·r, decoder input += α·r, α = z·r/‖r‖².
      const float rr = std::max(1e-12f, r.squaredNorm());
      auto dz = st.dzq.view(m, e);  // dzq is consumed: reuse its storage for dz
      matrix<float> dzq_copy = dzq.eigen();
      auto gref = ref_.grad().eigen().row(0);
      for (index_t i = 0; i < m; ++i) {
        const auto zi = z.row(i).eigen();
        const float a = st.alpha[i];
        const auto g0 = dE.row(i);
        const auto gq = dzq_copy.row(i);
        // d/dα and d/dr of (α·r into the decoder) and (−α·r into e₀)
        const float dalpha = gq.dot(r) - g0.dot(r);
        gref += a * (gq - g0);
        dz.row(i).eigen() = (g0 + dalpha / rr * r).transpose();
        gref += dalpha * (zi.transpose() / rr - 2.0f * zi.dot(r.transpose()) / (rr * rr) * r);
      }
      enc_.backward(x, dz, matrix_view<float>(), st.enc);
    });
    // PD over each codebook (parameters only: once per step, into the main gradients).
    double pd = 0;
    for (index_t l = 0; l < L; ++l)
      pd += detail::codeword_discrimination<float>(books_[l].value(), float(cfg_.lambda), books_[l].grad());
    double total = cfg_.lambda * pd;
    rec = 0;
    for (int s = 0; s < shards; ++s) {
      total += loss[static_cast<std::size_t>(s)];
      rec += recon[static_cast<std::size_t>(s)];
    }
    return total;
  }

  r3_vae_config cfg_;
  index_t dim_ = 0;
  std::unique_ptr<nn::parameter_store<float>> ps_;
  nn::mlp<float, nn::relu> enc_, dec_;
  nn::param<float> ref_;
  std::vector<nn::param<float>> books_;
  float mean_alpha_ = 0;
  matrix<std::int32_t> codes_;
  std::vector<shard_state> shards_;
  std::vector<vae_epoch> history_;
};

}  // namespace reg4rec::quant
