// Key/value cache for incremental causal decoding: per sequence (beam), the keys and values of
// every position generated so far. Layout (sequences, max_len, dim) so that one sequence's
// cache is contiguous and a beam reorder moves whole blocks.
#pragma once

#include <algorithm>

#include "reg4rec/core/error.hpp"
#include "reg4rec/core/types.hpp"
#include "reg4rec/core/view.hpp"

namespace reg4rec::nn {

template <class T>
class kv_cache {
 public:
  /// Empties the cache for n_seq sequences of up to max_len positions of width dim, with room
  /// for `capacity` sequences after reorders (beam search widens from one beam per user to B).
  /// Storage only grows.
  void reset(index_t n_seq, index_t max_len, index_t dim, index_t capacity = 0) {
    require(n_seq >= 0 && max_len >= 1 && dim >= 1, "kv_cache: bad shape");
    const index_t cap = std::max(n_seq, capacity);
    n_seq_ = n_seq;
    max_len_ = max_len;
    dim_ = dim;
    len_ = 0;
    grow(k_, cap * max_len * dim);
    grow(v_, cap * max_len * dim);
    // Unwritten positions are read (with weight zero) by attention: they must be finite.
    std::fill(k_.begin(), k_.begin() + cap * max_len * dim, T(0));
    std::fill(v_.begin(), v_.begin() + cap * max_len * dim, T(0));
  }

  index_t sequences() const noexcept { return n_seq_; }
  index_t length() const noexcept { return len_; }
  index_t capacity() const noexcept { return max_len_; }

  /// Appends one position: k, v (sequences, dim).
  void append(cmatrix_view<T> k, cmatrix_view<T> v) {
    require(len_ < max_len_, "kv_cache: full (", max_len_, " positions)");
    check_dim("kv_cache::append: rows of k", k.rows(), n_seq_);
    check_dim("kv_cache::append: columns of k", k.cols(), dim_);
    for (index_t s = 0; s < n_seq_; ++s) {
      std::copy(k.row_ptr(s), k.row_ptr(s) + dim_, k_.data() + (s * max_len_ + len_) * dim_);
      std::copy(v.row_ptr(s), v.row_ptr(s) + dim_, v_.data() + (s * max_len_ + len_) * dim_);
    }
    ++len_;
  }

  /// All keys as (sequences·capacity, dim) rows: sequence s occupies rows
  /// [s·capacity, (s + 1)·capacity), of which the first length() are filled (the rest are 0).
  cmatrix_view<T> keys() const { return packed(k_); }
  cmatrix_view<T> values() const { return packed(v_); }

  /// Beam reorder: new sequence i takes the cache of old sequence parent[i]; the number of
  /// sequences becomes parent.size() (at most the capacity given to reset()).
  void reorder(cspan<std::int32_t> parent) {
    const index_t n = parent.size();
    require(n * max_len_ * dim_ <= static_cast<index_t>(k_.size()), "kv_cache::reorder: more sequences than reserved");
    for (index_t i = 0; i < n; ++i)
      if (parent[i] < 0 || parent[i] >= n_seq_)
        throw value_error(reg4rec::detail::cat("kv_cache::reorder: parent[", i, "] = ", parent[i],
                                               " is outside [0, ", n_seq_, ")"));
    const index_t block = len_ * dim_;
    grow(scratch_, n * block);
    for (auto* buf : {&k_, &v_}) {
      for (index_t i = 0; i < n; ++i)
        std::copy(buf->data() + parent[i] * max_len_ * dim_, buf->data() + parent[i] * max_len_ * dim_ + block,
                  scratch_.data() + i * block);
      for (index_t i = 0; i < n; ++i)
        std::copy(scratch_.data() + i * block, scratch_.data() + (i + 1) * block, buf->data() + i * max_len_ * dim_);
    }
    n_seq_ = n;
  }

 private:
  static void grow(aligned_vector<T>& b, index_t n) {
    if (static_cast<index_t>(b.size()) < n) b.resize(static_cast<std::size_t>(n));
  }
  cmatrix_view<T> packed(const aligned_vector<T>& b) const {
    return cmatrix_view<T>(b.data(), n_seq_ * max_len_, dim_);
  }

  aligned_vector<T> k_, v_, scratch_;
  index_t n_seq_ = 0, max_len_ = 0, dim_ = 0, len_ = 0;
};

}  // namespace reg4rec::nn
