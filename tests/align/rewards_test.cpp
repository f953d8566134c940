// Rewards and MSRA on worked cases (SPEC §4.5–4.6).
#include <catch2/catch.hpp>

#include <cmath>

#include <reg4rec/align/msra.hpp>
#include <reg4rec/align/rewards.hpp>

using namespace reg4rec;
using align::path_token;

namespace {
// Three items, M = 3 codebooks of 4 codes. Item 0: (1, 2, 3), item 1: (1, 0, 3), item 2: (0, 0, 0).
// Categories: item 0 → 7, item 1 → 7, item 2 → 9. Token categories follow from the table.
struct world {
  matrix<std::int32_t> codes;
  std::vector<std::int32_t> cat{7, 7, 9};
  quant::token_category_table table;
  align::reward_context ctx;
  world() : codes(3, 3) {
    codes << 1, 2, 3, 1, 0, 3, 0, 0, 0;
    table = quant::token_category_table::build(codes, 4, cat);
    ctx.item_codes = codes;
    ctx.categories = &table;
    ctx.item_category = cat;
  }
};
std::vector<path_token> path(std::initializer_list<std::pair<int, int>> toks) {
  std::vector<path_token> p;
  for (auto [r, c] : toks) p.push_back({r, c});
  return p;
}
}  // namespace

TEST_CASE("step-hit, global-path, category-hit and step-consistency on worked paths", "[align][rewards]") {
  world w;
  // Emitted in CRSS order: codebook 2 first. Hits 2 of item 0's 3 tokens.
  const auto p = path({{2, 3}, {0, 1}, {1, 0}});
  CHECK(align::step_hit{}(p, 0, w.ctx) == Approx(2.0 / 3));
  CHECK(align::global_path{}(p, 0, w.ctx) == 0.0);
  CHECK(align::global_path{}(p, 1, w.ctx) == 1.0);  // exactly item 1's SID (order does not matter)
  CHECK(align::step_hit{}(p, 1, w.ctx) == 1.0);
  // Token categories: (2,3) → 7 (items 0, 1), (0,1) → 7, (1,0) → tie 7 vs 9 → smaller id 7.
  CHECK(align::category_hit{}(p, 0, w.ctx) == 1.0);
  CHECK(align::category_hit{}(p, 2, w.ctx) == 0.0);
  CHECK(align::step_consistency{}(p, 0, w.ctx) == 1.0);
  const auto q = path({{0, 0}, {1, 2}, {2, 0}});  // categories 9, 7, 9
  CHECK(align::step_consistency{}(q, 0, w.ctx) == 0.0);
  CHECK(align::category_hit{}(q, 2, w.ctx) == Approx(2.0 / 3));
  CHECK(align::rank_aware{}(p, 1, w.ctx) == 1.0);
  CHECK(align::rank_aware{}(p, 0, w.ctx) == Approx(1.0 / std::log2(3.0)));
}

TEST_CASE("rewards lie in [0, 1] and the default composite weighs 1, 1, 0.5, 0.5", "[align][rewards]") {
  world w;
  const auto reward = align::composite_reward::reg4rec_default();
  CHECK(reward.names() == std::vector<std::string>{"step_hit", "global_path", "category_hit", "step_consistency"});
  const auto p = path({{2, 3}, {0, 1}, {1, 0}});
  std::vector<double> parts(4);
  const double total = reward(p, 0, w.ctx, parts);
  CHECK(parts[0] == Approx(2.0 / 3));
  CHECK(parts[1] == 0.0);
  CHECK(total == Approx(2.0 / 3 + 0.5 * 1.0 + 0.5 * 1.0));
  for (int t = 0; t < 3; ++t) {
    reward(p, t, w.ctx, parts);
    for (double v : parts) {
      CHECK(v >= 0.0);
      CHECK(v <= 1.0);
    }
  }
  // Other weights; a zero weight leaves its component out.
  align::reg4rec_reward_weights ws;
  ws.global_path = 2.0;
  ws.category_hit = 0.0;
  const auto hits = align::composite_reward::reg4rec_default(ws);
  CHECK(hits.names() == std::vector<std::string>{"step_hit", "global_path", "step_consistency"});
  CHECK(hits.weights() == std::vector<double>{1.0, 2.0, 0.5});
  CHECK(hits(p, 0, w.ctx) == Approx(2.0 / 3 + 0.5 * 1.0));
  CHECK_THROWS_WITH(align::step_hit{}(p, 5, w.ctx), Catch::Contains("target item 5"));
  align::composite_reward bad;
  CHECK_THROWS_AS(bad.add(align::step_hit{}, -1.0), argument_error);
}

TEST_CASE("popularity-debiased hits are worth more on long-tail targets", "[align][rewards]") {
  world w;
  const std::vector<std::int64_t> pop{100, 1, 10};
  w.ctx.popularity = pop;
  w.ctx.max_popularity = 100;
  const auto p = path({{0, 1}, {1, 0}, {2, 3}});  // item 1 exactly; item 0 in 2 of 3
  CHECK(align::popularity_debiased{}(p, 0, w.ctx) == Approx(0.0).margin(1e-12));  // the most popular item
  CHECK(align::popularity_debiased{}(p, 1, w.ctx) == Approx(1.0 - std::log(2.0) / std::log(101.0)));
}

TEST_CASE("MSRA weights the next items by γ^(n−1)", "[align][msra]") {
  world w;
  const align::msra<align::step_hit> m(align::step_hit{}, 3, 0.7);
  CHECK(m.weight(1) == 1.0);
  CHECK(m.weight(2) == Approx(0.7));
  CHECK(m.weight(3) == Approx(0.49));
  const auto p = path({{0, 1}, {1, 2}, {2, 3}});  // item 0 exactly
  const std::vector<std::int32_t> future{0, 1, 2};
  // step hits: item 0 → 1, item 1 → 2/3, item 2 → 0.
  CHECK(m(p, future, w.ctx) == Approx((1.0 + 0.7 * 2.0 / 3 + 0.49 * 0.0) / (1 + 0.7 + 0.49)));
  const std::vector<std::int32_t> short_future{0};
  CHECK(m(p, short_future, w.ctx) == 1.0);  // only the items that exist count
  CHECK_THROWS_AS(align::msra<align::step_hit>(align::step_hit{}, 0), argument_error);
}
