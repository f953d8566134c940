// Beam search: validity of every emitted path, exactness with a beam as wide as the catalogue,
// CRSS step selection, pruning and the batch API.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <map>
#include <set>

#include <reg4rec/decode/beam_search.hpp>

#include "decode/item_set_constraint.hpp"
#include "test_util.hpp"

using namespace reg4rec;

namespace {
model::generator_config small_config() {
  model::generator_config c;
  c.d_model = 16;
  c.heads = 2;
  c.d_ff = 24;
  c.encoder_layers = 2;
  c.decoder_layers = 2;
  c.dropout = 0.0;
  c.max_history = 6;
  c.embedding_std = 0.8;  // a random model with peaked distributions
  return c;
}

matrix<std::int32_t> random_codes(index_t n, const std::vector<index_t>& K, std::uint64_t seed) {
  rng g(seed);
  matrix<std::int32_t> c(n, static_cast<index_t>(K.size()));
  for (index_t i = 0; i < n; ++i)
    for (std::size_t r = 0; r < K.size(); ++r) c(i, static_cast<index_t>(r)) = static_cast<std::int32_t>(g.below(K[r]));
  return c;
}

// Exact log-probability of item `it` for `history` under the fixed order.
double exact_score(const model::sid_generator<double>& m, cspan<std::int32_t> history, std::int32_t it) {
  workspace ws;
  model::encoded_users<double> enc;
  m.encode({history}, enc, ws);
  model::decoder_state<double> st;
  m.start_decoding(st, 1);
  std::vector<std::int32_t> cb{-1}, code{-1}, user{0};
  matrix<double> h(1, m.config().d_model);
  double s = 0;
  for (index_t r = 0; r < m.codebooks(); ++r) {
    m.decode_step(cb, code, user, enc, st, h, ws);
    matrix<double> lp(1, m.layout().size(r));
    m.log_probs(r, h, lp);
    s += lp(0, m.item_codes()(it, r));
    cb[0] = static_cast<std::int32_t>(r);
    code[0] = m.item_codes()(it, r);
  }
  return s;
}
}  // namespace

TEST_CASE("beam search never emits an invalid SID (random models and tables)", "[decode][beam]") {
  for (std::uint64_t seed = 1; seed <= 4; ++seed) {
    const auto codes = random_codes(40, {6, 5, 4}, seed);
    model::sid_generator<float> m(small_config(), model::sid_layout(std::vector<index_t>{6, 5, 4}), codes, seed);
    const test::item_set_constraint cons{&codes};
    for (auto order : {decode::step_order::fixed, decode::step_order::confidence}) {
      decode::beam_options o;
      o.beam = 7;
      o.top_k = 5;
      o.order = order;
      decode::beam_search<float, test::item_set_constraint> bs(m, cons, o);
      std::vector<std::vector<std::int32_t>> hist{{1, 2, 3}, {5}, {7, 8, 9, 10, 11, 12, 13, 14}};
      std::vector<cspan<std::int32_t>> views;
      for (auto& h : hist) views.emplace_back(h.data(), static_cast<index_t>(h.size()));
      const auto recs = bs.recommend(views);
      for (const auto& r : recs) {
        CHECK(r.items.size() == 5);
        CHECK(std::set<std::int32_t>(r.items.begin(), r.items.end()).size() == r.items.size());
        CHECK(std::is_sorted(r.scores.rbegin(), r.scores.rend()));
        for (std::size_t k = 0; k < r.items.size(); ++k) {
          // The path is a valid SID of the item: every codebook once, the item's codes.
          std::set<std::int32_t> cbs;
          for (const auto& t : r.paths[k]) {
            cbs.insert(t.codebook);
            CHECK(codes(r.items[k], t.codebook) == t.code);
          }
          CHECK(cbs.size() == 3);
        }
      }
    }
  }
}

TEST_CASE("beam search as wide as the catalogue equals exhaustive search", "[decode][beam]") {
  const auto codes = random_codes(12, {4, 3, 3}, 9);
  model::sid_generator<double> m(small_config(), model::sid_layout(std::vector<index_t>{4, 3, 3}), codes, 5);
  const test::item_set_constraint cons{&codes};
  decode::beam_options o;
  o.beam = 12;
  o.top_k = 12;
  decode::beam_search<double, test::item_set_constraint> bs(m, cons, o);
  const std::vector<std::int32_t> h{3, 1, 4};
  const auto rec = bs.recommend_one(h);
  // Exhaustive: every item's exact path probability; SIDs shared by several items tie.
  std::vector<std::pair<double, std::int32_t>> all;
  for (std::int32_t it = 0; it < 12; ++it) all.push_back({exact_score(m, h, it), it});
  std::sort(all.begin(), all.end(), [](auto& a, auto& b) { return a.first > b.first; });
  REQUIRE(rec.items.size() == 12);
  for (std::size_t k = 0; k < 12; ++k) {
    CHECK(rec.scores[k] == Approx(all[k].first).epsilon(1e-6));
    CHECK(exact_score(m, h, rec.items[k]) == Approx(rec.scores[k]).epsilon(1e-6));
  }
}

