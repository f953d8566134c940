// The SID generator: gradients, all-prefix training against one prefix per sample, and the
// incremental decoding path against the training likelihood.
#include <catch2/catch.hpp>

#include <cmath>

#include <reg4rec/model/sid_generator.hpp>

#include "nn/gradcheck.hpp"
#include "test_util.hpp"

using namespace reg4rec;
using model::generator_batch;
using model::sid_generator;

namespace {
// 9 items with 3-token codes in codebooks of sizes 5, 4, 3.
matrix<std::int32_t> toy_codes() {
  matrix<std::int32_t> c(9, 3);
  c << 0, 0, 0, 1, 2, 1, 2, 1, 2, 3, 3, 0, 4, 0, 1, 0, 1, 2, 1, 3, 0, 2, 2, 1, 3, 0, 2;
  return c;
}

model::generator_config tiny(model::history_tokens t, model::encoder_attention a, double dropout) {
  model::generator_config c;
  c.d_model = 8;
  c.heads = 2;
  c.d_ff = 12;
  c.encoder_layers = 2;
  c.decoder_layers = 2;
  c.dropout = dropout;
  c.embedding_dropout = dropout;
  c.attention_dropout = 2 * dropout;
  c.embedding_scale = 1.6;  // every path (training, encoding, decoding steps) must apply it alike
  c.max_history = 5;
  c.tokens = t;
  c.attention = a;
  c.label_smoothing = 0.1;
  c.embedding_std = 0.5;
  return c;
}

// Two users: all-prefix windows (causal) or one window per decoder (bidirectional).
generator_batch toy_batch(model::encoder_attention a, bool random_order) {
  generator_batch b;
  const std::vector<std::int32_t> u0{1, 4, 2, 7}, u1{3, 8, 5};
  if (a == model::encoder_attention::causal) {
    const auto w0 = b.add_window(cspan<std::int32_t>(u0.data(), 3));
    b.add_decoder(w0, 1, 4);
    b.add_decoder(w0, 2, 2);
    b.add_decoder(w0, 3, 7);
    const auto w1 = b.add_window(cspan<std::int32_t>(u1.data(), 2));
    b.add_decoder(w1, 2, 5);
  } else {
    b.add_decoder(b.add_window(cspan<std::int32_t>(u0.data(), 2)), 2, 2);
    b.add_decoder(b.add_window(cspan<std::int32_t>(u1.data(), 2)), 2, 5);
  }
  if (random_order) {
    rng g(3);
    for (index_t j = 0; j < b.decoders(); ++j) {
      std::vector<std::int32_t> o{0, 1, 2};
      g.shuffle(o.begin(), o.end());
      b.order.insert(b.order.end(), o.begin(), o.end());
    }
  }
  return b;
}

// Through the decoding path, teacher-forced along `order`: lp(k, r) = log p(target's code in
// codebook r) at step k, for every codebook r.
matrix<double> teacher_forced_log_probs(const sid_generator<double>& m, const std::vector<std::int32_t>& hist,
                                        std::int32_t target, const std::vector<std::int32_t>& order) {
  const auto& codes = m.item_codes();
  const index_t M = m.codebooks();
  workspace ws;
  model::encoded_users<double> enc;
  m.encode({cspan<std::int32_t>(hist.data(), static_cast<index_t>(hist.size()))}, enc, ws);
  model::decoder_state<double> st;
  m.start_decoding(st, 1);
  const std::vector<std::int32_t> user{0};
  std::vector<std::int32_t> prev_cb{-1}, prev_code{-1};
  matrix<double> h(1, m.config().d_model), out(M, M);
  for (index_t k = 0; k < M; ++k) {
    m.decode_step(prev_cb, prev_code, user, enc, st, h, ws);
    for (index_t r = 0; r < M; ++r) {
      matrix<double> lp(1, m.layout().size(r));
      m.log_probs(r, h, lp);
      out(k, r) = lp(0, codes(target, r));
    }
    prev_cb[0] = order[k];
    prev_code[0] = codes(target, order[k]);
  }
  return out;
}

// Finite-difference check of every parameter's gradient of train_step on `batch`, with a
// fixed dropout stream (the same masks at every evaluation).
test::gradcheck_result check_train_step(sid_generator<double>& m, const generator_batch& batch) {
  const rng drop(2);
  return test::check_parameters(
      m.params(), [&] { return m.train_step(batch, {&drop, 5}); }, [&] { m.train_step(batch, {&drop, 5}); });
}
}  // namespace

