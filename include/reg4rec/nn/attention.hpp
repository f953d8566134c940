// Multi-head scaled dot-product attention.
//
// Layout. Queries come as q_seqs sequences of q_len rows, keys/values as kv_seqs sequences of
// kv_len rows; query sequence s attends to key sequence kv_of_q[s] (identity when empty).
// Several query sequences may share one key sequence: the decoders of all prefixes of a user
// share the user's encoder memory in all-prefix training, and the beams of a user share it
// in decoding.
//
// Masks are policies returning, for query row i of query sequence s, the half-open range of
// keys it may see; no dense mask matrix exists. A query with an empty range outputs zeros.
//   causal_mask        keys [0, offset + i + 1)            (offset: positions already cached)
//   bidirectional_mask keys [0, kv_len)
//   padding_mask       keys [0, kv_lengths[kv_seq])         (right-padded key sequences; causal option)
//   prefix_mask        keys [0, limits[s·q_len + i])        (arbitrary per-query prefix, SPEC §4.2)
//
// Sources are policies too: self_source (Q, K, V from the same rows, one fused projection)
// and cross_source (Q from the rows, K and V from a memory). multi_head_attention<T, Source>
// names the layer.
//
// Probabilities P (q_seqs × heads × q_len × kv_len) are saved by the training forward and
// reused by the backward; the inference paths keep them in per-thread scratch.
#pragma once

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "reg4rec/backend/scalar/softmax.hpp"
#include "reg4rec/backend/simd/softmax.hpp"
#include "reg4rec/core/parallel.hpp"
#include "reg4rec/core/workspace.hpp"
#include "reg4rec/kernels/gemm.hpp"
#include "reg4rec/nn/buffer.hpp"
#include "reg4rec/nn/dropout.hpp"
#include "reg4rec/nn/kv_cache.hpp"
#include "reg4rec/nn/linear.hpp"

namespace reg4rec::nn {

struct key_range {
  index_t lo, hi;
};

struct causal_mask {
  index_t offset = 0;
  key_range operator()(index_t, index_t, index_t i, index_t kv_len) const {
    return {0, std::min(kv_len, offset + i + 1)};
  }
};

struct bidirectional_mask {
  key_range operator()(index_t, index_t, index_t, index_t kv_len) const { return {0, kv_len}; }
};

struct padding_mask {
  cspan<std::int32_t> kv_lengths;  // per key sequence
  bool causal = false;
  key_range operator()(index_t, index_t kv_seq, index_t i, index_t kv_len) const {
    const index_t len = std::min<index_t>(kv_len, kv_lengths[kv_seq]);
    return {0, causal ? std::min(len, i + 1) : len};
  }
};

struct prefix_mask {
  cspan<std::int32_t> limits;  // per query row: s·q_len + i
  index_t q_len = 1;
  key_range operator()(index_t s, index_t, index_t i, index_t kv_len) const {
    return {0, std::clamp<index_t>(limits[s * q_len + i], 0, kv_len)};
  }
};

struct attention_layout {
  index_t q_seqs = 0, q_len = 0;
  index_t kv_seqs = 0, kv_len = 0;
  cspan<std::int32_t> kv_of_q;  // empty: query sequence s attends key sequence s

  index_t kv_of(index_t s) const { return kv_of_q.empty() ? s : kv_of_q[s]; }

