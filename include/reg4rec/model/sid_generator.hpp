// The encoder–decoder semantic-ID generator (SPEC §4.1–4.3).
//
// Encoder: the user's history. Token-level: each item is SEP followed by its M tokens, each
// row embedding = token + codebook identity + item position. Item-level: one row per item,
// the sum of its token (+ identity) embeddings + item position — M + 1 times shorter — plus,
// optionally, a learned embedding of the item itself (item_id_embedding: ID + SID input; the
// decoder still generates SIDs only, so the output side keeps no per-item table).
// Decoder: BOS then the target's tokens in the step order σ; row k predicts the token of
// codebook σ(k) through that codebook's head; inputs carry their codebook identity so any
// order can be taught. Pre-norm blocks, GELU FFN, final LayerNorms on both stacks.
// Reflection head (optional, reflection_weight β > 0; SPEC §4.4 (c), a learned reflection
// score): the encoder's state after a prefix, h, scores every whole item i as h·e_i, with
// e_i the sum of the item's token vectors in a table of its own (reflect.tok), plus with
// reflection_item_vectors a learned vector of the item itself (reflect.item). Trained by a
// full-softmax cross-entropy over the catalogue at every target (weight β against one token's
// loss); beam search can add w·h·e_i to the score of each finished path
// (beam_options::reflection), so the model judges a path as a whole item. With
// reflection_tied the head has no tables of its own: it scores with the encoder's input
// tables (tok, and item with item_id_embedding), SASRec's tied input/output embedding.
//
// Training batches are windows of items with decoders attached (generator_batch). With a
// causal encoder (SPEC §4.2) one window serves every target inside it: decoder (w, p)
// cross-attends only to the first p items of window w (prefix_mask), which is exactly the
// encoder run on those p items alone. With a bidirectional encoder each window is one
// history with one decoder. Windows are split across threads (nn::data_parallel).
#pragma once

#include <algorithm>
#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include "reg4rec/core/rng.hpp"
#include "reg4rec/core/workspace.hpp"
#include "reg4rec/io/binary.hpp"
#include "reg4rec/kernels/softmax.hpp"
#include "reg4rec/loss/cross_entropy.hpp"
#include "reg4rec/model/sid_layout.hpp"
#include "reg4rec/nn/data_parallel.hpp"
#include "reg4rec/nn/embedding.hpp"
#include "reg4rec/nn/kv_cache.hpp"
#include "reg4rec/nn/norm.hpp"
#include "reg4rec/nn/transformer.hpp"

namespace reg4rec::model {

/// History tokenisation policy.
enum class history_tokens { token_level, item_level };
/// Encoder attention policy: causal (all-prefix training) or bidirectional (one prefix per sample).
enum class encoder_attention { causal, bidirectional };

struct generator_config {
  index_t d_model = 128;
  index_t heads = 4;
  index_t d_ff = 512;
  index_t encoder_layers = 2;
  index_t decoder_layers = 2;
  double dropout = 0.1;            // on every residual branch
  double embedding_dropout = 0.0;  // on the encoder's and decoder's input embeddings
  double attention_dropout = 0.0;  // on the self-attention probabilities (encoder and decoder)
  double embedding_scale = 1.0;    // token embeddings × this in the inputs (SASRec-style √d_model)
  index_t max_history = 20;  // items of history the model reads
  history_tokens tokens = history_tokens::token_level;
  encoder_attention attention = encoder_attention::causal;
  bool item_id_embedding = false;  // item-level rows add a per-item embedding (needs item_level)
  double label_smoothing = 0.0;
  double embedding_std = 0.02;
  double reflection_weight = 0.0;  // β > 0: a reflection head, trained with weight β (see above)
  bool reflection_item_vectors = false;  // the head's item vectors add a per-item vector (needs β > 0)
  bool reflection_tied = false;  // the head reads the input tables tok (and item); see above
};

/// A training batch. Window w holds items[window_start[w], window_start[w + 1]) (at most
/// max_history). Decoder j reads the first prefix[j] ≥ 1 items of window window[j] and
/// predicts item target[j] in the codebook order order[j·M .. j·M + M) (empty: 0..M−1).
/// Decoders must be sorted by window. weight[j] (optional) scales decoder j's loss;
/// token_weight[j·M + k] (optional, instead) scales the loss of decoder j's k-th step — PARS
/// turns its objective's per-token gradient into these weights.
/// remaining_weight α > 0 (not with token_weight): every step before the fixed tail also
/// learns, with weight α, the target's token in each free codebook the order emits later —
/// the heads CRSS compares at that step, which otherwise learn only when their codebook is
/// the one emitted. Kept by clear().
struct generator_batch {
  std::vector<index_t> window_start{0};
  std::vector<std::int32_t> items;
  std::vector<std::int32_t> window, prefix, target, order;
  std::vector<float> weight;
  std::vector<float> token_weight;
  float remaining_weight = 0;

