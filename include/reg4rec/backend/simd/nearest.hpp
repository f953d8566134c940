// Nearest-code search with xsimd: a register-blocked product of R rows of x against panels of
// P codes, fused with the selection so that the n × K distance matrix never exists.
//
// Packing: codes are stored transposed in panels of P = NV·W codes (W = SIMD width), panel p
// holding codes [pP, pP + P) dimension by dimension, so one step j of the inner loop loads NV
// vectors of code coordinates and broadcasts R coordinates of x: R·NV FMAs per R + NV loads.
// With AVX-512 (32 registers) R = 6, NV = 4: 24 accumulators + 4 code vectors + 1 broadcast.
//
// Scores: for both metrics the kernel minimises s = bias_k − α·(x·c_k): l2 uses
// bias = ‖c_k‖², α = 2 (so ‖x − c_k‖² = ‖x‖² + s), inner product uses bias = 0, α = 1.
// Padding codes have bias = +inf and never win. Selection keeps, per lane, the first strictly
// smaller score; the final horizontal step breaks ties by index, so ties go to the smallest
// index as in the scalar reference.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <type_traits>

#include <xsimd/xsimd.hpp>

#include "reg4rec/backend/tags.hpp"
#include "reg4rec/core/metric.hpp"
#include "reg4rec/core/view.hpp"
#include "reg4rec/core/workspace.hpp"

namespace reg4rec::backend {

namespace simd_detail {

template <class A>
inline constexpr int register_count = std::is_base_of_v<xsimd::avx512f, A> ? 32 : 16;

// Bit l set iff lane l of b is true. AVX-512 comparisons already produce a mask register;
// other architectures go through a bool array (branch-free packing).
template <class T, class A>
REG4REC_INLINE std::uint32_t lane_mask(const xsimd::batch_bool<T, A>& b) noexcept {
  if constexpr (std::is_base_of_v<xsimd::avx512f, A>) {
    return static_cast<std::uint32_t>(b.data);
  } else {
    constexpr std::size_t W = xsimd::batch_bool<T, A>::size;
    bool lanes[W];
    b.store_unaligned(lanes);
    std::uint32_t m = 0;
    for (std::size_t l = 0; l < W; ++l) m |= static_cast<std::uint32_t>(lanes[l]) << l;
    return m;
  }
}

// Running best per lane for R rows (argmin).
template <class T, class A, int R, int NV>
struct argmin_epilogue {
  using batch = xsimd::batch<T, A>;
  batch best_v[R];
  batch best_i[R];

  argmin_epilogue() {
    for (int r = 0; r < R; ++r) {
      best_v[r] = batch(std::numeric_limits<T>::infinity());
      best_i[r] = batch(T(-1));
    }
  }

  REG4REC_INLINE void operator()(int r, const batch (&s)[NV], const batch (&ids)[NV]) {
    batch v = s[0], id = ids[0];
#pragma GCC unroll 8
    for (int q = 1; q < NV; ++q) {
      const auto better = s[q] < v;
      v = xsimd::select(better, s[q], v);
      id = xsimd::select(better, ids[q], id);
    }
    const auto better = v < best_v[r];
    best_v[r] = xsimd::select(better, v, best_v[r]);
    best_i[r] = xsimd::select(better, id, best_i[r]);
  }

  // Smallest score over the lanes of row r, ties to the smallest index.
  void result(int r, T& value, std::int32_t& index) const {
    alignas(64) T v[batch::size];
    alignas(64) T id[batch::size];
    best_v[r].store_aligned(v);
    best_i[r].store_aligned(id);
    value = std::numeric_limits<T>::infinity();
    index = -1;
    for (std::size_t l = 0; l < batch::size; ++l) {
      if (id[l] < 0) continue;
      const auto il = static_cast<std::int32_t>(id[l]);
      if (v[l] < value || (v[l] == value && il < index)) {
        value = v[l];
        index = il;
      }
    }
  }
};

// B best per row, kept sorted (score ascending, then index) in caller-provided arrays.
template <class T, class A, int R, int NV>
struct topb_epilogue {
  using batch = xsimd::batch<T, A>;
  index_t B;
  T* val[R];
  std::int32_t* idx[R];
  index_t count[R];
  T threshold[R];

