// Gradient checks for the simple layers: linear, embedding, norms, activations, dropout, MLP.
#include <catch2/catch.hpp>

#include <reg4rec/nn.hpp>

#include "nn/gradcheck.hpp"
#include "test_util.hpp"

using namespace reg4rec;
using test::random_matrix;

namespace {
// L = Σ w ⊙ y for a fixed random w, so dL/dy = w.
double weighted(const matrix<double>& y, const matrix<double>& w) { return (y.array() * w.array()).sum(); }
}  // namespace

TEST_CASE("linear: gradients of W, b and x match finite differences", "[nn][linear][gradcheck]") {
  for (bool bias : {true, false}) {
    nn::parameter_store<double> ps;
    nn::linear<double> lin(ps, "lin", 5, 3, bias);
    rng g(1);
    lin.init(g);
    matrix<double> x = random_matrix<double>(7, 5, 2), w = random_matrix<double>(7, 3, 3), y(7, 3), dx(7, 5);
    auto loss = [&] {
      lin.forward(x, y);
      return weighted(y, w);
    };
    const auto r = test::check_parameters(ps, loss, [&] {
      lin.forward(x, y);
      lin.backward(x, w, dx);
    });
    INFO(r.where);
    CHECK(r.rel_error < 1e-6);
    const auto nx = test::numeric_gradient(x.data(), x.size(), loss);
    CHECK(test::relative_error(dx.data(), nx) < 1e-6);
    // accumulate_dx adds instead of overwriting.
    matrix<double> acc = matrix<double>::Ones(7, 5);
    lin.backward(x, w, acc, true);
    CHECK((acc.array() - 1.0 - dx.array()).abs().maxCoeff() < 1e-12);
  }
}

TEST_CASE("linear: shape errors name the layer", "[nn][linear]") {
  nn::parameter_store<float> ps;
  nn::linear<float> lin(ps, "proj", 4, 2);
  matrix<float> x(3, 5), y(3, 2);
  CHECK_THROWS_WITH(lin.forward(x, y), Catch::Contains("proj") && Catch::Contains("expected 4, got 5"));
  CHECK_THROWS_AS(ps.add("proj.weight", 1, 1, true), argument_error);
}

TEST_CASE("embedding: lookup, padding and sparse gradient", "[nn][embedding][gradcheck]") {
  nn::parameter_store<double> ps;
  nn::embedding<double> emb(ps, "emb", 6, 4);
  rng g(1);
  emb.init(g, 1.0);
  const std::vector<std::int32_t> ids{3, 1, 3, -1, 5};
  matrix<double> y(5, 4), w = random_matrix<double>(5, 4, 2);
  auto loss = [&] {
    emb.forward(ids, y);
    return weighted(y, w);
  };
  const auto r = test::check_parameters(ps, loss, [&] {
    emb.forward(ids, y);
    emb.backward(ids, w);
  });
  CHECK(r.rel_error < 1e-6);
  CHECK(y.row(3).isZero());
  // Rows never looked up get no gradient.
  CHECK(emb.weight.grad().eigen().row(0).isZero());
  CHECK(emb.weight.grad().eigen().row(2).isZero());
  const std::vector<std::int32_t> bad{0, 6};
  CHECK_THROWS_WITH(emb.forward(bad, y.topRows(2)), Catch::Contains("id 6"));
}