  index_t windows() const noexcept { return static_cast<index_t>(window_start.size()) - 1; }
  index_t decoders() const noexcept { return static_cast<index_t>(window.size()); }
  void clear() {
    window_start.assign(1, 0);
    items.clear();
    window.clear();
    prefix.clear();
    target.clear();
    order.clear();
    weight.clear();
    token_weight.clear();
  }
  /// Appends a window and returns its index.
  index_t add_window(cspan<std::int32_t> its) {
    const std::size_t at = items.size();  // resize + copy: GCC 12 misreads insert here (-Wstringop-overflow)
    items.resize(at + static_cast<std::size_t>(its.size()));
    std::copy(its.begin(), its.end(), items.begin() + static_cast<std::ptrdiff_t>(at));
    window_start.push_back(static_cast<index_t>(items.size()));
    return windows() - 1;
  }
  void add_decoder(index_t w, index_t p, std::int32_t t) {
    window.push_back(static_cast<std::int32_t>(w));
    prefix.push_back(static_cast<std::int32_t>(p));
    target.push_back(t);
  }
};

/// Encoder output for a set of users, ready for decoding: per decoder layer, the memory's
/// projected keys and values (computed once, shared by every beam and step).
template <class T>
struct encoded_users {
  index_t users = 0, mem_len = 0;       // memory rows per user (padded)
  std::vector<std::int32_t> lengths;    // real memory rows per user
  std::vector<matrix<T>> kv;            // per decoder layer: (users·mem_len, 2·d)
  matrix<T> state;                      // (users, d): the final-normed memory row of each user's last item
};

/// Incremental decoder state of a set of beams.
template <class T>
struct decoder_state {
  std::vector<nn::kv_cache<T>> cache;  // per decoder layer
  index_t step = 0;
};

template <class T>
class sid_generator {
 public:
  sid_generator(const generator_config& c, sid_layout layout, cmatrix_view<std::int32_t> item_codes,
                std::uint64_t seed = 1)
      : cfg_(c), layout_(std::move(layout)), codes_(item_codes.eigen()), ps_(std::make_unique<nn::parameter_store<T>>()) {
    require(c.max_history >= 1 && c.encoder_layers >= 1 && c.decoder_layers >= 1,
            "sid_generator: max_history and the layer counts must be positive");
    nn::check_regularisation("sid_generator", c.dropout, c.embedding_dropout, c.attention_dropout, c.embedding_scale);
    require(!c.item_id_embedding || c.tokens == history_tokens::item_level,
            "sid_generator: item_id_embedding needs item-level history tokens");
    require(c.reflection_weight >= 0 && std::isfinite(c.reflection_weight),
            "sid_generator: reflection_weight must be finite and >= 0, got ", c.reflection_weight);
    require(!c.reflection_item_vectors || c.reflection_weight > 0,
            "sid_generator: reflection_item_vectors needs a reflection head (reflection_weight > 0)");
    require(!c.reflection_tied || (c.reflection_weight > 0 && c.reflection_item_vectors == c.item_id_embedding),
            "sid_generator: reflection_tied needs a reflection head, and per-item vectors in the head exactly when the "
            "inputs have an item-id embedding (the head shares the input tables)");
    layout_.check(item_codes, "sid_generator");
    build();
    rng g(seed);
    init(g);
  }

  const generator_config& config() const noexcept { return cfg_; }
  const sid_layout& layout() const noexcept { return layout_; }
  const matrix<std::int32_t>& item_codes() const noexcept { return codes_; }
  index_t items() const noexcept { return codes_.rows(); }
  index_t codebooks() const noexcept { return layout_.codebooks(); }
  nn::parameter_store<T>& params() noexcept { return *ps_; }
  const nn::parameter_store<T>& params() const noexcept { return *ps_; }
  /// Encoder rows per history item.
  index_t tokens_per_item() const noexcept { return cfg_.tokens == history_tokens::token_level ? codebooks() + 1 : 1; }
  /// Whether the model has a reflection head (reflection_weight > 0).
  bool has_reflection() const noexcept { return cfg_.reflection_weight > 0; }

  /// Training forward + backward: adds gradients, returns the mean cross-entropy per target
  /// token (weighted by batch.weight / token_weight if given). label_smoothing < 0 uses the
  /// configuration's.
  double train_step(const generator_batch& b, nn::dropout_stream ds = {}, double label_smoothing = -1) {
    check_batch(b);
    loss::cross_entropy_options o;
    o.label_smoothing = label_smoothing < 0 ? cfg_.label_smoothing : label_smoothing;
    o.normalizer = double(b.decoders() * codebooks());  // every shard divides by the whole batch's tokens
    const int shards = nn::shard_count(b.windows());
    if (static_cast<int>(shards_.size()) < shards) shards_.resize(static_cast<std::size_t>(shards));
    std::vector<double> losses(static_cast<std::size_t>(shards), 0.0);
    if (trains_reflection(b)) {  // the head's item vectors, read by every shard
      auto e = refl_items_.view(items(), cfg_.d_model);
      for (index_t i = 0; i < items(); ++i) reflection_vector(i, e.row_ptr(i));
    }
    nn::data_parallel(*ps_, b.windows(), [&](int s, index_t w0, index_t w1) {
      losses[static_cast<std::size_t>(s)] = shard_step(shards_[static_cast<std::size_t>(s)], b, w0, w1, ds, o);
    });
    double total = 0;
    for (double l : losses) total += l;
    return total;
  }

  /// Encodes histories (each the user's items in time order; the last max_history are used;
  /// at least one item each) for decoding. Thread-safe.
  void encode(const std::vector<cspan<std::int32_t>>& histories, encoded_users<T>& out, workspace& ws) const {
    const index_t U = static_cast<index_t>(histories.size()), tpi = tokens_per_item(), d = cfg_.d_model;
    index_t max_items = 1;
    for (const auto& h : histories) {
      require(!h.empty(), "sid_generator::encode: an empty history");
      max_items = std::max<index_t>(max_items, std::min<index_t>(h.size(), cfg_.max_history));
    }
    const index_t L = max_items * tpi;
    out.users = U;
    out.mem_len = L;
    out.lengths.assign(static_cast<std::size_t>(U), 0);
    auto frame = ws.scope();
    auto tok = ws.take<std::int32_t>(U * L), ident = ws.take<std::int32_t>(U * L), pos = ws.take<std::int32_t>(U * L);
    for (index_t u = 0; u < U; ++u) {
      const auto& h = histories[static_cast<std::size_t>(u)];
      const index_t n = std::min<index_t>(h.size(), cfg_.max_history);
      fill_window_rows(h.subspan(h.size() - n, n), max_items, tok.data() + u * L, ident.data() + u * L, pos.data() + u * L);
      out.lengths[u] = static_cast<std::int32_t>(n * tpi);
    }
    auto a = ws.take_matrix<T>(U * L, d), b = ws.take_matrix<T>(U * L, d);
    embed_rows(tok, ident, pos, a);
    for (const auto& blk : enc_) {
      if (cfg_.attention == encoder_attention::causal)
        blk.infer(a, L, nn::causal_mask{}, b, ws);
      else
        blk.infer(a, L, nn::padding_mask{out.lengths, false}, b, ws);
      std::swap(a, b);
    }
    auto mean = ws.take<T>(U * L), rstd = ws.take<T>(U * L);
    enc_ln_.forward(a, b, mean, rstd);
    out.state.resize(U, d);
    for (index_t u = 0; u < U; ++u) out.state.row(u) = b.eigen().row(u * L + out.lengths[u] - 1);
    out.kv.resize(dec_.size());
    for (std::size_t l = 0; l < dec_.size(); ++l) {
      out.kv[l].resize(U * L, 2 * d);
      dec_[l].cross.project_memory(b, out.kv[l]);
    }
  }

