#include <catch2/catch.hpp>

#include <algorithm>

#include <reg4rec/data/sequence_loader.hpp>
#include <reg4rec/data/split.hpp>

#include "data/fixtures.hpp"

using namespace reg4rec;
using test::temp_file;

namespace {
template <class T>
std::vector<std::remove_const_t<T>> to_vec(span<T> s) {
  return {s.begin(), s.end()};
}
using ivec = std::vector<std::int32_t>;
}  // namespace

TEST_CASE("split: leave-one-out on a hand-made dataset", "[data][split]") {
  // user 1: items 1..5; user 2: 6 7 (too short to evaluate); user 3: 8 9 10. Internal = id - 1.
  temp_file f("split_small.txt", "1 1 2 3 4 5\n2 6 7\n3 8 9 10\n");
  const auto d = data::load_sequences(f.path());
  data::split_options o;
  o.max_history = 2;
  const data::leave_one_out_split s(d, o);
  CHECK(s.n_eval_users() == 2);
  CHECK(s.short_users() == 1);
  CHECK(to_vec(s.eval_users()) == std::vector<index_t>{0, 2});
  CHECK(to_vec(s.train(0)) == ivec{0, 1, 2});
  CHECK(to_vec(s.train(1)) == ivec{5, 6});  // short user: all training
  CHECK(to_vec(s.train(2)) == ivec{7});
  CHECK(s.n_train_interactions() == 6);

  const auto v0 = s.validation(0);
  CHECK(v0.user == 0);
  CHECK(v0.target == 3);
  CHECK(to_vec(v0.full_history) == ivec{0, 1, 2});
  CHECK(to_vec(v0.history) == ivec{1, 2});  // truncated to the 2 most recent
  const auto t0 = s.test(0);
  CHECK(t0.target == 4);
  CHECK(to_vec(t0.full_history) == ivec{0, 1, 2, 3});
  CHECK(to_vec(t0.history) == ivec{2, 3});
  const auto t1 = s.test(1);
  CHECK(t1.user == 2);
  CHECK(t1.target == 9);
  CHECK(to_vec(t1.history) == ivec{7, 8});

  CHECK(to_vec(s.visible(data::stage::validation, 0)) == ivec{0, 1, 2});
  CHECK(to_vec(s.visible(data::stage::test, 0)) == ivec{0, 1, 2, 3});
  CHECK(to_vec(s.visible(data::stage::test, 1)) == ivec{5, 6});
  CHECK_THROWS_AS(s.test(2), argument_error);

  data::split_options all;
  all.max_history = 0;
  const data::leave_one_out_split s_all(d, all);
  CHECK(to_vec(s_all.test(0).history) == ivec{0, 1, 2, 3});
}

TEST_CASE("split: Beauty invariants", "[data][split][beauty]") {
  const auto d = data::load_sequences(test::beauty_dir() + "/Beauty.txt");
  const data::leave_one_out_split s(d);
  REQUIRE(s.n_users() == 22363);
  CHECK(s.n_items() == 12101);
  CHECK(s.n_eval_users() == 22363);  // every Beauty user has at least 5 items
  CHECK(s.short_users() == 0);
  CHECK(s.n_train_interactions() == 198502 - 2 * 22363);

  index_t train_total = 0, leaks = 0, long_histories = 0, mismatches = 0;
  for (index_t i = 0; i < s.n_eval_users(); ++i) {
    const auto v = s.validation(i), t = s.test(i);
    const auto tr = s.train(v.user);
    train_total += tr.size();
    // The training sequence never contains this user's held-out items, ...
    leaks += std::count(tr.begin(), tr.end(), v.target) + std::count(tr.begin(), tr.end(), t.target);
    // ... is exactly the validation history, and the test history is it plus the validation target.
    const auto seq = d.sequence(v.user);
    const bool ok = tr.data() == v.full_history.data() && tr.size() == v.full_history.size() &&
                    t.full_history.size() == tr.size() + 1 && t.full_history[tr.size()] == v.target &&
                    v.history.size() == std::min<index_t>(20, v.full_history.size()) &&
                    t.history.end() == t.full_history.end() && t.target == seq[seq.size() - 1] &&
                    v.target == seq[seq.size() - 2];
    mismatches += !ok;
    long_histories += t.full_history.size() > 20;
  }
  CHECK(mismatches == 0);
  CHECK(leaks == 0);
  CHECK(train_total == s.n_train_interactions());
  // Users with more than 20 items before the test target: 1,136 users are longer than 20.
  CHECK(long_histories > 1000);
}
