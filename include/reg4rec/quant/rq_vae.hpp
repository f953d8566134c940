// RQ-VAE (TIGER; SPEC §3.2): an MLP encoder maps an item vector to a latent z, L levels of
// residual quantisation turn z into L codes, an MLP decoder reconstructs the item from the
// sum of the chosen codewords.
//
//   loss = (1/n)·Σ‖x − x̂‖² + (1/n)·Σ_l Σ_i ( ‖sg(r_l) − q_l‖² + β·‖r_l − sg(q_l)‖² )
//
// with r_0 = z, q_l = C_l[nearest(r_l)], r_{l+1} = r_l − sg(q_l): each level's commitment term
// pulls the encoder output towards its own reconstruction; codewords move by the codebook
// term only. The decoder reads ẑ = Σ q_l; the gradient reaches z through the estimator policy:
//   straight_through  dz = dẑ;
//   rotation_trick    dz = (‖ẑ‖/‖z‖)·Rᵀ·dẑ, R the rotation taking z/‖z‖ to ẑ/‖ẑ‖ in their
//                     plane (Fifty et al. 2024): the gradient is turned as the quantiser turned z.
// Codebooks start as k-means of the first batch's residuals (kmeans_init); codes unused for
// `dead_code_reset` steps are reset to residuals drawn from the current batch. S²GR's
// usage-balanced assignment and uniformity penalty (rq_vae_config::balance, off by default)
// are described in quant/codebook_balance.hpp; the penalty adds to the loss.
#pragma once

#include <algorithm>
#include <chrono>
#include <numeric>
#include <cmath>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "reg4rec/core/progress.hpp"
#include "reg4rec/io/binary.hpp"
#include "reg4rec/kernels/nearest.hpp"
#include "reg4rec/loss/mse.hpp"
#include "reg4rec/nn/data_parallel.hpp"
#include "reg4rec/nn/mlp.hpp"
#include "reg4rec/optim/adamw.hpp"
#include "reg4rec/quant/codebook_balance.hpp"
#include "reg4rec/quant/kmeans.hpp"
#include "reg4rec/quant/quantizer.hpp"
#include "reg4rec/quant/residual_encode.hpp"
#include "reg4rec/quant/sid_metrics.hpp"

