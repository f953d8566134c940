// Top-k per row on the GPU by radix selection: one block per row. The values become unsigned
// keys whose order is the CPU's (larger first, then −inf, then NaN; ±0 equal); four passes
// of a 256-bin block histogram find the k-th key T byte by byte; the block then gathers the
// keys above T and, in index order, as many keys equal to T as are still missing (so ties go
// to the smaller index); last, each of the k winners computes its own rank among them. A row
// short enough is kept in shared memory as keys, so global memory is read once.
#pragma once

#include "reg4rec/backend/cuda/runtime.cuh"

namespace reg4rec::cuda::detail {

inline constexpr int kTopkThreads = 256;
inline constexpr int kMaxTopk = kTopkThreads;       // one winner per thread in the final rank
inline constexpr index_t kTopkCachedKeys = 24 * 1024;  // 96 KiB of shared memory
static_assert(kTopkThreads == 256, "topk_kernel clears its 256 histogram bins one per thread");

// Larger key = ranks first; equal keys tie (broken by index).
__device__ __forceinline__ unsigned order_key(float v) {
  if (isnan(v)) return 0u;
  if (v == 0.f) return 0x80000000u;  // +0 and −0 are equal values
  const unsigned u = __float_as_uint(v);
  return (u & 0x80000000u) ? ~u : (u | 0x80000000u);
}

template <bool Cached>
__global__ static void __launch_bounds__(kTopkThreads)
    topk_kernel(const float* __restrict__ x, index_t m, int k, int* __restrict__ idx,
                float* __restrict__ val) {
  extern __shared__ unsigned keys[];  // m keys when Cached
  __shared__ int hist[256];
  __shared__ float win_v[kMaxTopk];
  __shared__ int win_i[kMaxTopk];
  __shared__ int warp_count[kTopkThreads / 32];
  __shared__ int chosen_bin, still_needed, n_above;
  const float* xr = x + blockIdx.x * m;
  const auto key_at = [&](index_t j) { return Cached ? keys[j] : order_key(xr[j]); };
  if (Cached)
    for (index_t j = threadIdx.x; j < m; j += kTopkThreads) keys[j] = order_key(xr[j]);
  if (threadIdx.x == 0) {
    still_needed = k;
    n_above = 0;
  }
  // 1. Radix selection of the k-th largest key, most significant byte first.
  unsigned prefix = 0, mask = 0;
  for (int shift = 24; shift >= 0; shift -= 8) {
    hist[threadIdx.x] = 0;  // kTopkThreads == 256 bins
    __syncthreads();
    for (index_t j = threadIdx.x; j < m; j += kTopkThreads) {
      const unsigned key = key_at(j);
      if ((key & mask) == prefix) atomicAdd(&hist[(key >> shift) & 255u], 1);
    }
    __syncthreads();
    if (threadIdx.x == 0) {
      int above = 0, bin = 255;
      for (; bin > 0 && above + hist[bin] < still_needed; --bin) above += hist[bin];
      chosen_bin = bin;
      still_needed -= above;
    }
    __syncthreads();
    prefix |= static_cast<unsigned>(chosen_bin) << shift;
    mask |= 255u << shift;
  }
  const unsigned T = prefix;
  const int ties = still_needed, above = k - ties;  // keys > T, and how many keys == T to take
  // 2. Gather: every key above T, then the first `ties` keys equal to T in index order.
  for (index_t j = threadIdx.x; j < m; j += kTopkThreads)
    if (key_at(j) > T) {
      const int pos = atomicAdd(&n_above, 1);
      win_v[pos] = xr[j];
      win_i[pos] = static_cast<int>(j);
    }
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  int taken = 0;
  for (index_t j0 = 0; j0 < m && taken < ties; j0 += kTopkThreads) {
    const index_t j = j0 + threadIdx.x;
    const bool tie = j < m && key_at(j) == T;
    const unsigned ballot = __ballot_sync(0xffffffffu, tie);
    if (lane == 0) warp_count[warp] = __popc(ballot);
    __syncthreads();
    int offset = taken, total = 0;
    for (int w = 0; w < kTopkThreads / 32; ++w) {
      if (w < warp) offset += warp_count[w];
      total += warp_count[w];
    }
    const int pos = offset + __popc(ballot & ((1u << lane) - 1u));
    if (tie && pos < ties) {
      win_v[above + pos] = xr[j];
      win_i[above + pos] = static_cast<int>(j);
    }
    taken += total;
    __syncthreads();  // warp_count is rewritten by the next chunk
  }
  __syncthreads();
  // 3. Each winner's rank among the k: the number of winners that rank before it.
  if (threadIdx.x < k) {
    const float v = win_v[threadIdx.x];
    const int i = win_i[threadIdx.x];
    int rank = 0;
    for (int o = 0; o < k; ++o) rank += ranks_before(win_v[o], win_i[o], v, i);
    idx[blockIdx.x * k + rank] = i;
    val[blockIdx.x * k + rank] = v;
  }
}

inline void launch_topk(const float* x, index_t n, index_t m, index_t k, int* idx, float* val,
                        cudaStream_t s) {
  if (k > kMaxTopk)
    throw argument_error("topk (cuda): k = " + std::to_string(k) + " exceeds the CUDA limit of " +
                         std::to_string(kMaxTopk));
  if (k > m)
    throw argument_error("topk (cuda): k = " + std::to_string(k) + " exceeds the row length m = " +
                         std::to_string(m));
  if (n == 0 || k == 0) return;
  const unsigned blocks = static_cast<unsigned>(n);
  if (m <= kTopkCachedKeys) {
    const std::size_t smem = static_cast<std::size_t>(m) * sizeof(unsigned);
    if (smem > 32 * 1024)  // beyond the 48 KiB default with the static arrays
      REG4REC_CUDA_CHECK(cudaFuncSetAttribute(topk_kernel<true>, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                              static_cast<int>(kTopkCachedKeys * sizeof(unsigned))));
    topk_kernel<true><<<blocks, kTopkThreads, smem, s>>>(x, m, static_cast<int>(k), idx, val);
  } else {
    topk_kernel<false><<<blocks, kTopkThreads, 0, s>>>(x, m, static_cast<int>(k), idx, val);
  }
  check_launch();
}

}  // namespace reg4rec::cuda::detail
