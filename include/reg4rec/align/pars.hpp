// PARS — preference alignment for reasoning, by GRPO (SPEC §4.5).
//
// For each user of a step: G paths sampled from the current policy under the decoding
// constraint (encoder once per user) — or, with beam rollouts, the G best distinct items of
// the policy's own constrained beam search, so that the rewards rank what the decoder will
// actually return — each rewarded (composite reward, optionally MSRA over
// the next items), advantages normalised within the group, and the objective
//   J = −1/(U·G·M) Σ min(ρ·A, clip(ρ, 1 ± ε)·A) + β_KL/(U·G·M) Σ (r − log r − 1)
//       + λ_sft/(U·M) Σ CE(target path)
// with ρ = π(token)/π_old(token), r = π_ref(token)/π(token) (the k3 estimator of KL(π‖π_ref)),
// π_ref the frozen supervised model. Its gradient is Σ_t g_t·∇log π(t): no new backward code is
// needed — the generator's weighted cross-entropy with token weights w_t = −N·g_t (N the
// batch's token count) has exactly this gradient.
#pragma once

#include <chrono>
#include <cmath>
#include <functional>
#include <memory>
#include <numeric>
#include <vector>

#include "reg4rec/align/msra.hpp"
#include "reg4rec/align/rewards.hpp"
#include "reg4rec/core/progress.hpp"
#include "reg4rec/data/split.hpp"
#include "reg4rec/decode/beam_search.hpp"
#include "reg4rec/decode/sampler.hpp"
#include "reg4rec/model/generator_trainer.hpp"
#include "reg4rec/model/training.hpp"
#include "reg4rec/optim/adamw.hpp"
#include "reg4rec/optim/clip.hpp"
#include "reg4rec/optim/nonfinite.hpp"

namespace reg4rec::align {

/// Where a step's G paths per user come from: sampled from the policy (SPEC §4.5), or the G
/// best distinct items of its beam search (beam width pars_options::beam).
enum class rollout_source { sample, beam };

struct pars_options {
  index_t paths = 8;  // G
  rollout_source source = rollout_source::sample;
  index_t beam = 20;  // beam width of beam rollouts (at least G)
  double temperature = 1.0;
  double clip = 0.2;
  double beta_kl = 0.04;
  double lambda_sft = 1.0;
  index_t users_per_step = 64;
  index_t epochs = 3;
  index_t max_users = 0;  // users sampled per epoch (0: every user with two training items)
  // Where a user's target lies in the training sequence: 0 anywhere (position 1 … n − 1,
  // uniformly); L > 0 among its last L items, e.g. those that supervised training held out
  // (generator_train_options::hold_out), so the rewards score items the policy has not fitted.
  index_t last_targets = 0;
  double lr = 1e-4;
  double weight_decay = 0.0;
  double clip_norm = 1.0;
  index_t msra_steps = 1;  // N; 1 scores the target only (MSRA off)
  double msra_gamma = 0.7;
  decode::step_order order = decode::step_order::fixed;
  decode::confidence_measure confidence = decode::confidence_measure::max_probability;
  index_t eval_every = 1;
  index_t patience = 2;
  std::uint64_t seed = 1;
  std::ostream* log = &std::clog;
  std::string checkpoint;  // <checkpoint>.best receives the best policy
  // A step with a NaN/Inf KL estimate or gradient: stop (numerical_error) or skip it (counted).
  optim::nonfinite_policy nonfinite = optim::nonfinite_policy::stop;
};

/// The position of a PARS target in a training sequence of n ≥ 2 items: uniform over 1 … n − 1,
/// or over the last `last_targets` items when that is positive (never position 0, which has no
/// history).
inline index_t draw_target_position(index_t n, index_t last_targets, rng& g) {
  const index_t first = last_targets > 0 ? std::max<index_t>(1, n - last_targets) : 1;
  return first + static_cast<index_t>(g.below(static_cast<std::uint64_t>(n - first)));
}

/// Group-normalised advantages (R − mean)/(std + eps), population std; they sum to zero. A
/// group of (numerically) equal rewards carries no preference: its advantages are exactly 0.
inline std::vector<double> group_advantages(cspan<double> rewards, double eps = 1e-6) {
  const index_t G = rewards.size();
  std::vector<double> a(static_cast<std::size_t>(G), 0.0);
  if (G == 0) return a;
  double mean = 0, var = 0;
  for (double r : rewards) mean += r;
  mean /= double(G);
  for (double r : rewards) var += (r - mean) * (r - mean);
  const double sd = std::sqrt(var / double(G));
  if (sd <= 1e-12 * std::max(1.0, std::abs(mean))) return a;
  for (index_t g = 0; g < G; ++g) a[g] = (rewards[g] - mean) / (sd + eps);
  return a;
}

/// One PARS step's data.
template <class T>
struct rollout {
  std::vector<std::vector<std::int32_t>> history;             // per user
  std::vector<std::vector<std::int32_t>> future;              // the target first, then next items
  std::vector<std::vector<decode::sampled_path>> paths;       // G per user
  std::vector<std::vector<double>> reward, advantage;         // per user, per path
  std::vector<double> component_sum;                          // per reward component, over all paths
  std::vector<std::vector<std::vector<T>>> ref_logp;          // per user, path, step
  std::vector<std::vector<decode::sampled_path>> targets;     // per user: the target's path (SFT term)

