// Collision handling for unordered multi-codebook SIDs (MPQ): several items that share one
// token tuple cannot be told apart by the generator, and posting-list decoding can only rank
// them by popularity. make_tuples_distinct() moves such items to a nearby free tuple, changing
// one token: the most popular item of a shared tuple keeps it, each other item takes the
// single-token change (codebook r, its j-th best code) with the smallest loss of fit
// |score_r(i, j) − score_r(i, 0)| among the tuples still free. Items are visited by decreasing
// popularity (then id), so popular items keep their best tuples.
//
//   std::vector<matrix<std::int32_t>> cand;  std::vector<matrix<float>> score;
//   mpq.candidates(x, 8, cand, score);                     // 8 best codes per codebook
//   auto codes = mpq.encode(x);
//   const auto rep = quant::make_tuples_distinct(codes, cand, score, popularity);
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <numeric>
#include <string>
#include <unordered_set>
#include <vector>

#include "reg4rec/core/error.hpp"
#include "reg4rec/core/types.hpp"
#include "reg4rec/core/view.hpp"

namespace reg4rec::quant {

struct distinct_report {
  index_t moved = 0;       // items given another tuple
  index_t unresolved = 0;  // items still sharing a tuple (no free tuple among their candidates)
};

/// codes: (n × M), rewritten in place. cand[r], score[r]: (n × C) the C best codes of codebook
/// r for every item, best first, and their search scores (distance or similarity).
/// popularity: (n) or empty (then items are visited by id).
inline distinct_report make_tuples_distinct(matrix_view<std::int32_t> codes, const std::vector<matrix<std::int32_t>>& cand,
                                            const std::vector<matrix<float>>& score, cspan<double> popularity = {}) {
  const index_t n = codes.rows(), M = codes.cols();
  check_dim("make_tuples_distinct: candidate tables (one per codebook)", static_cast<index_t>(cand.size()), M);
  check_dim("make_tuples_distinct: score tables (one per codebook)", static_cast<index_t>(score.size()), M);
  for (index_t r = 0; r < M; ++r) {
    check_dim("make_tuples_distinct: rows of cand[r]", cand[r].rows(), n);
    check_dim("make_tuples_distinct: shape of score[r] (rows)", score[r].rows(), n);
    check_dim("make_tuples_distinct: shape of score[r] (columns)", score[r].cols(), cand[r].cols());
  }
  if (!popularity.empty()) check_dim("make_tuples_distinct: popularity entries (items)", popularity.size(), n);
  std::vector<index_t> order(static_cast<std::size_t>(n));
  std::iota(order.begin(), order.end(), 0);
  if (!popularity.empty())
    std::stable_sort(order.begin(), order.end(), [&](index_t a, index_t b) { return popularity[a] > popularity[b]; });

  auto key = [M](const std::int32_t* t) { return std::string(reinterpret_cast<const char*>(t), sizeof(std::int32_t) * M); };
  std::unordered_set<std::string> taken;
  taken.reserve(static_cast<std::size_t>(2 * n));
  std::vector<std::int32_t> t(static_cast<std::size_t>(M));
  distinct_report rep;
  for (index_t i : order) {
    for (index_t r = 0; r < M; ++r) t[r] = codes(i, r);
    if (taken.insert(key(t.data())).second) continue;
    double best = std::numeric_limits<double>::infinity();
    index_t best_r = -1;
    std::int32_t best_c = 0;
    for (index_t r = 0; r < M; ++r) {
      const std::int32_t own = t[r];
      for (index_t j = 0; j < cand[r].cols(); ++j) {
        const std::int32_t c = cand[r](i, j);
        const double loss = std::abs(double(score[r](i, j)) - double(score[r](i, 0)));
        if (c == own || loss >= best) continue;
        t[r] = c;
        if (!taken.count(key(t.data()))) {
          best = loss;
          best_r = r;
          best_c = c;
        }
      }
      t[r] = own;
    }
    if (best_r < 0) {
      ++rep.unresolved;
      continue;
    }
    codes(i, best_r) = best_c;
    t[best_r] = best_c;
    taken.insert(key(t.data()));
    ++rep.moved;
  }
  return rep;
}

}  // namespace reg4rec::quant
