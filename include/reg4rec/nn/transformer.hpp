// Pre-norm transformer blocks.
//
//   encoder_block:  h = x + drop(Attn(LN1(x)));             y = h + drop(MLP(LN2(h)))
//   decoder_block:  h1 = x + drop(SelfAttn_causal(LN1(x)));
//                   h2 = h1 + drop(CrossAttn(LN2(h1), memory));  y = h2 + drop(MLP(LN3(h2)))
//
// The encoder's attention mask is a policy given at the call (causal for all-prefix
// training, bidirectional or padding for one prefix per sample); the decoder's cross mask
// likewise (prefix_mask limits each decoder to its prefix of the memory). Dropout is applied
// to the two (three) residual branches, drawing from rng::fork(stream + row), and optionally
// to the self-attention probabilities (block_config::attention_dropout).
#pragma once

#include <string>

#include "reg4rec/core/rng.hpp"
#include "reg4rec/nn/attention.hpp"
#include "reg4rec/nn/buffer.hpp"
#include "reg4rec/nn/dropout.hpp"
#include "reg4rec/nn/mlp.hpp"
#include "reg4rec/nn/norm.hpp"

namespace reg4rec::nn {

struct block_config {
  index_t d_model = 128;
  index_t heads = 4;
  index_t d_ff = 512;
  double dropout = 0.0;
  bool bias = true;
  double attention_dropout = 0.0;  // on the self-attention probabilities
};

/// Checks the regularisation options a model hands to its embeddings and blocks: dropout
/// rates in [0, 1), a positive embedding scale; `who` names the model in the error.
inline void check_regularisation(const char* who, double dropout, double embedding_dropout, double attention_dropout,
                                 double embedding_scale) {
  auto rate = [](double p) { return p >= 0 && p < 1; };
  require(rate(dropout) && rate(embedding_dropout) && rate(attention_dropout), who,
          ": dropout rates must lie in [0, 1), got ", dropout, " (residual), ", embedding_dropout, " (embeddings) and ",
          attention_dropout, " (attention)");
  require(embedding_scale > 0 && embedding_scale < 1e6, who, ": embedding_scale must be positive, got ",
          embedding_scale);
}

namespace detail {
// out = a + b (row views of equal shape).
template <class T>
void add_rows(cmatrix_view<T> a, cmatrix_view<T> b, matrix_view<T> out) {
  parallel_for(0, a.rows(), 256, [&](index_t lo, index_t hi) {
    for (index_t i = lo; i < hi; ++i) {
      const T* pa = a.row_ptr(i);
      const T* pb = b.row_ptr(i);
      T* po = out.row_ptr(i);
      for (index_t j = 0; j < a.cols(); ++j) po[j] = pa[j] + pb[j];
    }
  });
}

// A residual branch's output through dropout (identity when p = 0).
template <class T>
struct residual_dropout {
  buffer<T> mask;
  void forward(T p, matrix_view<T> branch, const dropout_stream& ds, std::uint64_t salt) {
    if (p <= T(0) || !ds.gen) return;
    auto m = mask.view(branch.rows(), branch.cols());
    dropout<T>{p}.forward(branch, branch, m, *ds.gen, ((ds.stream * 16 + salt) << 32) + ds.row_offset);
  }
  void backward(T p, const dropout_stream& ds, matrix_view<T> grad) const {
    if (p <= T(0) || !ds.gen) return;
    dropout<T>::backward(grad, mask(), grad);
  }
};
}  // namespace detail

template <class T, class Act = gelu>
class encoder_block {
 public:
  struct activations {
    buffer<T> ln1, mean1, rstd1, attn_out, h, ln2, mean2, rstd2, mlp_out;
    typename self_attention<T>::activations attn;
    typename mlp<T, Act>::activations ffn;
    detail::residual_dropout<T> drop1, drop2;
    dropout_stream ds;
    buffer<T> g1, g2;  // backward scratch
  };

  encoder_block() = default;
  encoder_block(parameter_store<T>& ps, const std::string& name, const block_config& c)
      : ln1(ps, join_name(name, "ln1"), c.d_model, c.bias),
        attn(ps, join_name(name, "attn"), c.d_model, c.heads, c.bias),
        ln2(ps, join_name(name, "ln2"), c.d_model, c.bias),
        ffn(ps, join_name(name, "mlp"), {c.d_model, c.d_ff, c.d_model}, c.bias), cfg_(c) {}

  void init(rng& g) {
    ln1.init();
    attn.init(g);
    ln2.init();
    ffn.init(g);
  }
  const block_config& config() const noexcept { return cfg_; }

