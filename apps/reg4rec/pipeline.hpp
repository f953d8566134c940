// The end-to-end pipeline behind `reg4rec pipeline`: load a dataset folder, split it
// leave-one-out, train each requested model with a preset, evaluate on the test split with
// full ranking, and write OUTDIR/<model>/metrics.json plus a comparison table.
#pragma once

#include <sys/stat.h>

#include <chrono>
#include <cstdio>
#include <functional>
#include <iostream>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include <reg4rec/data.hpp>
#include <reg4rec/decode/step_selection.hpp>
#include <reg4rec/eval.hpp>
#include <reg4rec/io.hpp>
#include <reg4rec/model/sasrec.hpp>
#include <reg4rec/quant/codebook_balance.hpp>

#include "args.hpp"
#include "dataset.hpp"
#include "model_store.hpp"

namespace reg4rec::cli {

enum class preset { quick, full };

/// Preset values any training command may override from the command line (--epochs 30, ...).
inline const std::set<std::string>& numeric_options() {
  static const std::set<std::string> o{"epochs", "vae-epochs", "lr", "weight-decay", "batch-size", "eval-every",
                                       "patience", "eval-users", "d-model", "heads", "d-ff", "layers", "dropout",
                                       "label-smoothing", "beam", "experts", "codes", "random-order", "pars-epochs", "pars-lr",
                                       "pars-kl", "pars-sft", "pars-paths", "pars-beam", "pars-last", "hold-out", "pars-users", "msra-steps", "msra-gamma",
                                       "corp-theta", "corp-kmin", "item-level", "pars-max-users", "mpq-candidates", "mpq-dedup",
                                       "skip-nonfinite", "embedding-dropout", "attention-dropout",
                                       "embedding-scale", "mpq-decorrelation", "modal-experts", "reward-step-hit",
                                       "reward-global-path", "reward-category-hit", "reward-consistency",
                                       "category-depth", "ema", "text-weight", "behaviour-dim", "smooth-hops",
                                       "smooth-restart", "bidirectional", "item-embedding",
                                       "fixed-order", "usage-bias", "uniformity", "remaining-weight",
                                       "reflection", "reflection-decode", "reflection-items", "reflection-tied"};
  return o;
}

inline preset parse_preset(const std::string& s) {
  if (s == "quick") return preset::quick;
  if (s == "full") return preset::full;
  throw usage_error("--preset must be quick or full, got '" + s + "'");
}

/// What a model run is given: the preset, the seed, where progress goes, and numeric
/// overrides of preset values from the command line (--epochs 30, --lr 1e-3, ...).
struct run_settings {
  preset level = preset::quick;
  std::uint64_t seed = 1;
  std::ostream* log = nullptr;
  std::map<std::string, double> overrides;
  std::string work_dir;       // where intermediate artefacts (tokenizers, checkpoints) go
  std::string features_path;  // item features from a .npy file instead of building them
  /// REG4Rec's CRSS measure (--confidence); kept among the overrides as its enum value, so
  /// that a run without a REG4Rec model notes it as unused.
  decode::confidence_measure confidence() const {
    return static_cast<decode::confidence_measure>(get_int("confidence", 0));
  }
  /// Item features built once per run (per feature mix) and shared by the models that need them.
  std::shared_ptr<std::map<std::string, matrix<float>>> features_cache = std::make_shared<std::map<std::string, matrix<float>>>();
  std::string save_dir;       // when set, the runner saves its trained model there (model_store.hpp)
  bool evaluate_test = true;  // false: train (and validate) only; model_run::test stays empty

  /// Overrides some model asked for (get, has); shared by copies of these settings.
  std::shared_ptr<std::set<std::string>> asked = std::make_shared<std::set<std::string>>();