  REG4REC_INLINE void operator()(int r, const batch (&s)[NV], const batch (&ids)[NV]) {
    const batch thr(threshold[r]);
#pragma GCC unroll 8
    for (int q = 0; q < NV; ++q) {
      if (REG4REC_LIKELY(!xsimd::any(s[q] < thr))) continue;
      alignas(64) T sv[batch::size];
      alignas(64) T iv[batch::size];
      s[q].store_aligned(sv);
      ids[q].store_aligned(iv);
      // Lanes of vector q hold increasing code indices, and vectors come in index order, so
      // a candidate equal to the threshold always loses to the incumbent (smaller index).
      for (std::size_t l = 0; l < batch::size; ++l)
        if (sv[l] < threshold[r]) insert(r, sv[l], static_cast<std::int32_t>(iv[l]));
    }
  }

  void insert(int r, T v, std::int32_t id) {
    T* vr = val[r];
    std::int32_t* ir = idx[r];
    index_t pos = std::min(count[r], B - 1);
    while (pos > 0 && (v < vr[pos - 1])) {
      if (pos < B) {
        vr[pos] = vr[pos - 1];
        ir[pos] = ir[pos - 1];
      }
      --pos;
    }
    vr[pos] = v;
    ir[pos] = id;
    if (count[r] < B) ++count[r];
    threshold[r] = count[r] == B ? vr[B - 1] : std::numeric_limits<T>::infinity();
  }
};

// Writes every score of R rows to memory (row r's panel p at rows[r] + p·P), for selection
// after the sweep.
template <class T, class A, int R, int NV>
struct store_epilogue {
  using batch = xsimd::batch<T, A>;
  T* rows[R];

