// A stack of linear layers with an activation between them: widths {d0, d1, ..., dk} give k
// linear layers d0→d1→...→dk, the activation after every layer but the last (or after the
// last too, with `activate_last`). The transformer FFN is mlp({d, 4d, d}); the RQ-VAE
// encoder is mlp({768, 512, 256, 128, 32}) with ReLU.
#pragma once

#include <string>
#include <vector>

#include "reg4rec/core/workspace.hpp"
#include "reg4rec/nn/activation.hpp"
#include "reg4rec/nn/buffer.hpp"
#include "reg4rec/nn/linear.hpp"

namespace reg4rec::nn {

template <class T, class Act = gelu>
class mlp {
 public:
  /// Saved forward values and backward scratch; one per concurrent forward/backward.
  struct activations {
    std::vector<buffer<T>> pre;   // pre[l]: output of linear l (n, widths[l+1])
    std::vector<buffer<T>> post;  // post[l]: activation of pre[l] (input of linear l+1)
    buffer<T> grad_a, grad_b;     // backward scratch
  };

  mlp() = default;
  mlp(parameter_store<T>& ps, const std::string& name, std::vector<index_t> widths, bool bias = true,
      bool activate_last = false)
      : widths_(std::move(widths)), activate_last_(activate_last) {
    require(widths_.size() >= 2, "mlp '", name, "': needs at least two widths");
    for (std::size_t l = 0; l + 1 < widths_.size(); ++l)
      layers_.emplace_back(ps, join_name(name, std::to_string(l)), widths_[l], widths_[l + 1], bias);
  }

  void init(rng& g) {
    for (auto& l : layers_) l.init(g);
  }
  index_t in_features() const { return widths_.front(); }
  index_t out_features() const { return widths_.back(); }
  const std::vector<index_t>& widths() const noexcept { return widths_; }
  std::vector<linear<T>>& layers() noexcept { return layers_; }
  const std::vector<linear<T>>& layers() const noexcept { return layers_; }

  /// y: (n, dk) from x: (n, d0).
  void forward(cmatrix_view<T> x, matrix_view<T> y, activations& a) const {
    const index_t n = x.rows(), k = static_cast<index_t>(layers_.size());
    a.pre.resize(static_cast<std::size_t>(k));
    a.post.resize(static_cast<std::size_t>(k));
    cmatrix_view<T> in = x;
    for (index_t l = 0; l < k; ++l) {
      const bool last = l == k - 1;
      if (last && !activate_last_) {  // no activation to differentiate: straight into y
        layers_[l].forward(in, y);
        break;
      }
      auto pre = a.pre[l].view(n, widths_[l + 1]);
      layers_[l].forward(in, pre);
      auto post = last ? y : a.post[l].view(n, widths_[l + 1]);
      activate(pre, post);
      if (!last) in = post;
    }
  }

  /// Inference: nothing saved, scratch from `ws` (thread-safe).
  void infer(cmatrix_view<T> x, matrix_view<T> y, workspace& ws) const {
    auto frame = ws.scope();
    const index_t n = x.rows(), k = static_cast<index_t>(layers_.size());
    cmatrix_view<T> in = x;
    for (index_t l = 0; l < k; ++l) {
      const bool last = l == k - 1;
      auto out = last ? y : ws.take_matrix<T>(n, widths_[l + 1]);
      layers_[l].forward(in, out);
      if (!last || activate_last_) activate(out, out);
      in = out;
    }
  }

  /// dx: (n, d0) written (skipped when empty); parameter gradients added.
  void backward(cmatrix_view<T> x, cmatrix_view<T> dy, matrix_view<T> dx, activations& a) const {
    const index_t n = x.rows(), k = static_cast<index_t>(layers_.size());
    // g holds d(loss)/d(output of linear l) while walking back: dy itself for the last layer
    // unless it is activated.
    cmatrix_view<T> g = dy;
    if (activate_last_) {
      auto ga = a.grad_a.view(n, widths_[k]);
      Act::template backward<T>(a.pre[k - 1].as_span(), cspan<T>(dy.data(), dy.size()), span<T>(ga.data(), ga.size()));
      g = ga;
    }
    bool g_in_a = activate_last_;  // later gradients alternate between the two scratch buffers
    for (index_t l = k - 1; l >= 0; --l) {
      cmatrix_view<T> in = l == 0 ? x : cmatrix_view<T>(a.post[l - 1]());
      if (l == 0) {
        layers_[0].backward(in, g, dx);
        break;
      }
      auto gi = (g_in_a ? a.grad_b : a.grad_a).view(n, widths_[l]);
      g_in_a = !g_in_a;
      layers_[l].backward(in, g, gi);
      Act::template backward<T>(a.pre[l - 1].as_span(), cspan<T>(gi.data(), gi.size()), span<T>(gi.data(), gi.size()));
      g = gi;
    }
  }

 private:
  // The activation over a whole view (row by row when it is strided).
  static void activate(cmatrix_view<T> in, matrix_view<T> out) {
    if (in.contiguous() && out.contiguous()) {
      Act::template forward<T>(cspan<T>(in.data(), in.size()), span<T>(out.data(), out.size()));
      return;
    }
    for (index_t i = 0; i < in.rows(); ++i) Act::template forward<T>(in.row(i), out.row(i));
  }

  std::vector<index_t> widths_;
  std::vector<linear<T>> layers_;
  bool activate_last_ = false;
};

}  // namespace reg4rec::nn