TEST_CASE("sid generator: gradients under every tokenisation, attention and order policy",
          "[model][generator][gradcheck]") {
  const auto codes = toy_codes();
  for (auto t : {model::history_tokens::token_level, model::history_tokens::item_level})
    for (auto a : {model::encoder_attention::causal, model::encoder_attention::bidirectional})
      for (bool random_order : {false, true})
        for (bool ids : {false, true}) {
          if (ids && t == model::history_tokens::token_level) continue;
          auto cfg = tiny(t, a, 0.1);
          cfg.item_id_embedding = ids;
          sid_generator<double> m(cfg, model::sid_layout::from_codes(codes), codes, 7);
          const auto batch = toy_batch(a, random_order);
          const auto r = check_train_step(m, batch);
          INFO("tokens " << int(t) << " attention " << int(a) << " random order " << random_order << " item ids " << ids
                         << ": " << r.where);
          CHECK(r.rel_error < 1e-6);
        }
}

TEST_CASE("sid generator: the loss on the codebooks still to come", "[model][generator][gradcheck]") {
  const auto codes = toy_codes();
  for (bool random_order : {false, true})
    for (index_t tail : {0, 1}) {
      const auto cfg = tiny(model::history_tokens::item_level, model::encoder_attention::causal, 0.1);
      const auto sizes = model::sid_layout::from_codes(codes).sizes();
      sid_generator<double> m(cfg, model::sid_layout(sizes, tail), codes, 7);
      auto batch = toy_batch(model::encoder_attention::causal, random_order && tail == 0);
      const rng drop(2);
      auto loss_at = [&](float alpha) {
        batch.remaining_weight = alpha;
        m.params().zero_grad();
        return m.train_step(batch, {&drop, 5});
      };
      // Linear in α, and more than the emitted codebooks' loss: every decoder has free
      // codebooks to come at its first step.
      const double l0 = loss_at(0), l1 = loss_at(0.5), l2 = loss_at(1);
      INFO("random order " << random_order << ", fixed tail " << tail);
      CHECK(l1 > l0);
      CHECK(l2 - l0 == Approx(2 * (l1 - l0)).epsilon(1e-9));
      batch.remaining_weight = 0.5;
      const auto r = check_train_step(m, batch);
      INFO(r.where);
      CHECK(r.rel_error < 1e-6);
    }
  // By hand, through the decoding path (no dropout or smoothing): at each step k before the
  // fixed tail, the cross-entropy of every free codebook's head the order emits after k.
  for (index_t tail : {0, 1}) {
    auto cfg = tiny(model::history_tokens::item_level, model::encoder_attention::causal, 0.0);
    cfg.label_smoothing = 0.0;
    const auto sizes = model::sid_layout::from_codes(codes).sizes();
    sid_generator<double> m(cfg, model::sid_layout(sizes, tail), codes, 13);
    const index_t n_free = 3 - tail;
    const std::vector<std::int32_t> hist{3, 8, 5};
    const std::vector<std::int32_t> order = tail ? std::vector<std::int32_t>{1, 0, 2} : std::vector<std::int32_t>{2, 0, 1};
    const std::int32_t target = 6;
    generator_batch b;
    b.add_decoder(b.add_window(cspan<std::int32_t>(hist.data(), 3)), 3, target);
    b.order = order;
    b.remaining_weight = 0.75;
    const double train_loss = m.train_step(b);

    const auto lp = teacher_forced_log_probs(m, hist, target, order);
    double emitted = 0, later = 0;
    for (index_t k = 0; k < 3; ++k) {
      emitted -= lp(k, order[k]);
      for (index_t k2 = k + 1; k2 < 3; ++k2)
        if (k < n_free && order[k2] < n_free) later -= lp(k, order[k2]);
    }
    INFO("fixed tail " << tail);
    CHECK((emitted + 0.75 * later) / 3 == Approx(train_loss).epsilon(1e-10));
    CHECK(later > 0);
  }

  generator_batch bad = toy_batch(model::encoder_attention::causal, false);
  sid_generator<double> m(tiny(model::history_tokens::item_level, model::encoder_attention::causal, 0.0),
                          model::sid_layout::from_codes(codes), codes, 7);
  bad.remaining_weight = -1;
  CHECK_THROWS_WITH(m.train_step(bad), Catch::Contains("remaining_weight"));
  bad.remaining_weight = 1;
  bad.token_weight.assign(static_cast<std::size_t>(bad.decoders() * 3), 1.0f);
  CHECK_THROWS_WITH(m.train_step(bad), Catch::Contains("token_weight"));
}

