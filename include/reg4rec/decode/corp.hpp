// CORP — consistency-oriented self-reflection pruning (SPEC §4.4), a pruner policy for
// beam_search. Posting-list validity is always enforced by the constraint; CORP adds, once a
// path has at least k_min + 1 tokens (after step k_min; default k_min = ⌈M/2⌉):
//   (b) category consistency: the fraction of adjacent steps whose tokens share a category
//       (token_category_table) must reach θ (default 0.5);
//   (c) optionally a reflection score: the path's mean log-probability per step must reach
//       a threshold (the model's own confidence in the reasoning so far; PARS shapes it).
// Pruned candidates are replaced by the next best ones, so beams stay full when enough valid
// candidates exist. Only the first `codebooks` steps are judged: a fixed tail after them (a
// dedup token, sid_layout::fixed_tail) only tells apart items whose tokens are all chosen.
#pragma once

#include <cmath>
#include <limits>

#include "reg4rec/core/error.hpp"
#include "reg4rec/decode/step_selection.hpp"
#include "reg4rec/quant/token_categories.hpp"

namespace reg4rec::decode {

/// Fraction of adjacent tokens of a path with the same known category (1 for paths of < 2 tokens).
inline double path_consistency(cspan<path_token> path, const quant::token_category_table& cats) {
  if (path.size() < 2) return 1.0;
  index_t same = 0;
  for (index_t k = 1; k < path.size(); ++k) {
    const auto a = cats.category(path[k - 1].codebook, path[k - 1].code);
    const auto b = cats.category(path[k].codebook, path[k].code);
    same += a >= 0 && a == b;
  }
  return double(same) / double(path.size() - 1);
}

struct corp_options {
  double theta = 0.5;
  index_t k_min = -1;  // −1: ⌈M/2⌉
  bool category_consistency = true;
  double min_mean_logp = -std::numeric_limits<double>::infinity();  // reflection threshold; −inf: off
};

class corp_pruner {
 public:
  corp_pruner(const quant::token_category_table& cats, index_t codebooks, corp_options o = {})
      : cats_(&cats), opt_(o), codebooks_(codebooks), k_min_(o.k_min >= 0 ? o.k_min : (codebooks + 1) / 2) {
    require(o.theta >= 0 && o.theta <= 1, "corp: θ must lie in [0, 1], got ", o.theta);
    require(codebooks >= 1, "corp: at least one codebook");
  }

  index_t k_min() const noexcept { return k_min_; }
  const corp_options& options() const noexcept { return opt_; }

  /// path: the candidate path (its last token is the one being added at `step`); score: its
  /// cumulative log-probability.
  bool keep(cspan<path_token> path, index_t step, float score) const {
    if (step < k_min_ || step >= codebooks_) return true;
    if (opt_.category_consistency && path_consistency(path, *cats_) < opt_.theta) return false;
    if (std::isfinite(opt_.min_mean_logp) && double(score) / double(path.size()) < opt_.min_mean_logp) return false;
    return true;
  }

 private:
  const quant::token_category_table* cats_;
  corp_options opt_;
  index_t codebooks_, k_min_;
};

}  // namespace reg4rec::decode
