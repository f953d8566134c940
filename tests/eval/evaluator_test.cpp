#include <catch2/catch.hpp>

#include <cmath>

#include <reg4rec/data/sequence_loader.hpp>
#include <reg4rec/data/split.hpp>
#include <reg4rec/eval/evaluator.hpp>
#include <reg4rec/io/atomic_file.hpp>

#include "data/fixtures.hpp"

using namespace reg4rec;
using test::temp_file;

namespace {
// Items 1..5 → 0..4. Test cases: user 0 target 3 after {0,1,2}; user 1 target 4 after {1,2};
// user 2 target 2 after {4,3,0,1}.
const char* const tiny = "1 1 2 3 4\n2 2 3 5\n3 5 4 1 2 3\n";

// Every user gets the scores 0.5 0.4 0.3 0.2 0.1 (item 0 first).
struct fixed_scores {
  void score(const eval::eval_batch& b, matrix_view<float> out) const {
    for (index_t r = 0; r < b.size(); ++r)
      for (index_t i = 0; i < out.cols(); ++i) out(r, i) = 0.5f - 0.1f * float(i);
  }
};

struct fixed_lists {
  std::vector<std::vector<std::int32_t>> per_user;  // by internal user index
  void recommend(const eval::eval_batch& b, index_t, std::vector<std::vector<std::int32_t>>& out) const {
    out.clear();
    for (index_t u : b.users) out.push_back(per_user[static_cast<std::size_t>(u)]);
  }
};

// Records what it was given (serial evaluation only).
struct recording_model {
  mutable std::vector<std::vector<std::int32_t>> seen;
  void score(const eval::eval_batch& b, matrix_view<float> out) const {
    for (index_t r = 0; r < b.size(); ++r) {
      seen.emplace_back(b.histories[r].begin(), b.histories[r].end());
      for (index_t i = 0; i < out.cols(); ++i) out(r, i) = 0.0f;
    }
  }
};
}  // namespace

TEST_CASE("evaluator: score model, masked and unmasked, hand-computed", "[eval][evaluator]") {
  temp_file f("eval_tiny.txt", tiny);
  const auto d = data::load_sequences(f.path());
  const data::leave_one_out_split s(d);
  eval::evaluator_options o;
  o.ks = {1, 3};
  o.batch_size = 2;

  o.mask_history = false;  // ranks 3, 4, 2
  auto r = eval::evaluate(fixed_scores{}, s, data::stage::test, o);
  CHECK(r.users == 3);
  CHECK(r.ranks == std::vector<index_t>{3, 4, 2});
  CHECK(r.recall_at(1) == 0.0);
  CHECK(r.recall_at(3) == Approx(1.0 / 3));
  CHECK(r.ndcg_at(3) == Approx(0.5 / 3));
  CHECK(r.mrr == Approx((1.0 / 4 + 1.0 / 5 + 1.0 / 3) / 3));
  CHECK(r.protocol == "scores, unmasked");

  o.mask_history = true;  // ranks 0, 2, 0
  r = eval::evaluate(fixed_scores{}, s, data::stage::test, o);
  CHECK(r.ranks == std::vector<index_t>{0, 2, 0});
  CHECK(r.recall_at(1) == Approx(2.0 / 3));
  CHECK(r.recall_at(3) == Approx(1.0));
  CHECK(r.ndcg_at(3) == Approx((1.0 + 0.5 + 1.0) / 3));
  CHECK(r.mrr == Approx((1.0 + 1.0 / 3 + 1.0) / 3));

  // Validation: targets 2, 2, 1 after {0,1}, {1}, {4,3,0}; masked ranks 0, 0, 0; unmasked 2, 2, 1.
  o.mask_history = false;
  r = eval::evaluate(fixed_scores{}, s, data::stage::validation, o);
  CHECK(r.stage == "validation");
  CHECK(r.ranks == std::vector<index_t>{2, 2, 1});

  o.max_users = 2;  // evenly spaced: the first and the last of the three cases
  r = eval::evaluate(fixed_scores{}, s, data::stage::validation, o);
  CHECK(r.users == 2);
  CHECK(r.ranks == std::vector<index_t>{2, 1});
}