  /// Prepares decoding of n_beams beams, with room for `capacity` beams after reorders
  /// (reorder_beams); capacity 0 means n_beams.
  void start_decoding(decoder_state<T>& st, index_t n_beams, index_t capacity = 0) const {
    st.cache.resize(dec_.size());
    for (auto& c : st.cache) c.reset(n_beams, codebooks(), cfg_.d_model, capacity);
    st.step = 0;
  }
  /// Beams that survive a step: new beam i continues old beam parent[i].
  void reorder_beams(decoder_state<T>& st, cspan<std::int32_t> parent) const {
    for (auto& c : st.cache) c.reorder(parent);
  }

  /// One decoder step for every beam: prev_codebook[i] / prev_code[i] is the token emitted
  /// by beam i at the previous step (ignored at step 0, where the input is BOS); beam i reads
  /// user beam_user[i] of `enc`, or only its first mem_limit[i] rows when mem_limit is given
  /// (a prefix of a causally encoded window). hidden: (beams, d), the final-normed state.
  void decode_step(cspan<std::int32_t> prev_codebook, cspan<std::int32_t> prev_code, cspan<std::int32_t> beam_user,
                   const encoded_users<T>& enc, decoder_state<T>& st, matrix_view<T> hidden, workspace& ws,
                   cspan<std::int32_t> mem_limit = {}) const {
    const index_t n = beam_user.size(), d = cfg_.d_model;
    require(st.step < codebooks(), "sid_generator::decode_step: all ", codebooks(), " tokens already generated");
    check_dim("decode_step: rows of hidden (beams)", hidden.rows(), n);
    auto frame = ws.scope();
    auto x = ws.take_matrix<T>(n, d), y = ws.take_matrix<T>(n, d);
    const auto te = tok_.weight.value(), ce = ident_.weight.value(), se = step_.weight.value();
    const T es = T(cfg_.embedding_scale);
    for (index_t i = 0; i < n; ++i) {
      std::int32_t tok, id;
      if (st.step == 0) {
        tok = layout_.bos();
        id = static_cast<std::int32_t>(layout_.special_identity());
      } else {
        require(prev_codebook[i] >= 0 && prev_codebook[i] < codebooks() && prev_code[i] >= 0 &&
                    prev_code[i] < layout_.size(prev_codebook[i]),
                "decode_step: beam ", i, " has an invalid previous token");
        tok = layout_.token(prev_codebook[i], prev_code[i]);
        id = prev_codebook[i];
      }
      for (index_t j = 0; j < d; ++j) x(i, j) = es * te(tok, j) + ce(id, j) + se(st.step, j);
    }
    const nn::padding_mask mem_mask{enc.lengths, false};
    const nn::prefix_mask prefix{mem_limit, 1};
    for (std::size_t l = 0; l < dec_.size(); ++l) {
      if (mem_limit.empty())
        dec_[l].step(x, st.cache[l], enc.kv[l], enc.mem_len, beam_user, mem_mask, y, ws);
      else
        dec_[l].step(x, st.cache[l], enc.kv[l], enc.mem_len, beam_user, prefix, y, ws);
      std::swap(x, y);
    }
    auto mean = ws.take<T>(n), rstd = ws.take<T>(n);
    dec_ln_.forward(x, hidden, mean, rstd);
    ++st.step;
  }

  /// log p(code | state) over codebook r for each hidden row: out (rows, K_r).
  void log_probs(index_t r, cmatrix_view<T> hidden, matrix_view<T> out) const {
    check_dim("log_probs: columns of out (codes of the codebook)", out.cols(), layout_.size(r));
    auto o = out.eigen();
    o.noalias() = hidden.eigen() * cmatrix_view<T>(heads_w_[r].value()).eigen().transpose();
    o.rowwise() += cmatrix_view<T>(heads_b_[r].value()).eigen().row(0);
    kernels::log_softmax<T>(out, out);
  }

  /// Reflection scores h_u·e_i of `items` for user u of `enc` (needs the reflection head).
  void reflection_scores(const encoded_users<T>& enc, index_t u, cspan<std::int32_t> items, span<T> out) const {
    require(has_reflection(), "sid_generator: the model has no reflection head (reflection_weight 0)");
    check_dim("reflection_scores: outputs", out.size(), items.size());
    const index_t d = cfg_.d_model;
    const T* h = enc.state.data() + u * d;
    std::vector<T> e(static_cast<std::size_t>(d));
    for (index_t q = 0; q < items.size(); ++q) {
      const std::int32_t it = items[q];
      require(it >= 0 && it < this->items(), "reflection_scores: unknown item ", it);
      reflection_vector(it, e.data());
      T s = 0;
      for (index_t j = 0; j < d; ++j) s += h[j] * e[static_cast<std::size_t>(j)];
      out[q] = s;
    }
  }

  /// Saves weights, configuration, layout and item codes (one file, atomically).
  void save(const std::string& path) const {
    io::binary_writer w(path, "sid_generator");
    const std::vector<std::int64_t> cfg{cfg_.d_model, cfg_.heads, cfg_.d_ff, cfg_.encoder_layers, cfg_.decoder_layers,
                                        cfg_.max_history, static_cast<std::int64_t>(cfg_.tokens),
                                        static_cast<std::int64_t>(cfg_.attention), cfg_.item_id_embedding ? 1 : 0,
                                        cfg_.reflection_item_vectors ? 1 : 0, cfg_.reflection_tied ? 1 : 0};
    w.put("config.int", cfg);
    w.put("config.real",
          std::vector<double>{cfg_.dropout, cfg_.label_smoothing, cfg_.embedding_std, cfg_.embedding_dropout,
                              cfg_.attention_dropout, cfg_.embedding_scale, cfg_.reflection_weight});
    std::vector<std::int64_t> sizes(layout_.sizes().begin(), layout_.sizes().end());
    w.put("layout", sizes);
    if (layout_.fixed_tail() > 0) w.put_scalar<std::int64_t>("layout.fixed_tail", layout_.fixed_tail());
    w.put_matrix<std::int32_t>("item_codes", codes_);
    for (const auto& e : ps_->entries())
      w.put<T>("param/" + e.name, cspan<T>(ps_->values().data() + e.offset, e.rows * e.cols), {e.rows, e.cols});
    w.commit();
  }

