// Top-k per row on the GPU: one block per row; each thread keeps the best k of its strided
// share of the row, then thread 0 merges the block's candidates. Same order as the CPU.
#pragma once

#include "reg4rec/backend/cuda/runtime.cuh"

namespace reg4rec::cuda::detail {

inline constexpr int kTopkThreads = 64;
inline constexpr int kMaxTopk = 64;

__device__ __forceinline__ void insert_sorted(float* v, int* id, int& count, int k, float nv, int ni) {
  if (count == k && !ranks_before(nv, ni, v[k - 1], id[k - 1])) return;
  int pos = count < k ? count : k - 1;
  while (pos > 0 && ranks_before(nv, ni, v[pos - 1], id[pos - 1])) {
    v[pos] = v[pos - 1];
    id[pos] = id[pos - 1];
    --pos;
  }
  v[pos] = nv;
  id[pos] = ni;
  if (count < k) ++count;
}

__global__ static void topk_kernel(const float* __restrict__ x, index_t m, int k,
                                   int* __restrict__ idx, float* __restrict__ val) {
  extern __shared__ unsigned char smem[];
  float* cand_v = reinterpret_cast<float*>(smem);
  int* cand_i = reinterpret_cast<int*>(cand_v + blockDim.x * k);
  int* cand_n = cand_i + blockDim.x * k;
  const float* xr = x + blockIdx.x * m;
  float* my_v = cand_v + threadIdx.x * k;
  int* my_i = cand_i + threadIdx.x * k;
  int count = 0;
  for (index_t j = threadIdx.x; j < m; j += blockDim.x)
    insert_sorted(my_v, my_i, count, k, xr[j], static_cast<int>(j));
  cand_n[threadIdx.x] = count;
  __syncthreads();
  if (threadIdx.x != 0) return;
  float best_v[kMaxTopk];
  int best_i[kMaxTopk];
  int n_best = 0;
  for (int t = 0; t < static_cast<int>(blockDim.x); ++t)
    for (int c = 0; c < cand_n[t]; ++c)
      insert_sorted(best_v, best_i, n_best, k, cand_v[t * k + c], cand_i[t * k + c]);
  for (int b = 0; b < k; ++b) {
    idx[blockIdx.x * k + b] = best_i[b];
    val[blockIdx.x * k + b] = best_v[b];
  }
}

inline void launch_topk(const float* x, index_t n, index_t m, index_t k, int* idx, float* val,
                        cudaStream_t s) {
  if (k > kMaxTopk)
    throw argument_error("topk (cuda): k = " + std::to_string(k) + " exceeds the CUDA limit of " +
                         std::to_string(kMaxTopk));
  if (n == 0 || k == 0) return;
  const std::size_t smem = kTopkThreads * (k * (sizeof(float) + sizeof(int)) + sizeof(int));
  topk_kernel<<<static_cast<unsigned>(n), kTopkThreads, smem, s>>>(x, m, static_cast<int>(k), idx, val);
  check_launch();
}

}  // namespace reg4rec::cuda::detail
