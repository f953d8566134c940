// The reg4rec command-line program: `reg4rec <command> [options]`, `reg4rec <command> --help`.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <functional>
#include <iostream>
#include <map>
#include <set>
#include <string>
#include <vector>

#include <reg4rec/reg4rec.hpp>

#include "args.hpp"
#include "commands.hpp"
#include "dataset.hpp"
#include "generative.hpp"
#include "pipeline.hpp"
#include "reasoning.hpp"
#include "report.hpp"
#include "tokenize.hpp"

namespace {

using namespace reg4rec;
using cli::args;
using cli::usage_error;

struct command {
  const char* summary;
  const char* usage;
  std::function<int(const std::vector<std::string>&)> run;
};

int cmd_info(const std::vector<std::string>& argv) {
  const args a(argv, {}, {});
  (void)a;
  std::printf("reg4rec %s\n", version_string);
  std::printf("  default backend : %s\n", default_backend::name());
  std::printf("  threads         : %d (OpenMP %s)\n", max_threads(), REG4REC_HAS_OPENMP ? "on" : "off");
  std::printf("  CUDA add-on     : %s\n", REG4REC_HAS_CUDA ? "built" : "not built");
  return 0;
}

const char* g_argv0 = nullptr;

// reg4rec ablation: REG4Rec-SFT and each reasoning component added in turn.
int cmd_ablation(const std::vector<std::string>& argv) {
  const args a(argv, cli::training_flags({"out"}), {"quiet"});
  cli::run_settings rs = cli::settings_from(a);
  const auto ds = cli::load_dataset(a.get("data", cli::default_data_dir(g_argv0)));
  const std::string out = a.get("out", "out/" + ds.name + "/ablation");
  cli::make_dirs(out);
  rs.work_dir = out;
  const data::leave_one_out_split split(ds.sequences, {20});
  const auto rows = cli::run_ablation(ds, split, rs);
  const std::string table = cli::ablation_table(rows);
  io::json_writer j;
  j.begin_array();
  for (const auto& r : rows) {
    j.begin_object().field("variant", r.variant).key("test");
    r.test.write_json(j);
    j.field("extra_train_seconds", r.extra_train_seconds).field("decode_users_per_second", r.users_per_second).end_object();
  }
  j.end_array();
  io::write_file_atomic(out + "/ablation.json", j.str());
  io::write_file_atomic(out + "/ablation.md", table);
  std::printf("%s ablation (test, full ranking)\n%s", ds.name.c_str(), table.c_str());
  cli::note_unused(rs, "ablation");
  return 0;
}

// reg4rec pipeline: every requested model on one dataset; per-model metrics, OUTDIR/metrics.json,
// the HTML report OUTDIR/report.html and a table at the end.
int cmd_pipeline(const std::vector<std::string>& argv) {
  const auto t_start = std::chrono::steady_clock::now();
  const args a(argv, cli::training_flags({"model", "out"}), {"quiet", "save-models"});
  const std::string dir = a.get("data", cli::default_data_dir(g_argv0));
  cli::run_settings rs = cli::settings_from(a);
  std::ostream* log = rs.log;
  std::vector<std::string> models;
  const std::string which = a.get("model", "all");
  if (which == "all") {
    models = cli::model_order();
  } else {
    for (std::size_t s = 0, e; s <= which.size(); s = e + 1) {
      e = which.find(',', s);
      if (e == std::string::npos) e = which.size();
      const std::string m = which.substr(s, e - s);
      if (!cli::model_runners().count(m)) throw usage_error("unknown model '" + m + "'");
      models.push_back(m);
    }
  }
  const auto ds = cli::load_dataset(dir);
  const std::string out = a.get("out", "out/" + ds.name);
  cli::make_dirs(out);
  rs.work_dir = out;
  const data::leave_one_out_split split(ds.sequences, {20});
  if (log)
    *log << "dataset " << ds.name << ": " << ds.sequences.n_users() << " users, " << ds.sequences.n_items() << " items, "
         << ds.sequences.n_interactions() << " interactions\n";
  std::vector<cli::model_run> runs;
  std::vector<eval::eval_result> results;
  for (std::size_t i = 0; i < models.size(); ++i) {
    const auto& m = models[i];
    if (log) *log << "== [" << i + 1 << "/" << models.size() << "] " << m << "\n";
    rs.save_dir.clear();
    if (a.has("save-models") && m != "popularity") {
      cli::make_dirs(out + "/" + m);
      rs.save_dir = out + "/" + m + "/model";
    }
    runs.push_back(cli::model_runners().at(m)(ds, split, rs));
    cli::make_dirs(out + "/" + m);
    io::write_file_atomic(out + "/" + m + "/metrics.json", cli::metrics_json(runs.back(), ds.name));
    results.push_back(runs.back().test);
    results.back().model = m;
  }
  const std::string table = eval::markdown_table(results);
  io::write_file_atomic(out + "/results.md", table);
  eval::save_json(out + "/results.json", results);
  io::write_file_atomic(out + "/metrics.json", cli::pipeline_metrics_json(runs, ds.name));
  cli::report_context rc;
  rc.dataset = ds.name;
  rc.data_dir = cli::fsutil::absolute(ds.dir);
  rc.stats = ds.sequences.stats();
  rc.eval_users = split.n_eval_users();
  rc.preset = a.get("preset", "quick");
  rc.seed = rs.seed;
  rc.threads = max_threads();
  rc.overrides = rs.overrides;
  rc.command_line = "reg4rec pipeline";
  for (const auto& w : argv) rc.command_line += " " + w;
  rc.total_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t_start).count();
  io::write_file_atomic(out + "/report.html", cli::html_report(runs, rc));
  std::printf("%s: test split, full ranking over %ld items, %ld users\n%s", ds.name.c_str(), long(ds.sequences.n_items()),
              long(split.n_eval_users()), cli::summary_table(runs).c_str());
  std::printf("written: %s/metrics.json, %s/report.html, %s/results.md\n", out.c_str(), out.c_str(), out.c_str());
  cli::note_unused(rs, which == "all" ? "any model" : which);
  return 0;
}

