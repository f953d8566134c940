// Finite-difference gradient checks (in double), in the manner of mlpack's CheckGradient:
// central differences for every coordinate, compared with the analytic gradient through the
// relative error ‖a − n‖ / (‖a‖ + ‖n‖) over the whole vector.
#pragma once

#include <cmath>
#include <functional>
#include <string>
#include <vector>

#include <reg4rec/nn/parameters.hpp>

namespace reg4rec::test {

struct gradcheck_result {
  double rel_error = 0, analytic_norm = 0;
  std::string where;
};

/// Central-difference derivative of loss() with respect to each element of `values`
/// (perturbed in place and restored).
inline std::vector<double> numeric_gradient(double* values, index_t n, const std::function<double()>& loss,
                                            double h = 1e-5) {
  std::vector<double> g(static_cast<std::size_t>(n));
  for (index_t i = 0; i < n; ++i) {
    const double keep = values[i];
    values[i] = keep + h;
    const double up = loss();
    values[i] = keep - h;
    const double down = loss();
    values[i] = keep;
    g[static_cast<std::size_t>(i)] = (up - down) / (2 * h);
  }
  return g;
}

inline double relative_error(const double* a, const std::vector<double>& n) {
  double diff = 0, na = 0, nn = 0;
  for (std::size_t i = 0; i < n.size(); ++i) {
    diff += (a[i] - n[i]) * (a[i] - n[i]);
    na += a[i] * a[i];
    nn += n[i] * n[i];
  }
  const double denom = std::sqrt(na) + std::sqrt(nn);
  return denom == 0 ? 0 : std::sqrt(diff) / denom;
}

/// Checks every parameter of `ps`: `loss()` runs a forward and returns the loss;
/// `backward()` runs forward + backward with zeroed gradients beforehand. Returns the worst
/// relative error over the parameters, with its name.
inline gradcheck_result check_parameters(nn::parameter_store<double>& ps, const std::function<double()>& loss,
                                         const std::function<void()>& backward) {
  ps.zero_grad();
  backward();
  std::vector<double> analytic(ps.grads().begin(), ps.grads().end());
  gradcheck_result worst;
  for (const auto& e : ps.entries()) {
    const index_t n = e.rows * e.cols;
    const auto numeric = numeric_gradient(ps.values().data() + e.offset, n, loss);
    const double err = relative_error(analytic.data() + e.offset, numeric);
    double norm = 0;
    for (index_t i = 0; i < n; ++i) norm += analytic[e.offset + i] * analytic[e.offset + i];
    if (err > worst.rel_error || worst.where.empty()) worst = {err, std::sqrt(norm), e.name};
  }
  return worst;
}

}  // namespace reg4rec::test
