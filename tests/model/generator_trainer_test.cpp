// The generator's training loop: a tiny model learns a synthetic next-item rule to
// near-perfect recall, and a run resumed from its checkpoint ends exactly where an
// uninterrupted run does.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>

#include <reg4rec/decode/beam_search.hpp>
#include <reg4rec/eval/evaluator.hpp>
#include <reg4rec/model/generator_trainer.hpp>

#include "decode/item_set_constraint.hpp"
#include "test_util.hpp"

using namespace reg4rec;

namespace {
// 40 items. Sequences are pairs [a, f(a), b, f(b), ...] with a drawn from items 0..19 and
// f(a) = 20 + (7a + 3) mod 20: an item's identity says whether it starts a pair, and the second
// item of a pair is determined by the first and by nothing else, so the test target (always
// some f(a)) can only be found from the last history item. SIDs: base-4 digits of the id.
struct rule_world {
  data::sequence_dataset dataset;
  matrix<std::int32_t> codes;
  rule_world() : codes(40, 3) {
    for (index_t i = 0; i < 40; ++i) {
      codes(i, 0) = static_cast<std::int32_t>(i / 16);
      codes(i, 1) = static_cast<std::int32_t>((i / 4) % 4);
      codes(i, 2) = static_cast<std::int32_t>(i % 4);
    }
    std::vector<std::string> users, items;
    for (int i = 0; i < 40; ++i) items.push_back(std::to_string(i));
    std::vector<index_t> offsets{0};
    std::vector<std::int32_t> seq;
    rng g(5);
    for (int u = 0; u < 300; ++u) {
      users.push_back(std::to_string(u));
      const index_t pairs = 3 + static_cast<index_t>(g.below(3));
      for (index_t k = 0; k < pairs; ++k) {
        const auto a = static_cast<std::int32_t>(g.below(20));
        seq.push_back(a);
        seq.push_back(20 + (7 * a + 3) % 20);
      }
      offsets.push_back(static_cast<index_t>(seq.size()));
    }
    dataset = data::sequence_dataset(data::id_map(users), data::id_map(items), offsets, seq);
  }
};

model::generator_config tiny_config(model::encoder_attention a) {
  model::generator_config c;
  c.d_model = 32;
  c.heads = 2;
  c.d_ff = 64;
  c.encoder_layers = 1;
  c.decoder_layers = 1;
  c.dropout = 0.0;
  c.max_history = 6;
  c.attention = a;
  return c;
}

// Quiet training options without validation: `epochs` epochs of 64-target batches.
model::generator_train_options quiet_options(index_t epochs) {
  model::generator_train_options o;
  o.epochs = epochs;
  o.batch_size = 64;
  o.log = nullptr;
  o.eval_every = 0;
  return o;
}
}  // namespace

TEST_CASE("the generator learns a next-item rule to near-perfect recall", "[model][trainer][training][slow]") {
  rule_world w;
  const data::leave_one_out_split split(w.dataset, {6});
  for (auto att : {model::encoder_attention::causal, model::encoder_attention::bidirectional}) {
    model::sid_generator<float> m(tiny_config(att), model::sid_layout::from_codes(w.codes), w.codes, 1);
    const test::item_set_constraint cons{&m.item_codes()};
    decode::beam_options bo;
    bo.beam = 5;
    bo.top_k = 10;
    const decode::beam_search<float, test::item_set_constraint> bs(m, cons, bo);
    eval::evaluator_options eo;
    eo.ks = {1, 10};
    auto validate = [&](const model::sid_generator<float>&) {
      const auto r = eval::evaluate(bs, split, data::stage::validation, eo);
      return model::validation_score{r.recall[1], r.ndcg[1]};
    };
    model::generator_train_options o;
    o.epochs = 30;
    o.batch_size = 64;
    o.lr = 3e-3;
    o.eval_every = 0;  // validation targets are the random half: nothing to select on
    o.log = nullptr;
    const auto hist = model::train_generator<float>(m, split, o, validate);
    INFO("attention " << int(att) << ": loss " << hist.epochs.front().loss << " → " << hist.epochs.back().loss);
    // Half the training targets are random (uniform over 20 items): the loss cannot reach 0.
    CHECK(hist.epochs.back().loss < 0.8 * hist.epochs.front().loss);
    const auto test = eval::evaluate(bs, split, data::stage::test, eo);
    CHECK(test.recall[0] > 0.95);  // Recall@1: the rule is deterministic
  }
}

