// Attention, transformer blocks and the KV cache: gradient checks for every mask type and
// source, a whole 2 + 2 encoder–decoder, and incremental decoding against the full forward.
#include <catch2/catch.hpp>

#include <reg4rec/loss.hpp>
#include <reg4rec/nn.hpp>

#include "nn/gradcheck.hpp"
#include "test_util.hpp"

using namespace reg4rec;
using test::random_matrix;

namespace {
double weighted(const matrix<double>& y, const matrix<double>& w) { return (y.array() * w.array()).sum(); }

// A self-attention layer (d 8, 2 heads) with inputs for 3 sequences of length 5, weights w
// of a linear loss, and output buffers.
struct attention_case {
  nn::parameter_store<double> ps;
  nn::self_attention<double> att{ps, "att", 8, 2};
  nn::self_attention<double>::activations a;
  matrix<double> x = random_matrix<double>(15, 8, 2), w = random_matrix<double>(15, 8, 3), y{15, 8}, dx{15, 8};
  attention_case() {
    rng g(1);
    att.init(g);
  }
};

// Runs the gradient check of a self-attention layer under `mask` on 3 sequences of length 5.
template <class Mask>
void check_self_attention(const Mask& mask, const char* label) {
  attention_case t;
  auto& ps = t.ps;
  auto& att = t.att;
  auto& a = t.a;
  auto &x = t.x, &w = t.w, &y = t.y, &dx = t.dx;
  auto loss = [&] {
    att.forward(x, 5, mask, y, a);
    return weighted(y, w);
  };
  auto back = [&] {
    loss();
    att.backward(x, 5, w, dx, a);
  };
  const auto r = test::check_parameters(ps, loss, back);
  INFO(label << ": " << r.where);
  CHECK(r.rel_error < 1e-6);
  back();
  CHECK(test::relative_error(dx.data(), test::numeric_gradient(x.data(), x.size(), loss)) < 1e-6);
  // Inference path gives the same output.
  workspace ws;
  matrix<double> yi(15, 8);
  att.infer(x, 5, mask, yi, ws);
  att.forward(x, 5, mask, y, a);
  CHECK((yi - y).cwiseAbs().maxCoeff() < 1e-12);
}
}  // namespace

TEST_CASE("self-attention: gradients under every mask policy", "[nn][attention][gradcheck]") {
  check_self_attention(nn::causal_mask{}, "causal");
  check_self_attention(nn::bidirectional_mask{}, "bidirectional");
  const std::vector<std::int32_t> lengths{5, 3, 1};
  check_self_attention(nn::padding_mask{lengths, false}, "padding");
  check_self_attention(nn::padding_mask{lengths, true}, "padding + causal");
  // Arbitrary per-query prefixes, including an empty one (that query outputs zeros).
  const std::vector<std::int32_t> limits{1, 2, 0, 5, 3, 5, 5, 5, 5, 5, 2, 2, 1, 4, 3};
  check_self_attention(nn::prefix_mask{limits, 5}, "prefix");
}