  void check(const char* who, index_t q_rows, index_t kv_rows) const {
    using reg4rec::detail::cat;
    check_dim(cat(who, ": query rows (q_seqs × q_len)").c_str(), q_rows, q_seqs * q_len);
    check_dim(cat(who, ": key rows (kv_seqs × kv_len)").c_str(), kv_rows, kv_seqs * kv_len);
    if (kv_of_q.empty()) {
      check_dim(cat(who, ": key sequences (one per query sequence)").c_str(), kv_seqs, q_seqs);
    } else {
      check_dim(cat(who, ": length of kv_of_q").c_str(), kv_of_q.size(), q_seqs);
      for (index_t s = 0; s < q_seqs; ++s)
        if (kv_of_q[s] < 0 || kv_of_q[s] >= kv_seqs)
          throw value_error(cat(who, ": kv_of_q[", s, "] = ", kv_of_q[s], " is outside [0, ", kv_seqs, ")"));
    }
  }
};

namespace detail {

// Rows [s·len, (s + 1)·len) and columns [h·dh, (h + 1)·dh) of a row-major view.
template <class T>
matrix_view<T> head_block(matrix_view<T> m, index_t s, index_t len, index_t h, index_t dh) {
  return matrix_view<T>(m.row_ptr(s * len) + h * dh, len, dh, m.stride());
}

// P (q_len × kv_len) = softmax over each row's key range of scale·q·kᵀ; zero outside.
template <class T, class Mask>
void attend_probs(const Mask& mask, index_t s, index_t kv_seq, cmatrix_view<T> q, cmatrix_view<T> k, T scale,
                  T* probs, index_t q_len, index_t kv_len) {
  kernels::gemm<T>(trans::no, trans::yes, scale, q, k, T(0), matrix_view<T>(probs, q_len, kv_len));
  for (index_t i = 0; i < q_len; ++i) {
    T* row = probs + i * kv_len;
    const key_range r = mask(s, kv_seq, i, kv_len);
    if (r.hi <= r.lo) {
      std::fill(row, row + kv_len, T(0));
      continue;
    }
    backend::softmax_row(default_backend{}, row + r.lo, row + r.lo, r.hi - r.lo, false);
    std::fill(row, row + r.lo, T(0));
    std::fill(row + r.hi, row + kv_len, T(0));
  }
}

}  // namespace detail

/// Dropout on the attention probabilities of a training forward: out = (P ⊙ M)·V with M = 0
/// or 1/(1 − p) per entry. The row of query i of query sequence s, head h, draws from
/// rng::fork(stream + ((first_seq + s)·heads + h)·q_len + i): first_seq is the global index
/// of the batch's first sequence, so masks do not depend on how a batch is sharded.
template <class T>
struct prob_dropout {
  T p = T(0);
  const rng* gen = nullptr;
  std::uint64_t stream = 0, first_seq = 0;
  T* mask = nullptr;  // M, laid out like P: written by forward, read by backward
  bool active() const noexcept { return p > T(0) && gen != nullptr && mask != nullptr; }
};

/// The attention computation shared by the layers: projections happen outside.
template <class T>
struct attention_core {
  /// out (q rows × d) from q (q rows × d), k, v (kv rows × d); probs (q_seqs·heads·q_len·kv_len)
  /// receives P when non-null (training), else per-thread scratch is used. `drop` (training
  /// only) drops out attention probabilities; P itself is saved undropped.
  template <class Mask>
  static void forward(const attention_layout& L, const Mask& mask, index_t heads, cmatrix_view<T> q,
                      cmatrix_view<T> k, cmatrix_view<T> v, matrix_view<T> out, T* probs,
                      const prob_dropout<T>& drop = {}) {
    const index_t d = q.cols(), dh = d / heads;
    const T scale = T(1) / std::sqrt(T(dh));
    const index_t tasks = L.q_seqs * heads;
    const index_t plen = L.q_len * L.kv_len;
    const bool dropping = drop.active();
    require(!dropping || probs, "attention: dropout on the probabilities needs the training forward (saved P)");
    const T keep = dropping ? T(1) / (T(1) - drop.p) : T(1);
    parallel_for_dynamic(0, tasks, std::max<index_t>(1, tasks / (8 * max_threads())), [&](index_t lo, index_t hi) {
      auto& ws = thread_workspace();
      auto frame = ws.scope();
      T* scratch = probs && !dropping ? nullptr : ws.take<T>(plen).data();
      for (index_t t = lo; t < hi; ++t) {
        const index_t s = t / heads, h = t % heads, m = L.kv_of(s);
        T* p = probs ? probs + t * plen : scratch;
        const auto qs = detail::head_block(q, s, L.q_len, h, dh);
        const auto ks = detail::head_block(k, m, L.kv_len, h, dh);
        const auto vs = detail::head_block(v, m, L.kv_len, h, dh);
        detail::attend_probs<T>(mask, s, m, qs, ks, scale, p, L.q_len, L.kv_len);
        const T* used = p;
        if (dropping) {  // scratch = P ⊙ M
          T* mk = drop.mask + t * plen;
          const std::uint64_t row0 = ((drop.first_seq + static_cast<std::uint64_t>(s)) * static_cast<std::uint64_t>(heads) +
                                      static_cast<std::uint64_t>(h)) * static_cast<std::uint64_t>(L.q_len);
          for (index_t i = 0; i < L.q_len; ++i) {
            rng r = drop.gen->fork(drop.stream + row0 + static_cast<std::uint64_t>(i));
            const index_t hi_key = mask(s, m, i, L.kv_len).hi;
            for (index_t j = 0; j < L.kv_len; ++j) {
              const T mij = j < hi_key && r.uniform<T>() >= drop.p ? keep : T(0);
              mk[i * L.kv_len + j] = mij;
              scratch[i * L.kv_len + j] = p[i * L.kv_len + j] * mij;
            }
          }
          used = scratch;
        }
        kernels::gemm<T>(trans::no, trans::no, T(1), cmatrix_view<T>(used, L.q_len, L.kv_len), vs, T(0),
                         detail::head_block(out, s, L.q_len, h, dh));
      }
    });
  }