TEST_CASE("sid generator: the item-id embedding tells apart items with the same codes", "[model][generator]") {
  auto codes = toy_codes();
  codes.row(8) = codes.row(1);  // items 1 and 8 share a tuple
  auto cfg = tiny(model::history_tokens::item_level, model::encoder_attention::causal, 0.0);
  const auto layout = model::sid_layout::from_codes(codes);
  const std::vector<std::int32_t> h1{3, 1}, h8{3, 8};
  auto encoded = [&](const sid_generator<double>& m, const std::vector<std::int32_t>& h) {
    workspace ws;
    model::encoded_users<double> enc;
    m.encode({cspan<std::int32_t>(h.data(), 2)}, enc, ws);
    return enc.kv[0];
  };
  const sid_generator<double> plain(cfg, layout, codes, 5);
  CHECK(encoded(plain, h1) == encoded(plain, h8));
  cfg.item_id_embedding = true;
  const sid_generator<double> ids(cfg, layout, codes, 5);
  CHECK((encoded(ids, h1) - encoded(ids, h8)).norm() > 1e-3);
  CHECK(ids.params().size() == plain.params().size() + 9 * cfg.d_model);
  cfg.tokens = model::history_tokens::token_level;
  CHECK_THROWS_WITH(sid_generator<double>(cfg, layout, codes, 5), Catch::Contains("item-level"));
}

TEST_CASE("all-prefix training equals one prefix per sample with a causal encoder", "[model][generator]") {
  const auto codes = toy_codes();
  const auto cfg = tiny(model::history_tokens::token_level, model::encoder_attention::causal, 0.0);
  sid_generator<double> m(cfg, model::sid_layout::from_codes(codes), codes, 11);
  const std::vector<std::int32_t> seq{1, 4, 2, 7, 6};
  generator_batch all, each;
  const auto w = all.add_window(cspan<std::int32_t>(seq.data(), 4));
  for (index_t p = 1; p <= 4; ++p) {
    all.add_decoder(w, p, seq[p]);
    each.add_decoder(each.add_window(cspan<std::int32_t>(seq.data(), p)), p, seq[p]);
  }
  m.params().zero_grad();
  const double la = m.train_step(all);
  const std::vector<double> ga(m.params().grads().begin(), m.params().grads().end());
  m.params().zero_grad();
  const double le = m.train_step(each);
  CHECK(la == Approx(le).epsilon(1e-12));
  CHECK(test::max_rel_diff(m.params().grads().data(), ga.data(), static_cast<index_t>(ga.size())) < 1e-10);
}

