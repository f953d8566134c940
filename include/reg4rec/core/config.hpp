// Library-wide configuration: version, feature macros and small portability helpers.
// Included first by every reg4rec header so that the feature macros are consistent.
#pragma once

#define REG4REC_VERSION_MAJOR 0
#define REG4REC_VERSION_MINOR 1
#define REG4REC_VERSION_PATCH 0
#define REG4REC_VERSION_STRING "0.1.0"

// OpenMP is used when the translation unit is compiled with it (the CMake target adds the
// flags when REG4REC_ENABLE_OPENMP is ON). Define REG4REC_NO_OPENMP to opt out explicitly.
#if defined(_OPENMP) && !defined(REG4REC_NO_OPENMP)
#define REG4REC_HAS_OPENMP 1
#include <omp.h>
#else
#define REG4REC_HAS_OPENMP 0
#endif

// The CUDA add-on: REG4REC_WITH_CUDA is defined by the reg4rec::cuda CMake target, which also
// compiles the add-on's single translation unit into the consumer.
#if defined(REG4REC_WITH_CUDA)
#define REG4REC_HAS_CUDA 1
#else
#define REG4REC_HAS_CUDA 0
#endif

#if defined(__GNUC__) || defined(__clang__)
#define REG4REC_RESTRICT __restrict__
#define REG4REC_INLINE inline __attribute__((always_inline))
#define REG4REC_NOINLINE __attribute__((noinline))
#define REG4REC_LIKELY(x) __builtin_expect(!!(x), 1)
#define REG4REC_UNLIKELY(x) __builtin_expect(!!(x), 0)
#else
#define REG4REC_RESTRICT
#define REG4REC_INLINE inline
#define REG4REC_NOINLINE
#define REG4REC_LIKELY(x) (x)
#define REG4REC_UNLIKELY(x) (x)
#endif

#include <cstdint>

namespace reg4rec {
inline constexpr const char* version_string = REG4REC_VERSION_STRING;

/// Signed index type for sizes and offsets (matches Eigen::Index on 64-bit platforms).
using index_t = std::int64_t;
}  // namespace reg4rec
