// The parameter store: one flat value buffer and one flat gradient buffer per model, with
// named (rows × cols) slices. Layers register their slices when constructed and keep `param`
// handles; optimizers, gradient clipping and checkpoints work on the flat buffers.
//
// The store must not move while layers refer to it: models hold it by unique_ptr.
//
// Gradient shards (data parallelism). A training step may split its batch across threads;
// each thread then accumulates into its own gradient shard, selected by a thread-local
// index (grad_shard_scope), and reduce_grad_shards() adds the shards into the main gradient
// in shard order, so the result is deterministic for a given number of shards.
#pragma once

#include <algorithm>
#include <memory>
#include <string>
#include <vector>

#include "reg4rec/core/error.hpp"
#include "reg4rec/core/parallel.hpp"
#include "reg4rec/core/types.hpp"
#include "reg4rec/core/view.hpp"

namespace reg4rec::nn {

template <class T>
class parameter_store;

namespace detail {
// The gradient shard the calling thread writes to (0: the main gradient buffer).
inline int& grad_shard_slot() noexcept {
  thread_local int shard = 0;
  return shard;
}
}  // namespace detail

/// Routes the calling thread's gradient writes to shard `s` until the scope ends.
class grad_shard_scope {
 public:
  explicit grad_shard_scope(int s) noexcept : saved_(detail::grad_shard_slot()) { detail::grad_shard_slot() = s; }
  ~grad_shard_scope() { detail::grad_shard_slot() = saved_; }
  grad_shard_scope(const grad_shard_scope&) = delete;
  grad_shard_scope& operator=(const grad_shard_scope&) = delete;

 private:
  int saved_;
};

/// A named slice of a parameter_store: value() and grad() are (rows × cols) views.
template <class T>
class param {
 public:
  param() = default;
  param(parameter_store<T>* store, index_t id) : store_(store), id_(id) {}

  matrix_view<T> value() const;
  matrix_view<T> grad() const;
  span<T> value_span() const { return span<T>(value().data(), size()); }
  span<T> grad_span() const { return span<T>(grad().data(), size()); }
  index_t rows() const;
  index_t cols() const;
  index_t size() const { return rows() * cols(); }
  bool valid() const noexcept { return store_ != nullptr; }
  const std::string& name() const;

 private:
  parameter_store<T>* store_ = nullptr;
  index_t id_ = -1;
};

template <class T>
class parameter_store {
 public:
  struct entry {
    std::string name;
    index_t offset, rows, cols;
    bool decay;  // subject to weight decay (matrices) or not (biases, norms, embeddings by choice)
  };

  parameter_store() = default;
  parameter_store(const parameter_store&) = delete;
  parameter_store& operator=(const parameter_store&) = delete;

  /// Registers a (rows × cols) parameter initialised to zero. Slices are 64-byte aligned.
  param<T> add(const std::string& name, index_t rows, index_t cols, bool decay) {
    require(rows > 0 && cols > 0, "parameter '", name, "': shape must be positive, got ", rows, " x ", cols);
    for (const auto& e : entries_)
      require(e.name != name, "parameter '", name, "' registered twice");
    constexpr index_t line = buffer_alignment / sizeof(T);
    const index_t offset = (size_ + line - 1) / line * line;
    entries_.push_back({name, offset, rows, cols, decay});
    size_ = offset + rows * cols;
    values_.resize(static_cast<std::size_t>(size_), T(0));
    grads_.resize(static_cast<std::size_t>(size_), T(0));
    return param<T>(this, static_cast<index_t>(entries_.size()) - 1);
  }

  /// Total elements of the flat buffers (including alignment padding between slices).
  index_t size() const noexcept { return size_; }
  /// Number of trainable scalars (excluding padding).
  index_t count() const noexcept {
    index_t n = 0;
    for (const auto& e : entries_) n += e.rows * e.cols;
    return n;
  }
  const std::vector<entry>& entries() const noexcept { return entries_; }
  std::vector<std::string> names() const {
    std::vector<std::string> out;
    for (const auto& e : entries_) out.push_back(e.name);
    return out;
  }
  const entry& find(const std::string& name) const {
    for (const auto& e : entries_)
      if (e.name == name) return e;
    throw not_found_error("no parameter named '" + name + "'");
  }

