// A reusable scratch arena for hot paths. Training steps and decoding loops take their
// temporaries from a workspace instead of the heap: after the first step the arena holds one
// block large enough for the whole step, and every later step touches only warm memory.
//
//   workspace ws;
//   for (...) {
//     auto frame = ws.scope();                 // everything taken below is released at '}'
//     span<float> tmp = ws.take<float>(n * d); // 64-byte aligned, uninitialised
//   }
#pragma once

#include <cstddef>
#include <cstdlib>
#include <memory>
#include <vector>

#include "reg4rec/core/types.hpp"
#include "reg4rec/core/view.hpp"

namespace reg4rec {

class workspace {
 public:
  workspace() = default;
  explicit workspace(std::size_t reserve_bytes) { grow(reserve_bytes); }
  workspace(const workspace&) = delete;
  workspace& operator=(const workspace&) = delete;
  workspace(workspace&&) noexcept = default;
  workspace& operator=(workspace&&) noexcept = default;

  /// RAII frame: restores the arena to where it was when the frame was opened.
  class frame {
   public:
    explicit frame(workspace& ws) noexcept : ws_(&ws), chunk_(ws.chunk_), offset_(ws.offset_) {
      ++ws.depth_;
    }
    frame(const frame&) = delete;
    frame& operator=(const frame&) = delete;
    frame(frame&& o) noexcept : ws_(o.ws_), chunk_(o.chunk_), offset_(o.offset_) { o.ws_ = nullptr; }
    ~frame() {
      if (ws_) ws_->restore(chunk_, offset_);
    }

   private:
    workspace* ws_;
    std::size_t chunk_, offset_;
  };

  [[nodiscard]] frame scope() noexcept { return frame(*this); }

  /// Uninitialised, 64-byte aligned storage for n elements, valid until the enclosing frame
  /// closes. Existing allocations never move: a new block is chained when the current is full.
  template <class T>
  span<T> take(index_t n) {
    static_assert(std::is_trivially_destructible_v<T>, "workspace holds trivial types only");
    if (n <= 0) return span<T>(nullptr, 0);
    const std::size_t bytes = round_up(static_cast<std::size_t>(n) * sizeof(T));
    while (true) {
      if (chunk_ < chunks_.size() && offset_ + bytes <= chunks_[chunk_].size) {
        T* p = reinterpret_cast<T*>(chunks_[chunk_].data.get() + offset_);
        offset_ += bytes;
        used_ = std::max(used_, consumed());
        return span<T>(p, n);
      }
      if (chunk_ + 1 < chunks_.size() && chunks_[chunk_ + 1].size >= bytes) {
        prior_ += chunk_ < chunks_.size() ? chunks_[chunk_].size : 0;
        ++chunk_;
        offset_ = 0;
        continue;
      }
      // Drop smaller blocks that follow (nothing lives in them) and chain a larger one.
      chunks_.resize(chunk_ + 1 <= chunks_.size() ? chunk_ + 1 : chunks_.size());
      const std::size_t last = chunks_.empty() ? 0 : chunks_.back().size;
      if (!chunks_.empty()) prior_ += chunks_[chunk_].size;
      chunks_.push_back(make_chunk(std::max(bytes, 2 * last)));
      chunk_ = chunks_.size() - 1;
      offset_ = 0;
    }
  }

  /// A rows × cols matrix view on fresh workspace storage.
  template <class T>
  matrix_view<T> take_matrix(index_t rows, index_t cols) {
    return matrix_view<T>(take<T>(rows * cols).data(), rows, cols);
  }

  /// Bytes held by the arena.
  std::size_t capacity() const noexcept {
    std::size_t c = 0;
    for (const auto& ch : chunks_) c += ch.size;
    return c;
  }
  /// Largest number of bytes in use at once since construction.
  std::size_t high_water() const noexcept { return used_; }

  /// Frees everything (only allowed when no frame is open).
  void release() {
    require(depth_ == 0, "workspace::release with an open frame");
    chunks_.clear();
    chunk_ = offset_ = prior_ = 0;
  }

 private:
  struct freer {
    void operator()(std::byte* p) const noexcept { std::free(p); }
  };
  struct chunk {
    std::unique_ptr<std::byte, freer> data;
    std::size_t size = 0;
  };

  static std::size_t round_up(std::size_t b) noexcept {
    return (b + buffer_alignment - 1) / buffer_alignment * buffer_alignment;
  }
  static chunk make_chunk(std::size_t bytes) {
    chunk c;
    c.size = std::max<std::size_t>(round_up(bytes), 64 << 10);
    c.data.reset(static_cast<std::byte*>(detail::aligned_alloc_bytes(c.size)));
    return c;
  }
  std::size_t consumed() const noexcept { return prior_ + offset_; }

  void grow(std::size_t bytes) {
    chunks_.push_back(make_chunk(bytes));
    chunk_ = 0;
    offset_ = 0;
  }

  void restore(std::size_t chunk, std::size_t offset) {
    --depth_;
    // Walk the running total back to the frame's block.
    while (chunk_ > chunk) {
      --chunk_;
      prior_ -= chunks_[chunk_].size;
    }
    offset_ = offset;
    // Back at an empty arena with several blocks chained: merge them into one so that the
    // next round of the loop fits in a single block.
    if (depth_ == 0 && chunk == 0 && offset == 0 && chunks_.size() > 1) {
      std::size_t total = capacity();
      chunks_.clear();
      chunks_.push_back(make_chunk(total));
      chunk_ = offset_ = prior_ = 0;
    }
  }

  std::vector<chunk> chunks_;
  std::size_t chunk_ = 0;   // block currently bumped
  std::size_t offset_ = 0;  // bytes used in that block
  std::size_t prior_ = 0;   // bytes of the blocks before it (for high_water)
  std::size_t used_ = 0;
  int depth_ = 0;
};

/// A workspace per thread, for kernels that need scratch but take none from the caller.
inline workspace& thread_workspace() {
  thread_local workspace ws;
  return ws;
}

}  // namespace reg4rec