namespace reg4rec::quant {

/// Gradient estimator: the decoder's gradient passes to the encoder unchanged.
struct straight_through {
  static constexpr const char* name = "straight-through";
};
/// Gradient estimator: the rotation trick (the gradient is rotated and scaled as the map
/// from z to its quantisation ẑ would, treating that map as a fixed rotation + scaling).
struct rotation_trick {
  static constexpr const char* name = "rotation trick";
};

struct rq_vae_config {
  std::vector<index_t> hidden{512, 256, 128};  // encoder hidden widths; the decoder mirrors them
  index_t latent_dim = 32;
  index_t levels = 3;
  index_t codebook_size = 256;
  double beta = 0.25;
  index_t epochs = 100;
  index_t batch_size = 1024;
  double lr = 1e-3;
  double weight_decay = 0.0;
  bool kmeans_init = true;
  index_t dead_code_reset = 20;  // steps a code may stay unused before it is reset (0: never)
  index_t encode_beam = 1;      // beam width of encode()
  codebook_balance_options balance;  // S²GR codebook optimisation (training only; l2_distance)
};

/// One epoch of training as logged.
struct vae_epoch {
  index_t epoch = 0;
  double loss = 0, reconstruction = 0;
  std::vector<double> utilisation;  // per codebook, over the epoch's assignments
  double seconds = 0;
  index_t skipped_steps = 0;  // steps dropped for a non-finite loss or gradient (fit_options::nonfinite)
};

namespace detail {
// xb ← the rows order[first .. first + xb.rows()) of x: a training batch (split across threads).
inline void gather_batch(cmatrix_view<float> x, const std::vector<index_t>& order, index_t first,
                         matrix_view<float> xb) {
  parallel_for(0, xb.rows(), 64, [&](index_t lo, index_t hi) {
    for (index_t i = lo; i < hi; ++i) {
      const float* src = x.row_ptr(order[static_cast<std::size_t>(first + i)]);
      std::copy(src, src + x.cols(), xb.row_ptr(i));
    }
  });
}

// The epoch loop of the VAE quantizers (RQ-VAE, R3-VAE, MPQ), AdamW (β 0.9, 0.999) on `ps`;
// `name` labels the progress bars, `who` the guard's errors.
// Each epoch shuffles the rows of x with its own fork of `g` and cuts them into n / B full
// batches (the last partial one is dropped: every step sees B rows). Per batch, at global step
// t: `before(xb, t)`; gradients zeroed; `step(xb, rec)` (forward + backward, returns the loss
// and writes its reconstruction part to rec) under the non-finite guard, a value_error from it
// counting as a non-finite loss (the inputs were checked, so non-finite activations reached
// the code search); then, when the guard lets the step through, the optimizer step, the code
// counts of `codes` (B × codebooks, written by the step), each code's last step of use
// last_used[c][k], and `after(t, epoch_rng, last_used)` (dead-code resets, which also update
// last_used). Returns one vae_epoch per epoch, with losses averaged over the applied steps and
// each codebook's utilisation over the epoch's assignments.
template <class Before, class Step, class After>
std::vector<vae_epoch> fit_vae_epochs(cmatrix_view<float> x, index_t epochs, index_t batch_size, double lr,
                                      double weight_decay, nn::parameter_store<float>& ps,
                                      const matrix<std::int32_t>& codes, index_t codebooks, index_t codebook_size,
                                      rng g, const fit_options& fo, const std::string& name, const char* who,
                                      Before before, Step step_fn, After after) {
  const index_t n = x.rows(), B = std::min(batch_size, n), steps = n / B;
  optim::adamw opt({lr, 0.9, 0.999, 1e-8, weight_decay});
  auto st = opt.init(ps);
  std::vector<index_t> order(static_cast<std::size_t>(n));
  std::iota(order.begin(), order.end(), 0);
  matrix<float> xb(B, x.cols());
  optim::nonfinite_guard guard(who, fo.nonfinite);
  index_t skipped_total = 0;
  long long t = 0;
  std::vector<std::vector<index_t>> last_used(static_cast<std::size_t>(codebooks),
                                              std::vector<index_t>(static_cast<std::size_t>(codebook_size), 0));
  std::vector<vae_epoch> history;
  for (index_t epoch = 0; epoch < epochs; ++epoch) {
    const auto t0 = std::chrono::steady_clock::now();
    rng eg = g.fork(static_cast<std::uint64_t>(epoch));
    eg.shuffle(order.begin(), order.end());
    std::vector<std::vector<index_t>> counts(static_cast<std::size_t>(codebooks),
                                             std::vector<index_t>(static_cast<std::size_t>(codebook_size), 0));
    progress bar(fo.label.empty() ? name + " epoch " + std::to_string(epoch + 1) : fo.label, steps, fo.log, "steps");
    double loss_sum = 0, rec_sum = 0;
    for (index_t s = 0; s < steps; ++s, ++t) {
      gather_batch(x, order, s * B, xb);
      before(xb, t);
      ps.zero_grad();
      double loss, rec = 0;
      std::string cause;
      try {
        loss = step_fn(xb, rec);
      } catch (const value_error& e) {
        loss = std::numeric_limits<double>::quiet_NaN();
        cause = e.what();
      }
      if (!guard.check(loss, ps, epoch + 1, t, "loss", cause)) {
        bar.advance(1, "skipped");
        continue;
      }
      opt.step(ps, st);
      loss_sum += loss;
      rec_sum += rec;
      for (index_t c = 0; c < codebooks; ++c)
        for (index_t i = 0; i < B; ++i) {
          ++counts[c][codes(i, c)];
          last_used[c][codes(i, c)] = static_cast<index_t>(t);
        }
      after(t, eg, last_used);
      char note[64];
      std::snprintf(note, sizeof note, "loss %.4f", loss_sum / double(s + 1));
      bar.advance(1, note);
    }
    vae_epoch rec;
    rec.epoch = epoch + 1;
    rec.skipped_steps = guard.skipped() - skipped_total;
    skipped_total = guard.skipped();
    guard.end_epoch(epoch + 1);
    const index_t applied = std::max<index_t>(steps - rec.skipped_steps, 1);
    rec.loss = loss_sum / double(applied);
    rec.reconstruction = rec_sum / double(applied);
    for (const auto& c : counts) {
      index_t used = 0;
      for (index_t k : c) used += k > 0;
      rec.utilisation.push_back(double(used) / double(c.size()));
    }
    rec.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    const auto [lo, hi] = std::minmax_element(rec.utilisation.begin(), rec.utilisation.end());
    char note[128];
    std::snprintf(note, sizeof note, "loss %.4f, reconstruction %.4f, utilisation %.2f-%.2f", rec.loss,
                  rec.reconstruction, *lo, *hi);
    bar.finish(note);
    history.push_back(std::move(rec));
  }
  return history;
}
}  // namespace detail

template <class Distance = l2_distance, class Estimator = straight_through>
class rq_vae {
  static_assert(is_distance_policy_v<Distance>, "rq_vae: Distance must be l2_distance or cosine_distance");
  static_assert(std::is_same_v<Estimator, straight_through> || std::is_same_v<Estimator, rotation_trick>,
                "rq_vae: Estimator must be straight_through or rotation_trick");