  index_t users() const noexcept { return static_cast<index_t>(history.size()); }
  index_t paths_total() const noexcept {
    index_t n = 0;
    for (const auto& p : paths) n += static_cast<index_t>(p.size());
    return n;
  }
  std::vector<cspan<std::int32_t>> history_views() const {
    std::vector<cspan<std::int32_t>> v;
    for (const auto& h : history) v.emplace_back(h.data(), static_cast<index_t>(h.size()));
    return v;
  }
};

struct pars_epoch {
  index_t epoch = 0;
  double reward = 0, kl = 0, seconds = 0, metric = -1, ndcg = -1;
  std::vector<double> components;  // mean of each reward component
  bool best = false;
};

struct pars_history {
  std::vector<pars_epoch> epochs;
  std::vector<std::string> component_names;
  // With a validation function the starting (supervised) model is scored first, as epoch 0,
  // and competes with the aligned epochs: best_epoch 0 means alignment never beat it on
  // validation and train() handed its weights back unchanged.
  double initial_metric = -1;
  index_t best_epoch = -1;
  double best_metric = -1, seconds = 0;
  index_t skipped_steps = 0;  // steps dropped for a non-finite KL or gradient (pars_options::nonfinite)
};

template <class T, class Constraint>
class pars_trainer {
 public:
  pars_trainer(model::sid_generator<T>& policy, const Constraint& c, composite_reward reward, reward_context ctx,
               pars_options o = {})
      : policy_(&policy), constraint_(&c), reward_(std::move(reward)), ctx_(ctx), opt_(o),
        ref_(std::make_unique<model::sid_generator<T>>(policy.config(), policy.layout(), policy.item_codes())) {
    require(o.paths >= 2, "pars: at least two paths per user are needed for group advantages, got ", o.paths);
    require(o.source == rollout_source::sample || o.beam >= 1, "pars: beam rollouts need a beam width of at least 1");
    require(o.clip > 0 && o.beta_kl >= 0 && o.lambda_sft >= 0, "pars: clip must be positive, β_KL and λ_sft non-negative");
    require(o.users_per_step >= 1 && o.epochs >= 1, "pars: users_per_step and epochs must be positive");
    require(o.last_targets >= 0, "pars: last_targets must be >= 0, got ", o.last_targets);
    ref_->params().copy_values_from(policy.params());
  }

  const model::sid_generator<T>& reference() const noexcept { return *ref_; }
  const composite_reward& reward() const noexcept { return reward_; }