  REG4REC_INLINE void operator()(int r, const batch (&s)[NV], const batch (&)[NV]) {
#pragma GCC unroll 8
    for (int q = 0; q < NV; ++q) s[q].store_aligned(rows[r] + q * static_cast<index_t>(batch::size));
    rows[r] += NV * static_cast<index_t>(batch::size);
  }
};

template <class T>
struct scored_code {
  T value;
  std::int32_t index;
};

// The B smallest of s[0, K) by (value, index), best first, into val/idx; returns how many
// exist (entries that are NaN or +inf never qualify, as in the streaming epilogue). s holds Kp
// (a multiple of the SIMD width W) scores, those past K being +inf; `scratch` has room for Kp.
//
// Why it is exact: split the Kp/W vectors into G = ⌈B/W⌉ consecutive groups and take the
// lane-wise minimum of each: G·W values, each one an element of a distinct set of codes. If
// at least B of them are finite, their B-th smallest, `bound`, has B distinct codes at or
// below it, so the B best codes all satisfy s ≤ bound. One SIMD pass collects those (usually
// a handful) and a partial sort orders them. Otherwise (NaN or infinite scores) the codes are
// inserted one by one in index order, the streaming epilogue's algorithm.
template <class T, class A>
index_t select_smallest(const T* s, index_t K, index_t Kp, index_t B, T* val, std::int32_t* idx,
                        scored_code<T>* scratch) {
  using batch = xsimd::batch<T, A>;
  constexpr index_t W = batch::size;
  const index_t V = Kp / W;
  const index_t G = std::min(V, (B + W - 1) / W);
  // Group minima, non-finite ones replaced by +inf (they never bound anything); stored in the
  // scratch area (G·W ≤ Kp values, 64-byte aligned), which is reused below for candidates.
  T* gm = reinterpret_cast<T*>(scratch);
  index_t finite = 0;
  const batch inf(std::numeric_limits<T>::infinity());
  for (index_t g = 0; g < G; ++g) {
    const index_t lo = g * V / G, hi = (g + 1) * V / G;
    batch m = batch::load_aligned(s + lo * W);
    for (index_t v = lo + 1; v < hi; ++v) m = xsimd::min(m, batch::load_aligned(s + v * W));
    const auto ok = xsimd::abs(m) < inf;  // false for ±inf and NaN
    finite += __builtin_popcount(lane_mask(ok));
    xsimd::select(ok, m, inf).store_aligned(gm + g * W);
  }
  if (finite >= B) {
    // B-th smallest of the finite minima: the smallest value with at least B values at or
    // below it (one vector comparison and a popcount per value; cheaper than a selection
    // algorithm on so few values).
    T b_th = std::numeric_limits<T>::infinity();
    for (index_t j = 0; j < G * W; ++j) {
      const T v = gm[j];
      const batch bv(v);
      index_t rank = 0;
      for (index_t g = 0; g < G; ++g) rank += __builtin_popcount(lane_mask(batch::load_aligned(gm + g * W) <= bv));
      b_th = rank >= B && v < b_th ? v : b_th;
    }
    const batch bound(b_th);
    index_t c = 0;
    for (index_t v = 0; v < V; ++v) {
      const batch sv = batch::load_aligned(s + v * W);
      for (std::uint32_t bits = lane_mask(sv <= bound); bits != 0; bits &= bits - 1) {
        const index_t k = v * W + __builtin_ctz(bits);
        if (k < K) scratch[c++] = {s[k], static_cast<std::int32_t>(k)};
      }
    }
    const auto before = [](const scored_code<T>& a, const scored_code<T>& b) {
      return a.value != b.value ? a.value < b.value : a.index < b.index;
    };
    if (c <= 32) {  // usually a handful: insertion sort
      for (index_t i = 1; i < c; ++i) {
        const scored_code<T> e = scratch[i];
        index_t j = i;
        for (; j > 0 && before(e, scratch[j - 1]); --j) scratch[j] = scratch[j - 1];
        scratch[j] = e;
      }
    } else {
      std::partial_sort(scratch, scratch + B, scratch + c, before);
    }
    for (index_t b = 0; b < B; ++b) {
      val[b] = scratch[b].value;
      idx[b] = scratch[b].index;
    }
    return B;
  }
  // Fallback: insertion in index order; a candidate must be strictly below the current B-th.
  index_t count = 0;
  T threshold = std::numeric_limits<T>::infinity();
  for (index_t k = 0; k < K; ++k) {
    const T v = s[k];
    if (!(v < threshold)) continue;
    index_t pos = std::min(count, B - 1);
    while (pos > 0 && v < val[pos - 1]) {
      val[pos] = val[pos - 1];
      idx[pos] = idx[pos - 1];
      --pos;
    }
    val[pos] = v;
    idx[pos] = static_cast<std::int32_t>(k);
    if (count < B) ++count;
    threshold = count == B ? val[B - 1] : std::numeric_limits<T>::infinity();
  }
  return count;
}

// One block of R rows against one panel: the hot loop. Kept out of line on purpose: inlined
// into the sweep, the compiler promotes the epilogue's running bests into registers and
// spills accumulators instead (measured: 30% → see bench/ for the figure after).
template <class T, class A, int R, int NV, class Epilogue>
REG4REC_NOINLINE void panel_kernel(const T* REG4REC_RESTRICT x, index_t ldx,
                                 const T* REG4REC_RESTRICT panel, const T* REG4REC_RESTRICT bias,
                                 index_t d, const xsimd::batch<T, A>& neg_alpha,
                                 const xsimd::batch<T, A> (&ids)[NV], Epilogue& epi) {
  using batch = xsimd::batch<T, A>;
  constexpr index_t W = batch::size;
  constexpr index_t P = NV * W;
  batch acc[R][NV];
#pragma GCC unroll 16
  for (int r = 0; r < R; ++r)
#pragma GCC unroll 8
    for (int q = 0; q < NV; ++q) acc[r][q] = batch(T(0));
  for (index_t j = 0; j < d; ++j) {
    const T* pj = panel + j * P;
    batch b[NV];
#pragma GCC unroll 8
    for (int q = 0; q < NV; ++q) b[q] = batch::load_aligned(pj + q * W);
#pragma GCC unroll 16
    for (int r = 0; r < R; ++r) {
      const batch xv(x[r * ldx + j]);
#pragma GCC unroll 8
      for (int q = 0; q < NV; ++q) acc[r][q] = xsimd::fma(xv, b[q], acc[r][q]);
    }
  }
#pragma GCC unroll 16
  for (int r = 0; r < R; ++r) {
    batch s[NV];
#pragma GCC unroll 8
    for (int q = 0; q < NV; ++q)
      s[q] = xsimd::fma(neg_alpha, acc[r][q], batch::load_aligned(bias + q * W));
    epi(r, s, ids);
  }
}

}  // namespace simd_detail

template <class T, class A>
class nearest_plan<simd<A>, T> {
  using batch = xsimd::batch<T, A>;
  static constexpr int W = static_cast<int>(batch::size);
  static constexpr int NV = simd_detail::register_count<A> >= 32 ? 4 : 2;
  static constexpr int R = 6;
  static constexpr int P = NV * W;
  static_assert(R * NV + NV + 1 <= simd_detail::register_count<A>,
                "the register block must fit the architecture's vector registers");