TEST_CASE("self-attention: dropout on the probabilities", "[nn][attention][gradcheck]") {
  attention_case t;
  auto& ps = t.ps;
  auto& att = t.att;
  auto& a = t.a;
  auto &x = t.x, &w = t.w, &y = t.y, &dx = t.dx;
  const rng drop(5);
  const nn::dropout_stream ds{&drop, 11, 0};
  const double p = 0.4;
  auto loss = [&] {
    att.forward(x, 5, nn::causal_mask{}, y, a, p, ds);
    return weighted(y, w);
  };
  auto back = [&] {
    loss();
    att.backward(x, 5, w, dx, a);
  };
  // The mask is fixed by the stream, so finite differences see one smooth function; the
  // backward must apply it both to dV (through P ⊙ M) and to dP.
  const auto r = test::check_parameters(ps, loss, back);
  INFO(r.where);
  CHECK(r.rel_error < 1e-6);
  back();
  CHECK(test::relative_error(dx.data(), test::numeric_gradient(x.data(), x.size(), loss)) < 1e-6);

  // M holds 0 or 1/(1 − p), zero outside each query's keys, and drops about p of the rest.
  loss();
  const auto m = a.drop_mask.as_span();
  index_t inside = 0, dropped = 0;
  for (index_t t = 0; t < 3 * 2; ++t)
    for (index_t i = 0; i < 5; ++i)
      for (index_t j = 0; j < 5; ++j) {
        const double v = m[(t * 5 + i) * 5 + j];
        if (j > i) {
          CHECK(v == 0.0);
          continue;
        }
        ++inside;
        dropped += v == 0.0;
        CHECK((v == 0.0 || std::abs(v - 1.0 / (1.0 - p)) < 1e-12));
      }
  CHECK(dropped > inside / 6);
  CHECK(dropped < inside * 2 / 3);
  // It changes the output; the inference path has none.
  workspace ws;
  matrix<double> yi(15, 8);
  att.infer(x, 5, nn::causal_mask{}, yi, ws);
  CHECK((yi - y).cwiseAbs().maxCoeff() > 1e-3);

  // A sequence's mask depends on its global index, not on the shard it was computed in: the
  // last sequence alone, with row_offset 10, gives the rows of the batch of three.
  nn::self_attention<double>::activations a1;
  matrix<double> y1(5, 8);
  att.forward(x.bottomRows(5), 5, nn::causal_mask{}, y1, a1, p, nn::dropout_stream{&drop, 11, 10});
  CHECK((y1 - y.bottomRows(5)).cwiseAbs().maxCoeff() < 1e-12);
}

TEST_CASE("masks: a query never sees keys outside its range", "[nn][attention]") {
  // Changing a key beyond a query's range must not change that query's output.
  nn::parameter_store<double> ps;
  nn::self_attention<double> att(ps, "att", 8, 2);
  rng g(3);
  att.init(g);
  workspace ws;
  matrix<double> x = random_matrix<double>(6, 8, 1), y1(6, 8), y2(6, 8);
  att.infer(x, 6, nn::causal_mask{}, y1, ws);
  x.row(4) *= -3.0;
  att.infer(x, 6, nn::causal_mask{}, y2, ws);
  CHECK((y1.topRows(4) - y2.topRows(4)).cwiseAbs().maxCoeff() == 0.0);
  CHECK((y1.row(5) - y2.row(5)).cwiseAbs().maxCoeff() > 1e-6);
}

TEST_CASE("cross-attention: gradients with query sequences sharing a memory", "[nn][attention][gradcheck]") {
  nn::parameter_store<double> ps;
  nn::cross_attention<double> att(ps, "cross", 8, 6, 2);
  rng g(1);
  att.init(g);
  nn::cross_attention<double>::activations a;
  // 4 decoder sequences of 3 rows; 2 memories of 5 rows; decoders 0, 1, 3 read memory 0.
  const std::vector<std::int32_t> kv_of_q{0, 0, 1, 0};
  const std::vector<std::int32_t> limits{1, 1, 1, 2, 2, 2, 5, 5, 5, 4, 0, 4};
  const nn::prefix_mask mask{limits, 3};
  matrix<double> x = random_matrix<double>(12, 8, 2), mem = random_matrix<double>(10, 6, 3);
  matrix<double> w = random_matrix<double>(12, 8, 4), y(12, 8), dx(12, 8), dmem(10, 6);
  auto loss = [&] {
    att.forward(x, 3, mem, 5, kv_of_q, mask, y, a);
    return weighted(y, w);
  };
  auto back = [&] {
    loss();
    dmem.setZero();
    att.backward(x, 3, mem, 5, kv_of_q, w, dx, dmem, a);
  };
  const auto r = test::check_parameters(ps, loss, back);
  INFO(r.where);
  CHECK(r.rel_error < 1e-6);
  back();
  CHECK(test::relative_error(dx.data(), test::numeric_gradient(x.data(), x.size(), loss)) < 1e-6);
  CHECK(test::relative_error(dmem.data(), test::numeric_gradient(mem.data(), mem.size(), loss)) < 1e-6);
  // Inference with the memory projected once gives the same output.
  workspace ws;
  matrix<double> kv(10, 16), yi(12, 8);
  att.project_memory(mem, kv);
  att.infer(x, 3, kv, 5, kv_of_q, mask, yi, ws);
  att.forward(x, 3, mem, 5, kv_of_q, mask, y, a);
  CHECK((yi - y).cwiseAbs().maxCoeff() < 1e-12);
  const std::vector<std::int32_t> bad{0, 2, 1, 0};
  CHECK_THROWS_WITH(att.forward(x, 3, mem, 5, bad, mask, y, a), Catch::Contains("kv_of_q[1] = 2"));
}

