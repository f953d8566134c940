// PARS: group advantages, the GRPO gradient against finite differences of the objective, the
// zero-advantage case, and CORP never returning an inconsistent path.
#include <catch2/catch.hpp>

#include <set>

#include <reg4rec/align/pars.hpp>
#include <reg4rec/data/split.hpp>
#include <reg4rec/decode/beam_search.hpp>
#include <reg4rec/decode/corp.hpp>

#include "decode/item_set_constraint.hpp"
#include "nn/gradcheck.hpp"
#include "test_util.hpp"

using namespace reg4rec;

namespace {
struct tiny_world {
  matrix<std::int32_t> codes;
  std::vector<std::int32_t> category;
  quant::token_category_table cats;
  align::reward_context ctx;
  explicit tiny_world(index_t n = 12) : codes(n, 3) {
    rng g(4);
    for (index_t i = 0; i < codes.size(); ++i) codes.data()[i] = static_cast<std::int32_t>(g.below(3));
    for (index_t i = 0; i < n; ++i) category.push_back(static_cast<std::int32_t>(i % 3));
    cats = quant::token_category_table::build(codes, 3, category);
    ctx.item_codes = codes;
    ctx.categories = &cats;
    ctx.item_category = category;
  }
};

model::generator_config tiny_config() {
  model::generator_config c;
  c.d_model = 8;
  c.heads = 2;
  c.d_ff = 12;
  c.encoder_layers = 1;
  c.decoder_layers = 1;
  c.dropout = 0.0;
  c.max_history = 4;
  c.embedding_std = 0.5;
  return c;
}
}  // namespace

TEST_CASE("group advantages sum to zero and are scale-free", "[align][pars]") {
  const std::vector<double> r{0.1, 0.9, 0.5, 0.5};
  const auto a = align::group_advantages(r);
  CHECK(std::accumulate(a.begin(), a.end(), 0.0) == Approx(0.0).margin(1e-12));
  std::vector<double> scaled;
  for (double x : r) scaled.push_back(3 * x + 7);
  const auto b = align::group_advantages(scaled);
  for (std::size_t i = 0; i < a.size(); ++i) CHECK(b[i] == Approx(a[i]).margin(1e-5));
  const std::vector<double> same{0.4, 0.4, 0.4};
  for (double x : align::group_advantages(same)) CHECK(x == 0.0);
}

TEST_CASE("PARS targets: anywhere after the first item, or among the last L items", "[align][pars]") {
  rng g(3);
  std::set<index_t> any, last3;
  for (int t = 0; t < 2000; ++t) {
    any.insert(align::draw_target_position(10, 0, g));
    last3.insert(align::draw_target_position(10, 3, g));
    CHECK(align::draw_target_position(10, 1, g) == 9);   // the last item only
    CHECK(align::draw_target_position(2, 5, g) == 1);    // L longer than the sequence: never 0
  }
  CHECK(any == std::set<index_t>{1, 2, 3, 4, 5, 6, 7, 8, 9});
  CHECK(last3 == std::set<index_t>{7, 8, 9});
}

TEST_CASE("the GRPO gradient equals finite differences of the objective", "[align][pars][gradcheck]") {
  tiny_world w;
  for (auto order : {decode::step_order::fixed, decode::step_order::confidence})
    for (auto source : {align::rollout_source::sample, align::rollout_source::beam}) {
      model::sid_generator<double> m(tiny_config(), model::sid_layout::from_codes(w.codes), w.codes, 5);
      const test::item_set_constraint cons{&m.item_codes()};
      align::pars_options o;
      o.paths = 4;
      o.beta_kl = 0.3;
      o.lambda_sft = 0.7;
      o.msra_steps = 2;
      o.order = order;
      o.source = source;
      o.beam = 5;
      align::pars_trainer<double, test::item_set_constraint> p(m, cons, align::composite_reward::reg4rec_default(), w.ctx, o);
      const std::vector<std::uint64_t> streams{1, 2};
      const auto ro = p.make_rollout({{1, 2, 3}, {4}}, {{5, 6}, {7}}, cspan<std::uint64_t>(streams.data(), 2), rng(9));
      // Move off the sampling point so that ρ ≠ 1 and π ≠ π_ref in the check.
      rng g(3);
      for (auto& v : m.params().values()) v += 0.01 * g.normal<double>();
      const auto r = test::check_parameters(
          m.params(), [&] { return p.objective(ro); }, [&] { p.accumulate_gradient(ro); });
      INFO("order " << int(order) << ", rollouts " << int(source) << ": worst parameter " << r.where << ", rel error "
                    << r.rel_error);
      CHECK(r.rel_error < 1e-6);
      CHECK(r.analytic_norm > 0);
    }
}

