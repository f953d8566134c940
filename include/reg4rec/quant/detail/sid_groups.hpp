// Helpers shared by the SID tables and metrics: validation of code matrices and grouping of
// items by (a prefix of) their SID.
#pragma once

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdint>
#include <numeric>
#include <vector>

#include "reg4rec/core/error.hpp"
#include "reg4rec/core/parallel.hpp"
#include "reg4rec/core/view.hpp"
#include "reg4rec/kernels/finite.hpp"

namespace reg4rec::quant::detail {

/// Throws unless `codes` (n × M) has M ≥ 1 columns and every entry lies in [0, K); K ≤ 0
/// checks only that entries are non-negative. The message names the row and the column.
inline void check_codes(const char* who, cmatrix_view<std::int32_t> codes, index_t K) {
  require(codes.cols() >= 1, who, ": codes have no columns (M = 0)");
  for (index_t i = 0; i < codes.rows(); ++i)
    for (index_t r = 0; r < codes.cols(); ++r) {
      const std::int32_t c = codes(i, r);
      if (c < 0 || (K > 0 && c >= K))
        throw value_error(reg4rec::detail::cat(who, ": code ", c, " at row ", i, ", codebook ", r,
                                               " is out of range [0, ", K > 0 ? K : index_t(0x7fffffff),
                                               ")"));
    }
}

/// Throws value_error naming the first row of x with a NaN or an infinity. Rows are scanned
/// in parallel; each range stops at its first bad row and the smallest one is reported, so the
/// message does not depend on the thread count.
inline void check_finite(const char* who, cmatrix_view<float> x) {
  std::atomic<index_t> first{x.rows()};
  parallel_for(0, x.rows(), 16384, [&](index_t lo, index_t hi) {
    for (index_t i = lo; i < hi; ++i) {
      if (REG4REC_UNLIKELY(kernels::detail::any_nonfinite(x.row_ptr(i), x.cols()))) {
        index_t cur = first.load();
        while (i < cur && !first.compare_exchange_weak(cur, i)) {
        }
        return;
      }
    }
  });
  const index_t i = first.load();
  if (i == x.rows()) return;
  for (index_t j = 0; j < x.cols(); ++j)
    if (!std::isfinite(x(i, j)))
      throw value_error(reg4rec::detail::cat(who, ": row ", i, " of x has a non-finite value (", x(i, j),
                                             ") in column ", j));
}

/// Lexicographic three-way comparison of two code rows of length len.
inline int compare_tokens(const std::int32_t* a, const std::int32_t* b, index_t len) noexcept {
  for (index_t r = 0; r < len; ++r)
    if (a[r] != b[r]) return a[r] < b[r] ? -1 : 1;
  return 0;
}

/// Items grouped by their first `prefix` tokens: `order` lists the items sorted by that prefix
/// (ties by item id) and group g is order[offsets[g], offsets[g + 1]).
struct sid_grouping {
  std::vector<std::int32_t> order;
  std::vector<index_t> offsets{0};
  index_t groups() const noexcept { return static_cast<index_t>(offsets.size()) - 1; }
  index_t size(index_t g) const noexcept { return offsets[g + 1] - offsets[g]; }
};

inline sid_grouping group_by_sid(cmatrix_view<std::int32_t> codes, index_t prefix) {
  require(prefix >= 1 && prefix <= codes.cols(), "SID prefix length must be in [1, ", codes.cols(),
          "], got ", prefix);
  require(codes.rows() < (index_t(1) << 31), "too many items for int32 item ids: ", codes.rows());
  sid_grouping g;
  g.order.resize(static_cast<std::size_t>(codes.rows()));
  std::iota(g.order.begin(), g.order.end(), 0);
  std::sort(g.order.begin(), g.order.end(), [&](std::int32_t a, std::int32_t b) {
    const int c = compare_tokens(codes.row_ptr(a), codes.row_ptr(b), prefix);
    return c != 0 ? c < 0 : a < b;
  });
  g.offsets.clear();
  for (index_t i = 0; i < codes.rows(); ++i)
    if (i == 0 || compare_tokens(codes.row_ptr(g.order[i - 1]), codes.row_ptr(g.order[i]), prefix) != 0)
      g.offsets.push_back(i);
  g.offsets.push_back(codes.rows());
  return g;
}

}  // namespace reg4rec::quant::detail
