// Nearest-code search, scalar reference. Distances are computed from their definition
// (sum of squared differences), codes are scanned in index order and only a strictly better
// score replaces the incumbent, so ties go to the smallest code index.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <numeric>
#include <vector>

#include "reg4rec/backend/tags.hpp"
#include "reg4rec/core/metric.hpp"
#include "reg4rec/core/view.hpp"

namespace reg4rec::backend {

template <class T>
class nearest_plan<scalar, T> {
 public:
  nearest_plan(metric m, cmatrix_view<T> codes) : metric_(m), codes_(codes) {}

  index_t size() const noexcept { return codes_.rows(); }
  index_t dim() const noexcept { return codes_.cols(); }
  metric kind() const noexcept { return metric_; }

  /// For each row of x: idx[i] = best code (-1 if no score compares, i.e. NaN), score[i] =
  /// its squared distance (l2) or inner product.
  void argmin(cmatrix_view<T> x, std::int32_t* idx, T* score) const {
    const bool l2 = metric_ == metric::l2;
    for (index_t i = 0; i < x.rows(); ++i) {
      std::int32_t best = -1;
      T best_v = l2 ? std::numeric_limits<T>::infinity() : -std::numeric_limits<T>::infinity();
      for (index_t k = 0; k < codes_.rows(); ++k) {
        const T v = score_of(x.row_ptr(i), codes_.row_ptr(k));
        if (l2 ? v < best_v : v > best_v) {
          best_v = v;
          best = static_cast<std::int32_t>(k);
        }
      }
      idx[i] = best;
      score[i] = best < 0 ? std::numeric_limits<T>::quiet_NaN() : best_v;
    }
  }

  /// For each row of x: the B best codes, best first (ties: smaller index first). idx and
  /// score are row-major with row stride ld. NaN scores rank last.
  void topb(cmatrix_view<T> x, index_t B, std::int32_t* idx, T* score, index_t ld) const {
    const bool l2 = metric_ == metric::l2;
    const index_t K = codes_.rows();
    std::vector<T> s(static_cast<std::size_t>(K));
    std::vector<std::int32_t> order(static_cast<std::size_t>(K));
    for (index_t i = 0; i < x.rows(); ++i) {
      for (index_t k = 0; k < K; ++k) s[k] = score_of(x.row_ptr(i), codes_.row_ptr(k));
      std::iota(order.begin(), order.end(), 0);
      std::partial_sort(order.begin(), order.begin() + B, order.end(),
                        [&](std::int32_t a, std::int32_t b) {
                          const bool na = std::isnan(s[a]), nb = std::isnan(s[b]);
                          if (na != nb) return nb;
                          if (!na && s[a] != s[b]) return l2 ? s[a] < s[b] : s[a] > s[b];
                          return a < b;
                        });
      for (index_t b = 0; b < B; ++b) {
        idx[i * ld + b] = order[b];
        score[i * ld + b] = s[order[b]];
      }
    }
  }

 private:
  T score_of(const T* x, const T* c) const noexcept {
    T acc = 0;
    if (metric_ == metric::l2) {
      for (index_t j = 0; j < codes_.cols(); ++j) {
        const T diff = x[j] - c[j];
        acc += diff * diff;
      }
    } else {
      for (index_t j = 0; j < codes_.cols(); ++j) acc += x[j] * c[j];
    }
    return acc;
  }

  metric metric_;
  cmatrix_view<T> codes_;
};

}  // namespace reg4rec::backend
