// Numerical guards: a non-finite loss or gradient stops training with the step, the parameter
// and the last good checkpoint named (or, with nonfinite_policy::skip, drops the batch and
// counts it); softmax, log-softmax and cross-entropy stay finite and exact at logits of ±1e4.
#include <catch2/catch.hpp>

#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include <reg4rec/io/checkpoint.hpp>
#include <reg4rec/kernels/softmax.hpp>
#include <reg4rec/loss/cross_entropy.hpp>
#include <reg4rec/model/generator_trainer.hpp>
#include <reg4rec/model/sasrec.hpp>
#include <reg4rec/optim/nonfinite.hpp>
#include <reg4rec/quant/mpq.hpp>
#include <reg4rec/quant/rq_vae.hpp>

#include "robustness/robustness_util.hpp"
#include "test_util.hpp"

using namespace reg4rec;
using Catch::Matchers::Contains;

namespace {

const float nan_f = std::numeric_limits<float>::quiet_NaN();

template <class T>
void poison(nn::parameter_store<T>& ps, const std::string& name, index_t row) {
  for (const auto& e : ps.entries())
    if (e.name == name) {
      for (index_t j = 0; j < e.cols; ++j) ps.values()[e.offset + row * e.cols + j] = T(nan_f);
      return;
    }
  FAIL("no parameter " << name);
}

template <class T>
bool all_finite_except(const nn::parameter_store<T>& ps, const std::string& skip) {
  for (const auto& e : ps.entries()) {
    if (e.name == skip) continue;
    for (index_t i = 0; i < e.rows * e.cols; ++i)
      if (!std::isfinite(ps.values()[e.offset + i])) return false;
  }
  return true;
}

// Two groups of 40 users: group A uses items 0..9, group B items 10..19. Codebook 0 tells the
// groups apart (code 0 or 1), so the embedding of token (0, 1) is read by group B only.
struct two_groups {
  data::sequence_dataset dataset;
  matrix<std::int32_t> codes{20, 3};
  two_groups() {
    for (index_t i = 0; i < 20; ++i) {
      codes(i, 0) = static_cast<std::int32_t>(i / 10);
      codes(i, 1) = static_cast<std::int32_t>((i % 10) / 4);
      codes(i, 2) = static_cast<std::int32_t>(i % 4);
    }
    std::vector<std::string> users, items;
    for (int i = 0; i < 20; ++i) items.push_back(std::to_string(i));
    std::vector<index_t> offsets{0};
    std::vector<std::int32_t> seq;
    rng g(9);
    for (int u = 0; u < 80; ++u) {
      users.push_back(std::to_string(u));
      const std::int32_t base = u % 2 ? 10 : 0;
      for (int k = 0; k < 6; ++k) seq.push_back(base + static_cast<std::int32_t>(g.below(10)));
      offsets.push_back(static_cast<index_t>(seq.size()));
    }
    dataset = data::sequence_dataset(data::id_map(users), data::id_map(items), offsets, seq);
  }
};

model::generator_config guard_config() {
  model::generator_config c = test::tiny_generator_config();
  c.max_history = 6;
  return c;
}

model::generator_train_options guard_options() {
  model::generator_train_options o;
  o.epochs = 2;
  o.batch_size = 4;  // one user's block per batch (each user has 5 training targets)
  o.eval_every = 0;
  o.log = nullptr;
  return o;
}

}  // namespace

