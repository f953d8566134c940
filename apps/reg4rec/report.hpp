// What `reg4rec pipeline` leaves behind besides the per-model files: the summary table printed
// at the end, OUTDIR/metrics.json and the self-contained HTML report OUTDIR/report.html
// (inline SVG plots drawn by svg.hpp, no scripts, no external resources).
#pragma once

#include <cmath>
#include <cstdio>
#include <ctime>
#include <map>
#include <set>
#include <string>
#include <vector>

#include <reg4rec/core/config.hpp>
#include <reg4rec/io/json.hpp>

#include "json_read.hpp"
#include "pipeline.hpp"
#include "svg.hpp"

namespace reg4rec::cli {

/// The context of a pipeline run, shown in the report.
struct report_context {
  std::string dataset, data_dir, command_line, preset;
  data::dataset_stats stats;
  index_t eval_users = 0;
  std::uint64_t seed = 1;
  int threads = 1;
  std::map<std::string, double> overrides;
  double total_seconds = 0;
};

namespace detail {

inline std::string fmt(const char* f, double v) {
  char b[64];
  std::snprintf(b, sizeof b, f, v);
  return b;
}
inline double metric_at(const eval::eval_result& r, index_t k, bool recall) {
  for (std::size_t i = 0; i < r.ks.size(); ++i)
    if (r.ks[i] == k) return recall ? r.recall[i] : r.ndcg[i];
  return std::nan("");
}
inline std::string metric_cell(double v) { return std::isfinite(v) ? fmt("%.4f", v) : std::string("-"); }

}  // namespace detail

/// The final table on the terminal: test metrics and training time of every model.
inline std::string summary_table(const std::vector<model_run>& runs) {
  const char* head[] = {"model", "users", "R@5", "R@10", "N@5", "N@10", "MRR", "train s"};
  std::vector<std::vector<std::string>> rows;
  for (const auto& r : runs) {
    const auto& t = r.test;
    rows.push_back({r.model, std::to_string(t.users), detail::metric_cell(detail::metric_at(t, 5, true)),
                    detail::metric_cell(detail::metric_at(t, 10, true)), detail::metric_cell(detail::metric_at(t, 5, false)),
                    detail::metric_cell(detail::metric_at(t, 10, false)), detail::metric_cell(t.users ? t.mrr : std::nan("")),
                    detail::fmt("%.1f", r.train_seconds)});
  }
  std::vector<std::size_t> w(8);
  for (std::size_t c = 0; c < 8; ++c) {
    w[c] = std::string(head[c]).size();
    for (const auto& row : rows) w[c] = std::max(w[c], row[c].size());
  }
  std::string rule = "+";
  for (auto x : w) rule += std::string(x + 2, '-') + "+";
  rule += "\n";
  auto line = [&](const std::vector<std::string>& cells) {
    std::string s = "|";
    for (std::size_t c = 0; c < cells.size(); ++c) {
      const std::string pad(w[c] - cells[c].size(), ' ');
      s += " " + (c == 0 ? cells[c] + pad : pad + cells[c]) + " |";
    }
    return s + "\n";
  };
  std::string s = rule + line(std::vector<std::string>(head, head + 8)) + rule;
  for (const auto& row : rows) s += line(row);
  return s + rule;
}

/// OUTDIR/metrics.json. One model: that model's metrics object (the same as
/// OUTDIR/<model>/metrics.json). Several: the object of the last model run (the headline:
/// reg4rec for --model all) with every model's object in "models", in run order.
inline std::string pipeline_metrics_json(const std::vector<model_run>& runs, const std::string& dataset) {
  require(!runs.empty(), "pipeline_metrics_json: no model run");
  io::json_writer j;
  j.begin_object();
  write_metrics_fields(j, runs.back(), dataset);
  if (runs.size() > 1) {
    j.key("models").begin_array();
    for (const auto& r : runs) {
      j.begin_object();
      write_metrics_fields(j, r, dataset);
      j.end_object();
    }
    j.end_array();
  }
  j.end_object();
  return j.str() + "\n";
}

namespace detail {

struct plot_spec {
  const char* title;
  const char* y_label;
  bool from_zero;
};

inline const std::map<std::string, plot_spec>& plot_specs() {
  static const std::map<std::string, plot_spec> m{
      {"loss", {"Training loss per epoch", "mean cross-entropy per token", false}},
      {"validation_recall", {"Validation Recall@10 per epoch", "Recall@10 (validation)", true}},
      {"validation_ndcg", {"Validation NDCG@10 per epoch", "NDCG@10 (validation)", true}},
      {"pars_reward", {"PARS: mean reward of the sampled paths per epoch", "reward", true}},
      {"tokenizer_loss", {"Tokenizer training loss per epoch", "loss", false}},
  };
  return m;
}

inline std::string json_pretty(const std::function<void(io::json_writer&)>& w) {
  if (!w) return "{}";
  io::json_writer j;
  w(j);
  return j.str();
}

inline std::string html_metric_rows(const std::vector<model_run>& runs) {
  std::string s;
  for (const auto& r : runs) {
    const auto& t = r.test;
    s += "<tr><td>" + svg::escape(r.model) + "</td><td>" + std::to_string(t.users) + "</td>";
    for (index_t k : {5, 10}) s += "<td>" + metric_cell(metric_at(t, k, true)) + "</td>";
    for (index_t k : {5, 10}) s += "<td>" + metric_cell(metric_at(t, k, false)) + "</td>";
    s += "<td>" + metric_cell(t.users ? t.mrr : std::nan("")) + "</td><td>" + fmt("%.1f", r.train_seconds) + "</td><td>" +
         fmt("%.1f", t.seconds) + "</td></tr>\n";
  }
  return s;
}

inline std::string html_tokenizer_rows(const std::vector<model_run>& runs) {
  std::string s;
  for (const auto& r : runs) {
    if (!r.tokenizer) continue;
    const auto v = json_value::parse(json_pretty(r.tokenizer), "tokenizer stats");
    auto num = [&](const char* k, const char* f) {
      return v.has(k) && v.at(k).type() == json_value::kind::number ? fmt(f, v.at(k).num()) : std::string("-");
    };
    std::string util;
    if (v.has("utilisation"))
      for (const auto& u : v.at("utilisation").items()) util += (util.empty() ? "" : " / ") + fmt("%.3f", u.num());
    s += "<tr><td>" + svg::escape(r.model) + "</td><td>" + svg::escape(r.tokenizer_name) + "</td><td>" +
         num("codebooks", "%.0f") + " &times; " + num("codes", "%.0f") + "</td><td>" + util + "</td><td>" +
         num("distinct_sids", "%.0f") + "</td><td>" + num("collision_rate", "%.4f") + "</td><td>" +
         num("largest_bucket", "%.0f") + "</td><td>" + num("semantic_cohesion", "%.4f") + "</td><td>" +
         num("preference_discrimination", "%.4f") + "</td><td>" + num("fit_seconds", "%.1f") + "</td></tr>\n";
  }
  return s;
}

}  // namespace detail

/// The HTML report: context, test metrics, training curves, codebook utilisation, tokenizer
/// statistics and every model's configuration.
inline std::string html_report(const std::vector<model_run>& runs, const report_context& c) {
  using svg::escape;
  // Group the curves into figures: one per plot id; per-epoch utilisation gets one figure per
  // model and tokenizer. Series are named "<model>" or "<model>: <series>".
  struct figure {
    std::string key, title, y_label;
    bool from_zero = false;
    std::vector<svg::series> lines;
  };
  std::vector<figure> figures;
  std::map<std::string, std::size_t> index;
  auto figure_for = [&](const std::string& key, const std::string& title, const std::string& y_label, bool from_zero) {
    auto it = index.find(key);
    if (it == index.end()) {
      it = index.emplace(key, figures.size()).first;
      figures.push_back({key, title, y_label, from_zero, {}});
    }
    return &figures[it->second];
  };
  const auto& specs = detail::plot_specs();
  for (const char* key : {"loss", "validation_recall", "validation_ndcg", "pars_reward", "tokenizer_loss"})
    figure_for(key, specs.at(key).title, specs.at(key).y_label, specs.at(key).from_zero);
  for (const auto& r : runs)
    for (const auto& cv : r.curves) {
      if (cv.plot.rfind("utilisation:", 0) == 0) {
        const std::string tok = cv.plot.substr(std::string("utilisation:").size());
        figure_for(cv.plot + "@" + r.model, "Codebook utilisation per epoch: " + tok + " (" + r.model + ")",
                   "used codes / codebook size", true)
            ->lines.push_back({cv.series, cv.x, cv.y, {}});
        continue;
      }
      const bool named = cv.series.rfind(r.model, 0) == 0;  // "reg4rec (SFT)" already names its model
      figure_for(cv.plot, cv.plot, cv.plot, false)->lines.push_back({named ? cv.series : r.model + ": " + cv.series, cv.x, cv.y, {}});
    }

  // One colour per series name across the report, so a model keeps its colour in every figure.
  std::map<std::string, std::string> colours;
  auto colour_of = [&](const std::string& name) {
    auto it = colours.find(name);
    if (it == colours.end()) it = colours.emplace(name, svg::colour(colours.size())).first;
    return it->second;
  };
  for (const auto& r : runs) colour_of(r.model);
  for (auto& f : figures)
    if (f.key.rfind("utilisation:", 0) != 0)
      for (auto& l : f.lines) l.colour = colour_of(l.name);

  std::string h;
  h += "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n";
  h += "<title>reg4rec report: " + escape(c.dataset) + "</title>\n";
  h += "<style>\nbody{font-family:sans-serif;max-width:1320px;margin:24px auto;padding:0 16px;color:#222}\n"
       "h1{font-size:22px}h2{font-size:18px;margin-top:32px;border-bottom:1px solid #ddd}\n"
       "table{border-collapse:collapse;margin:8px 0}td,th{border:1px solid #ccc;padding:4px 8px;text-align:right}\n"
       "td:first-child,th:first-child{text-align:left}th{background:#f4f4f4}\n"
       ".figs{display:flex;flex-wrap:wrap;gap:12px}.figs svg{border:1px solid #eee}\n"
       "pre{background:#f8f8f8;padding:8px;overflow:auto;font-size:12px}.note{color:#666;font-size:13px}\n</style>\n";
  h += "</head>\n<body>\n";
  h += "<h1>reg4rec pipeline report: " + escape(c.dataset) + "</h1>\n";
  char when[64] = "";
  const std::time_t now = std::time(nullptr);
  std::strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S", std::localtime(&now));
  h += "<p class=\"note\">reg4rec " + escape(version_string) + ", " + when + ", " + std::to_string(c.threads) +
       " threads, " + detail::fmt("%.0f", c.total_seconds) + " s in all.<br>Command: <code>" + escape(c.command_line) +
       "</code></p>\n";

  h += "<h2>Dataset</h2>\n<table><tr><th>data folder</th><td>" + escape(c.data_dir) + "</td></tr>\n";
  h += "<tr><th>users</th><td>" + std::to_string(c.stats.users) + "</td></tr><tr><th>items</th><td>" +
       std::to_string(c.stats.items) + "</td></tr><tr><th>interactions</th><td>" + std::to_string(c.stats.interactions) +
       "</td></tr><tr><th>mean sequence length</th><td>" + detail::fmt("%.2f", c.stats.mean_length) +
       "</td></tr><tr><th>users evaluated (test)</th><td>" + std::to_string(c.eval_users) + "</td></tr></table>\n";
  h += "<p class=\"note\">Split: leave-one-out (last item = test target, second-to-last = validation target). "
       "Metrics: full ranking over all items, one target per user (Recall@K = HR@K), ties counted pessimistically.</p>\n";

  h += "<h2>Test metrics</h2>\n<table><tr><th>model</th><th>users</th><th>R@5</th><th>R@10</th><th>N@5</th><th>N@10</th>"
       "<th>MRR</th><th>train s</th><th>eval s</th></tr>\n" +
       detail::html_metric_rows(runs) + "</table>\n";

  h += "<h2>Training</h2>\n<div class=\"figs\">\n";
  bool any = false;
  for (const auto& f : figures) {
    if (f.lines.empty()) continue;
    any = true;
    svg::plot_options o;
    o.title = f.title;
    o.x_label = "epoch";
    o.y_label = f.y_label;
    o.y_from_zero = f.from_zero;
    h += svg::line_plot(f.lines, o);
  }
  if (!any) h += "<p class=\"note\">No model of this run trains in epochs (most-popular only).</p>\n";
  h += "</div>\n";
  if (any)
    h += "<p class=\"note\">Validation figures use the early-stopping subset of validation users. SASRec stops on "
         "validation NDCG@10 and records no Recall@10. PARS epochs continue the supervised epochs on the x axis.</p>\n";

  // Final per-codebook utilisation.
  std::vector<svg::series> bars;
  std::size_t books = 0;
  for (const auto& r : runs)
    if (!r.utilisation.empty()) {
      bars.push_back({r.model + " (" + r.tokenizer_name + ")", {}, r.utilisation, colour_of(r.model)});
      books = std::max(books, r.utilisation.size());
    }
  if (!bars.empty()) {
    h += "<h2>Codebook utilisation</h2>\n<div class=\"figs\">\n";
    std::vector<std::string> cats;
    for (std::size_t b = 0; b < books; ++b) cats.push_back("codebook " + std::to_string(b));
    for (auto& b : bars) b.y.resize(books, std::nan(""));
    svg::plot_options o;
    o.title = "Used codes per codebook (final codes of every item)";
    o.x_label = "codebook";
    o.y_label = "used codes / codebook size";
    h += svg::bar_chart(cats, bars, o);
    h += "</div>\n<table><tr><th>model</th><th>tokenizer</th><th>tokens</th><th>utilisation</th><th>distinct SIDs</th>"
         "<th>collision rate</th><th>largest bucket</th><th>SC</th><th>PD</th><th>fit s</th></tr>\n" +
         detail::html_tokenizer_rows(runs) + "</table>\n";
    h += "<p class=\"note\">Collision rate: items sharing their full SID with another item, before any deduplication. "
         "SC (semantic cohesion, higher is better) and PD (preference discrimination, lower is better) as in R3-VAE.</p>\n";
  }

  h += "<h2>Configuration</h2>\n<table><tr><th>preset</th><td>" + escape(c.preset) + "</td></tr><tr><th>seed</th><td>" +
       std::to_string(c.seed) + "</td></tr>";
  for (const auto& [k, v] : c.overrides) h += "<tr><th>--" + escape(k) + "</th><td>" + detail::fmt("%g", v) + "</td></tr>";
  h += "</table>\n";
  for (const auto& r : runs)
    h += "<details><summary>" + escape(r.model) + "</summary>\n<pre>" + escape(detail::json_pretty(r.config)) +
         "</pre></details>\n";
  h += "</body>\n</html>\n";
  return h;
}

}  // namespace reg4rec::cli
