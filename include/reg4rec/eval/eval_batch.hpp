// What a model receives at evaluation: a batch of users and their (truncated) histories, and
// the two model concepts the evaluator accepts.
//
// Score-based model (SASRec, item-kNN, most-popular, any dot-product retriever):
//
//   void score(const eval_batch& batch, matrix_view<float> scores) const;
//       scores: (batch.size(), n_items) — fill every entry; larger is better.
//
// List-based model (generative recommenders: beam search over semantic IDs):
//
//   void recommend(const eval_batch& batch, index_t k, std::vector<std::vector<std::int32_t>>& lists) const;
//       lists: resized to batch.size(); lists[b] = distinct internal item indices, best first,
//       normally k of them (fewer when the model finds fewer valid items).
//
// The evaluator calls these from several threads at once on different batches when
// evaluator_options::parallel is set, so a const score/recommend must not mutate shared state
// (use thread_workspace() or local buffers for scratch); set parallel = false otherwise.
#pragma once

#include <cstdint>
#include <type_traits>
#include <utility>
#include <vector>

#include "reg4rec/core/types.hpp"
#include "reg4rec/core/view.hpp"

namespace reg4rec::eval {

struct eval_batch {
  std::vector<index_t> users;                     ///< internal user indices
  std::vector<cspan<std::int32_t>> histories;     ///< per user, oldest first, truncated
  index_t size() const noexcept { return static_cast<index_t>(users.size()); }
};

namespace detail {
template <class M, class = void>
struct is_score_model : std::false_type {};
template <class M>
struct is_score_model<M, std::void_t<decltype(std::declval<const M&>().score(
                             std::declval<const eval_batch&>(), std::declval<matrix_view<float>>()))>>
    : std::true_type {};

template <class M, class = void>
struct is_list_model : std::false_type {};
template <class M>
struct is_list_model<M, std::void_t<decltype(std::declval<const M&>().recommend(
                            std::declval<const eval_batch&>(), index_t{},
                            std::declval<std::vector<std::vector<std::int32_t>>&>()))>>
    : std::true_type {};
}  // namespace detail

/// True when M has `void score(const eval_batch&, matrix_view<float>) const`.
template <class M>
inline constexpr bool is_score_model_v = detail::is_score_model<M>::value;
/// True when M has `void recommend(const eval_batch&, index_t, std::vector<std::vector<int32_t>>&) const`.
template <class M>
inline constexpr bool is_list_model_v = detail::is_list_model<M>::value;

}  // namespace reg4rec::eval