  static sid_generator load(const std::string& path) {
    io::binary_reader r(path, "sid_generator");
    const auto ci = r.get_vector<std::int64_t>("config.int");
    const auto cr = r.get_vector<double>("config.real");
    // config.real: 3 values in files written before embedding dropout existed, 4 before
    // attention dropout and the embedding scale, 6 before the reflection head, 7 since.
    // config.int: 8 values in files written before the item-id embedding existed, 9 before
    // the reflection head's item vectors, 10 before its tied tables, 11 since.
    if ((ci.size() < 8 || ci.size() > 11) || (cr.size() != 3 && cr.size() != 4 && cr.size() != 6 && cr.size() != 7))
      r.fail("config", "unexpected configuration record");
    generator_config c;
    c.d_model = ci[0];
    c.heads = ci[1];
    c.d_ff = ci[2];
    c.encoder_layers = ci[3];
    c.decoder_layers = ci[4];
    c.max_history = ci[5];
    c.tokens = static_cast<history_tokens>(ci[6]);
    c.attention = static_cast<encoder_attention>(ci[7]);
    c.item_id_embedding = ci.size() > 8 && ci[8] == 1;
    c.reflection_item_vectors = ci.size() > 9 && ci[9] == 1;
    c.reflection_tied = ci.size() > 10 && ci[10] == 1;
    c.dropout = cr[0];
    c.label_smoothing = cr[1];
    c.embedding_std = cr[2];
    c.embedding_dropout = cr.size() > 3 ? cr[3] : 0.0;
    c.attention_dropout = cr.size() > 5 ? cr[4] : 0.0;
    c.embedding_scale = cr.size() > 5 ? cr[5] : 1.0;
    c.reflection_weight = cr.size() > 6 ? cr[6] : 0.0;
    const auto sizes = r.get_vector<std::int64_t>("layout");
    const auto codes = r.get_matrix<std::int32_t>("item_codes");
    check_loaded_config(r, ci, c, sizes);
    const std::int64_t tail = r.has("layout.fixed_tail") ? r.get_scalar<std::int64_t>("layout.fixed_tail") : 0;
    if (tail < 0 || tail >= static_cast<std::int64_t>(sizes.size()))
      r.fail("layout.fixed_tail", reg4rec::detail::cat(tail, " with ", sizes.size(), " codebooks"));
    std::unique_ptr<sid_generator> mp;
    try {
      mp = std::make_unique<sid_generator>(c, sid_layout(std::vector<index_t>(sizes.begin(), sizes.end()), tail), codes,
                                           1);
    } catch (const checkpoint_error&) {
      throw;
    } catch (const error& e) {
      r.fail("config", e.what());
    }
    sid_generator& m = *mp;
    for (const auto& e : m.ps_->entries())
      r.get<T>("param/" + e.name, span<T>(m.ps_->values().data() + e.offset, e.rows * e.cols), {e.rows, e.cols});
    return std::move(m);
  }

 private:
  struct shard_state {
    std::vector<typename nn::encoder_block<T>::activations> enc_acts;
    std::vector<typename nn::decoder_block<T>::activations> dec_acts;
    std::vector<nn::buffer<T>> enc_h, dec_h;
    nn::buffer<T> ex, mem, emean, erstd, dx, dz, dmean, drstd, g1, g2, dmem, hr, dhr, wr, ditems_e;
    nn::buffer<std::int32_t> etok, eid, epos, dtok, did, dstep, kv_of, limits, mem_len, rows_of, later, tr;
    nn::detail::residual_dropout<T> enc_drop, dec_drop;  // input-embedding dropout
    workspace ws;
  };

  // A saved configuration is checked before anything is built from it: every size in range,
  // and the model small enough to be held by the file (each weight is one of its records), so
  // a damaged file fails with a message instead of a huge allocation.
  static void check_loaded_config(const io::binary_reader& r, const std::vector<std::int64_t>& ci,
                                  const generator_config& c, const std::vector<std::int64_t>& sizes) {
    for (std::size_t k = 0; k < 6; ++k)
      if (ci[k] < 1) r.fail("config.int", reg4rec::detail::cat("entry ", k, " is ", ci[k], ", expected at least 1"));
    for (std::size_t k = 6; k < ci.size(); ++k)  // the policies and switches, each 0 or 1
      if (ci[k] < 0 || ci[k] > 1)
        r.fail("config.int", "unknown history-token, attention, item-embedding or reflection policy");
    if (c.d_model % c.heads != 0) r.fail("config.int", "d_model is not a multiple of heads");
    if (!(c.label_smoothing >= 0 && c.label_smoothing < 1) || !(c.embedding_std >= 0 && c.embedding_std < 1e6) ||
        !(c.reflection_weight >= 0 && c.reflection_weight < 1e6))
      r.fail("config.real", "label smoothing, embedding std or reflection weight out of range");
    try {  // the constructor's own check, reported against the file's record
      nn::check_regularisation("sid_generator", c.dropout, c.embedding_dropout, c.attention_dropout, c.embedding_scale);
    } catch (const error& e) {
      r.fail("config.real", e.what());
    }
    if (sizes.empty()) r.fail("layout", "no codebooks");
    double vocab = 2;
    for (std::int64_t k : sizes) {
      if (k < 1 || k > INT32_MAX) r.fail("layout", reg4rec::detail::cat("codebook size ", k, " out of range"));
      vocab += double(k);
    }
    if (vocab > double(INT32_MAX)) r.fail("layout", "too many tokens");
    double stored = 0;
    for (const auto& name : r.names())
      if (name.rfind("param/", 0) == 0) stored += double(r.info(name).bytes) / double(sizeof(T));
    const double d = double(c.d_model), layers = double(c.encoder_layers) + double(c.decoder_layers);
    if (d * vocab > stored || d * double(c.d_ff) > stored || d * double(c.max_history) > stored ||
        layers * d * d > stored)
      r.fail("config", reg4rec::detail::cat("describes a larger model than the file's ", stored, " stored weights"));
  }

