// S²GR codebook optimisation (SPEC §3.7) for the codebooks of the neural quantizers: RQ-VAE's
// levels and MPQ's experts. Both parts are off by default and act on training only; encode()
// stays the plain nearest codeword.
//
// Usage-balanced assignment. During training a vector r of codebook C (K codes) goes to
//
//   argmin_k ‖r − c_k‖² + λ·s̄·K·u_k,
//
// u_k the running share of the codebook's assignments that went to code k (an exponential
// average over training steps with decay `usage_decay`, starting uniform) and s̄ the running
// mean squared distance to the assigned codeword, so that λ does not depend on the scale of
// the latents. K·u_k is 1 for a code used as often as the average: an over-used code looks
// farther than it is, an idle one nearer. The L2 search kernel does this exactly:
// ‖[r, 0] − [c_k, √b_k]‖² = ‖r − c_k‖² + b_k.
//
// Uniformity penalty. Codewords closer than a margin δ are pushed apart:
//
//   P(C) = (γ/K)·Σ_{j<k} max(0, δ − ‖c_j − c_k‖)²,  δ = ρ·(root-mean-square distance between
//   the codewords of C), held constant within a step (no gradient through δ).
//
//   quant::rq_vae_config c;  c.balance.usage_bias = 0.2;  c.balance.uniformity = 1;
#pragma once

#include <cmath>
#include <cstdint>
#include <memory>
#include <type_traits>
#include <vector>

#include "reg4rec/core/error.hpp"
#include "reg4rec/core/types.hpp"
#include "reg4rec/core/view.hpp"
#include "reg4rec/kernels/nearest.hpp"
#include "reg4rec/nn/buffer.hpp"

namespace reg4rec::quant {

struct codebook_balance_options {
  double usage_bias = 0.0;          // λ ≥ 0; 0: nearest codeword
  double usage_decay = 0.99;        // decay of the running usage and distance, in [0, 1)
  double uniformity = 0.0;          // γ ≥ 0; 0: no penalty
  double uniformity_margin = 0.25;  // ρ > 0: δ as a fraction of the RMS codeword distance

  bool any() const noexcept { return usage_bias > 0 || uniformity > 0; }

  void validate(const char* who) const {
    require(std::isfinite(usage_bias) && usage_bias >= 0, who, ": balance.usage_bias must be finite and ",
            "non-negative, got ", usage_bias);
    require(usage_decay >= 0 && usage_decay < 1, who, ": balance.usage_decay must lie in [0, 1), got ", usage_decay);
    require(std::isfinite(uniformity) && uniformity >= 0, who, ": balance.uniformity must be finite and ",
            "non-negative, got ", uniformity);
    require(std::isfinite(uniformity_margin) && uniformity_margin > 0, who,
            ": balance.uniformity_margin must be positive, got ", uniformity_margin);
  }
};

/// δ = ρ·(root-mean-square distance between the codewords of C (K × e)), from the identity
/// mean_{j≠k} ‖c_j − c_k‖² = 2K/(K − 1)·(mean ‖c‖² − ‖mean c‖²).
template <class T>
double uniformity_margin(cmatrix_view<T> C, double rho) {
  const index_t K = C.rows(), e = C.cols();
  if (K < 2) return 0.0;
  std::vector<double> mean(static_cast<std::size_t>(e), 0.0);
  double sq = 0;
  for (index_t k = 0; k < K; ++k)
    for (index_t j = 0; j < e; ++j) {
      mean[j] += double(C(k, j));
      sq += double(C(k, j)) * double(C(k, j));
    }
  double msq = 0;
  for (double& m : mean) {
    m /= double(K);
    msq += m * m;
  }
  return rho * std::sqrt(std::max(0.0, 2.0 * double(K) / double(K - 1) * (sq / double(K) - msq)));
}

/// (γ/K)·Σ_{j<k} max(0, δ − ‖c_j − c_k‖)² for codebook C (K × e); the gradient with respect to
/// C at fixed δ is added into G (same shape). Exact pairwise distances (K²·e/2 operations).
template <class T>
double uniformity_penalty(cmatrix_view<T> C, double gamma, double delta, matrix_view<T> G) {
  const index_t K = C.rows(), e = C.cols();
  check_dim("uniformity_penalty: rows of the gradient", G.rows(), K);
  check_dim("uniformity_penalty: columns of the gradient", G.cols(), e);
  if (gamma <= 0 || delta <= 0 || K < 2) return 0.0;
  const double scale = gamma / double(K);
  double penalty = 0;
  std::vector<double> diff(static_cast<std::size_t>(e));
  for (index_t a = 0; a < K; ++a)
    for (index_t b = a + 1; b < K; ++b) {
      double d2 = 0;
      for (index_t j = 0; j < e; ++j) {
        diff[j] = double(C(a, j)) - double(C(b, j));
        d2 += diff[j] * diff[j];
      }
      if (d2 >= delta * delta) continue;
      const double d = std::sqrt(d2);
      penalty += (delta - d) * (delta - d);
      if (d < 1e-12) continue;  // coincident codewords: no direction to push them along
      // ∂/∂c_a (δ − d)² = −2(δ − d)·(c_a − c_b)/d, the opposite for c_b.
      const double coef = -2.0 * scale * (delta - d) / d;
      for (index_t j = 0; j < e; ++j) {
        G(a, j) += static_cast<T>(coef * diff[j]);
        G(b, j) -= static_cast<T>(coef * diff[j]);
      }
    }
  return scale * penalty;
}

/// Running state of the balance terms for one fit of a quantizer with `codebooks` codebooks of
/// K codes each.
class codebook_balance {
 public:
  codebook_balance() = default;
  codebook_balance(const codebook_balance_options& o, index_t codebooks, index_t K)
      : o_(o),
        K_(K),
        usage_(static_cast<std::size_t>(codebooks), std::vector<double>(static_cast<std::size_t>(K), 1.0 / double(K))),
        mean_sq_(static_cast<std::size_t>(codebooks), 0.0),
        aug_(static_cast<std::size_t>(codebooks)),
        search_(static_cast<std::size_t>(codebooks)) {
    o_.validate("codebook_balance");
  }

