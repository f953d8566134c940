#include <catch2/catch.hpp>

#include <iostream>

#include <reg4rec/data/sequence_loader.hpp>
#include <reg4rec/data/split.hpp>
#include <reg4rec/eval/evaluator.hpp>
#include <reg4rec/eval/popularity.hpp>

#include "data/fixtures.hpp"

using namespace reg4rec;
using test::temp_file;

TEST_CASE("popularity: counts only what a stage may see", "[eval][popularity]") {
  // user 1: 1 2 3 4; user 2: 2 3 5; user 3 (short): 5 1.
  temp_file f("pop_small.txt", "1 1 2 3 4\n2 2 3 5\n3 5 1\n");
  const auto d = data::load_sequences(f.path());
  const data::leave_one_out_split s(d);
  // validation: training only = {1 2}, {2}, {5 1}
  CHECK(eval::popularity::fit(s, data::stage::validation).counts() == std::vector<double>{2, 2, 0, 0, 1});
  // test: training + validation targets = {1 2 3}, {2 3}, {5 1}
  const auto p = eval::popularity::fit(s, data::stage::test);
  CHECK(p.counts() == std::vector<double>{2, 2, 2, 0, 1});
  eval::eval_batch b;
  b.users = {0, 1};
  b.histories.resize(2);
  std::vector<std::vector<std::int32_t>> lists;
  p.recommend(b, 4, lists);
  REQUIRE(lists.size() == 2);
  CHECK(lists[0] == std::vector<std::int32_t>{0, 1, 2, 4});
  CHECK_THROWS_AS(eval::popularity(std::vector<double>{1, -1}), value_error);
}

TEST_CASE("popularity: Beauty test reproduces the sanity figures", "[eval][popularity][beauty]") {
  const auto d = data::load_sequences(test::beauty_dir() + "/Beauty.txt");
  const data::leave_one_out_split s(d);
  const auto pop = eval::popularity::fit(s, data::stage::test);
  eval::evaluator_options o;
  o.model_name = "most-popular";
  o.mask_history = false;  // the protocol of the published sanity figure (docs/evaluation.md)
  const auto r = eval::evaluate(pop, s, data::stage::test, o);
  std::cout << eval::markdown_table(r);
  CHECK(r.users == 22363);
  CHECK(r.recall_at(10) == Approx(0.0115).margin(0.0005));
  CHECK(r.ndcg_at(10) == Approx(0.0055).margin(0.0005));

  // With the history masked (the default for score models) more targets make the top 10.
  o.mask_history = true;
  const auto masked = eval::evaluate(pop, s, data::stage::test, o);
  std::cout << eval::markdown_table(masked);
  CHECK(masked.recall_at(10) > r.recall_at(10));
}
