// Embedding table: row lookup forward, sparse scatter-add backward (only the rows of the ids
// seen receive gradient; no one-hot matrix). Id −1 is padding: a zero row, no gradient.
#pragma once

#include <string>

#include "reg4rec/core/error.hpp"
#include "reg4rec/core/parallel.hpp"
#include "reg4rec/nn/init.hpp"
#include "reg4rec/nn/parameters.hpp"

namespace reg4rec::nn {

template <class T>
class embedding {
 public:
  embedding() = default;
  /// (num × dim) table; `decay` says whether weight decay applies to it.
  embedding(parameter_store<T>& ps, const std::string& name, index_t num, index_t dim, bool decay = false)
      : weight(ps.add(join_name(name, "weight"), num, dim, decay)), num_(num), dim_(dim), name_(name) {}

  void init(rng& g, T stddev = T(0.02)) { init_normal(weight.value(), stddev, g); }

  index_t num() const noexcept { return num_; }
  index_t dim() const noexcept { return dim_; }

  /// y: (n, dim) rows of the table for ids: (n); −1 gives a zero row.
  void forward(cspan<std::int32_t> ids, matrix_view<T> y) const {
    check_ids(ids);
    check_dim(("embedding '" + name_ + "': rows of y").c_str(), y.rows(), ids.size());
    check_dim(("embedding '" + name_ + "': columns of y").c_str(), y.cols(), dim_);
    const auto w = weight.value();
    parallel_for(0, ids.size(), 512, [&](index_t lo, index_t hi) {
      for (index_t i = lo; i < hi; ++i) {
        T* out = y.row_ptr(i);
        if (ids[i] < 0) {
          std::fill(out, out + dim_, T(0));
        } else {
          const T* src = w.row_ptr(ids[i]);
          std::copy(src, src + dim_, out);
        }
      }
    });
  }

  /// Adds dy rows into the gradient rows of their ids (serial: ids repeat).
  void backward(cspan<std::int32_t> ids, cmatrix_view<T> dy) const {
    check_dim(("embedding '" + name_ + "': rows of dy").c_str(), dy.rows(), ids.size());
    check_dim(("embedding '" + name_ + "': columns of dy").c_str(), dy.cols(), dim_);
    const auto g = weight.grad();
    for (index_t i = 0; i < ids.size(); ++i) {
      if (ids[i] < 0) continue;
      T* dst = g.row_ptr(ids[i]);
      const T* src = dy.row_ptr(i);
      for (index_t j = 0; j < dim_; ++j) dst[j] += src[j];
    }
  }

  param<T> weight;

 private:
  void check_ids(cspan<std::int32_t> ids) const {
    for (index_t i = 0; i < ids.size(); ++i)
      if (ids[i] < -1 || ids[i] >= num_)
        throw value_error(reg4rec::detail::cat("embedding '", name_, "': id ", ids[i], " at position ", i,
                                               " is outside [0, ", num_, ") (−1 is padding)"));
  }
  index_t num_ = 0, dim_ = 0;
  std::string name_;
};

}  // namespace reg4rec::nn
