// Nearest-code search on the GPU: one thread per row of x; the codebook is streamed through
// shared memory in tiles of kTile codes, and each thread keeps its B best in local memory.
// Scores use the definitions (Σ(x−c)² for l2, x·c for inner product); the selection keeps the
// first strictly better candidate, so ties go to the smaller index as on the CPU.
#pragma once

#include <cfloat>

#include "reg4rec/backend/cuda/runtime.cuh"
#include "reg4rec/core/metric.hpp"

namespace reg4rec::cuda::detail {

inline constexpr int kNearestThreads = 128;
inline constexpr int kNearestTile = 32;
inline constexpr int kMaxBeam = 64;

// Minimise key = l2 distance, or −(inner product).
__global__ static void nearest_topb_kernel(const float* __restrict__ x, index_t n, index_t d,
                                           const float* __restrict__ codes, index_t K, int B,
                                           bool l2, int* __restrict__ idx, float* __restrict__ score) {
  extern __shared__ float tile[];  // kNearestTile × d
  const index_t row = blockIdx.x * static_cast<index_t>(blockDim.x) + threadIdx.x;
  float best_v[kMaxBeam];
  int best_i[kMaxBeam];
  for (int b = 0; b < B; ++b) {
    best_v[b] = FLT_MAX;
    best_i[b] = -1;
  }
  int count = 0;
  const float* xr = x + (row < n ? row : 0) * d;
  for (index_t k0 = 0; k0 < K; k0 += kNearestTile) {
    const index_t tk = min(static_cast<index_t>(kNearestTile), K - k0);
    __syncthreads();
    for (index_t e = threadIdx.x; e < tk * d; e += blockDim.x) tile[e] = codes[k0 * d + e];
    __syncthreads();
    if (row >= n) continue;
    for (index_t t = 0; t < tk; ++t) {
      float acc = 0.f;
      const float* c = tile + t * d;
      for (index_t j = 0; j < d; ++j) {
        const float xv = __ldg(xr + j);
        acc = l2 ? fmaf(xv - c[j], xv - c[j], acc) : fmaf(xv, c[j], acc);
      }
      const float key = l2 ? acc : -acc;
      if (isnan(key) || (count == B && !(key < best_v[B - 1]))) continue;
      int pos = count < B ? count : B - 1;
      while (pos > 0 && key < best_v[pos - 1]) {
        best_v[pos] = best_v[pos - 1];
        best_i[pos] = best_i[pos - 1];
        --pos;
      }
      best_v[pos] = key;
      best_i[pos] = static_cast<int>(k0 + t);
      if (count < B) ++count;
    }
  }
  if (row >= n) return;
  for (int b = 0; b < B; ++b) {
    idx[row * B + b] = b < count ? best_i[b] : -1;
    score[row * B + b] = b < count ? (l2 ? best_v[b] : -best_v[b]) : nanf("");
  }
}

inline void launch_nearest_topb(metric m, const float* x, index_t n, index_t d, const float* codes,
                                index_t K, index_t B, int* idx, float* score, cudaStream_t s) {
  if (B > kMaxBeam)
    throw argument_error("nearest_topb (cuda): B = " + std::to_string(B) + " exceeds the CUDA limit of " +
                         std::to_string(kMaxBeam));
  if (n == 0) return;
  const index_t blocks = (n + kNearestThreads - 1) / kNearestThreads;
  const std::size_t smem = static_cast<std::size_t>(kNearestTile * d) * sizeof(float);
  if (smem > 48 * 1024)
    REG4REC_CUDA_CHECK(cudaFuncSetAttribute(nearest_topb_kernel,
                                            cudaFuncAttributeMaxDynamicSharedMemorySize,
                                            static_cast<int>(smem)));
  nearest_topb_kernel<<<static_cast<unsigned>(blocks), kNearestThreads, smem, s>>>(
      x, n, d, codes, K, static_cast<int>(B), m == metric::l2, idx, score);
  check_launch();
}

}  // namespace reg4rec::cuda::detail
