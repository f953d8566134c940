// AdamW as an optimizer policy: the hyper-parameters live in the optimizer, the per-run state
// (moments, step count) in a separate object that checkpoints save and restore.
//
//   optim::adamw opt({.lr = 1e-3, .weight_decay = 0.01});
//   auto st = opt.init(model.params());
//   ... backward ...; opt.step(model.params(), st, schedule(step));
//
// Weight decay applies to parameters registered with decay = true (weight matrices) and not
// to biases, norms or embeddings registered without it.
#pragma once

#include "reg4rec/core/types.hpp"
#include "reg4rec/kernels/adamw.hpp"
#include "reg4rec/nn/parameters.hpp"

namespace reg4rec::optim {

struct adamw_options {
  double lr = 1e-3;  // used when step() is given no learning rate
  double beta1 = 0.9;
  double beta2 = 0.999;
  double eps = 1e-8;
  double weight_decay = 0.01;
};

class adamw {
 public:
  template <class T>
  struct state {
    aligned_vector<T> m, v;
    long long step = 0;
  };

  adamw() = default;
  explicit adamw(adamw_options o) : o_(o) {
    require(o.lr >= 0 && o.eps >= 0 && o.weight_decay >= 0, "adamw: lr, eps and weight decay must be non-negative");
    require(o.beta1 >= 0 && o.beta1 < 1 && o.beta2 >= 0 && o.beta2 < 1, "adamw: betas must lie in [0, 1)");
  }
  const adamw_options& options() const noexcept { return o_; }

  template <class T>
  state<T> init(const nn::parameter_store<T>& ps) const {
    state<T> s;
    s.m.assign(static_cast<std::size_t>(ps.size()), T(0));
    s.v.assign(static_cast<std::size_t>(ps.size()), T(0));
    return s;
  }

  /// One update of every parameter at learning rate `lr` (negative: options().lr).
  template <class T>
  void step(nn::parameter_store<T>& ps, state<T>& s, double lr = -1) const {
    check_dim("adamw::step: optimizer state size (parameter count)", static_cast<index_t>(s.m.size()), ps.size());
    ++s.step;
    adamw_hparams h{lr < 0 ? o_.lr : lr, o_.beta1, o_.beta2, o_.eps, o_.weight_decay, s.step};
    auto p = ps.values();
    auto g = ps.grads();
    for (const auto& e : ps.entries()) {
      const index_t n = e.rows * e.cols;
      h.weight_decay = e.decay ? o_.weight_decay : 0.0;
      kernels::adamw_update<T>(p.subspan(e.offset, n), g.subspan(e.offset, n),
                               span<T>(s.m.data() + e.offset, n), span<T>(s.v.data() + e.offset, n), h);
    }
  }

 private:
  adamw_options o_;
};

}  // namespace reg4rec::optim
