// Constrained sampling of reasoning paths (PARS rollouts, SPEC §4.5): G independent paths per
// user, the encoder run once per user and shared by its G paths. At each step a path picks
// its codebook as beam search does (fixed order or CRSS), then samples a code from the model's
// distribution over that codebook restricted to the allowed codes (temperature T), so every
// sampled path is a valid SID. For each token the unconstrained log-probability log π(c) is
// recorded (what the policy-gradient objective differentiates).
#pragma once

#include <cmath>
#include <vector>

#include "reg4rec/core/rng.hpp"
#include "reg4rec/decode/step_selection.hpp"
#include "reg4rec/model/sid_generator.hpp"

namespace reg4rec::decode {

struct sample_options {
  index_t paths = 8;  // G per user
  double temperature = 1.0;
  step_order order = step_order::fixed;
  confidence_measure confidence = confidence_measure::max_probability;
};

struct sampled_path {
  std::vector<path_token> tokens;  // in emission order
  std::vector<float> logp;         // log π(token) over the full codebook, per step
  std::int32_t item = -1;          // an item carrying the SID (the most popular for shared ones)
};

template <class T, class Constraint>
class path_sampler {
 public:
  path_sampler(const model::sid_generator<T>& m, const Constraint& c, sample_options o = {})
      : model_(&m), constraint_(&c), opt_(o) {
    require(o.paths >= 1, "path_sampler: at least one path per user");
    require(o.temperature > 0, "path_sampler: temperature must be positive, got ", o.temperature);
    require(o.order == step_order::fixed || Constraint::any_order,
            "path_sampler: a confidence-based order needs a constraint that allows any codebook order");
  }

  /// out[u] holds G paths for histories[u]; user u draws from g.fork(streams[u]) so results do
  /// not depend on batching.
  void sample(const std::vector<cspan<std::int32_t>>& histories, cspan<std::uint64_t> streams, const rng& g,
              std::vector<std::vector<sampled_path>>& out, workspace& ws) const {
    const index_t U = static_cast<index_t>(histories.size()), G = opt_.paths, M = model_->codebooks(),
                  n_free = model_->layout().free_codebooks();
    check_dim("path_sampler: number of streams (users)", streams.size(), U);
    auto ctx = constraint_->make_context();
    model::encoded_users<T> enc;
    model_->encode(histories, enc, ws);
    model::decoder_state<T> st;
    const index_t n = U * G;
    model_->start_decoding(st, n);
    std::vector<typename Constraint::state> state(static_cast<std::size_t>(n), constraint_->root(ctx));
    std::vector<std::uint32_t> used(static_cast<std::size_t>(n), 0);
    std::vector<std::int32_t> user(static_cast<std::size_t>(n)), cb(static_cast<std::size_t>(n), -1),
        code(static_cast<std::size_t>(n), -1);
    std::vector<rng> gens;
    gens.reserve(static_cast<std::size_t>(n));
    for (index_t u = 0; u < U; ++u) {
      const rng ug = g.fork(streams[u]);
      for (index_t k = 0; k < G; ++k) {
        user[u * G + k] = static_cast<std::int32_t>(u);
        gens.push_back(ug.fork(static_cast<std::uint64_t>(k)));
      }
    }
    out.assign(static_cast<std::size_t>(U), std::vector<sampled_path>(static_cast<std::size_t>(G)));
    matrix<T> hidden(n, model_->config().d_model);
    std::vector<matrix<T>> lp(static_cast<std::size_t>(M));
    std::vector<std::int32_t> allowed, scratch;
    std::vector<double> prob;
    for (index_t step = 0; step < M; ++step) {
      model_->decode_step(cb, code, user, enc, st, hidden, ws);
      for (index_t r = 0; r < M; ++r) {
        if (step_is_fixed(opt_.order, step, n_free) && r != step) continue;
        lp[r].resize(n, model_->layout().size(r));
        model_->log_probs(r, hidden, lp[r]);
      }
      for (index_t i = 0; i < n; ++i) {
        auto& path = out[i / G][i % G];
        const index_t r = choose_codebook(*constraint_, ctx, state[i], used[i], step, i, opt_.order, n_free,
                                          opt_.confidence, lp, allowed, scratch);
        require(r >= 0, "path_sampler: a path has no valid continuation (inconsistent constraint)");
        // Sample among the allowed codes ∝ exp(log π / T).
        const T* row = lp[r].row(i).data();
        double mx = -std::numeric_limits<double>::infinity();
        for (auto c : allowed) mx = std::max(mx, double(row[c]) / opt_.temperature);
        prob.resize(allowed.size());
        double total = 0;
        for (std::size_t a = 0; a < allowed.size(); ++a) total += prob[a] = std::exp(double(row[allowed[a]]) / opt_.temperature - mx);
        double u = gens[i].uniform() * total;
        std::size_t pick = 0;
        while (pick + 1 < allowed.size() && u >= prob[pick]) u -= prob[pick++];
        const std::int32_t c = allowed[pick];
        path.tokens.push_back({static_cast<std::int32_t>(r), c});
        path.logp.push_back(float(row[c]));
        state[i] = constraint_->advance(ctx, state[i], r, c);
        used[i] |= 1u << r;
        cb[i] = static_cast<std::int32_t>(r);
        code[i] = c;
      }
    }
    std::vector<std::int32_t> its;
    for (index_t i = 0; i < n; ++i) {
      constraint_->items(ctx, state[i], its);
      out[i / G][i % G].item = its.empty() ? -1 : its.front();
    }
  }

