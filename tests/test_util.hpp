// Helpers shared by the test suites: seeded random data and tolerant comparisons.
#pragma once

#include <algorithm>
#include <cmath>
#include <vector>

#include <reg4rec/core.hpp>

namespace reg4rec::test {

template <class T>
matrix<T> random_matrix(index_t rows, index_t cols, std::uint64_t seed, T scale = T(1)) {
  rng g(seed);
  matrix<T> m(rows, cols);
  for (index_t i = 0; i < m.size(); ++i) m.data()[i] = scale * g.normal<T>();
  return m;
}

template <class T>
std::vector<T> random_vector(index_t n, std::uint64_t seed, T scale = T(1)) {
  rng g(seed);
  std::vector<T> v(static_cast<std::size_t>(n));
  for (auto& x : v) x = scale * g.normal<T>();
  return v;
}

/// The exact score of code k for row i of x, in double: squared distance (l2) or dot product.
inline double exact_score(metric m, const matrix<float>& x, const matrix<float>& c, index_t i, index_t k) {
  double s = 0;
  for (index_t j = 0; j < x.cols(); ++j) {
    const double a = x(i, j), b = c(k, j);
    s += m == metric::l2 ? (a - b) * (a - b) : a * b;
  }
  return s;
}

/// max |a − b| / max(1, |b|) over the elements.
template <class A, class B>
double max_rel_diff(const A& a, const B& b, index_t n) {
  double worst = 0;
  for (index_t i = 0; i < n; ++i) {
    const double x = static_cast<double>(a[i]), y = static_cast<double>(b[i]);
    worst = std::max(worst, std::abs(x - y) / std::max(1.0, std::abs(y)));
  }
  return worst;
}

/// Sizes around SIMD widths (4, 8, 16 lanes), never all multiples of them.
inline std::vector<index_t> awkward_sizes() { return {1, 3, 7, 15, 17, 31, 33, 100}; }

}  // namespace reg4rec::test