  /// dq written; dk, dv ADDED (several query sequences may share a key sequence: the work is
  /// split by key sequence so the additions never race). `drop_mask`: the M of a forward with
  /// dropout on the probabilities (nullptr: none).
  static void backward(const attention_layout& L, index_t heads, cmatrix_view<T> q, cmatrix_view<T> k,
                       cmatrix_view<T> v, const T* probs, cmatrix_view<T> dout, matrix_view<T> dq,
                       matrix_view<T> dk, matrix_view<T> dv, const T* drop_mask = nullptr) {
    const index_t d = q.cols(), dh = d / heads;
    const T scale = T(1) / std::sqrt(T(dh));
    const index_t plen = L.q_len * L.kv_len;
    // Query sequences grouped by key sequence (CSR).
    std::vector<index_t> start(static_cast<std::size_t>(L.kv_seqs + 1), 0), order(static_cast<std::size_t>(L.q_seqs));
    for (index_t s = 0; s < L.q_seqs; ++s) ++start[L.kv_of(s) + 1];
    for (index_t m = 0; m < L.kv_seqs; ++m) start[m + 1] += start[m];
    {
      std::vector<index_t> fill(start.begin(), start.end() - 1);
      for (index_t s = 0; s < L.q_seqs; ++s) order[fill[L.kv_of(s)]++] = s;
    }
    const index_t tasks = L.kv_seqs * heads;
    parallel_for_dynamic(0, tasks, std::max<index_t>(1, tasks / (8 * max_threads())), [&](index_t lo, index_t hi) {
      auto& ws = thread_workspace();
      auto frame = ws.scope();
      T* dp = ws.take<T>(plen).data();
      T* pm = drop_mask ? ws.take<T>(plen).data() : nullptr;
      for (index_t t = lo; t < hi; ++t) {
        const index_t m = t / heads, h = t % heads;
        const auto ks = detail::head_block(k, m, L.kv_len, h, dh);
        const auto vs = detail::head_block(v, m, L.kv_len, h, dh);
        const auto dks = detail::head_block(dk, m, L.kv_len, h, dh);
        const auto dvs = detail::head_block(dv, m, L.kv_len, h, dh);
        const matrix_view<T> dpm(dp, L.q_len, L.kv_len);
        for (index_t j = start[m]; j < start[m + 1]; ++j) {
          const index_t s = order[j];
          const T* ps = probs + (s * heads + h) * plen;
          const auto dos = detail::head_block(dout, s, L.q_len, h, dh);
          kernels::gemm<T>(trans::no, trans::yes, T(1), dos, vs, T(0), dpm);  // dP = dO·Vᵀ
          if (drop_mask) {  // the forward used P ⊙ M: dV += (P ⊙ M)ᵀ·dO, dP ← dP ⊙ M
            const T* mk = drop_mask + (s * heads + h) * plen;
            for (index_t e = 0; e < plen; ++e) {
              pm[e] = ps[e] * mk[e];
              dp[e] *= mk[e];
            }
            kernels::gemm<T>(trans::yes, trans::no, T(1), cmatrix_view<T>(pm, L.q_len, L.kv_len), dos, T(1), dvs);
          } else {
            kernels::gemm<T>(trans::yes, trans::no, T(1), cmatrix_view<T>(ps, L.q_len, L.kv_len), dos, T(1), dvs);
          }
          // dS = P ⊙ (dP − rowsum(P ⊙ dP)), in place in dp.
          for (index_t i = 0; i < L.q_len; ++i) {
            const T* pr = probs + (s * heads + h) * plen + i * L.kv_len;
            T* dr = dp + i * L.kv_len;
            T dot = 0;
            for (index_t jj = 0; jj < L.kv_len; ++jj) dot += pr[jj] * dr[jj];
            for (index_t jj = 0; jj < L.kv_len; ++jj) dr[jj] = pr[jj] * (dr[jj] - dot) * scale;
          }
          kernels::gemm<T>(trans::no, trans::no, T(1), dpm, ks, T(0), detail::head_block(dq, s, L.q_len, h, dh));
          kernels::gemm<T>(trans::yes, trans::no, T(1), dpm, detail::head_block(q, s, L.q_len, h, dh), T(1), dks);
        }
      }
    });
  }
};

/// Self-attention: Q, K, V = x·W_qkv (one fused projection), then the output projection.
template <class T>
class self_attention {
 public:
  struct activations {
    buffer<T> qkv, probs, att, dqkv, datt;
    buffer<T> drop_mask;  // M of the probabilities' dropout
    bool dropped = false;
  };