  const sample_options& options() const noexcept { return opt_; }

 private:
  const model::sid_generator<T>* model_;
  const Constraint* constraint_;
  sample_options opt_;
};

/// Teacher-forced log-probabilities of given paths under a model: logp[u][g][k] = log π(token k
/// of path g of user u | history, tokens < k), each path in its own emission order.
template <class T>
void score_paths(const model::sid_generator<T>& m, const std::vector<cspan<std::int32_t>>& histories,
                 const std::vector<std::vector<sampled_path>>& paths, std::vector<std::vector<std::vector<T>>>& logp,
                 workspace& ws) {
  const index_t U = static_cast<index_t>(histories.size()), M = m.codebooks();
  check_dim("score_paths: path groups (users)", static_cast<index_t>(paths.size()), U);
  std::vector<std::int32_t> user;
  std::vector<const sampled_path*> flat;
  for (index_t u = 0; u < U; ++u)
    for (const auto& p : paths[u]) {
      check_dim("score_paths: tokens of a path (codebooks)", static_cast<index_t>(p.tokens.size()), M);
      user.push_back(static_cast<std::int32_t>(u));
      flat.push_back(&p);
    }
  const index_t n = static_cast<index_t>(flat.size());
  model::encoded_users<T> enc;
  m.encode(histories, enc, ws);
  model::decoder_state<T> st;
  m.start_decoding(st, n);
  std::vector<std::int32_t> cb(static_cast<std::size_t>(n), -1), code(static_cast<std::size_t>(n), -1);
  matrix<T> hidden(n, m.config().d_model);
  std::vector<matrix<T>> lp(static_cast<std::size_t>(M));
  logp.assign(static_cast<std::size_t>(U), {});
  for (index_t u = 0; u < U; ++u)
    logp[u].assign(paths[u].size(), std::vector<T>(static_cast<std::size_t>(M)));
  for (index_t k = 0; k < M; ++k) {
    m.decode_step(cb, code, user, enc, st, hidden, ws);
    for (index_t r = 0; r < M; ++r) {
      lp[r].resize(n, m.layout().size(r));
      m.log_probs(r, hidden, lp[r]);
    }
    index_t i = 0;
    for (index_t u = 0; u < U; ++u)
      for (std::size_t g = 0; g < paths[u].size(); ++g, ++i) {
        const auto& t = flat[i]->tokens[k];
        logp[u][g][k] = lp[t.codebook](i, t.code);
        cb[i] = t.codebook;
        code[i] = t.code;
      }
  }
}

}  // namespace reg4rec::decode
