// General matrix product with xsimd: C = α·op(A)·op(B) + β·C (+ a bias row) for one block of
// C, on one thread (kernels::gemm splits C across threads).
//
// Register block. A micro-kernel computes MR × NR of C with NR = NV·W (W = SIMD width): each
// step k loads NV vectors of op(B)'s row k and broadcasts MR values of op(A)'s column k, MR·NV
// FMAs per NV + MR loads. With 32 vector registers MR = 6, NV = 4 (24 accumulators, 6 × 64 in
// float); with 16, MR = 6, NV = 2. A last panel narrower than NR runs a kernel of fewer
// vectors (1 … NV), so N = 1100 wastes 4 columns, not 52.
//
// Blocking (loop order, outer to inner):
//   jc: NC columns of C     the packed op(B) block, KC × NC (≤ 512 KiB), stays in L2
//   pc: KC steps of k       op(B) block packed into panels of NR columns, k-major
//   ir: MR rows of C        op(A) micro-panel (MR × KC, ≤ 12 KiB) stays in L1 over the sweep
//   jr: NR columns          one micro-kernel call per panel
// op(A) is never packed in full: A's rows (op(A) = A) or Aᵀ's k-major columns (op(A) = Aᵀ) are
// read in place; only a last block of fewer than MR rows is copied (zero-padded). The
// transposition of op(B) is absorbed by its packing, so one micro-kernel serves all four
// cases. KC is 512 floats for NN/NT (one pass over C for the K of our layers) and 256 for TN,
// whose K is the batch (C, in L2, is read and written once per k block).
//
// Edges. A partial tile is computed by the same kernel on a local buffer (holding the valid
// part of C when β ≠ 0) and its valid part copied out. Every element of C therefore sees the
// same operations wherever tile and thread boundaries fall, so results do not depend on how C
// is split. With β = 0, C is never read.
#pragma once

#include <algorithm>
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
  static_assert(NV <= 4, "call_kernel dispatches panels of 1 to 4 vectors");
  // Depth of a k block. NN and NT: 2 KiB of k (512 floats) covers the K of our layers in
  // one pass, so C is written once; the MR × KC micro-panel of op(A) (12 KiB) stays in L1.
  // TN (weight gradients, K = the batch): half that, leaving L2 room for C, which every k
  // block reads and writes.
  static constexpr index_t KC = 2048 / index_t(sizeof(T));
  static constexpr index_t KC_TN = 1024 / index_t(sizeof(T));
  // Columns of a block: the KC × NC block of packed op(B) takes at most 512 KiB (half the L2
  // of the machine we tune on).
  static constexpr index_t NC_BYTES = index_t(512) << 10;
};

template <class T>
struct kernel_args {
  index_t kc;
  const T* a;     // KMajorA: a[k·lda + r]; otherwise a[r·lda + k]
  index_t lda;
  const T* b;     // packed panel: b[k·NV·W + j], 64-byte aligned
  T* c;           // tile: c[r·ldc + j]
  index_t ldc;
  T alpha, beta;  // c ← α·acc (β = 0: C not read) or fma(α, acc, β·c) ...
  const T* bias;  // ... then + bias[j] when not null (NV·W values readable)
};

// acc (MR × NV·W) = Σ_k op(A)(:, k) ⊗ op(B)(k, :) over kc steps, then the update of the tile.
// Kept out of line so that the register allocation of the hot loop does not depend on the
// caller (the same reason as the nearest-code kernel).
template <class T, class A, int MR, int NV, bool KMajorA>
REG4REC_NOINLINE void micro_kernel(const kernel_args<T>& g) {
  using batch = xsimd::batch<T, A>;
  constexpr index_t W = batch::size;
  constexpr index_t NR = NV * W;
  const index_t kc = g.kc, lda = g.lda;
  const T* REG4REC_RESTRICT a = g.a;
  const T* REG4REC_RESTRICT b = g.b;
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
      const batch av(KMajorA ? a[k * lda + r] : a[r * lda + k]);
#pragma GCC unroll 8
      for (int q = 0; q < NV; ++q) acc[r][q] = xsimd::fma(av, bv[q], acc[r][q]);
    }
  }
  T* REG4REC_RESTRICT c = g.c;
  const index_t ldc = g.ldc;
  const batch va(g.alpha), vb(g.beta);
  const bool read_c = g.beta != T(0);
  batch bias[NV];
#pragma GCC unroll 8
  for (int q = 0; q < NV; ++q) bias[q] = g.bias ? batch::load_unaligned(g.bias + q * W) : batch(T(0));
#pragma GCC unroll 16
  for (int r = 0; r < MR; ++r)
#pragma GCC unroll 8
    for (int q = 0; q < NV; ++q) {
      T* cp = c + r * ldc + q * W;
      batch v = read_c ? xsimd::fma(va, acc[r][q], vb * batch::load_unaligned(cp)) : va * acc[r][q];
      if (g.bias) v += bias[q];
      v.store_unaligned(cp);
    }
}