  /// Samples, rewards and scores one step for users with the given histories and futures
  /// (future[u][0] is the target). streams[u] seeds user u's sampling.
  rollout<T> make_rollout(std::vector<std::vector<std::int32_t>> histories,
                          std::vector<std::vector<std::int32_t>> futures, cspan<std::uint64_t> streams,
                          const rng& g) const {
    const index_t U = static_cast<index_t>(histories.size());
    check_dim("pars: futures (users)", static_cast<index_t>(futures.size()), U);
    rollout<T> ro;
    ro.history = std::move(histories);
    ro.future = std::move(futures);
    auto& ws = thread_workspace();
    const auto views = ro.history_views();
    if (opt_.source == rollout_source::sample) {
      decode::sample_options so;
      so.paths = opt_.paths;
      so.temperature = opt_.temperature;
      so.order = opt_.order;
      so.confidence = opt_.confidence;
      decode::path_sampler<T, Constraint>(*policy_, *constraint_, so).sample(views, streams, g, ro.paths, ws);
    } else {
      beam_paths(views, ro.paths, ws);
    }
    // Rewards (MSRA over the future items) and advantages.
    const msra<composite_reward> scorer(reward_, opt_.msra_steps, opt_.msra_gamma);
    ro.reward.assign(static_cast<std::size_t>(U), {});
    ro.advantage.assign(static_cast<std::size_t>(U), {});
    ro.component_sum.assign(static_cast<std::size_t>(reward_.size()), 0.0);
    std::vector<double> parts(static_cast<std::size_t>(reward_.size()));
    for (index_t u = 0; u < U; ++u) {
      require(!ro.future[u].empty(), "pars: user ", u, " has no target");
      const cspan<std::int32_t> fut(ro.future[u].data(), static_cast<index_t>(ro.future[u].size()));
      for (const auto& p : ro.paths[u]) {
        const cspan<decode::path_token> path(p.tokens.data(), static_cast<index_t>(p.tokens.size()));
        ro.reward[u].push_back(scorer(path, fut, ctx_));
        reward_(path, fut[0], ctx_, parts);
        for (std::size_t c = 0; c < parts.size(); ++c) ro.component_sum[c] += parts[c];
      }
      ro.advantage[u] = group_advantages(cspan<double>(ro.reward[u].data(), static_cast<index_t>(ro.reward[u].size())));
    }
    decode::score_paths(*ref_, views, ro.paths, ro.ref_logp, ws);
    // The target's path for the supervised term, in the order the policy would emit it.
    ro.targets.assign(static_cast<std::size_t>(U), std::vector<decode::sampled_path>(1));
    const index_t M = policy_->codebooks();
    std::vector<std::int32_t> order(static_cast<std::size_t>(U * M));
    if (opt_.order == decode::step_order::confidence) {
      model::generator_batch tb;
      for (index_t u = 0; u < U; ++u) {
        const auto w = tb.add_window(views[u]);
        tb.add_decoder(w, views[u].size(), ro.future[u][0]);
      }
      model::confidence_order(*policy_, tb, ws, opt_.confidence);
      order = tb.order;
    } else {
      for (index_t u = 0; u < U; ++u)
        for (index_t k = 0; k < M; ++k) order[u * M + k] = static_cast<std::int32_t>(k);
    }
    for (index_t u = 0; u < U; ++u) {
      auto& t = ro.targets[u][0];
      t.item = ro.future[u][0];
      for (index_t k = 0; k < M; ++k) {
        const auto r = order[u * M + k];
        t.tokens.push_back({r, policy_->item_codes()(t.item, r)});
      }
    }
    return ro;
  }

  /// The objective J at the current policy parameters.
  double objective(const rollout<T>& ro) const {
    auto& ws = thread_workspace();
    const auto views = ro.history_views();
    std::vector<std::vector<std::vector<T>>> cur, tgt;
    decode::score_paths(*policy_, views, ro.paths, cur, ws);
    decode::score_paths(*policy_, views, ro.targets, tgt, ws);
    const index_t U = ro.users(), M = policy_->codebooks();
    double pg = 0, kl = 0, sft = 0;
    for (index_t u = 0; u < U; ++u) {
      for (std::size_t g = 0; g < ro.paths[u].size(); ++g)
        for (index_t k = 0; k < M; ++k) {
          const double A = ro.advantage[u][g];
          const double rho = std::exp(double(cur[u][g][k]) - double(ro.paths[u][g].logp[k]));
          pg -= std::min(rho * A, std::clamp(rho, 1 - opt_.clip, 1 + opt_.clip) * A);
          const double r = std::exp(double(ro.ref_logp[u][g][k]) - double(cur[u][g][k]));
          kl += r - std::log(r) - 1;
        }
      for (index_t k = 0; k < M; ++k) sft -= double(tgt[u][0][k]);
    }
    const double n = double(ro.paths_total() * M);
    return pg / n + opt_.beta_kl * kl / n + opt_.lambda_sft * sft / double(U * M);
  }

