// CUDA add-on runtime pieces: error checking and per-thread staging buffers on the device.
#pragma once

#include <cuda_runtime.h>

#include <cstddef>
#include <string>

#include "reg4rec/core/error.hpp"

#define REG4REC_CUDA_CHECK(expr)                                                            \
  do {                                                                                      \
    const cudaError_t reg4rec_cuda_status_ = (expr);                                        \
    if (reg4rec_cuda_status_ != cudaSuccess)                                                \
      throw ::reg4rec::cuda_error(std::string(#expr) + " failed: " +                        \
                                  cudaGetErrorString(reg4rec_cuda_status_));               \
  } while (0)

namespace reg4rec::cuda::detail {

// A device allocation that only grows: host-memory kernels stage their operands here, so a
// loop of calls allocates once.
class device_buffer {
 public:
  device_buffer() = default;
  device_buffer(const device_buffer&) = delete;
  device_buffer& operator=(const device_buffer&) = delete;
  ~device_buffer() {
    if (ptr_) cudaFree(ptr_);
  }
  template <class T>
  T* get(std::size_t count) {
    const std::size_t bytes = count * sizeof(T);
    if (bytes > bytes_) {
      if (ptr_) REG4REC_CUDA_CHECK(cudaFree(ptr_));
      ptr_ = nullptr;
      REG4REC_CUDA_CHECK(cudaMalloc(&ptr_, bytes));
      bytes_ = bytes;
    }
    return static_cast<T*>(ptr_);
  }

 private:
  void* ptr_ = nullptr;
  std::size_t bytes_ = 0;
};

// Staging slot `i` of the calling host thread.
inline device_buffer& staging(int i) {
  thread_local device_buffer slots[6];
  return slots[i];
}

// Copies a row-strided host matrix into a contiguous device matrix.
template <class T>
void upload_rows(T* dst, const T* src, index_t rows, index_t cols, index_t ld, cudaStream_t s) {
  REG4REC_CUDA_CHECK(cudaMemcpy2DAsync(dst, cols * sizeof(T), src, ld * sizeof(T),
                                       cols * sizeof(T), rows, cudaMemcpyHostToDevice, s));
}

inline void check_launch() { REG4REC_CUDA_CHECK(cudaGetLastError()); }

// Order shared with the CPU kernels: larger value first, ties to the smaller index, then
// -inf, then NaN. Returns true when (va, ia) ranks before (vb, ib).
__device__ __forceinline__ int rank_class(float v) { return isnan(v) ? 0 : (isinf(v) && v < 0 ? 1 : 2); }
__device__ __forceinline__ bool ranks_before(float va, int ia, float vb, int ib) {
  const int ca = rank_class(va), cb = rank_class(vb);
  if (ca != cb) return ca > cb;
  if (ca == 2 && va != vb) return va > vb;
  return ia < ib;
}

}  // namespace reg4rec::cuda::detail