// reg4rec tokenize: tokenizers side by side on a dataset's item features.
int cmd_tokenize(const std::vector<std::string>& argv) {
  const args a(argv, {"data", "method", "preset", "out", "seed", "vae-epochs", "experts", "modal-experts", "features", "threads",
                      "skip-nonfinite", "usage-bias", "uniformity"},
               {"quiet"});
  cli::run_settings rs;
  rs.level = cli::parse_preset(a.get("preset", "quick"));
  rs.seed = static_cast<std::uint64_t>(a.get_int("seed", 1));
  rs.features_path = a.get("features", "");
  rs.log = a.has("quiet") ? nullptr : &std::clog;
  cli::apply_threads(a);
  for (const char* k : {"vae-epochs", "experts", "modal-experts", "skip-nonfinite", "usage-bias", "uniformity"})
    if (a.has(k)) rs.overrides[k] = cli::checked_override(a, k);
  std::vector<std::string> methods;
  const std::string which = a.get("method", "all");
  if (which == "all")
    methods = {"rq-kmeans", "rq-vae", "r3-vae", "mpq"};
  else
    for (std::size_t s = 0, e; s <= which.size(); s = e + 1) {
      e = which.find(',', s);
      if (e == std::string::npos) e = which.size();
      methods.push_back(which.substr(s, e - s));
    }
  // MPQ's expert layout is checked now, not after the tokenizers before it have been fitted.
  if (std::find(methods.begin(), methods.end(), "mpq") != methods.end())
    (void)cli::mpq_expert_inputs(rs, rs.get_int("experts", 4));
  const auto ds = cli::load_dataset(a.get("data", cli::default_data_dir(g_argv0)));
  const data::leave_one_out_split split(ds.sequences, {20});
  const auto mix = cli::feature_mix_of(rs, cli::reg4rec_feature_mix);
  const auto x = cli::item_vectors(ds, split, rs, mix);
  const std::string features = cli::describe_features(rs, mix);
  const auto reports = cli::tokenize_all(x, methods, rs);
  const std::string out = a.get("out", "out/" + ds.name + "/tokenizers");
  cli::make_dirs(out);
  io::json_writer j;
  j.begin_array();
  for (const auto& r : reports) {
    io::write_npy<std::int32_t>(out + "/" + r.method + ".codes.npy", r.codes);
    j.begin_object().field("method", r.method).field("reconstruction_mse", r.reconstruction).key("stats");
    cli::write_stats(j, r.stats, r.fit_seconds, 0, features);
    j.end_object();
  }
  j.end_array();
  io::write_file_atomic(out + "/tokenizers.json", j.str());
  const std::string table = cli::tokenizer_table(reports);
  io::write_file_atomic(out + "/tokenizers.md", table);
  std::printf("%s: %ld items, features %ld-d\n%s", ds.name.c_str(), long(x.rows()), long(x.cols()), table.c_str());
  return 0;
}