  self_attention() = default;
  self_attention(parameter_store<T>& ps, const std::string& name, index_t d_model, index_t heads, bool bias = true)
      : qkv(ps, join_name(name, "qkv"), d_model, 3 * d_model, bias),
        proj(ps, join_name(name, "proj"), d_model, d_model, bias), d_(d_model), heads_(heads) {
    require(heads >= 1 && d_model % heads == 0, "attention '", name, "': d_model ", d_model,
            " is not divisible by heads ", heads);
  }
  void init(rng& g) {
    qkv.init(g);
    proj.init(g);
  }
  index_t heads() const noexcept { return heads_; }
  index_t d_model() const noexcept { return d_; }

  /// y: (seqs·len, d) from x: (seqs·len, d). A positive `drop_p` (with a generator in `ds`)
  /// drops out attention probabilities, drawing from stream ((ds.stream·16 + 4) << 32).
  template <class Mask>
  void forward(cmatrix_view<T> x, index_t len, const Mask& mask, matrix_view<T> y, activations& a, T drop_p = T(0),
               const dropout_stream& ds = {}) const {
    const index_t n = x.rows();
    require(len >= 1 && n % len == 0, "self_attention: ", n, " rows are not a whole number of sequences of length ", len);
    require(drop_p >= T(0) && drop_p < T(1), "self_attention: dropout must lie in [0, 1), got ", drop_p);
    const attention_layout L{n / len, len, n / len, len, {}};
    auto qkv_v = a.qkv.view(n, 3 * d_);
    qkv.forward(x, qkv_v);
    auto att = a.att.view(n, d_);
    const index_t plen_all = L.q_seqs * heads_ * len * len;
    T* probs = a.probs.flat(plen_all).data();
    a.dropped = drop_p > T(0) && ds.gen != nullptr;
    prob_dropout<T> drop;
    if (a.dropped)
      drop = {drop_p, ds.gen, (ds.stream * 16 + 4) << 32, ds.row_offset / static_cast<std::uint64_t>(len),
              a.drop_mask.flat(plen_all).data()};
    attention_core<T>::forward(L, mask, heads_, q_of(qkv_v), k_of(qkv_v), v_of(qkv_v), att, probs, drop);
    proj.forward(att, y);
  }

  /// dx: (n, d) written, or added to with `accumulate_dx`.
  void backward(cmatrix_view<T> x, index_t len, cmatrix_view<T> dy, matrix_view<T> dx, activations& a,
                bool accumulate_dx = false) const {
    const index_t n = x.rows();
    const attention_layout L{n / len, len, n / len, len, {}};
    auto datt = a.datt.view(n, d_);
    proj.backward(a.att(), dy, datt);
    auto dqkv = a.dqkv.view(n, 3 * d_);
    dqkv.middle_cols(d_, 2 * d_).eigen().setZero();
    const cmatrix_view<T> qkv_v = a.qkv();
    attention_core<T>::backward(L, heads_, q_of(qkv_v), k_of(qkv_v), v_of(qkv_v), a.probs.as_span().data(),
                                datt, dqkv.middle_cols(0, d_), dqkv.middle_cols(d_, d_),
                                dqkv.middle_cols(2 * d_, d_), a.dropped ? a.drop_mask.as_span().data() : nullptr);
    qkv.backward(x, dqkv, dx, accumulate_dx);
  }

