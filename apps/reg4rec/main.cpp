// The reg4rec command-line program: `reg4rec <command> [options]`, `reg4rec <command> --help`.
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
#include "dataset.hpp"
#include "generative.hpp"
#include "pipeline.hpp"
#include "reasoning.hpp"
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

// Preset values any training command may override from the command line.
const std::set<std::string>& numeric_options() {
  static const std::set<std::string> o{"epochs", "vae-epochs", "lr", "weight-decay", "batch-size", "eval-every",
                                       "patience", "eval-users", "d-model", "heads", "d-ff", "layers", "dropout",
                                       "label-smoothing", "beam", "experts", "random-order", "pars-epochs", "pars-lr",
                                       "pars-kl", "pars-sft", "pars-paths", "pars-users", "msra-steps", "msra-gamma",
                                       "corp-theta", "corp-kmin"};
  return o;
}

// The value of a numeric override, checked against its range before any work starts (a bad
// value found after an hour of training is a bad value found too late).
double checked_override(const args& a, const std::string& k) {
  static const std::set<std::string> at_least_one{"epochs", "vae-epochs", "batch-size", "d-model", "heads", "d-ff",
                                                  "layers", "beam", "experts", "pars-epochs", "pars-paths",
                                                  "pars-users", "msra-steps"};
  static const std::set<std::string> non_negative{"eval-every", "patience", "eval-users", "weight-decay",
                                                  "pars-kl", "pars-sft", "corp-kmin", "random-order"};
  static const std::set<std::string> positive{"lr", "pars-lr"};
  static const std::set<std::string> fraction{"dropout", "label-smoothing"};
  static const std::set<std::string> integral{"epochs", "vae-epochs", "batch-size", "d-model", "heads", "d-ff",
                                              "layers", "beam", "experts", "pars-epochs", "pars-paths", "pars-users",
                                              "msra-steps", "eval-every", "patience", "eval-users", "corp-kmin",
                                              "random-order"};
  const double v = a.get_double(k, 0);
  auto bad = [&](const char* what) {
    throw usage_error("--" + k + " " + what + ", got '" + a.get(k, "") + "'");
  };
  if (integral.count(k) && (v != std::floor(v) || std::abs(v) > 1e15)) bad("expects a whole number");
  if (at_least_one.count(k) && v < 1) bad("must be at least 1");
  if (non_negative.count(k) && v < 0) bad("must not be negative");
  if (positive.count(k) && v <= 0) bad("must be positive");
  if (fraction.count(k) && !(v >= 0 && v < 1)) bad("must lie in [0, 1)");
  return v;
}

// --threads N: at least 1.
void apply_threads(const args& a) {
  if (!a.has("threads")) return;
  const long long n = a.get_int("threads", 2);
  if (n < 1 || n > 4096) throw usage_error("--threads must be in [1, 4096], got '" + a.get("threads", "") + "'");
  set_num_threads(static_cast<int>(n));
}

// reg4rec ablation: REG4Rec-SFT and each reasoning component added in turn.
int cmd_ablation(const std::vector<std::string>& argv) {
  std::set<std::string> valued{"data", "preset", "out", "seed", "threads", "features"};
  valued.insert(numeric_options().begin(), numeric_options().end());
  const args a(argv, valued, {"quiet"});
  cli::run_settings rs;
  rs.level = cli::parse_preset(a.get("preset", "quick"));
  rs.seed = static_cast<std::uint64_t>(a.get_int("seed", 1));
  rs.features_path = a.get("features", "");
  rs.log = a.has("quiet") ? nullptr : &std::clog;
  apply_threads(a);
  for (const auto& k : numeric_options())
    if (a.has(k)) rs.overrides[k] = checked_override(a, k);
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
  return 0;
}

// reg4rec pipeline: every requested model on one dataset, a table at the end.
int cmd_pipeline(const std::vector<std::string>& argv) {
  const std::set<std::string>& numeric = numeric_options();
  std::set<std::string> valued{"data", "model", "preset", "out", "seed", "threads", "features"};
  valued.insert(numeric.begin(), numeric.end());
  const args a(argv, valued, {"quiet"});
  const std::string dir = a.get("data", cli::default_data_dir(g_argv0));
  cli::run_settings rs;
  rs.level = cli::parse_preset(a.get("preset", "quick"));
  rs.seed = static_cast<std::uint64_t>(a.get_int("seed", 1));
  rs.features_path = a.get("features", "");
  for (const auto& k : numeric)
    if (a.has(k)) rs.overrides[k] = checked_override(a, k);
  apply_threads(a);
  std::ostream* log = a.has("quiet") ? nullptr : &std::clog;
  rs.log = log;
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
  std::vector<eval::eval_result> results;
  for (const auto& m : models) {
    if (log) *log << "== " << m << "\n";
    const auto run = cli::model_runners().at(m)(ds, split, rs);
    cli::make_dirs(out + "/" + m);
    io::write_file_atomic(out + "/" + m + "/metrics.json", cli::metrics_json(run, ds.name));
    results.push_back(run.test);
    results.back().model = m;
  }
  const std::string table = eval::markdown_table(results);
  io::write_file_atomic(out + "/results.md", table);
  eval::save_json(out + "/results.json", results);
  std::printf("%s\n%s (test, full ranking over %ld items)\n%s", ds.name.c_str(), "", long(ds.sequences.n_items()),
              table.c_str());
  return 0;
}

