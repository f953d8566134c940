// The decoder-only transformer end to end: gradients, learning a toy task, and checkpoints
// that resume bit-exactly.
#include <catch2/catch.hpp>

#include <cstdio>
#include <fstream>

#include <reg4rec/io/checkpoint.hpp>
#include <reg4rec/model/causal_lm.hpp>
#include <reg4rec/optim.hpp>

#include "nn/gradcheck.hpp"
#include "test_util.hpp"

using namespace reg4rec;

namespace {
// Toy task: each sequence counts upwards modulo V from a random start; predict the next.
void make_batch(rng& g, index_t B, index_t L, index_t V, matrix<std::int32_t>& tok, matrix<std::int32_t>& tgt) {
  tok.resize(B, L);
  tgt.resize(B, L);
  for (index_t b = 0; b < B; ++b) {
    const auto s = static_cast<std::int32_t>(g.below(static_cast<std::uint64_t>(V)));
    for (index_t i = 0; i < L; ++i) {
      tok(b, i) = static_cast<std::int32_t>((s + i) % V);
      tgt(b, i) = static_cast<std::int32_t>((s + i + 1) % V);
    }
  }
}

// One training step: fresh data from `data`, dropout from `step`.
template <class T>
double train_one(model::causal_lm<T>& m, optim::adamw& opt, optim::adamw::state<T>& st, rng& data, long long step,
                 const rng& drop) {
  matrix<std::int32_t> tok, tgt;
  make_batch(data, 16, 8, m.config().vocab, tok, tgt);
  m.params().zero_grad();
  const double l = m.train_step(tok, tgt, {&drop, static_cast<std::uint64_t>(step)});
  opt.step(m.params(), st, 3e-3);
  return l;
}

std::string temp_path(const std::string& name) {
  return std::string("/tmp/reg4rec_ckpt_") + std::to_string(::getpid()) + "_" + name;
}
}  // namespace

TEST_CASE("causal LM: gradients of every parameter match finite differences", "[model][causal_lm][gradcheck]") {
  model::causal_lm_config c;
  c.vocab = 7;
  c.max_len = 4;
  c.d_model = 8;
  c.heads = 2;
  c.d_ff = 12;
  c.layers = 2;
  c.dropout = 0.1;
  c.embedding_dropout = 0.2;
  c.attention_dropout = 0.3;
  c.embedding_scale = 1.7;
  c.embedding_std = 0.5;
  c.label_smoothing = 0.1;
  model::causal_lm<double> m(c, 3);
  matrix<std::int32_t> tok(2, 4), tgt(2, 4);
  tok << 1, 2, 3, -1, 4, 5, 6, 0;
  tgt << 2, 3, -100, -100, 5, 6, 0, 1;
  rng drop(9);
  const auto r = test::check_parameters(
      m.params(), [&] {
        // train_step adds gradients but its returned loss is the forward value.
        return m.train_step(tok, tgt, {&drop, 7});
      },
      [&] { m.train_step(tok, tgt, {&drop, 7}); });
  INFO("worst: " << r.where);
  CHECK(r.rel_error < 1e-6);
}

TEST_CASE("causal LM learns a toy next-token task", "[model][causal_lm][training][slow]") {
  model::causal_lm_config c;
  c.vocab = 20;
  c.max_len = 8;
  c.d_model = 32;
  c.heads = 4;
  c.d_ff = 64;
  c.layers = 2;
  model::causal_lm<float> m(c, 1);
  optim::adamw opt({3e-3, 0.9, 0.999, 1e-8, 0.0});
  auto st = opt.init(m.params());
  rng data(2), drop(3);
  const double first = train_one(m, opt, st, data, 0, drop);
  double last = first;
  for (long long step = 1; step < 300; ++step) last = train_one(m, opt, st, data, step, drop);
  INFO("loss " << first << " → " << last);
  CHECK(first > 2.5);   // about ln 20 = 3.0 at the start
  CHECK(last < 0.05);   // the successor rule is learnt
}

