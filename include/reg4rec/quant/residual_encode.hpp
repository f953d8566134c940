// Residual encoding with beam search over L codebooks: the encoder of RQ-KMeans, and of
// RQ-VAE on its latents. Level l quantises what levels < l left over:
//
//   r_0 = x,   c_l = argmin_k dist(r_l, C_l[k]),   r_{l+1} = r_l − C_l[c_l],   x̂ = Σ_l C_l[c_l].
//
//   quant::residual_encoder<> enc({C0, C1, C2});   // each (K_l, d); copied
//   enc.encode(x, /*beam*/ 5, codes);               // codes: (n, L) int32
//
// Beam search (as Faiss's ResidualQuantizer): keep the B best partial paths; at level l every
// path is extended by its B nearest codes of C_l (kernels::codebook_search::topb) and the B
// best of those B·B extensions survive (the B best of all B·K_l extensions are among them,
// since no path contributes more than B). The path score is
// - l2: ‖x − Σ_{levels so far} C_l[c_l]‖², the squared norm of the current residual;
// - cosine: Σ_l (1 − cos(r_l, C_l[c_l])), the accumulated cosine distance (codes are chosen by
//   cosine, codewords keep their magnitude, residuals subtract the codeword itself).
// B = 1 is greedy: each level takes its nearest code. Ties go to the better-ranked parent path,
// then to the smaller code. With B ≥ Π_{l<L−1} K_l no prefix is ever dropped and the result is
// the exhaustive optimum over all Π K_l paths.
//
// Memory: rows are cut into batches whose scratch (residuals, paths, candidates: about
// 4·(2B·d + 2B·L + 3B + 2B²) bytes a row) comes from the calling thread's workspace, so after
// the first batch no allocation happens; rows are split across threads by parallel_for.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include "reg4rec/backend/tags.hpp"
#include "reg4rec/core/error.hpp"
#include "reg4rec/core/parallel.hpp"
#include "reg4rec/core/types.hpp"
#include "reg4rec/core/view.hpp"
#include "reg4rec/core/workspace.hpp"
#include "reg4rec/kernels/nearest.hpp"
#include "reg4rec/quant/detail/distance.hpp"
#include "reg4rec/quant/detail/sid_groups.hpp"
#include "reg4rec/quant/quantizer.hpp"

namespace reg4rec::quant {

template <class Distance = l2_distance, class Backend = default_backend>
class residual_encoder {
  static_assert(is_distance_policy_v<Distance>, "residual_encoder: Distance must be l2_distance or cosine_distance");
  static_assert(backend::is_host_v<Backend>, "residual_encoder runs on host backends");

 public:
  residual_encoder() = default;
  /// codebooks[l]: (K_l, d), finite, all with the same d. They are copied.
  explicit residual_encoder(const std::vector<cmatrix_view<float>>& codebooks) { set_codebooks(codebooks); }
  explicit residual_encoder(const std::vector<matrix<float>>& codebooks) {
    std::vector<cmatrix_view<float>> v(codebooks.begin(), codebooks.end());
    set_codebooks(v);
  }

