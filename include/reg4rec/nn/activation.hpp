// Elementwise activations as policy classes: forward(x, y) and backward(x, dy, dx), dx
// written. GELU uses the SIMD kernels (tanh approximation); ReLU and SiLU are plain loops the
// compiler vectorises.
#pragma once

#include <algorithm>

#include <cmath>

#include "reg4rec/core/parallel.hpp"
#include "reg4rec/kernels/gelu.hpp"

namespace reg4rec::nn {

struct gelu {
  static constexpr const char* name = "gelu";
  template <class T>
  static void forward(cspan<T> x, span<T> y) {
    kernels::gelu_forward<T>(x, y);
  }
  template <class T>
  static void backward(cspan<T> x, cspan<T> dy, span<T> dx) {
    kernels::gelu_backward<T>(x, dy, dx);
  }
};

struct relu {
  static constexpr const char* name = "relu";
  template <class T>
  static void forward(cspan<T> x, span<T> y) {
    check_dim("relu: length of y", y.size(), x.size());
    const T* xp = x.data();
    T* yp = y.data();
    parallel_for(0, x.size(), 1 << 15, [=](index_t lo, index_t hi) {
      const T* a = xp;
      T* o = yp;
      for (index_t i = lo; i < hi; ++i) o[i] = std::max(a[i], T(0));  // branch-free, vectorised
    });
  }
  template <class T>
  static void backward(cspan<T> x, cspan<T> dy, span<T> dx) {
    check_dim("relu: length of dx", dx.size(), x.size());
    // Raw pointers captured by value: through the spans the compiler reloaded them every element
    // and kept a data-dependent branch (a third of an RQ-VAE step went here).
    const T *xp = x.data(), *dyp = dy.data();
    T* dxp = dx.data();
    parallel_for(0, x.size(), 1 << 15, [=](index_t lo, index_t hi) {
      const T *a = xp, *g = dyp;
      T* o = dxp;
      for (index_t i = lo; i < hi; ++i) o[i] = a[i] > T(0) ? g[i] : T(0);
    });
  }
};

/// SiLU (swish): x·σ(x); derivative σ(x)·(1 + x·(1 − σ(x))).
struct silu {
  static constexpr const char* name = "silu";
  template <class T>
  static void forward(cspan<T> x, span<T> y) {
    check_dim("silu: length of y", y.size(), x.size());
    parallel_for(0, x.size(), 1 << 14, [&](index_t lo, index_t hi) {
      for (index_t i = lo; i < hi; ++i) y[i] = x[i] / (T(1) + std::exp(-x[i]));
    });
  }
  template <class T>
  static void backward(cspan<T> x, cspan<T> dy, span<T> dx) {
    check_dim("silu: length of dx", dx.size(), x.size());
    parallel_for(0, x.size(), 1 << 14, [&](index_t lo, index_t hi) {
      for (index_t i = lo; i < hi; ++i) {
        const T s = T(1) / (T(1) + std::exp(-x[i]));
        dx[i] = dy[i] * s * (T(1) + x[i] * (T(1) - s));
      }
    });
  }
};

}  // namespace reg4rec::nn
