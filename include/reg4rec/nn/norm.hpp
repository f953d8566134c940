// LayerNorm and RMSNorm layers over the last dimension, on the kernels of kernels/norm.hpp.
// Forward saves per-row statistics in the caller's buffers; backward writes dx and adds the
// parameter gradients.
#pragma once

#include <string>

#include "reg4rec/kernels/norm.hpp"
#include "reg4rec/nn/init.hpp"
#include "reg4rec/nn/parameters.hpp"

namespace reg4rec::nn {

template <class T>
class layer_norm {
 public:
  layer_norm() = default;
  layer_norm(parameter_store<T>& ps, const std::string& name, index_t dim, bool bias = true, T eps = T(1e-5))
      : gamma(ps.add(join_name(name, "gamma"), 1, dim, false)), dim_(dim), eps_(eps) {
    if (bias) beta = ps.add(join_name(name, "beta"), 1, dim, false);
  }
  void init() {
    init_constant(gamma.value(), T(1));
    if (beta.valid()) init_constant(beta.value(), T(0));
  }
  index_t dim() const noexcept { return dim_; }

  /// y = LN(x); mean, rstd: (n) saved for backward.
  void forward(cmatrix_view<T> x, matrix_view<T> y, span<T> mean, span<T> rstd) const {
    kernels::layer_norm_forward<T>(x, gamma.value_span(), beta_values(), eps_, y, mean, rstd);
  }
  void backward(cmatrix_view<T> x, cspan<T> mean, cspan<T> rstd, cmatrix_view<T> dy,
                matrix_view<T> dx) const {
    kernels::layer_norm_backward<T>(x, gamma.value_span(), mean, rstd, dy, dx, gamma.grad_span(),
                                    beta.valid() ? beta.grad_span() : span<T>());
  }

  param<T> gamma, beta;

 private:
  cspan<T> beta_values() const { return beta.valid() ? cspan<T>(beta.value_span()) : cspan<T>(); }
  index_t dim_ = 0;
  T eps_ = T(1e-5);
};

template <class T>
class rms_norm {
 public:
  rms_norm() = default;
  rms_norm(parameter_store<T>& ps, const std::string& name, index_t dim, T eps = T(1e-6))
      : gamma(ps.add(join_name(name, "gamma"), 1, dim, false)), dim_(dim), eps_(eps) {}
  void init() { init_constant(gamma.value(), T(1)); }
  index_t dim() const noexcept { return dim_; }

  void forward(cmatrix_view<T> x, matrix_view<T> y, span<T> rstd) const {
    kernels::rms_norm_forward<T>(x, gamma.value_span(), eps_, y, rstd);
  }
  void backward(cmatrix_view<T> x, cspan<T> rstd, cmatrix_view<T> dy, matrix_view<T> dx) const {
    kernels::rms_norm_backward<T>(x, gamma.value_span(), rstd, dy, dx, gamma.grad_span());
  }

  param<T> gamma;

 private:
  index_t dim_ = 0;
  T eps_ = T(1e-6);
};

}  // namespace reg4rec::nn
