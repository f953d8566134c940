// Recommendation rewards for reasoning paths (SPEC §4.5). A path is the M tokens a decoder
// emitted, in emission order, each (codebook, code); it is scored against a target item.
// Every reward lies in [0, 1]:
//   step_hit          steps whose code equals the target's code in that codebook, / M
//   global_path       1 when the path is exactly the target's SID
//   category_hit      steps whose token category equals the target's category, / M
//   step_consistency  adjacent step pairs with equal token categories, / (M − 1)
// and two building blocks of the same interface that users add often:
//   rank_aware        1 / log2(2 + rank) of the target among the items the path leads to
//   popularity_debiased  step_hit scaled by (1 − normalised log-popularity of the target):
//                     hitting a long-tail target is worth more
//
// A reward policy is any type with  static constexpr const char* name  and
//   double operator()(cspan<decode::path_token> path, std::int32_t target, const reward_context&) const;
// composite_reward adds policies with weights (default REG4Rec weights: 1, 1, 0.5, 0.5) and
// reports each component, for logging.
#pragma once

#include <cmath>
#include <functional>
#include <string>
#include <vector>

#include "reg4rec/core/error.hpp"
#include "reg4rec/core/view.hpp"
#include "reg4rec/decode/corp.hpp"
#include "reg4rec/quant/token_categories.hpp"

namespace reg4rec::align {

using decode::path_token;

/// What rewards may read: the item code table (n_items × M), token categories, each item's
/// category, and training popularity (optional; for popularity_debiased).
struct reward_context {
  cmatrix_view<std::int32_t> item_codes;
  const quant::token_category_table* categories = nullptr;
  cspan<std::int32_t> item_category;
  cspan<std::int64_t> popularity;
  std::int64_t max_popularity = 1;

  index_t codebooks() const noexcept { return item_codes.cols(); }
  std::int32_t token_category(const path_token& t) const {
    return categories ? categories->category(t.codebook, t.code) : -1;
  }
  std::int32_t category_of(std::int32_t item) const { return item_category.empty() ? -1 : item_category[item]; }
};

namespace detail {
inline void check_path(const char* who, cspan<path_token> path, std::int32_t target, const reward_context& ctx) {
  require(target >= 0 && target < ctx.item_codes.rows(), who, ": target item ", target, " is outside [0, ",
          ctx.item_codes.rows(), ")");
  for (const auto& t : path)
    require(t.codebook >= 0 && t.codebook < ctx.codebooks(), who, ": path token of codebook ", t.codebook,
            " outside [0, ", ctx.codebooks(), ")");
}
}  // namespace detail

struct step_hit {
  static constexpr const char* name = "step_hit";
  double operator()(cspan<path_token> path, std::int32_t target, const reward_context& ctx) const {
    detail::check_path(name, path, target, ctx);
    index_t hits = 0;
    for (const auto& t : path) hits += ctx.item_codes(target, t.codebook) == t.code;
    return double(hits) / double(ctx.codebooks());
  }
};

struct global_path {
  static constexpr const char* name = "global_path";
  double operator()(cspan<path_token> path, std::int32_t target, const reward_context& ctx) const {
    detail::check_path(name, path, target, ctx);
    if (path.size() != ctx.codebooks()) return 0.0;
    for (const auto& t : path)
      if (ctx.item_codes(target, t.codebook) != t.code) return 0.0;
    return 1.0;
  }
};

struct category_hit {
  static constexpr const char* name = "category_hit";
  double operator()(cspan<path_token> path, std::int32_t target, const reward_context& ctx) const {
    detail::check_path(name, path, target, ctx);
    const std::int32_t want = ctx.category_of(target);
    if (want < 0) return 0.0;
    index_t hits = 0;
    for (const auto& t : path) hits += ctx.token_category(t) == want;
    return double(hits) / double(ctx.codebooks());
  }
};

struct step_consistency {
  static constexpr const char* name = "step_consistency";
  double operator()(cspan<path_token> path, std::int32_t, const reward_context& ctx) const {
    return consistency(path, ctx);
  }
  /// Fraction of adjacent step pairs with equal (known) token categories.
  static double consistency(cspan<path_token> path, const reward_context& ctx) {
    if (path.size() < 2) return 1.0;
    return ctx.categories ? decode::path_consistency(path, *ctx.categories) : 0.0;
  }
};

/// 1/log2(2 + rank) where rank is the number of codebooks the path got wrong (0: exact SID);
/// a smooth middle ground between step_hit and global_path.
struct rank_aware {
  static constexpr const char* name = "rank_aware";
  double operator()(cspan<path_token> path, std::int32_t target, const reward_context& ctx) const {
    detail::check_path(name, path, target, ctx);
    index_t misses = ctx.codebooks() - path.size();
    for (const auto& t : path) misses += ctx.item_codes(target, t.codebook) != t.code;
    return 1.0 / std::log2(2.0 + double(misses));
  }
};

/// step_hit × (1 − log(1 + pop(target)) / log(1 + max pop)): rewards hits on long-tail items more.
struct popularity_debiased {
  static constexpr const char* name = "popularity_debiased";
  double operator()(cspan<path_token> path, std::int32_t target, const reward_context& ctx) const {
    const double hit = step_hit{}(path, target, ctx);
    if (ctx.popularity.empty()) return hit;
    const double p = std::log1p(double(ctx.popularity[target])) / std::log1p(double(std::max<std::int64_t>(1, ctx.max_popularity)));
    return hit * (1.0 - std::min(1.0, p));
  }
};

/// Weights of REG4Rec's four rewards (SPEC §4.5 defaults).
struct reg4rec_reward_weights {
  double step_hit = 1.0, global_path = 1.0, category_hit = 0.5, step_consistency = 0.5;
};

/// A weighted sum of reward policies, each reported separately.
class composite_reward {
 public:
  using fn = std::function<double(cspan<path_token>, std::int32_t, const reward_context&)>;