 public:
  explicit rq_vae(rq_vae_config c = {}) : cfg_(std::move(c)) {
    require(cfg_.levels >= 1 && cfg_.codebook_size >= 2 && cfg_.latent_dim >= 1, "rq_vae: levels, codebook size and ",
            "latent dimension must be positive (codebook size at least 2)");
    require(cfg_.batch_size >= cfg_.codebook_size || !cfg_.kmeans_init, "rq_vae: batch_size ", cfg_.batch_size,
            " is smaller than the codebook size ", cfg_.codebook_size, " (k-means initialisation needs a batch per code)");
    cfg_.balance.validate("rq_vae");
    require(cfg_.balance.usage_bias == 0 || std::is_same_v<Distance, l2_distance>,
            "rq_vae: balance.usage_bias needs l2_distance");
  }

  const rq_vae_config& config() const noexcept { return cfg_; }
  index_t num_codebooks() const noexcept { return cfg_.levels; }
  index_t codebook_size() const noexcept { return cfg_.codebook_size; }
  index_t dim() const noexcept { return dim_; }
  bool ordered() const noexcept { return true; }
  const std::vector<vae_epoch>& history() const noexcept { return history_; }
  nn::parameter_store<float>& params() { return *ps_; }

  /// Trains on x: (n, d); n ≥ codebook_size. fit_options: seed and log are read.
  void fit(cmatrix_view<float> x, const fit_options& fo = {}) {
    require(x.rows() >= cfg_.codebook_size, "rq_vae::fit: ", x.rows(), " items for ", cfg_.codebook_size,
            " codes (K > n)");
    require(x.cols() >= 1, "rq_vae::fit: the item vectors have no columns");
    detail::check_finite("rq_vae::fit", x);
    build(x.cols(), fo.seed);
    const index_t L = cfg_.levels, K = cfg_.codebook_size;
    balance_ = codebook_balance(cfg_.balance, L, K);
    const auto before = [&](cmatrix_view<float> xb, long long t) {
      if (t == 0 && cfg_.kmeans_init) init_codebooks(xb, fo.seed);
    };
    const auto step = [&](cmatrix_view<float> xb, double& rec) { return train_step(xb, rec); };
    const auto after = [&](long long t, rng& eg, std::vector<std::vector<index_t>>& last_used) {
      if (balance_.biased()) balance_.record(codes_, level_sq_);
      if (cfg_.dead_code_reset > 0) reset_dead_codes(last_used, t, eg);
    };
    history_ = detail::fit_vae_epochs(x, cfg_.epochs, cfg_.batch_size, cfg_.lr, cfg_.weight_decay, *ps_, codes_, L, K,
                                      rng(fo.seed ^ 0x52515641ULL), fo, "rq-vae", "rq_vae::fit", before, step,
                                      after);
    refresh_encoder();
  }

