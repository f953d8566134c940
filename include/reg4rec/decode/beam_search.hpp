// Constrained beam search over semantic-ID paths (SPEC §4.3–4.4).
//
// Every user's history is encoded once; its beams share that memory (decoder_state + the
// projected keys/values of encoded_users) and keep a KV cache of their own few decoder
// positions. At each step every beam picks the codebook to emit (fixed order: codebook k at
// step k; CRSS: the remaining codebook the model is most confident about), the model's
// log-probabilities over that codebook are computed in full (normalised over all its codes),
// and only then the constraint policy restricts the candidates to codes that keep the path
// valid — so no invalid SID ever enters a beam, and no dense positions × vocabulary mask
// exists. A pruner policy may reject candidates (CORP, SPEC §4.4); the beam is refilled from
// the next best candidates. Users are split into chunks decoded in parallel, each chunk with
// its own workspace and state, so a const beam_search is safe to share between threads.
//
// Constraint policy concept (see decode/constraints.hpp for the trie and posting-list ones):
//   typename C::context;                        per-search scratch (created by make_context())
//   typename C::state;                          per-beam, trivially copyable
//   context make_context() const;
//   state root(context&) const;
//   void allowed(context&, const state&, index_t codebook, std::vector<std::int32_t>& codes) const;
//   state advance(context&, const state&, index_t codebook, std::int32_t code) const;
//   void items(const context&, const state&, std::vector<std::int32_t>& out) const;  // ranked
//   static constexpr bool any_order;            false: codebooks must come in order 0..M−1
//
// Pruner policy concept (decode/corp.hpp has CORP):
//   bool keep(cspan<path_token> path, index_t step, float score) const;
//     path includes the candidate, score is its cumulative log-probability
#pragma once

#include <algorithm>
#include <cmath>
#include <limits>
#include <mutex>
#include <vector>

#include "reg4rec/core/parallel.hpp"
#include "reg4rec/core/progress.hpp"
#include "reg4rec/eval/eval_batch.hpp"
#include "reg4rec/decode/step_selection.hpp"
#include "reg4rec/model/sid_generator.hpp"

namespace reg4rec::decode {

struct beam_options {
  index_t beam = 20;
  index_t top_k = 10;
  step_order order = step_order::fixed;
  confidence_measure confidence = confidence_measure::max_probability;
  index_t users_per_chunk = 64;
  // w > 0: each finished path's item is ranked by its log-probability + w·(the model's
  // reflection score of the item), sid_generator::reflection_scores; needs a reflection head.
  double reflection = 0;
};

/// The default pruner: keeps every valid path.
struct no_pruning {
  bool keep(cspan<path_token>, index_t, float) const noexcept { return true; }
};

/// Top-K distinct items for one user, best first, with the log-probability of the path that
/// produced each and that path (the reasoning path: which codebook was emitted at each step).
struct recommendation {
  std::vector<std::int32_t> items;
  std::vector<float> scores;
  std::vector<std::vector<path_token>> paths;
};

template <class T, class Constraint, class Pruner = no_pruning>
class beam_search {
 public:
  beam_search(const model::sid_generator<T>& m, const Constraint& c, beam_options o = {}, Pruner p = {})
      : model_(&m), constraint_(&c), opt_(o), pruner_(std::move(p)) {
    require(o.beam >= 1, "beam_search: beam width must be at least 1, got ", o.beam);
    require(o.top_k >= 1, "beam_search: top_k must be at least 1, got ", o.top_k);
    require(o.users_per_chunk >= 1, "beam_search: users_per_chunk must be at least 1");
    require(o.reflection >= 0 && std::isfinite(o.reflection), "beam_search: reflection weight must be finite and >= 0, got ",
            o.reflection);
    require(o.reflection == 0 || m.has_reflection(),
            "beam_search: a reflection weight needs a model trained with a reflection head (reflection_weight > 0)");
    require(o.order == step_order::fixed || Constraint::any_order,
            "beam_search: confidence-based step order needs a constraint that allows any codebook order "
            "(posting lists), not a prefix trie");
  }

  const beam_options& options() const noexcept { return opt_; }

