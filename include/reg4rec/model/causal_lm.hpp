// A decoder-only causal transformer over a token vocabulary: token + learned position
// embeddings, pre-norm blocks with causal self-attention, a final LayerNorm, and an output
// layer tied to the token embeddings. It is SASRec when the tokens are item ids (the tied
// head scores every item by a dot product with its embedding) and the language model of the
// training-step benchmark otherwise.
//
// Sequences are right-padded with token −1 (a zero embedding); with causal attention a real
// position never sees padding, and padded positions carry the ignore target.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "reg4rec/core/rng.hpp"
#include "reg4rec/loss/cross_entropy.hpp"
#include "reg4rec/nn/data_parallel.hpp"
#include "reg4rec/nn/embedding.hpp"
#include "reg4rec/nn/norm.hpp"
#include "reg4rec/nn/transformer.hpp"

namespace reg4rec::model {

struct causal_lm_config {
  index_t vocab = 0;
  index_t max_len = 50;
  index_t d_model = 128;
  index_t heads = 4;
  index_t d_ff = 512;
  index_t layers = 2;
  double dropout = 0.0;            // on every residual branch of the blocks
  double embedding_dropout = 0.0;  // on the input embeddings (token + position), as SASRec does
  double attention_dropout = 0.0;  // on the attention probabilities
  double embedding_scale = 1.0;    // input = scale·tok[t] + pos[i] (SASRec: √d_model); the output layer is unscaled
  double embedding_std = 0.02;
  double label_smoothing = 0.0;
};

template <class T>
class causal_lm {
 public:
  explicit causal_lm(const causal_lm_config& c, std::uint64_t seed = 1)
      : cfg_(c), ps_(std::make_unique<nn::parameter_store<T>>()) {
    require(c.vocab >= 1 && c.max_len >= 1 && c.layers >= 1, "causal_lm: vocab, max_len and layers must be positive");
    nn::check_regularisation("causal_lm", c.dropout, c.embedding_dropout, c.attention_dropout, c.embedding_scale);
    auto& ps = *ps_;
    tok_ = nn::embedding<T>(ps, "tok", c.vocab, c.d_model);
    pos_ = nn::embedding<T>(ps, "pos", c.max_len, c.d_model);
    const nn::block_config bc{c.d_model, c.heads, c.d_ff, c.dropout, true, c.attention_dropout};
    for (index_t l = 0; l < c.layers; ++l) blocks_.emplace_back(ps, "block." + std::to_string(l), bc);
    ln_f_ = nn::layer_norm<T>(ps, "ln_f", c.d_model);
    rng g(seed);
    tok_.init(g, T(c.embedding_std));
    pos_.init(g, T(c.embedding_std));
    for (auto& b : blocks_) b.init(g);
    ln_f_.init();
  }

  const causal_lm_config& config() const noexcept { return cfg_; }
  nn::parameter_store<T>& params() noexcept { return *ps_; }
  const nn::parameter_store<T>& params() const noexcept { return *ps_; }
  /// The token embedding table (vocab × d): the output layer's weights too.
  cmatrix_view<T> token_embeddings() const { return tok_.weight.value(); }

  /// Training forward + backward on a batch: tokens and targets (batch × len) row-major,
  /// len ≤ max_len; targets equal to −100 are ignored. Adds the gradients of the mean
  /// cross-entropy (weighted by `weights`, one per row of the flattened batch, if given) to
  /// params().grads() and returns the loss. `ds` seeds dropout. The batch is split across
  /// threads by sequence (nn::data_parallel).
  double train_step(cmatrix_view<std::int32_t> tokens, cmatrix_view<std::int32_t> targets,
                    nn::dropout_stream ds = {}, cspan<T> weights = {}) {
    const index_t B = tokens.rows(), L = tokens.cols();
    check_dim("causal_lm: rows of targets", targets.rows(), B);
    check_dim("causal_lm: columns of targets", targets.cols(), L);
    require(L >= 1 && L <= cfg_.max_len, "causal_lm: sequence length ", L, " must be in [1, ", cfg_.max_len, "]");
    require(tokens.contiguous() && targets.contiguous(), "causal_lm: tokens and targets must be contiguous");
    if (!weights.empty()) check_dim("causal_lm: number of row weights", weights.size(), B * L);
    index_t used = 0;
    for (index_t i = 0; i < B * L; ++i) used += targets.data()[i] != -100;
    loss::cross_entropy_options o;
    o.label_smoothing = cfg_.label_smoothing;
    o.normalizer = double(std::max<index_t>(used, 1));  // the whole batch's, in every shard
    const int shards = nn::shard_count(B);
    if (static_cast<int>(shards_.size()) < shards) shards_.resize(static_cast<std::size_t>(shards));
    std::vector<double> losses(static_cast<std::size_t>(shards), 0.0);
    nn::data_parallel(*ps_, B, [&](int s, index_t lo, index_t hi) {
      const index_t rows = (hi - lo) * L;
      nn::dropout_stream sds = ds;
      sds.row_offset = static_cast<std::uint64_t>(lo * L);
      losses[static_cast<std::size_t>(s)] =
          shard_step(shards_[static_cast<std::size_t>(s)], cspan<std::int32_t>(tokens.row_ptr(lo), rows),
                     cspan<std::int32_t>(targets.row_ptr(lo), rows), L, sds,
                     weights.empty() ? weights : weights.subspan(lo * L, rows), o);
    });
    double total = 0;
    for (double l : losses) total += l;
    return total;
  }

