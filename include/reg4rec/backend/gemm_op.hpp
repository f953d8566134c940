// Types shared by the GEMM backends: the transposition flag of an operand and the tile shape
// a backend computes at once (the entry point splits C across threads on tile boundaries).
#pragma once

#include "reg4rec/core/config.hpp"

namespace reg4rec {

/// Whether a GEMM operand is used as stored (`trans::no`) or transposed (`trans::yes`).
enum class trans : bool { no = false, yes = true };

namespace backend {
/// Rows × columns of C that one call of a backend's micro-kernel produces (1 × 1: no tiling).
template <class Backend, class T>
struct gemm_tile {
  static constexpr index_t rows = 1;
  static constexpr index_t cols = 1;
};
}  // namespace backend

}  // namespace reg4rec