// Every subcommand with its one-line summary and usage (printed by --help and after a usage
// error). The numeric overrides of the training commands are listed in docs/cli.md.
const std::map<std::string, command>& commands() {
  static const std::map<std::string, command> table{
      {"info", {"print the version, backend and threads", "reg4rec info", cmd_info}},
      {"ablation",
       {"REG4Rec-SFT, + PARS, + MSRA, + CORP and the full model, as a table",
        "reg4rec ablation [--data DIR] [--preset quick|full] [--out DIR] [--seed S] [--threads N] [--features FILE.npy]\n"
        "                        [--quiet] [overrides: --epochs N --pars-epochs N ...]",
        cmd_ablation}},
      {"features",
       {"build a dataset's [text ; behaviour] item features as .npy, or report on a .npy file",
        "reg4rec features [--data DIR] [--out FILE.npy] [--for tiger|reg4rec] [--text-dim N] [--behaviour-dim N]\n"
        "                        [--text-weight W] [--behaviour-weight W] [--smooth-hops K] [--smooth-restart A]\n"
        "                        [--neighbours N] [--threads N] [--quiet]\n"
        "       reg4rec features --features FILE.npy [--data DIR] [--neighbours N]",
        [](const std::vector<std::string>& v) { return cli::cmd_features(v, g_argv0); }}},
      {"tokenize",
       {"compare tokenizers (utilisation, collisions, SC, PD) on a dataset's items",
        "reg4rec tokenize [--data DIR] [--method all|rq-kmeans,rq-vae,r3-vae,mpq] [--preset quick|full]\n"
        "                        [--vae-epochs N] [--experts M] [--modal-experts K] [--features FILE.npy] [--out DIR] [--seed S]\n"
        "                        [--usage-bias L] [--uniformity G] [--threads N] [--skip-nonfinite 0|1] [--quiet]",
        cmd_tokenize}},
      {"train",
       {"train one model (sasrec, tiger, reg4rec-sft, reg4rec) and save it as a model folder",
        "reg4rec train [--model sasrec|tiger|reg4rec-sft|reg4rec] [--data DIR] [--out MODEL_DIR] [--preset quick|full]\n"
        "                        [--features FILE.npy] [--seed S] [--threads N] [--test] [--quiet] [overrides: --epochs N ...]",
        [](const std::vector<std::string>& v) { return cli::cmd_train(v, g_argv0); }}},
      {"align",
       {"PARS (+ MSRA) preference alignment of a saved REG4Rec-SFT model",
        "reg4rec align --model-dir DIR [--data DIR] [--out MODEL_DIR] [--msra-steps N] [--pars-epochs N] [--pars-lr X]\n"
        "                        [--pars-paths G] [--pars-beam B] [--pars-last L] [--pars-users U] [--pars-kl B] [--pars-sft L] [--msra-gamma G]\n"
        "                        [--eval-users N] [--corp-theta T] [--corp-kmin K] [--beam B] [--seed S] [--threads N] [--test] [--quiet]",
        [](const std::vector<std::string>& v) { return cli::cmd_align(v, g_argv0); }}},
      {"evaluate",
       {"full-ranking metrics of a saved model on the test or validation split",
        "reg4rec evaluate --model-dir DIR [--data DIR] [--stage test|validation] [--users N] [--beam B]\n"
        "                        [--corp|--no-corp] [--corp-theta T] [--corp-kmin K] [--reflection-decode W] [--out FILE.json]\n"
        "                        [--threads N] [--quiet]",
        [](const std::vector<std::string>& v) { return cli::cmd_evaluate(v, g_argv0); }}},
      {"recommend",
       {"top-K items for one user or history, with each item's reasoning path",
        "reg4rec recommend --model-dir DIR (--user ID | --history \"ID ID ...\") [--k K] [--data DIR] [--beam B]\n"
        "                        [--corp|--no-corp] [--corp-theta T] [--corp-kmin K] [--reflection-decode W] [--json] [--threads N]",
        [](const std::vector<std::string>& v) { return cli::cmd_recommend(v, g_argv0); }}},
      {"pipeline",
       {"run the end-to-end job: train and evaluate models, metrics.json, report.html, a table",
        "reg4rec pipeline [--data DIR] [--model all|popularity,sasrec,tiger,reg4rec-sft,reg4rec] [--preset quick|full]\n"
        "                        [--out OUTDIR] [--features FILE.npy] [--seed S] [--threads N] [--save-models] [--quiet]\n"
        "                        [overrides: --epochs N --vae-epochs N --eval-users N ...]",
        cmd_pipeline}},
  };
  return table;
}

