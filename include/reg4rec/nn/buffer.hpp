// A growable activation buffer: view(rows, cols) returns a (rows × cols) view on storage
// that only ever grows, so a training loop allocates on its first step and never again, even
// when the last batch is smaller.
#pragma once

#include "reg4rec/core/types.hpp"
#include "reg4rec/core/view.hpp"

namespace reg4rec::nn {

template <class T>
class buffer {
 public:
  matrix_view<T> view(index_t rows, index_t cols) {
    const auto need = static_cast<std::size_t>(rows * cols);
    if (need > data_.size()) data_.resize(need);
    rows_ = rows;
    cols_ = cols;
    return matrix_view<T>(data_.data(), rows, cols);
  }
  span<T> flat(index_t n) {
    if (static_cast<std::size_t>(n) > data_.size()) data_.resize(static_cast<std::size_t>(n));
    rows_ = n;
    cols_ = 1;
    return span<T>(data_.data(), n);
  }
  /// The view last handed out.
  matrix_view<T> operator()() { return matrix_view<T>(data_.data(), rows_, cols_); }
  cmatrix_view<T> operator()() const { return cmatrix_view<T>(data_.data(), rows_, cols_); }
  span<T> as_span() { return span<T>(data_.data(), rows_ * cols_); }
  span<const T> as_span() const { return span<const T>(data_.data(), rows_ * cols_); }
  std::size_t capacity() const noexcept { return data_.size(); }

 private:
  aligned_vector<T> data_;
  index_t rows_ = 0, cols_ = 0;
};

}  // namespace reg4rec::nn