TEST_CASE("beam rollouts are the policy's own top G items with their paths scored under the policy", "[align][pars]") {
  tiny_world w;
  model::sid_generator<double> m(tiny_config(), model::sid_layout::from_codes(w.codes), w.codes, 8);
  const test::item_set_constraint cons{&m.item_codes()};
  align::pars_options o;
  o.paths = 4;
  o.source = align::rollout_source::beam;
  o.beam = 6;
  o.order = decode::step_order::confidence;
  align::pars_trainer<double, test::item_set_constraint> p(m, cons, align::composite_reward::reg4rec_default(), w.ctx, o);
  const std::vector<std::uint64_t> streams{1, 2};
  const auto ro = p.make_rollout({{1, 2, 3}, {4}}, {{5, 6}, {7}}, cspan<std::uint64_t>(streams.data(), 2), rng(9));
  decode::beam_options bo;
  bo.beam = 6;
  bo.top_k = 4;
  bo.order = decode::step_order::confidence;
  const decode::beam_search<double, test::item_set_constraint> search(m, cons, bo);
  const auto histories = ro.history_views();
  for (std::size_t u = 0; u < histories.size(); ++u) {
    const auto rec = search.recommend_one(histories[u]);
    REQUIRE(rec.items.size() == 4);
    REQUIRE(ro.paths[u].size() == 4);
    double adv = 0;
    for (std::size_t g = 0; g < 4; ++g) {
      const auto& path = ro.paths[u][g];
      CHECK(path.item == rec.items[g]);
      REQUIRE(path.tokens.size() == rec.paths[g].size());
      double logp = 0;
      for (std::size_t k = 0; k < path.tokens.size(); ++k) {
        CHECK(path.tokens[k].codebook == rec.paths[g][k].codebook);
        CHECK(path.tokens[k].code == rec.paths[g][k].code);
        logp += path.logp[k];
      }
      CHECK(logp == Approx(rec.scores[g]).epsilon(1e-5));  // the beam's score is the path's log-likelihood
      adv += ro.advantage[u][g];
    }
    CHECK(adv == Approx(0.0).margin(1e-9));
  }
}

TEST_CASE("with all advantages zero the update is only KL + CE", "[align][pars]") {
  tiny_world w;
  model::sid_generator<double> m(tiny_config(), model::sid_layout::from_codes(w.codes), w.codes, 6);
  const test::item_set_constraint cons{&m.item_codes()};
  align::pars_options o;
  o.paths = 3;
  align::pars_trainer<double, test::item_set_constraint> p(m, cons, align::composite_reward::reg4rec_default(), w.ctx, o);
  const std::vector<std::uint64_t> streams{1};
  auto ro = p.make_rollout({{1, 2}}, {{3}}, cspan<std::uint64_t>(streams.data(), 1), rng(2));
  for (auto& a : ro.advantage[0]) a = 0;
  // At the sampling point π = π_ref, so the KL gradient (1 − r) vanishes too: only CE remains.
  m.params().zero_grad();
  p.accumulate_gradient(ro);
  const std::vector<double> g_pars(m.params().grads().begin(), m.params().grads().end());
  model::generator_batch b;
  b.add_decoder(b.add_window(cspan<std::int32_t>(ro.history[0].data(), 2)), 2, 3);
  for (const auto& t : ro.targets[0][0].tokens) b.order.push_back(t.codebook);
  m.params().zero_grad();
  m.train_step(b, {}, 0.0);  // mean CE over the target's tokens (λ_sft = 1)
  CHECK(test::max_rel_diff(m.params().grads().data(), g_pars.data(), static_cast<index_t>(g_pars.size())) < 1e-10);
}

