// Non-owning views: span<T> (contiguous elements) and matrix_view<T> (row-major rows with a
// stride). They are what every kernel and layer takes, so that callers can pass std::vector,
// Eigen row-major matrices, aligned buffers or device pointers alike, without copies.
#pragma once

#include <type_traits>
#include <utility>

#include "reg4rec/core/error.hpp"
#include "reg4rec/core/types.hpp"

namespace reg4rec {

namespace detail {
template <class C, class T, class = void>
struct has_data_convertible : std::false_type {};
template <class C, class T>
struct has_data_convertible<
    C, T, std::void_t<decltype(std::declval<C&>().data()), decltype(std::declval<C&>().size())>>
    : std::is_convertible<decltype(std::declval<C&>().data()), T*> {};

// Row-major Eigen objects with unit inner stride whose data() converts to T*.
template <class D, class T, class = void>
struct is_viewable_eigen : std::false_type {};
template <class D, class T>
struct is_viewable_eigen<D, T, std::void_t<decltype(std::declval<D&>().data()), decltype(std::declval<D&>().outerStride())>>
    : std::bool_constant<std::is_base_of_v<Eigen::EigenBase<std::decay_t<D>>, std::decay_t<D>> &&
                         bool(std::decay_t<D>::IsRowMajor) && std::decay_t<D>::InnerStrideAtCompileTime == 1 &&
                         std::is_convertible_v<decltype(std::declval<D&>().data()), T*>> {};
}  // namespace detail

/// Contiguous run of `size()` elements of T (T may be const).
template <class T>
class span {
 public:
  using element_type = T;
  using value_type = std::remove_cv_t<T>;

  constexpr span() noexcept = default;
  constexpr span(T* data, index_t size) noexcept : data_(data), size_(size) {}

  /// From any container with data() and size() (std::vector, std::array, Eigen vectors).
  template <class C, class = std::enable_if_t<detail::has_data_convertible<C, T>::value &&
                                              !std::is_same_v<std::decay_t<C>, span>>>
  constexpr span(C& c) noexcept : data_(c.data()), size_(static_cast<index_t>(c.size())) {}

  /// span<T> converts to span<const T>.
  template <class U, class = std::enable_if_t<std::is_same_v<const U, T> && !std::is_same_v<U, T>>>
  constexpr span(span<U> other) noexcept : data_(other.data()), size_(other.size()) {}

  constexpr T* data() const noexcept { return data_; }
  constexpr index_t size() const noexcept { return size_; }
  constexpr bool empty() const noexcept { return size_ == 0; }
  constexpr T& operator[](index_t i) const noexcept { return data_[i]; }
  constexpr T* begin() const noexcept { return data_; }
  constexpr T* end() const noexcept { return data_ + size_; }

  /// Elements [offset, offset + count).
  constexpr span subspan(index_t offset, index_t count) const noexcept {
    return span(data_ + offset, count);
  }

  /// The same memory as an Eigen column vector (writable when T is not const).
  auto eigen() const noexcept {
    using map = std::conditional_t<std::is_const_v<T>, cvec_map<value_type>, vec_map<value_type>>;
    return map(data_, size_);
  }

 private:
  T* data_ = nullptr;
  index_t size_ = 0;
};

template <class C>
span(C&) -> span<std::remove_pointer_t<decltype(std::declval<C&>().data())>>;

/// Row-major matrix view: rows() × cols() elements, row i starting at data() + i * stride().
template <class T>
class matrix_view {
 public:
  using element_type = T;
  using value_type = std::remove_cv_t<T>;

  constexpr matrix_view() noexcept = default;
  constexpr matrix_view(T* data, index_t rows, index_t cols) noexcept
      : data_(data), rows_(rows), cols_(cols), stride_(cols) {}
  constexpr matrix_view(T* data, index_t rows, index_t cols, index_t stride) noexcept
      : data_(data), rows_(rows), cols_(cols), stride_(stride) {}