TEST_CASE("nonfinite_guard: names the parameter, the step and the checkpoint; skip counts", "[robustness][numerical]") {
  nn::parameter_store<float> ps;
  ps.add("a.weight", 2, 3, true);
  ps.add("b.bias", 1, 4, false);
  optim::nonfinite_guard stop("trainer", optim::nonfinite_policy::stop);
  CHECK(stop.check(1.5, ps, 1, 0));

  ps.grads()[ps.entries()[1].offset + 2] = std::numeric_limits<float>::infinity();  // inside b.bias
  try {
    stop.check(1.5, ps, 2, 17);
    FAIL("no exception");
  } catch (const numerical_error& e) {
    const std::string m = e.what();
    CHECK_THAT(m, Contains("trainer: non-finite gradient in parameter 'b.bias' at epoch 2, step 17"));
    CHECK_THAT(m, Contains("no checkpoint configured"));
  }
  stop.expect_checkpoint("/x/run.ckpt");
  CHECK_THROWS_WITH(stop.check(2.0, ps, 1, 3), Contains("no checkpoint written yet (/x/run.ckpt"));
  stop.set_checkpoint("/x/run.ckpt", 3);
  CHECK_THROWS_WITH(stop.check(std::nan(""), ps, 4, 40),
                    Contains("non-finite loss (nan) at epoch 4, step 40") &&
                        Contains("first non-finite gradient in parameter 'b.bias'") &&
                        Contains("last good checkpoint: /x/run.ckpt (after epoch 3)"));

  optim::nonfinite_guard skip("trainer", optim::nonfinite_policy::skip);
  CHECK_FALSE(skip.check(1.0, ps, 1, 0));
  for (float g : ps.grads()) CHECK(g == 0.0f);  // the batch's gradients are dropped
  CHECK(skip.check(1.0, ps, 1, 1));
  CHECK_FALSE(skip.check(std::numeric_limits<double>::infinity(), ps, 1, 2));
  CHECK(skip.skipped() == 2);
  CHECK_NOTHROW(skip.end_epoch(1));  // one of three steps applied
  CHECK_FALSE(skip.check(std::nan(""), ps, 2, 3));
  CHECK_THROWS_WITH(skip.end_epoch(2), Contains("all 1 steps of epoch 2 were skipped"));
}

TEST_CASE("train_generator stops on a NaN weight naming step and parameter; checkpoints stay intact",
          "[robustness][numerical][training]") {
  two_groups w;
  const data::leave_one_out_split split(w.dataset, {6});
  test::temp_dir tmp;
  auto o = guard_options();
  o.checkpoint = tmp / "gen.ckpt";
  o.epochs_this_run = 1;
  model::sid_generator<float> m(guard_config(), model::sid_layout::from_codes(w.codes), w.codes, 1);
  const auto h1 = model::train_generator<float>(m, split, o);  // a good first epoch, checkpointed
  CHECK(h1.skipped_steps == 0);
  const std::string good = test::read_text(o.checkpoint);

  poison(m.params(), "tok.weight", m.layout().token(0, 0));
  o.checkpoint = tmp / "fresh.ckpt";
  o.epochs_this_run = 0;
  try {
    model::train_generator<float>(m, split, o);
    FAIL("no exception");
  } catch (const numerical_error& e) {
    const std::string msg = e.what();
    INFO(msg);
    CHECK_THAT(msg, Contains("train_generator: non-finite loss (nan) at epoch 1, step "));
    CHECK_THAT(msg, Contains("parameter 'tok.weight'"));
    CHECK_THAT(msg, Contains("no checkpoint written yet (" + tmp / "fresh.ckpt"));
  }
  CHECK(test::read_text(tmp / "gen.ckpt") == good);  // an earlier run's checkpoint is untouched
  CHECK(test::list_dir(tmp.path()) == std::vector<std::string>{"gen.ckpt"});
}

TEST_CASE("train_generator names the last good checkpoint when a later epoch diverges",
          "[robustness][numerical][training]") {
  two_groups w;
  const data::leave_one_out_split split(w.dataset, {6});
  test::temp_dir tmp;
  auto o = guard_options();
  o.epochs = 3;
  o.checkpoint = tmp / "run.ckpt";
  o.epochs_this_run = 1;
  model::sid_generator<float> m(guard_config(), model::sid_layout::from_codes(w.codes), w.codes, 1);
  model::train_generator<float>(m, split, o);
  const std::string good = test::read_text(o.checkpoint);
  // Resumed with an absurd learning rate: the first update of epoch 2 throws the weights to
  // ±1e30 and the next step is non-finite.
  o.resume = true;
  o.epochs_this_run = 0;
  o.lr = 1e30;
  o.warmup_fraction = 0;
  CHECK_THROWS_WITH(model::train_generator<float>(m, split, o),
                    Contains("train_generator: non-finite") && Contains("at epoch 2, step ") &&
                        Contains("last good checkpoint: " + tmp / "run.ckpt" + " (after epoch 1)"));
  CHECK(test::read_text(o.checkpoint) == good);
  model::sid_generator<float> r(guard_config(), model::sid_layout::from_codes(w.codes), w.codes, 2);
  optim::adamw::state<float> st;
  io::train_state ts;
  io::load_checkpoint<float>(tmp / "run.ckpt", r.params(), &st, ts);
  CHECK(ts.epoch == 1);
  CHECK(all_finite_except(r.params(), ""));
}