TEST_CASE("evaluator: the model sees truncated histories, masking uses the full one", "[eval][evaluator]") {
  temp_file f("eval_trunc.txt", tiny);
  const auto d = data::load_sequences(f.path());
  data::split_options so;
  so.max_history = 2;
  const data::leave_one_out_split s(d, so);
  recording_model m;
  eval::evaluator_options o;
  o.parallel = false;
  o.batch_size = 2;
  const auto r = eval::evaluate(m, s, data::stage::test, o);
  REQUIRE(m.seen.size() == 3);
  CHECK(m.seen[0] == std::vector<std::int32_t>{1, 2});
  CHECK(m.seen[1] == std::vector<std::int32_t>{1, 2});
  CHECK(m.seen[2] == std::vector<std::int32_t>{0, 1});
  // All scores equal: the rank is the number of unmasked other items (5 - 1 - |history|).
  CHECK(r.ranks == std::vector<index_t>{1, 2, 0});
}

TEST_CASE("evaluator: list model, absent targets and invalid lists", "[eval][evaluator]") {
  temp_file f("eval_lists.txt", tiny);
  const auto d = data::load_sequences(f.path());
  const data::leave_one_out_split s(d);
  eval::evaluator_options o;
  o.ks = {1, 5};
  fixed_lists m{{{3, 0}, {0, 1, 2}, {}}};
  const auto r = eval::evaluate(m, s, data::stage::test, o);
  CHECK(r.ranks == std::vector<index_t>{0, eval::not_found, eval::not_found});
  CHECK(r.recall_at(1) == Approx(1.0 / 3));
  CHECK(r.recall_at(5) == Approx(1.0 / 3));
  CHECK(r.mrr == Approx(1.0 / 3));
  CHECK(r.protocol == "ranked lists");

  fixed_lists dup{{{3, 0, 3}, {}, {}}};
  CHECK_THROWS_AS(eval::evaluate(dup, s, data::stage::test, o), value_error);
  fixed_lists out_of_range{{{5}, {}, {}}};
  CHECK_THROWS_AS(eval::evaluate(out_of_range, s, data::stage::test, o), value_error);
}

TEST_CASE("evaluator: thread split does not change results; table and JSON", "[eval][evaluator]") {
  temp_file f("eval_par.txt", tiny);
  const auto d = data::load_sequences(f.path());
  const data::leave_one_out_split s(d);
  eval::evaluator_options o;
  o.batch_size = 1;
  o.model_name = "fixed";
  const auto par = eval::evaluate(fixed_scores{}, s, data::stage::test, o);
  o.parallel = false;
  const auto ser = eval::evaluate(fixed_scores{}, s, data::stage::test, o);
  CHECK(par.ranks == ser.ranks);
  CHECK(par.recall == ser.recall);
  CHECK(par.mrr == ser.mrr);

  const std::string table = eval::markdown_table(par);
  CHECK(table.find("| model | stage | users | R@5 | R@10 | N@5 | N@10 | MRR |") == 0);
  CHECK(table.find("| fixed | test | 3 |") != std::string::npos);
  const std::string js = par.json();
  for (const char* key : {"\"model\": \"fixed\"", "\"users\": 3", "\"recall@5\"", "\"recall@10\"", "\"ndcg@5\"",
                          "\"ndcg@10\"", "\"mrr\""})
    CHECK(js.find(key) != std::string::npos);
  temp_file out("eval_metrics.json", "");
  par.save_json(out.path());
  CHECK(io::read_file(out.path()) == js);

  o.ks = {};
  CHECK_THROWS_AS(eval::evaluate(fixed_scores{}, s, data::stage::test, o), argument_error);
}