void print_usage(std::FILE* out) {
  std::fprintf(out, "usage: reg4rec <command> [options]   (reg4rec <command> --help)\n\ncommands:\n");
  for (const auto& [name, c] : commands()) std::fprintf(out, "  %-10s %s\n", name.c_str(), c.summary);
}

}  // namespace

int main(int argc, char** argv) {
  g_argv0 = argv[0];
  if (argc < 2) {
    print_usage(stderr);
    return 2;
  }
  const std::string name = argv[1];
  if (name == "-h" || name == "--help" || name == "help") {
    print_usage(stdout);
    return 0;
  }
  const auto it = commands().find(name);
  if (it == commands().end()) {
    std::fprintf(stderr, "reg4rec: unknown command '%s'\n", name.c_str());
    print_usage(stderr);
    return 2;
  }
  const std::vector<std::string> rest(argv + 2, argv + argc);
  // Errors: one line (newlines folded), then the usage for a bad invocation: a usage error, a
  // missing or malformed input file, an unknown id. Exit 2 for usage errors, 1 otherwise.
  auto one_line = [](std::string m) {
    for (auto& c : m)
      if (c == '\n' || c == '\r') c = ' ';
    return m;
  };
  try {
    for (const auto& a : rest)
      if (a == "-h" || a == "--help") {
        std::printf("usage: %s\n", it->second.usage);
        return 0;
      }
    return it->second.run(rest);
  } catch (const usage_error& e) {
    std::fprintf(stderr, "reg4rec %s: %s\nusage: %s\n", name.c_str(), one_line(e.what()).c_str(), it->second.usage);
    return 2;
  } catch (const reg4rec::io_error& e) {  // missing file, wrong format, corrupted model
    std::fprintf(stderr, "reg4rec %s: %s\nusage: %s\n", name.c_str(), one_line(e.what()).c_str(), it->second.usage);
    return 1;
  } catch (const reg4rec::not_found_error& e) {  // unknown user or item id
    std::fprintf(stderr, "reg4rec %s: %s\nusage: %s\n", name.c_str(), one_line(e.what()).c_str(), it->second.usage);
    return 1;
  } catch (const reg4rec::error& e) {
    std::fprintf(stderr, "reg4rec %s: %s\n", name.c_str(), one_line(e.what()).c_str());
    return 1;
  } catch (const std::bad_alloc&) {
    std::fprintf(stderr, "reg4rec %s: out of memory\n", name.c_str());
    return 1;
  } catch (const std::exception& e) {
    // Not a reg4rec::error: a bug or an unforeseen failure, reported in one line all the same.
    std::fprintf(stderr, "reg4rec %s: internal error: %s\n", name.c_str(), one_line(e.what()).c_str());
    return 1;
  }
}