  span<T> values() noexcept { return span<T>(values_.data(), size_); }
  span<const T> values() const noexcept { return span<const T>(values_.data(), size_); }
  span<T> grads() noexcept { return span<T>(grads_.data(), size_); }
  span<const T> grads() const noexcept { return span<const T>(grads_.data(), size_); }

  matrix_view<T> value(index_t id) noexcept {
    const auto& e = entries_[id];
    return matrix_view<T>(values_.data() + e.offset, e.rows, e.cols);
  }
  /// The gradient slice of parameter `id` in the calling thread's shard.
  matrix_view<T> grad(index_t id) noexcept {
    const auto& e = entries_[id];
    const int s = detail::grad_shard_slot();
    T* base = s > 0 && s <= static_cast<int>(shards_.size()) ? shards_[s - 1].data() : grads_.data();
    return matrix_view<T>(base + e.offset, e.rows, e.cols);
  }

  /// Sets the main gradient to zero (split across threads).
  void zero_grad() {
    T* g = grads_.data();
    parallel_for(0, size_, 1 << 16, [g](index_t lo, index_t hi) { std::fill(g + lo, g + hi, T(0)); });
  }

  /// Prepares `count` gradient shards (shard 0 is the main buffer). Shards 1.. are not
  /// cleared here: each is zeroed by clear_grad_shard(s), called by the thread that fills it.
  void begin_grad_shards(int count) {
    if (static_cast<int>(shards_.size()) < count - 1) shards_.resize(static_cast<std::size_t>(count - 1));
    for (int s = 0; s + 1 < count; ++s) shards_[s].resize(static_cast<std::size_t>(size_));
    active_shards_ = count;
  }
  /// Zeroes gradient shard s ≥ 1 (shard 0, the main buffer, is zero_grad's).
  void clear_grad_shard(int s) {
    require(s >= 1 && s < active_shards_, "clear_grad_shard: no shard ", s, " (", active_shards_, " active)");
    std::fill(shards_[s - 1].begin(), shards_[s - 1].end(), T(0));
  }
  /// Adds shards 1.. into the main gradient, in order.
  void reduce_grad_shards() {
    for (int s = 0; s + 1 < active_shards_; ++s) {
      const T* src = shards_[s].data();
      T* dst = grads_.data();  // a local pointer: the loop vectorises instead of reloading the member
      parallel_for(0, size_, 1 << 16, [=](index_t lo, index_t hi) {
        T* d = dst;
        const T* a = src;
        for (index_t i = lo; i < hi; ++i) d[i] += a[i];
      });
    }
    active_shards_ = 1;
  }

  /// Copies the values of another store with the same layout (e.g. a frozen reference model).
  void copy_values_from(const parameter_store& other) {
    require(other.entries_.size() == entries_.size() && other.size_ == size_,
            "copy_values_from: the stores have different layouts");
    for (std::size_t i = 0; i < entries_.size(); ++i)
      require(entries_[i].name == other.entries_[i].name && entries_[i].rows == other.entries_[i].rows &&
                  entries_[i].cols == other.entries_[i].cols,
              "copy_values_from: parameter ", i, " differs ('", entries_[i].name, "' vs '",
              other.entries_[i].name, "')");
    values_ = other.values_;
  }

 private:
  std::vector<entry> entries_;
  aligned_vector<T> values_, grads_;
  std::vector<aligned_vector<T>> shards_;
  int active_shards_ = 1;
  index_t size_ = 0;
};

template <class T>
matrix_view<T> param<T>::value() const {
  return store_->value(id_);
}
template <class T>
matrix_view<T> param<T>::grad() const {
  return store_->grad(id_);
}
template <class T>
index_t param<T>::rows() const {
  return store_->entries()[id_].rows;
}
template <class T>
index_t param<T>::cols() const {
  return store_->entries()[id_].cols;
}
template <class T>
const std::string& param<T>::name() const {
  return store_->entries()[id_].name;
}

/// Joins a layer's name prefix and a parameter name: "enc.0.attn" + "wq" → "enc.0.attn.wq".
inline std::string join_name(const std::string& prefix, const std::string& name) {
  return prefix.empty() ? name : prefix + "." + name;
}

}  // namespace reg4rec::nn