TEST_CASE("all-prefix windows give every training target exactly one history ending just before it",
          "[model][trainer]") {
  // User u's sequence is items 0, 1, …, u + 2 (distinct, so an item names its position).
  std::vector<std::string> users, items;
  for (int i = 0; i < 20; ++i) items.push_back(std::to_string(i));
  std::vector<index_t> offsets{0};
  std::vector<std::int32_t> seq;
  for (int u = 0; u < 15; ++u) {
    users.push_back(std::to_string(u));
    for (int i = 0; i < u + 3; ++i) seq.push_back(i);
    offsets.push_back(static_cast<index_t>(seq.size()));
  }
  const data::sequence_dataset ds(data::id_map(users), data::id_map(items), offsets, seq);
  const data::leave_one_out_split split(ds, {1});
  const index_t H = 4;
  for (index_t stride : {1, 2, 3, 4}) {
    for (index_t u = 0; u < split.n_users(); ++u) {
      const auto s = split.train(u);
      if (s.size() < 2) continue;
      model::generator_batch b;
      model::detail::add_block(b, split, {u, 1, s.size() - 1}, H, model::encoder_attention::causal, stride);
      std::vector<int> seen(static_cast<std::size_t>(s.size()), 0);
      CHECK(b.decoders() == s.size() - 1);
      for (index_t j = 0; j < b.decoders(); ++j) {
        const index_t win = b.window[j], start = b.window_start[win], n = b.prefix[j], p = b.target[j];
        REQUIRE(p >= 1);
        REQUIRE(p < s.size());
        ++seen[static_cast<std::size_t>(p)];
        REQUIRE(n <= b.window_start[win + 1] - start);
        for (index_t q = 0; q < n; ++q) CHECK(b.items[static_cast<std::size_t>(start + q)] == p - n + q);
        if (p > H) {  // truncated: exactly H items with stride 1, H − S + 1 … H otherwise
          CHECK(n <= H);
          CHECK(n >= H - stride + 1);
          if (stride == 1) CHECK(n == H);
        } else {
          CHECK(n == p);
        }
      }
      for (index_t q = 1; q < s.size(); ++q) CHECK(seen[static_cast<std::size_t>(q)] == 1);
    }
  }
}

