// The CUDA add-on's one translation unit: kernels from the .cuh files beside it and the host
// API of api.hpp. The reg4rec::cuda CMake target compiles this file into the target that
// links it. The host functions are weak symbols, so two targets of one program may both link
// reg4rec::cuda without duplicate definitions.
#include <cuda_runtime.h>

#include <algorithm>
#include <string>

#include "reg4rec/backend/cuda/adamw.cuh"
#include "reg4rec/backend/cuda/api.hpp"
#include "reg4rec/backend/cuda/nearest.cuh"
#include "reg4rec/backend/cuda/runtime.cuh"
#include "reg4rec/backend/cuda/softmax.cuh"
#include "reg4rec/backend/cuda/topk.cuh"

#define REG4REC_CUDA_API __attribute__((weak))

namespace reg4rec::cuda {

namespace {
cudaStream_t as_stream(void* s) { return static_cast<cudaStream_t>(s); }
}  // namespace

REG4REC_CUDA_API bool available() noexcept {
  int count = 0;
  return cudaGetDeviceCount(&count) == cudaSuccess && count > 0;
}

REG4REC_CUDA_API std::string device_description() {
  int count = 0;
  const cudaError_t st = cudaGetDeviceCount(&count);
  if (st != cudaSuccess) return std::string("no CUDA device: ") + cudaGetErrorString(st);
  if (count == 0) return "no CUDA device";
  cudaDeviceProp p{};
  REG4REC_CUDA_CHECK(cudaGetDeviceProperties(&p, 0));
  return std::string(p.name) + ", compute capability " + std::to_string(p.major) + "." +
         std::to_string(p.minor) + ", " + std::to_string(p.totalGlobalMem >> 20) + " MiB";
}

// --- device pointers ------------------------------------------------------------------
REG4REC_CUDA_API void nearest_topb_device(metric m, const float* x, index_t n, index_t d,
                                          const float* codes, index_t K, index_t B,
                                          std::int32_t* idx, float* score, void* stream,
                                          float* scratch) {
  detail::launch_nearest_topb(m, x, n, d, codes, K, B, idx, score, as_stream(stream), scratch);
}

REG4REC_CUDA_API index_t nearest_topb_scratch_floats(index_t n, index_t K, index_t B) {
  return detail::nearest_topb_scratch_floats(n, K, B);
}

REG4REC_CUDA_API void softmax_device(const float* x, index_t n, index_t m, float* y, bool log,
                                     void* stream) {
  detail::launch_softmax(x, n, m, y, log, as_stream(stream));
}

REG4REC_CUDA_API void topk_device(const float* x, index_t n, index_t m, index_t k, std::int32_t* idx,
                                  float* val, void* stream) {
  detail::launch_topk(x, n, m, k, idx, val, as_stream(stream));
}

REG4REC_CUDA_API void adamw_update_device(float* p, const float* g, float* m, float* v, index_t n,
                                          const adamw_hparams& h, void* stream) {
  detail::launch_adamw(p, g, m, v, n, h, as_stream(stream));
}

// --- host pointers: stage through per-thread device buffers ---------------------------
REG4REC_CUDA_API void nearest_topb(metric m, const float* x, index_t n, index_t d, index_t ldx,
                                   const float* codes, index_t K, index_t ldc, index_t B,
                                   std::int32_t* idx, float* score) {
  if (n == 0) return;
  float* dx = detail::staging(0).get<float>(n * d);
  float* dc = detail::staging(1).get<float>(K * d);
  auto* di = detail::staging(2).get<std::int32_t>(n * B);
  float* ds = detail::staging(3).get<float>(n * B);
  detail::upload_rows(dx, x, n, d, ldx, nullptr);
  detail::upload_rows(dc, codes, K, d, ldc, nullptr);
  const index_t scratch_floats = detail::nearest_topb_scratch_floats(n, K, B);
  float* scratch = scratch_floats ? detail::staging(4).get<float>(scratch_floats) : nullptr;
  detail::launch_nearest_topb(m, dx, n, d, dc, K, B, di, ds, nullptr, scratch);
  REG4REC_CUDA_CHECK(cudaMemcpy(idx, di, n * B * sizeof(std::int32_t), cudaMemcpyDeviceToHost));
  REG4REC_CUDA_CHECK(cudaMemcpy(score, ds, n * B * sizeof(float), cudaMemcpyDeviceToHost));
}

REG4REC_CUDA_API void nearest(metric m, const float* x, index_t n, index_t d, index_t ldx,
                              const float* codes, index_t K, index_t ldc, std::int32_t* idx,
                              float* score) {
  nearest_topb(m, x, n, d, ldx, codes, K, ldc, 1, idx, score);
}

REG4REC_CUDA_API void softmax(const float* x, index_t n, index_t m, index_t ldx, float* y,
                              index_t ldy, bool log) {
  if (n == 0) return;
  float* dx = detail::staging(0).get<float>(n * m);
  float* dy = detail::staging(1).get<float>(n * m);
  detail::upload_rows(dx, x, n, m, ldx, nullptr);
  detail::launch_softmax(dx, n, m, dy, log, nullptr);
  REG4REC_CUDA_CHECK(cudaMemcpy2D(y, ldy * sizeof(float), dy, m * sizeof(float), m * sizeof(float),
                                  n, cudaMemcpyDeviceToHost));
}

REG4REC_CUDA_API void topk(const float* x, index_t n, index_t m, index_t ldx, index_t k,
                           std::int32_t* idx, float* val) {
  if (n == 0 || k == 0) return;
  float* dx = detail::staging(0).get<float>(n * m);
  auto* di = detail::staging(1).get<std::int32_t>(n * k);
  float* dv = detail::staging(2).get<float>(n * k);
  detail::upload_rows(dx, x, n, m, ldx, nullptr);
  detail::launch_topk(dx, n, m, k, di, dv, nullptr);
  REG4REC_CUDA_CHECK(cudaMemcpy(idx, di, n * k * sizeof(std::int32_t), cudaMemcpyDeviceToHost));
  REG4REC_CUDA_CHECK(cudaMemcpy(val, dv, n * k * sizeof(float), cudaMemcpyDeviceToHost));
}

REG4REC_CUDA_API void adamw_update(float* p, const float* g, float* m, float* v, index_t n,
                                   const adamw_hparams& h) {
  if (n == 0) return;
  float* buf = detail::staging(0).get<float>(4 * n);
  float *dp = buf, *dg = buf + n, *dm = buf + 2 * n, *dv = buf + 3 * n;
  const std::size_t bytes = n * sizeof(float);
  REG4REC_CUDA_CHECK(cudaMemcpy(dp, p, bytes, cudaMemcpyHostToDevice));
  REG4REC_CUDA_CHECK(cudaMemcpy(dg, g, bytes, cudaMemcpyHostToDevice));
  REG4REC_CUDA_CHECK(cudaMemcpy(dm, m, bytes, cudaMemcpyHostToDevice));
  REG4REC_CUDA_CHECK(cudaMemcpy(dv, v, bytes, cudaMemcpyHostToDevice));
  detail::launch_adamw(dp, dg, dm, dv, n, h, nullptr);
  REG4REC_CUDA_CHECK(cudaMemcpy(p, dp, bytes, cudaMemcpyDeviceToHost));
  REG4REC_CUDA_CHECK(cudaMemcpy(m, dm, bytes, cudaMemcpyDeviceToHost));
  REG4REC_CUDA_CHECK(cudaMemcpy(v, dv, bytes, cudaMemcpyDeviceToHost));
}

}  // namespace reg4rec::cuda