 public:
  nearest_plan(metric m, cmatrix_view<T> codes)
      : metric_(m), K_(codes.rows()), d_(codes.cols()), panels_count_((K_ + P - 1) / P) {
    require(K_ < (index_t(1) << std::numeric_limits<T>::digits),
            "nearest: too many codes for exact indices in this precision: ", K_);
    alpha_ = m == metric::l2 ? T(2) : T(1);
    panels_.assign(static_cast<std::size_t>(panels_count_ * d_ * P), T(0));
    bias_.assign(static_cast<std::size_t>(panels_count_ * P), std::numeric_limits<T>::infinity());
    for (index_t k = 0; k < K_; ++k) {
      const index_t p = k / P, lane = k % P;
      T norm = 0;
      for (index_t j = 0; j < d_; ++j) {
        const T c = codes(k, j);
        panels_[(p * d_ + j) * P + lane] = c;
        norm += c * c;
      }
      bias_[p * P + lane] = m == metric::l2 ? norm : T(0);
    }
  }

  index_t size() const noexcept { return K_; }
  index_t dim() const noexcept { return d_; }
  metric kind() const noexcept { return metric_; }

  void argmin(cmatrix_view<T> x, std::int32_t* idx, T* score) const {
    for_blocks(x, [&](const T* xb, index_t ldx, index_t i0, index_t rows) {
      simd_detail::argmin_epilogue<T, A, R, NV> epi;
      sweep(xb, ldx, epi);
      for (int r = 0; r < rows; ++r) {
        T v;
        std::int32_t k;
        epi.result(r, v, k);
        idx[i0 + r] = k;
        score[i0 + r] = finish(v, xb + r * ldx);
      }
    });
  }