TEST_CASE("PARS scores the starting model first and keeps it when alignment does not beat it", "[align][pars]") {
  tiny_world w;
  std::vector<std::string> users, items;
  for (int i = 0; i < 12; ++i) items.push_back(std::to_string(i));
  std::vector<index_t> offsets{0};
  std::vector<std::int32_t> seq;
  rng g(8);
  for (int u = 0; u < 20; ++u) {
    users.push_back(std::to_string(u));
    for (int k = 0; k < 6; ++k) seq.push_back(static_cast<std::int32_t>(g.below(12)));
    offsets.push_back(static_cast<index_t>(seq.size()));
  }
  const data::sequence_dataset ds(data::id_map(users), data::id_map(items), offsets, seq);
  const data::leave_one_out_split split(ds, {4});
  // Scripted validation scores: call 0 scores the starting model (epoch 0), call k epoch k.
  for (const auto& script : {std::vector<double>{0.9, 0.5, 0.4, 0.3}, std::vector<double>{0.1, 0.5, 0.3, 0.2}}) {
    model::sid_generator<double> m(tiny_config(), model::sid_layout::from_codes(w.codes), w.codes, 5);
    const std::vector<double> start(m.params().values().begin(), m.params().values().end());
    const test::item_set_constraint cons{&m.item_codes()};
    align::pars_options o;
    o.paths = 3;
    o.epochs = 3;
    o.users_per_step = 8;
    o.lr = 1e-2;
    o.patience = 2;
    o.log = nullptr;
    align::pars_trainer<double, test::item_set_constraint> p(m, cons, align::composite_reward::reg4rec_default(), w.ctx, o);
    std::size_t calls = 0;
    const auto h = p.train(split, [&](const model::sid_generator<double>&) {
      return model::validation_score{script.at(calls++), 0.0};
    });
    CHECK(h.initial_metric == script[0]);
    const double moved = test::max_rel_diff(m.params().values().data(), start.data(), static_cast<index_t>(start.size()));
    if (script[0] > script[1]) {
      CHECK(h.best_epoch == 0);
      CHECK(h.epochs.size() == 2);  // two epochs without improvement (patience 2)
      CHECK(moved == 0.0);          // the starting weights, exactly
    } else {
      CHECK(h.best_epoch == 1);
      CHECK(h.best_metric == 0.5);
      CHECK(moved > 0.0);
    }
  }
}

TEST_CASE("CORP never returns an inconsistent path and keeps the beam full", "[decode][corp]") {
  tiny_world w(40);
  model::generator_config c = tiny_config();
  c.d_model = 16;
  model::sid_generator<float> m(c, model::sid_layout::from_codes(w.codes), w.codes, 7);
  const test::item_set_constraint cons{&m.item_codes()};
  decode::corp_options co;
  co.theta = 0.5;
  co.k_min = 1;
  const decode::corp_pruner corp(w.cats, 3, co);
  decode::beam_options bo;
  bo.beam = 4;
  bo.top_k = 4;
  bo.order = decode::step_order::confidence;
  decode::beam_search<float, test::item_set_constraint, decode::corp_pruner> bs(m, cons, bo, corp);
  // How many of the catalogue's SIDs are consistent in some order: enough to fill the beam?
  for (const auto& h : std::vector<std::vector<std::int32_t>>{{1, 2}, {5, 9, 11}, {0}}) {
    const auto rec = bs.recommend_one(cspan<std::int32_t>(h.data(), static_cast<index_t>(h.size())));
    for (const auto& p : rec.paths)
      CHECK(decode::path_consistency(cspan<decode::path_token>(p.data(), static_cast<index_t>(p.size())), w.cats) >= 0.5);
    CHECK(rec.items.size() >= 1);
  }
  CHECK(corp.k_min() == 1);
  // Steps past the judged codebooks (a dedup-token tail) are kept whatever their categories:
  // find an inconsistent three-token path, pruned at step 2 by a 3-codebook pruner and kept
  // by a 2-codebook one.
  const decode::corp_pruner two(w.cats, 2, co);
  bool found = false;
  for (index_t i = 0; i < w.codes.rows() && !found; ++i) {
    const std::vector<decode::path_token> p{{0, w.codes(i, 0)}, {1, w.codes(i, 1)}, {2, w.codes(i, 2)}};
    const cspan<decode::path_token> ps(p.data(), 3);
    if (decode::path_consistency(ps, w.cats) >= 0.5) continue;
    found = true;
    CHECK_FALSE(corp.keep(ps, 2, -1.0f));
    CHECK(two.keep(ps, 2, -1.0f));
  }
  CHECK(found);
  CHECK(decode::corp_pruner(w.cats, 4).k_min() == 2);  // ⌈M/2⌉
  CHECK_THROWS_AS(decode::corp_pruner(w.cats, 3, decode::corp_options{1.5}), argument_error);
}