  /// Recommendations for many users (each history in time order, at least one item).
  std::vector<recommendation> recommend(const std::vector<cspan<std::int32_t>>& histories,
                                        std::ostream* log = nullptr) const {
    const index_t U = static_cast<index_t>(histories.size());
    for (index_t u = 0; u < U; ++u) {
      require(!histories[u].empty(), "beam_search: user ", u, " has an empty history");
      for (std::int32_t it : histories[u])
        if (it < 0 || it >= model_->items())
          throw value_error(reg4rec::detail::cat("beam_search: user ", u, " has unknown item ", it, " in the history"));
    }
    std::vector<recommendation> out(static_cast<std::size_t>(U));
    const index_t chunks = (U + opt_.users_per_chunk - 1) / opt_.users_per_chunk;
    progress bar("decoding", U, log, "users");
    std::mutex bar_mutex;
    parallel_for_dynamic(0, chunks, 1, [&](index_t c0, index_t c1) {
      for (index_t c = c0; c < c1; ++c) {
        const index_t a = c * opt_.users_per_chunk, b = std::min(U, a + opt_.users_per_chunk);
        std::vector<cspan<std::int32_t>> h(histories.begin() + a, histories.begin() + b);
        search_chunk(h, opt_.top_k, out.data() + a);
        std::lock_guard<std::mutex> lock(bar_mutex);
        bar.advance(b - a);
      }
    });
    bar.finish();
    return out;
  }

  /// One user, low latency (no threads).
  recommendation recommend_one(cspan<std::int32_t> history) const {
    require(!history.empty(), "beam_search: empty history");
    recommendation r;
    search_chunk({history}, opt_.top_k, &r);
    return r;
  }

  /// The evaluator's list-model interface (eval::evaluate): the top k items per user.
  void recommend(const eval::eval_batch& batch, index_t k, std::vector<std::vector<std::int32_t>>& lists) const {
    require(k >= 1, "beam_search: k must be at least 1");
    std::vector<recommendation> recs(static_cast<std::size_t>(batch.size()));
    for (index_t a = 0; a < batch.size(); a += opt_.users_per_chunk) {
      const index_t b = std::min(batch.size(), a + opt_.users_per_chunk);
      std::vector<cspan<std::int32_t>> h(batch.histories.begin() + a, batch.histories.begin() + b);
      search_chunk(h, k, recs.data() + a);
    }
    lists.resize(recs.size());
    for (std::size_t u = 0; u < recs.size(); ++u) lists[u] = std::move(recs[u].items);
  }

 private:
  struct beam {
    float score;
    std::int32_t user;
    typename Constraint::state cstate;
    std::uint32_t used;  // codebooks already emitted (bit mask)
    index_t path;        // offset of its tokens in the path arena
  };
  struct candidate {
    float score;
    std::int32_t parent, codebook, code;
  };