  void build() {
    auto& ps = *ps_;
    const index_t d = cfg_.d_model, M = codebooks();
    tok_ = nn::embedding<T>(ps, "tok", layout_.vocabulary(), d);
    ident_ = nn::embedding<T>(ps, "codebook", M + 1, d);
    pos_ = nn::embedding<T>(ps, "item_pos", cfg_.max_history, d);
    step_ = nn::embedding<T>(ps, "step", M, d);
    if (cfg_.item_id_embedding) item_ = nn::embedding<T>(ps, "item", items(), d);
    if (cfg_.reflection_tied) {  // handles to the same parameters: reads and gradients are shared
      refl_ = tok_;
      refl_item_ = item_;
    } else {
      if (has_reflection()) refl_ = nn::embedding<T>(ps, "reflect.tok", layout_.vocabulary(), d);
      if (cfg_.reflection_item_vectors) refl_item_ = nn::embedding<T>(ps, "reflect.item", items(), d);
    }
    const nn::block_config bc{d, cfg_.heads, cfg_.d_ff, cfg_.dropout, true, cfg_.attention_dropout};
    for (index_t l = 0; l < cfg_.encoder_layers; ++l) enc_.emplace_back(ps, "enc." + std::to_string(l), bc);
    enc_ln_ = nn::layer_norm<T>(ps, "enc.ln", d);
    for (index_t l = 0; l < cfg_.decoder_layers; ++l) dec_.emplace_back(ps, "dec." + std::to_string(l), bc);
    dec_ln_ = nn::layer_norm<T>(ps, "dec.ln", d);
    for (index_t r = 0; r < M; ++r) {
      heads_w_.push_back(ps.add("head." + std::to_string(r) + ".weight", layout_.size(r), d, true));
      heads_b_.push_back(ps.add("head." + std::to_string(r) + ".bias", 1, layout_.size(r), false));
    }
  }

  void init(rng& g) {
    const T s = T(cfg_.embedding_std);
    tok_.init(g, s);
    ident_.init(g, s);
    pos_.init(g, s);
    step_.init(g, s);
    if (cfg_.item_id_embedding) item_.init(g, s);
    if (!cfg_.reflection_tied) {  // tied: the input tables, initialised above
      if (has_reflection()) refl_.init(g, s);
      if (cfg_.reflection_item_vectors) refl_item_.init(g, s);
    }
    for (auto& b : enc_) b.init(g);
    enc_ln_.init();
    for (auto& b : dec_) b.init(g);
    dec_ln_.init();
    for (auto& w : heads_w_) nn::init_fan_in(w.value(), cfg_.d_model, g);
  }

  void check_batch(const generator_batch& b) const {
    const index_t W = b.windows(), D = b.decoders(), M = codebooks();
    require(W >= 1 && D >= 1, "sid_generator::train_step: empty batch");
    check_dim("generator_batch: window_start end (items)", b.window_start.back(), static_cast<index_t>(b.items.size()));
    check_dim("generator_batch: prefix entries", static_cast<index_t>(b.prefix.size()), D);
    check_dim("generator_batch: target entries", static_cast<index_t>(b.target.size()), D);
    if (!b.order.empty()) check_dim("generator_batch: order entries (decoders × M)", static_cast<index_t>(b.order.size()), D * M);
    if (!b.weight.empty()) check_dim("generator_batch: weight entries", static_cast<index_t>(b.weight.size()), D);
    if (!b.token_weight.empty())
      check_dim("generator_batch: token_weight entries (decoders × M)", static_cast<index_t>(b.token_weight.size()), D * M);
    require(b.remaining_weight >= 0 && std::isfinite(b.remaining_weight),
            "generator_batch: remaining_weight must be finite and >= 0, got ", b.remaining_weight);
    require(b.remaining_weight == 0 || b.token_weight.empty(),
            "generator_batch: remaining_weight cannot be combined with token_weight");
    for (index_t w = 0; w < W; ++w) {
      const index_t n = b.window_start[w + 1] - b.window_start[w];
      require(n >= 1 && n <= cfg_.max_history, "generator_batch: window ", w, " has ", n, " items, allowed 1..",
              cfg_.max_history);
    }
    for (std::int32_t it : b.items)
      if (it < 0 || it >= items()) throw value_error(reg4rec::detail::cat("generator_batch: unknown item ", it));
    for (index_t j = 0; j < D; ++j) {
      require(b.window[j] >= 0 && b.window[j] < W && (j == 0 || b.window[j] >= b.window[j - 1]),
              "generator_batch: decoder ", j, " has window ", b.window[j], " (decoders must be sorted by window)");
      const index_t n = b.window_start[b.window[j] + 1] - b.window_start[b.window[j]];
      require(b.prefix[j] >= 1 && b.prefix[j] <= n, "generator_batch: decoder ", j, " prefix ", b.prefix[j],
              " outside 1..", n);
      if (cfg_.attention == encoder_attention::bidirectional)
        require(b.prefix[j] == n, "generator_batch: with a bidirectional encoder decoder ", j,
                " must read its whole window (one prefix per sample)");
      if (b.target[j] < 0 || b.target[j] >= items())
        throw value_error(reg4rec::detail::cat("generator_batch: decoder ", j, " has unknown target item ", b.target[j]));
      if (!b.order.empty()) {
        std::vector<bool> seen(static_cast<std::size_t>(M), false);
        for (index_t k = 0; k < M; ++k) {
          const auto r = b.order[j * M + k];
          require(r >= 0 && r < M && !seen[r], "generator_batch: decoder ", j, " order is not a permutation of 0..", M - 1);
          seen[r] = true;
        }
      }
    }
  }

