// General matrix product with xsimd: C = α·op(A)·op(B) + β·C for one block of C, on one
// thread (kernels::gemm splits C across threads).
//
// Register block. A micro-kernel computes MR × NR of C with NR = NV·W (W = SIMD width): each
// step k loads NV vectors of op(B)'s row k and broadcasts MR values of op(A)'s column k, MR·NV
// FMAs per NV + MR loads. With 32 vector registers MR = 6, NV = 4 (24 accumulators, 6 × 64 in
// float); with 16, MR = 6, NV = 2.
//
// Blocking (loop order, outer to inner):
//   jc: NC columns of C          the packed op(B) block KC × NC stays in L2
//   pc: KC steps of k            op(B) block packed into panels of NR columns, k-major
//   ir: MR rows of C             op(A) micro-panel (MR × KC) stays in L1 across the sweep
//   jr: NR columns               one micro-kernel call per panel
// The micro-panel of op(A) is read in place when A is not transposed (MR row pointers; the
// rows are contiguous in k), and packed k-major (MR values per step) when it is, or when fewer
// than MR rows remain. Transposition of either operand is absorbed by the packing, so one
// micro-kernel serves the four cases.
//
// Edges. op(B) panels are zero-padded to NR columns and short row blocks to MR rows; a partial
// tile is computed by the same kernel on a local MR × NR buffer (holding the valid part of C
// when β ≠ 0) and its valid part copied out. Every element of C therefore sees the same
// operations wherever tile and thread boundaries fall, so results do not depend on how C is
// split. With β = 0, C is never read.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstring>
#include <type_traits>

#include <xsimd/xsimd.hpp>

#include "reg4rec/backend/gemm_op.hpp"
#include "reg4rec/backend/tags.hpp"
#include "reg4rec/core/view.hpp"
#include "reg4rec/core/workspace.hpp"