  /// Adds ∇J at the current parameters to the policy's gradients; returns the mean KL estimate.
  double accumulate_gradient(const rollout<T>& ro) {
    auto& ws = thread_workspace();
    const auto views = ro.history_views();
    std::vector<std::vector<std::vector<T>>> cur;
    decode::score_paths(*policy_, views, ro.paths, cur, ws);
    const index_t U = ro.users(), M = policy_->codebooks();
    model::generator_batch b;
    for (index_t u = 0; u < U; ++u) {
      const auto w = b.add_window(views[u]);
      auto add = [&](const decode::sampled_path& p) {
        b.add_decoder(w, views[u].size(), p.item);
        for (const auto& t : p.tokens) b.order.push_back(t.codebook);
      };
      for (const auto& p : ro.paths[u]) add(p);
      add(ro.targets[u][0]);
    }
    const double N = double(b.decoders() * M), n = double(ro.paths_total() * M);
    double kl = 0;
    for (index_t u = 0; u < U; ++u) {
      for (std::size_t g = 0; g < ro.paths[u].size(); ++g)
        for (index_t k = 0; k < M; ++k) {
          const double A = ro.advantage[u][g];
          const double rho = std::exp(double(cur[u][g][k]) - double(ro.paths[u][g].logp[k]));
          const bool active = A >= 0 ? rho <= 1 + opt_.clip : rho >= 1 - opt_.clip;
          const double r = std::exp(double(ro.ref_logp[u][g][k]) - double(cur[u][g][k]));
          kl += r - std::log(r) - 1;
          const double grad = (active ? -rho * A : 0.0) / n + opt_.beta_kl * (1 - r) / n;  // dJ/dlog π
          b.token_weight.push_back(float(-N * grad));
        }
      for (index_t k = 0; k < M; ++k) b.token_weight.push_back(float(N * opt_.lambda_sft / double(U * M)));
    }
    policy_->train_step(b, {}, 0.0);
    return kl / n;
  }

  /// PARS over the training sequences of `split`; `validate` (optional) scores the policy for
  /// early stopping. The best policy's weights are restored.
  pars_history train(const data::leave_one_out_split& split,
                     const std::function<model::validation_score(const model::sid_generator<T>&)>& validate = {}) {
    const auto t_start = std::chrono::steady_clock::now();
    std::vector<index_t> users;
    for (index_t u = 0; u < split.n_users(); ++u)
      if (split.train(u).size() >= 2) users.push_back(u);
    require(!users.empty(), "pars: no training sequence has two items");
    const index_t per_epoch = opt_.max_users > 0 ? std::min<index_t>(opt_.max_users, users.size()) : users.size();
    const index_t H = policy_->config().max_history, steps = (per_epoch + opt_.users_per_step - 1) / opt_.users_per_step;
    optim::adamw adam({opt_.lr, 0.9, 0.999, 1e-8, opt_.weight_decay});
    auto st = adam.init(policy_->params());
    model::early_stopping<T> stopper(opt_.patience);
    optim::nonfinite_guard guard("pars", opt_.nonfinite);
    if (!opt_.checkpoint.empty()) guard.expect_checkpoint(opt_.checkpoint + ".best");
    pars_history hist;
    hist.component_names = reward_.names();
    const rng base(opt_.seed);
    long long step = 0;
    if (validate && opt_.eval_every > 0) {
      hist.initial_metric = validate(*policy_).metric;
      stopper.update(0, hist.initial_metric, policy_->params());
      if (!opt_.checkpoint.empty()) {  // the best policy so far is the starting one
        policy_->save(opt_.checkpoint + ".best");
        guard.set_checkpoint(opt_.checkpoint + ".best", 0);
      }
      if (opt_.log) *opt_.log << "pars: validation before alignment " << hist.initial_metric << "\n";
    }
    for (index_t epoch = 0; epoch < opt_.epochs; ++epoch) {
      const auto t0 = std::chrono::steady_clock::now();
      rng eg = base.fork(static_cast<std::uint64_t>(epoch));
      eg.shuffle(users.begin(), users.end());
      progress bar("pars epoch " + std::to_string(epoch + 1) + "/" + std::to_string(opt_.epochs), steps, opt_.log, "steps");
      pars_epoch rec;
      rec.epoch = epoch + 1;
      rec.components.assign(static_cast<std::size_t>(reward_.size()), 0.0);
      double paths = 0;
      for (index_t s = 0; s < steps; ++s) {
        std::vector<std::vector<std::int32_t>> hs, fs;
        std::vector<std::uint64_t> streams;
        for (index_t i = s * opt_.users_per_step; i < std::min<index_t>((s + 1) * opt_.users_per_step, per_epoch); ++i) {
          const auto seq = split.train(users[i]);
          rng ug = eg.fork(static_cast<std::uint64_t>(users[i]));
          const index_t p = draw_target_position(seq.size(), opt_.last_targets, ug);
          const index_t a = std::max<index_t>(0, p - H);
          hs.emplace_back(seq.begin() + a, seq.begin() + p);
          fs.emplace_back(seq.begin() + p, seq.begin() + std::min<index_t>(seq.size(), p + opt_.msra_steps));
          streams.push_back(static_cast<std::uint64_t>(epoch) * 1000003ULL + static_cast<std::uint64_t>(users[i]));
        }
        const auto ro = make_rollout(std::move(hs), std::move(fs), cspan<std::uint64_t>(streams.data(), static_cast<index_t>(streams.size())), base);
        policy_->params().zero_grad();
        const double kl = accumulate_gradient(ro);
        if (!guard.check(kl, policy_->params(), epoch + 1, step++, "KL estimate")) {
          bar.advance(1, "skipped");
          continue;
        }
        if (opt_.clip_norm > 0) optim::clip_grad_norm(policy_->params(), opt_.clip_norm);
        adam.step(policy_->params(), st);
        double rsum = 0;
        for (const auto& rs : ro.reward)
          for (double r : rs) rsum += r;
        const double np = double(ro.paths_total());
        rec.reward += rsum;
        rec.kl += kl * np;
        for (std::size_t c = 0; c < rec.components.size(); ++c) rec.components[c] += ro.component_sum[c];
        paths += np;
        char note[96];
        std::snprintf(note, sizeof note, "reward %.4f, KL %.5f", rec.reward / paths, rec.kl / paths);
        bar.advance(1, note);
      }
      guard.end_epoch(epoch + 1);
      rec.reward /= std::max(1.0, paths);
      rec.kl /= std::max(1.0, paths);
      for (auto& c : rec.components) c /= std::max(1.0, paths);
      rec.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      bar.finish();
      if (validate && opt_.eval_every > 0 && ((epoch + 1) % opt_.eval_every == 0 || epoch + 1 == opt_.epochs)) {
        const auto v = validate(*policy_);
        rec.metric = v.metric;
        rec.ndcg = v.secondary;
        rec.best = stopper.update(epoch + 1, v.metric, policy_->params());
        if (rec.best && !opt_.checkpoint.empty()) {
          policy_->save(opt_.checkpoint + ".best");
          guard.set_checkpoint(opt_.checkpoint + ".best", epoch + 1);
        }
      }
      if (opt_.log) {
        *opt_.log << "pars epoch " << rec.epoch << ": reward " << rec.reward;
        for (std::size_t c = 0; c < rec.components.size(); ++c) *opt_.log << ", " << hist.component_names[c] << " " << rec.components[c];
        *opt_.log << ", KL " << rec.kl;
        if (rec.metric >= 0) *opt_.log << ", validation " << rec.metric << (rec.best ? " (best)" : "");
        *opt_.log << "\n";
      }
      hist.epochs.push_back(rec);
      if (stopper.should_stop()) break;
    }
    stopper.restore(policy_->params());
    hist.best_epoch = stopper.best_epoch();
    hist.best_metric = stopper.best_metric();
    hist.skipped_steps = guard.skipped();
    hist.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t_start).count();
    return hist;
  }