TEST_CASE("CRSS training order: the most confident free codebook first, a fixed tail last", "[model][trainer][crss]") {
  rule_world w;
  const data::leave_one_out_split split(w.dataset, {1});
  const auto cfg = tiny_config(model::encoder_attention::causal);
  const std::vector<index_t> sizes{3, 4, 4};
  using decode::confidence_measure;
  for (index_t tail : {0, 1})
  for (auto measure : {confidence_measure::max_probability, confidence_measure::margin, confidence_measure::neg_entropy}) {
    INFO("fixed tail " << tail << ", measure " << int(measure));
    const model::sid_generator<float> m(cfg, model::sid_layout(sizes, tail), w.codes, 4);
    model::generator_batch b;
    for (index_t u = 0; u < 4; ++u)
      model::detail::add_block(b, split, {u, 1, split.train(u).size() - 1}, cfg.max_history, cfg.attention, 1);
    workspace ws;
    model::confidence_order(m, b, ws, measure);
    REQUIRE(b.order.size() == static_cast<std::size_t>(3 * b.decoders()));
    // Step 0 from the BOS state alone: the free codebook whose best code is likeliest.
    std::vector<cspan<std::int32_t>> windows;
    for (index_t k = 0; k < b.windows(); ++k)
      windows.emplace_back(b.items.data() + b.window_start[k], b.window_start[k + 1] - b.window_start[k]);
    model::encoded_users<float> enc;
    m.encode(windows, enc, ws);
    model::decoder_state<float> st;
    m.start_decoding(st, b.decoders());
    std::vector<std::int32_t> cb(static_cast<std::size_t>(b.decoders()), -1), code(cb), limit(cb);
    for (index_t j = 0; j < b.decoders(); ++j) limit[j] = static_cast<std::int32_t>(b.prefix[j] * m.tokens_per_item());
    matrix<float> h(b.decoders(), cfg.d_model);
    m.decode_step(cb, code, b.window, enc, st, h, ws, limit);
    std::vector<matrix<float>> lp(3);
    for (index_t r = 0; r < 3; ++r) {
      lp[r].resize(b.decoders(), sizes[r]);
      m.log_probs(r, h, lp[r]);
    }
    for (index_t j = 0; j < b.decoders(); ++j) {
      const auto* o = b.order.data() + 3 * j;
      std::vector<std::int32_t> sorted(o, o + 3);
      std::sort(sorted.begin(), sorted.end());
      CHECK(sorted == std::vector<std::int32_t>{0, 1, 2});  // each codebook once
      if (tail == 1) CHECK(o[2] == 2);
      // Plain reference: each free codebook's confidence by the definition of the measure.
      auto conf = [&](index_t r) {
        std::vector<double> p(static_cast<std::size_t>(sizes[r]));
        for (index_t c = 0; c < sizes[r]; ++c) p[c] = std::exp(double(lp[r](j, c)));
        std::vector<double> sorted_p = p;
        std::sort(sorted_p.rbegin(), sorted_p.rend());
        if (measure == confidence_measure::max_probability) return sorted_p[0];
        if (measure == confidence_measure::margin) return sorted_p[0] - sorted_p[1];
        double h = 0;
        for (double q : p) h -= q * std::log(q);
        return -h;
      };
      index_t first = 0;
      for (index_t r = 1; r < 3 - tail; ++r)
        if (conf(r) > conf(first)) first = r;
      CHECK(o[0] == first);
    }
  }
}

TEST_CASE("training resumed from its checkpoint matches an uninterrupted run", "[model][trainer][checkpoint]") {
  rule_world w;
  const data::leave_one_out_split split(w.dataset, {6});
  auto cfg = tiny_config(model::encoder_attention::causal);
  cfg.dropout = 0.1;
  auto o = quiet_options(4);
  o.order = model::train_order::random;

  model::sid_generator<float> straight(cfg, model::sid_layout::from_codes(w.codes), w.codes, 2);
  model::train_generator<float>(straight, split, o);

  const std::string ckpt = "/tmp/reg4rec_trainer_" + std::to_string(::getpid()) + ".ckpt";
  auto interrupted = o;
  interrupted.checkpoint = ckpt;
  interrupted.epochs_this_run = 2;  // the process "stops" after two of the four epochs
  model::sid_generator<float> first(cfg, model::sid_layout::from_codes(w.codes), w.codes, 2);
  const auto h1 = model::train_generator<float>(first, split, interrupted);
  CHECK(h1.epochs.size() == 2);

  auto rest = o;
  rest.checkpoint = ckpt;
  rest.resume = true;
  model::sid_generator<float> resumed(cfg, model::sid_layout::from_codes(w.codes), w.codes, 99);  // weights from the file
  const auto h2 = model::train_generator<float>(resumed, split, rest);
  CHECK(h2.epochs.size() == 2);
  CHECK(h2.epochs.front().epoch == 3);

  const auto a = straight.params().values(), b = resumed.params().values();
  CHECK(std::equal(a.begin(), a.end(), b.begin()));
  std::remove(ckpt.c_str());
}