  // Encoder rows of one window of items, padded to max_items items: token, identity, position.
  void fill_window_rows(cspan<std::int32_t> its, index_t max_items, std::int32_t* tok, std::int32_t* ident,
                        std::int32_t* pos) const {
    const index_t tpi = tokens_per_item();
    const auto special = static_cast<std::int32_t>(layout_.special_identity());
    for (index_t p = 0; p < max_items; ++p) {
      const bool real = p < its.size();
      for (index_t k = 0; k < tpi; ++k) {
        const index_t row = p * tpi + k;
        pos[row] = static_cast<std::int32_t>(real ? p : 0);
        if (!real) {
          tok[row] = -1;
          ident[row] = special;
        } else if (cfg_.tokens == history_tokens::item_level) {
          tok[row] = -2;  // marker: sum of the item's tokens (see embed_rows)
          ident[row] = its[p];
        } else if (k == 0) {
          tok[row] = layout_.sep();
          ident[row] = special;
        } else {
          tok[row] = layout_.token(k - 1, codes_(its[p], k - 1));
          ident[row] = static_cast<std::int32_t>(k - 1);
        }
      }
    }
  }

  // x[row] = scale·tok[t] + identity[i] + item_pos[p]; item-level rows (t = −2, i = item) sum
  // the item's token and identity embeddings (+ scale·item[i] with item_id_embedding);
  // padding rows (t = −1) are zero.
  void embed_rows(cspan<std::int32_t> tok, cspan<std::int32_t> ident, cspan<std::int32_t> pos, matrix_view<T> x) const {
    const index_t d = cfg_.d_model, M = codebooks();
    const T es = T(cfg_.embedding_scale);
    const auto te = tok_.weight.value(), ce = ident_.weight.value(), pe = pos_.weight.value();
    parallel_for(0, x.rows(), 256, [&](index_t lo, index_t hi) {
      for (index_t i = lo; i < hi; ++i) {
        T* row = x.row_ptr(i);
        if (tok[i] == -1) {
          std::fill(row, row + d, T(0));
          continue;
        }
        const T* p = pe.row_ptr(pos[i]);
        for (index_t j = 0; j < d; ++j) row[j] = p[j];
        if (tok[i] == -2) {
          for (index_t r = 0; r < M; ++r) {
            const T* t = te.row_ptr(layout_.token(r, codes_(ident[i], r)));
            const T* c = ce.row_ptr(r);
            for (index_t j = 0; j < d; ++j) row[j] += es * t[j] + c[j];
          }
          if (cfg_.item_id_embedding) {
            const T* e = item_.weight.value().row_ptr(ident[i]);
            for (index_t j = 0; j < d; ++j) row[j] += es * e[j];
          }
        } else {
          const T* t = te.row_ptr(tok[i]);
          const T* c = ce.row_ptr(ident[i]);
          for (index_t j = 0; j < d; ++j) row[j] += es * t[j] + c[j];
        }
      }
    });
  }

  // Gradient of embed_rows (into the calling thread's gradient shard).
  void embed_backward(cspan<std::int32_t> tok, cspan<std::int32_t> ident, cspan<std::int32_t> pos,
                      cmatrix_view<T> dx) const {
    const index_t d = cfg_.d_model, M = codebooks();
    const T es = T(cfg_.embedding_scale);
    auto gt = tok_.weight.grad(), gc = ident_.weight.grad(), gp = pos_.weight.grad();
    for (index_t i = 0; i < dx.rows(); ++i) {
      if (tok[i] == -1) continue;
      const T* g = dx.row_ptr(i);
      T* p = gp.row_ptr(pos[i]);
      for (index_t j = 0; j < d; ++j) p[j] += g[j];
      if (tok[i] == -2) {
        for (index_t r = 0; r < M; ++r) {
          T* t = gt.row_ptr(layout_.token(r, codes_(ident[i], r)));
          T* c = gc.row_ptr(r);
          for (index_t j = 0; j < d; ++j) {
            t[j] += es * g[j];
            c[j] += g[j];
          }
        }
        if (cfg_.item_id_embedding) {
          T* e = item_.weight.grad().row_ptr(ident[i]);
          for (index_t j = 0; j < d; ++j) e[j] += es * g[j];
        }
      } else {
        T* t = gt.row_ptr(tok[i]);
        T* c = gc.row_ptr(ident[i]);
        for (index_t j = 0; j < d; ++j) {
          t[j] += es * g[j];
          c[j] += g[j];
        }
      }
    }
  }

