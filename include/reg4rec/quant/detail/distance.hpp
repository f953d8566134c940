// What the distance policies mean in numbers: the codebook the nearest-code kernel searches,
// and the conversion of its scores into costs (squared distance, or 1 − cosine).
#pragma once

#include <cmath>
#include <vector>

#include "reg4rec/core/parallel.hpp"
#include "reg4rec/core/types.hpp"
#include "reg4rec/core/view.hpp"
#include "reg4rec/quant/quantizer.hpp"

namespace reg4rec::quant::detail {

/// The matrix the kernel searches: the codewords themselves (l2) or their unit directions
/// (cosine; a zero codeword stays zero and scores 0 against everything).
template <class Distance>
matrix<float> search_codebook(cmatrix_view<float> codewords) {
  matrix<float> s = codewords.eigen();
  if constexpr (Distance::normalise_codewords) {
    for (index_t k = 0; k < s.rows(); ++k) {
      const double norm = s.row(k).template cast<double>().norm();
      if (norm > 0) s.row(k) = (s.row(k).template cast<double>() / norm).template cast<float>();
    }
  }
  return s;
}

/// out[i] = 1/‖x_i‖ (0 for a zero row): cosine costs need it, l2 does not.
inline void inverse_norms(cmatrix_view<float> x, span<float> out) {
  parallel_for(0, x.rows(), 4096, [&](index_t lo, index_t hi) {
    for (index_t i = lo; i < hi; ++i) {
      const double n = x.eigen().row(i).template cast<double>().norm();
      out[i] = n > 0 ? static_cast<float>(1.0 / n) : 0.0f;
    }
  });
}

/// Kernel score → cost: l2 scores are already squared distances; cosine scores are x·ĉ.
template <class Distance>
REG4REC_INLINE float score_to_cost(float score, float inv_norm) noexcept {
  if constexpr (Distance::normalise_codewords)
    return 1.0f - score * inv_norm;
  else
    return score;
}

/// Cost of x against one row of the search codebook, from the definition.
template <class Distance>
inline float direct_cost(const float* x, float inv_norm, const float* code, index_t d) noexcept {
  float acc = 0;
  if constexpr (Distance::normalise_codewords) {
    for (index_t j = 0; j < d; ++j) acc += x[j] * code[j];
    return 1.0f - acc * inv_norm;
  } else {
    for (index_t j = 0; j < d; ++j) {
      const float t = x[j] - code[j];
      acc += t * t;
    }
    return acc;
  }
}

/// Σ_{i<n} f(i) in double, over fixed blocks added in order: the same bits for any thread count.
template <class F>
double ordered_sum(index_t n, F&& f) {
  constexpr index_t block = 4096;
  const index_t nb = (n + block - 1) / block;
  std::vector<double> part(static_cast<std::size_t>(nb), 0.0);
  parallel_for(0, nb, 1, [&](index_t lo, index_t hi) {
    for (index_t b = lo; b < hi; ++b) {
      double s = 0;
      for (index_t i = b * block, e = std::min(n, (b + 1) * block); i < e; ++i) s += f(i);
      part[static_cast<std::size_t>(b)] = s;
    }
  });
  double total = 0;
  for (double p : part) total += p;
  return total;
}

}  // namespace reg4rec::quant::detail
