// Top-k per row, scalar reference. Order: larger value first, ties to the smaller index;
// -inf ranks below every finite value and NaN below -inf, so a NaN is selected only when a
// row has fewer than k other entries.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <numeric>
#include <vector>

#include "reg4rec/backend/tags.hpp"
#include "reg4rec/core/view.hpp"

namespace reg4rec::backend {

/// The k largest entries of x[0..m), best first.
template <class T>
void topk_row(scalar, const T* x, index_t m, index_t k, std::int32_t* idx, T* val) {
  std::vector<std::int32_t> order(static_cast<std::size_t>(m));
  std::iota(order.begin(), order.end(), 0);
  std::partial_sort(order.begin(), order.begin() + k, order.end(),
                    [&](std::int32_t a, std::int32_t b) {
                      const bool na = std::isnan(x[a]), nb = std::isnan(x[b]);
                      if (na != nb) return nb;
                      if (!na && x[a] != x[b]) return x[a] > x[b];
                      return a < b;
                    });
  for (index_t i = 0; i < k; ++i) {
    idx[i] = order[i];
    val[i] = x[order[i]];
  }
}

}  // namespace reg4rec::backend