  /// Latents z = E(x): (n, latent_dim).
  matrix<float> latents(cmatrix_view<float> x) const {
    check_ready("rq_vae::latents", x);
    matrix<float> z(x.rows(), cfg_.latent_dim);
    parallel_for(0, x.rows(), 512, [&](index_t lo, index_t hi) {
      enc_.infer(x.middle_rows(lo, hi - lo), matrix_view<float>(z).middle_rows(lo, hi - lo), thread_workspace());
    });
    return z;
  }

  void encode(cmatrix_view<float> x, matrix_view<std::int32_t> codes) const {
    check_dim("rq_vae::encode: rows of codes", codes.rows(), x.rows());
    check_dim("rq_vae::encode: columns of codes (levels)", codes.cols(), cfg_.levels);
    const auto z = latents(x);
    encoder_->encode(z, cfg_.encode_beam, codes);
  }
  matrix<std::int32_t> encode(cmatrix_view<float> x) const {
    matrix<std::int32_t> c(x.rows(), cfg_.levels);
    encode(x, c);
    return c;
  }

  /// x̂ = D(Σ_l C_l[codes_l]): (n, d).
  void decode(cmatrix_view<std::int32_t> codes, matrix_view<float> out) const {
    require(ps_ != nullptr, "rq_vae::decode: the model is not trained");
    check_dim("rq_vae::decode: columns of codes (levels)", codes.cols(), cfg_.levels);
    check_dim("rq_vae::decode: rows of out", out.rows(), codes.rows());
    check_dim("rq_vae::decode: columns of out", out.cols(), dim_);
    matrix<float> zq(codes.rows(), cfg_.latent_dim);
    encoder_->decode(codes, zq);
    parallel_for(0, codes.rows(), 512, [&](index_t lo, index_t hi) {
      dec_.infer(cmatrix_view<float>(zq).middle_rows(lo, hi - lo), out.middle_rows(lo, hi - lo), thread_workspace());
    });
  }

  sid_stats stats(cmatrix_view<float> x, const sid_metric_options& o = {}) const {
    const auto codes = encode(x);
    return compute_sid_stats(codes, cfg_.codebook_size, x, o);
  }

  /// Codebook of level l: (K, latent_dim).
  cmatrix_view<float> codebook(index_t l) const { return books_[static_cast<std::size_t>(l)].value(); }

  void save(const std::string& path) const {
    require(ps_ != nullptr, "rq_vae::save: the model is not trained");
    io::binary_writer w(path, "rq_vae");
    std::vector<std::int64_t> ints{dim_, cfg_.latent_dim, cfg_.levels, cfg_.codebook_size, cfg_.encode_beam};
    ints.insert(ints.end(), cfg_.hidden.begin(), cfg_.hidden.end());
    w.put("config.int", ints);
    w.put("config.beta", std::vector<double>{cfg_.beta});
    w.put_string("policies", std::string(Distance::name) + "/" + Estimator::name);
    for (const auto& e : ps_->entries())
      w.put<float>("param/" + e.name, cspan<float>(ps_->values().data() + e.offset, e.rows * e.cols), {e.rows, e.cols});
    w.commit();
  }

