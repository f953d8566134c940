// Shared pieces of the benchmarks: rate counters and thread control.
#pragma once

#include <benchmark/benchmark.h>

#include <reg4rec/core.hpp>

namespace reg4rec::bench {

/// An r × c matrix of standard normal values drawn from `seed`.
template <class T>
matrix<T> random_matrix(index_t r, index_t c, std::uint64_t seed) {
  rng g(seed);
  matrix<T> m(r, c);
  for (index_t i = 0; i < m.size(); ++i) m.data()[i] = g.normal<T>();
  return m;
}

/// Adds a per-second rate counter whose per-iteration amount is `amount` (e.g. GFLOP, GB).
inline void rate(benchmark::State& state, const char* name, double amount) {
  state.counters[name] = benchmark::Counter(amount, benchmark::Counter::kIsIterationInvariantRate);
}

/// Applies the thread count given as the benchmark's range(index) (restored by the caller's
/// next benchmark, which sets its own).
inline int threads_from(benchmark::State& state, int index) {
  const int t = static_cast<int>(state.range(index));
  set_num_threads(t);
  state.counters["threads"] = t;
  return t;
}

}  // namespace reg4rec::bench