 private:
  // Beam rollouts: the G best distinct items of the policy's beam search, each with its
  // reasoning path and that path's per-step log-probabilities under the policy.
  void beam_paths(const std::vector<cspan<std::int32_t>>& views, std::vector<std::vector<decode::sampled_path>>& out,
                  workspace& ws) const {
    decode::beam_options bo;
    bo.beam = std::max(opt_.beam, opt_.paths);
    bo.top_k = opt_.paths;
    bo.order = opt_.order;
    bo.confidence = opt_.confidence;
    const auto recs = decode::beam_search<T, Constraint>(*policy_, *constraint_, bo).recommend(views);
    out.assign(views.size(), {});
    for (std::size_t u = 0; u < views.size(); ++u)
      for (std::size_t i = 0; i < recs[u].items.size(); ++i) {
        decode::sampled_path p;
        p.tokens = recs[u].paths[i];
        p.item = recs[u].items[i];
        out[u].push_back(std::move(p));
      }
    std::vector<std::vector<std::vector<T>>> logp;
    decode::score_paths(*policy_, views, out, logp, ws);
    for (std::size_t u = 0; u < out.size(); ++u)
      for (std::size_t g = 0; g < out[u].size(); ++g) out[u][g].logp.assign(logp[u][g].begin(), logp[u][g].end());
  }

  model::sid_generator<T>* policy_;
  const Constraint* constraint_;
  composite_reward reward_;
  reward_context ctx_;
  pars_options opt_;
  std::unique_ptr<model::sid_generator<T>> ref_;
};

}  // namespace reg4rec::align