  void load(const std::string& path) {
    io::binary_reader r(path, "rq_vae");
    const std::string pol = r.get_string("policies");
    if (pol != std::string(Distance::name) + "/" + Estimator::name)
      r.fail("policies", "holds an rq_vae with policies " + pol + ", this one is " + Distance::name + "/" + Estimator::name);
    const auto ints = r.get_vector<std::int64_t>("config.int");
    if (ints.size() < 5) r.fail("config.int", "too short");
    cfg_.latent_dim = ints[1];
    cfg_.levels = ints[2];
    cfg_.codebook_size = ints[3];
    cfg_.encode_beam = ints[4];
    cfg_.hidden.assign(ints.begin() + 5, ints.end());
    cfg_.beta = r.get_vector<double>("config.beta").at(0);
    build(ints[0], 0);
    for (const auto& e : ps_->entries())
      r.get<float>("param/" + e.name, span<float>(ps_->values().data() + e.offset, e.rows * e.cols), {e.rows, e.cols});
    refresh_encoder();
  }

 private:
  struct shard_state {
    typename nn::mlp<float, nn::relu>::activations enc, dec;
    nn::buffer<float> z, zq, xhat, dxhat, dzq, dz, resid, score, augmented;
    nn::buffer<std::int32_t> idx;
    std::vector<double> level_sq;  // per level, Σ‖r_l − q_l‖² over the shard's rows
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
    books_.clear();
    for (index_t l = 0; l < cfg_.levels; ++l)
      books_.push_back(ps_->add("codebook." + std::to_string(l), cfg_.codebook_size, cfg_.latent_dim, false));
    rng g(seed);
    enc_.init(g);
    dec_.init(g);
    for (auto& b : books_) nn::init_normal(b.value(), 0.1f, g);
    codes_.resize(0, cfg_.levels);
  }

  void check_ready(const char* who, cmatrix_view<float> x) const {
    require(ps_ != nullptr, who, ": the model is not trained");
    check_dim(reg4rec::detail::cat(who, ": columns of x (item dimension)").c_str(), x.cols(), dim_);
    detail::check_finite(who, x);
  }

  void refresh_encoder() {
    std::vector<matrix<float>> books;
    for (const auto& b : books_) books.emplace_back(cmatrix_view<float>(b.value()).eigen());
    encoder_ = std::make_shared<residual_encoder<Distance>>(books);
  }

  // Codebooks ← k-means of the first batch's latents and residuals, level by level.
  void init_codebooks(cmatrix_view<float> xb, std::uint64_t seed) {
    matrix<float> r = latents_unchecked(xb);
    for (index_t l = 0; l < cfg_.levels; ++l) {
      kmeans<Distance> km(cfg_.codebook_size);
      fit_options o;
      o.seed = seed + static_cast<std::uint64_t>(l);
      o.iterations = 20;
      km.fit(r, o);
      books_[l].value().eigen() = km.centroids().eigen();
      const auto labels = km.encode(r);
      for (index_t i = 0; i < r.rows(); ++i) r.row(i) -= km.centroids().eigen().row(labels(i, 0));
    }
  }

  matrix<float> latents_unchecked(cmatrix_view<float> x) const {
    matrix<float> z(x.rows(), cfg_.latent_dim);
    enc_.infer(x, z, thread_workspace());
    return z;
  }