  /// Final hidden state (after ln_f) of position lengths[b] − 1 of each sequence: out (B × d).
  /// Inference: thread-safe, nothing saved.
  void last_hidden(cmatrix_view<std::int32_t> tokens, cspan<std::int32_t> lengths, matrix_view<T> out,
                   workspace& ws) const {
    const index_t B = tokens.rows(), L = tokens.cols(), n = B * L, d = cfg_.d_model;
    check_dim("causal_lm::last_hidden: number of lengths", lengths.size(), B);
    check_dim("causal_lm::last_hidden: rows of out", out.rows(), B);
    require(L >= 1 && L <= cfg_.max_len && tokens.contiguous(), "causal_lm::last_hidden: bad token matrix");
    auto frame = ws.scope();
    auto a = ws.take_matrix<T>(n, d), b = ws.take_matrix<T>(n, d);
    embed(cspan<std::int32_t>(tokens.data(), n), L, a);
    for (const auto& blk : blocks_) {
      blk.infer(a, L, nn::causal_mask{}, b, ws);
      std::swap(a, b);
    }
    auto last = ws.take_matrix<T>(B, d);
    for (index_t s = 0; s < B; ++s) {
      require(lengths[s] >= 1 && lengths[s] <= L, "causal_lm::last_hidden: length ", lengths[s], " of sequence ", s,
              " is outside [1, ", L, "]");
      last.row(s).eigen() = a.row(s * L + lengths[s] - 1).eigen().transpose();
    }
    auto mean = ws.take<T>(B), rstd = ws.take<T>(B);
    ln_f_.forward(last, out, mean, rstd);
  }

  /// Scores of every token after each sequence: out (B × vocab) = last_hidden · Eᵀ (for
  /// SASRec, a score per item). Thread-safe.
  void score_next(cmatrix_view<std::int32_t> tokens, cspan<std::int32_t> lengths, matrix_view<T> out, workspace& ws) const {
    check_dim("causal_lm::score_next: columns of out (vocabulary)", out.cols(), cfg_.vocab);
    auto frame = ws.scope();
    auto h = ws.take_matrix<T>(tokens.rows(), cfg_.d_model);
    last_hidden(tokens, lengths, h, ws);
    out.eigen().noalias() = h.eigen() * tok_.weight.value().eigen().transpose();
  }

 private:
  // Activations and scratch of one shard of a training batch, reused across steps.
  struct shard_state {
    std::vector<typename nn::encoder_block<T>::activations> acts;
    std::vector<nn::buffer<T>> hidden;
    nn::buffer<T> x, z, mean, rstd, g1, g2, zc, dzc, wc;
    nn::buffer<std::int32_t> pos_ids, tc;
    nn::detail::residual_dropout<T> emb_drop;
    workspace ws;
  };

