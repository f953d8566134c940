// Inference on a trained model is const and safe from several threads at once: two threads
// run constrained beam search (one-user and batch APIs) and SASRec scoring over the same
// models concurrently, and every result equals the serial one.
#include <catch2/catch.hpp>

#include <thread>
#include <vector>

#include <reg4rec/decode/beam_search.hpp>
#include <reg4rec/decode/constraints.hpp>
#include <reg4rec/model/generator_trainer.hpp>
#include <reg4rec/model/sasrec.hpp>
#include <reg4rec/quant/prefix_trie.hpp>

#include "robustness/robustness_util.hpp"

using namespace reg4rec;

namespace {

// 12 items with distinct two-token SIDs (codebooks of 4 and 3 codes).
matrix<std::int32_t> codes12() {
  matrix<std::int32_t> c(12, 2);
  for (index_t i = 0; i < 12; ++i) {
    c(i, 0) = static_cast<std::int32_t>(i / 3);
    c(i, 1) = static_cast<std::int32_t>(i % 3);
  }
  return c;
}

bool same(const decode::recommendation& a, const decode::recommendation& b) {
  if (a.items != b.items || a.scores.size() != b.scores.size() || a.paths.size() != b.paths.size()) return false;
  for (std::size_t k = 0; k < a.scores.size(); ++k)
    if (a.scores[k] != b.scores[k]) return false;
  for (std::size_t k = 0; k < a.paths.size(); ++k) {
    if (a.paths[k].size() != b.paths[k].size()) return false;
    for (std::size_t t = 0; t < a.paths[k].size(); ++t)
      if (a.paths[k][t].codebook != b.paths[k][t].codebook || a.paths[k][t].code != b.paths[k][t].code) return false;
  }
  return true;
}

}  // namespace

TEST_CASE("two threads decoding the same trained generator get the serial results", "[robustness][threads]") {
  const auto ds = test::synthetic_dataset(60, 12, 21);
  const data::leave_one_out_split split(ds, {6});
  const auto codes = codes12();
  model::generator_config gc = test::tiny_generator_config();
  gc.max_history = 6;
  model::sid_generator<float> gen(gc, model::sid_layout::from_codes(codes), codes, 4);
  model::generator_train_options to;
  to.epochs = 2;
  to.batch_size = 32;
  to.eval_every = 0;
  to.log = nullptr;
  model::train_generator<float>(gen, split, to);

  const auto trie = quant::prefix_trie::build(codes);
  const decode::trie_constraint tc(trie);
  decode::beam_options bo;
  bo.beam = 4;
  bo.top_k = 5;
  bo.users_per_chunk = 7;
  const decode::beam_search<float, decode::trie_constraint> search(gen, tc, bo);

  std::vector<cspan<std::int32_t>> histories;
  for (index_t u = 0; u < split.n_users(); ++u) histories.push_back(split.train(u));
  std::vector<decode::recommendation> serial;
  for (const auto& h : histories) serial.push_back(search.recommend_one(h));
  const auto serial_batch = search.recommend(histories);
  // Batched users are padded to their chunk's longest history, so scores may differ from the
  // one-user call in the last bits; the items agree.
  for (std::size_t u = 0; u < serial.size(); ++u) CHECK(serial_batch[u].items == serial[u].items);

  std::vector<std::vector<decode::recommendation>> one(2), batch(2);
  auto worker = [&](int t) {
    for (int rep = 0; rep < 3; ++rep) {
      // The two threads walk the users in opposite orders, so they overlap on every model part.
      one[t].assign(histories.size(), {});
      for (std::size_t k = 0; k < histories.size(); ++k) {
        const std::size_t u = t == 0 ? k : histories.size() - 1 - k;
        one[t][u] = search.recommend_one(histories[u]);
      }
      batch[t] = search.recommend(histories);
    }
  };
  std::thread a(worker, 0), b(worker, 1);
  a.join();
  b.join();
  for (int t = 0; t < 2; ++t)
    for (std::size_t u = 0; u < serial.size(); ++u) {
      INFO("thread " << t << ", user " << u);
      CHECK(same(one[t][u], serial[u]));
      CHECK(same(batch[t][u], serial_batch[u]));
    }
}

TEST_CASE("two threads scoring with the same trained SASRec get the serial scores", "[robustness][threads]") {
  const auto ds = test::synthetic_dataset(60, 12, 22);
  const data::leave_one_out_split split(ds, {8});
  model::sasrec_options o;
  o.d_model = 8;
  o.heads = 2;
  o.d_ff = 16;
  o.layers = 1;
  o.max_len = 8;
  o.epochs = 2;
  o.batch_size = 16;
  o.eval_every = 0;
  o.log = nullptr;
  model::sasrec m(12, o);
  m.train(split);
  const model::sasrec& cm = m;

  eval::eval_batch batch;
  for (index_t u = 0; u < split.n_users(); ++u) {
    batch.users.push_back(u);
    batch.histories.push_back(split.train(u));
  }
  matrix<float> serial(batch.size(), 12);
  cm.score(batch, serial);
  std::vector<matrix<float>> got(2, matrix<float>(batch.size(), 12));
  std::vector<matrix<float>> single(2, matrix<float>(batch.size(), 12));
  auto worker = [&](int t) {
    for (int rep = 0; rep < 3; ++rep) {
      cm.score(batch, got[t]);
      for (index_t u = 0; u < batch.size(); ++u) {  // one user at a time, other length mix
        eval::eval_batch one;
        one.users = {batch.users[u]};
        one.histories = {batch.histories[u]};
        matrix<float> s(1, 12);
        cm.score(one, s);
        single[t].row(u) = s.row(0);
      }
    }
  };
  std::thread a(worker, 0), b(worker, 1);
  a.join();
  b.join();
  for (int t = 0; t < 2; ++t) {
    CHECK(got[t] == serial);
    // A user scored alone may see less padding than in the batch: equal up to rounding.
    CHECK((single[t] - serial).cwiseAbs().maxCoeff() < 1e-4f);
  }
}