  void topb(cmatrix_view<T> x, index_t B, std::int32_t* idx, T* score, index_t ld) const {
    const index_t Kp = panels_count_ * P;
    if (Kp <= store_select_max_codes) {
      // Scores of R rows stay in L1/L2 (R·Kp values), then one selection per row.
      for_blocks(x, [&](const T* xb, index_t ldx, index_t i0, index_t rows) {
        auto& ws = thread_workspace();
        auto frame = ws.scope();
        T* buf = ws.take<T>(R * Kp).data();
        auto* scratch = ws.take<simd_detail::scored_code<T>>(Kp).data();
        T* val = ws.take<T>(B).data();
        std::int32_t* id = ws.take<std::int32_t>(B).data();
        simd_detail::store_epilogue<T, A, R, NV> epi;
        for (int r = 0; r < R; ++r) epi.rows[r] = buf + r * Kp;
        sweep(xb, ldx, epi);
        for (int r = 0; r < rows; ++r) {
          const index_t found = simd_detail::select_smallest<T, A>(buf + r * Kp, K_, Kp, B, val, id, scratch);
          const T norm = metric_ == metric::l2 ? squared_norm(xb + r * ldx) : T(0);
          for (index_t b = 0; b < B; ++b) {
            idx[(i0 + r) * ld + b] = b < found ? id[b] : -1;
            score[(i0 + r) * ld + b] = b < found ? finish_with_norm(val[b], norm) : std::numeric_limits<T>::quiet_NaN();
          }
        }
      });
      return;
    }
    // Large codebooks: stream, keeping the B best per row.
    for_blocks(x, [&](const T* xb, index_t ldx, index_t i0, index_t rows) {
      simd_detail::topb_epilogue<T, A, R, NV> epi;
      epi.B = B;
      auto& ws = thread_workspace();
      auto frame = ws.scope();
      for (int r = 0; r < R; ++r) {
        epi.val[r] = ws.take<T>(B).data();
        epi.idx[r] = ws.take<std::int32_t>(B).data();
        epi.count[r] = 0;
        epi.threshold[r] = std::numeric_limits<T>::infinity();
        std::fill(epi.idx[r], epi.idx[r] + B, -1);
      }
      sweep(xb, ldx, epi);
      for (int r = 0; r < rows; ++r)
        for (index_t b = 0; b < B; ++b) {
          idx[(i0 + r) * ld + b] = b < epi.count[r] ? epi.idx[r][b] : -1;
          score[(i0 + r) * ld + b] = b < epi.count[r] ? finish(epi.val[r][b], xb + r * ldx)
                                                      : std::numeric_limits<T>::quiet_NaN();
        }
    });
  }

 private:
  // Up to this many (padded) codes, topb stores every score of a row block and selects after
  // the sweep; beyond, it streams with a per-row insertion list (less memory, more branches).
  static constexpr index_t store_select_max_codes = 8192;

  // Calls f(rows_ptr, ld, first_row, rows) for blocks of R rows; the last partial block is
  // copied into a zero-padded buffer so that the kernel always runs with R rows.
  template <class F>
  void for_blocks(cmatrix_view<T> x, F&& f) const {
    const index_t n = x.rows();
    const index_t full = n / R * R;
    for (index_t i0 = 0; i0 < full; i0 += R) f(x.row_ptr(i0), x.stride(), i0, index_t(R));
    if (full < n) {
      auto& ws = thread_workspace();
      auto frame = ws.scope();
      T* tail = ws.take<T>(R * d_).data();
      std::fill(tail, tail + R * d_, T(0));
      for (index_t r = 0; r < n - full; ++r)
        std::copy(x.row_ptr(full + r), x.row_ptr(full + r) + d_, tail + r * d_);
      f(tail, d_, full, n - full);
    }
  }

  template <class Epilogue>
  void sweep(const T* xb, index_t ldx, Epilogue& epi) const {
    const batch neg_alpha(-alpha_);
    batch iota;
    {
      alignas(64) T lanes[W];
      for (int l = 0; l < W; ++l) lanes[l] = T(l);
      iota = batch::load_aligned(lanes);
    }
    for (index_t p = 0; p < panels_count_; ++p) {
      batch ids[NV];
      for (int q = 0; q < NV; ++q) ids[q] = iota + batch(T(p * P + q * W));
      simd_detail::panel_kernel<T, A, R, NV>(xb, ldx, panels_.data() + p * d_ * P,
                                             bias_.data() + p * P, d_, neg_alpha, ids, epi);
    }
  }

  // Kernel score → reported score.
  T finish(T s, const T* x) const noexcept {
    return finish_with_norm(s, metric_ == metric::l2 ? squared_norm(x) : T(0));
  }
  T squared_norm(const T* x) const noexcept {
    T norm = 0;
    for (index_t j = 0; j < d_; ++j) norm += x[j] * x[j];
    return norm;
  }
  // norm = ‖x‖² (l2 only).
  T finish_with_norm(T s, T norm) const noexcept {
    if (metric_ == metric::inner_product) return -s;
    const T dist = norm + s;
    return dist < T(0) ? T(0) : dist;  // cancellation can leave a tiny negative; NaN stays NaN
  }

  metric metric_;
  index_t K_, d_, panels_count_;
  T alpha_;
  aligned_vector<T> panels_;
  aligned_vector<T> bias_;
};

}  // namespace reg4rec::backend
