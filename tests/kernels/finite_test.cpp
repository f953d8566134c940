#include <catch2/catch.hpp>

#include <cmath>
#include <limits>

#include <reg4rec/kernels.hpp>

#include "test_util.hpp"

using namespace reg4rec;

namespace {
// The reference: a plain scan with std::isfinite.
template <class T>
index_t first_nonfinite_ref(const std::vector<T>& x) {
  for (std::size_t i = 0; i < x.size(); ++i)
    if (!std::isfinite(x[i])) return static_cast<index_t>(i);
  return static_cast<index_t>(x.size());
}
}  // namespace

TEMPLATE_TEST_CASE("first_nonfinite: agrees with a std::isfinite scan", "[kernels][finite]", float, double) {
  using T = TestType;
  const T specials[] = {std::numeric_limits<T>::quiet_NaN(), -std::numeric_limits<T>::quiet_NaN(),
                        std::numeric_limits<T>::infinity(), -std::numeric_limits<T>::infinity()};
  // Finite values that share bits with the non-finite ones: the largest finite, a subnormal,
  // −0 (only the exponent field decides).
  const T edge[] = {std::numeric_limits<T>::max(), -std::numeric_limits<T>::max(),
                    std::numeric_limits<T>::denorm_min(), T(-0.0)};
  for (index_t n : {0, 1, 7, 4095, 4096, 4097, 300001}) {
    auto x = test::random_vector<T>(n, 3);
    for (index_t i = 0; i < n; i += std::max<index_t>(1, n / 5)) x[static_cast<std::size_t>(i)] = edge[i % 4];
    INFO("n = " << n);
    CHECK(kernels::first_nonfinite<T>(x) == n);
    if (n == 0) continue;
    // One bad value at the start, at block edges, at the end; then two (the first counts).
    for (index_t at : {index_t(0), std::min<index_t>(n - 1, 4095), std::min<index_t>(n - 1, 4096), n / 2, n - 1}) {
      for (T bad : specials) {
        auto y = x;
        y[static_cast<std::size_t>(at)] = bad;
        INFO("at " << at << " value " << bad);
        CHECK(kernels::first_nonfinite<T>(y) == first_nonfinite_ref(y));
        CHECK(kernels::first_nonfinite<T>(y) == at);
        y[static_cast<std::size_t>(n - 1)] = specials[0];
        CHECK(kernels::first_nonfinite<T>(y) == at);
      }
    }
  }
}