TEST_CASE("layer norm and RMS norm layers: gradients match finite differences", "[nn][norm][gradcheck]") {
  nn::parameter_store<double> ps;
  nn::layer_norm<double> ln(ps, "ln", 9);
  nn::rms_norm<double> rms(ps, "rms", 9);
  ln.init();
  rms.init();
  rng g(4);
  nn::init_normal(ln.gamma.value(), 1.0, g);
  nn::init_normal(ln.beta.value(), 1.0, g);
  nn::init_normal(rms.gamma.value(), 1.0, g);
  matrix<double> x = random_matrix<double>(6, 9, 5), w = random_matrix<double>(6, 9, 6);
  matrix<double> y1(6, 9), y2(6, 9), dx1(6, 9), dx2(6, 9);
  std::vector<double> mean(6), rstd(6), rstd2(6);
  auto loss = [&] {
    ln.forward(x, y1, mean, rstd);
    rms.forward(y1, y2, rstd2);
    return weighted(y2, w);
  };
  auto back = [&] {
    loss();
    rms.backward(y1, rstd2, w, dx2);
    ln.backward(x, mean, rstd, dx2, dx1);
  };
  const auto r = test::check_parameters(ps, loss, back);
  INFO(r.where);
  CHECK(r.rel_error < 1e-6);
  back();
  CHECK(test::relative_error(dx1.data(), test::numeric_gradient(x.data(), x.size(), loss)) < 1e-6);
}

TEMPLATE_TEST_CASE("activations: derivatives match finite differences", "[nn][activation][gradcheck]", nn::gelu,
                   nn::relu, nn::silu) {
  // Points away from ReLU's kink.
  std::vector<double> x{-2.5, -1.1, -0.3, 0.2, 0.7, 1.9, 3.3}, y(7), dy(7, 1.0), dx(7);
  TestType::template backward<double>(x, dy, dx);
  for (std::size_t i = 0; i < x.size(); ++i) {
    const double h = 1e-6;
    std::vector<double> a{x[i] + h}, b{x[i] - h}, ya(1), yb(1);
    TestType::template forward<double>(a, ya);
    TestType::template forward<double>(b, yb);
    CHECK(dx[i] == Approx((ya[0] - yb[0]) / (2 * h)).epsilon(1e-6));
  }
}

TEST_CASE("dropout: seeded, scaled, independent of threads, backward uses the mask", "[nn][dropout]") {
  const auto x = random_matrix<float>(300, 40, 1);
  matrix<float> y1(300, 40), y2(300, 40), m1(300, 40), m2(300, 40);
  rng g(7);
  nn::dropout<float> drop{0.25f};
  drop.forward(x, y1, m1, g, 100);
  const int threads = max_threads();
  set_num_threads(1);
  drop.forward(x, y2, m2, g, 100);
  set_num_threads(threads);
  CHECK(y1 == y2);
  const double kept = (m1.array() > 0).cast<double>().mean();
  CHECK(kept == Approx(0.75).margin(0.01));
  CHECK(((m1.array() == 0.0f) || (m1.array() == 1.0f / 0.75f)).all());
  matrix<float> dx(300, 40);
  nn::dropout<float>::backward(x, m1, dx);
  CHECK(dx == y1);
  drop.forward(x, y2, m2, g, 101);
  CHECK(y1 != y2);  // another stream, another mask
}

TEST_CASE("mlp stack: gradients of every layer and of the input", "[nn][mlp][gradcheck]") {
  for (bool activate_last : {false, true}) {
    nn::parameter_store<double> ps;
    nn::mlp<double, nn::relu> net(ps, "enc", {6, 8, 5, 3}, true, activate_last);
    rng g(2);
    net.init(g);
    nn::mlp<double, nn::relu>::activations a;
    matrix<double> x = random_matrix<double>(10, 6, 3), w = random_matrix<double>(10, 3, 4), y(10, 3), dx(10, 6);
    auto loss = [&] {
      net.forward(x, y, a);
      return weighted(y, w);
    };
    auto back = [&] {
      loss();
      net.backward(x, w, dx, a);
    };
    const auto r = test::check_parameters(ps, loss, back);
    INFO(r.where << " activate_last " << activate_last);
    CHECK(r.rel_error < 1e-6);
    back();
    CHECK(test::relative_error(dx.data(), test::numeric_gradient(x.data(), x.size(), loss)) < 1e-6);
    workspace ws;
    matrix<double> yi(10, 3);
    net.infer(x, yi, ws);
    net.forward(x, y, a);
    CHECK((yi - y).cwiseAbs().maxCoeff() == 0.0);
  }
}
