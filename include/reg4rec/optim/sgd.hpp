// SGD with optional momentum and decoupled weight decay, with the same interface as adamw:
//   v ← μ·v + g;  p ← p·(1 − lr·wd) − lr·v    (μ = 0: plain SGD)
#pragma once

#include "reg4rec/core/parallel.hpp"
#include "reg4rec/nn/parameters.hpp"

namespace reg4rec::optim {

struct sgd_options {
  double lr = 1e-2;
  double momentum = 0.0;
  double weight_decay = 0.0;
};

class sgd {
 public:
  template <class T>
  struct state {
    aligned_vector<T> velocity;
    long long step = 0;
  };

  sgd() = default;
  explicit sgd(sgd_options o) : o_(o) {
    require(o.lr >= 0 && o.momentum >= 0 && o.momentum < 1 && o.weight_decay >= 0,
            "sgd: lr and weight decay must be non-negative and momentum in [0, 1)");
  }
  const sgd_options& options() const noexcept { return o_; }

  template <class T>
  state<T> init(const nn::parameter_store<T>& ps) const {
    state<T> s;
    s.velocity.assign(static_cast<std::size_t>(ps.size()), T(0));
    return s;
  }

  template <class T>
  void step(nn::parameter_store<T>& ps, state<T>& s, double lr = -1) const {
    check_dim("sgd::step: optimizer state size (parameter count)", static_cast<index_t>(s.velocity.size()), ps.size());
    ++s.step;
    const T rate = T(lr < 0 ? o_.lr : lr), mu = T(o_.momentum);
    auto p = ps.values();
    auto g = ps.grads();
    for (const auto& e : ps.entries()) {
      const T decay = T(1) - rate * T(e.decay ? o_.weight_decay : 0.0);
      const index_t lo0 = e.offset, n = e.rows * e.cols;
      parallel_for(0, n, 1 << 15, [&](index_t lo, index_t hi) {
        for (index_t i = lo0 + lo; i < lo0 + hi; ++i) {
          s.velocity[i] = mu * s.velocity[i] + g[i];
          p[i] = p[i] * decay - rate * s.velocity[i];
        }
      });
    }
  }

 private:
  sgd_options o_;
};

}  // namespace reg4rec::optim
