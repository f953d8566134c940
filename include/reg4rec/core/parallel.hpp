// Thread parallelism. One pool: OpenMP's. A loop is cut into one contiguous range per thread
// (static split) so that results do not depend on scheduling; nested calls and small loops
// run serially. Exceptions thrown inside a worker are carried out and rethrown.
#pragma once

#include <algorithm>
#include <exception>
#include <mutex>

#include "reg4rec/core/config.hpp"
#include "reg4rec/core/types.hpp"

namespace reg4rec {

/// Threads a parallel loop will use (OpenMP's setting; 1 without OpenMP).
inline int max_threads() noexcept {
#if REG4REC_HAS_OPENMP
  return omp_get_max_threads();
#else
  return 1;
#endif
}

/// Sets the threads used by later parallel loops (and by Eigen's products).
inline void set_num_threads(int n) noexcept {
#if REG4REC_HAS_OPENMP
  omp_set_num_threads(std::max(1, n));
#else
  (void)n;
#endif
}

/// True inside a parallel region (where loops run serially).
inline bool in_parallel() noexcept {
#if REG4REC_HAS_OPENMP
  return omp_in_parallel() != 0;
#else
  return false;
#endif
}

/// Calls f(lo, hi) on disjoint ranges covering [begin, end): one range per thread, each at
/// least `grain` long. Serial when the loop is short, OpenMP is absent or already parallel.
template <class F>
void parallel_for(index_t begin, index_t end, index_t grain, F&& f) {
  const index_t n = end - begin;
  if (n <= 0) return;
  grain = std::max<index_t>(grain, 1);
  const index_t nt = std::min<index_t>(max_threads(), n / grain);
  if (nt <= 1 || in_parallel()) {
    f(begin, end);
    return;
  }
#if REG4REC_HAS_OPENMP
  std::exception_ptr failure;
  std::mutex m;
#pragma omp parallel num_threads(static_cast<int>(nt))
  {
    const index_t t = omp_get_thread_num();
    const index_t T = omp_get_num_threads();
    const index_t lo = begin + n * t / T, hi = begin + n * (t + 1) / T;
    try {
      if (lo < hi) f(lo, hi);
    } catch (...) {
      std::lock_guard<std::mutex> lock(m);
      if (!failure) failure = std::current_exception();
    }
  }
  if (failure) std::rethrow_exception(failure);
#endif
}

/// Calls f(lo, hi) on chunks of `chunk` iterations handed out dynamically: for loops whose
/// iterations cost very different amounts (causal attention rows, variable-length users).
template <class F>
void parallel_for_dynamic(index_t begin, index_t end, index_t chunk, F&& f) {
  const index_t n = end - begin;
  if (n <= 0) return;
  chunk = std::max<index_t>(chunk, 1);
  if (max_threads() <= 1 || n <= chunk || in_parallel()) {
    f(begin, end);
    return;
  }
#if REG4REC_HAS_OPENMP
  std::exception_ptr failure;
  std::mutex m;
  const index_t nchunks = (n + chunk - 1) / chunk;
#pragma omp parallel for schedule(dynamic, 1)
  for (index_t c = 0; c < nchunks; ++c) {
    const index_t lo = begin + c * chunk, hi = std::min(end, lo + chunk);
    try {
      f(lo, hi);
    } catch (...) {
      std::lock_guard<std::mutex> lock(m);
      if (!failure) failure = std::current_exception();
    }
  }
  if (failure) std::rethrow_exception(failure);
#endif
}

/// Index of the calling thread inside a parallel loop (0 outside).
inline int thread_index() noexcept {
#if REG4REC_HAS_OPENMP
  return omp_get_thread_num();
#else
  return 0;
#endif
}

}  // namespace reg4rec
