// Kernel benchmarks: every kernel, scalar beside SIMD (and, for nearest-code search, beside
// an Eigen matrix-product formulation), with rate counters. The last argument of each
// benchmark is the thread count.
//
//   build/bench/reg4rec_bench --benchmark_filter=nearest
#include <benchmark/benchmark.h>

#include <limits>
#include <vector>

#include <reg4rec/kernels.hpp>

#include "bench_util.hpp"

using namespace reg4rec;

namespace {

// ---- nearest-code search: n = 100,000 vectors, d = 32, K = 256 codes ------------------
constexpr index_t kN = 100000, kD = 32, kK = 256;

template <class Backend>
void BM_nearest(benchmark::State& state) {
  bench::threads_from(state, 0);
  const auto x = bench::random_matrix<float>(kN, kD, 1);
  const auto c = bench::random_matrix<float>(kK, kD, 2);
  std::vector<std::int32_t> idx(kN);
  std::vector<float> dist(kN);
  kernels::codebook_search<float, Backend> cs(metric::l2, c);
  for (auto _ : state) {
    cs.nearest(x, idx, dist);
    benchmark::DoNotOptimize(idx.data());
  }
  state.SetItemsProcessed(state.iterations() * kN);
  bench::rate(state, "GFLOP/s", 2.0 * kN * kK * kD * 1e-9);
}
BENCHMARK_TEMPLATE(BM_nearest, backend::scalar)->Arg(1)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK_TEMPLATE(BM_nearest, backend::simd<>)->Arg(1)->Arg(2)->Unit(benchmark::kMillisecond)->UseRealTime();

// The textbook formulation: one Eigen GEMM X·Cᵀ (n × K, 100 MB), then an argmin pass.
void BM_nearest_eigen_gemm(benchmark::State& state) {
  bench::threads_from(state, 0);
  Eigen::setNbThreads(static_cast<int>(state.range(0)));
  const auto x = bench::random_matrix<float>(kN, kD, 1);
  const auto c = bench::random_matrix<float>(kK, kD, 2);
  const Eigen::RowVectorXf cnorm = c.rowwise().squaredNorm().transpose();
  matrix<float> dots(kN, kK);
  std::vector<std::int32_t> idx(kN);
  for (auto _ : state) {
    dots.noalias() = x * c.transpose();
    parallel_for(0, kN, 1024, [&](index_t lo, index_t hi) {
      for (index_t i = lo; i < hi; ++i) {
        Eigen::Index k;
        (cnorm - 2.0f * dots.row(i)).minCoeff(&k);
        idx[i] = static_cast<std::int32_t>(k);
      }
    });
    benchmark::DoNotOptimize(idx.data());
  }
  state.SetItemsProcessed(state.iterations() * kN);
  bench::rate(state, "GFLOP/s", 2.0 * kN * kK * kD * 1e-9);
}
BENCHMARK(BM_nearest_eigen_gemm)->Arg(1)->Arg(2)->Unit(benchmark::kMillisecond)->UseRealTime();

template <class Backend>
void BM_nearest_topb(benchmark::State& state) {
  bench::threads_from(state, 1);
  const index_t B = state.range(0);
  const auto x = bench::random_matrix<float>(kN, kD, 1);
  const auto c = bench::random_matrix<float>(kK, kD, 2);
  matrix<std::int32_t> idx(kN, B);
  matrix<float> dist(kN, B);
  kernels::codebook_search<float, Backend> cs(metric::l2, c);
  for (auto _ : state) {
    cs.topb(x, idx, dist);
    benchmark::DoNotOptimize(idx.data());
  }
  state.SetItemsProcessed(state.iterations() * kN);
  bench::rate(state, "GFLOP/s", 2.0 * kN * kK * kD * 1e-9);
}
BENCHMARK_TEMPLATE(BM_nearest_topb, backend::scalar)->Args({5, 1})->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK_TEMPLATE(BM_nearest_topb, backend::simd<>)->Args({5, 1})->Args({5, 2})->Args({20, 2})->Unit(benchmark::kMillisecond)->UseRealTime();

// ---- softmax over language-model logits: 20,480 rows × 1,100 ---------------------------
template <class Backend>
void BM_log_softmax(benchmark::State& state) {
  bench::threads_from(state, 0);
  const index_t n = 20480, m = 1100;
  const auto x = bench::random_matrix<float>(n, m, 3);
  matrix<float> y(n, m);
  for (auto _ : state) {
    kernels::log_softmax<float>(Backend{}, x, y);
    benchmark::DoNotOptimize(y.data());
  }
  state.SetItemsProcessed(state.iterations() * n);
  bench::rate(state, "GB/s", 2.0 * n * m * sizeof(float) * 1e-9);
}
BENCHMARK_TEMPLATE(BM_log_softmax, backend::scalar)->Arg(1)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK_TEMPLATE(BM_log_softmax, backend::simd<>)->Arg(1)->Arg(2)->Unit(benchmark::kMillisecond)->UseRealTime();

// ---- top-k over a full item catalogue: 1,024 users × 12,101 items, k = 10 --------------
template <class Backend>
void BM_topk(benchmark::State& state) {
  bench::threads_from(state, 0);
  const index_t n = 1024, m = 12101, k = 10;
  const auto x = bench::random_matrix<float>(n, m, 4);
  matrix<std::int32_t> idx(n, k);
  matrix<float> val(n, k);
  for (auto _ : state) {
    kernels::topk<float>(Backend{}, x, idx, val);
    benchmark::DoNotOptimize(idx.data());
  }
  state.SetItemsProcessed(state.iterations() * n);
  bench::rate(state, "GB/s", double(n) * m * sizeof(float) * 1e-9);
}
BENCHMARK_TEMPLATE(BM_topk, backend::scalar)->Arg(1)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK_TEMPLATE(BM_topk, backend::simd<>)->Arg(1)->Arg(2)->Unit(benchmark::kMillisecond)->UseRealTime();

// ---- LayerNorm / RMSNorm over transformer activations: 20,480 × 128 --------------------
template <class Backend>
void BM_layer_norm(benchmark::State& state) {
  bench::threads_from(state, 0);
  const index_t n = 20480, c = 128;
  const auto x = bench::random_matrix<float>(n, c, 5);
  const auto dy = bench::random_matrix<float>(n, c, 6);
  std::vector<float> g(c, 1.0f), b(c, 0.0f), mean(n), rstd(n), dg(c), db(c);
  matrix<float> y(n, c), dx(n, c);
  for (auto _ : state) {
    kernels::layer_norm_forward<float>(Backend{}, x, g, b, 1e-5f, y, mean, rstd);
    kernels::layer_norm_backward<float>(Backend{}, x, g, mean, rstd, dy, dx, dg, db);
    benchmark::DoNotOptimize(dx.data());
  }
  state.SetItemsProcessed(state.iterations() * n);
  bench::rate(state, "GB/s", 5.0 * n * c * sizeof(float) * 1e-9);  // x, y; x, dy, dx
}
BENCHMARK_TEMPLATE(BM_layer_norm, backend::scalar)->Arg(1)->Unit(benchmark::kMicrosecond)->UseRealTime();
BENCHMARK_TEMPLATE(BM_layer_norm, backend::simd<>)->Arg(1)->Arg(2)->Unit(benchmark::kMicrosecond)->UseRealTime();

template <class Backend>
void BM_rms_norm(benchmark::State& state) {
  bench::threads_from(state, 0);
  const index_t n = 20480, c = 128;
  const auto x = bench::random_matrix<float>(n, c, 5);
  const auto dy = bench::random_matrix<float>(n, c, 6);
  std::vector<float> g(c, 1.0f), rstd(n), dg(c);
  matrix<float> y(n, c), dx(n, c);
  for (auto _ : state) {
    kernels::rms_norm_forward<float>(Backend{}, x, g, 1e-6f, y, rstd);
    kernels::rms_norm_backward<float>(Backend{}, x, g, rstd, dy, dx, dg);
    benchmark::DoNotOptimize(dx.data());
  }
  state.SetItemsProcessed(state.iterations() * n);
  bench::rate(state, "GB/s", 5.0 * n * c * sizeof(float) * 1e-9);
}
BENCHMARK_TEMPLATE(BM_rms_norm, backend::scalar)->Arg(1)->Unit(benchmark::kMicrosecond)->UseRealTime();
BENCHMARK_TEMPLATE(BM_rms_norm, backend::simd<>)->Arg(1)->Arg(2)->Unit(benchmark::kMicrosecond)->UseRealTime();

// ---- GELU over the FFN activations: 20,480 × 512 ---------------------------------------
template <class Backend>
void BM_gelu(benchmark::State& state) {
  bench::threads_from(state, 0);
  const index_t n = 20480 * 512;
  std::vector<float> x(n), y(n), dy(n, 1.0f), dx(n);
  rng g(7);
  for (auto& v : x) v = g.normal<float>();
  for (auto _ : state) {
    kernels::gelu_forward<float>(Backend{}, x, y);
    kernels::gelu_backward<float>(Backend{}, x, dy, dx);
    benchmark::DoNotOptimize(dx.data());
  }
  state.SetItemsProcessed(state.iterations() * n);
  bench::rate(state, "GB/s", 5.0 * n * sizeof(float) * 1e-9);
}
BENCHMARK_TEMPLATE(BM_gelu, backend::scalar)->Arg(1)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK_TEMPLATE(BM_gelu, backend::simd<>)->Arg(1)->Arg(2)->Unit(benchmark::kMillisecond)->UseRealTime();

// ---- AdamW over 10M parameters -------------------------------------------------------
template <class Backend>
void BM_adamw(benchmark::State& state) {
  bench::threads_from(state, 0);
  const index_t n = 10'000'000;
  aligned_vector<float> p(n, 0.1f), g(n, 0.01f), m(n, 0.0f), v(n, 0.0f);
  adamw_hparams h;
  for (auto _ : state) {
    kernels::adamw_update<float>(Backend{}, p, g, m, v, h);
    ++h.step;
    benchmark::DoNotOptimize(p.data());
  }
  state.SetItemsProcessed(state.iterations() * n);
  bench::rate(state, "GB/s", 7.0 * n * sizeof(float) * 1e-9);  // read p g m v, write p m v
}
BENCHMARK_TEMPLATE(BM_adamw, backend::scalar)->Arg(1)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK_TEMPLATE(BM_adamw, backend::simd<>)->Arg(1)->Arg(2)->Unit(benchmark::kMillisecond)->UseRealTime();

// The non-finite guard's scan of a gradient buffer (1.2 M floats, the RQ-VAE step's size):
// kernels::first_nonfinite against the Σ x·0 loop it replaced (one chain of dependent adds).
void BM_first_nonfinite(benchmark::State& state) {
  bench::threads_from(state, 0);
  const index_t n = 1'200'000;
  const matrix<float> x = bench::random_matrix<float>(1, n, 3);
  const cspan<float> xs(x.data(), n);
  for (auto _ : state) benchmark::DoNotOptimize(kernels::first_nonfinite<float>(xs));
  state.SetItemsProcessed(state.iterations() * n);
  bench::rate(state, "GB/s", double(n) * sizeof(float) * 1e-9);
}
BENCHMARK(BM_first_nonfinite)->Arg(1)->Arg(2)->Unit(benchmark::kMicrosecond)->UseRealTime();

void BM_sum_times_zero(benchmark::State& state) {
  const index_t n = 1'200'000;
  const matrix<float> x = bench::random_matrix<float>(1, n, 3);
  for (auto _ : state) {
    float acc = 0;
    for (index_t i = 0; i < n; ++i) acc += x.data()[i] * 0.0f;
    benchmark::DoNotOptimize(acc);
  }
  state.SetItemsProcessed(state.iterations() * n);
  bench::rate(state, "GB/s", double(n) * sizeof(float) * 1e-9);
}
BENCHMARK(BM_sum_times_zero)->Unit(benchmark::kMicrosecond)->UseRealTime();

}  // namespace