  /// matrix_view<T> converts to matrix_view<const T>.
  template <class U, class = std::enable_if_t<std::is_same_v<const U, T> && !std::is_same_v<U, T>>>
  constexpr matrix_view(matrix_view<U> o) noexcept
      : data_(o.data()), rows_(o.rows()), cols_(o.cols()), stride_(o.stride()) {}

  /// From a row-major Eigen matrix, Map or row block with unit inner stride.
  template <class D, class = std::enable_if_t<detail::is_viewable_eigen<D, T>::value>>
  matrix_view(D& m) noexcept  // NOLINT(google-explicit-constructor): views convert implicitly
      : data_(m.data()), rows_(m.rows()), cols_(m.cols()), stride_(m.outerStride()) {}

  /// From a temporary Eigen block or Map (x.topRows(k), x.middleRows(a, b)); not from a
  /// temporary matrix, whose storage would die with it.
  template <class D, class = std::enable_if_t<detail::is_viewable_eigen<D, T>::value &&
                                              !std::is_lvalue_reference_v<D> &&
                                              !std::is_base_of_v<Eigen::PlainObjectBase<std::decay_t<D>>,
                                                                 std::decay_t<D>>>,
            class = void>
  matrix_view(D&& m) noexcept  // NOLINT(google-explicit-constructor)
      : data_(m.data()), rows_(m.rows()), cols_(m.cols()), stride_(m.outerStride()) {}

  constexpr T* data() const noexcept { return data_; }
  constexpr index_t rows() const noexcept { return rows_; }
  constexpr index_t cols() const noexcept { return cols_; }
  constexpr index_t stride() const noexcept { return stride_; }
  constexpr index_t size() const noexcept { return rows_ * cols_; }
  constexpr bool empty() const noexcept { return rows_ == 0 || cols_ == 0; }
  constexpr bool contiguous() const noexcept { return stride_ == cols_ || rows_ <= 1; }

  constexpr T* row_ptr(index_t i) const noexcept { return data_ + i * stride_; }
  constexpr span<T> row(index_t i) const noexcept { return span<T>(data_ + i * stride_, cols_); }
  constexpr T& operator()(index_t i, index_t j) const noexcept { return data_[i * stride_ + j]; }

  /// Rows [first, first + count).
  constexpr matrix_view middle_rows(index_t first, index_t count) const noexcept {
    return matrix_view(data_ + first * stride_, count, cols_, stride_);
  }
  /// Columns [first, first + count) of every row.
  constexpr matrix_view middle_cols(index_t first, index_t count) const noexcept {
    return matrix_view(data_ + first, rows_, count, stride_);
  }

  /// The same memory as an Eigen expression, for the linear algebra.
  auto eigen() const noexcept {
    using map = std::conditional_t<std::is_const_v<T>, cmatrix_map<value_type>, matrix_map<value_type>>;
    return map(data_, rows_, cols_, Eigen::OuterStride<>(stride_));
  }

 private:
  T* data_ = nullptr;
  index_t rows_ = 0;
  index_t cols_ = 0;
  index_t stride_ = 0;
};

template <class T>
using cmatrix_view = matrix_view<const T>;

/// Blocks template argument deduction: functions deduce their scalar type from the output
/// views and let the inputs convert (from mutable views, Eigen matrices, containers).
template <class T>
struct nodeduce_t {
  using type = T;
};
template <class T>
using nodeduce = typename nodeduce_t<T>::type;
template <class T>
using cspan = span<const T>;

/// View a contiguous buffer as rows × cols.
template <class T>
constexpr matrix_view<T> as_matrix(span<T> s, index_t rows, index_t cols) {
  if (rows * cols > s.size())
    throw dimension_error(detail::cat("as_matrix: buffer of ", s.size(), " elements cannot hold ",
                                      rows, " x ", cols));
  return matrix_view<T>(s.data(), rows, cols);
}

}  // namespace reg4rec