  bool biased() const noexcept { return o_.usage_bias > 0; }
  const codebook_balance_options& options() const noexcept { return o_; }
  /// Running share of codebook c's assignments per code (sums to one).
  const std::vector<double>& usage(index_t c) const { return usage_.at(static_cast<std::size_t>(c)); }

  /// Prepares codebook c (K × e, the training step's values) for the biased search: the
  /// search runs over [c_k, √b_k]. The result stays valid until the next call for c.
  const kernels::codebook_search<float>& prepare(index_t c, cmatrix_view<float> C) {
    check_dim("codebook_balance: codes in the codebook", C.rows(), K_);
    auto& a = aug_[static_cast<std::size_t>(c)];
    a.resize(K_, C.cols() + 1);
    const double base = o_.usage_bias * mean_sq_[static_cast<std::size_t>(c)] * double(K_);
    const auto& u = usage_[static_cast<std::size_t>(c)];
    for (index_t k = 0; k < K_; ++k) {
      for (index_t j = 0; j < C.cols(); ++j) a(k, j) = C(k, j);
      a(k, C.cols()) = static_cast<float>(std::sqrt(base * u[k]));
    }
    auto& s = search_[static_cast<std::size_t>(c)];
    s = std::make_unique<kernels::codebook_search<float>>(metric::l2, a);
    return *s;
  }

  /// Rows [r, 0] for the biased search, in buf.
  static cmatrix_view<float> augment(cmatrix_view<float> r, nn::buffer<float>& buf) {
    auto out = buf.view(r.rows(), r.cols() + 1);
    for (index_t i = 0; i < r.rows(); ++i) {
      for (index_t j = 0; j < r.cols(); ++j) out(i, j) = r(i, j);
      out(i, r.cols()) = 0.0f;
    }
    return out;
  }

  /// After an applied step: codes (n × codebooks) of the batch and each codebook's mean squared
  /// distance to the assigned codeword.
  void record(cmatrix_view<std::int32_t> codes, const std::vector<double>& mean_sq) {
    check_dim("codebook_balance::record: codebooks", codes.cols(), static_cast<index_t>(usage_.size()));
    const double d = o_.usage_decay, w = (1.0 - d) / double(std::max<index_t>(codes.rows(), 1));
    for (index_t c = 0; c < codes.cols(); ++c) {
      auto& u = usage_[static_cast<std::size_t>(c)];
      for (double& v : u) v *= d;
      for (index_t i = 0; i < codes.rows(); ++i) u[codes(i, c)] += w;
      auto& m = mean_sq_[static_cast<std::size_t>(c)];
      m = recorded_ ? d * m + (1.0 - d) * mean_sq[c] : mean_sq[c];
    }
    recorded_ = true;
  }

  /// The uniformity penalty of codebook C, its gradient added into G.
  double penalty(cmatrix_view<float> C, matrix_view<float> G) const {
    return uniformity_penalty<float>(C, o_.uniformity, uniformity_margin<float>(C, o_.uniformity_margin), G);
  }

 private:
  codebook_balance_options o_;
  index_t K_ = 0;
  std::vector<std::vector<double>> usage_;
  std::vector<double> mean_sq_;
  bool recorded_ = false;  // record() has run: the running distances hold a first value
  std::vector<matrix<float>> aug_;
  std::vector<std::unique_ptr<kernels::codebook_search<float>>> search_;
};

}  // namespace reg4rec::quant