  double shard_step(shard_state& st, const generator_batch& b, index_t w0, index_t w1, const nn::dropout_stream& ds,
                    const loss::cross_entropy_options& o) {
    const index_t M = codebooks(), d = cfg_.d_model, tpi = tokens_per_item();
    const index_t W = w1 - w0;
    // Decoders of these windows (sorted by window).
    const auto first = std::lower_bound(b.window.begin(), b.window.end(), static_cast<std::int32_t>(w0));
    const auto last = std::lower_bound(b.window.begin(), b.window.end(), static_cast<std::int32_t>(w1));
    const index_t j0 = first - b.window.begin(), D = last - first;
    index_t max_items = 1;
    for (index_t w = w0; w < w1; ++w) max_items = std::max(max_items, b.window_start[w + 1] - b.window_start[w]);
    const index_t L = max_items * tpi, ne = W * L, nd = D * M;

    // Encoder rows.
    auto etok = st.etok.flat(ne), eid = st.eid.flat(ne), epos = st.epos.flat(ne);
    auto mem_len = st.mem_len.flat(W);
    for (index_t w = w0; w < w1; ++w) {
      const index_t a = b.window_start[w], n = b.window_start[w + 1] - a;
      fill_window_rows(cspan<std::int32_t>(b.items.data() + a, n), max_items, etok.data() + (w - w0) * L,
                       eid.data() + (w - w0) * L, epos.data() + (w - w0) * L);
      mem_len[w - w0] = static_cast<std::int32_t>(n * tpi);
    }
    auto ex = st.ex.view(ne, d);
    embed_rows(etok, eid, epos, ex);
    // Streams 62 (encoder) and 61 (decoder) of the step; the blocks use 0 .. 31 and 32 .. 60.
    const T emb_p = T(cfg_.embedding_dropout);
    const nn::dropout_stream enc_ds{ds.gen, ds.stream * 64 + 62, static_cast<std::uint64_t>(w0 * L)};
    st.enc_drop.forward(emb_p, ex, enc_ds, 0);
    st.enc_acts.resize(enc_.size());
    st.enc_h.resize(enc_.size());
    const nn::padding_mask enc_pad{mem_len, false};
    for (std::size_t l = 0; l < enc_.size(); ++l) {
      const cmatrix_view<T> in = l == 0 ? cmatrix_view<T>(ex) : cmatrix_view<T>(st.enc_h[l - 1]());
      const nn::dropout_stream lds{ds.gen, ds.stream * 64 + l, static_cast<std::uint64_t>(w0 * L)};
      if (cfg_.attention == encoder_attention::causal)
        enc_[l].forward(in, L, nn::causal_mask{}, st.enc_h[l].view(ne, d), st.enc_acts[l], lds);
      else
        enc_[l].forward(in, L, enc_pad, st.enc_h[l].view(ne, d), st.enc_acts[l], lds);
    }
    auto mem = st.mem.view(ne, d);
    enc_ln_.forward(st.enc_h.back()(), mem, st.emean.flat(ne), st.erstd.flat(ne));

    // Decoder rows: BOS, then the target's tokens in the step order.
    auto dtok = st.dtok.flat(nd), did = st.did.flat(nd), dstep = st.dstep.flat(nd);
    auto kv_of = st.kv_of.flat(D), limits = st.limits.flat(nd);
    for (index_t j = 0; j < D; ++j) {
      const index_t g = j0 + j;
      kv_of[j] = static_cast<std::int32_t>(b.window[g] - w0);
      for (index_t k = 0; k < M; ++k) {
        const index_t row = j * M + k;
        limits[row] = static_cast<std::int32_t>(b.prefix[g] * tpi);
        dstep[row] = static_cast<std::int32_t>(k);
        if (k == 0) {
          dtok[row] = layout_.bos();
          did[row] = static_cast<std::int32_t>(layout_.special_identity());
        } else {
          const index_t pr = b.order.empty() ? k - 1 : b.order[g * M + k - 1];
          dtok[row] = layout_.token(pr, codes_(b.target[g], pr));
          did[row] = static_cast<std::int32_t>(pr);
        }
      }
    }
    auto dx = st.dx.view(nd, d);
    {
      const auto te = tok_.weight.value(), ce = ident_.weight.value(), se = step_.weight.value();
      const T es = T(cfg_.embedding_scale);
      for (index_t i = 0; i < nd; ++i)
        for (index_t c = 0; c < d; ++c) dx(i, c) = es * te(dtok[i], c) + ce(did[i], c) + se(dstep[i], c);
    }
    const nn::dropout_stream dec_ds{ds.gen, ds.stream * 64 + 61, static_cast<std::uint64_t>(j0 * M)};
    st.dec_drop.forward(emb_p, dx, dec_ds, 0);
    st.dec_acts.resize(dec_.size());
    st.dec_h.resize(dec_.size());
    const nn::prefix_mask cross{limits, M};
    for (std::size_t l = 0; l < dec_.size(); ++l) {
      const cmatrix_view<T> in = l == 0 ? cmatrix_view<T>(dx) : cmatrix_view<T>(st.dec_h[l - 1]());
      const nn::dropout_stream lds{ds.gen, ds.stream * 64 + 32 + l, static_cast<std::uint64_t>(j0 * M)};
      dec_[l].forward(in, M, mem, L, kv_of, cross, st.dec_h[l].view(nd, d), st.dec_acts[l], lds);
    }
    auto z = st.g1.view(nd, d);
    dec_ln_.forward(st.dec_h.back()(), z, st.dmean.flat(nd), st.drstd.flat(nd));

    // Heads: rows grouped by the codebook they predict — the emitted one, and with
    // remaining_weight each free codebook still to come (weight α).
    auto dz = st.dz.view(nd, d);
    const T alpha = T(b.remaining_weight);
    const index_t n_free = layout_.free_codebooks();
    auto order_at = [&](index_t g, index_t k) { return b.order.empty() ? k : index_t(b.order[g * M + k]); };
    dz.eigen().setZero();  // a row's gradient sums over the heads it feeds
    double loss = 0;
    for (index_t r = 0; r < M; ++r) {
      index_t cnt = 0;
      auto rows = st.rows_of.flat(nd);
      auto later = st.later.flat(nd);  // 1: r comes later in this row's order
      for (index_t i = 0; i < nd; ++i) {
        const index_t g = j0 + i / M, k = i % M;
        bool take = order_at(g, k) == r, after = false;
        if (!take && alpha > 0 && r < n_free && k < n_free)
          for (index_t k2 = k + 1; k2 < M && !after; ++k2) after = order_at(g, k2) == r;
        if (take || after) {
          later[cnt] = after;
          rows[cnt++] = static_cast<std::int32_t>(i);
        }
      }
      if (cnt == 0) continue;
      auto hr = st.hr.view(cnt, d), dhr = st.dhr.view(cnt, d);
      auto tr = st.tr.flat(cnt);
      const bool weighted = !b.weight.empty() || !b.token_weight.empty() || alpha > 0;
      auto wr = weighted ? st.wr.flat(cnt) : span<T>();
      for (index_t q = 0; q < cnt; ++q) {
        hr.row(q).eigen() = z.row(rows[q]).eigen();
        tr[q] = codes_(b.target[j0 + rows[q] / M], r);
        if (!b.token_weight.empty())
          wr[q] = T(b.token_weight[j0 * M + rows[q]]);
        else if (weighted)
          wr[q] = (b.weight.empty() ? T(1) : T(b.weight[j0 + rows[q] / M])) * (later[q] ? alpha : T(1));
      }
      loss += loss::linear_cross_entropy<T>(hr, heads_w_[r].value(), heads_b_[r].value_span(), tr, wr, o, dhr,
                                            heads_w_[r].grad(), heads_b_[r].grad_span(), st.ws);
      for (index_t q = 0; q < cnt; ++q) dz.row(rows[q]).eigen() += dhr.row(q).eigen();
    }

    // Backward: decoder stack (memory gradients accumulate), encoder stack, embeddings.
    auto g = st.g2.view(nd, d);
    dec_ln_.backward(st.dec_h.back()(), st.dmean.as_span(), st.drstd.as_span(), dz, g);
    auto dmem = st.dmem.view(ne, d);
    dmem.eigen().setZero();
    auto gin = dz;  // reuse
    for (index_t l = static_cast<index_t>(dec_.size()) - 1; l >= 0; --l) {
      const cmatrix_view<T> in = l == 0 ? cmatrix_view<T>(dx) : cmatrix_view<T>(st.dec_h[l - 1]());
      dec_[l].backward(in, M, mem, L, kv_of, g, gin, dmem, st.dec_acts[l]);
      std::swap(g, gin);
    }
    st.dec_drop.backward(emb_p, dec_ds, g);
    {  // decoder input embeddings
      auto gt = tok_.weight.grad(), gc = ident_.weight.grad(), gs = step_.weight.grad();
      const T es = T(cfg_.embedding_scale);
      for (index_t i = 0; i < nd; ++i)
        for (index_t c = 0; c < d; ++c) {
          gt(dtok[i], c) += es * g(i, c);
          gc(did[i], c) += g(i, c);
          gs(dstep[i], c) += g(i, c);
        }
    }
    if (trains_reflection(b) && D > 0)
      loss += reflection_step(st, b, w0, j0, D, L, tpi, o, mem, dmem);
    auto e1 = st.g1.view(ne, d), e2 = st.g2.view(ne, d);
    enc_ln_.backward(st.enc_h.back()(), st.emean.as_span(), st.erstd.as_span(), dmem, e1);
    for (index_t l = static_cast<index_t>(enc_.size()) - 1; l >= 0; --l) {
      const cmatrix_view<T> in = l == 0 ? cmatrix_view<T>(ex) : cmatrix_view<T>(st.enc_h[l - 1]());
      enc_[l].backward(in, L, e1, e2, st.enc_acts[l]);
      std::swap(e1, e2);
    }
    st.enc_drop.backward(emb_p, enc_ds, e1);
    embed_backward(etok, eid, epos, e1);
    return loss;
  }

