// Distances between a vector and a codeword.
#pragma once

namespace reg4rec {

/// l2: squared Euclidean distance, smaller is nearer.
/// inner_product: dot product, larger is nearer (maximum inner product search).
enum class metric { l2, inner_product };

inline const char* to_string(metric m) noexcept {
  return m == metric::l2 ? "l2" : "inner_product";
}

}  // namespace reg4rec
