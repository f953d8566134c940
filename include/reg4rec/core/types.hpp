// Scalar and index types, the aligned allocator used for every large buffer, and the Eigen
// aliases. All matrices are row-major: a row is one item, one token or one code, which is
// how the data arrives and how the kernels stream it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <limits>
#include <new>
#include <vector>

#if defined(__linux__)
#include <sys/mman.h>
#endif

#include <Eigen/Core>

#include "reg4rec/core/config.hpp"

namespace reg4rec {

/// Alignment of every buffer the library allocates: one cache line, one AVX-512 register.
inline constexpr std::size_t buffer_alignment = 64;

namespace detail {
// Buffers of at least this size are aligned to 2 MiB and advised as huge pages: on the VMs
// we measure on, the first touch of a 4 KiB page costs about 10 us, a huge page far less.
inline constexpr std::size_t huge_page_threshold = std::size_t(4) << 20;
inline constexpr std::size_t huge_page_size = std::size_t(2) << 20;

inline void* aligned_alloc_bytes(std::size_t bytes) {
  if (bytes == 0) return nullptr;
  const bool huge = bytes >= huge_page_threshold;
  const std::size_t align = huge ? huge_page_size : buffer_alignment;
  const std::size_t rounded = (bytes + align - 1) / align * align;
  void* p = std::aligned_alloc(align, rounded);
  if (!p) throw std::bad_alloc();
#if defined(__linux__) && defined(MADV_HUGEPAGE)
  if (huge) ::madvise(p, rounded, MADV_HUGEPAGE);
#endif
  return p;
}
}  // namespace detail

/// Allocator giving 64-byte aligned storage (2 MiB aligned and huge-page advised when large).
template <class T>
struct aligned_allocator {
  using value_type = T;
  aligned_allocator() noexcept = default;
  template <class U>
  aligned_allocator(const aligned_allocator<U>&) noexcept {}
  T* allocate(std::size_t n) {
    if (n > std::numeric_limits<std::size_t>::max() / sizeof(T)) throw std::bad_alloc();
    return static_cast<T*>(detail::aligned_alloc_bytes(n * sizeof(T)));
  }
  void deallocate(T* p, std::size_t) noexcept { std::free(p); }
  template <class U>
  bool operator==(const aligned_allocator<U>&) const noexcept { return true; }
  template <class U>
  bool operator!=(const aligned_allocator<U>&) const noexcept { return false; }
};

/// std::vector with aligned storage: the library's flat buffer type.
template <class T>
using aligned_vector = std::vector<T, aligned_allocator<T>>;

/// Row-major dense matrix (Eigen).
template <class T>
using matrix = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

/// Dense column vector (Eigen).
template <class T>
using vec = Eigen::Matrix<T, Eigen::Dynamic, 1>;

/// Eigen view of row-major memory with an arbitrary row stride.
template <class T>
using matrix_map = Eigen::Map<matrix<T>, Eigen::Unaligned, Eigen::OuterStride<>>;
template <class T>
using cmatrix_map = Eigen::Map<const matrix<T>, Eigen::Unaligned, Eigen::OuterStride<>>;

/// Eigen view of contiguous memory as a vector.
template <class T>
using vec_map = Eigen::Map<vec<T>>;
template <class T>
using cvec_map = Eigen::Map<const vec<T>>;

}  // namespace reg4rec