TEST_CASE("train_generator with nonfinite_policy::skip drops the bad batches and counts them",
          "[robustness][numerical][training]") {
  two_groups w;
  const data::leave_one_out_split split(w.dataset, {6});
  auto o = guard_options();
  o.nonfinite = optim::nonfinite_policy::skip;
  model::sid_generator<float> m(guard_config(), model::sid_layout::from_codes(w.codes), w.codes, 1);
  poison(m.params(), "tok.weight", m.layout().token(0, 1));  // read only by group B's items
  const auto h = model::train_generator<float>(m, split, o);
  INFO("skipped " << h.skipped_steps);
  CHECK(h.skipped_steps > 0);
  // 80 users with 3 training targets each, two users per batch: 40 steps per epoch, 80 in all;
  // a batch is dropped when it holds a group-B user.
  CHECK(h.skipped_steps < 80);
  for (const auto& e : h.epochs) CHECK(std::isfinite(e.loss));
  CHECK(all_finite_except(m.params(), "tok.weight"));

  // Every batch bad: the epoch is all skipped, and that stops training.
  model::sid_generator<float> m2(guard_config(), model::sid_layout::from_codes(w.codes), w.codes, 1);
  poison(m2.params(), "dec.ln.gamma", 0);
  CHECK_THROWS_WITH(model::train_generator<float>(m2, split, o), Contains("steps of epoch 1 were skipped"));
}

TEST_CASE("sasrec stops on a non-finite loss; skip with every batch bad stops too", "[robustness][numerical][training]") {
  const auto ds = test::synthetic_dataset(40, 12, 3);
  const data::leave_one_out_split split(ds, {8});
  model::sasrec_options o;
  o.d_model = 8;
  o.heads = 2;
  o.d_ff = 8;
  o.layers = 1;
  o.epochs = 2;
  o.batch_size = 16;
  o.eval_every = 0;
  o.log = nullptr;
  model::sasrec m(12, o);
  poison(m.network().params(), "tok.weight", 3);  // the tied output layer: every row's softmax sees it
  CHECK_THROWS_WITH(m.train(split), Contains("sasrec: non-finite loss (nan) at epoch 1, step 0") &&
                                        Contains("parameter '") && Contains("no checkpoint configured"));
  o.nonfinite = optim::nonfinite_policy::skip;
  model::sasrec m2(12, o);
  poison(m2.network().params(), "tok.weight", 3);
  CHECK_THROWS_WITH(m2.train(split), Contains("all 3 steps of epoch 1 were skipped"));
}

TEST_CASE("neural quantizers: a diverging fit stops with numerical_error (or all-skipped)", "[robustness][numerical]") {
  const auto x = test::random_matrix<float>(64, 6, 5);
  quant::rq_vae_config c;
  c.hidden = {8};
  c.latent_dim = 4;
  c.levels = 2;
  c.codebook_size = 4;
  c.batch_size = 16;
  c.epochs = 4;
  c.lr = 1e30;  // the first update throws the weights to ±1e30; the next forward overflows
  quant::fit_options fo;
  quant::tiger_rq_vae rq(c);
  CHECK_THROWS_AS(rq.fit(x, fo), numerical_error);
  CHECK_THROWS_WITH(quant::tiger_rq_vae(c).fit(x, fo), Contains("rq_vae::fit: non-finite"));
  fo.nonfinite = optim::nonfinite_policy::skip;
  CHECK_THROWS_WITH(quant::tiger_rq_vae(c).fit(x, fo), Contains("were skipped"));

  quant::mpq_config mc;
  mc.experts = 2;
  mc.codebook_size = 4;
  mc.latent_dim = 4;
  mc.batch_size = 16;
  mc.epochs = 4;
  mc.lr = 1e30;
  fo.nonfinite = optim::nonfinite_policy::stop;
  CHECK_THROWS_WITH(quant::reg4rec_mpq(mc).fit(x, fo), Contains("mpq::fit: non-finite"));
}

