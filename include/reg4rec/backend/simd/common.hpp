// Small helpers shared by the xsimd kernels.
#pragma once

#include <algorithm>
#include <cstddef>
#include <limits>

#include <xsimd/xsimd.hpp>

#include "reg4rec/core/config.hpp"

namespace reg4rec::backend::simd_detail {

template <class T, class A>
REG4REC_INLINE T hsum(const xsimd::batch<T, A>& v) noexcept {
  return xsimd::hadd(v);
}

template <class T, class A>
REG4REC_INLINE T hmax(const xsimd::batch<T, A>& v) noexcept {
  alignas(64) T lanes[xsimd::batch<T, A>::size];
  v.store_aligned(lanes);
  T m = lanes[0];
  for (std::size_t l = 1; l < xsimd::batch<T, A>::size; ++l) m = std::max(m, lanes[l]);
  return m;
}

}  // namespace reg4rec::backend::simd_detail
