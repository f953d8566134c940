// Data-parallel training steps: a batch of `items` (sequences, rows) is cut into one
// contiguous shard per thread; each thread runs the whole forward and backward of its shard
// (its matrix products single-threaded, no barrier between layers) and accumulates into its
// own gradient shard; the shards are then added into the main gradient in order.
//
//   nn::data_parallel(params, batch_size, [&](int shard, index_t lo, index_t hi) {
//     loss[shard] = forward_backward(rows lo..hi, activations[shard]);
//   });
//
// Results depend on the number of shards only through the order of floating-point additions.
#pragma once

#include <algorithm>

#include "reg4rec/core/parallel.hpp"
#include "reg4rec/nn/parameters.hpp"

namespace reg4rec::nn {

/// The number of shards data_parallel will use for `items`: one per thread, at most one per
/// item, and one inside a parallel region (the work then runs on the calling thread).
inline int shard_count(index_t items) {
  if (in_parallel()) return 1;
  return static_cast<int>(std::max<index_t>(1, std::min<index_t>(max_threads(), items)));
}

/// f(shard, lo, hi) over data_parallel's shards of `items`, in parallel, without gradient
/// shards: for a pass that must see the whole batch before the training step goes on (the
/// same shard indices and ranges as the data_parallel call that follows).
template <class F>
void for_each_shard(index_t items, F&& f) {
  const int shards = shard_count(items);
  if (shards == 1) {
    f(0, index_t(0), items);
    return;
  }
  parallel_for(0, shards, 1, [&](index_t s0, index_t s1) {
    for (index_t s = s0; s < s1; ++s) f(static_cast<int>(s), items * s / shards, items * (s + 1) / shards);
  });
}

template <class T, class F>
void data_parallel(parameter_store<T>& ps, index_t items, F&& f) {
  const int shards = shard_count(items);
  if (shards == 1) {
    f(0, index_t(0), items);
    return;
  }
  ps.begin_grad_shards(shards);
  for_each_shard(items, [&](int s, index_t lo, index_t hi) {
    grad_shard_scope scope(s);
    if (s > 0) ps.clear_grad_shard(s);  // zeroed on the thread that fills it
    f(s, lo, hi);
  });
  ps.reduce_grad_shards();
}

}  // namespace reg4rec::nn