  /// Training forward over sequences of `len` rows; saves what backward needs in `a`.
  template <class Mask>
  void forward(cmatrix_view<T> x, index_t len, const Mask& mask, matrix_view<T> y, activations& a,
               dropout_stream ds = {}) const {
    const index_t n = x.rows(), d = cfg_.d_model;
    const T p = T(cfg_.dropout);
    a.ds = ds;
    auto l1 = a.ln1.view(n, d);
    ln1.forward(x, l1, a.mean1.flat(n), a.rstd1.flat(n));
    auto ao = a.attn_out.view(n, d);
    attn.forward(l1, len, mask, ao, a.attn, T(cfg_.attention_dropout), ds);
    a.drop1.forward(p, ao, ds, 1);
    auto h = a.h.view(n, d);
    detail::add_rows<T>(x, ao, h);
    auto l2 = a.ln2.view(n, d);
    ln2.forward(h, l2, a.mean2.flat(n), a.rstd2.flat(n));
    auto mo = a.mlp_out.view(n, d);
    ffn.forward(l2, mo, a.ffn);
    a.drop2.forward(p, mo, ds, 2);
    detail::add_rows<T>(h, mo, y);
  }

  /// dx written.
  void backward(cmatrix_view<T> x, index_t len, cmatrix_view<T> dy, matrix_view<T> dx, activations& a) const {
    const index_t n = x.rows(), d = cfg_.d_model;
    const T p = T(cfg_.dropout);
    // MLP branch: dh = dy + LN2ᵀ(MLPᵀ(dy ⊙ mask2)).
    auto gm = a.g1.view(n, d);
    gm.eigen() = dy.eigen();
    a.drop2.backward(p, a.ds, gm);
    auto dl2 = a.g2.view(n, d);
    ffn.backward(a.ln2(), gm, dl2, a.ffn);
    auto dh = a.g1.view(n, d);  // gm is no longer needed
    ln2.backward(a.h(), a.mean2.as_span(), a.rstd2.as_span(), dl2, dh);
    dh.eigen() += dy.eigen();
    // Attention branch: dx = dh + LN1ᵀ(Attnᵀ(dh ⊙ mask1)).
    auto ga = a.g2.view(n, d);
    ga.eigen() = dh.eigen();
    a.drop1.backward(p, a.ds, ga);
    attn.backward(a.ln1(), len, ga, dx, a.attn);  // dx holds d(LN1 output) for a moment
    auto tmp = a.g2.view(n, d);                   // ga has been consumed
    ln1.backward(x, a.mean1.as_span(), a.rstd1.as_span(), dx, tmp);
    dx.eigen() = tmp.eigen() + dh.eigen();
  }

  /// Inference (no dropout, nothing saved; thread-safe).
  template <class Mask>
  void infer(cmatrix_view<T> x, index_t len, const Mask& mask, matrix_view<T> y, workspace& ws) const {
    auto frame = ws.scope();
    const index_t n = x.rows(), d = cfg_.d_model;
    auto l = ws.take_matrix<T>(n, d);
    auto mean = ws.take<T>(n), rstd = ws.take<T>(n);
    ln1.forward(x, l, mean, rstd);
    auto ao = ws.take_matrix<T>(n, d);
    attn.infer(l, len, mask, ao, ws);
    auto h = ws.take_matrix<T>(n, d);
    detail::add_rows<T>(x, ao, h);
    ln2.forward(h, l, mean, rstd);
    ffn.infer(l, ao, ws);
    detail::add_rows<T>(h, ao, y);
  }

  layer_norm<T> ln1;
  self_attention<T> attn;
  layer_norm<T> ln2;
  mlp<T, Act> ffn;

 private:
  block_config cfg_;
};

template <class T, class Act = gelu>
class decoder_block {
 public:
  struct activations {
    buffer<T> ln1, mean1, rstd1, sa_out, h1, ln2, mean2, rstd2, ca_out, h2, ln3, mean3, rstd3, mlp_out;
    typename self_attention<T>::activations self;
    typename cross_attention<T>::activations cross;
    typename mlp<T, Act>::activations ffn;
    detail::residual_dropout<T> drop1, drop2, drop3;
    dropout_stream ds;
    buffer<T> g1, g2, g3;
  };

  decoder_block() = default;
  decoder_block(parameter_store<T>& ps, const std::string& name, const block_config& c, index_t d_memory = 0)
      : ln1(ps, join_name(name, "ln1"), c.d_model, c.bias),
        self(ps, join_name(name, "self"), c.d_model, c.heads, c.bias),
        ln2(ps, join_name(name, "ln2"), c.d_model, c.bias),
        cross(ps, join_name(name, "cross"), c.d_model, d_memory ? d_memory : c.d_model, c.heads, c.bias),
        ln3(ps, join_name(name, "ln3"), c.d_model, c.bias),
        ffn(ps, join_name(name, "mlp"), {c.d_model, c.d_ff, c.d_model}, c.bias), cfg_(c) {}

  void init(rng& g) {
    ln1.init();
    self.init(g);
    ln2.init();
    cross.init(g);
    ln3.init();
    ffn.init(g);
  }
  const block_config& config() const noexcept { return cfg_; }

