// The CUDA add-on's host API. Declarations only, plain C++: any translation unit may call
// these; the definitions live in reg4rec_cuda.cu, which the reg4rec::cuda CMake target
// compiles (with nvcc) into the consuming target. Only built with REG4REC_ENABLE_CUDA.
//
// Two layers: *_device functions take device pointers and a stream (for data already on the
// GPU); the plain functions take host pointers and stage the data through device buffers
// cached per thread, which is what kernels::*(backend::cuda{}, ...) calls.
#pragma once

#include <cstdint>
#include <string>

#include "reg4rec/backend/adamw_hparams.hpp"
#include "reg4rec/core/config.hpp"
#include "reg4rec/core/metric.hpp"

namespace reg4rec::cuda {

/// True when the CUDA runtime finds at least one device.
bool available() noexcept;
/// A one-line description of device 0 (name, compute capability, memory), or why none.
std::string device_description();

// --- host memory in and out ------------------------------------------------------------
// Shapes: x (n × d, row stride ldx), codes (K × d, row stride ldc); idx/score (n × B, stride B).
void nearest(metric m, const float* x, index_t n, index_t d, index_t ldx, const float* codes,
             index_t K, index_t ldc, std::int32_t* idx, float* score);
void nearest_topb(metric m, const float* x, index_t n, index_t d, index_t ldx, const float* codes,
                  index_t K, index_t ldc, index_t B, std::int32_t* idx, float* score);
void softmax(const float* x, index_t n, index_t m, index_t ldx, float* y, index_t ldy, bool log);
void topk(const float* x, index_t n, index_t m, index_t ldx, index_t k, std::int32_t* idx,
          float* val);
void adamw_update(float* p, const float* g, float* m, float* v, index_t n, const adamw_hparams& h);

// --- device memory, asynchronous on `stream` (a cudaStream_t, 0 for the default) -------
// `scratch`: null, or nearest_topb_scratch_floats(n, K, B) floats of device memory that the
// call may overwrite (lists longer than 16 score every code first); with null such calls
// allocate it on `stream` and free it again, which costs about a fifth of the call.
void nearest_topb_device(metric m, const float* x, index_t n, index_t d, const float* codes,
                         index_t K, index_t B, std::int32_t* idx, float* score, void* stream,
                         float* scratch = nullptr);
index_t nearest_topb_scratch_floats(index_t n, index_t K, index_t B);
void softmax_device(const float* x, index_t n, index_t m, float* y, bool log, void* stream);
void topk_device(const float* x, index_t n, index_t m, index_t k, std::int32_t* idx, float* val,
                 void* stream);
void adamw_update_device(float* p, const float* g, float* m, float* v, index_t n,
                         const adamw_hparams& h, void* stream);

}  // namespace reg4rec::cuda
