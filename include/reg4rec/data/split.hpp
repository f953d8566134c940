// Leave-one-out split (TIGER, P5, S3-Rec, SASRec): for a user with items s_0 .. s_{n-1},
//
//   test target       s_{n-1}    history s_0 .. s_{n-2}
//   validation target s_{n-2}    history s_0 .. s_{n-3}
//   training          s_0 .. s_{n-3}
//
// Histories handed to models are truncated to the most recent `max_history` items (20 for the
// generative models, TIGER's setting; 50 for SASRec); the untruncated history is kept for
// masking at evaluation. Users with fewer than 3 items cannot give both a validation and a
// test target: their whole sequence is training data and they are not evaluated (counted in
// short_users()). Invariant: a training sequence never holds a held-out position, so the
// training data of user u never contains u's validation or test interaction.
//
// The split holds views into the dataset, which must outlive it.
#pragma once

#include <algorithm>
#include <cstdint>
#include <vector>

#include "reg4rec/core/error.hpp"
#include "reg4rec/core/types.hpp"
#include "reg4rec/core/view.hpp"
#include "reg4rec/data/sequence_dataset.hpp"

namespace reg4rec::data {

/// Which held-out target an evaluation uses.
enum class stage { validation, test };

inline const char* to_string(stage s) noexcept { return s == stage::validation ? "validation" : "test"; }

struct split_options {
  /// Evaluation histories keep the most recent max_history items (0 = keep all).
  index_t max_history = 20;
};

/// One evaluation case: a user, what the model sees, and the item to find.
struct eval_case {
  index_t user = 0;                   ///< internal user index
  cspan<std::int32_t> history;        ///< the last max_history items before the target, oldest first
  cspan<std::int32_t> full_history;   ///< every item before the target (for masking)
  std::int32_t target = 0;            ///< internal item index
};

/// The most recent `n` items of `s` (all of them when n <= 0 or s is shorter).
inline cspan<std::int32_t> most_recent(cspan<std::int32_t> s, index_t n) noexcept {
  if (n <= 0 || s.size() <= n) return s;
  return s.subspan(s.size() - n, n);
}

class leave_one_out_split {
 public:
  /// Users with at least this many items are evaluated.
  static constexpr index_t min_eval_length = 3;

  explicit leave_one_out_split(const sequence_dataset& d, split_options o = {}) : d_(&d), opt_(o) {
    require(o.max_history >= 0, "leave_one_out_split: max_history must be >= 0, got ", o.max_history);
    for (index_t u = 0; u < d.n_users(); ++u) {
      const index_t n = d.length(u);
      if (n >= min_eval_length) {
        eval_users_.push_back(u);
        n_train_ += n - 2;
      } else {
        ++short_users_;
        n_train_ += n;
      }
    }
  }
  /// A split of a temporary would dangle.
  explicit leave_one_out_split(sequence_dataset&&, split_options = {}) = delete;

  const sequence_dataset& dataset() const noexcept { return *d_; }
  const split_options& options() const noexcept { return opt_; }
  index_t n_users() const noexcept { return d_->n_users(); }
  index_t n_items() const noexcept { return d_->n_items(); }

  /// Training items of user u, oldest first: everything but the last two items, or the whole
  /// sequence of a user with fewer than 3 items. Not truncated.
  cspan<std::int32_t> train(index_t u) const noexcept {
    const auto s = d_->sequence(u);
    return s.size() >= min_eval_length ? s.subspan(0, s.size() - 2) : s;
  }
  /// Training interactions over all users.
  index_t n_train_interactions() const noexcept { return n_train_; }

  /// What a model may learn from before it is evaluated on `st`, for user u: the training
  /// items for validation; the training items and the validation target for test (exactly
  /// the test history).
  cspan<std::int32_t> visible(stage st, index_t u) const noexcept {
    const auto s = d_->sequence(u);
    if (s.size() < min_eval_length) return s;
    return s.subspan(0, s.size() - (st == stage::validation ? 2 : 1));
  }

  /// Users evaluated (at least 3 items), in user order.
  cspan<index_t> eval_users() const noexcept { return eval_users_; }
  index_t n_eval_users() const noexcept { return static_cast<index_t>(eval_users_.size()); }
  /// Users with fewer than 3 items (training only).
  index_t short_users() const noexcept { return short_users_; }

  /// The i-th evaluation case (0 <= i < n_eval_users()) of a stage.
  eval_case evaluation(stage st, index_t i) const {
    require(i >= 0 && i < n_eval_users(), "leave_one_out_split: case ", i, " outside [0, ", n_eval_users(), ")");
    const index_t u = eval_users_[static_cast<std::size_t>(i)];
    const auto s = d_->sequence(u);
    const index_t t = s.size() - (st == stage::validation ? 2 : 1);
    eval_case c;
    c.user = u;
    c.full_history = s.subspan(0, t);
    c.history = most_recent(c.full_history, opt_.max_history);
    c.target = s[t];
    return c;
  }
  eval_case validation(index_t i) const { return evaluation(stage::validation, i); }
  eval_case test(index_t i) const { return evaluation(stage::test, i); }

 private:
  const sequence_dataset* d_;
  split_options opt_;
  std::vector<index_t> eval_users_;
  index_t short_users_ = 0, n_train_ = 0;
};

}  // namespace reg4rec::data
