#include <catch2/catch.hpp>

#include <reg4rec/kernels.hpp>

#include "test_util.hpp"

using namespace reg4rec;
using simd_be = backend::simd<>;

TEST_CASE("adamw: one step by hand", "[kernels][adamw]") {
  // m = 0.05, v = 0.00025, m̂ = 0.5, v̂ = 0.25, step = lr · 0.5 / 0.5 = 0.1.
  std::vector<float> p{1.0f}, g{0.5f}, m{0.0f}, v{0.0f};
  adamw_hparams h;
  h.lr = 0.1;
  h.weight_decay = 0.0;
  h.eps = 0.0;
  kernels::adamw_update<float>(backend::scalar{}, p, g, m, v, h);
  CHECK(p[0] == Approx(0.9f));
  CHECK(m[0] == Approx(0.05f));
  CHECK(v[0] == Approx(0.00025f));
  // Decoupled weight decay: p ← p(1 − lr·wd) first.
  std::vector<float> q{1.0f}, mq{0.0f}, vq{0.0f};
  h.weight_decay = 0.01;
  kernels::adamw_update<float>(simd_be{}, q, g, mq, vq, h);
  CHECK(q[0] == Approx(0.899f));
}

TEST_CASE("adamw: SIMD equals scalar over many steps and lengths", "[kernels][adamw]") {
  for (index_t n : {1, 15, 17, 1000, 70001}) {
    auto p1 = test::random_vector<float>(n, 1), p2 = p1;
    std::vector<float> m1(n, 0.f), v1(n, 0.f), m2(n, 0.f), v2(n, 0.f);
    adamw_hparams h;
    h.lr = 1e-2;
    for (int t = 1; t <= 5; ++t) {
      const auto g = test::random_vector<float>(n, 100 + t);
      h.step = t;
      kernels::adamw_update<float>(backend::scalar{}, p1, g, m1, v1, h);
      kernels::adamw_update<float>(simd_be{}, p2, g, m2, v2, h);
    }
    INFO("n = " << n);
    CHECK(test::max_rel_diff(p2.data(), p1.data(), n) < 1e-5);
    CHECK(test::max_rel_diff(v2.data(), v1.data(), n) < 1e-5);
  }
}

TEST_CASE("adamw: mismatched buffers and step 0 are errors", "[kernels][adamw]") {
  std::vector<float> p(4), g(3), m(4), v(4);
  adamw_hparams h;
  CHECK_THROWS_AS(kernels::adamw_update<float>(p, g, m, v, h), dimension_error);
  std::vector<float> g4(4);
  h.step = 0;
  CHECK_THROWS_AS(kernels::adamw_update<float>(p, g4, m, v, h), argument_error);
}