  template <class Reward>
  composite_reward& add(Reward r, double weight) {
    require(weight >= 0, "composite_reward: weight of ", Reward::name, " must be non-negative, got ", weight);
    names_.push_back(Reward::name);
    weights_.push_back(weight);
    fns_.push_back([r](cspan<path_token> p, std::int32_t t, const reward_context& c) { return r(p, t, c); });
    return *this;
  }

  /// REG4Rec's reward: Step-Hit, Global-Path, Category-Hit and Step-Consistency with weights w
  /// (default 1, 1, 0.5, 0.5); a component of weight 0 is left out.
  static composite_reward reg4rec_default(const reg4rec_reward_weights& w = {}) {
    composite_reward c;
    if (w.step_hit != 0) c.add(step_hit{}, w.step_hit);
    if (w.global_path != 0) c.add(global_path{}, w.global_path);
    if (w.category_hit != 0) c.add(category_hit{}, w.category_hit);
    if (w.step_consistency != 0) c.add(step_consistency{}, w.step_consistency);
    return c;
  }

  index_t size() const noexcept { return static_cast<index_t>(fns_.size()); }
  const std::vector<std::string>& names() const noexcept { return names_; }
  const std::vector<double>& weights() const noexcept { return weights_; }

  /// The total; components[i] (when given, length size()) receives each unweighted reward.
  double operator()(cspan<path_token> path, std::int32_t target, const reward_context& ctx,
                    span<double> components = {}) const {
    double total = 0;
    for (index_t i = 0; i < size(); ++i) {
      const double v = fns_[i](path, target, ctx);
      if (!components.empty()) components[i] = v;
      total += weights_[i] * v;
    }
    return total;
  }

 private:
  std::vector<std::string> names_;
  std::vector<double> weights_;
  std::vector<fn> fns_;
};

}  // namespace reg4rec::align