namespace reg4rec::backend {

namespace gemm_detail {

template <class A>
inline constexpr int vector_registers = std::is_base_of_v<xsimd::avx512f, A> ? 32 : 16;

template <class T, class A>
struct config {
  using batch = xsimd::batch<T, A>;
  static constexpr int W = static_cast<int>(batch::size);
  static constexpr int NV = vector_registers<A> >= 32 ? 4 : 2;
  static constexpr int MR = 6;
  static constexpr int NR = NV * W;
  static_assert(MR * NV + NV + 1 <= vector_registers<A>,
                "the register block must fit the architecture's vector registers");
  // Depth of a k block: the MR × KC micro-panel of op(A) (6 KiB in float) stays in L1 while
  // the KC × NC block of op(B) (at most 512 KiB, half the L2 of the machine we tune on) is
  // streamed once per MR rows.
#ifdef REG4REC_GEMM_KC
  static constexpr index_t KC = REG4REC_GEMM_KC;
#else
  static constexpr index_t KC = 256 * 4 / sizeof(T);
#endif
#ifdef REG4REC_GEMM_NC_BYTES
  static constexpr index_t NC_BYTES = REG4REC_GEMM_NC_BYTES;
#else
  static constexpr index_t NC_BYTES = index_t(512) << 10;
#endif
};

// acc (MR × NR) = Σ_k op(A)(:, k) ⊗ op(B)(k, :) over kc steps, then
// c ← α·acc (β = 0, C not read) or c ← fma(α, acc, β·c).
// PackedA: a[k·MR + r]; otherwise a[r·lda + k] (rows of a row-major A, read in place).
// b: one packed panel, b[k·NR + j], 64-byte aligned.
// Kept out of line so that the register allocation of the hot loop does not depend on the
// caller (the same reason as the nearest-code kernel).
template <class T, class A, int MR, int NV, bool PackedA>
REG4REC_NOINLINE void micro_kernel(index_t kc, const T* REG4REC_RESTRICT a, index_t lda,
                                   const T* REG4REC_RESTRICT b, T* REG4REC_RESTRICT c, index_t ldc,
                                   T alpha, T beta) {
  using batch = xsimd::batch<T, A>;
  constexpr index_t W = batch::size;
  constexpr index_t NR = NV * W;
  batch acc[MR][NV];
#pragma GCC unroll 16
  for (int r = 0; r < MR; ++r)
#pragma GCC unroll 8
    for (int q = 0; q < NV; ++q) acc[r][q] = batch(T(0));
#pragma GCC unroll 2
  for (index_t k = 0; k < kc; ++k) {
    const T* bk = b + k * NR;
    batch bv[NV];
#pragma GCC unroll 8
    for (int q = 0; q < NV; ++q) bv[q] = batch::load_aligned(bk + q * W);
#pragma GCC unroll 16
    for (int r = 0; r < MR; ++r) {
      const batch av(PackedA ? a[k * MR + r] : a[r * lda + k]);
#pragma GCC unroll 8
      for (int q = 0; q < NV; ++q) acc[r][q] = xsimd::fma(av, bv[q], acc[r][q]);
    }
  }
  const batch va(alpha);
  if (beta == T(0)) {
#pragma GCC unroll 16
    for (int r = 0; r < MR; ++r)
#pragma GCC unroll 8
      for (int q = 0; q < NV; ++q) (va * acc[r][q]).store_unaligned(c + r * ldc + q * W);
  } else {
    const batch vb(beta);
#pragma GCC unroll 16
    for (int r = 0; r < MR; ++r)
#pragma GCC unroll 8
      for (int q = 0; q < NV; ++q) {
        T* cp = c + r * ldc + q * W;
        xsimd::fma(va, acc[r][q], vb * batch::load_unaligned(cp)).store_unaligned(cp);
      }
  }
}

// Packs op(B)(k0 .. k0+kb, j0 .. j0+nb) into ceil(nb / NR) panels of kb × NR, zero-padded.
template <class T, int NR>
void pack_b(trans tb, cmatrix_view<T> B, index_t k0, index_t kb, index_t j0, index_t nb, T* REG4REC_RESTRICT dst) {
  const index_t panels = (nb + NR - 1) / NR;
  if (tb == trans::no) {
    // op(B) = B: row k of the panel is a contiguous piece of row k0 + k of B.
    for (index_t p = 0; p < panels; ++p) {
      const index_t nr = std::min<index_t>(NR, nb - p * NR);
      T* d = dst + p * kb * NR;
      for (index_t k = 0; k < kb; ++k, d += NR) {
        const T* s = B.row_ptr(k0 + k) + j0 + p * NR;
        std::memcpy(d, s, static_cast<std::size_t>(nr) * sizeof(T));
        if (nr < NR) std::fill(d + nr, d + NR, T(0));
      }
    }
  } else {
    // op(B) = Bᵀ: column j of the panel is a contiguous piece of row j0 + j of B. Blocks of
    // 8 steps of k keep the writes within a few cache lines of the panel.
    constexpr index_t KB = 8;
    for (index_t p = 0; p < panels; ++p) {
      const index_t nr = std::min<index_t>(NR, nb - p * NR);
      T* d = dst + p * kb * NR;
      for (index_t k = 0; k < kb; k += KB) {
        const index_t kk = std::min<index_t>(KB, kb - k);
        for (index_t j = 0; j < nr; ++j) {
          const T* s = B.row_ptr(j0 + p * NR + j) + k0 + k;
          for (index_t t = 0; t < kk; ++t) d[(k + t) * NR + j] = s[t];
        }
        if (nr < NR)
          for (index_t t = 0; t < kk; ++t) std::fill(d + (k + t) * NR + nr, d + (k + t) * NR + NR, T(0));
      }
    }
  }
}

// Packs op(A)(i0 .. i0+mr, k0 .. k0+kb) k-major, MR values per step, zero-padded rows.
template <class T, int MR>
void pack_a(trans ta, cmatrix_view<T> A, index_t i0, index_t mr, index_t k0, index_t kb, T* REG4REC_RESTRICT dst) {
  if (ta == trans::yes) {
    // op(A) = Aᵀ: step k is a contiguous piece of row k0 + k of A.
    for (index_t k = 0; k < kb; ++k) {
      const T* s = A.row_ptr(k0 + k) + i0;
      T* d = dst + k * MR;
      for (index_t r = 0; r < mr; ++r) d[r] = s[r];
      for (index_t r = mr; r < MR; ++r) d[r] = T(0);
    }
  } else {
    for (index_t r = 0; r < mr; ++r) {
      const T* s = A.row_ptr(i0 + r) + k0;
      for (index_t k = 0; k < kb; ++k) dst[k * MR + r] = s[k];
    }
    for (index_t r = mr; r < MR; ++r)
      for (index_t k = 0; k < kb; ++k) dst[k * MR + r] = T(0);
  }
}

}  // namespace gemm_detail

template <class T, class A>
struct gemm_tile<simd<A>, T> {
  static constexpr index_t rows = gemm_detail::config<T, A>::MR;
  static constexpr index_t cols = gemm_detail::config<T, A>::NR;
};

/// op(A): (M × K), op(B): (K × N), C: (M × N); shapes are checked by kernels::gemm. Packing
/// buffers come from thread_workspace().
template <class T, class A>
void gemm(simd<A>, trans ta, trans tb, T alpha, cmatrix_view<T> Am, cmatrix_view<T> Bm, T beta,
          matrix_view<T> C) {
  using cfg = gemm_detail::config<T, A>;
  constexpr int MR = cfg::MR, NV = cfg::NV, NR = cfg::NR;
  const index_t M = C.rows(), N = C.cols();
  const index_t K = ta == trans::yes ? Am.rows() : Am.cols();
  if (M == 0 || N == 0) return;
  if (K == 0 || alpha == T(0)) {
    for (index_t i = 0; i < M; ++i) {
      T* c = C.row_ptr(i);
      if (beta == T(0))
        std::fill(c, c + N, T(0));
      else
        for (index_t j = 0; j < N; ++j) c[j] *= beta;
    }
    return;
  }
  // k blocks of equal depth (≤ KC); column blocks of whole panels within NC_BYTES.
  const index_t kblocks = (K + cfg::KC - 1) / cfg::KC;
  const index_t kc = (K + kblocks - 1) / kblocks;
  const index_t panels_max = std::max<index_t>(1, cfg::NC_BYTES / (kc * NR * index_t(sizeof(T))));
  const index_t panels_all = (N + NR - 1) / NR;
  const index_t nc = std::min(panels_all, panels_max) * NR;

  auto& ws = thread_workspace();
  auto frame = ws.scope();
  T* pb = ws.take<T>(kc * nc).data();
  T* pa = ws.take<T>(kc * MR).data();
  T* tile = ws.take<T>(MR * NR).data();

  for (index_t jc = 0; jc < N; jc += nc) {
    const index_t nb = std::min(nc, N - jc);
    const index_t panels = (nb + NR - 1) / NR;
    for (index_t pc = 0; pc < K; pc += kc) {
      const index_t kb = std::min(kc, K - pc);
      const T beta_k = pc == 0 ? beta : T(1);
      gemm_detail::pack_b<T, NR>(tb, Bm, pc, kb, jc, nb, pb);
      for (index_t ir = 0; ir < M; ir += MR) {
        const index_t mr = std::min<index_t>(MR, M - ir);
        const bool packed = ta == trans::yes || mr < MR;
        if (packed) gemm_detail::pack_a<T, MR>(ta, Am, ir, mr, pc, kb, pa);
        const T* a = packed ? pa : Am.row_ptr(ir) + pc;
        const index_t lda = Am.stride();
        for (index_t p = 0; p < panels; ++p) {
          const index_t nr = std::min<index_t>(NR, nb - p * NR);
          const T* b = pb + p * kb * NR;
          T* c = C.row_ptr(ir) + jc + p * NR;
          if (mr == MR && nr == NR) {
            if (packed)
              gemm_detail::micro_kernel<T, A, MR, NV, true>(kb, a, lda, b, c, C.stride(), alpha, beta_k);
            else
              gemm_detail::micro_kernel<T, A, MR, NV, false>(kb, a, lda, b, c, C.stride(), alpha, beta_k);
            continue;
          }
          // A partial tile goes through the buffer with the kernel's own update, so that its
          // elements see exactly the operations of a full tile's.
          if (beta_k != T(0))
            for (index_t r = 0; r < MR; ++r)
              for (index_t j = 0; j < NR; ++j) tile[r * NR + j] = r < mr && j < nr ? c[r * C.stride() + j] : T(0);
          if (packed)
            gemm_detail::micro_kernel<T, A, MR, NV, true>(kb, a, lda, b, tile, NR, alpha, beta_k);
          else
            gemm_detail::micro_kernel<T, A, MR, NV, false>(kb, a, lda, b, tile, NR, alpha, beta_k);
          for (index_t r = 0; r < mr; ++r) std::copy(tile + r * NR, tile + r * NR + nr, c + r * C.stride());
        }
      }
    }
  }
}

}  // namespace reg4rec::backend