  /// Inference over whole sequences (no saved state; thread-safe).
  template <class Mask>
  void infer(cmatrix_view<T> x, index_t len, const Mask& mask, matrix_view<T> y, workspace& ws) const {
    auto frame = ws.scope();
    const index_t n = x.rows();
    const attention_layout L{n / len, len, n / len, len, {}};
    auto qkv_v = ws.take_matrix<T>(n, 3 * d_);
    qkv.forward(x, qkv_v);
    auto att = ws.take_matrix<T>(n, d_);
    attention_core<T>::forward(L, mask, heads_, q_of(qkv_v), k_of(qkv_v), v_of(qkv_v), att, nullptr);
    proj.forward(att, y);
  }

  /// Incremental causal decoding: x_new (n_seq, d) is the next position of each of the
  /// cache's sequences; its keys and values are appended to the cache.
  void step(cmatrix_view<T> x_new, kv_cache<T>& cache, matrix_view<T> y, workspace& ws) const {
    auto frame = ws.scope();
    const index_t n = x_new.rows();
    check_dim("self_attention::step: rows of x (sequences in the cache)", n, cache.sequences());
    auto qkv_v = ws.take_matrix<T>(n, 3 * d_);
    qkv.forward(x_new, qkv_v);
    cache.append(k_of(qkv_v), v_of(qkv_v));
    auto att = ws.take_matrix<T>(n, d_);
    // Key sequences are the cache's blocks of `capacity` rows; the mask limits each query to
    // the positions filled so far (itself included).
    const attention_layout L{n, 1, n, cache.capacity(), {}};
    attention_core<T>::forward(L, causal_mask{cache.length() - 1}, heads_, q_of(qkv_v), cache.keys(),
                               cache.values(), att, nullptr);
    proj.forward(att, y);
  }

  linear<T> qkv, proj;

 private:
  matrix_view<T> q_of(matrix_view<T> m) const { return m.middle_cols(0, d_); }
  matrix_view<T> k_of(matrix_view<T> m) const { return m.middle_cols(d_, d_); }
  matrix_view<T> v_of(matrix_view<T> m) const { return m.middle_cols(2 * d_, d_); }
  cmatrix_view<T> q_of(cmatrix_view<T> m) const { return m.middle_cols(0, d_); }
  cmatrix_view<T> k_of(cmatrix_view<T> m) const { return m.middle_cols(d_, d_); }
  cmatrix_view<T> v_of(cmatrix_view<T> m) const { return m.middle_cols(2 * d_, d_); }

  index_t d_ = 0, heads_ = 1;
};

/// Cross-attention: Q = x·W_q, K and V = memory·W_kv, then the output projection.
template <class T>
class cross_attention {
 public:
  struct activations {
    buffer<T> q, kv, probs, att, dq, dkv, datt;
  };

  cross_attention() = default;
  cross_attention(parameter_store<T>& ps, const std::string& name, index_t d_model, index_t d_memory,
                  index_t heads, bool bias = true)
      : q(ps, join_name(name, "q"), d_model, d_model, bias),
        kv(ps, join_name(name, "kv"), d_memory, 2 * d_model, bias),
        proj(ps, join_name(name, "proj"), d_model, d_model, bias), d_(d_model), heads_(heads) {
    require(heads >= 1 && d_model % heads == 0, "attention '", name, "': d_model ", d_model,
            " is not divisible by heads ", heads);
  }
  void init(rng& g) {
    q.init(g);
    kv.init(g);
    proj.init(g);
  }
  index_t heads() const noexcept { return heads_; }