TEST_CASE("teacher-forced decoding steps reproduce the training likelihood", "[model][generator]") {
  const auto codes = toy_codes();
  for (auto t : {model::history_tokens::token_level, model::history_tokens::item_level})
    for (auto a : {model::encoder_attention::causal, model::encoder_attention::bidirectional}) {
      auto cfg = tiny(t, a, 0.0);
      cfg.label_smoothing = 0.0;
      cfg.item_id_embedding = t == model::history_tokens::item_level;
      sid_generator<double> m(cfg, model::sid_layout::from_codes(codes), codes, 13);
      const std::vector<std::int32_t> hist{3, 8, 5}, order{2, 0, 1};
      const std::int32_t target = 6;
      generator_batch b;
      b.add_decoder(b.add_window(cspan<std::int32_t>(hist.data(), 3)), 3, target);
      b.order = order;
      const double train_loss = m.train_step(b);

      const auto lp = teacher_forced_log_probs(m, hist, target, order);
      double nll = 0;
      for (index_t k = 0; k < 3; ++k) nll -= lp(k, order[k]);
      INFO("tokens " << int(t) << " attention " << int(a));
      CHECK(nll / 3 == Approx(train_loss).epsilon(1e-10));
    }
}

TEST_CASE("sid generator: bad batches and codes are refused with the reason", "[model][generator]") {
  auto codes = toy_codes();
  const auto cfg = tiny(model::history_tokens::token_level, model::encoder_attention::causal, 0.0);
  sid_generator<float> m(cfg, model::sid_layout::from_codes(codes), codes, 1);
  generator_batch b;
  const std::vector<std::int32_t> its{1, 2};
  const auto w = b.add_window(cspan<std::int32_t>(its.data(), 2));
  b.add_decoder(w, 3, 4);
  CHECK_THROWS_WITH(m.train_step(b), Catch::Contains("prefix 3"));
  b.prefix[0] = 2;
  b.target[0] = 42;
  CHECK_THROWS_WITH(m.train_step(b), Catch::Contains("unknown target item 42"));
  codes(3, 1) = 9;
  CHECK_THROWS_WITH(sid_generator<float>(cfg, model::sid_layout(std::vector<index_t>{5, 4, 3}), codes, 1),
                    Catch::Contains("item 3 has code 9"));
}

TEST_CASE("sid generator: save and load give the same model", "[model][generator]") {
  const auto codes = toy_codes();
  auto cfg = tiny(model::history_tokens::item_level, model::encoder_attention::bidirectional, 0.1);
  cfg.item_id_embedding = true;
  const model::sid_layout layout(model::sid_layout::from_codes(codes).sizes(), 1);  // a dedup-token tail
  sid_generator<float> m(cfg, layout, codes, 21);
  const std::string path = "/tmp/reg4rec_gen_" + std::to_string(::getpid()) + ".bin";
  m.save(path);
  auto l = sid_generator<float>::load(path);
  CHECK(l.layout() == layout);
  CHECK(l.layout().free_codebooks() == 2);
  CHECK(l.config().tokens == cfg.tokens);
  CHECK(l.config().attention_dropout == cfg.attention_dropout);
  CHECK(l.config().embedding_scale == cfg.embedding_scale);
  CHECK(l.config().item_id_embedding);
  CHECK(l.item_codes() == codes);
  const auto a = m.params().values(), b = l.params().values();
  CHECK(std::equal(a.begin(), a.end(), b.begin()));
  std::remove(path.c_str());
}

