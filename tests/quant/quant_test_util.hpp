// Helpers for the quantizer tests: clustered synthetic data, brute-force references and
// temporary file paths.
#pragma once

#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include <unistd.h>

#include <reg4rec/quant.hpp>

#include "test_util.hpp"

namespace reg4rec::test {

/// n points from a mixture of `comps` isotropic Gaussians in R^d: centres N(0, spread²),
/// per-component std U(0.2, 0.8)·noise; weights uniform, or ∝ (c + 1)^skew.
struct mixture {
  matrix<float> x;
  std::vector<std::int32_t> label;
  matrix<float> centres;
};
inline mixture make_mixture(index_t n, index_t d, index_t comps, std::uint64_t seed, float spread = 2.0f,
                            float noise = 1.0f, double skew = 0.0) {
  rng g(seed);
  mixture m;
  m.centres.resize(comps, d);
  std::vector<float> sd(static_cast<std::size_t>(comps));
  for (index_t i = 0; i < m.centres.size(); ++i) m.centres.data()[i] = spread * g.normal<float>();
  for (auto& s : sd) s = noise * g.uniform<float>(0.2f, 0.8f);
  std::vector<double> cum(static_cast<std::size_t>(comps));
  double tot = 0;
  for (index_t c = 0; c < comps; ++c) cum[c] = (tot += std::pow(double(c + 1), skew));
  m.x.resize(n, d);
  m.label.resize(static_cast<std::size_t>(n));
  for (index_t i = 0; i < n; ++i) {
    const double u = g.uniform<double>() * tot;
    index_t c = 0;
    while (c + 1 < comps && cum[c] <= u) ++c;
    m.label[i] = static_cast<std::int32_t>(c);
    for (index_t j = 0; j < d; ++j) m.x(i, j) = m.centres(c, j) + sd[c] * g.normal<float>();
  }
  return m;
}

/// Rows scaled to unit norm.
inline matrix<float> normalised(matrix<float> x) {
  for (index_t i = 0; i < x.rows(); ++i) x.row(i).normalize();
  return x;
}

/// Σ_j (a_j − b_j)² in double.
inline double sqdist(const float* a, const float* b, index_t d) {
  double s = 0;
  for (index_t j = 0; j < d; ++j) s += (double(a[j]) - double(b[j])) * (double(a[j]) - double(b[j]));
  return s;
}

/// Mean squared reconstruction error.
inline double mean_sq_error(const matrix<float>& x, const matrix<float>& xhat) {
  return (x.cast<double>() - xhat.cast<double>()).rowwise().squaredNorm().mean();
}

/// A temporary file path unique to this process (removed by the guard's destructor).
struct temp_file {
  std::string path;
  explicit temp_file(const std::string& name)
      : path("/tmp/reg4rec_quant_test_" + std::to_string(::getpid()) + "_" + name) {}
  ~temp_file() { std::remove(path.c_str()); }
};

/// Random integers in [0, hi).
inline matrix<std::int32_t> random_codes(index_t n, index_t M, index_t hi, std::uint64_t seed) {
  rng g(seed);
  matrix<std::int32_t> c(n, M);
  for (index_t i = 0; i < c.size(); ++i) c.data()[i] = static_cast<std::int32_t>(g.below(static_cast<std::uint64_t>(hi)));
  return c;
}
inline std::vector<std::int64_t> random_popularity(index_t n, index_t hi, std::uint64_t seed) {
  rng g(seed);
  std::vector<std::int64_t> p(static_cast<std::size_t>(n));
  for (auto& v : p) v = static_cast<std::int64_t>(g.below(static_cast<std::uint64_t>(hi)));
  return p;
}

}  // namespace reg4rec::test