  // One batch: forward, losses, backward (data-parallel over rows). Returns the loss; `rec`
  // receives the reconstruction part. codes_ holds the batch's codes afterwards.
  double train_step(cmatrix_view<float> xb, double& rec) {
    const index_t n = xb.rows(), e = cfg_.latent_dim, L = cfg_.levels;
    // Codebooks are fixed during the step: pack them once for every shard's searches.
    // With the usage bias the search runs over the biased codebooks instead (codebook_balance).
    std::vector<matrix<float>> search(static_cast<std::size_t>(L));
    std::vector<std::unique_ptr<kernels::codebook_search<float>>> cs(static_cast<std::size_t>(L));
    std::vector<const kernels::codebook_search<float>*> biased(static_cast<std::size_t>(L), nullptr);
    for (index_t l = 0; l < L; ++l) {
      if (balance_.biased()) {
        biased[l] = &balance_.prepare(l, books_[l].value());
        continue;
      }
      search[l] = books_[l].value().eigen();
      if constexpr (Distance::normalise_codewords) search[l].rowwise().normalize();
      cs[l] = std::make_unique<kernels::codebook_search<float>>(Distance::search_metric, search[l]);
    }
    codes_.resize(n, L);
    const int shards = nn::shard_count(n);
    if (static_cast<int>(shards_.size()) < shards) shards_.resize(static_cast<std::size_t>(shards));
    std::vector<double> loss(static_cast<std::size_t>(shards), 0.0), recon(static_cast<std::size_t>(shards), 0.0);
    const float inv_n = 1.0f / float(n), beta = float(cfg_.beta);
    nn::data_parallel(*ps_, n, [&](int s, index_t lo, index_t hi) {
      auto& st = shards_[static_cast<std::size_t>(s)];
      const index_t m = hi - lo;
      const auto x = xb.middle_rows(lo, m);
      auto z = st.z.view(m, e);
      enc_.forward(x, z, st.enc);
      // Residual quantisation, keeping every level's residual for the losses.
      auto res = st.resid.view(L * m, e);
      auto zq = st.zq.view(m, e);
      zq.eigen().setZero();
      res.middle_rows(0, m).eigen() = z.eigen();
      st.rows = m;
      auto idx = st.idx.flat(m);
      auto sc = st.score.flat(m);
      double quant = 0;
      st.level_sq.assign(static_cast<std::size_t>(L), 0.0);
      for (index_t l = 0; l < L; ++l) {
        auto r = res.middle_rows(l * m, m);
        if (biased[l])
          biased[l]->nearest(codebook_balance::augment(r, st.augmented), idx, sc);
        else
          cs[l]->nearest(r, idx, sc);
        const auto C = books_[l].value();
        for (index_t i = 0; i < m; ++i) {
          codes_(lo + i, l) = idx[i];
          const float* c = C.row_ptr(idx[i]);
          float* zr = zq.row_ptr(i);
          const float* ri = r.row_ptr(i);
          double q = 0;
          for (index_t j = 0; j < e; ++j) {
            zr[j] += c[j];
            q += double(ri[j] - c[j]) * double(ri[j] - c[j]);
          }
          quant += q;
          st.level_sq[l] += q;
          if (l + 1 < L) {
            float* nx = res.row_ptr((l + 1) * m + i);
            for (index_t j = 0; j < e; ++j) nx[j] = ri[j] - c[j];
          }
        }
      }
      auto xhat = st.xhat.view(m, dim_);
      dec_.forward(zq, xhat, st.dec);
      auto dxhat = st.dxhat.view(m, dim_);
      // mean_rows reduction over the whole batch: scale by m/n so the shards add up.
      const double r_loss = loss::mse<float>(xhat, x, dxhat, loss::mse_reduction::mean_rows, float(m) * inv_n);
      recon[s] = r_loss * double(m) * inv_n;
      loss[s] = recon[s] + (1.0 + cfg_.beta) * quant * inv_n;
      auto dzq = st.dzq.view(m, e);
      dec_.backward(zq, dxhat, dzq, st.dec);
      auto dz = st.dz.view(m, e);
      estimator_backward(z, zq, dzq, dz);
      // Commitment (to z) and codebook (to codewords) terms of every level.
      for (index_t l = 0; l < L; ++l) {
        const auto r = res.middle_rows(l * m, m);
        const auto C = books_[l].value();
        auto G = books_[l].grad();
        for (index_t i = 0; i < m; ++i) {
          const float* c = C.row_ptr(codes_(lo + i, l));
          float* gc = G.row_ptr(codes_(lo + i, l));
          const float* ri = r.row_ptr(i);
          float* dzi = dz.row_ptr(i);
          for (index_t j = 0; j < e; ++j) {
            const float diff = ri[j] - c[j];
            dzi[j] += 2.0f * beta * inv_n * diff;
            gc[j] -= 2.0f * inv_n * diff;
          }
        }
      }
      enc_.backward(x, dz, matrix_view<float>(), st.enc);
    });
    double total = 0;
    rec = 0;
    level_sq_.assign(static_cast<std::size_t>(L), 0.0);
    for (int s = 0; s < shards; ++s) {
      total += loss[static_cast<std::size_t>(s)];
      rec += recon[static_cast<std::size_t>(s)];
      for (index_t l = 0; l < L; ++l) level_sq_[l] += shards_[static_cast<std::size_t>(s)].level_sq[l] / double(n);
    }
    if (cfg_.balance.uniformity > 0)
      for (index_t l = 0; l < L; ++l) total += balance_.penalty(books_[l].value(), books_[l].grad());
    return total;
  }

