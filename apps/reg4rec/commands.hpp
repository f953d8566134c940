// The subcommands that work with one model at a time: features, train, align, evaluate and
// recommend (docs/cli.md). They share the pipeline's code: the model runners of
// pipeline.hpp / generative.hpp / reasoning.hpp train, model_store.hpp saves and loads.
#pragma once

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <iostream>
#include <numeric>
#include <string>
#include <unordered_map>
#include <vector>

#include <reg4rec/core/parallel.hpp>
#include <reg4rec/data.hpp>
#include <reg4rec/eval.hpp>
#include <reg4rec/io/npy.hpp>

#include "args.hpp"
#include "dataset.hpp"
#include "model_store.hpp"
#include "pipeline.hpp"
#include "reasoning.hpp"
#include "report.hpp"

namespace reg4rec::cli {

// ---- shared helpers ------------------------------------------------------------------------

/// The options every training command takes: preset, seed, features, threads, quiet and the
/// numeric overrides of numeric_options().
inline std::set<std::string> training_flags(std::set<std::string> extra) {
  extra.insert({"data", "preset", "seed", "threads", "features", "confidence"});
  extra.insert(numeric_options().begin(), numeric_options().end());
  return extra;
}

inline void apply_threads(const args& a) {
  if (!a.has("threads")) return;
  const long long n = a.get_int("threads", 1);
  if (n < 1 || n > 4096) throw usage_error("--threads must be at least 1 and at most 4096, got '" + a.get("threads", "") + "'");
  set_num_threads(static_cast<int>(n));
}

/// The value of a numeric override, checked against its range before any work starts (a bad
/// value found after an hour of training is a bad value found too late).
inline double checked_override(const args& a, const std::string& k) {
  static const std::set<std::string> at_least_one{"epochs", "vae-epochs", "batch-size", "d-model", "heads", "d-ff", "behaviour-dim",
                                                  "layers", "beam", "experts", "codes", "pars-epochs", "pars-paths",
                                                  "pars-users", "msra-steps"};
  static const std::set<std::string> non_negative{"eval-every", "patience", "eval-users", "weight-decay", "pars-kl", "text-weight",
                                                  "pars-sft", "random-order", "item-level", "modal-experts", "pars-max-users", "pars-beam", "pars-last", "hold-out", "skip-nonfinite", "mpq-candidates", "mpq-dedup",
                                                  "smooth-hops", "bidirectional", "item-embedding", "fixed-order", "mpq-decorrelation", "usage-bias", "uniformity", "remaining-weight", "reflection", "reflection-decode", "reflection-items", "reflection-tied", "reward-step-hit", "reward-global-path",
                                                  "reward-category-hit", "reward-consistency", "category-depth"};
  static const std::set<std::string> positive{"lr", "pars-lr", "embedding-scale"};
  static const std::set<std::string> fraction{"dropout", "embedding-dropout", "attention-dropout", "label-smoothing", "ema"};
  static const std::set<std::string> unit{"smooth-restart"};
  static const std::set<std::string> integral{"epochs", "vae-epochs", "batch-size", "d-model", "heads", "d-ff", "behaviour-dim",
                                              "layers", "beam", "experts", "codes", "pars-epochs", "pars-paths", "pars-users",
                                              "msra-steps", "eval-every", "patience", "eval-users", "corp-kmin",
                                              "random-order", "item-level", "modal-experts", "pars-max-users", "skip-nonfinite", "mpq-candidates", "mpq-dedup",
                                              "smooth-hops", "bidirectional", "item-embedding", "fixed-order", "category-depth", "pars-beam", "pars-last", "hold-out",
                                              "reflection-items", "reflection-tied"};
  const double v = a.get_double(k, 0);
  auto bad = [&](const char* what) { throw usage_error("--" + k + " " + what + ", got '" + a.get(k, "") + "'"); };
  if (integral.count(k) && (v != std::floor(v) || std::abs(v) > 1e15)) bad("expects a whole number");
  if (at_least_one.count(k) && v < 1) bad("must be at least 1");
  if (non_negative.count(k) && v < 0) bad("must not be negative");
  if (positive.count(k) && v <= 0) bad("must be positive");
  if (fraction.count(k) && !(v >= 0 && v < 1)) bad("must lie in [0, 1)");
  if (unit.count(k) && !(v >= 0 && v <= 1)) bad("must lie in [0, 1]");
  return v;
}

/// Tells (on stderr, even when quiet) which overrides the run ignored: options of other
/// models, e.g. --modal-experts with --model tiger.
inline void note_unused(const run_settings& rs, const std::string& who) {
  for (const auto& k : rs.unused()) std::fprintf(stderr, "reg4rec: note: --%s was not used by %s\n", k.c_str(), who.c_str());
}

inline run_settings settings_from(const args& a) {
  run_settings rs;
  rs.level = parse_preset(a.get("preset", "quick"));
  rs.seed = static_cast<std::uint64_t>(a.get_int("seed", 1));
  rs.features_path = a.get("features", "");
  if (!rs.features_path.empty()) io::read_npy_header(rs.features_path);  // a bad file fails now, not after training
  try {
    if (a.has("confidence"))
      rs.overrides["confidence"] = static_cast<double>(decode::confidence_measure_from(a.get("confidence", "")));
  } catch (const value_error& e) {
    throw usage_error(std::string("--confidence: ") + e.what());
  }
  rs.log = a.has("quiet") ? nullptr : &std::clog;
  apply_threads(a);
  for (const auto& k : numeric_options())
    if (a.has(k)) rs.overrides[k] = checked_override(a, k);
  pars_reward(rs);  // every --reward-* weight 0 fails now, not after the supervised training
  if (rs.overrides.count("confidence") && rs.overrides.count("fixed-order") && rs.overrides.at("fixed-order") != 0)
    throw usage_error("--confidence chooses CRSS's measure and --fixed-order 1 turns CRSS off: give one of them");
  {                 // and a generator setting that cannot be built, before any tokenizer is fitted
    run_settings probe = rs;
    probe.asked = std::make_shared<std::set<std::string>>();  // asking here is not using
    generator_preset(probe);
  }
  return rs;
}

/// The data folder of a command that reads a saved model: --data, else the one recorded in
/// the model's manifest when it still exists, else the bundled dataset.
inline std::string data_dir_for(const args& a, const loaded_model& m, const char* argv0) {
  if (a.has("data")) return a.get("data", "");
  if (!m.data_dir.empty() && fsutil::is_dir(m.data_dir)) return m.data_dir;
  return default_data_dir(argv0);
}

/// Title (or keyword text) of an item for display, empty when unknown.
inline std::string item_title(const dataset* ds, std::int32_t item) {
  if (!ds || !ds->items || item < 0 || item >= ds->items->n_items()) return {};
  const auto& r = (*ds->items)[item];
  return r.title.empty() ? r.text : r.title;
}

/// Decoding settings of evaluate / recommend: the saved ones, overridden from the command line.
struct decode_request {
  index_t beam = 20, top_k = 10;
  bool corp = false;
  double corp_theta = 0.5;
  index_t corp_kmin = -1;
  double reflection = 0;
};

inline decode_request decode_request_from(const args& a, const loaded_model& m, index_t top_k) {
  if (a.has("corp") && a.has("no-corp")) throw usage_error("--corp and --no-corp exclude each other");
  decode_request r;
  r.beam = a.get_int("beam", m.decoder.beam);
  r.top_k = top_k;
  if (r.beam < 1) throw usage_error("--beam must be at least 1");
  r.beam = std::max(r.beam, top_k);
  r.corp = a.has("corp") ? true : a.has("no-corp") ? false : m.decoder.corp;
  r.corp_theta = a.get_double("corp-theta", m.decoder.corp_theta);
  r.corp_kmin = a.get_int("corp-kmin", m.decoder.corp_kmin);
  r.reflection = a.get_double("reflection-decode", m.decoder.reflection);
  if (r.reflection < 0) throw usage_error("--reflection-decode must not be negative");
  if (r.reflection > 0 && m.generator && !m.generator->has_reflection())
    throw usage_error("--reflection-decode needs a model trained with a reflection head (--reflection B > 0)");
  if (r.corp && !m.unordered())
    throw usage_error("--corp needs a REG4Rec model (unordered MPQ tokens with token categories); " + m.dir + " holds a " +
                      m.kind + " model");
  if (r.corp && !m.has_categories)
    throw io_error(m.dir, "CORP needs token categories (categories.r4r), which were not saved: the dataset had no items.tsv");
  return r;
}

/// Calls f(search) with the beam search the saved model decodes with.
template <class F>
void with_search(const loaded_model& m, const decode_request& q, F&& f) {
  decode::beam_options bo;
  bo.beam = q.beam;
  bo.top_k = q.top_k;
  bo.order = m.decoder.order == "confidence" ? decode::step_order::confidence : decode::step_order::fixed;
  bo.confidence = decode::confidence_measure_from(m.decoder.confidence);
  bo.reflection = q.reflection;
  if (!m.unordered()) {
    const decode::trie_constraint tc(m.trie);
    const decode::beam_search<float, decode::trie_constraint> s(*m.generator, tc, bo);
    f(s);
    return;
  }
  const decode::posting_constraint pc(m.posting, m.popularity);
  if (q.corp) {
    decode::corp_options co;
    co.theta = q.corp_theta;
    co.k_min = q.corp_kmin;
    const decode::corp_pruner pr(m.categories, m.generator->layout().free_codebooks(), co);
    const decode::beam_search<float, decode::posting_constraint, decode::corp_pruner> s(*m.generator, pc, bo, pr);
    f(s);
    return;
  }
  const decode::beam_search<float, decode::posting_constraint> s(*m.generator, pc, bo);
  f(s);
}

// ---- reg4rec features ------------------------------------------------------------------------

/// Prints what a feature matrix looks like: shape, finiteness, row norms and, with item
/// titles, the nearest neighbours (cosine) of a few items.
inline void report_features(const matrix<float>& x, const dataset* ds, index_t neighbours) {
  index_t non_finite = 0, zero = 0;
  double nmin = std::numeric_limits<double>::infinity(), nmax = 0, nsum = 0;
  for (index_t i = 0; i < x.rows(); ++i) {
    bool finite = true;
    for (index_t j = 0; j < x.cols(); ++j) finite = finite && std::isfinite(x(i, j));
    if (!finite) {
      ++non_finite;
      continue;
    }
    const double n = x.row(i).norm();
    zero += n == 0;
    nmin = std::min(nmin, n);
    nmax = std::max(nmax, n);
    nsum += n;
  }
  const index_t finite_rows = x.rows() - non_finite;
  std::printf("  shape             : %ld items x %ld dimensions (float32)\n", long(x.rows()), long(x.cols()));
  std::printf("  rows with NaN/Inf : %ld\n", long(non_finite));
  std::printf("  zero rows         : %ld\n", long(zero));
  if (finite_rows > 0)
    std::printf("  row norm          : min %.4f, mean %.4f, max %.4f\n", nmin, nsum / double(finite_rows), nmax);
  if (non_finite > 0) throw value_error(std::to_string(non_finite) + " rows hold NaN or Inf: no quantizer accepts them");
  if (!ds || !ds->items || neighbours <= 0 || x.rows() < 2) return;
  matrix<float> u = x;
  for (index_t i = 0; i < u.rows(); ++i) {
    const float n = u.row(i).norm();
    if (n > 0) u.row(i) /= n;
  }
  const index_t probes = std::min<index_t>(3, u.rows());
  const auto counts = ds->sequences.item_counts();
  // The most interacted-with items make recognisable probes.
  std::vector<index_t> order(static_cast<std::size_t>(u.rows()));
  std::iota(order.begin(), order.end(), 0);
  std::partial_sort(order.begin(), order.begin() + probes, order.end(),
                    [&](index_t a, index_t b) { return counts[a] > counts[b]; });
  std::printf("  nearest neighbours by cosine (sanity check of the features):\n");
  for (index_t p = 0; p < probes; ++p) {
    const index_t i = order[p];
    const Eigen::VectorXf sims = u * u.row(i).transpose();
    std::vector<index_t> nn(static_cast<std::size_t>(u.rows()));
    std::iota(nn.begin(), nn.end(), 0);
    const index_t k = std::min<index_t>(neighbours + 1, u.rows());
    std::partial_sort(nn.begin(), nn.begin() + k, nn.end(), [&](index_t a, index_t b) { return sims[a] > sims[b]; });
    std::printf("    %s  %s\n", ds->sequences.item_ids().external(i).c_str(), item_title(ds, static_cast<std::int32_t>(i)).c_str());
    for (index_t q = 0, shown = 0; q < k && shown < neighbours; ++q) {
      if (nn[q] == i) continue;
      ++shown;
      std::printf("      %.3f  %s  %s\n", sims[nn[q]], ds->sequences.item_ids().external(nn[q]).c_str(),
                  item_title(ds, static_cast<std::int32_t>(nn[q])).c_str());
    }
  }
}

inline int cmd_features(const std::vector<std::string>& argv, const char* argv0) {
  const args a(argv, {"data", "out", "features", "for", "text-dim", "behaviour-dim", "text-weight", "behaviour-weight",
                      "smooth-hops", "smooth-restart", "neighbours", "threads"},
               {"quiet"});
  apply_threads(a);
  std::ostream* log = a.has("quiet") ? nullptr : &std::clog;
  const index_t neighbours = a.get_int("neighbours", 5);
  if (a.has("features")) {
    for (const char* k : {"out", "for", "text-dim", "behaviour-dim", "text-weight", "behaviour-weight", "smooth-hops",
                          "smooth-restart"})
      if (a.has(k)) throw usage_error(std::string("--") + k + " builds features; --features FILE.npy reports on an existing file");
    const std::string path = a.get("features", "");
    const auto header = io::read_npy_header(path);
    const auto x = io::read_npy<float>(path);
    std::optional<dataset> ds;
    if (a.has("data")) {
      ds = load_dataset(a.get("data", ""));
      check_dim(("--features " + path + ": rows (items of " + ds->name + ")").c_str(), x.rows(), ds->sequences.n_items());
    }
    std::printf("%s (%s)\n", path.c_str(), header.descr.c_str());
    report_features(x, ds ? &*ds : nullptr, neighbours);
    if (ds) std::printf("  matches %s: one row per item, in the dataset's item order\n", ds->name.c_str());
    return 0;
  }
  const auto ds = load_dataset(a.get("data", default_data_dir(argv0)));
  if (!ds.items)
    throw io_error(ds.dir, "no items.tsv: text features need item metadata (see docs/data-formats.md)");
  const std::string out = a.get("out", "out/" + ds.name + "/features.npy");
  if (out.size() < 4 || out.compare(out.size() - 4, 4, ".npy") != 0)
    throw usage_error("--out must name a .npy file, got '" + out + "'");
  // --for: the mix the pipeline builds for that model's tokenizer, so that a file passed back
  // with --features gives the model what the presets give it.
  const std::string target = a.get("for", "reg4rec");
  if (target != "tiger" && target != "reg4rec")
    throw usage_error("--for must be tiger or reg4rec, got '" + target + "'");
  const feature_mix mix = target == "tiger" ? tiger_feature_mix : reg4rec_feature_mix;
  data::item_feature_options o;
  o.text.dim = a.get_int("text-dim", o.text.dim);
  o.behaviour.dim = a.get_int("behaviour-dim", mix.behaviour_dim);
  o.text_weight = a.get_double("text-weight", mix.text_weight);
  o.behaviour_weight = a.get_double("behaviour-weight", o.behaviour_weight);
  if (o.text.dim < 1 || o.behaviour.dim < 1) throw usage_error("--text-dim and --behaviour-dim must be at least 1");
  // The same range checks as train and pipeline apply to these options.
  o.smoothing.hops = a.has("smooth-hops") ? static_cast<index_t>(checked_override(a, "smooth-hops")) : mix.smooth_hops;
  o.smoothing.restart = a.has("smooth-restart") ? checked_override(a, "smooth-restart") : mix.smooth_restart;
  o.log = log;
  const data::leave_one_out_split split(ds.sequences, {20});
  const auto t0 = std::chrono::steady_clock::now();
  const auto x = data::item_features(*ds.items, split, o);
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  make_dirs(fsutil::parent_of(out));
  io::write_npy<float>(out, x);
  std::printf("%s: [text %ld ; behaviour %ld] item features in %.1f s -> %s\n", ds.name.c_str(), long(o.text.dim),
              long(o.behaviour.dim), secs, out.c_str());
  report_features(x, &ds, neighbours);
  return 0;
}

// ---- reg4rec train ---------------------------------------------------------------------------

inline int cmd_train(const std::vector<std::string>& argv, const char* argv0) {
  const args a(argv, training_flags({"model", "out"}), {"quiet", "test"});
  auto rs = settings_from(a);
  const std::string m = a.get("model", "reg4rec-sft");
  if (m == "popularity") throw usage_error("most-popular has nothing to train (use reg4rec pipeline --model popularity)");
  if (!model_runners().count(m) || m == "popularity")
    throw usage_error("unknown model '" + m + "' (sasrec, tiger, reg4rec-sft, reg4rec)");
  const auto ds = load_dataset(a.get("data", default_data_dir(argv0)));
  const std::string out = a.get("out", "out/" + ds.name + "/models/" + m);
  make_dirs(fsutil::parent_of(out));
  check_model_destination(out);  // before hours of training, not after
  rs.save_dir = out;
  rs.evaluate_test = a.has("test");
  const data::leave_one_out_split split(ds.sequences, {20});
  if (rs.log)
    *rs.log << "dataset " << ds.name << ": " << ds.sequences.n_users() << " users, " << ds.sequences.n_items() << " items\n";
  const auto run = model_runners().at(m)(ds, split, rs);
  std::printf("trained %s on %s in %.1f s; saved to %s\n", m.c_str(), ds.name.c_str(), run.train_seconds, out.c_str());
  for (const auto& c : run.curves)
    if (c.plot == "validation_recall" || (c.plot == "validation_ndcg" && m == "sasrec")) {
      const auto best = std::max_element(c.y.begin(), c.y.end());
      std::printf("  best validation %s: %.4f at epoch %.0f (%s)\n", c.plot == "validation_recall" ? "Recall@10" : "NDCG@10",
                  *best, c.x[static_cast<std::size_t>(best - c.y.begin())], c.series.c_str());
    }
  if (rs.evaluate_test) {
    io::write_file_atomic(out + "/metrics.json", metrics_json(run, ds.name));
    std::printf("%s", summary_table({run}).c_str());
  }
  note_unused(rs, m);
  return 0;
}

// ---- reg4rec align ---------------------------------------------------------------------------

inline int cmd_align(const std::vector<std::string>& argv, const char* argv0) {
  const args a(argv, training_flags({"model-dir", "out"}), {"quiet", "test"});
  auto rs = settings_from(a);
  if (!a.has("model-dir")) throw usage_error("--model-dir DIR is required (a folder written by reg4rec train --model reg4rec-sft)");
  const std::string dir = a.get("model-dir", "");
  auto sft = load_model(dir);
  if (!sft.generative() || !sft.unordered())
    throw usage_error("align needs a REG4Rec model with unordered MPQ tokens (reg4rec-sft or reg4rec); " + dir + " holds a " +
                      sft.kind + " model");
  const auto ds = load_dataset(data_dir_for(a, sft, argv0));
  check_same_items(sft, ds);
  std::string trimmed = dir;
  while (trimmed.size() > 1 && trimmed.back() == '/') trimmed.pop_back();
  const std::string out = a.get("out", trimmed + "-aligned");
  make_dirs(fsutil::parent_of(out));
  check_model_destination(out);
  const data::leave_one_out_split split(ds.sequences, {sft.max_history});
  if (rs.has("fixed-order") || a.has("confidence"))
    throw usage_error("--fixed-order and --confidence are the saved model's choice; align keeps its order");
  rs.overrides["fixed-order"] = sft.decoder.order == "fixed" ? 1 : 0;  // PARS, CORP and validation follow it
  rs.overrides["confidence"] = static_cast<double>(decode::confidence_measure_from(sft.decoder.confidence));
  if (rs.has("reflection")) throw usage_error("--reflection is the saved model's choice; align keeps its reflection head");
  rs.overrides["reflection"] = sft.generator->config().reflection_weight;
  if (!rs.has("reflection-decode")) rs.overrides["reflection-decode"] = sft.decoder.reflection;

  // The reward context and decoding tables, from the saved folder.
  auto assets = std::make_unique<reg4rec_assets>();
  auto& as = *assets;
  as.popularity = sft.popularity;
  as.codes = sft.generator->item_codes();
  const auto& layout = sft.generator->layout();
  as.experts = layout.free_codebooks();
  as.codebook = layout.size(0);
  if (layout.fixed_tail() > 0) as.dedup_range = layout.size(layout.codebooks() - 1);
  as.posting = std::move(sft.posting);
  as.item_category = !sft.item_category.empty() ? sft.item_category : std::vector<std::int32_t>(static_cast<std::size_t>(sft.items), -1);
  const bool recut = rs.has("category-depth") && ds.items;  // categories at another depth than the saved ones
  if (recut) as.item_category = reward_categories(*ds.items, rs);
  as.categories = sft.has_categories && !recut ? sft.categories
                                               : quant::token_category_table::build(as.codes, as.posting.codebook_size(), as.item_category);
  as.ctx.item_codes = as.codes;
  as.ctx.categories = &as.categories;
  as.ctx.item_category = as.item_category;
  as.ctx.popularity = as.popularity;
  for (auto p : as.popularity) as.ctx.max_popularity = std::max(as.ctx.max_popularity, p);
  if (!sft.has_categories && rs.log)
    *rs.log << "no token categories saved: category rewards and CORP see no categories\n";

  const index_t msra = rs.get_int("msra-steps", 3);
  if (msra < 1) throw usage_error("--msra-steps must be at least 1 (1: PARS alone)");
  align::pars_history ph;
  const auto t0 = std::chrono::steady_clock::now();
  const auto policy = run_pars(*sft.generator, as, split, rs, msra, ph);
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const run_settings rs_corp = with_corp_theta(*policy, as, split, rs);

  const auto po = pars_preset(rs, msra);
  const auto co = corp_preset(rs_corp);
  const index_t beam = rs.get_int("beam", sft.decoder.beam);
  const json_value sft_training = sft.manifest.has("training") ? sft.manifest.at("training") : json_value();
  const std::string tokenizer_file = sft.manifest.at("files").has("tokenizer")
                                         ? dir + "/" + sft.manifest.at("files").at("tokenizer").str()
                                         : std::string();
  generative_parts parts{"reg4rec", policy.get(), nullptr, &as.posting, &as.categories, as.popularity,
                         {"posting_index", sft.decoder.order, beam, true, co.theta, co.k_min, sft.decoder.confidence,
                          reflection_decode(rs)},
                         sft.manifest.at("sid").get("tokenizer", std::string("mpq")), {},
                         [&](io::json_writer& j) {
                           j.begin_object().key("sft");
                           sft_training.write_to(j);
                           j.key("pars");
                           write_pars(j, po, ph);
                           j.field("aligned_from", fsutil::absolute(dir));
                           j.end_object();
                         },
                         sft.manifest.at("sid").get("features", std::string())};
  if (!tokenizer_file.empty())
    parts.save_tokenizer = [&](const std::string& p) { io::write_file_atomic(p, io::read_file(tokenizer_file)); };
  save_generative(out, ds, parts);

  std::printf("PARS%s on %s in %.1f s (%ld epochs, best %ld%s); saved to %s\n", msra > 1 ? " + MSRA" : "", ds.name.c_str(),
              secs, long(ph.epochs.size()), long(ph.best_epoch), ph.best_epoch == 0 ? ": the supervised model kept" : "",
              out.c_str());
  std::printf("| epoch | mean reward | KL | validation R@10 |\n|---|---|---|---|\n");
  if (ph.initial_metric >= 0) std::printf("| 0 (before) | - | - | %.4f |\n", ph.initial_metric);
  for (const auto& e : ph.epochs)
    std::printf("| %ld | %.4f | %.5f | %s |\n", long(e.epoch), e.reward, e.kl, e.metric >= 0 ? detail::fmt("%.4f", e.metric).c_str() : "-");
  if (a.has("test")) {
    model_run r;
    r.model = "reg4rec";
    r.train_seconds = secs;
    r.test = evaluate_reg4rec(*policy, as, split, rs_corp, true, "reg4rec");
    io::write_file_atomic(out + "/metrics.json", metrics_json(r, ds.name));
    std::printf("%s", summary_table({r}).c_str());
  }
  note_unused(rs, "align");
  return 0;
}

// ---- reg4rec evaluate ------------------------------------------------------------------------

inline int cmd_evaluate(const std::vector<std::string>& argv, const char* argv0) {
  const args a(argv, {"model-dir", "data", "stage", "users", "beam", "out", "threads", "corp-theta", "corp-kmin", "reflection-decode"},
               {"corp", "no-corp", "quiet"});
  apply_threads(a);
  if (!a.has("model-dir")) throw usage_error("--model-dir DIR is required (a folder written by reg4rec train or align)");
  const std::string stage_name = a.get("stage", "test");
  if (stage_name != "test" && stage_name != "validation")
    throw usage_error("--stage must be test or validation, got '" + stage_name + "'");
  const auto st = stage_name == "test" ? data::stage::test : data::stage::validation;
  const index_t users = a.get_int("users", 0);
  if (users < 0) throw usage_error("--users must be non-negative (0: every user)");
  std::ostream* log = a.has("quiet") ? nullptr : &std::clog;
  const std::string dir = a.get("model-dir", "");
  const auto m = load_model(dir);
  std::string trimmed = dir;
  while (trimmed.size() > 1 && trimmed.back() == '/') trimmed.pop_back();
  const std::string out = a.get("out", trimmed + "/metrics-" + stage_name + ".json");
  const decode_request q = m.generative() ? decode_request_from(a, m, 10) : decode_request{};
  if (!m.generative() && (a.has("corp") || a.has("beam")))
    throw usage_error("--corp and --beam apply to generative models; " + dir + " holds a " + m.kind + " model");
  const auto ds = load_dataset(data_dir_for(a, m, argv0));
  check_same_items(m, ds);
  const data::leave_one_out_split split(ds.sequences, {m.max_history});
  auto o = test_options(m.kind + (q.corp ? " + CORP" : ""), log);
  o.max_users = users;
  eval::eval_result r;
  if (m.generative())
    with_search(m, q, [&](const auto& s) { r = eval::evaluate(s, split, st, o); });
  else
    r = eval::evaluate(*m.sasrec, split, st, o);

  io::json_writer j;
  j.begin_object().field("model", m.kind).field("model_dir", fsutil::absolute(dir)).field("dataset", ds.name);
  j.field("split", "leave-one-out, " + stage_name).field("users", r.users);
  for (std::size_t k = 0; k < r.ks.size(); ++k) {
    j.field("recall@" + std::to_string(r.ks[k]), r.recall[k]);
    j.field("ndcg@" + std::to_string(r.ks[k]), r.ndcg[k]);
  }
  j.field("mrr", r.mrr).field("eval_seconds", r.seconds).field("protocol", r.protocol);
  if (m.generative()) {
    j.key("decoder").begin_object().field("beam", q.beam).field("order", m.decoder.order).field("corp", q.corp);
    if (q.corp) j.field("corp_theta", q.corp_theta).field("corp_kmin", q.corp_kmin);
    j.end_object();
  }
  j.end_object();
  io::write_file_atomic(out, j.str() + "\n");
  std::printf("%s, %s (full ranking over %ld items)\n%s", ds.name.c_str(), stage_name.c_str(), long(ds.sequences.n_items()),
              eval::markdown_table({r}).c_str());
  std::printf("written to %s\n", out.c_str());
  return 0;
}

// ---- reg4rec recommend -----------------------------------------------------------------------

inline std::vector<std::string> split_ids(const std::string& s) {
  std::vector<std::string> out;
  std::string cur;
  for (char c : s) {
    if (c == ' ' || c == ',' || c == '\t') {
      if (!cur.empty()) out.push_back(cur), cur.clear();
    } else {
      cur += c;
    }
  }
  if (!cur.empty()) out.push_back(cur);
  return out;
}

inline int cmd_recommend(const std::vector<std::string>& argv, const char* argv0) {
  const args a(argv, {"model-dir", "data", "user", "history", "k", "beam", "threads", "corp-theta", "corp-kmin", "reflection-decode"},
               {"corp", "no-corp", "json", "quiet"});
  apply_threads(a);
  if (!a.has("model-dir")) throw usage_error("--model-dir DIR is required (a folder written by reg4rec train or align)");
  if (a.has("user") == a.has("history")) throw usage_error("give exactly one of --user ID and --history \"ID ID ...\"");
  const index_t k = a.get_int("k", 10);
  if (k < 1) throw usage_error("--k must be at least 1");
  const std::string dir = a.get("model-dir", "");
  const auto m = load_model(dir);
  const decode_request q = m.generative() ? decode_request_from(a, m, k) : decode_request{};
  if (!m.generative() && (a.has("corp") || a.has("beam")))
    throw usage_error("--corp and --beam apply to generative models; " + dir + " holds a " + m.kind + " model");

  // The dataset: needed for --user, used for titles otherwise when it can be found.
  std::optional<dataset> ds;
  const std::string data_dir = data_dir_for(a, m, argv0);
  if (a.has("user") || a.has("data")) {
    ds = load_dataset(data_dir);
    check_same_items(m, *ds);
  } else if (fsutil::is_dir(data_dir)) {
    try {
      ds = load_dataset(data_dir);
      check_same_items(m, *ds);
    } catch (const error&) {
      ds.reset();  // titles are a convenience; the recommendation does not need the data
    }
  }
  std::vector<std::int32_t> history;
  std::string who;
  if (a.has("user")) {
    const std::string id = a.get("user", "");
    const auto u = ds->sequences.user_ids().find(id);
    if (u == data::id_map::npos) throw not_found_error("unknown user id '" + id + "' in " + ds->dir);
    const auto s = ds->sequences.sequence(u);
    history.assign(s.begin(), s.end());
    who = "user " + id;
  } else {
    std::unordered_map<std::string, std::int32_t> index;
    for (std::size_t i = 0; i < m.item_ids.size(); ++i) index.emplace(m.item_ids[i], static_cast<std::int32_t>(i));
    for (const auto& id : split_ids(a.get("history", ""))) {
      const auto it = index.find(id);
      if (it == index.end()) throw not_found_error("unknown item id '" + id + "' in --history (not in " + dir + "/item_ids.txt)");
      history.push_back(it->second);
    }
    who = "the given history";
  }
  if (history.empty()) throw usage_error("the history is empty");

  // Recommendations: items, scores, and for generative models the reasoning path of each.
  std::vector<std::int32_t> items;
  std::vector<float> scores;
  std::vector<std::vector<decode::path_token>> paths;
  const auto t0 = std::chrono::steady_clock::now();
  if (m.generative()) {
    with_search(m, q, [&](const auto& s) {
      auto r = s.recommend_one(cspan<std::int32_t>(history.data(), static_cast<index_t>(history.size())));
      items = std::move(r.items);
      scores = std::move(r.scores);
      paths = std::move(r.paths);
    });
  } else {
    const index_t L = m.sasrec->options().max_len;
    const index_t n = std::min<index_t>(L, static_cast<index_t>(history.size()));
    matrix<std::int32_t> tok(1, n);
    for (index_t i = 0; i < n; ++i) tok(0, i) = history[history.size() - static_cast<std::size_t>(n - i)];
    const std::int32_t len = static_cast<std::int32_t>(n);
    matrix<float> sc(1, m.items);
    m.sasrec->network().score_next(tok, cspan<std::int32_t>(&len, 1), sc, thread_workspace());
    for (auto it : history) sc(0, it) = -std::numeric_limits<float>::infinity();  // already consumed
    std::vector<std::int32_t> order(static_cast<std::size_t>(m.items));
    std::iota(order.begin(), order.end(), 0);
    const index_t kk = std::min(k, m.items);
    std::partial_sort(order.begin(), order.begin() + kk, order.end(), [&](std::int32_t x, std::int32_t y) {
      return sc(0, x) > sc(0, y) || (sc(0, x) == sc(0, y) && x < y);
    });
    for (index_t i = 0; i < kk; ++i)
      if (std::isfinite(sc(0, order[i]))) items.push_back(order[i]), scores.push_back(sc(0, order[i]));
  }
  const double ms = 1e3 * std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const dataset* dsp = ds ? &*ds : nullptr;
  // The collision token (TIGER's last, or a fixed tail after MPQ tokens) has no category.
  auto is_dedup = [&](std::int32_t codebook) {
    return (m.kind == "tiger" && codebook == m.generator->codebooks() - 1) ||
           codebook >= m.generator->layout().free_codebooks();
  };
  auto token_text = [&](const decode::path_token& t) {
    std::string s = "c" + std::to_string(t.codebook) + ":" + std::to_string(t.code);
    if (is_dedup(t.codebook)) return s + " (dedup)";
    if (m.has_categories) s += " [" + m.category_name(m.categories.category(t.codebook, t.code)) + "]";
    return s;
  };

  if (a.has("json")) {
    io::json_writer j;
    j.begin_object().field("model", m.kind).field("model_dir", fsutil::absolute(dir));
    if (a.has("user")) j.field("user", a.get("user", ""));
    j.key("history").begin_array();
    for (auto it : history) j.value(m.item_ids[static_cast<std::size_t>(it)]);
    j.end_array();
    if (m.generative()) j.field("beam", q.beam).field("corp", q.corp);
    j.key("recommendations").begin_array();
    for (std::size_t i = 0; i < items.size(); ++i) {
      j.begin_object().field("rank", static_cast<index_t>(i + 1)).field("item", m.item_ids[static_cast<std::size_t>(items[i])]);
      j.field("score", scores[i]);
      const std::string title = item_title(dsp, items[i]);
      if (!title.empty()) j.field("title", title);
      if (i < paths.size()) {
        j.key("path").begin_array();
        for (const auto& t : paths[i]) {
          j.begin_object().field("codebook", t.codebook).field("code", t.code);
          if (m.has_categories && !is_dedup(t.codebook))
            j.field("category", m.category_name(m.categories.category(t.codebook, t.code)));
          j.end_object();
        }
        j.end_array();
      }
      j.end_object();
    }
    j.end_array().field("milliseconds", ms).end_object();
    std::printf("%s\n", j.str().c_str());
    return 0;
  }

  std::printf("%s model %s, %s (%zu items; the last %zu shown, newest last)\n", m.kind.c_str(), dir.c_str(), who.c_str(),
              history.size(), std::min<std::size_t>(5, history.size()));
  for (std::size_t i = history.size() - std::min<std::size_t>(5, history.size()); i < history.size(); ++i)
    std::printf("    %s  %s\n", m.item_ids[static_cast<std::size_t>(history[i])].c_str(), item_title(dsp, history[i]).c_str());
  if (m.generative())
    std::printf("top %ld by constrained beam search (beam %ld, %s order%s) in %.1f ms:\n", long(k), long(q.beam),
                m.decoder.order == "confidence" ? "CRSS" : "fixed",
                q.corp ? (", CORP theta " + detail::fmt("%g", q.corp_theta)).c_str() : "", ms);
  else
    std::printf("top %ld by SASRec scores (history items excluded) in %.1f ms:\n", long(k), ms);
  for (std::size_t i = 0; i < items.size(); ++i) {
    std::printf("%3zu. %-12s %9.4f  %s\n", i + 1, m.item_ids[static_cast<std::size_t>(items[i])].c_str(), double(scores[i]),
                item_title(dsp, items[i]).c_str());
    if (i < paths.size()) {
      std::string p;
      for (const auto& t : paths[i]) p += (p.empty() ? "" : " -> ") + token_text(t);
      std::printf("       path: %s\n", p.c_str());
    }
  }
  if (items.empty()) std::printf("  (no valid path survived%s)\n", q.corp ? " CORP's pruning; try --no-corp or a lower --corp-theta" : "");
  return 0;
}

}  // namespace reg4rec::cli
