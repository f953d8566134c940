// REG4Rec end to end (SPEC §4): MPQ tokens → SFT generator with CRSS → PARS (GRPO) with the
// recommendation rewards, optionally MSRA → decoding with CORP; and the ablation that trains
// the supervised model once and adds each component in turn.
#pragma once

#include <chrono>
#include <memory>

#include <reg4rec/align/pars.hpp>
#include <reg4rec/decode/corp.hpp>

#include "generative.hpp"

namespace reg4rec::cli {

/// What every REG4Rec variant shares: features, the MPQ tokens and the tables built on them.
struct reg4rec_assets {
  std::vector<std::int64_t> popularity;
  matrix<std::int32_t> codes;
  quant::sid_stats stats, raw_stats;  // after / before collision handling
  double tokenizer_seconds = 0;
  std::string features;  // what MPQ was fitted on (describe_features)
  quant::posting_index posting;
  quant::token_category_table categories;
  std::vector<std::int32_t> item_category;
  align::reward_context ctx;
  index_t experts = 4, codebook = 256;  // MPQ experts and codes per expert
  index_t dedup_range = 0;  // > 0: a dedup token follows the MPQ tokens (--mpq-dedup)
  /// The generator's token layout: the experts' codebooks, then the dedup token as a fixed tail.
  model::sid_layout layout() const {
    std::vector<index_t> sizes(static_cast<std::size_t>(experts), codebook);
    if (dedup_range > 0) sizes.push_back(dedup_range);
    return model::sid_layout(std::move(sizes), dedup_range > 0 ? 1 : 0);
  }
  std::shared_ptr<quant::reg4rec_mpq> tokenizer;  // kept for its history() and save()
};

/// Every item's category for the category rewards and CORP: the leaf category, or the category
/// path cut to --category-depth levels (≥ 1).
inline std::vector<std::int32_t> reward_categories(const data::item_metadata& m, const run_settings& rs) {
  const index_t depth = rs.get_int("category-depth", 0);
  return depth > 0 ? m.category_at_depth(depth) : m.leaf_category();
}

inline std::unique_ptr<reg4rec_assets> build_reg4rec_assets(const dataset& ds, const data::leave_one_out_split& split,
                                                            const run_settings& rs) {
  auto a = std::make_unique<reg4rec_assets>();
  quant::mpq_config qc;
  qc.experts = a->experts = rs.get_int("experts", 4);
  a->codebook = qc.codebook_size = rs.get_int("codes", 256);
  qc.expert_inputs = mpq_expert_inputs(rs, qc.experts);  // before the features: a usage error costs nothing
  const auto t0 = std::chrono::steady_clock::now();
  const auto mix = feature_mix_of(rs, reg4rec_feature_mix);
  const auto& x = item_vectors(ds, split, rs, mix);
  a->features = describe_features(rs, mix);
  a->popularity = train_popularity(split);
  // 100 quick epochs: reconstruction 0.69 → 0.57 and REG4Rec-SFT test R@10 0.0589 → 0.0679 over 30.
  qc.epochs = rs.get_int("vae-epochs", rs.quick() ? 100 : 300);
  qc.decorrelation = rs.get("mpq-decorrelation", 0.0);
  qc.balance = codebook_balance_of(rs);
  a->tokenizer = std::make_shared<quant::reg4rec_mpq>(qc);
  auto& mq = *a->tokenizer;
  quant::fit_options fo;
  fo.seed = rs.seed;
  fo.log = rs.log;
  fo.label = "mpq";
  fo.nonfinite = nonfinite_policy(rs);
  mq.fit(x, fo);
  a->codes = mq.encode(x);
  a->raw_stats = quant::compute_sid_stats(a->codes, qc.codebook_size, x);
  if (rs.get_int("mpq-dedup", 0)) {
    // TIGER's collision handling for unordered tokens: every item keeps its tuple and a last
    // token numbers the items that share it (most popular first), emitted after the CRSS steps.
    const auto table = quant::sid_table<quant::append_dedup_token>::build(a->codes, qc.codebook_size, a->popularity);
    a->codes = table.sids().eigen();
    a->dedup_range = table.dedup_range();
    a->stats = a->raw_stats;
    if (rs.log) *rs.log << "mpq dedup token: range " << a->dedup_range << "\n";
  } else {
    if (const index_t C = rs.get_int("mpq-candidates", 8); C > 1) {  // collision handling
      std::vector<matrix<std::int32_t>> cand;
      std::vector<matrix<float>> score;
      mq.candidates(x, std::min<index_t>(C, qc.codebook_size), cand, score);
      const std::vector<double> pop(a->popularity.begin(), a->popularity.end());
      const auto rep = quant::make_tuples_distinct(a->codes, cand, score, pop);
      if (rs.log)
        *rs.log << "mpq tokens before collision handling: " << a->raw_stats.distinct_sids << " distinct tuples, collision rate "
                << a->raw_stats.collision_rate << "; " << rep.moved << " items moved to a free tuple, " << rep.unresolved
                << " unresolved\n";
    }
    a->stats = quant::compute_sid_stats(a->codes, qc.codebook_size, x);
  }
  a->tokenizer_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  // One code range for every column: the dedup token may count past the codebook size.
  const index_t range = std::max(a->codebook, a->dedup_range);
  a->posting = quant::posting_index::build(a->codes, range, a->popularity);
  if (ds.items) {
    a->item_category = reward_categories(*ds.items, rs);
  } else {
    a->item_category.assign(static_cast<std::size_t>(split.n_items()), -1);
    if (rs.log) *rs.log << "no items.tsv: category rewards and CORP's category consistency have no categories\n";
  }
  a->categories = quant::token_category_table::build(a->codes, range, a->item_category);
  a->ctx.item_codes = a->codes;
  a->ctx.categories = &a->categories;
  a->ctx.item_category = a->item_category;
  a->ctx.popularity = a->popularity;
  for (auto p : a->popularity) a->ctx.max_popularity = std::max(a->ctx.max_popularity, p);
  if (rs.log)
    *rs.log << "mpq tokens: " << a->stats.distinct_sids << " distinct tuples, collision rate " << a->stats.collision_rate
            << ", largest bucket " << a->stats.largest_bucket << "\n";
  return a;
}

using posting_search = decode::beam_search<float, decode::posting_constraint>;
using corp_search = decode::beam_search<float, decode::posting_constraint, decode::corp_pruner>;

/// REG4Rec's step order: CRSS, or the codebooks in index order with --fixed-order 1 (the
/// ablation of CRSS; training, PARS and decoding alike).
inline decode::step_order reg4rec_order(const run_settings& rs) {
  return rs.get_int("fixed-order", 0) ? decode::step_order::fixed : decode::step_order::confidence;
}
/// The order's name in a saved model's manifest (model_store.hpp).
inline const char* order_name(decode::step_order o) { return o == decode::step_order::fixed ? "fixed" : "confidence"; }

inline decode::beam_options reg4rec_beam(const run_settings& rs) {
  decode::beam_options bo;
  bo.beam = rs.get_int("beam", 20);
  bo.top_k = 10;
  bo.order = reg4rec_order(rs);
  bo.confidence = rs.confidence();
  bo.reflection = reflection_decode(rs);
  return bo;
}

/// How a saved REG4Rec model decodes: the settings of this run.
inline decoder_settings reg4rec_decoder(const run_settings& rs, bool corp, const decode::corp_options& co = {}) {
  const auto bo = reg4rec_beam(rs);
  return {"posting_index", order_name(bo.order), bo.beam, corp, co.theta, co.k_min, decode::name(bo.confidence),
          bo.reflection};
}

inline decode::corp_options corp_preset(const run_settings& rs) {
  decode::corp_options co;
  co.theta = rs.get("corp-theta", 0.5);
  co.k_min = rs.get_int("corp-kmin", -1);
  return co;
}

/// The supervised model (REG4Rec-SFT): CRSS-ordered training, early stopping on validation.
inline std::unique_ptr<model::sid_generator<float>> train_sft(const reg4rec_assets& a, const data::leave_one_out_split& split,
                                                              const run_settings& rs, model::train_history& hist,
                                                              model::generator_config& gcfg,
                                                              model::generator_train_options& t) {
  gcfg = generator_preset(rs);
  auto gen = std::make_unique<model::sid_generator<float>>(
      gcfg, a.layout(), a.codes, rs.seed);
  const decode::posting_constraint pc(a.posting, a.popularity);
  const posting_search search(*gen, pc, reg4rec_beam(rs));
  t = train_preset(rs, "reg4rec-sft");
  // The CRSS order of the current model (a no-gradient pass per batch, about 1.35× the time),
  // the order decoding uses: on Beauty test R@10 0.0589 / N@10 0.0320 against 0.0514 / 0.0273
  // with random orders (--random-order 1).
  t.order = reg4rec_order(rs) == decode::step_order::fixed ? model::train_order::fixed
            : rs.get_int("random-order", 0)                   ? model::train_order::random
                                                              : model::train_order::confidence;
  t.confidence = rs.confidence();
  hist = train_with_validation(*gen, search, split, rs, t);
  return gen;
}

inline align::pars_options pars_preset(const run_settings& rs, index_t msra_steps) {
  align::pars_options o;
  o.paths = rs.get_int("pars-paths", 8);
  // --pars-beam B > 0: the G paths are the top G of a width-B beam search instead of samples.
  if (const index_t b = rs.get_int("pars-beam", 0); b > 0) {
    o.source = align::rollout_source::beam;
    o.beam = b;
  }
  o.last_targets = rs.get_int("pars-last", 0);
  o.epochs = rs.get_int("pars-epochs", rs.quick() ? 1 : 4);
  o.max_users = rs.get_int("pars-max-users", rs.quick() ? 3000 : 0);
  o.lr = rs.get("pars-lr", 5e-5);
  o.beta_kl = rs.get("pars-kl", 0.04);
  o.lambda_sft = rs.get("pars-sft", 1.0);
  o.users_per_step = rs.get_int("pars-users", 64);
  o.msra_steps = msra_steps;
  o.msra_gamma = rs.get("msra-gamma", 0.7);
  o.order = reg4rec_order(rs);
  o.confidence = rs.confidence();
  o.nonfinite = nonfinite_policy(rs);
  o.seed = rs.seed;
  o.log = rs.log;
  o.patience = 2;
  return o;
}

/// PARS's reward: SPEC §4.5's four components with the library's default weights unless
/// overridden (--reward-step-hit, --reward-global-path, --reward-category-hit,
/// --reward-consistency; a zero weight drops the component).
inline align::composite_reward pars_reward(const run_settings& rs) {
  align::reg4rec_reward_weights w;
  w.step_hit = rs.get("reward-step-hit", w.step_hit);
  w.global_path = rs.get("reward-global-path", w.global_path);
  w.category_hit = rs.get("reward-category-hit", w.category_hit);
  w.step_consistency = rs.get("reward-consistency", w.step_consistency);
  auto c = align::composite_reward::reg4rec_default(w);
  if (c.size() == 0) throw usage_error("PARS needs a reward: every --reward-* weight is 0");
  return c;
}

/// PARS (N = 1) or PARS + MSRA (N > 1) on a copy of the supervised model.
inline std::unique_ptr<model::sid_generator<float>> run_pars(const model::sid_generator<float>& sft, const reg4rec_assets& a,
                                                             const data::leave_one_out_split& split, const run_settings& rs,
                                                             index_t msra_steps, align::pars_history& hist) {
  auto policy = std::make_unique<model::sid_generator<float>>(sft.config(), sft.layout(), sft.item_codes());
  policy->params().copy_values_from(sft.params());
  const decode::posting_constraint pc(a.posting, a.popularity);
  const posting_search search(*policy, pc, reg4rec_beam(rs));
  align::pars_trainer<float, decode::posting_constraint> trainer(*policy, pc, pars_reward(rs),
                                                                  a.ctx, pars_preset(rs, msra_steps));
  hist = trainer.train(split, generative_validator(search, split, rs));
  return policy;
}

/// Test metrics of a model decoded with or without CORP.
inline eval::eval_result evaluate_reg4rec(const model::sid_generator<float>& m, const reg4rec_assets& a,
                                          const data::leave_one_out_split& split, const run_settings& rs, bool corp,
                                          const std::string& name) {
  const decode::posting_constraint pc(a.posting, a.popularity);
  if (corp) {
    const decode::corp_pruner pr(a.categories, a.experts, corp_preset(rs));
    const corp_search s(m, pc, reg4rec_beam(rs), pr);
    return eval::evaluate(s, split, data::stage::test, test_options(name, rs.log));
  }
  const posting_search s(m, pc, reg4rec_beam(rs));
  return eval::evaluate(s, split, data::stage::test, test_options(name, rs.log));
}

/// CORP's θ for the aligned model: --corp-theta when given, else the best of {0.5 (SPEC), 0.3,
/// 0 (category consistency off)} by validation Recall@10 on the validation users of the preset
/// (ties keep the larger θ). Returns settings with "corp-theta" set.
inline run_settings with_corp_theta(const model::sid_generator<float>& m, const reg4rec_assets& a,
                                    const data::leave_one_out_split& split, const run_settings& rs) {
  run_settings out = rs;
  if (rs.has("corp-theta")) return out;
  const decode::posting_constraint pc(a.posting, a.popularity);
  auto vo = generative_validation(rs);
  vo.log = nullptr;
  double best = -1, best_theta = 0.5;
  for (double theta : {0.5, 0.3, 0.0}) {
    out.overrides["corp-theta"] = theta;
    const decode::corp_pruner pr(a.categories, a.experts, corp_preset(out));
    const corp_search s(m, pc, reg4rec_beam(out), pr);
    const double r10 = eval::evaluate(s, split, data::stage::validation, vo).recall[0];
    if (rs.log) *rs.log << "corp θ " << theta << ": validation R@10 " << r10 << "\n";
    if (r10 > best) {
      best = r10;
      best_theta = theta;
    }
  }
  out.overrides["corp-theta"] = best_theta;
  if (rs.log) *rs.log << "corp θ = " << best_theta << " (chosen on validation; --corp-theta fixes it)\n";
  return out;
}

inline void write_pars(io::json_writer& j, const align::pars_options& o, const align::pars_history& h) {
  j.begin_object().field("paths", o.paths).field("epochs_max", o.epochs).field("lr", o.lr).field("beta_kl", o.beta_kl);
  j.field("rollouts", o.source == align::rollout_source::beam ? "beam" : "sampled");
  if (o.source == align::rollout_source::beam) j.field("rollout_beam", o.beam);
  j.field("lambda_sft", o.lambda_sft).field("clip", o.clip).field("msra_steps", o.msra_steps).field("msra_gamma", o.msra_gamma);
  if (o.last_targets > 0) j.field("last_targets", o.last_targets);
  j.field("validation_recall@10_before", h.initial_metric).field("best_epoch", h.best_epoch).field("seconds", h.seconds);
  j.key("epochs").begin_array();
  for (const auto& e : h.epochs) {
    j.begin_object().field("epoch", e.epoch).field("reward", e.reward).field("kl", e.kl);
    for (std::size_t c = 0; c < e.components.size(); ++c) j.field(h.component_names[c], e.components[c]);
    if (e.metric >= 0) j.field("validation_recall@10", e.metric);
    j.end_object();
  }
  j.end_array().end_object();
}

/// The full model's settings (`reg4rec` and `ablation`), each unless the command line says
/// otherwise: a reflection head with per-item vectors (β = 1), CORP's learned score; dropout
/// 0.3 on the input embeddings; codebook order instead of CRSS (a --confidence measure asks
/// for CRSS); features smoothed over the co-occurrence graph for 1 hop. On Beauty at beam 20
/// the CRSS SFT with the head reaches test R@10 / N@10 0.0711 / 0.0417, these settings 0.0768
/// / 0.0439, 0.0758 / 0.0426 and 0.0767 / 0.0437 (seeds 1–3; docs/reproduction.md), for about
/// 1.6× the time per epoch of an SFT without the head.
inline run_settings full_model_settings(run_settings rs) {
  const auto unless_given = [&rs](const char* key, double value) {
    if (!rs.has(key)) rs.overrides[key] = value;
  };
  unless_given("reflection", 1);
  if (rs.get("reflection", 0.0) > 0) unless_given("reflection-items", 1);
  unless_given("embedding-dropout", 0.3);
  unless_given("fixed-order", rs.has("confidence") ? 0 : 1);
  if (rs.features_path.empty()) unless_given("smooth-hops", 1);  // a --features file is used as it is
  return rs;
}

/// The full model: SFT + PARS + MSRA + CORP.
inline model_run run_reg4rec(const dataset& ds, const data::leave_one_out_split& split, const run_settings& rs_in) {
  model_run r;
  r.model = "reg4rec";
  const auto t0 = std::chrono::steady_clock::now();
  const run_settings rs0 = full_model_settings(rs_in);
  const auto a = build_reg4rec_assets(ds, split, rs0);
  model::train_history sft_hist;
  model::generator_config gcfg;
  model::generator_train_options t;
  const auto sft = train_sft(*a, split, rs0, sft_hist, gcfg, t);
  align::pars_history ph;
  const auto full = run_pars(*sft, *a, split, rs0, rs0.get_int("msra-steps", 3), ph);
  const run_settings rs = with_corp_theta(*full, *a, split, rs0);
  r.train_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  add_tokenizer_curves(r, "mpq", a->tokenizer->history(), a->stats.utilisation);
  add_train_curves(r, "reg4rec (SFT)", sft_hist);
  add_pars_curves(r, "reg4rec (PARS + MSRA)", ph, double(sft_hist.epochs.size()));
  if (rs.evaluate_test) r.test = evaluate_reg4rec(*full, *a, split, rs, true, "reg4rec");
  const auto po = pars_preset(rs, rs.get_int("msra-steps", 3));
  r.tokenizer = [s = a->stats, fs = a->tokenizer_seconds, dr = a->dedup_range, f = a->features](io::json_writer& j) {
    write_stats(j, s, fs, dr, f);
  };
  r.config = [gcfg, t, sft_hist, po, ph, bo = reg4rec_beam(rs), co = corp_preset(rs)](io::json_writer& j) {
    j.begin_object().key("sft");
    write_train(j, gcfg, t, sft_hist, bo.beam);
    j.key("pars");
    write_pars(j, po, ph);
    j.key("corp").begin_object().field("theta", co.theta).field("k_min", co.k_min).end_object();
    j.end_object();
  };
  if (!rs.save_dir.empty()) {
    save_generative(rs.save_dir, ds,
                    {"reg4rec", full.get(), nullptr, &a->posting, &a->categories, a->popularity,
                     reg4rec_decoder(rs, true, corp_preset(rs)), "mpq",
                     [tok = a->tokenizer](const std::string& p) { tok->save(p); }, r.config, a->features});
  }
  return r;
}

/// REG4Rec-SFT: the supervised model alone (MPQ tokens with collision handling, CRSS decoding
/// over posting lists, no PARS/MSRA/CORP) — the first row of the ablation.
inline model_run run_reg4rec_sft(const dataset& ds, const data::leave_one_out_split& split, const run_settings& rs) {
  model_run r;
  r.model = "reg4rec-sft";
  const auto t0 = std::chrono::steady_clock::now();
  const auto a = build_reg4rec_assets(ds, split, rs);
  model::train_history hist;
  model::generator_config gcfg;
  model::generator_train_options t;
  const auto gen = train_sft(*a, split, rs, hist, gcfg, t);
  r.train_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  add_tokenizer_curves(r, "mpq", a->tokenizer->history(), a->stats.utilisation);
  add_train_curves(r, "reg4rec-sft", hist);
  if (rs.evaluate_test) r.test = evaluate_reg4rec(*gen, *a, split, rs, false, "reg4rec-sft");
  r.tokenizer = [s = a->stats, fs = a->tokenizer_seconds, dr = a->dedup_range, f = a->features](io::json_writer& j) {
    write_stats(j, s, fs, dr, f);
  };
  const auto bo = reg4rec_beam(rs);
  r.config = [gcfg, t, hist, bo](io::json_writer& j) { write_train(j, gcfg, t, hist, bo.beam); };
  if (!rs.save_dir.empty())
    save_generative(rs.save_dir, ds,
                    {"reg4rec-sft", gen.get(), nullptr, &a->posting, &a->categories, a->popularity,
                     reg4rec_decoder(rs, false), "mpq",
                     [tok = a->tokenizer](const std::string& p) { tok->save(p); }, r.config, a->features});
  return r;
}

inline const std::map<std::string, model_runner>& model_runners() {
  static const std::map<std::string, model_runner> m{{"popularity", run_popularity}, {"sasrec", run_sasrec},
                                                     {"tiger", run_tiger},           {"reg4rec-sft", run_reg4rec_sft},
                                                     {"reg4rec", run_reg4rec}};
  return m;
}

/// The models of `--model all`, in table order.
inline const std::vector<std::string>& model_order() {
  static const std::vector<std::string> o{"popularity", "sasrec", "tiger", "reg4rec"};
  return o;
}

/// One row of the ablation.
struct ablation_row {
  std::string variant;
  eval::eval_result test;
  double extra_train_seconds = 0;
  double users_per_second = 0;
};

/// REG4Rec-SFT, + PARS, + PARS + MSRA, + CORP and the full model (+ the reflection score when
/// the SFT has a reflection head), sharing one tokenizer and one supervised model.
inline std::vector<ablation_row> run_ablation(const dataset& ds, const data::leave_one_out_split& split,
                                              const run_settings& rs_in) {
  const run_settings rs = full_model_settings(rs_in);
  std::vector<ablation_row> rows;
  const auto a = build_reg4rec_assets(ds, split, rs);
  model::train_history sft_hist;
  model::generator_config gcfg;
  model::generator_train_options t;
  const auto t0 = std::chrono::steady_clock::now();
  const auto sft = train_sft(*a, split, rs, sft_hist, gcfg, t);
  const double sft_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  // With a reflection head, the rows without CORP decode without its score, and "+ reflection"
  // shows the score alone; CORP's rows add it (it is CORP's policy (c)).
  run_settings plain = rs;
  plain.overrides["reflection-decode"] = 0;
  const bool reflection = reg4rec_beam(rs).reflection > 0;
  auto row = [&](const std::string& name, const model::sid_generator<float>& m, bool corp, double extra,
                 bool with_reflection = false) {
    ablation_row r;
    r.variant = name;
    r.test = evaluate_reg4rec(m, *a, split, corp || with_reflection ? rs : plain, corp, name);
    r.test.model = name;
    r.extra_train_seconds = extra;
    r.users_per_second = double(r.test.users) / std::max(1e-9, r.test.seconds);
    rows.push_back(r);
  };
  row("REG4Rec-SFT", *sft, false, sft_seconds);
  if (reflection) row("+ reflection score", *sft, false, 0, true);
  row("+ CORP", *sft, true, 0);
  align::pars_history h1, h3;
  const auto pars = run_pars(*sft, *a, split, rs, 1, h1);
  row("+ PARS", *pars, false, h1.seconds);
  const auto msra = run_pars(*sft, *a, split, rs, rs.get_int("msra-steps", 3), h3);
  row("+ PARS + MSRA", *msra, false, h3.seconds);
  row("full (PARS + MSRA + CORP)", *msra, true, h3.seconds);
  return rows;
}

inline std::string ablation_table(const std::vector<ablation_row>& rows) {
  std::string s = "| variant | R@5 | R@10 | N@5 | N@10 | MRR | extra training s | decode users/s |\n|---|---|---|---|---|---|---|---|\n";
  char b[256];
  for (const auto& r : rows) {
    std::snprintf(b, sizeof b, "| %s | %.4f | %.4f | %.4f | %.4f | %.4f | %.0f | %.0f |\n", r.variant.c_str(),
                  r.test.recall[0], r.test.recall[1], r.test.ndcg[0], r.test.ndcg[1], r.test.mrr, r.extra_train_seconds,
                  r.users_per_second);
    s += b;
  }
  return s;
}

}  // namespace reg4rec::cli
