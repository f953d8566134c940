// Row softmax / log-softmax on the GPU: one block per row, block-wide max and sum by warp
// shuffles; NaN anywhere in a row gives a NaN row, as on the CPU. A row that fits in shared
// memory (up to kSoftmaxCachedFloats, e.g. a vocabulary of items) is read from global memory
// once, with 16-byte loads, and kept there for the sum and the output; a longer one is read
// three times.
#pragma once

#include <cfloat>
#include <cstdint>

#include "reg4rec/backend/cuda/runtime.cuh"

namespace reg4rec::cuda::detail {

inline constexpr int kSoftmaxThreads = 1024;
inline constexpr index_t kSoftmaxCachedFloats = 24 * 1024;  // 96 KiB of shared memory

template <bool IsMax>
__device__ __forceinline__ float block_reduce(float v, float* shared) {
  for (int off = 16; off > 0; off >>= 1) {
    const float o = __shfl_xor_sync(0xffffffffu, v, off);
    v = IsMax ? fmaxf(v, o) : v + o;
  }
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  if (lane == 0) shared[warp] = v;
  __syncthreads();
  const int warps = (blockDim.x + 31) >> 5;
  v = threadIdx.x < warps ? shared[threadIdx.x] : (IsMax ? -FLT_MAX : 0.f);
  if (warp == 0)
    for (int off = 16; off > 0; off >>= 1) {
      const float o = __shfl_xor_sync(0xffffffffu, v, off);
      v = IsMax ? fmaxf(v, o) : v + o;
    }
  if (threadIdx.x == 0) shared[0] = v;
  __syncthreads();
  const float r = shared[0];
  __syncthreads();
  return r;
}

template <bool Cached>
__global__ static void __launch_bounds__(kSoftmaxThreads)
    softmax_kernel(const float* __restrict__ x, index_t m, float* __restrict__ y, bool log) {
  __shared__ float shared[32];
  extern __shared__ float row[];  // m floats when Cached
  const float* xr = x + blockIdx.x * m;
  const float* src = Cached ? row : xr;
  float* yr = y + blockIdx.x * m;
  float mx = -INFINITY, nan = 0.f;
  const auto see = [&](index_t j, float v) {
    if (Cached) row[j] = v;
    if (isnan(v)) nan = 1.f;
    mx = fmaxf(mx, v);
  };
  if (Cached) {
    // 16-byte loads for the aligned body of the row, single floats for its ends.
    const index_t head = min(m, static_cast<index_t>((16 - (reinterpret_cast<std::uintptr_t>(xr) & 15)) & 15) / 4);
    const index_t quads = (m - head) / 4, tail = head + 4 * quads;
    const float4* body = reinterpret_cast<const float4*>(xr + head);
    for (index_t q = threadIdx.x; q < quads; q += blockDim.x) {
      const float4 v = body[q];
      const index_t j = head + 4 * q;
      see(j, v.x);
      see(j + 1, v.y);
      see(j + 2, v.z);
      see(j + 3, v.w);
    }
    if (threadIdx.x < head) see(threadIdx.x, xr[threadIdx.x]);
    for (index_t j = tail + threadIdx.x; j < m; j += blockDim.x) see(j, xr[j]);
  } else {
    for (index_t j = threadIdx.x; j < m; j += blockDim.x) see(j, xr[j]);
  }
  mx = block_reduce<true>(mx, shared);  // its barriers also publish `row`
  nan = block_reduce<true>(nan, shared);
  if (nan > 0.f) {
    for (index_t j = threadIdx.x; j < m; j += blockDim.x) yr[j] = nanf("");
    return;
  }
  float sum = 0.f;
  for (index_t j = threadIdx.x; j < m; j += blockDim.x) sum += expf(src[j] - mx);
  sum = block_reduce<false>(sum, shared);
  const float log_sum = logf(sum), inv = 1.f / sum;
  for (index_t j = threadIdx.x; j < m; j += blockDim.x)
    yr[j] = log ? (src[j] - mx) - log_sum : expf(src[j] - mx) * inv;
}

inline void launch_softmax(const float* x, index_t n, index_t m, float* y, bool log, cudaStream_t s) {
  if (n == 0) return;
  const unsigned blocks = static_cast<unsigned>(n);
  if (m <= kSoftmaxCachedFloats) {
    const std::size_t smem = static_cast<std::size_t>(m) * sizeof(float);
    if (smem > 48 * 1024)
      REG4REC_CUDA_CHECK(cudaFuncSetAttribute(softmax_kernel<true>, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                              static_cast<int>(kSoftmaxCachedFloats * sizeof(float))));
    softmax_kernel<true><<<blocks, kSoftmaxThreads, smem, s>>>(x, m, y, log);
  } else {
    softmax_kernel<false><<<blocks, kSoftmaxThreads, 0, s>>>(x, m, y, log);
  }
  check_launch();
}

}  // namespace reg4rec::cuda::detail
