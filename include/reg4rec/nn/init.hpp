// Parameter initialisation schemes, all seeded.
#pragma once

#include <cmath>

#include "reg4rec/core/rng.hpp"
#include "reg4rec/core/view.hpp"

namespace reg4rec::nn {

/// Fills with N(0, std²).
template <class T>
void init_normal(matrix_view<T> w, T stddev, rng& g) {
  for (index_t i = 0; i < w.rows(); ++i)
    for (index_t j = 0; j < w.cols(); ++j) w(i, j) = stddev * g.normal<T>();
}

/// Fills with U(−a, a).
template <class T>
void init_uniform(matrix_view<T> w, T a, rng& g) {
  for (index_t i = 0; i < w.rows(); ++i)
    for (index_t j = 0; j < w.cols(); ++j) w(i, j) = g.uniform<T>(-a, a);
}

/// Glorot/Xavier uniform for a (fan_in × fan_out) matrix: U(±sqrt(6 / (fan_in + fan_out))).
template <class T>
void init_xavier(matrix_view<T> w, rng& g) {
  init_uniform(w, T(std::sqrt(6.0 / double(w.rows() + w.cols()))), g);
}

/// PyTorch's nn.Linear default (Kaiming uniform with a = √5): U(±1/sqrt(fan_in)).
template <class T>
void init_fan_in(matrix_view<T> w, index_t fan_in, rng& g) {
  init_uniform(w, T(1.0 / std::sqrt(double(fan_in))), g);
}

template <class T>
void init_constant(matrix_view<T> w, T value) {
  for (index_t i = 0; i < w.rows(); ++i)
    for (index_t j = 0; j < w.cols(); ++j) w(i, j) = value;
}

}  // namespace reg4rec::nn
