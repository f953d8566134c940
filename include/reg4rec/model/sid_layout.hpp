// The token layout of semantic IDs inside the generative model.
//
// An item is M tokens, one per codebook r = 0..M−1, codebook r having K_r codes (RQ SIDs:
// the levels, plus TIGER's dedup token as one more codebook; MPQ: the parallel codebooks).
// Every (codebook, code) pair has its own token id, codebook r's block starting at offset(r);
// two special tokens follow: BOS (decoder start) and SEP (item separator in the encoder).
// Codebook identities 0..M−1 name the codebooks; identity M marks the special tokens.
//
// A layout may end with a fixed tail: its last T codebooks (a dedup token appended to unordered
// MPQ tokens) are emitted after all the others, in index order, whatever step order the
// others follow. free_codebooks() = M − T are the ones a step order (CRSS, random) may permute.
#pragma once

#include <cstdint>
#include <vector>

#include "reg4rec/core/error.hpp"
#include "reg4rec/core/view.hpp"

namespace reg4rec::model {

class sid_layout {
 public:
  sid_layout() = default;
  /// sizes[r] = K_r, the number of codes of codebook r; the last fixed_tail codebooks are
  /// always emitted last, in index order.
  explicit sid_layout(std::vector<index_t> sizes, index_t fixed_tail = 0)
      : sizes_(std::move(sizes)), fixed_tail_(fixed_tail) {
    require(!sizes_.empty(), "sid_layout: at least one codebook is needed");
    require(fixed_tail_ >= 0 && fixed_tail_ < static_cast<index_t>(sizes_.size()), "sid_layout: fixed tail of ",
            fixed_tail_, " codebooks with ", sizes_.size(), " codebooks (at least one must be free)");
    offsets_.reserve(sizes_.size());
    index_t off = 0;
    for (std::size_t r = 0; r < sizes_.size(); ++r) {
      require(sizes_[r] >= 1, "sid_layout: codebook ", r, " has no codes");
      offsets_.push_back(off);
      off += sizes_[r];
    }
    codes_total_ = off;
  }

  /// Layout for an item code table (n_items × M): K_r = 1 + the largest code in column r.
  static sid_layout from_codes(cmatrix_view<std::int32_t> codes) {
    require(codes.rows() >= 1 && codes.cols() >= 1, "sid_layout: empty code table");
    std::vector<index_t> sizes(static_cast<std::size_t>(codes.cols()), 0);
    for (index_t i = 0; i < codes.rows(); ++i)
      for (index_t r = 0; r < codes.cols(); ++r) {
        if (codes(i, r) < 0)
          throw value_error(reg4rec::detail::cat("sid_layout: item ", i, " has negative code ", codes(i, r),
                                                 " in codebook ", r));
        sizes[r] = std::max<index_t>(sizes[r], codes(i, r) + 1);
      }
    return sid_layout(std::move(sizes));
  }

  index_t codebooks() const noexcept { return static_cast<index_t>(sizes_.size()); }
  index_t size(index_t r) const { return sizes_[r]; }
  index_t offset(index_t r) const { return offsets_[r]; }
  const std::vector<index_t>& sizes() const noexcept { return sizes_; }
  /// Codebooks always emitted last, in index order (0 = none).
  index_t fixed_tail() const noexcept { return fixed_tail_; }
  /// Codebooks 0..free_codebooks()−1, the ones a step order may permute.
  index_t free_codebooks() const noexcept { return codebooks() - fixed_tail_; }

  std::int32_t token(index_t r, std::int32_t code) const { return static_cast<std::int32_t>(offsets_[r] + code); }
  std::int32_t bos() const noexcept { return static_cast<std::int32_t>(codes_total_); }
  std::int32_t sep() const noexcept { return static_cast<std::int32_t>(codes_total_ + 1); }
  /// Tokens in the embedding table: all codes, BOS and SEP.
  index_t vocabulary() const noexcept { return codes_total_ + 2; }
  /// Codebook-identity index of the special tokens.
  index_t special_identity() const noexcept { return codebooks(); }

  /// Checks that a code table fits the layout: (n_items × M), codes in [0, K_r).
  void check(cmatrix_view<std::int32_t> codes, const char* who) const {
    check_dim(reg4rec::detail::cat(who, ": columns of the code table (codebooks)").c_str(), codes.cols(), codebooks());
    for (index_t i = 0; i < codes.rows(); ++i)
      for (index_t r = 0; r < codes.cols(); ++r)
        if (codes(i, r) < 0 || codes(i, r) >= sizes_[r])
          throw value_error(reg4rec::detail::cat(who, ": item ", i, " has code ", codes(i, r), " in codebook ", r,
                                                 ", outside [0, ", sizes_[r], ")"));
  }

  friend bool operator==(const sid_layout& a, const sid_layout& b) {
    return a.sizes_ == b.sizes_ && a.fixed_tail_ == b.fixed_tail_;
  }

 private:
  std::vector<index_t> sizes_, offsets_;
  index_t fixed_tail_ = 0, codes_total_ = 0;
};

}  // namespace reg4rec::model