  void set_codebooks(const std::vector<cmatrix_view<float>>& codebooks) {
    require(!codebooks.empty(), "residual_encoder: no codebooks (L = 0)");
    const index_t d = codebooks[0].cols();
    std::vector<matrix<float>> c, s;
    for (std::size_t l = 0; l < codebooks.size(); ++l) {
      const auto& cb = codebooks[l];
      require(cb.rows() >= 1, "residual_encoder: codebook ", l, " is empty (K = 0)");
      check_dim(reg4rec::detail::cat("residual_encoder: columns of codebook ", l, " (dimension d)").c_str(),
                cb.cols(), d);
      require(d >= 1, "residual_encoder: codewords have no dimensions (d = 0)");
      detail::check_finite(reg4rec::detail::cat("residual_encoder: codebook ", l).c_str(), cb);
      c.emplace_back(cb.eigen());
      s.push_back(detail::search_codebook<Distance>(c.back()));
    }
    codebooks_ = std::move(c);
    search_ = std::move(s);
  }
  /// Replaces level l's codewords (same shape), e.g. after an RQ-VAE optimiser step.
  void set_level(index_t l, cmatrix_view<float> codebook) {
    require(l >= 0 && l < levels(), "residual_encoder::set_level: level ", l, " is out of range [0, ", levels(), ")");
    check_dim("residual_encoder::set_level: rows of the codebook (K)", codebook.rows(), codebook_size(l));
    check_dim("residual_encoder::set_level: columns of the codebook (d)", codebook.cols(), dim());
    detail::check_finite("residual_encoder::set_level", codebook);
    codebooks_[l] = codebook.eigen();
    search_[l] = detail::search_codebook<Distance>(codebooks_[l]);
  }

  index_t levels() const noexcept { return static_cast<index_t>(codebooks_.size()); }
  index_t dim() const noexcept { return codebooks_.empty() ? 0 : codebooks_[0].cols(); }
  index_t codebook_size(index_t l) const { return codebooks_.at(static_cast<std::size_t>(l)).rows(); }
  cmatrix_view<float> codebook(index_t l) const { return codebooks_.at(static_cast<std::size_t>(l)); }

  /// Rows per batch (0: chosen so a batch's scratch is about 256 KiB).
  void set_batch_rows(index_t rows) {
    require(rows >= 0, "residual_encoder::set_batch_rows: rows must be non-negative, got ", rows);
    batch_rows_ = rows;
  }
  /// Scratch bytes one row needs at beam width `beam`.
  index_t bytes_per_row(index_t beam) const noexcept {
    const index_t B = std::max<index_t>(1, beam), d = dim(), L = levels();
    return B == 1 ? index_t(4) * (d + 3) : index_t(4) * (2 * B * d + 2 * B * L + 2 * B + 2 * B * B + B);
  }

  /// x: (n, d); codes: (n, L) int32; score: (n) the final path score (l2: squared
  /// reconstruction error; cosine: Σ_l (1 − cos)) or an empty span.
  void encode(cmatrix_view<float> x, index_t beam, matrix_view<std::int32_t> codes, span<float> score = {}) const {
    static constexpr const char* who = "residual_encode";
    require(levels() >= 1, who, ": the encoder has no codebooks");
    require(beam >= 1, who, ": beam width must be at least 1, got ", beam);
    check_dim("residual_encode: columns of x (dimension d)", x.cols(), dim());
    check_dim("residual_encode: rows of codes (rows of x)", codes.rows(), x.rows());
    check_dim("residual_encode: columns of codes (levels L)", codes.cols(), levels());
    if (score.size() != 0) check_dim("residual_encode: length of score (rows of x)", score.size(), x.rows());
    detail::check_finite(who, x);
    const index_t n = x.rows();
    if (n == 0) return;

    std::vector<kernels::codebook_search<float, Backend>> plans;
    plans.reserve(codebooks_.size());
    for (const auto& s : search_) plans.emplace_back(Distance::search_metric, s);
    const index_t rows = batch_rows_ > 0 ? batch_rows_
                                         : std::clamp<index_t>((index_t(256) << 10) / bytes_per_row(beam), 32, 4096);
    parallel_for(0, n, std::min(rows, index_t(1024)), [&](index_t lo, index_t hi) {
      workspace& ws = thread_workspace();
      for (index_t b0 = lo; b0 < hi; b0 += rows) {
        const index_t nb = std::min(rows, hi - b0);
        auto frame = ws.scope();
        if (beam == 1)
          greedy_batch(plans, x.middle_rows(b0, nb), codes.middle_rows(b0, nb),
                       score.size() ? score.subspan(b0, nb) : span<float>(), ws);
        else
          beam_batch(plans, beam, x.middle_rows(b0, nb), codes.middle_rows(b0, nb),
                     score.size() ? score.subspan(b0, nb) : span<float>(), ws);
      }
    });
  }

