// The outcome of one evaluation: mean Recall@K, NDCG@K and MRR over the evaluated users, as
// a Markdown table row and as JSON (keys "recall@10", "ndcg@10", "mrr", "users", ...).
#pragma once

#include <algorithm>
#include <cstdio>
#include <string>
#include <vector>

#include "reg4rec/core/error.hpp"
#include "reg4rec/core/types.hpp"
#include "reg4rec/io/atomic_file.hpp"
#include "reg4rec/io/json.hpp"

namespace reg4rec::eval {

struct eval_result {
  std::string model;              ///< name given in the options
  std::string stage;              ///< "validation" or "test"
  std::string protocol;           ///< "scores, history masked", "scores, unmasked" or "ranked lists"
  index_t users = 0;              ///< users evaluated
  std::vector<index_t> ks;        ///< cutoffs, in the order requested
  std::vector<double> recall;     ///< recall[i] = Recall@ks[i]
  std::vector<double> ndcg;       ///< ndcg[i] = NDCG@ks[i]
  double mrr = 0;
  double seconds = 0;             ///< wall time of the evaluation
  std::vector<index_t> ranks;     ///< per evaluated user (split order): 0-based rank or not_found

  double recall_at(index_t k) const { return recall[slot(k)]; }
  double ndcg_at(index_t k) const { return ndcg[slot(k)]; }

  /// The result as a JSON object (into an open writer: an array element or a key's value).
  void write_json(io::json_writer& j) const {
    j.begin_object();
    j.field("model", model).field("stage", stage).field("protocol", protocol).field("users", users);
    for (std::size_t i = 0; i < ks.size(); ++i) j.field("recall@" + std::to_string(ks[i]), recall[i]);
    for (std::size_t i = 0; i < ks.size(); ++i) j.field("ndcg@" + std::to_string(ks[i]), ndcg[i]);
    j.field("mrr", mrr).field("seconds", seconds);
    j.end_object();
  }
  std::string json() const {
    io::json_writer j;
    write_json(j);
    return j.str() + "\n";
  }
  /// Writes json() to `path` atomically.
  void save_json(const std::string& path) const { io::write_file_atomic(path, json()); }

 private:
  std::size_t slot(index_t k) const {
    const auto it = std::find(ks.begin(), ks.end(), k);
    require(it != ks.end(), "eval_result: cutoff ", k, " was not evaluated");
    return static_cast<std::size_t>(it - ks.begin());
  }
};

/// A Markdown table with one row per result: | model | stage | users | R@K.. | N@K.. | MRR |.
/// Every result must use the same cutoffs.
inline std::string markdown_table(const std::vector<eval_result>& results) {
  if (results.empty()) return {};
  const auto& ks = results.front().ks;
  for (const auto& r : results)
    require(r.ks == ks, "markdown_table: results with different cutoffs (", r.model, ")");
  std::string s = "| model | stage | users |";
  for (index_t k : ks) s += " R@" + std::to_string(k) + " |";
  for (index_t k : ks) s += " N@" + std::to_string(k) + " |";
  s += " MRR |\n|---|---|---|";
  for (std::size_t i = 0; i < 2 * ks.size() + 1; ++i) s += "---|";
  s += '\n';
  char b[32];
  for (const auto& r : results) {
    s += "| " + r.model + " | " + r.stage + " | " + std::to_string(r.users) + " |";
    for (double v : r.recall) std::snprintf(b, sizeof b, " %.4f |", v), s += b;
    for (double v : r.ndcg) std::snprintf(b, sizeof b, " %.4f |", v), s += b;
    std::snprintf(b, sizeof b, " %.4f |\n", r.mrr);
    s += b;
  }
  return s;
}

/// The table of a single result.
inline std::string markdown_table(const eval_result& r) { return markdown_table(std::vector<eval_result>{r}); }

/// Several results as one JSON array, written atomically.
inline void save_json(const std::string& path, const std::vector<eval_result>& results) {
  io::json_writer j;
  j.begin_array();
  for (const auto& r : results) r.write_json(j);
  j.end_array();
  io::write_file_atomic(path, j.str() + "\n");
}

}  // namespace reg4rec::eval