  /// x: (q_seqs·len, d) decoder rows; memory: (mem_seqs·mem_len, d_memory); kv_of_q maps
  /// decoder sequences to memory sequences (empty: one-to-one).
  template <class CrossMask>
  void forward(cmatrix_view<T> x, index_t len, cmatrix_view<T> memory, index_t mem_len,
               cspan<std::int32_t> kv_of_q, const CrossMask& cmask, matrix_view<T> y, activations& a,
               dropout_stream ds = {}) const {
    const index_t n = x.rows(), d = cfg_.d_model;
    const T p = T(cfg_.dropout);
    a.ds = ds;
    auto l1 = a.ln1.view(n, d);
    ln1.forward(x, l1, a.mean1.flat(n), a.rstd1.flat(n));
    auto so = a.sa_out.view(n, d);
    self.forward(l1, len, causal_mask{}, so, a.self, T(cfg_.attention_dropout), ds);
    a.drop1.forward(p, so, ds, 1);
    auto h1 = a.h1.view(n, d);
    detail::add_rows<T>(x, so, h1);
    auto l2 = a.ln2.view(n, d);
    ln2.forward(h1, l2, a.mean2.flat(n), a.rstd2.flat(n));
    auto co = a.ca_out.view(n, d);
    cross.forward(l2, len, memory, mem_len, kv_of_q, cmask, co, a.cross);
    a.drop2.forward(p, co, ds, 2);
    auto h2 = a.h2.view(n, d);
    detail::add_rows<T>(h1, co, h2);
    auto l3 = a.ln3.view(n, d);
    ln3.forward(h2, l3, a.mean3.flat(n), a.rstd3.flat(n));
    auto mo = a.mlp_out.view(n, d);
    ffn.forward(l3, mo, a.ffn);
    a.drop3.forward(p, mo, ds, 3);
    detail::add_rows<T>(h2, mo, y);
  }

  /// dx written; dmemory ADDED.
  void backward(cmatrix_view<T> x, index_t len, cmatrix_view<T> memory, index_t mem_len,
                cspan<std::int32_t> kv_of_q, cmatrix_view<T> dy, matrix_view<T> dx, matrix_view<T> dmemory,
                activations& a) const {
    const index_t n = x.rows(), d = cfg_.d_model;
    const T p = T(cfg_.dropout);
    // MLP branch → dh2 (in g1).
    auto gm = a.g1.view(n, d);
    gm.eigen() = dy.eigen();
    a.drop3.backward(p, a.ds, gm);
    auto dl3 = a.g2.view(n, d);
    ffn.backward(a.ln3(), gm, dl3, a.ffn);
    auto dh2 = a.g3.view(n, d);
    ln3.backward(a.h2(), a.mean3.as_span(), a.rstd3.as_span(), dl3, dh2);
    dh2.eigen() += dy.eigen();
    // Cross branch → dh1 (in g1).
    auto gc = a.g1.view(n, d);
    gc.eigen() = dh2.eigen();
    a.drop2.backward(p, a.ds, gc);
    auto dl2 = a.g2.view(n, d);
    cross.backward(a.ln2(), len, memory, mem_len, kv_of_q, gc, dl2, dmemory, a.cross);
    auto dh1 = a.g1.view(n, d);
    ln2.backward(a.h1(), a.mean2.as_span(), a.rstd2.as_span(), dl2, dh1);
    dh1.eigen() += dh2.eigen();
    // Self branch → dx.
    auto gs = a.g3.view(n, d);
    gs.eigen() = dh1.eigen();
    a.drop1.backward(p, a.ds, gs);
    auto dl1 = a.g2.view(n, d);
    self.backward(a.ln1(), len, gs, dl1, a.self);
    ln1.backward(x, a.mean1.as_span(), a.rstd1.as_span(), dl1, dx);
    dx.eigen() += dh1.eigen();
  }

  /// One incremental decoding step: x_new (n_seq, d) is the next position of each sequence
  /// of `cache`; memory_kv is this block's cross.project_memory(memory).
  template <class CrossMask>
  void step(cmatrix_view<T> x_new, kv_cache<T>& cache, cmatrix_view<T> memory_kv, index_t mem_len,
            cspan<std::int32_t> kv_of_q, const CrossMask& cmask, matrix_view<T> y, workspace& ws) const {
    auto frame = ws.scope();
    const index_t n = x_new.rows(), d = cfg_.d_model;
    auto l = ws.take_matrix<T>(n, d);
    auto mean = ws.take<T>(n), rstd = ws.take<T>(n);
    ln1.forward(x_new, l, mean, rstd);
    auto o = ws.take_matrix<T>(n, d);
    self.step(l, cache, o, ws);
    auto h1 = ws.take_matrix<T>(n, d);
    detail::add_rows<T>(x_new, o, h1);
    ln2.forward(h1, l, mean, rstd);
    cross.infer(l, 1, memory_kv, mem_len, kv_of_q, cmask, o, ws);
    auto h2 = ws.take_matrix<T>(n, d);
    detail::add_rows<T>(h1, o, h2);
    ln3.forward(h2, l, mean, rstd);
    ffn.infer(l, o, ws);
    detail::add_rows<T>(h2, o, y);
  }

  layer_norm<T> ln1;
  self_attention<T> self;
  layer_norm<T> ln2;
  cross_attention<T> cross;
  layer_norm<T> ln3;
  mlp<T, Act> ffn;

 private:
  block_config cfg_;
};

}  // namespace reg4rec::nn