TEST_CASE("sid generator: the reflection head's loss, gradients and saved weights", "[model][generator][reflection]") {
  const auto codes = toy_codes();
  // Gradients vs finite differences under both tokenisations and attentions.
  for (auto t : {model::history_tokens::token_level, model::history_tokens::item_level})
    for (auto a : {model::encoder_attention::causal, model::encoder_attention::bidirectional})
      for (bool vectors : {false, true}) {
        auto cfg = tiny(t, a, 0.1);
        cfg.reflection_weight = 0.7;
        cfg.reflection_item_vectors = vectors;
        sid_generator<double> m(cfg, model::sid_layout::from_codes(codes), codes, 7);
        REQUIRE(m.has_reflection());
        const auto batch = toy_batch(a, true);
        const auto r = check_train_step(m, batch);
        INFO("tokens " << int(t) << " attention " << int(a) << " item vectors " << vectors << ": " << r.where);
        CHECK(r.rel_error < 1e-6);
      }
  // By hand: the loss adds β·(−log softmax_i(h·e_i) at the target) per decoder, over the
  // batch's token count, with h the encoder state of the decoder's prefix (encode() on the
  // prefix alone) and e_i the sum of the item's reflection token vectors (+ its own vector).
  for (auto t : {model::history_tokens::token_level, model::history_tokens::item_level}) {
    auto cfg = tiny(t, model::encoder_attention::causal, 0.0);
    cfg.label_smoothing = 0.0;
    const double beta = 1.5;
    cfg.reflection_weight = beta;
    cfg.reflection_item_vectors = t == model::history_tokens::item_level;
    sid_generator<double> m(cfg, model::sid_layout::from_codes(codes), codes, 13);
    auto plain_cfg = cfg;
    plain_cfg.reflection_weight = 0;
    plain_cfg.reflection_item_vectors = false;
    sid_generator<double> plain(plain_cfg, model::sid_layout::from_codes(codes), codes, 13);
    // Same weights for the shared parameters: copy them by name.
    for (const auto& e : plain.params().entries()) {
      const auto& src = m.params().find(e.name);
      std::copy_n(m.params().values().data() + src.offset, e.rows * e.cols, plain.params().values().data() + e.offset);
    }
    const auto batch = toy_batch(model::encoder_attention::causal, false);
    const double with = m.train_step(batch), without = plain.train_step(batch);
    double item_nll = 0;
    for (index_t j = 0; j < batch.decoders(); ++j) {
      const index_t w = batch.window[j];
      const std::vector<std::int32_t> prefix(batch.items.begin() + batch.window_start[w],
                                             batch.items.begin() + batch.window_start[w] + batch.prefix[j]);
      workspace ws;
      model::encoded_users<double> enc;
      m.encode({cspan<std::int32_t>(prefix.data(), static_cast<index_t>(prefix.size()))}, enc, ws);
      std::vector<std::int32_t> all(9);
      for (std::int32_t i = 0; i < 9; ++i) all[i] = i;
      std::vector<double> s(9);
      m.reflection_scores(enc, 0, all, s);
      double mx = *std::max_element(s.begin(), s.end()), z = 0;
      for (double v : s) z += std::exp(v - mx);
      item_nll -= s[batch.target[j]] - mx - std::log(z);
    }
    INFO("tokens " << int(t));
    CHECK(with - without == Approx(beta * item_nll / double(batch.decoders() * 3)).epsilon(1e-10));
    CHECK(m.params().size() == plain.params().size() + (m.layout().vocabulary() + (cfg.reflection_item_vectors ? 9 : 0)) * cfg.d_model);
  }
  // Saved and loaded with the model; bad weights and a missing head refused.
  auto cfg = tiny(model::history_tokens::item_level, model::encoder_attention::causal, 0.1);
  cfg.reflection_weight = 0.25;
  cfg.reflection_item_vectors = true;
  sid_generator<float> m(cfg, model::sid_layout::from_codes(codes), codes, 21);
  const std::string path = "/tmp/reg4rec_gen_refl_" + std::to_string(::getpid()) + ".bin";
  m.save(path);
  auto l = sid_generator<float>::load(path);
  CHECK(l.config().reflection_weight == 0.25);
  CHECK(l.config().reflection_item_vectors);
  const auto a = m.params().values(), b = l.params().values();
  CHECK(std::equal(a.begin(), a.end(), b.begin()));
  std::remove(path.c_str());
  cfg.reflection_weight = -1;
  CHECK_THROWS_WITH(sid_generator<float>(cfg, model::sid_layout::from_codes(codes), codes, 1),
                    Catch::Contains("reflection_weight"));
  cfg.reflection_weight = 0;
  CHECK_THROWS_WITH(sid_generator<float>(cfg, model::sid_layout::from_codes(codes), codes, 1),
                    Catch::Contains("reflection_item_vectors needs"));
  cfg.reflection_item_vectors = false;
  const sid_generator<float> none(cfg, model::sid_layout::from_codes(codes), codes, 1);
  CHECK_FALSE(none.has_reflection());
  workspace ws;
  model::encoded_users<float> enc;
  const std::vector<std::int32_t> h{1, 2};
  none.encode({cspan<std::int32_t>(h.data(), 2)}, enc, ws);
  std::vector<float> out(1);
  CHECK_THROWS_WITH(none.reflection_scores(enc, 0, cspan<std::int32_t>(h.data(), 1), out), Catch::Contains("reflection head"));
}