  // Whether a batch trains the reflection head: PARS batches (token_weight) leave it alone.
  bool trains_reflection(const generator_batch& b) const noexcept { return has_reflection() && b.token_weight.empty(); }

  // The reflection head's loss on this shard's decoders: each reads the memory row of its
  // prefix's last item and is scored against every item (full softmax); weight β (× the
  // decoder's weight), over the batch's token normaliser. Adds to dmem and reflect.tok's gradient.
  double reflection_step(shard_state& st, const generator_batch& b, index_t w0, index_t j0, index_t D, index_t L, index_t tpi,
                         const loss::cross_entropy_options& o, cmatrix_view<T> mem, matrix_view<T> dmem) {
    const index_t d = cfg_.d_model, M = codebooks(), N = items();
    auto h = st.hr.view(D, d), dh = st.dhr.view(D, d);
    auto rows = st.rows_of.flat(D);
    auto tr = st.tr.flat(D);
    auto wr = st.wr.flat(D);
    for (index_t j = 0; j < D; ++j) {
      const index_t g = j0 + j;
      rows[j] = static_cast<std::int32_t>((b.window[g] - w0) * L + b.prefix[g] * tpi - 1);
      h.row(j).eigen() = mem.row(rows[j]).eigen();
      tr[j] = b.target[g];
      wr[j] = T(cfg_.reflection_weight) * (b.weight.empty() ? T(1) : T(b.weight[g]));
    }
    const cmatrix_view<T> e = refl_items_();  // filled by train_step
    auto de = st.ditems_e.view(N, d);
    de.eigen().setZero();
    loss::cross_entropy_options ro;
    ro.normalizer = o.normalizer;
    const double loss = loss::linear_cross_entropy<T>(h, e, {}, tr, wr, ro, dh, de, {}, st.ws);
    for (index_t j = 0; j < D; ++j) dmem.row(rows[j]).eigen() += dh.row(j).eigen();
    auto gt = refl_.weight.grad();
    for (index_t i = 0; i < N; ++i) {
      const T* g = de.row_ptr(i);
      for (index_t r = 0; r < M; ++r) {
        T* t = gt.row_ptr(layout_.token(r, codes_(i, r)));
        for (index_t c = 0; c < d; ++c) t[c] += g[c];
      }
    }
    if (cfg_.reflection_item_vectors) refl_item_.weight.grad().eigen() += de.eigen();
    return loss;
  }

  // The reflection head's vector of item i: Σ_r reflect.tok[token(r, code_i,r)] (+ reflect.item[i]).
  void reflection_vector(index_t i, T* out) const {
    const index_t d = cfg_.d_model;
    const auto te = refl_.weight.value();
    std::fill(out, out + d, T(0));
    for (index_t r = 0; r < codebooks(); ++r) {
      const T* t = te.row_ptr(layout_.token(r, codes_(i, r)));
      for (index_t c = 0; c < d; ++c) out[c] += t[c];
    }
    if (cfg_.reflection_item_vectors) {
      const T* v = refl_item_.weight.value().row_ptr(i);
      for (index_t c = 0; c < d; ++c) out[c] += v[c];
    }
  }

  generator_config cfg_;
  sid_layout layout_;
  matrix<std::int32_t> codes_;
  std::unique_ptr<nn::parameter_store<T>> ps_;
  nn::embedding<T> tok_, ident_, pos_, step_, item_;  // item_: only with item_id_embedding
  nn::embedding<T> refl_, refl_item_;                 // only with the reflection head (and its item vectors)
  std::vector<nn::encoder_block<T>> enc_;
  nn::layer_norm<T> enc_ln_;
  std::vector<nn::decoder_block<T>> dec_;
  nn::layer_norm<T> dec_ln_;
  std::vector<nn::param<T>> heads_w_, heads_b_;
  std::vector<shard_state> shards_;
  nn::buffer<T> refl_items_;  // the reflection head's item vectors during a train_step
};

}  // namespace reg4rec::model
