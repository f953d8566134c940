// Nearest-code search on the GPU. One thread per row of x; a block of kNearestThreads rows
// walks the codebook in tiles of kNearestTile codes, each tile staged in shared memory a
// chunk of kNearestChunk dimensions at a time (so shared memory stays small for any d). Every
// thread holds its row's kNearestTile running scores in registers and reads the codes as
// float4 broadcasts (all threads of a warp read the same code), four multiply-adds per load.
// Scores use the definitions (Σ(x−c)² for l2, x·c for inner product); the selection keeps the
// first strictly better candidate, so ties go to the smaller index as on the CPU.
#pragma once

#include <cfloat>

#include "reg4rec/backend/cuda/runtime.cuh"
#include "reg4rec/core/metric.hpp"

namespace reg4rec::cuda::detail {

inline constexpr int kNearestThreads = 128;
inline constexpr int kNearestTile = 32;   // codes per tile
inline constexpr int kNearestChunk = 64;  // dimensions per shared-memory chunk (multiple of 4)
inline constexpr int kMaxBeam = 64;

// Keeps the B smallest keys seen so far, sorted; `worst` caches best_v[B − 1] once full.
struct best_list {
  float v[kMaxBeam];
  int i[kMaxBeam];
  int count = 0;
  float worst = FLT_MAX;

  __device__ __forceinline__ void offer(float key, int id, int B) {
    if (isnan(key) || (count == B && !(key < worst))) return;
    int pos = count < B ? count : B - 1;
    while (pos > 0 && key < v[pos - 1]) {
      v[pos] = v[pos - 1];
      i[pos] = i[pos - 1];
      --pos;
    }
    v[pos] = key;
    i[pos] = id;
    if (count < B) ++count;
    if (count == B) worst = v[B - 1];
  }
};

// Minimise key = l2 distance, or −(inner product). Single: B = 1 (no list, two registers).
template <bool L2, bool Single>
__global__ static void __launch_bounds__(kNearestThreads)
    nearest_topb_kernel(const float* __restrict__ x, index_t n, index_t d,
                        const float* __restrict__ codes, index_t K, int B, int* __restrict__ idx,
                        float* __restrict__ score) {
  __shared__ float4 tile[kNearestTile * kNearestChunk / 4];
  const index_t row = blockIdx.x * static_cast<index_t>(kNearestThreads) + threadIdx.x;
  const bool active = row < n;
  const float* xr = x + (active ? row : 0) * d;
  best_list best;
  float best1_v = FLT_MAX;
  int best1_i = -1;
  for (index_t k0 = 0; k0 < K; k0 += kNearestTile) {
    const int tk = static_cast<int>(min(static_cast<index_t>(kNearestTile), K - k0));
    float acc[kNearestTile];
#pragma unroll
    for (int t = 0; t < kNearestTile; ++t) acc[t] = 0.f;
    for (index_t j0 = 0; j0 < d; j0 += kNearestChunk) {
      const int dc = static_cast<int>(min(static_cast<index_t>(kNearestChunk), d - j0));
      const int dq = (dc + 3) / 4;  // float4s per code in this chunk (zero-padded)
      __syncthreads();
      float* tf = reinterpret_cast<float*>(tile);
      for (int e = threadIdx.x; e < kNearestTile * dq * 4; e += kNearestThreads) {
        const int t = e / (dq * 4), j = e % (dq * 4);
        tf[e] = t < tk && j < dc ? codes[(k0 + t) * d + j0 + j] : 0.f;
      }
      __syncthreads();
      for (int q = 0; q < dq; ++q) {
        const int j = 4 * q;
        // Zero padding past d: contributes nothing to either score.
        const float x0 = j < dc ? __ldg(xr + j0 + j) : 0.f;
        const float x1 = j + 1 < dc ? __ldg(xr + j0 + j + 1) : 0.f;
        const float x2 = j + 2 < dc ? __ldg(xr + j0 + j + 2) : 0.f;
        const float x3 = j + 3 < dc ? __ldg(xr + j0 + j + 3) : 0.f;
#pragma unroll
        for (int t = 0; t < kNearestTile; ++t) {
          const float4 c = tile[t * dq + q];
          if constexpr (L2) {
            const float e0 = x0 - c.x, e1 = x1 - c.y, e2 = x2 - c.z, e3 = x3 - c.w;
            acc[t] = fmaf(e3, e3, fmaf(e2, e2, fmaf(e1, e1, fmaf(e0, e0, acc[t]))));
          } else {
            acc[t] = fmaf(x3, c.w, fmaf(x2, c.z, fmaf(x1, c.y, fmaf(x0, c.x, acc[t]))));
          }
        }
      }
    }
    if (!active) continue;
#pragma unroll
    for (int t = 0; t < kNearestTile; ++t) {
      if (t >= tk) break;
      const float key = L2 ? acc[t] : -acc[t];
      if constexpr (Single) {
        if (key < best1_v) {  // NaN never wins
          best1_v = key;
          best1_i = static_cast<int>(k0 + t);
        }
      } else {
        best.offer(key, static_cast<int>(k0 + t), B);
      }
    }
  }
  if (!active) return;
  if constexpr (Single) {
    idx[row] = best1_i;
    score[row] = best1_i >= 0 ? (L2 ? best1_v : -best1_v) : nanf("");
  } else {
    for (int b = 0; b < B; ++b) {
      idx[row * B + b] = b < best.count ? best.i[b] : -1;
      score[row * B + b] = b < best.count ? (L2 ? best.v[b] : -best.v[b]) : nanf("");
    }
  }
}

inline void launch_nearest_topb(metric m, const float* x, index_t n, index_t d, const float* codes,
                                index_t K, index_t B, int* idx, float* score, cudaStream_t s) {
  if (B > kMaxBeam)
    throw argument_error("nearest_topb (cuda): B = " + std::to_string(B) + " exceeds the CUDA limit of " +
                         std::to_string(kMaxBeam));
  if (n == 0) return;
  const unsigned blocks = static_cast<unsigned>((n + kNearestThreads - 1) / kNearestThreads);
  const bool l2 = m == metric::l2, single = B == 1;
  auto kernel = l2 ? (single ? nearest_topb_kernel<true, true> : nearest_topb_kernel<true, false>)
                   : (single ? nearest_topb_kernel<false, true> : nearest_topb_kernel<false, false>);
  kernel<<<blocks, kNearestThreads, 0, s>>>(x, n, d, codes, K, static_cast<int>(B), idx, score);
  check_launch();
}

}  // namespace reg4rec::cuda::detail