TEST_CASE("CRSS emits the most confident remaining codebook at every step, a fixed tail last", "[decode][crss]") {
  const auto codes = random_codes(30, {5, 5, 5, 5}, 3);
  for (index_t tail : {0, 1, 2}) {
    INFO("fixed tail " << tail);
    const model::sid_layout layout(std::vector<index_t>{5, 5, 5, 5}, tail);
    const index_t n_free = 4 - tail;
    model::sid_generator<double> m(small_config(), layout, codes, 8);
    const test::item_set_constraint cons{&codes};
    decode::beam_options o;
    o.beam = 1;
    o.top_k = 1;
    o.order = decode::step_order::confidence;
    decode::beam_search<double, test::item_set_constraint> bs(m, cons, o);
    const std::vector<std::int32_t> h{2, 9, 4};
    const auto rec = bs.recommend_one(h);
    REQUIRE(rec.paths.size() == 1);
    REQUIRE(rec.paths[0].size() == 4);
    // Replay: at each free step the chosen codebook maximises max_{allowed c} p_r(c) over the
    // unused free codebooks; the tail follows in index order.
    workspace ws;
    model::encoded_users<double> enc;
    m.encode({cspan<std::int32_t>(h.data(), 3)}, enc, ws);
    model::decoder_state<double> st;
    m.start_decoding(st, 1);
    std::vector<std::int32_t> cb{-1}, code{-1}, user{0};
    auto ctx = cons.make_context();
    auto s = cons.root(ctx);
    std::set<std::int32_t> used;
    matrix<double> hid(1, 16);
    for (index_t step = 0; step < 4; ++step) {
      const auto& t = rec.paths[0][static_cast<std::size_t>(step)];
      m.decode_step(cb, code, user, enc, st, hid, ws);
      double best = -1e300;
      std::int32_t best_r = static_cast<std::int32_t>(step);
      for (std::int32_t r = 0; r < n_free && step < n_free; ++r) {
        if (used.count(r)) continue;
        matrix<double> lp(1, 5);
        m.log_probs(r, hid, lp);
        std::vector<std::int32_t> allowed;
        cons.allowed(ctx, s, r, allowed);
        for (auto c : allowed)
          if (lp(0, c) > best) {
            best = lp(0, c);
            best_r = r;
          }
      }
      CHECK(t.codebook == best_r);
      used.insert(t.codebook);
      s = cons.advance(ctx, s, t.codebook, t.code);
      cb[0] = t.codebook;
      code[0] = t.code;
    }
  }
  CHECK_THROWS_AS(model::sid_layout(std::vector<index_t>{5, 5}, 2), argument_error);  // no free codebook
}

namespace {
// Rejects any path whose first token is code 0 of codebook 0.
struct no_zero_first {
  bool keep(cspan<decode::path_token> path, index_t, float) const { return !(path[0].codebook == 0 && path[0].code == 0); }
};
}  // namespace

TEST_CASE("a pruner removes paths and the beam is refilled", "[decode][beam]") {
  const auto codes = random_codes(40, {4, 4, 4}, 2);
  model::sid_generator<float> m(small_config(), model::sid_layout(std::vector<index_t>{4, 4, 4}), codes, 3);
  const test::item_set_constraint cons{&codes};
  decode::beam_options o;
  o.beam = 6;
  o.top_k = 6;
  decode::beam_search<float, test::item_set_constraint, no_zero_first> bs(m, cons, o);
  const std::vector<std::int32_t> h{1, 2};
  const auto rec = bs.recommend_one(h);
  CHECK(rec.items.size() == 6);  // refilled to the full width
  for (auto it : rec.items) CHECK(codes(it, 0) != 0);
}