// One micro-kernel call on a panel nv vectors wide (nv ≤ NV: the last, narrower panel).
template <class T, class A, int MR, int NV, bool KMajorA>
REG4REC_INLINE void call_kernel(int nv, const kernel_args<T>& g) {
  switch (nv) {
    case 1: micro_kernel<T, A, MR, 1, KMajorA>(g); break;
    case 2: micro_kernel<T, A, MR, (NV >= 2 ? 2 : 1), KMajorA>(g); break;
    case 3: micro_kernel<T, A, MR, (NV >= 3 ? 3 : 1), KMajorA>(g); break;
    default: micro_kernel<T, A, MR, NV, KMajorA>(g); break;
  }
}

// Packs op(B)(k0 .. k0+kb, j0 .. j0+nb) into ceil(nb / NR) panels, panel p at dst + p·kb·NR:
// kb rows of NR values, k-major; a last partial panel has rows of its width rounded up to W
// (the narrower kernel reads it), zero-padded. With `sums`, also adds Σ_k op(B)(k, j) to
// sums[j − j0], k in increasing order.
template <class T, class A, int NR>
void pack_b(trans tb, cmatrix_view<T> B, index_t k0, index_t kb, index_t j0, index_t nb, T* REG4REC_RESTRICT dst,
            T* REG4REC_RESTRICT sums) {
  using batch = xsimd::batch<T, A>;
  constexpr int W = static_cast<int>(batch::size);
  const index_t full = nb / NR, rest = nb - full * NR;
  const index_t rest_w = (rest + W - 1) / W * W;
  if (tb == trans::no) {
    // op(B) = B: row k of a panel is a contiguous piece of row k0 + k of B. Whole rows of
    // the block are copied in turn (sequential reads), with fixed-size vector copies.
    for (index_t k = 0; k < kb; ++k) {
      const T* s = B.row_ptr(k0 + k) + j0;
      for (index_t p = 0; p < full; ++p) {
        T* d = dst + (p * kb + k) * NR;
#pragma GCC unroll 8
        for (int q = 0; q < NR / W; ++q) {
          const batch v = batch::load_unaligned(s + p * NR + q * W);
          v.store_aligned(d + q * W);
          if (sums) (batch::load_unaligned(sums + p * NR + q * W) + v).store_unaligned(sums + p * NR + q * W);
        }
      }
      if (rest) {
        T* d = dst + full * kb * NR + k * rest_w;
        std::copy(s + full * NR, s + nb, d);
        std::fill(d + rest, d + rest_w, T(0));
        if (sums)
          for (index_t j = full * NR; j < nb; ++j) sums[j] += s[j];
      }
    }
  } else {
    // op(B) = Bᵀ: column j of a panel is a contiguous piece of row j0 + j of B. Blocks of
    // 8 steps of k keep the writes within a few cache lines of the panel.
    constexpr index_t KB = 8;
    for (index_t p = 0; p * NR < nb; ++p) {
      const index_t nr = std::min<index_t>(NR, nb - p * NR);
      const index_t w = p < full ? NR : rest_w;
      T* d = dst + p * kb * NR;
      for (index_t k = 0; k < kb; k += KB) {
        const index_t kk = std::min<index_t>(KB, kb - k);
        for (index_t j = 0; j < nr; ++j) {
          const T* s = B.row_ptr(j0 + p * NR + j) + k0 + k;
          for (index_t t = 0; t < kk; ++t) d[(k + t) * w + j] = s[t];
          if (sums)
            for (index_t t = 0; t < kk; ++t) sums[p * NR + j] += s[t];
        }
        if (nr < w)
          for (index_t t = 0; t < kk; ++t) std::fill(d + (k + t) * w + nr, d + (k + t) * w + w, T(0));
      }
    }
  }
}

// Packs op(A)(i0 .. i0+mr, k0 .. k0+kb), mr < MR, k-major with MR values per step (zero rows
// below mr): the micro-panel of a last, short block of rows.
template <class T, int MR>
void pack_a(trans ta, cmatrix_view<T> A, index_t i0, index_t mr, index_t k0, index_t kb, T* REG4REC_RESTRICT dst) {
  for (index_t k = 0; k < kb; ++k) {
    T* d = dst + k * MR;
    for (index_t r = 0; r < MR; ++r) d[r] = r < mr ? (ta == trans::yes ? A(k0 + k, i0 + r) : A(i0 + r, k0 + k)) : T(0);
  }
}

}  // namespace gemm_detail

template <class T, class A>
struct gemm_tile<simd<A>, T> {
  static constexpr index_t rows = gemm_detail::config<T, A>::MR;
  static constexpr index_t cols = gemm_detail::config<T, A>::NR;
};