TEST_CASE("save → load → continue is bit-identical to training straight through", "[model][checkpoint]") {
  model::causal_lm_config c;
  c.vocab = 11;
  c.max_len = 8;
  c.d_model = 16;
  c.heads = 2;
  c.d_ff = 32;
  c.layers = 2;
  c.dropout = 0.1;
  optim::adamw opt({3e-3, 0.9, 0.999, 1e-8, 0.01});
  const rng drop(4);

  model::causal_lm<float> straight(c, 5);
  auto st_a = opt.init(straight.params());
  rng data_a(6);
  for (long long s = 0; s < 6; ++s) train_one(straight, opt, st_a, data_a, s, drop);

  model::causal_lm<float> first(c, 5);
  auto st_b = opt.init(first.params());
  rng data_b(6);
  for (long long s = 0; s < 3; ++s) train_one(first, opt, st_b, data_b, s, drop);
  const auto path = temp_path("resume.ckpt");
  io::train_state ts{3, 0, data_b.state(), {42, 7}, "{\"d_model\": 16}"};
  io::save_checkpoint<float>(path, first.params(), &st_b, ts);

  model::causal_lm<float> resumed(c, 99);  // other initial weights: all must come from the file
  optim::adamw::state<float> st_c;
  io::train_state loaded;
  io::load_checkpoint<float>(path, resumed.params(), &st_c, loaded);
  CHECK(loaded.step == 3);
  CHECK(loaded.cursor == std::vector<std::int64_t>{42, 7});
  CHECK(loaded.config == "{\"d_model\": 16}");
  rng data_c(0);
  data_c.set_state(loaded.rng);
  for (long long s = loaded.step; s < 6; ++s) train_one(resumed, opt, st_c, data_c, s, drop);

  const auto a = straight.params().values(), b = resumed.params().values();
  bool identical = true;
  for (index_t i = 0; i < a.size(); ++i) identical &= a[i] == b[i];
  CHECK(identical);
  std::remove(path.c_str());
}

TEST_CASE("checkpoint errors: truncated, another model, another precision, no optimizer", "[model][checkpoint]") {
  model::causal_lm_config c;
  c.vocab = 9;
  c.max_len = 4;
  c.d_model = 8;
  c.heads = 2;
  c.d_ff = 8;
  c.layers = 2;
  model::causal_lm<float> m(c, 1);
  const auto path = temp_path("errors.ckpt");
  io::save_checkpoint<float>(path, m.params(), nullptr, {});
  io::train_state ts;

  SECTION("a model with another architecture") {
    auto c3 = c;
    c3.layers = 3;
    model::causal_lm<float> other(c3, 1);
    CHECK_THROWS_WITH(io::load_checkpoint<float>(path, other.params(), nullptr, ts),
                      Catch::Contains("another model") && Catch::Contains("block.2"));
    auto cw = c;
    cw.d_ff = 16;
    model::causal_lm<float> wider(cw, 1);
    CHECK_THROWS_WITH(io::load_checkpoint<float>(path, wider.params(), nullptr, ts),
                      Catch::Contains("block.0.mlp.0.weight") && Catch::Contains("shape"));
  }
  SECTION("double model, float file") {
    model::causal_lm<double> dm(c, 1);
    CHECK_THROWS_WITH(io::load_checkpoint<double>(path, dm.params(), nullptr, ts), Catch::Contains("float32"));
  }
  SECTION("optimizer state asked for but absent") {
    optim::adamw::state<float> st;
    CHECK_THROWS_WITH(io::load_checkpoint<float>(path, m.params(), &st, ts), Catch::Contains("no optimizer state"));
  }
  SECTION("truncated file; the model keeps its weights") {
    const std::string full = io::read_file(path);
    { std::ofstream(path, std::ios::binary | std::ios::trunc) << full.substr(0, full.size() / 2); }
    const std::vector<float> before(m.params().values().begin(), m.params().values().end());
    CHECK_THROWS_AS(io::load_checkpoint<float>(path, m.params(), nullptr, ts), checkpoint_error);
    CHECK(std::equal(before.begin(), before.end(), m.params().values().begin()));
  }
  std::remove(path.c_str());
}

TEST_CASE("data-parallel shards: 1 and 2 threads give the same loss and gradients", "[model][causal_lm][threads]") {
  model::causal_lm_config c;
  c.vocab = 13;
  c.max_len = 6;
  c.d_model = 16;
  c.heads = 2;
  c.d_ff = 24;
  c.layers = 2;
  c.dropout = 0.2;
  model::causal_lm<float> m(c, 2);
  rng data(3);
  matrix<std::int32_t> tok, tgt;
  make_batch(data, 7, 6, 13, tok, tgt);  // 7 sequences: uneven shards
  tgt(2, 5) = -100;
  const rng drop(8);
  const int threads = max_threads();
  set_num_threads(1);
  m.params().zero_grad();
  const double l1 = m.train_step(tok, tgt, {&drop, 1});
  const std::vector<float> g1(m.params().grads().begin(), m.params().grads().end());
  set_num_threads(2);
  m.params().zero_grad();
  const double l2 = m.train_step(tok, tgt, {&drop, 1});
  set_num_threads(threads);
  CHECK(l2 == Approx(l1).epsilon(1e-6));
  CHECK(test::max_rel_diff(m.params().grads().data(), g1.data(), static_cast<index_t>(g1.size())) < 1e-5);
}
