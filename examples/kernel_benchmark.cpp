// Example: time one kernel (nearest-code search) on each CPU backend and print the rates.
// The Google Benchmark binary bench/reg4rec_bench does this properly for every kernel; this
// shows how to call a kernel with an explicit backend from your own code.
//
//   build/examples/example_kernel_benchmark [n] [d] [K]     (default 20000 32 256: about a second)
#include <chrono>
#include <cstdio>
#include <exception>
#include <cstdlib>
#include <vector>

#include <reg4rec/kernels.hpp>

using namespace reg4rec;

template <class Backend>
double seconds_per_call(const matrix<float>& x, const matrix<float>& codes,
                        std::vector<std::int32_t>& idx, std::vector<float>& dist) {
  kernels::codebook_search<float, Backend> search(metric::l2, codes);  // pack the codes once
  search.nearest(x, idx, dist);                                       // warm up
  const int reps = 5;
  const auto t0 = std::chrono::steady_clock::now();
  for (int r = 0; r < reps; ++r) search.nearest(x, idx, dist);
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() / reps;
}

int run(int argc, char** argv) {
  const index_t n = argc > 1 ? std::atol(argv[1]) : 20000;
  const index_t d = argc > 2 ? std::atol(argv[2]) : 32;
  const index_t K = argc > 3 ? std::atol(argv[3]) : 256;
  rng g(1);
  matrix<float> x(n, d), codes(K, d);
  for (index_t i = 0; i < x.size(); ++i) x.data()[i] = g.normal<float>();
  for (index_t i = 0; i < codes.size(); ++i) codes.data()[i] = g.normal<float>();
  std::vector<std::int32_t> idx(n);
  std::vector<float> dist(n);

  const double flop = 2.0 * n * K * d;
  const double ts = seconds_per_call<backend::scalar>(x, codes, idx, dist);
  const double tv = seconds_per_call<backend::simd<>>(x, codes, idx, dist);
  std::printf("nearest-code search, n=%ld d=%ld K=%ld, %d threads\n", long(n), long(d), long(K), max_threads());
  std::printf("  %-10s %10.0f vectors/s %8.1f GFLOP/s\n", backend::scalar::name(), n / ts, flop / ts * 1e-9);
  std::printf("  %-10s %10.0f vectors/s %8.1f GFLOP/s\n", backend::simd<>::name(), n / tv, flop / tv * 1e-9);
  return 0;
}

// A bad file or argument ends with its message and exit status 1, not an abort.
int main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "kernel_benchmark: %s\n", e.what());
    return 1;
  }
}
