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
#include "reg4rec/backend/cuda/topk.cuh"
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
// All: no selection; every row's K scores, negated keys (larger = nearer), go to score (n × K)
// for the selection pass (long lists: see launch_nearest_topb).
template <bool L2, bool Single, bool All = false>
__global__ static void __launch_bounds__(kNearestThreads)
    nearest_topb_kernel(const float* __restrict__ x, index_t n, index_t d,
                        const float* __restrict__ codes, index_t K, int B, int* __restrict__ idx,
                        float* __restrict__ score) {
  __shared__ float4 tile[kNearestTile * kNearestChunk / 4];
  __shared__ float out[All ? kNearestThreads : 1][kNearestTile + 1];  // All: a tile of scores
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
    if constexpr (All) {
      // Through shared memory, so that a warp stores 32 consecutive scores of one row.
#pragma unroll
      for (int t = 0; t < kNearestTile; ++t) out[threadIdx.x][t] = L2 ? -acc[t] : acc[t];
      __syncthreads();
      const index_t row0 = blockIdx.x * static_cast<index_t>(kNearestThreads);
      for (int e = threadIdx.x; e < kNearestThreads * kNearestTile; e += kNearestThreads) {
        const int r = e / kNearestTile, t = e % kNearestTile;
        if (row0 + r < n && t < tk) score[(row0 + r) * K + k0 + t] = out[r][t];
      }
      continue;
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
  if (!active || All) return;
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

// The selection order as one 64-bit integer, larger = selected first: the value's bits made
// order-preserving in the high word (NaN → 0, below everything), the complemented index in the
// low word (ties to the smaller index).
__device__ __forceinline__ unsigned long long select_key(float v, int i) {
  unsigned u = __float_as_uint(v);
  u = isnan(v) ? 0u : (u & 0x80000000u ? ~u : u | 0x80000000u);
  return (static_cast<unsigned long long>(u) << 32) | (0xffffffffu - static_cast<unsigned>(i));
}
__device__ __forceinline__ float select_value(unsigned long long key) {
  const unsigned u = static_cast<unsigned>(key >> 32);
  return u == 0 ? nanf("") : __uint_as_float(u & 0x80000000u ? u & 0x7fffffffu : ~u);
}
__device__ __forceinline__ int select_index(unsigned long long key) {
  return static_cast<int>(0xffffffffu - static_cast<unsigned>(key));
}

// One warp per row of `all` (n × K negated keys, K ≤ 32·R, R a power of two): the row, padded
// with NaN to 32·R, is bitonic-sorted in registers (element e = 32·r + lane in register r of
// lane `lane`; partners closer than 32 are exchanged by shuffles, farther ones are in the same
// lane), then its first B entries are written in the metric's sign (−1 / NaN for NaN scores).
// Its cost does not depend on B.
template <int R>
__global__ static void __launch_bounds__(256)
    select_rows_kernel(const float* __restrict__ all, index_t n, index_t K, int B, bool l2, int* __restrict__ idx,
                       float* __restrict__ score) {
  const index_t row = (blockIdx.x * static_cast<index_t>(blockDim.x) + threadIdx.x) / 32;
  const int lane = static_cast<int>(threadIdx.x & 31);
  if (row >= n) return;  // the whole warp: rows are per warp
  unsigned long long v[R];
#pragma unroll
  for (int r = 0; r < R; ++r) {
    const int e = r * 32 + lane;
    v[r] = select_key(e < K ? all[row * K + e] : nanf(""), e);
  }
  // Sorts into decreasing keys: position e holds the e-th selected.
#pragma unroll
  for (int k = 2; k <= 32 * R; k <<= 1) {
#pragma unroll
    for (int j = k >> 1; j > 0; j >>= 1) {
      if (j >= 32) {
#pragma unroll
        for (int r = 0; r < R; ++r) {
          const int r2 = r ^ (j >> 5);
          if (r2 <= r) continue;
          const bool down = ((r * 32) & k) == 0;  // this pair's block sorts in decreasing order
          if ((v[r] < v[r2]) == down) {
            const unsigned long long t = v[r];
            v[r] = v[r2];
            v[r2] = t;
          }
        }
      } else {
#pragma unroll
        for (int r = 0; r < R; ++r) {
          const unsigned long long other = __shfl_xor_sync(0xffffffffu, v[r], j);
          const bool lower = (lane & j) == 0, down = ((r * 32 + lane) & k) == 0;
          // The lower position of a decreasing pair keeps the larger key.
          const bool keep_larger = lower == down;
          v[r] = keep_larger ? (v[r] > other ? v[r] : other) : (v[r] < other ? v[r] : other);
        }
      }
    }
  }
#pragma unroll
  for (int r = 0; r < R; ++r) {
    const int e = r * 32 + lane;
    if (e < B) {
      const float val = select_value(v[r]);
      idx[row * B + e] = isnan(val) ? -1 : select_index(v[r]);
      score[row * B + e] = isnan(val) ? val : (l2 ? -val : val);
    }
  }
}

// After the radix top-k of the negated keys (codebooks beyond the warp selection's reach):
// the selected scores back in the metric's sign, NaN scores (never selected on the CPU) marked
// as missing.
__global__ static void nearest_topb_finish(int* idx, float* score, index_t count, bool l2) {
  const index_t e = blockIdx.x * static_cast<index_t>(blockDim.x) + threadIdx.x;
  if (e >= count) return;
  const float v = score[e];
  if (isnan(v)) idx[e] = -1;
  else if (l2) score[e] = -v;
}

// Lists longer than kLongBeam are too long to maintain per thread (each insertion shifts up
// to B entries in local memory: B = 64 took 9.8 ms for 100,000 rows against 0.45 ms for
// B = 10), so every score is written and a second pass selects: the warp selection for
// codebooks of up to 1,024 codes, the radix top-k beyond.
inline constexpr index_t kLongBeam = 16;

// Floats of scratch the long-list path needs (0 for the per-thread lists).
inline index_t nearest_topb_scratch_floats(index_t n, index_t K, index_t B) {
  return B > kLongBeam && B <= K ? n * K : 0;
}

// `scratch`: nearest_topb_scratch_floats(n, K, B) floats of device memory, or null to take them
// from the stream-ordered allocator for this call (whose default pool hands the memory back at
// the next synchronise: 0.16 ms of a 0.79 ms call for 100,000 rows on an H100).
inline void launch_nearest_topb(metric m, const float* x, index_t n, index_t d, const float* codes,
                                index_t K, index_t B, int* idx, float* score, cudaStream_t s,
                                float* scratch = nullptr) {
  if (B > kMaxBeam)
    throw argument_error("nearest_topb (cuda): B = " + std::to_string(B) + " exceeds the CUDA limit of " +
                         std::to_string(kMaxBeam));
  if (n == 0) return;
  const unsigned blocks = static_cast<unsigned>((n + kNearestThreads - 1) / kNearestThreads);
  const bool l2 = m == metric::l2, single = B == 1;
  if (nearest_topb_scratch_floats(n, K, B) > 0) {
    float* all = scratch;  // stream-ordered when allocated here: safe beside other streams
    if (!all) REG4REC_CUDA_CHECK(cudaMallocAsync(reinterpret_cast<void**>(&all), n * K * sizeof(float), s));
    auto kernel = l2 ? nearest_topb_kernel<true, false, true> : nearest_topb_kernel<false, false, true>;
    kernel<<<blocks, kNearestThreads, 0, s>>>(x, n, d, codes, K, static_cast<int>(B), nullptr, all);
    check_launch();
    const index_t warps_per_block = 8;
    const unsigned sel_blocks = static_cast<unsigned>((n + warps_per_block - 1) / warps_per_block);
    const int b = static_cast<int>(B);
    if (K <= 256) {
      select_rows_kernel<8><<<sel_blocks, 32 * warps_per_block, 0, s>>>(all, n, K, b, l2, idx, score);
    } else if (K <= 1024) {
      select_rows_kernel<32><<<sel_blocks, 32 * warps_per_block, 0, s>>>(all, n, K, b, l2, idx, score);
    } else {
      launch_topk(all, n, K, B, idx, score, s);
      const index_t count = n * B;
      nearest_topb_finish<<<static_cast<unsigned>((count + 255) / 256), 256, 0, s>>>(idx, score, count, l2);
    }
    check_launch();
    if (!scratch) REG4REC_CUDA_CHECK(cudaFreeAsync(all, s));
    return;
  }
  auto kernel = l2 ? (single ? nearest_topb_kernel<true, true> : nearest_topb_kernel<true, false>)
                   : (single ? nearest_topb_kernel<false, true> : nearest_topb_kernel<false, false>);
  kernel<<<blocks, kNearestThreads, 0, s>>>(x, n, d, codes, K, static_cast<int>(B), idx, score);
  check_launch();
}

}  // namespace reg4rec::cuda::detail
