// Linear layer: y = x·W + b with W stored (in × out) row-major, so the forward product and
// both backward products run on the stored layout through kernels::gemm (NN forward, NT for
// dx = dy·Wᵀ, TN for dW += xᵀ·dy; the packing absorbs the transpositions, no transposed copies
// are made).
#pragma once

#include <string>

#include "reg4rec/core/error.hpp"
#include "reg4rec/core/rng.hpp"
#include "reg4rec/kernels/gemm.hpp"
#include "reg4rec/nn/init.hpp"
#include "reg4rec/nn/parameters.hpp"

namespace reg4rec::nn {

template <class T>
class linear {
 public:
  linear() = default;
  linear(parameter_store<T>& ps, const std::string& name, index_t in, index_t out, bool bias = true)
      : weight(ps.add(join_name(name, "weight"), in, out, true)), in_(in), out_(out), name_(name) {
    if (bias) this->bias = ps.add(join_name(name, "bias"), 1, out, false);
  }

  /// PyTorch's nn.Linear default: W and b uniform in ±1/sqrt(in).
  void init(rng& g) {
    init_fan_in(weight.value(), in_, g);
    if (bias.valid()) init_fan_in(bias.value(), in_, g);
  }

  index_t in_features() const noexcept { return in_; }
  index_t out_features() const noexcept { return out_; }

  /// y: (n, out) = x: (n, in) · W + b.
  void forward(cmatrix_view<T> x, matrix_view<T> y) const {
    check(x, "x");
    check_dim(cat_("rows of y").c_str(), y.rows(), x.rows());
    check_dim(cat_("columns of y").c_str(), y.cols(), out_);
    // The bias is added in the product's epilogue (no second pass over y).
    kernels::gemm<T>(trans::no, trans::no, T(1), x, weight.value(), T(0), y,
                     {bias.valid() ? cspan<T>(bias.value().data(), out_) : cspan<T>(), {}});
  }

  /// dW += xᵀ·dy, db += Σ_rows dy; dx: (n, in) = dy·Wᵀ unless dx is empty (input needs no
  /// gradient). dx is written, or added to when `accumulate_dx` (a residual or shared input).
  void backward(cmatrix_view<T> x, cmatrix_view<T> dy, matrix_view<T> dx, bool accumulate_dx = false) const {
    check(x, "x");
    check_dim(cat_("rows of dy").c_str(), dy.rows(), x.rows());
    check_dim(cat_("columns of dy").c_str(), dy.cols(), out_);
    // db is summed from dy while the product packs it (no second pass over dy).
    kernels::gemm<T>(trans::yes, trans::no, T(1), x, dy, T(1), weight.grad(),
                     {{}, bias.valid() ? span<T>(bias.grad().data(), out_) : span<T>()});
    if (!dx.empty()) {
      check_dim(cat_("rows of dx").c_str(), dx.rows(), x.rows());
      check_dim(cat_("columns of dx").c_str(), dx.cols(), in_);
      kernels::gemm<T>(trans::no, trans::yes, T(1), dy, weight.value(), accumulate_dx ? T(1) : T(0), dx);
    }
  }

  param<T> weight, bias;

 private:
  void check(cmatrix_view<T> x, const char* what) const {
    check_dim(cat_(std::string("columns of ") + what).c_str(), x.cols(), in_);
  }
  std::string cat_(const std::string& s) const { return "linear '" + name_ + "': " + s; }

  index_t in_ = 0, out_ = 0;
  std::string name_;
};

}  // namespace reg4rec::nn