  /// out: (n, d), row i = Σ_l C_l[codes(i, l)]. codes: (n, L), codes(i, l) in [0, K_l).
  void decode(cmatrix_view<std::int32_t> codes, matrix_view<float> out) const {
    require(levels() >= 1, "residual_decode: the encoder has no codebooks");
    check_dim("residual_decode: columns of codes (levels L)", codes.cols(), levels());
    check_dim("residual_decode: rows of out (rows of codes)", out.rows(), codes.rows());
    check_dim("residual_decode: columns of out (dimension d)", out.cols(), dim());
    for (index_t l = 0; l < levels(); ++l)
      detail::check_codes("residual_decode", codes.middle_cols(l, 1), codebook_size(l));
    const index_t d = dim();
    parallel_for(0, codes.rows(), 4096, [&](index_t lo, index_t hi) {
      for (index_t i = lo; i < hi; ++i) {
        float* o = out.row_ptr(i);
        const float* c0 = codebooks_[0].row(codes(i, 0)).data();
        for (index_t j = 0; j < d; ++j) o[j] = c0[j];
        for (index_t l = 1; l < levels(); ++l) {
          const float* c = codebooks_[l].row(codes(i, l)).data();
          for (index_t j = 0; j < d; ++j) o[j] += c[j];
        }
      }
    });
  }

 private:
  using plan_list = std::vector<kernels::codebook_search<float, Backend>>;

  static float inv_norm_of(const float* r, index_t d) noexcept {
    float s = 0;
    for (index_t j = 0; j < d; ++j) s += r[j] * r[j];
    return s > 0 ? 1.0f / std::sqrt(s) : 0.0f;
  }

  // B = 1: each level's nearest code; the residual is updated in place.
  void greedy_batch(const plan_list& plans, cmatrix_view<float> x, matrix_view<std::int32_t> codes,
                    span<float> score, workspace& ws) const {
    const index_t nb = x.rows(), d = dim(), L = levels();
    matrix_view<float> res = ws.take_matrix<float>(nb, d);
    span<std::int32_t> idx = ws.take<std::int32_t>(nb);
    span<float> sc = ws.take<float>(nb);
    span<float> acc = ws.take<float>(nb);
    std::fill(acc.begin(), acc.end(), 0.0f);
    cmatrix_view<float> cur = x;
    for (index_t l = 0; l < L; ++l) {
      plans[l].nearest(cur, idx, sc);
      if constexpr (Distance::normalise_codewords)
        for (index_t i = 0; i < nb; ++i) acc[i] += 1.0f - sc[i] * inv_norm_of(cur.row_ptr(i), d);
      for (index_t i = 0; i < nb; ++i) codes(i, l) = idx[i];
      if (l + 1 == L) break;
      const matrix<float>& C = codebooks_[l];
      for (index_t i = 0; i < nb; ++i) {
        const float* REG4REC_RESTRICT xi = cur.row_ptr(i);
        const float* REG4REC_RESTRICT ci = C.row(idx[i]).data();
        float* REG4REC_RESTRICT ri = res.row_ptr(i);
        for (index_t j = 0; j < d; ++j) ri[j] = xi[j] - ci[j];
      }
      cur = res;
    }
    if (score.size())
      for (index_t i = 0; i < nb; ++i) score[i] = Distance::normalise_codewords ? acc[i] : sc[i];
  }

