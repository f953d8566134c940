// The CUDA add-on's kernels, timed on the GPU (CUDA events, data already on the device) and
// through the host-memory entry points that kernels::*(backend::cuda{}, ...) uses (staging
// included), with the SIMD backend on the host's cores beside them. Built with
// REG4REC_ENABLE_CUDA; without a GPU every benchmark reports an error and skips.
//
//   build-cuda/bench/reg4rec_cuda_bench
//   python3 bench/torch_cuda_anchor.py     # PyTorch (a CUDA build) on the same GPU, same shapes
#include <benchmark/benchmark.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <vector>

#include <reg4rec/backend/cuda/api.hpp>
#include <reg4rec/kernels.hpp>

#include "bench_util.hpp"

using namespace reg4rec;

namespace {

void check(cudaError_t st) {
  if (st != cudaSuccess) throw cuda_error(cudaGetErrorString(st));
}

// A device copy of a host array, freed on scope exit.
template <class T>
struct device_array {
  T* ptr = nullptr;
  explicit device_array(std::size_t n) { check(cudaMalloc(&ptr, n * sizeof(T))); }
  device_array(const T* host, std::size_t n) : device_array(n) {
    check(cudaMemcpy(ptr, host, n * sizeof(T), cudaMemcpyHostToDevice));
  }
  ~device_array() { cudaFree(ptr); }
  device_array(const device_array&) = delete;
  device_array& operator=(const device_array&) = delete;
};

bool skip_without_gpu(benchmark::State& state) {
  if (cuda::available()) return false;
  state.SkipWithError("no CUDA device");
  return true;
}

// Runs `launch` once per iteration between two CUDA events and reports the GPU time.
template <class F>
void time_on_device(benchmark::State& state, F launch) {
  cudaEvent_t start, stop;
  check(cudaEventCreate(&start));
  check(cudaEventCreate(&stop));
  launch();  // warm-up: first launch loads the module
  check(cudaDeviceSynchronize());
  for (auto _ : state) {
    check(cudaEventRecord(start));
    launch();
    check(cudaEventRecord(stop));
    check(cudaEventSynchronize(stop));
    float ms = 0.f;
    check(cudaEventElapsedTime(&ms, start, stop));
    state.SetIterationTime(ms * 1e-3);
  }
  cudaEventDestroy(start);
  cudaEventDestroy(stop);
}

// ---- nearest-code search: the quantizers' assignment (n vectors, d = 32, K = 256 codes) ----
constexpr index_t kD = 32, kK = 256;

void BM_cuda_nearest_topb_device(benchmark::State& state) {
  if (skip_without_gpu(state)) return;
  const index_t n = state.range(0), B = state.range(1);
  const auto x = bench::random_matrix<float>(n, kD, 1);
  const auto c = bench::random_matrix<float>(kK, kD, 2);
  device_array<float> dx(x.data(), x.size()), dc(c.data(), c.size()), ds(n * B);
  device_array<std::int32_t> di(n * B);
  device_array<float> scratch(std::max<index_t>(1, cuda::nearest_topb_scratch_floats(n, kK, B)));
  float* given = state.range(2) ? scratch.ptr : nullptr;  // 0: the call allocates its own
  time_on_device(state, [&] {
    cuda::nearest_topb_device(metric::l2, dx.ptr, n, kD, dc.ptr, kK, B, di.ptr, ds.ptr, nullptr, given);
  });
  state.SetItemsProcessed(state.iterations() * n);
  bench::rate(state, "GFLOP/s", 2.0 * n * kK * kD * 1e-9);
}
// Third argument: whether the caller passes the scratch that lists longer than 16 need (1),
// or the call takes it from the stream-ordered allocator (0).
BENCHMARK(BM_cuda_nearest_topb_device)
    ->Args({100000, 1, 1})->Args({100000, 10, 1})->Args({100000, 12, 1})->Args({100000, 14, 1})
    ->Args({100000, 16, 1})
    ->Args({100000, 17, 1})->Args({100000, 64, 1})->Args({100000, 64, 0})
    ->Args({1000000, 1, 1})->Args({1000000, 64, 1})->Args({1000000, 64, 0})
    ->Unit(benchmark::kMillisecond)->UseManualTime();

// Host memory in and out: what kernels::nearest(backend::cuda{}, ...) costs, transfers included.
void BM_cuda_nearest_host(benchmark::State& state) {
  if (skip_without_gpu(state)) return;
  const index_t n = state.range(0);
  const auto x = bench::random_matrix<float>(n, kD, 1);
  const auto c = bench::random_matrix<float>(kK, kD, 2);
  std::vector<std::int32_t> idx(n);
  std::vector<float> dist(n);
  kernels::nearest<float>(backend::cuda{}, metric::l2, x, c, idx, dist);  // staging allocated
  for (auto _ : state) {
    kernels::nearest<float>(backend::cuda{}, metric::l2, x, c, idx, dist);
    benchmark::DoNotOptimize(idx.data());
  }
  state.SetItemsProcessed(state.iterations() * n);
  bench::rate(state, "GFLOP/s", 2.0 * n * kK * kD * 1e-9);
}
BENCHMARK(BM_cuda_nearest_host)->Arg(100000)->Unit(benchmark::kMillisecond)->UseRealTime();

// The same search on the host's cores (SIMD backend, all threads) for the ratio.
void BM_cuda_nearest_cpu_simd(benchmark::State& state) {
  const index_t n = state.range(0);
  const auto x = bench::random_matrix<float>(n, kD, 1);
  const auto c = bench::random_matrix<float>(kK, kD, 2);
  std::vector<std::int32_t> idx(n);
  std::vector<float> dist(n);
  kernels::codebook_search<float, backend::simd<>> cs(metric::l2, c);
  for (auto _ : state) {
    cs.nearest(x, idx, dist);
    benchmark::DoNotOptimize(idx.data());
  }
  state.counters["threads"] = max_threads();
  state.SetItemsProcessed(state.iterations() * n);
  bench::rate(state, "GFLOP/s", 2.0 * n * kK * kD * 1e-9);
}
BENCHMARK(BM_cuda_nearest_cpu_simd)->Arg(100000)->Unit(benchmark::kMillisecond)->UseRealTime();

// ---- row (log-)softmax over the item vocabulary: rows × 12,101 (Beauty's items) ----------
constexpr index_t kItems = 12101;

void BM_cuda_log_softmax_device(benchmark::State& state) {
  if (skip_without_gpu(state)) return;
  const index_t n = state.range(0);
  const auto x = bench::random_matrix<float>(n, kItems, 3);
  device_array<float> dx(x.data(), x.size()), dy(x.size());
  time_on_device(state, [&] { cuda::softmax_device(dx.ptr, n, kItems, dy.ptr, true, nullptr); });
  state.SetItemsProcessed(state.iterations() * n);
  bench::rate(state, "GB/s", 2.0 * n * kItems * sizeof(float) * 1e-9);
}
BENCHMARK(BM_cuda_log_softmax_device)->Arg(256)->Arg(4096)->Unit(benchmark::kMicrosecond)->UseManualTime();

// ---- top-k of each row: rows × 12,101 scores ----------------------------------------------
void BM_cuda_topk_device(benchmark::State& state) {
  if (skip_without_gpu(state)) return;
  const index_t n = state.range(0), k = state.range(1);
  const auto x = bench::random_matrix<float>(n, kItems, 4);
  device_array<float> dx(x.data(), x.size()), dv(n * k);
  device_array<std::int32_t> di(n * k);
  time_on_device(state, [&] { cuda::topk_device(dx.ptr, n, kItems, k, di.ptr, dv.ptr, nullptr); });
  state.SetItemsProcessed(state.iterations() * n);
  bench::rate(state, "GB/s", double(n) * kItems * sizeof(float) * 1e-9);
}
BENCHMARK(BM_cuda_topk_device)->Args({4096, 10})->Args({4096, 64})->Args({4096, 256})->Unit(benchmark::kMicrosecond)->UseManualTime();

// ---- AdamW over a flat parameter buffer ----------------------------------------------------
void BM_cuda_adamw_device(benchmark::State& state) {
  if (skip_without_gpu(state)) return;
  const index_t n = state.range(0);
  const auto g = bench::random_matrix<float>(n, 1, 5);
  std::vector<float> zeros(n, 0.f);
  device_array<float> dp(g.data(), n), dg(g.data(), n), dm(zeros.data(), n), dv(zeros.data(), n);
  adamw_hparams h;
  h.step = 1;
  time_on_device(state, [&] { cuda::adamw_update_device(dp.ptr, dg.ptr, dm.ptr, dv.ptr, n, h, nullptr); });
  state.SetItemsProcessed(state.iterations() * n);
  // p, m, v read and written, g read: 7 floats per parameter.
  bench::rate(state, "GB/s", 7.0 * n * sizeof(float) * 1e-9);
}
BENCHMARK(BM_cuda_adamw_device)->Arg(1 << 22)->Arg(1 << 26)->Unit(benchmark::kMicrosecond)->UseManualTime();

}  // namespace