  double get(const std::string& key, double fallback) const {
    asked->insert(key);
    const auto it = overrides.find(key);
    return it == overrides.end() ? fallback : it->second;
  }
  bool has(const std::string& key) const {
    asked->insert(key);
    return overrides.count(key) > 0;
  }
  /// Overrides no model asked for: options of other models (or of a path not taken, such as
  /// --mpq-candidates with --mpq-dedup), which this run ignored.
  std::vector<std::string> unused() const {
    std::vector<std::string> u;
    for (const auto& [k, v] : overrides)
      if (!asked->count(k)) u.push_back(k);
    return u;
  }
  index_t get_int(const std::string& key, index_t fallback) const { return static_cast<index_t>(get(key, double(fallback))); }
  bool quick() const noexcept { return level == preset::quick; }
};

/// One line of a report figure: `plot` names the figure ("loss", "validation_recall",
/// "validation_ndcg", "pars_reward", "tokenizer_loss", "utilisation:<tokenizer>"; see
/// report.hpp), `series` the line's legend; x is the epoch.
struct curve {
  std::string plot, series;
  std::vector<double> x, y;
};

/// A trained and evaluated model: test metrics, the time spent training, and what to report
/// beside the metrics (configuration, tokenizer statistics, per-epoch curves).
struct model_run {
  std::string model;
  eval::eval_result test;
  double train_seconds = 0;
  std::function<void(io::json_writer&)> config;     // writes a JSON object
  std::function<void(io::json_writer&)> tokenizer;  // writes a JSON object, or unset
  std::vector<curve> curves;                        // training histories, for the HTML report
  std::string tokenizer_name;                       // e.g. "rq-vae", empty without a tokenizer
  std::vector<double> utilisation;                  // final utilisation of each codebook
};

/// Training loss and validation curves of a training history. `metric_is_recall`: whether
/// epoch_record::metric holds Recall@10 (the generators) or NDCG@10 (SASRec's default); the
/// NDCG@10 of every validation is in epoch_record::ndcg either way.
inline void add_train_curves(model_run& r, const std::string& series, const model::train_history& h,
                             bool metric_is_recall = true) {
  curve loss{"loss", series, {}, {}}, rec{"validation_recall", series, {}, {}}, ndcg{"validation_ndcg", series, {}, {}};
  for (const auto& e : h.epochs) {
    loss.x.push_back(double(e.epoch));
    loss.y.push_back(e.loss);
    if (e.metric < 0) continue;
    if (metric_is_recall) {
      rec.x.push_back(double(e.epoch));
      rec.y.push_back(e.metric);
    }
    if (e.ndcg >= 0) {
      ndcg.x.push_back(double(e.epoch));
      ndcg.y.push_back(e.ndcg);
    }
  }
  for (auto* c : {&loss, &rec, &ndcg})
    if (!c->x.empty()) r.curves.push_back(std::move(*c));
}

/// A quantizer's per-epoch loss and per-codebook utilisation (its history(): records with
/// epoch, loss, utilisation), and the final per-codebook utilisation of its codes.
template <class Epochs>
void add_tokenizer_curves(model_run& r, const std::string& name, const Epochs& history,
                          const std::vector<double>& final_utilisation) {
  curve loss{"tokenizer_loss", name, {}, {}};
  std::vector<curve> util;
  for (const auto& e : history) {
    loss.x.push_back(double(e.epoch));
    loss.y.push_back(e.loss);
    for (std::size_t c = 0; c < e.utilisation.size(); ++c) {
      if (util.size() <= c) util.push_back({"utilisation:" + name, "codebook " + std::to_string(c), {}, {}});
      util[c].x.push_back(double(e.epoch));
      util[c].y.push_back(e.utilisation[c]);
    }
  }
  if (!loss.x.empty()) r.curves.push_back(std::move(loss));
  for (auto& u : util) r.curves.push_back(std::move(u));
  r.tokenizer_name = name;
  r.utilisation = final_utilisation;
}

/// PARS curves (align::pars_history: epochs with reward, metric = validation Recall@10, ndcg),
/// drawn after the supervised epochs: x = first_epoch + PARS epoch.
template <class ParsHistory>
void add_pars_curves(model_run& r, const std::string& series, const ParsHistory& h, double first_epoch) {
  curve reward{"pars_reward", series, {}, {}}, rec{"validation_recall", series, {}, {}},
      ndcg{"validation_ndcg", series, {}, {}};
  if (h.initial_metric >= 0) {  // the supervised model, scored on the same users before alignment
    rec.x.push_back(first_epoch);
    rec.y.push_back(h.initial_metric);
  }
  for (const auto& e : h.epochs) {
    const double x = first_epoch + double(e.epoch);
    reward.x.push_back(x);
    reward.y.push_back(e.reward);
    if (e.metric >= 0) {
      rec.x.push_back(x);
      rec.y.push_back(e.metric);
    }
    if (e.ndcg >= 0) {
      ndcg.x.push_back(x);
      ndcg.y.push_back(e.ndcg);
    }
  }
  for (auto* c : {&reward, &rec, &ndcg})
    if (!c->x.empty()) r.curves.push_back(std::move(*c));
}

inline void make_dirs(const std::string& path) {
  std::string p;
  for (std::size_t i = 0; i <= path.size(); ++i) {
    if (i == path.size() || path[i] == '/') {
      if (!p.empty() && ::mkdir(p.c_str(), 0755) != 0 && errno != EEXIST)
        throw io_error(p, std::string("cannot create the folder: ") + std::strerror(errno));
    }
    if (i < path.size()) p += path[i];
  }
  // An existing non-folder (a file given as --out) is found now, not after the training.
  struct stat st;
  if (!path.empty() && (::stat(path.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)))
    throw io_error(path, "exists and is not a folder");
}

/// The fields of a model's metrics object (into an open object of `j`): model, dataset, split,
/// users, recall@K, ndcg@K, mrr, train_seconds, eval_seconds, protocol, tokenizer, config.
inline void write_metrics_fields(io::json_writer& j, const model_run& r, const std::string& dataset) {
  j.field("model", r.model).field("dataset", dataset).field("split", "leave-one-out, test");
  j.field("users", r.test.users);
  for (std::size_t k = 0; k < r.test.ks.size(); ++k) {
    j.field("recall@" + std::to_string(r.test.ks[k]), r.test.recall[k]);
    j.field("ndcg@" + std::to_string(r.test.ks[k]), r.test.ndcg[k]);
  }
  j.field("mrr", r.test.mrr).field("train_seconds", r.train_seconds).field("eval_seconds", r.test.seconds);
  j.field("protocol", r.test.protocol);
  j.key("tokenizer");
  if (r.tokenizer)
    r.tokenizer(j);
  else
    j.null();
  j.key("config");
  if (r.config)
    r.config(j);
  else
    j.begin_object().end_object();
}

inline std::string metrics_json(const model_run& r, const std::string& dataset) {
  io::json_writer j;
  j.begin_object();
  write_metrics_fields(j, r, dataset);
  j.end_object();
  return j.str();
}

inline eval::evaluator_options test_options(const std::string& name, std::ostream* log) {
  eval::evaluator_options o;
  o.ks = {5, 10};
  o.model_name = name;
  o.log = log;
  return o;
}

inline model_run run_popularity(const dataset&, const data::leave_one_out_split& split, const run_settings& rs) {
  std::ostream* log = rs.log;
  model_run r;
  r.model = "popularity";
  const auto t0 = std::chrono::steady_clock::now();
  const auto pop = eval::popularity::fit(split, data::stage::test);
  r.train_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  auto o = test_options("popularity", log);
  o.mask_history = false;  // the protocol that reproduces the published sanity figures
  r.test = eval::evaluate(pop, split, data::stage::test, o);
  r.config = [](io::json_writer& j) {
    j.begin_object().field("counts", "every interaction but the test targets").field("history_masked", false).end_object();
  };
  return r;
}

/// S²GR's codebook optimisation for a neural tokenizer: --usage-bias λ, --uniformity γ (0: off).
inline quant::codebook_balance_options codebook_balance_of(const run_settings& rs) {
  quant::codebook_balance_options b;
  b.usage_bias = rs.get("usage-bias", 0.0);
  b.uniformity = rs.get("uniformity", 0.0);
  return b;
}

/// --skip-nonfinite 1: training drops (and counts) batches with a NaN/Inf loss or gradient
/// instead of stopping with an error naming the step, the parameter and the last checkpoint.
inline optim::nonfinite_policy nonfinite_policy(const run_settings& rs) {
  return rs.get_int("skip-nonfinite", 0) ? optim::nonfinite_policy::skip : optim::nonfinite_policy::stop;
}

inline model::sasrec_options sasrec_preset(const run_settings& rs) {
  model::sasrec_options o;
  o.seed = rs.seed;
  o.log = rs.log;
  // The learning rate decays over the epoch budget: 80 epochs were no better than 40 on
  // Beauty (test R@10 0.0821 vs 0.0831), so both presets use 40; `full` validates on all users.
  o.epochs = rs.get_int("epochs", 40);
  o.eval_every = rs.get_int("eval-every", 4);
  o.patience = rs.get_int("patience", rs.quick() ? 3 : 6);
  o.eval_users = rs.get_int("eval-users", rs.quick() ? 4000 : 0);
  o.d_model = rs.get_int("d-model", o.d_model);
  o.heads = rs.get_int("heads", o.heads);
  o.d_ff = rs.get_int("d-ff", o.d_ff);
  o.layers = rs.get_int("layers", o.layers);
  o.dropout = rs.get("dropout", o.dropout);
  o.attention_dropout = rs.get("attention-dropout", o.attention_dropout);
  o.label_smoothing = rs.get("label-smoothing", o.label_smoothing);
  o.lr = rs.get("lr", o.lr);
  o.weight_decay = rs.get("weight-decay", o.weight_decay);
  o.batch_size = rs.get_int("batch-size", o.batch_size);
  o.ema = rs.get("ema", 0.0);
  o.nonfinite = nonfinite_policy(rs);
  return o;
}

inline model_run run_sasrec(const dataset& ds, const data::leave_one_out_split&, const run_settings& rs) {
  std::ostream* log = rs.log;
  const data::leave_one_out_split split50(ds.sequences, {50});  // SASRec reads 50 items (SPEC §1)
  model_run r;
  r.model = "sasrec";
  const auto o = sasrec_preset(rs);
  model::sasrec m(split50.n_items(), o);
  const auto hist = m.train(split50);
  r.train_seconds = hist.seconds;
  add_train_curves(r, "sasrec", hist, o.select_on_recall);
  if (rs.evaluate_test) r.test = eval::evaluate(m, split50, data::stage::test, test_options("sasrec", log));
  r.config = [o, hist](io::json_writer& j) {
    j.begin_object()
        .field("max_len", o.max_len)
        .field("d_model", o.d_model)
        .field("heads", o.heads)
        .field("d_ff", o.d_ff)
        .field("layers", o.layers)
        .field("dropout", o.dropout)
        .field("attention_dropout", o.attention_dropout)
        .field("scale_embeddings", o.scale_embeddings)
        .field("label_smoothing", o.label_smoothing)
        .field("weight_decay", o.weight_decay)
        .field("epochs_max", o.epochs)
        .field("epochs_run", static_cast<index_t>(hist.epochs.size()))
        .field("best_epoch", hist.best_epoch)
        .field("batch_size", o.batch_size)
        .field("lr", o.lr)
        .field("loss", "full-softmax cross-entropy")
        .field("early_stopping", "validation NDCG@10")
        .end_object();
  };
  if (!rs.save_dir.empty()) {
    const auto pop = training_counts(split50);
    save_sasrec(rs.save_dir, ds, m, pop, r.config);
  }
  return r;
}

using model_runner = std::function<model_run(const dataset&, const data::leave_one_out_split&, const run_settings&)>;


}  // namespace reg4rec::cli