  // dz from dẑ through the estimator policy.
  void estimator_backward(cmatrix_view<float> z, cmatrix_view<float> zq, cmatrix_view<float> dzq, matrix_view<float> dz) const {
    if constexpr (std::is_same_v<Estimator, straight_through>) {
      dz.eigen() = dzq.eigen();
    } else {
      // ẑ = λ·R·z with R the rotation taking u = z/‖z‖ to v = ẑ/‖ẑ‖ in their plane, λ = ‖ẑ‖/‖z‖:
      // R = I − 2wwᵀ + 2vuᵀ with w = (u + v)/‖u + v‖, so dz = λ·Rᵀ·dẑ = λ·(g − 2w(w·g) + 2u(v·g)).
      for (index_t i = 0; i < z.rows(); ++i) {
        const auto zi = z.row(i).eigen(), qi = zq.row(i).eigen(), gi = dzq.row(i).eigen();
        const float nz = zi.norm(), nq = qi.norm();
        if (nz < 1e-12f || nq < 1e-12f) {
          dz.row(i).eigen() = gi;
          continue;
        }
        const Eigen::VectorXf u = zi / nz, v = qi / nq;
        Eigen::VectorXf w = u + v;
        const float nw = w.norm();
        if (nw < 1e-6f) {  // opposite directions: fall back to straight-through
          dz.row(i).eigen() = gi;
          continue;
        }
        w /= nw;
        dz.row(i).eigen() = (nq / nz) * (gi - 2.0f * w * w.dot(gi) + 2.0f * u * v.dot(gi));
      }
    }
  }

  // Codes unused for dead_code_reset steps take the value of a random residual of the last
  // batch at their level (from the first shard's rows).
  void reset_dead_codes(std::vector<std::vector<index_t>>& last_used, long long step, rng& g) {
    const auto& st = shards_[0];
    const index_t m = st.rows;
    const cmatrix_view<float> res = st.resid();
    for (index_t l = 0; l < cfg_.levels; ++l) {
      auto C = books_[l].value();
      for (index_t k = 0; k < cfg_.codebook_size; ++k) {
        if (step - last_used[l][k] < cfg_.dead_code_reset) continue;
        const auto i = static_cast<index_t>(g.below(static_cast<std::uint64_t>(m)));
        C.row(k).eigen() = res.row(l * m + i).eigen();
        last_used[l][k] = step;
      }
    }
  }

  rq_vae_config cfg_;
  index_t dim_ = 0;
  std::unique_ptr<nn::parameter_store<float>> ps_;
  nn::mlp<float, nn::relu> enc_, dec_;
  std::vector<nn::param<float>> books_;
  std::shared_ptr<residual_encoder<Distance>> encoder_;
  matrix<std::int32_t> codes_;
  std::vector<shard_state> shards_;
  std::vector<vae_epoch> history_;
  codebook_balance balance_;
  std::vector<double> level_sq_;  // the last step's mean ‖r_l − q_l‖² per level
};

/// TIGER's tokenizer: L2 nearest codewords, straight-through estimator.
using tiger_rq_vae = rq_vae<l2_distance, straight_through>;

}  // namespace reg4rec::quant