  /// y: (q_seqs·q_len, d). memory: (kv_seqs·mem_len, d_memory); kv_of_q maps query
  /// sequences to memory sequences (empty: one-to-one).
  template <class Mask>
  void forward(cmatrix_view<T> x, index_t q_len, cmatrix_view<T> memory, index_t mem_len,
               cspan<std::int32_t> kv_of_q, const Mask& mask, matrix_view<T> y, activations& a) const {
    const attention_layout L = layout(x, q_len, memory, mem_len, kv_of_q);
    auto qv = a.q.view(x.rows(), d_);
    q.forward(x, qv);
    auto kvv = a.kv.view(memory.rows(), 2 * d_);
    kv.forward(memory, kvv);
    auto att = a.att.view(x.rows(), d_);
    T* probs = a.probs.flat(L.q_seqs * heads_ * L.q_len * L.kv_len).data();
    attention_core<T>::forward(L, mask, heads_, qv, kvv.middle_cols(0, d_), kvv.middle_cols(d_, d_), att, probs);
    proj.forward(att, y);
  }

  /// dx written (or added with `accumulate_dx`); dmemory ADDED (every decoder layer reads
  /// the same memory).
  void backward(cmatrix_view<T> x, index_t q_len, cmatrix_view<T> memory, index_t mem_len,
                cspan<std::int32_t> kv_of_q, cmatrix_view<T> dy, matrix_view<T> dx, matrix_view<T> dmemory,
                activations& a, bool accumulate_dx = false) const {
    const attention_layout L = layout(x, q_len, memory, mem_len, kv_of_q);
    auto datt = a.datt.view(x.rows(), d_);
    proj.backward(a.att(), dy, datt);
    auto dq = a.dq.view(x.rows(), d_);
    auto dkv = a.dkv.view(memory.rows(), 2 * d_);
    dkv.eigen().setZero();
    const cmatrix_view<T> kvv = a.kv();
    attention_core<T>::backward(L, heads_, a.q(), kvv.middle_cols(0, d_), kvv.middle_cols(d_, d_),
                                a.probs.as_span().data(), datt, dq, dkv.middle_cols(0, d_),
                                dkv.middle_cols(d_, d_));
    q.backward(x, dq, dx, accumulate_dx);
    kv.backward(memory, dkv, dmemory, true);
  }

  /// Keys and values of a memory, computed once and shared by every decoding step and beam.
  void project_memory(cmatrix_view<T> memory, matrix_view<T> kv_out) const { kv.forward(memory, kv_out); }

  /// Inference with projected memory (from project_memory): thread-safe.
  template <class Mask>
  void infer(cmatrix_view<T> x, index_t q_len, cmatrix_view<T> memory_kv, index_t mem_len,
             cspan<std::int32_t> kv_of_q, const Mask& mask, matrix_view<T> y, workspace& ws) const {
    auto frame = ws.scope();
    const attention_layout L = layout(x, q_len, memory_kv, mem_len, kv_of_q);
    auto qv = ws.take_matrix<T>(x.rows(), d_);
    q.forward(x, qv);
    auto att = ws.take_matrix<T>(x.rows(), d_);
    attention_core<T>::forward(L, mask, heads_, qv, memory_kv.middle_cols(0, d_), memory_kv.middle_cols(d_, d_), att,
                               nullptr);
    proj.forward(att, y);
  }

  linear<T> q, kv, proj;

 private:
  attention_layout layout(cmatrix_view<T> x, index_t q_len, cmatrix_view<T> memory, index_t mem_len,
                          cspan<std::int32_t> kv_of_q) const {
    require(q_len >= 1 && x.rows() % q_len == 0, "cross_attention: ", x.rows(),
            " query rows are not a whole number of sequences of length ", q_len);
    require(mem_len >= 1 && memory.rows() % mem_len == 0, "cross_attention: ", memory.rows(),
            " memory rows are not a whole number of sequences of length ", mem_len);
    attention_layout L{x.rows() / q_len, q_len, memory.rows() / mem_len, mem_len, kv_of_q};
    L.check("cross_attention", x.rows(), memory.rows());
    return L;
  }

  index_t d_ = 0, heads_ = 1;
};

struct self_source {
  template <class T>
  using layer = self_attention<T>;
};
struct cross_source {
  template <class T>
  using layer = cross_attention<T>;
};

/// The attention layer for a source policy: multi_head_attention<float, self_source>.
template <class T, class Source>
using multi_head_attention = typename Source::template layer<T>;

}  // namespace reg4rec::nn