// The whole model of the generative recommender in miniature: embeddings → 2 encoder blocks
// → 2 decoder blocks reading the memory → final norm → output layer → cross-entropy (with
// ignore index, row weights and label smoothing).
template <class EncMask>
void check_encoder_decoder(const EncMask& enc_mask, bool prefix_cross, double dropout, const char* label) {
  nn::parameter_store<double> ps;
  nn::block_config c{8, 2, 16, dropout, true};
  nn::embedding<double> tok(ps, "tok", 7, 8);
  nn::encoder_block<double> e0(ps, "enc.0", c), e1(ps, "enc.1", c);
  nn::decoder_block<double> d0(ps, "dec.0", c), d1(ps, "dec.1", c);
  nn::layer_norm<double> lnf(ps, "ln_f", 8);
  nn::linear<double> head(ps, "head", 8, 7);
  rng g(11);
  tok.init(g, 1.0);
  e0.init(g);
  e1.init(g);
  d0.init(g);
  d1.init(g);
  lnf.init();
  head.init(g);

  // 2 users × 4 history tokens; 3 decoder sequences × 3 tokens; decoders 0, 1 → user 0.
  const std::vector<std::int32_t> src{1, 2, 3, 4, 5, 6, 2, 1};
  const std::vector<std::int32_t> tgt_in{0, 3, 4, 0, 5, 6, 0, 1, 2};
  const std::vector<std::int32_t> targets{3, 4, -100, 5, 6, 1, 1, 2, 3};
  const std::vector<double> row_w{1, 0.5, 1, 2, 1, 1, -0.5, 1, 1};
  const std::vector<std::int32_t> kv_of_q{0, 0, 1};
  const std::vector<std::int32_t> limits{2, 2, 2, 4, 4, 4, 3, 3, 3};
  loss::cross_entropy_options ce;
  ce.label_smoothing = 0.1;

  nn::encoder_block<double>::activations ea0, ea1;
  nn::decoder_block<double>::activations da0, da1;
  matrix<double> xs(8, 8), h0(8, 8), mem(8, 8), xt(9, 8), z0(9, 8), z1(9, 8), zn(9, 8), logits(9, 7);
  std::vector<double> mean(9), rstd(9);
  rng drop_gen(5);
  auto forward = [&] {
    tok.forward(src, xs);
    e0.forward(xs, 4, enc_mask, h0, ea0, {&drop_gen, 1});
    e1.forward(h0, 4, enc_mask, mem, ea1, {&drop_gen, 2});
    tok.forward(tgt_in, xt);
    if (prefix_cross) {
      const nn::prefix_mask cm{limits, 3};
      d0.forward(xt, 3, mem, 4, kv_of_q, cm, z0, da0, {&drop_gen, 3});
      d1.forward(z0, 3, mem, 4, kv_of_q, cm, z1, da1, {&drop_gen, 4});
    } else {
      d0.forward(xt, 3, mem, 4, kv_of_q, nn::bidirectional_mask{}, z0, da0, {&drop_gen, 3});
      d1.forward(z0, 3, mem, 4, kv_of_q, nn::bidirectional_mask{}, z1, da1, {&drop_gen, 4});
    }
    lnf.forward(z1, zn, mean, rstd);
    head.forward(zn, logits);
    return loss::cross_entropy<double>(logits, targets, row_w, ce);
  };
  auto backward = [&] {
    forward();  // logits now hold dL/dlogits
    matrix<double> dzn(9, 8), dz1(9, 8), dz0(9, 8), dxt(9, 8), dmem = matrix<double>::Zero(8, 8), dh0(8, 8), dxs(8, 8);
    head.backward(zn, logits, dzn);
    lnf.backward(z1, mean, rstd, dzn, dz1);
    d1.backward(z0, 3, mem, 4, kv_of_q, dz1, dz0, dmem, da1);
    d0.backward(xt, 3, mem, 4, kv_of_q, dz0, dxt, dmem, da0);
    tok.backward(tgt_in, dxt);
    e1.backward(h0, 4, dmem, dh0, ea1);
    e0.backward(xs, 4, dh0, dxs, ea0);
    tok.backward(src, dxs);
  };
  const auto r = test::check_parameters(ps, forward, backward);
  INFO(label << ": worst parameter " << r.where << " rel error " << r.rel_error);
  CHECK(r.rel_error < 1e-6);
  CHECK(r.analytic_norm > 0);
}