TEMPLATE_TEST_CASE("softmax and log-softmax are stable at logits of ±1e4", "[robustness][numerical][softmax]", float,
                   double) {
  using T = TestType;
  for (index_t m : {3, 17, 64}) {
    matrix<T> x(3, m);
    for (index_t j = 0; j < m; ++j) {
      x(0, j) = j % 2 ? T(1e4) : T(-1e4);  // half at +1e4, half at −1e4
      x(1, j) = T(-1e4) - T(j);             // all very negative
      x(2, j) = j == m - 1 ? T(1e4) : T(0);  // one dominant
    }
    matrix<T> p(3, m), lp(3, m);
    kernels::softmax<T>(x, p);
    kernels::log_softmax<T>(x, lp);
    const index_t hi = m / 2;  // entries at +1e4 in row 0
    for (index_t j = 0; j < m; ++j) {
      CHECK(std::isfinite(p(0, j)));
      CHECK(std::isfinite(lp(1, j)));
      CHECK(p(0, j) == Approx(j % 2 ? 1.0 / double(hi) : 0.0).margin(1e-12));
      // row 1: log p_j = −j − log Σ_k e^{−k}
      double lse = 0;
      for (index_t k = 0; k < m; ++k) lse += std::exp(-double(k));
      CHECK(double(lp(1, j)) == Approx(-double(j) - std::log(lse)).margin(1e-4));
    }
    CHECK(p(2, m - 1) == Approx(1.0));
    CHECK(double(lp(2, 0)) == Approx(-1e4).epsilon(1e-6));
    CHECK(double(lp(0, 0)) == Approx(-2e4 - std::log(double(hi))).epsilon(1e-6));
  }
}

TEMPLATE_TEST_CASE("cross-entropy is finite and exact at logits of ±1e4", "[robustness][numerical][loss]", float, double) {
  using T = TestType;
  const index_t V = 33;
  matrix<T> logits(3, V);
  for (index_t j = 0; j < V; ++j) {
    logits(0, j) = j == 5 ? T(1e4) : T(-1e4);  // confident and right: loss ≈ 0
    logits(1, j) = j == 5 ? T(-1e4) : T(1e4);  // confident and wrong: loss ≈ 2e4 + log(V − 1)
    logits(2, j) = T(-1e4);                     // all equal: loss = log V
  }
  const std::vector<std::int32_t> targets{5, 5, 5};
  matrix<T> g = logits;
  std::vector<T> per_row(3);
  loss::cross_entropy_options o;
  const double l = loss::cross_entropy<T>(g, targets, {}, o, per_row);
  CHECK(std::isfinite(l));
  CHECK(double(per_row[0]) == Approx(0.0).margin(1e-6));
  CHECK(double(per_row[1]) == Approx(2e4 + std::log(double(V - 1))).epsilon(1e-6));
  CHECK(double(per_row[2]) == Approx(std::log(double(V))).epsilon(1e-5));
  for (index_t i = 0; i < g.size(); ++i) CHECK(std::isfinite(g.data()[i]));
  CHECK(double(g(1, 5)) == Approx(-1.0 / 3.0).margin(1e-6));  // (p − 1)/N with p ≈ 0
  // Label smoothing at the same extremes.
  g = logits;
  o.label_smoothing = 0.1;
  CHECK(std::isfinite(loss::cross_entropy<T>(g, targets, {}, o)));
}
