// AdamW update over a flat parameter buffer: p, g, m, v of equal length (see
// backend/scalar/adamw.hpp for the update). Split across threads in cache-line multiples.
#pragma once

#include "reg4rec/backend/scalar/adamw.hpp"
#include "reg4rec/backend/simd/adamw.hpp"
#include "reg4rec/backend/tags.hpp"
#include "reg4rec/core/error.hpp"
#include "reg4rec/core/parallel.hpp"
#include "reg4rec/core/view.hpp"
#if REG4REC_HAS_CUDA
#include "reg4rec/backend/cuda/api.hpp"
#endif

namespace reg4rec::kernels {

template <class T, class Backend>
void adamw_update(Backend be, span<T> p, cspan<nodeduce<T>> g, span<T> m, span<T> v,
                  const adamw_hparams& h) {
  check_dim("adamw_update: length of the gradient", g.size(), p.size());
  check_dim("adamw_update: length of the first moment", m.size(), p.size());
  check_dim("adamw_update: length of the second moment", v.size(), p.size());
  require(h.step >= 1, "adamw_update: step must be at least 1, got ", h.step);
  require(h.beta1 >= 0 && h.beta1 < 1 && h.beta2 >= 0 && h.beta2 < 1,
          "adamw_update: betas must lie in [0, 1), got ", h.beta1, ", ", h.beta2);
  if constexpr (std::is_same_v<Backend, backend::cuda>) {
#if REG4REC_HAS_CUDA
    static_assert(std::is_same_v<T, float>, "the CUDA add-on works in float");
    cuda::adamw_update(p.data(), g.data(), m.data(), v.data(), p.size(), h);
#else
    static_assert(sizeof(T) == 0, "backend::cuda needs REG4REC_ENABLE_CUDA (target reg4rec::cuda)");
#endif
  } else {
    constexpr index_t line = 64 / sizeof(T);
    const index_t blocks = (p.size() + line - 1) / line;
    parallel_for(0, blocks, (1 << 16) / line, [&](index_t lo, index_t hi) {
      const index_t a = lo * line, b = std::min(p.size(), hi * line);
      backend::adamw_update(be, p.data() + a, g.data() + a, m.data() + a, v.data() + a, b - a, h);
    });
  }
}

template <class T>
void adamw_update(span<T> p, cspan<nodeduce<T>> g, span<T> m, span<T> v, const adamw_hparams& h) {
  adamw_update<T>(default_backend{}, p, g, m, v, h);
}

}  // namespace reg4rec::kernels
