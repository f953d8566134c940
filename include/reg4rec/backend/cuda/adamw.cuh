// AdamW over a flat buffer on the GPU: grid-stride loop, same update as the CPU backends.
#pragma once

#include "reg4rec/backend/adamw_hparams.hpp"
#include "reg4rec/backend/cuda/runtime.cuh"

namespace reg4rec::cuda::detail {

__global__ static void adamw_kernel(float* __restrict__ p, const float* __restrict__ g,
                                    float* __restrict__ m, float* __restrict__ v, index_t n,
                                    float b1, float b2, float c1, float c2, float eps, float decay,
                                    float a, float b) {
  for (index_t i = blockIdx.x * static_cast<index_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<index_t>(gridDim.x) * blockDim.x) {
    const float gi = g[i];
    const float mi = b1 * m[i] + c1 * gi;
    const float vi = b2 * v[i] + c2 * gi * gi;
    m[i] = mi;
    v[i] = vi;
    p[i] = p[i] * decay - a * mi / (sqrtf(vi) * b + eps);
  }
}

inline void launch_adamw(float* p, const float* g, float* m, float* v, index_t n,
                         const adamw_hparams& h, cudaStream_t s) {
  if (n == 0) return;
  const backend::adamw_detail::coefficients c(h);
  const index_t blocks = std::min<index_t>((n + 255) / 256, 65536);
  adamw_kernel<<<static_cast<unsigned>(blocks), 256, 0, s>>>(
      p, g, m, v, n, float(h.beta1), float(h.beta2), float(1 - h.beta1), float(1 - h.beta2),
      float(h.eps), float(c.decay), float(c.a), float(c.b));
  check_launch();
}

}  // namespace reg4rec::cuda::detail