  void search_chunk(const std::vector<cspan<std::int32_t>>& histories, index_t top_k, recommendation* out) const {
    const index_t U = static_cast<index_t>(histories.size()), M = model_->codebooks(), B = opt_.beam,
                  n_free = model_->layout().free_codebooks();
    require(M <= 32, "beam_search: at most 32 codebooks");
    auto& ws = thread_workspace();
    auto ctx = constraint_->make_context();
    model::encoded_users<T> enc;
    model_->encode(histories, enc, ws);
    model::decoder_state<T> st;
    model_->start_decoding(st, U, U * B);

    std::vector<beam> beams, next;
    std::vector<path_token> paths, next_paths;
    for (index_t u = 0; u < U; ++u)
      beams.push_back({0.0f, static_cast<std::int32_t>(u), constraint_->root(ctx), 0u, 0});
    std::vector<std::int32_t> prev_cb(static_cast<std::size_t>(U), -1), prev_code(static_cast<std::size_t>(U), -1), user;
    std::vector<candidate> cand;
    std::vector<matrix<T>> lp(static_cast<std::size_t>(M));
    std::vector<std::int32_t> allowed, scratch, parent;
    std::vector<path_token> trial;
    matrix<T> hidden;

    for (index_t step = 0; step < M; ++step) {
      const index_t n = static_cast<index_t>(beams.size());
      user.resize(static_cast<std::size_t>(n));
      for (index_t i = 0; i < n; ++i) user[i] = beams[i].user;
      hidden.resize(n, model_->config().d_model);
      model_->decode_step(prev_cb, prev_code, user, enc, st, hidden, ws);
      // Log-probabilities of every beam over the codebooks that may be emitted now.
      for (index_t r = 0; r < M; ++r) {
        if (step_is_fixed(opt_.order, step, n_free) && r != step) continue;
        lp[r].resize(n, model_->layout().size(r));
        model_->log_probs(r, hidden, lp[r]);
      }

      // Candidates of every beam, grouped by user (beams are stored user by user).
      next.clear();
      next_paths.clear();
      parent.clear();
      std::vector<std::int32_t> new_cb, new_code;
      index_t i = 0;
      while (i < n) {
        const std::int32_t u = beams[i].user;
        cand.clear();
        index_t j = i;
        for (; j < n && beams[j].user == u; ++j) {
          const index_t r = choose_codebook(*constraint_, ctx, beams[j].cstate, beams[j].used, step, j, opt_.order,
                                            n_free, opt_.confidence, lp, allowed, scratch);
          if (r < 0) continue;
          const T* row = lp[r].row(j).data();
          for (std::int32_t c : allowed)
            cand.push_back({beams[j].score + float(row[c]), static_cast<std::int32_t>(j), static_cast<std::int32_t>(r), c});
        }
        // Best first; ties by parent then code for determinism.
        std::sort(cand.begin(), cand.end(), [](const candidate& a, const candidate& b) {
          if (a.score != b.score) return a.score > b.score;
          if (a.parent != b.parent) return a.parent < b.parent;
          return a.code < b.code;
        });
        index_t kept = 0;
        for (const auto& c : cand) {
          if (kept == B) break;
          const beam& pb = beams[c.parent];
          trial.assign(paths.begin() + pb.path, paths.begin() + pb.path + step);
          trial.push_back({c.codebook, c.code});
          if (!pruner_.keep(cspan<path_token>(trial.data(), static_cast<index_t>(trial.size())), step, c.score)) continue;
          const index_t off = static_cast<index_t>(next_paths.size());
          next_paths.insert(next_paths.end(), trial.begin(), trial.end());
          next.push_back({c.score, u, constraint_->advance(ctx, pb.cstate, c.codebook, c.code),
                          pb.used | (1u << c.codebook), off});
          parent.push_back(c.parent);
          new_cb.push_back(c.codebook);
          new_code.push_back(c.code);
          ++kept;
        }
        i = j;
      }
      beams.swap(next);
      paths.swap(next_paths);
      prev_cb.swap(new_cb);
      prev_code.swap(new_code);
      if (beams.empty()) break;
      model_->reorder_beams(st, parent);
    }

    // Items of the finished paths, best first (by path log-probability, + w·reflection
    // score with the reflection weight w), distinct, top_k.
    for (index_t u = 0; u < U; ++u) out[u] = recommendation{};
    struct finished {
      float score;
      index_t beam;
      std::int32_t item;
    };
    std::vector<finished> fin;
    std::vector<std::int32_t> its;
    std::vector<T> refl;
    for (index_t i = 0, n = static_cast<index_t>(beams.size()); i < n;) {
      const std::int32_t u = beams[i].user;
      fin.clear();
      for (; i < n && beams[i].user == u; ++i) {
        constraint_->items(ctx, beams[i].cstate, its);
        for (std::int32_t it : its) fin.push_back({beams[i].score, i, it});
      }
      if (opt_.reflection > 0) {
        its.resize(fin.size());
        refl.resize(fin.size());
        for (std::size_t q = 0; q < fin.size(); ++q) its[q] = fin[q].item;
        model_->reflection_scores(enc, u, its, refl);
        for (std::size_t q = 0; q < fin.size(); ++q) fin[q].score += float(opt_.reflection * double(refl[q]));
        std::stable_sort(fin.begin(), fin.end(), [](const finished& a, const finished& b) { return a.score > b.score; });
      }
      auto& r = out[u];
      for (const auto& f : fin) {
        if (static_cast<index_t>(r.items.size()) >= top_k) break;
        if (std::find(r.items.begin(), r.items.end(), f.item) != r.items.end()) continue;
        r.items.push_back(f.item);
        r.scores.push_back(f.score);
        r.paths.emplace_back(paths.begin() + beams[f.beam].path, paths.begin() + beams[f.beam].path + M);
      }
    }
  }

  const model::sid_generator<T>* model_;
  const Constraint* constraint_;
  beam_options opt_;
  Pruner pruner_;
};

}  // namespace reg4rec::decode