TEST_CASE("batch recommendations equal one-user calls and do not depend on threads", "[decode][beam]") {
  const auto codes = random_codes(50, {8, 6, 5}, 4);
  model::sid_generator<float> m(small_config(), model::sid_layout(std::vector<index_t>{8, 6, 5}), codes, 4);
  const test::item_set_constraint cons{&codes};
  decode::beam_options o;
  o.beam = 5;
  o.top_k = 4;
  o.users_per_chunk = 3;
  decode::beam_search<float, test::item_set_constraint> bs(m, cons, o);
  rng g(1);
  std::vector<std::vector<std::int32_t>> hist(10);
  std::vector<cspan<std::int32_t>> views;
  for (auto& h : hist) {
    for (index_t k = 0, n = 1 + static_cast<index_t>(g.below(7)); k < n; ++k) h.push_back(static_cast<std::int32_t>(g.below(50)));
    views.emplace_back(h.data(), static_cast<index_t>(h.size()));
  }
  const auto batch = bs.recommend(views);
  for (std::size_t u = 0; u < hist.size(); ++u) {
    const auto one = bs.recommend_one(views[u]);
    CHECK(one.items == batch[u].items);
  }
  const std::vector<std::int32_t> bad{3, 99};
  CHECK_THROWS_WITH(bs.recommend({cspan<std::int32_t>(bad.data(), 2)}), Catch::Contains("unknown item 99"));
  decode::beam_options zero;
  zero.beam = 0;
  CHECK_THROWS_AS((decode::beam_search<float, test::item_set_constraint>(m, cons, zero)), argument_error);
}

TEST_CASE("CRSS confidence measures on a worked distribution, and their names", "[decode][crss]") {
  using decode::confidence_measure;
  // p = (0.5, 0.3, 0.2); only codes 1 and 2 allowed.
  const std::vector<double> lp{std::log(0.5), std::log(0.3), std::log(0.2)};
  const std::vector<std::int32_t> all{0, 1, 2}, some{1, 2};
  CHECK(decode::confidence(confidence_measure::max_probability, lp.data(), 3, all) == Approx(std::log(0.5)));
  CHECK(decode::confidence(confidence_measure::max_probability, lp.data(), 3, some) == Approx(std::log(0.3)));
  CHECK(decode::confidence(confidence_measure::margin, lp.data(), 3, all) == Approx(0.2));
  CHECK(decode::confidence(confidence_measure::margin, lp.data(), 3, some) == Approx(0.1));
  const double h = -(0.5 * std::log(0.5) + 0.3 * std::log(0.3) + 0.2 * std::log(0.2));
  CHECK(decode::confidence(confidence_measure::neg_entropy, lp.data(), 3, some) == Approx(-h));  // over all codes
  for (auto m : {confidence_measure::max_probability, confidence_measure::margin, confidence_measure::neg_entropy})
    CHECK(decode::confidence_measure_from(decode::name(m)) == m);
  CHECK_THROWS_WITH(decode::confidence_measure_from("surest"), Catch::Contains("max-probability, margin or entropy"));
}

TEST_CASE("the reflection score re-ranks the finished paths", "[decode][beam][reflection]") {
  const auto codes = random_codes(12, {4, 3, 3}, 9);
  auto cfg = small_config();
  cfg.reflection_weight = 1;
  model::sid_generator<double> m(cfg, model::sid_layout(std::vector<index_t>{4, 3, 3}), codes, 5);
  const test::item_set_constraint cons{&codes};
  decode::beam_options o;
  o.beam = 12;
  o.top_k = 12;
  const std::vector<std::int32_t> h{3, 1, 4};
  workspace ws;
  model::encoded_users<double> enc;
  m.encode({cspan<std::int32_t>(h.data(), 3)}, enc, ws);
  const decode::beam_search<double, test::item_set_constraint> plain(m, cons, o);
  const auto base = plain.recommend_one(h);
  for (double w : {0.5, 3.0}) {
    o.reflection = w;
    const decode::beam_search<double, test::item_set_constraint> bs(m, cons, o);
    const auto rec = bs.recommend_one(h);
    REQUIRE(rec.items.size() == 12);
    // Every item's score is its path log-probability + w·h·e_i, and the list is sorted by it.
    std::vector<double> refl(12);
    m.reflection_scores(enc, 0, rec.items, refl);
    for (std::size_t k = 0; k < 12; ++k)
      CHECK(rec.scores[k] == Approx(exact_score(m, h, rec.items[k]) + w * refl[k]).epsilon(1e-5));
    CHECK(std::is_sorted(rec.scores.rbegin(), rec.scores.rend()));
    if (w == 3.0) CHECK(rec.items != base.items);  // a large weight changes the order
  }
  // Weight 0 leaves the model's ranking; a weight needs a model with the head.
  o.reflection = 0;
  CHECK(decode::beam_search<double, test::item_set_constraint>(m, cons, o).recommend_one(h).items == base.items);
  o.reflection = 1;
  cfg.reflection_weight = 0;
  const model::sid_generator<double> none(cfg, model::sid_layout(std::vector<index_t>{4, 3, 3}), codes, 5);
  CHECK_THROWS_WITH((decode::beam_search<double, test::item_set_constraint>(none, cons, o)),
                    Catch::Contains("reflection head"));
  o.reflection = -1;
  CHECK_THROWS_WITH((decode::beam_search<double, test::item_set_constraint>(m, cons, o)), Catch::Contains("reflection"));
}