  // Forward and backward of n = rows / L sequences; gradients go to the thread's shard.
  double shard_step(shard_state& st, cspan<std::int32_t> tok, cspan<std::int32_t> tgt, index_t L,
                    const nn::dropout_stream& ds, cspan<T> weights, const loss::cross_entropy_options& o) {
    const index_t n = tok.size(), d = cfg_.d_model, nb = static_cast<index_t>(blocks_.size());
    st.acts.resize(static_cast<std::size_t>(nb));
    st.hidden.resize(static_cast<std::size_t>(nb));
    embed(tok, L, st.x.view(n, d));
    // Stream 63 of the step: the blocks use 0 .. layers − 1.
    const nn::dropout_stream emb_ds{ds.gen, ds.stream * 64 + 63, ds.row_offset};
    st.emb_drop.forward(T(cfg_.embedding_dropout), st.x.view(n, d), emb_ds, 0);
    for (index_t l = 0; l < nb; ++l) {
      const auto in = l == 0 ? cmatrix_view<T>(st.x()) : cmatrix_view<T>(st.hidden[l - 1]());
      blocks_[l].forward(in, L, nn::causal_mask{}, st.hidden[l].view(n, d), st.acts[l],
                         {ds.gen, ds.stream * 64 + static_cast<std::uint64_t>(l), ds.row_offset});
    }
    auto z = st.z.view(n, d);
    ln_f_.forward(st.hidden[nb - 1](), z, st.mean.flat(n), st.rstd.flat(n));
    auto dz = st.g1.view(n, d);
    // The output layer only for rows with a target: padded batches (SASRec) have many rows
    // without, and over a large vocabulary the head is the dominant cost.
    index_t m = 0;
    for (index_t i = 0; i < n; ++i) m += tgt[i] != o.ignore_index;
    double loss;
    if (m == n) {
      loss = loss::linear_cross_entropy<T>(z, tok_.weight.value(), {}, tgt, weights, o, dz, tok_.weight.grad(), {}, st.ws);
    } else {
      auto zc = st.zc.view(m, d), dzc = st.dzc.view(m, d);
      auto tc = st.tc.flat(m);
      auto wc = weights.empty() ? span<T>() : st.wc.flat(m);
      for (index_t i = 0, k = 0; i < n; ++i) {
        if (tgt[i] == o.ignore_index) continue;
        zc.row(k).eigen() = z.row(i).eigen();
        tc[k] = tgt[i];
        if (!weights.empty()) wc[k] = weights[i];
        ++k;
      }
      loss = m == 0 ? 0.0
                    : loss::linear_cross_entropy<T>(zc, tok_.weight.value(), {}, tc, wc, o, dzc, tok_.weight.grad(), {},
                                                    st.ws);
      for (index_t i = 0, k = 0; i < n; ++i) {
        if (tgt[i] == o.ignore_index)
          dz.row(i).eigen().setZero();
        else
          dz.row(i).eigen() = dzc.row(k++).eigen();
      }
    }
    auto dh = st.g2.view(n, d);
    ln_f_.backward(st.hidden[nb - 1](), st.mean.as_span(), st.rstd.as_span(), dz, dh);
    bool dh_in_g2 = true;  // dh and dx alternate between the two gradient buffers
    for (index_t l = nb - 1; l >= 0; --l) {
      const auto in = l == 0 ? cmatrix_view<T>(st.x()) : cmatrix_view<T>(st.hidden[l - 1]());
      auto dx = (dh_in_g2 ? st.g1 : st.g2).view(n, d);
      dh_in_g2 = !dh_in_g2;
      blocks_[l].backward(in, L, dh, dx, st.acts[l]);
      dh = dx;
    }
    st.emb_drop.backward(T(cfg_.embedding_dropout), emb_ds, dh);
    auto p = st.pos_ids.flat(n);
    for (index_t i = 0; i < n; ++i) p[i] = static_cast<std::int32_t>(i % L);
    pos_.backward(cspan<std::int32_t>(p.data(), n), dh);
    if (cfg_.embedding_scale != 1.0) dh.eigen() *= T(cfg_.embedding_scale);
    tok_.backward(tok, dh);
    return loss;
  }
  // x = scale·tok[tokens] + pos[position] (n = B·L rows).
  void embed(cspan<std::int32_t> tokens, index_t L, matrix_view<T> x) const {
    tok_.forward(tokens, x);
    const auto pw = pos_.weight.value();
    const T scale = T(cfg_.embedding_scale);
    parallel_for(0, x.rows(), 256, [&](index_t lo, index_t hi) {
      for (index_t i = lo; i < hi; ++i) {
        const T* p = pw.row_ptr(i % L);
        T* r = x.row_ptr(i);
        for (index_t j = 0; j < x.cols(); ++j) r[j] = scale * r[j] + p[j];
      }
    });
  }

  causal_lm_config cfg_;
  std::unique_ptr<nn::parameter_store<T>> ps_;
  nn::embedding<T> tok_, pos_;
  std::vector<nn::encoder_block<T>> blocks_;
  nn::layer_norm<T> ln_f_;
  std::vector<shard_state> shards_;
};

}  // namespace reg4rec::model