TEST_CASE("2 + 2 encoder–decoder: gradients under every mask type", "[nn][transformer][gradcheck]") {
  check_encoder_decoder(nn::causal_mask{}, true, 0.0, "causal encoder, prefix cross (all-prefix training)");
  check_encoder_decoder(nn::bidirectional_mask{}, false, 0.0, "bidirectional encoder");
  const std::vector<std::int32_t> lengths{4, 3};
  check_encoder_decoder(nn::padding_mask{lengths, false}, false, 0.0, "padded encoder");
  check_encoder_decoder(nn::causal_mask{}, true, 0.2, "with dropout 0.2");
}

TEST_CASE("decoder block: incremental decoding with the KV cache equals the full forward", "[nn][kv_cache]") {
  nn::parameter_store<float> ps;
  nn::block_config c{16, 4, 32, 0.0, true};
  nn::decoder_block<float> dec(ps, "dec", c);
  rng g(3);
  dec.init(g);
  // 3 sequences of 5 steps attending to 2 memories of 6 rows.
  const std::vector<std::int32_t> kv_of_q{0, 1, 1};
  const auto mem = random_matrix<float>(12, 16, 1);
  const auto x = random_matrix<float>(15, 16, 2);
  matrix<float> full(15, 16);
  nn::decoder_block<float>::activations a;
  dec.forward(x, 5, mem, 6, kv_of_q, nn::bidirectional_mask{}, full, a);

  workspace ws;
  matrix<float> kv(12, 32);
  dec.cross.project_memory(mem, kv);
  nn::kv_cache<float> cache;
  cache.reset(3, 5, 16);
  double worst = 0;
  for (index_t t = 0; t < 5; ++t) {
    matrix<float> xt(3, 16), yt(3, 16);
    for (index_t s = 0; s < 3; ++s) xt.row(s) = x.row(s * 5 + t);
    dec.step(xt, cache, kv, 6, kv_of_q, nn::bidirectional_mask{}, yt, ws);
    for (index_t s = 0; s < 3; ++s) worst = std::max(worst, double((yt.row(s) - full.row(s * 5 + t)).cwiseAbs().maxCoeff()));
  }
  CHECK(worst < 1e-5);
}

TEST_CASE("KV cache reorder follows beam parents", "[nn][kv_cache]") {
  nn::parameter_store<float> ps;
  nn::self_attention<float> att(ps, "att", 8, 2);
  rng g(5);
  att.init(g);
  workspace ws;
  const auto x = random_matrix<float>(3 * 4, 8, 7);  // 3 sequences × 4 steps
  auto row = [&](index_t s, index_t t) { return x.row(s * 4 + t); };
  nn::kv_cache<float> cache;
  cache.reset(3, 4, 8);
  matrix<float> xt(3, 8), yt(3, 8);
  for (index_t t = 0; t < 2; ++t) {
    for (index_t s = 0; s < 3; ++s) xt.row(s) = row(s, t);
    att.step(xt, cache, yt, ws);
  }
  // Beam step: new sequences take the caches of old sequences 2, 0, 2.
  const std::vector<std::int32_t> parent{2, 0, 2};
  cache.reorder(parent);
  for (index_t s = 0; s < 3; ++s) xt.row(s) = row(parent[s], 2);
  att.step(xt, cache, yt, ws);
  // Reference: the full causal forward of each parent's 3 positions.
  for (index_t s = 0; s < 3; ++s) {
    matrix<float> seq(3, 8), out(3, 8);
    for (index_t t = 0; t < 3; ++t) seq.row(t) = row(parent[s], t);
    att.infer(seq, 3, nn::causal_mask{}, out, ws);
    CHECK((out.row(2) - yt.row(s)).cwiseAbs().maxCoeff() < 1e-5);
  }
  const std::vector<std::int32_t> bad{3};
  CHECK_THROWS_AS(cache.reorder(bad), value_error);
}