/// op(A): (M × K), op(B): (K × N), C: (M × N); shapes are checked by kernels::gemm.
/// bias (N values or null): added to every row of C. b_sums (N values or null): Σ_k op(B)(k, j)
/// added to b_sums[j]. Packing buffers come from thread_workspace().
template <class T, class A>
void gemm(simd<A>, trans ta, trans tb, T alpha, cmatrix_view<T> Am, cmatrix_view<T> Bm, T beta, matrix_view<T> C,
          const T* bias = nullptr, T* b_sums = nullptr) {
  using cfg = gemm_detail::config<T, A>;
  constexpr int MR = cfg::MR, NV = cfg::NV, NR = cfg::NR, W = cfg::W;
  constexpr index_t sz = sizeof(T);
  const index_t M = C.rows(), N = C.cols();
  const index_t K = ta == trans::yes ? Am.rows() : Am.cols();
  if (M == 0 || N == 0) return;
  if (K == 0 || alpha == T(0)) {
    gemm_scale_only(beta, bias, C);
    if (b_sums)
      for (index_t k = 0; k < K; ++k)
        for (index_t j = 0; j < N; ++j) b_sums[j] += tb == trans::yes ? Bm(j, k) : Bm(k, j);
    return;
  }
  // k blocks of equal depth (≤ KC); column blocks of whole panels within NC_BYTES.
  const index_t kc_max = ta == trans::yes ? cfg::KC_TN : cfg::KC;
  const index_t kblocks = (K + kc_max - 1) / kc_max;
  const index_t kc = (K + kblocks - 1) / kblocks;
  const index_t panels_max = std::max<index_t>(1, cfg::NC_BYTES / (kc * NR * sz));
  const index_t panels_all = (N + NR - 1) / NR;
  const index_t nc = std::min(panels_all, panels_max) * NR;

  auto& ws = thread_workspace();
  auto frame = ws.scope();
  T* pb = ws.take<T>(kc * nc).data();
  T* pa = ws.take<T>(kc * MR).data();
  T* tile = ws.take<T>(MR * NR).data();
  T* tile_bias = ws.take<T>(NR).data();

  for (index_t jc = 0; jc < N; jc += nc) {
    const index_t nb = std::min(nc, N - jc);
    const index_t panels = (nb + NR - 1) / NR;
    for (index_t pc = 0; pc < K; pc += kc) {
      const index_t kb = std::min(kc, K - pc);
      const bool first_k = pc == 0;
      gemm_detail::pack_b<T, A, NR>(tb, Bm, pc, kb, jc, nb, pb, b_sums ? b_sums + jc : nullptr);
      for (index_t ir = 0; ir < M; ir += MR) {
        const index_t mr = std::min<index_t>(MR, M - ir);
        // op(A) in place (A's rows, or Aᵀ's k-major columns) unless the block is short.
        const bool packed = mr < MR;
        const bool kmajor = packed || ta == trans::yes;
        if (packed) gemm_detail::pack_a<T, MR>(ta, Am, ir, mr, pc, kb, pa);
        gemm_detail::kernel_args<T> g;
        g.kc = kb;
        g.a = packed ? pa : ta == trans::yes ? Am.row_ptr(pc) + ir : Am.row_ptr(ir) + pc;
        g.lda = packed ? index_t(MR) : Am.stride();
        g.alpha = alpha;
        g.beta = first_k ? beta : T(1);
        for (index_t p = 0; p < panels; ++p) {
          const index_t j = jc + p * NR;
          const index_t nr = std::min<index_t>(NR, nb - p * NR);
          const int nv = static_cast<int>((nr + W - 1) / W);
          g.b = pb + p * kb * NR;
          T* c = C.row_ptr(ir) + j;
          const bool full = mr == MR && nr == nv * W;
          if (full) {
            g.c = c;
            g.ldc = C.stride();
            g.bias = first_k && bias ? bias + j : nullptr;
          } else {
            // A partial tile goes through the buffer with the kernel's own update, so that its
            // elements see exactly the operations of a full tile's.
            g.c = tile;
            g.ldc = nv * W;
            if (g.beta != T(0))
              for (index_t r = 0; r < MR; ++r)
                for (index_t jj = 0; jj < g.ldc; ++jj) tile[r * g.ldc + jj] = r < mr && jj < nr ? c[r * C.stride() + jj] : T(0);
            g.bias = nullptr;
            if (first_k && bias) {
              for (index_t jj = 0; jj < g.ldc; ++jj) tile_bias[jj] = jj < nr ? bias[j + jj] : T(0);
              g.bias = tile_bias;
            }
          }
          if (kmajor)
            gemm_detail::call_kernel<T, A, MR, NV, true>(nv, g);
          else
            gemm_detail::call_kernel<T, A, MR, NV, false>(nv, g);
          if (!full)
            for (index_t r = 0; r < mr; ++r) std::copy(tile + r * g.ldc, tile + r * g.ldc + nr, c + r * C.stride());
        }
      }
    }
  }
}

}  // namespace reg4rec::backend