  // B > 1: paths of each row are stored contiguously (row i's beam at [i·beam, (i+1)·beam)).
  void beam_batch(const plan_list& plans, index_t B, cmatrix_view<float> x, matrix_view<std::int32_t> codes,
                  span<float> score, workspace& ws) const {
    const index_t nb = x.rows(), d = dim(), L = levels();
    float* res[2] = {ws.take<float>(nb * B * d).data(), ws.take<float>(nb * B * d).data()};
    std::int32_t* path[2] = {ws.take<std::int32_t>(nb * B * L).data(), ws.take<std::int32_t>(nb * B * L).data()};
    float* pscore[2] = {ws.take<float>(nb * B).data(), ws.take<float>(nb * B).data()};
    std::int32_t* cidx = ws.take<std::int32_t>(nb * B * B).data();
    float* csc = ws.take<float>(nb * B * B).data();
    float* inv = ws.take<float>(nb * B).data();
    index_t* pos = ws.take<index_t>(B).data();  // merge heads, one per parent path
    index_t beam_now = 1;
    int cur = 0;
    std::fill(pscore[cur], pscore[cur] + nb, 0.0f);
    for (index_t l = 0; l < L; ++l) {
      const index_t K = codebook_size(l), Bl = std::min(B, K);
      const index_t rows = nb * beam_now;
      const cmatrix_view<float> R = l == 0 ? x : cmatrix_view<float>(res[cur], rows, d);
      matrix_view<std::int32_t> ci(cidx, rows, Bl);
      matrix_view<float> cs(csc, rows, Bl);
      plans[l].topb(R, ci, cs);
      if constexpr (Distance::normalise_codewords)
        for (index_t r = 0; r < rows; ++r) inv[r] = inv_norm_of(R.row_ptr(r), d);
      const index_t beam_next = std::min(B, beam_now * K);
      const int nxt = cur ^ 1;
      const bool last = l + 1 == L;
      const float* C = codebooks_[l].data();
      for (index_t i = 0; i < nb; ++i) {
        for (index_t j = 0; j < beam_now; ++j) pos[j] = 0;
        for (index_t s = 0; s < beam_next; ++s) {
          // The best head among the parents' sorted candidate lists.
          index_t bj = -1;
          float bv = std::numeric_limits<float>::infinity();
          for (index_t j = 0; j < beam_now; ++j) {
            if (pos[j] >= Bl) continue;
            const index_t r = i * beam_now + j;
            const float v = cost_of(cs(r, pos[j]), pscore[cur][r], Distance::normalise_codewords ? inv[r] : 0.0f);
            if (bj < 0 || v < bv) {
              bv = v;
              bj = j;
            }
          }
          const index_t r = i * beam_now + bj;
          const std::int32_t code = ci(r, pos[bj]++);
          const index_t o = i * beam_next + s;
          std::int32_t* po = path[nxt] + o * L;
          const std::int32_t* pi = path[cur] + r * L;
          for (index_t t = 0; t < l; ++t) po[t] = pi[t];
          po[l] = code;
          pscore[nxt][o] = bv;
          if (!last) {
            const float* REG4REC_RESTRICT ri = R.row_ptr(r);
            const float* REG4REC_RESTRICT cc = C + code * d;
            float* REG4REC_RESTRICT ro = res[nxt] + o * d;
            for (index_t j = 0; j < d; ++j) ro[j] = ri[j] - cc[j];
          }
        }
      }
      cur = nxt;
      beam_now = beam_next;
    }
    for (index_t i = 0; i < nb; ++i) {
      const std::int32_t* p = path[cur] + i * beam_now * L;
      for (index_t t = 0; t < L; ++t) codes(i, t) = p[t];
      if (score.size()) score[i] = pscore[cur][i * beam_now];
    }
  }

  static float cost_of(float kernel_score, float parent_score, float inv) noexcept {
    if constexpr (Distance::normalise_codewords)
      return parent_score + 1.0f - kernel_score * inv;
    else
      return kernel_score;  // ‖r − c‖²: the new residual norm is the path score
  }

  std::vector<matrix<float>> codebooks_;  // (K_l, d) each
  std::vector<matrix<float>> search_;     // what the kernel searches (unit rows for cosine)
  index_t batch_rows_ = 0;
};

}  // namespace reg4rec::quant