// reg4rec tokenize: tokenizers side by side on a dataset's item features.
int cmd_tokenize(const std::vector<std::string>& argv) {
  const args a(argv, {"data", "method", "preset", "out", "seed", "vae-epochs", "experts", "features", "threads"}, {"quiet"});
  cli::run_settings rs;
  rs.level = cli::parse_preset(a.get("preset", "quick"));
  rs.seed = static_cast<std::uint64_t>(a.get_int("seed", 1));
  rs.features_path = a.get("features", "");
  rs.log = a.has("quiet") ? nullptr : &std::clog;
  apply_threads(a);
  for (const char* k : {"vae-epochs", "experts"})
    if (a.has(k)) rs.overrides[k] = checked_override(a, k);
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
  const auto ds = cli::load_dataset(a.get("data", cli::default_data_dir(g_argv0)));
  const data::leave_one_out_split split(ds.sequences, {20});
  const auto x = cli::item_vectors(ds, split, rs);
  const auto reports = cli::tokenize_all(x, methods, rs);
  const std::string out = a.get("out", "out/" + ds.name + "/tokenizers");
  cli::make_dirs(out);
  io::json_writer j;
  j.begin_array();
  for (const auto& r : reports) {
    io::write_npy<std::int32_t>(out + "/" + r.method + ".codes.npy", r.codes);
    j.begin_object().field("method", r.method).field("reconstruction_mse", r.reconstruction).key("stats");
    cli::write_stats(j, r.stats, r.fit_seconds, 0);
    j.end_object();
  }
  j.end_array();
  io::write_file_atomic(out + "/tokenizers.json", j.str());
  const std::string table = cli::tokenizer_table(reports);
  io::write_file_atomic(out + "/tokenizers.md", table);
  std::printf("%s: %ld items, features %ld-d\n%s", ds.name.c_str(), long(x.rows()), long(x.cols()), table.c_str());
  return 0;
}

const std::map<std::string, command>& commands() {
  static const std::map<std::string, command> table{
      {"info", {"print the version, backend and threads", "reg4rec info", cmd_info}},
      {"ablation",
       {"REG4Rec-SFT, + PARS, + MSRA, + CORP and the full model, as a table",
        "reg4rec ablation [--data DIR] [--preset quick|full] [--out DIR] [--seed S] [overrides: --epochs N --pars-epochs N ...]",
        cmd_ablation}},
      {"tokenize",
       {"compare tokenizers (utilisation, collisions, SC, PD) on a dataset's items",
        "reg4rec tokenize [--data DIR] [--method all|rq-kmeans,rq-vae,r3-vae,mpq] [--preset quick|full]\n"
        "                        [--vae-epochs N] [--experts M] [--features FILE.npy] [--out DIR] [--seed S] [--quiet]",
        cmd_tokenize}},
      {"pipeline",
       {"run the end-to-end job and print its table",
        "reg4rec pipeline [--data DIR] [--model all|popularity,sasrec,...] [--preset quick|full] [--out OUTDIR]\n"
        "                        [--seed S] [--threads N] [--quiet]",
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
  try {
    for (const auto& a : rest)
      if (a == "-h" || a == "--help") {
        std::printf("usage: %s\n", it->second.usage);
        return 0;
      }
    return it->second.run(rest);
  } catch (const usage_error& e) {
    std::fprintf(stderr, "reg4rec %s: %s\nusage: %s\n", name.c_str(), e.what(), it->second.usage);
    return 2;
  } catch (const reg4rec::error& e) {
    std::fprintf(stderr, "reg4rec %s: %s\n", name.c_str(), e.what());
    return 1;
  } catch (const std::bad_alloc&) {
    std::fprintf(stderr, "reg4rec %s: out of memory\n", name.c_str());
    return 1;
  } catch (const std::exception& e) {
    // Not a reg4rec::error: a bug or an unforeseen failure, reported in one line all the same.
    std::fprintf(stderr, "reg4rec %s: internal error: %s\n", name.c_str(), e.what());
    return 1;
  }
}
