// Choosing the codebook a path emits next (SPEC §4.3), shared by beam search and sampling:
// a fixed order, or CRSS — the remaining codebook the model is most confident about.
#pragma once

#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "reg4rec/core/error.hpp"
#include "reg4rec/core/types.hpp"

namespace reg4rec::decode {

/// One emitted token of a path.
struct path_token {
  std::int32_t codebook, code;
};

/// The order in which codebooks are emitted at inference.
enum class step_order { fixed, confidence };
/// How CRSS scores a codebook's confidence.
enum class confidence_measure { max_probability, margin, neg_entropy };

/// The measure's name in configurations: "max-probability", "margin" or "entropy".
inline const char* name(confidence_measure m) {
  switch (m) {
    case confidence_measure::margin: return "margin";
    case confidence_measure::neg_entropy: return "entropy";
    default: return "max-probability";
  }
}
/// The measure called `s` (a name() result); value_error naming the choices otherwise.
inline confidence_measure confidence_measure_from(const std::string& s) {
  for (auto m : {confidence_measure::max_probability, confidence_measure::margin, confidence_measure::neg_entropy})
    if (s == name(m)) return m;
  throw value_error("unknown CRSS confidence measure '" + s + "' (max-probability, margin or entropy)");
}

/// CRSS confidence of a codebook from its log-probabilities over all K codes and its allowed codes:
/// max_probability: the largest allowed probability; margin: top-1 minus top-2 allowed
/// probability; neg_entropy: minus the entropy of the full distribution.
template <class T>
double confidence(confidence_measure m, const T* lp, index_t K, const std::vector<std::int32_t>& allowed) {
  switch (m) {
    case confidence_measure::max_probability: {
      double best = -std::numeric_limits<double>::infinity();
      for (auto c : allowed) best = std::max(best, double(lp[c]));
      return best;
    }
    case confidence_measure::margin: {
      double a = -std::numeric_limits<double>::infinity(), b = a;
      for (auto c : allowed) {
        const double v = std::exp(double(lp[c]));
        if (v > a) {
          b = a;
          a = v;
        } else if (v > b) {
          b = v;
        }
      }
      return allowed.size() > 1 ? a - b : a;
    }
    case confidence_measure::neg_entropy: {
      double h = 0;
      for (index_t c = 0; c < K; ++c) h -= std::exp(double(lp[c])) * double(lp[c]);
      return -h;
    }
  }
  return 0;
}

/// Whether step `step` emits codebook `step` whatever the model says: always in a fixed order,
/// and in the layout's fixed tail (steps ≥ n_free, the number of free codebooks) otherwise.
inline bool step_is_fixed(step_order order, index_t step, index_t n_free) {
  return order == step_order::fixed || step >= n_free;
}

/// The codebook row `row` of the log-probabilities `lp[r]` (one matrix per codebook) emits
/// next: a fixed step (step_is_fixed) → `step`; CRSS → the unused free codebook (r < n_free,
/// bit r of `used` clear) with the highest confidence over its allowed codes. `allowed`
/// receives that codebook's allowed codes. Returns −1 when no codebook has an allowed code.
template <class Constraint, class Matrix>
index_t choose_codebook(const Constraint& cons, typename Constraint::context& ctx, const typename Constraint::state& s,
                        std::uint32_t used, index_t step, index_t row, step_order order, index_t n_free,
                        confidence_measure measure, const std::vector<Matrix>& lp, std::vector<std::int32_t>& allowed,
                        std::vector<std::int32_t>& scratch) {
  if (step_is_fixed(order, step, n_free)) {
    cons.allowed(ctx, s, step, allowed);
    return allowed.empty() ? -1 : step;
  }
  index_t best_r = -1;
  double best = -std::numeric_limits<double>::infinity();
  for (index_t r = 0; r < n_free; ++r) {
    if (used & (1u << r)) continue;
    cons.allowed(ctx, s, r, scratch);
    if (scratch.empty()) continue;
    const double conf = confidence(measure, lp[r].row(row).data(), lp[r].cols(), scratch);
    if (conf > best) {
      best = conf;
      best_r = r;
      allowed.swap(scratch);
    }
  }
  return best_r;
}

}  // namespace reg4rec::decode
