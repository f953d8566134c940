// Top-k per row with xsimd: a sorted list of the best k, and a vector comparison against its
// threshold (the k-th value) so that most of a long row is rejected W entries at a time.
// Same order as backend/scalar/topk.hpp: value descending, ties to the smaller index, then
// -inf entries, then NaN entries, each by index.
#pragma once

#include <cmath>
#include <cstdint>
#include <limits>

#include "reg4rec/backend/simd/common.hpp"
#include "reg4rec/backend/tags.hpp"
#include "reg4rec/core/view.hpp"

namespace reg4rec::backend {

namespace simd_detail {
// Sorted (descending) list of at most k entries; only values strictly above the threshold
// enter, so equal values keep the earlier (smaller) index.
template <class T>
struct sorted_top {
  T* val;
  std::int32_t* idx;
  index_t k;
  index_t count = 0;
  T threshold = -std::numeric_limits<T>::infinity();

  void insert(T v, std::int32_t id) {
    index_t pos = std::min(count, k - 1);
    while (pos > 0 && v > val[pos - 1]) {
      val[pos] = val[pos - 1];
      idx[pos] = idx[pos - 1];
      --pos;
    }
    val[pos] = v;
    idx[pos] = id;
    if (count < k) ++count;
    threshold = count == k ? val[k - 1] : -std::numeric_limits<T>::infinity();
  }
  void append(T v, std::int32_t id) {
    val[count] = v;
    idx[count] = id;
    ++count;
  }
};
}  // namespace simd_detail

template <class T, class A>
void topk_row(simd<A>, const T* x, index_t m, index_t k, std::int32_t* idx, T* val) {
  using batch = xsimd::batch<T, A>;
  constexpr index_t W = batch::size;
  simd_detail::sorted_top<T> top{val, idx, k};
  const index_t mv = m / W * W;
  for (index_t j = 0; j < mv; j += W) {
    const batch v = batch::load_unaligned(x + j);
    if (REG4REC_LIKELY(!xsimd::any(v > batch(top.threshold)))) continue;
    for (index_t l = 0; l < W; ++l)
      if (x[j + l] > top.threshold) top.insert(x[j + l], static_cast<std::int32_t>(j + l));
  }
  for (index_t j = mv; j < m; ++j)
    if (x[j] > top.threshold) top.insert(x[j], static_cast<std::int32_t>(j));
  // Fewer than k entries above -inf: complete with -inf entries, then NaN entries.
  for (index_t j = 0; j < m && top.count < k; ++j)
    if (x[j] == -std::numeric_limits<T>::infinity()) top.append(x[j], static_cast<std::int32_t>(j));
  for (index_t j = 0; j < m && top.count < k; ++j)
    if (std::isnan(x[j])) top.append(x[j], static_cast<std::int32_t>(j));
}

}  // namespace reg4rec::backend