TEST_CASE("sid generator: a tied reflection head scores with the input tables", "[model][generator][reflection]") {
  const auto codes = toy_codes();
  // Gradients vs finite differences: the shared tables get the encoder's, the decoder's and
  // the head's gradients at once (token-level: tok only; item-level: tok and item).
  for (auto t : {model::history_tokens::token_level, model::history_tokens::item_level})
    for (auto a : {model::encoder_attention::causal, model::encoder_attention::bidirectional}) {
      auto cfg = tiny(t, a, 0.1);
      cfg.reflection_weight = 0.7;
      cfg.item_id_embedding = cfg.reflection_item_vectors = t == model::history_tokens::item_level;
      cfg.reflection_tied = true;
      sid_generator<double> m(cfg, model::sid_layout::from_codes(codes), codes, 7);
      const auto batch = toy_batch(a, true);
      const auto r = check_train_step(m, batch);
      INFO("tokens " << int(t) << " attention " << int(a) << ": " << r.where);
      CHECK(r.rel_error < 1e-6);
    }
  // No tables of its own; the score of item i is h·(Σ_r tok[token(r, c_i,r)] + item[i]).
  auto cfg = tiny(model::history_tokens::item_level, model::encoder_attention::causal, 0.1);
  cfg.item_id_embedding = true;
  auto plain_cfg = cfg;
  cfg.reflection_weight = 0.25;
  cfg.reflection_item_vectors = cfg.reflection_tied = true;
  sid_generator<float> m(cfg, model::sid_layout::from_codes(codes), codes, 21);
  const sid_generator<float> plain(plain_cfg, model::sid_layout::from_codes(codes), codes, 21);
  CHECK(m.params().size() == plain.params().size());
  CHECK_THROWS(m.params().find("reflect.tok.weight"));
  workspace ws;
  model::encoded_users<float> enc;
  const std::vector<std::int32_t> h{1, 2, 6};
  m.encode({cspan<std::int32_t>(h.data(), 3)}, enc, ws);
  std::vector<std::int32_t> all(9);
  for (std::int32_t i = 0; i < 9; ++i) all[i] = i;
  std::vector<float> s(9);
  m.reflection_scores(enc, 0, all, s);
  const auto table = [&](const char* name, index_t row, index_t col) {
    const auto& e = m.params().find(name);
    return double(m.params().values()[e.offset + row * e.cols + col]);
  };
  for (std::int32_t i = 0; i < 9; ++i) {
    double want = 0;
    for (index_t j = 0; j < cfg.d_model; ++j) {
      double e = table("item.weight", i, j);
      for (index_t r = 0; r < 3; ++r) e += table("tok.weight", m.layout().token(r, codes(i, r)), j);
      want += double(enc.state(0, j)) * e;
    }
    CHECK(s[i] == Approx(want).epsilon(1e-5));
  }
  // Saved and loaded tied; a half-tied configuration is refused.
  const std::string path = "/tmp/reg4rec_gen_tied_" + std::to_string(::getpid()) + ".bin";
  m.save(path);
  auto l = sid_generator<float>::load(path);
  CHECK(l.config().reflection_tied);
  const auto a = m.params().values(), b = l.params().values();
  CHECK(std::equal(a.begin(), a.end(), b.begin()));
  std::remove(path.c_str());
  cfg.reflection_item_vectors = false;
  CHECK_THROWS_WITH(sid_generator<float>(cfg, model::sid_layout::from_codes(codes), codes, 1),
                    Catch::Contains("reflection_tied needs"));
}