TEST_CASE("a weight average leaves training alone, is what the trainer returns, and resumes exactly",
          "[model][trainer][ema]") {
  rule_world w;
  const data::leave_one_out_split split(w.dataset, {6});
  auto cfg = tiny_config(model::encoder_attention::causal);
  cfg.dropout = 0.1;
  const auto o = quiet_options(3);
  auto make = [&](std::uint64_t seed) {
    return model::sid_generator<float>(cfg, model::sid_layout::from_codes(w.codes), w.codes, seed);
  };
  auto plain = make(2);
  model::train_generator<float>(plain, split, o);

  const std::string ckpt = "/tmp/reg4rec_trainer_ema_" + std::to_string(::getpid()) + ".ckpt";
  auto oe = o;
  oe.ema = 0.9;
  oe.checkpoint = ckpt;
  auto averaged = make(2);
  model::train_generator<float>(averaged, split, oe);
  // The checkpoint holds the raw weights: the very weights of the run without averaging.
  auto raw = make(77);
  io::train_state ts;
  io::load_checkpoint<float>(ckpt, raw.params(), nullptr, ts);
  const auto p = plain.params().values(), r = raw.params().values(), a = averaged.params().values();
  CHECK(std::equal(p.begin(), p.end(), r.begin()));
  // The trainer returns the average, which lies near the raw weights but is not them.
  CHECK_FALSE(std::equal(p.begin(), p.end(), a.begin()));
  double diff = 0, norm = 0;
  for (index_t i = 0; i < p.size(); ++i) {
    diff += double(p[i] - a[i]) * double(p[i] - a[i]);
    norm += double(p[i]) * double(p[i]);
  }
  CHECK(std::sqrt(diff) < 0.1 * std::sqrt(norm));

  // Interrupted after one epoch and resumed: the same average, bit for bit.
  auto first = oe;
  first.epochs_this_run = 1;
  auto part = make(2);
  model::train_generator<float>(part, split, first);
  auto rest = oe;
  rest.resume = true;
  auto resumed = make(99);
  model::train_generator<float>(resumed, split, rest);
  const auto b = resumed.params().values();
  CHECK(std::equal(a.begin(), a.end(), b.begin()));

  // Resuming with averaging from a checkpoint written without it is refused, naming the file.
  auto no_avg = o;
  no_avg.checkpoint = ckpt;
  no_avg.epochs_this_run = 1;
  std::remove((ckpt + ".ema").c_str());
  auto again = make(2);
  model::train_generator<float>(again, split, no_avg);
  auto bad = make(2);
  CHECK_THROWS_AS(model::train_generator<float>(bad, split, rest), checkpoint_error);
  std::remove(ckpt.c_str());
  std::remove((ckpt + ".ema").c_str());
}

TEST_CASE("hold_out = 1 trains exactly as on sequences without their last training item",
          "[model][trainer]") {
  rule_world w;
  // The same users with the last training item (third from the end) cut out of each sequence.
  std::vector<std::string> users, items;
  for (index_t u = 0; u < w.dataset.n_users(); ++u) users.push_back(std::to_string(u));
  for (int i = 0; i < 40; ++i) items.push_back(std::to_string(i));
  std::vector<index_t> offsets{0};
  std::vector<std::int32_t> seq;
  for (index_t u = 0; u < w.dataset.n_users(); ++u) {
    const auto s = w.dataset.sequence(u);
    for (index_t j = 0; j < s.size(); ++j)
      if (j != s.size() - 3) seq.push_back(s[j]);
    offsets.push_back(static_cast<index_t>(seq.size()));
  }
  const data::sequence_dataset cut(data::id_map(users), data::id_map(items), offsets, seq);
  const data::leave_one_out_split full_split(w.dataset, {6}), cut_split(cut, {6});
  REQUIRE(cut_split.train(0).size() + 1 == full_split.train(0).size());

  const auto cfg = tiny_config(model::encoder_attention::causal);
  const auto o = quiet_options(2);
  model::sid_generator<float> held(cfg, model::sid_layout::from_codes(w.codes), w.codes, 3);
  model::sid_generator<float> shortened(cfg, model::sid_layout::from_codes(w.codes), w.codes, 3);
  auto oh = o;
  oh.hold_out = 1;
  const auto hh = model::train_generator<float>(held, full_split, oh);
  const auto hs = model::train_generator<float>(shortened, cut_split, o);
  CHECK(hh.epochs.back().loss == hs.epochs.back().loss);
  const auto a = held.params().values(), b = shortened.params().values();
  CHECK(std::equal(a.begin(), a.end(), b.begin()));
  // ...and differently from training on the whole sequences.
  model::sid_generator<float> whole(cfg, model::sid_layout::from_codes(w.codes), w.codes, 3);
  model::train_generator<float>(whole, full_split, o);
  const auto c = whole.params().values();
  CHECK_FALSE(std::equal(a.begin(), a.end(), c.begin()));
}
