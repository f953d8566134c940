#include <catch2/catch.hpp>

#include <cmath>

#include <reg4rec/kernels.hpp>
#include <reg4rec/optim.hpp>

#include "test_util.hpp"

using namespace reg4rec;

namespace {
struct two_params {
  nn::parameter_store<double> ps;
  nn::param<double> w = ps.add("w", 2, 3, true);
  nn::param<double> b = ps.add("b", 1, 3, false);
  two_params() {
    for (auto& x : ps.values()) x = 1.0;
    for (auto& x : ps.grads()) x = 0.5;
  }
};
}  // namespace

TEST_CASE("parameter store: names, count, aligned slices, zero_grad", "[optim][params]") {
  two_params m;
  CHECK(m.ps.count() == 9);
  CHECK(m.ps.names() == std::vector<std::string>{"w", "b"});
  CHECK(reinterpret_cast<std::uintptr_t>(m.b.value().data()) % buffer_alignment == 0);
  m.ps.zero_grad();
  for (double g : m.ps.grads()) CHECK(g == 0.0);
  CHECK_THROWS_AS(m.ps.find("nope"), not_found_error);
}

TEST_CASE("adamw: decay only where registered, matches the kernel", "[optim][adamw]") {
  two_params m;
  optim::adamw opt({0.1, 0.9, 0.999, 0.0, 0.01});
  auto st = opt.init(m.ps);
  opt.step(m.ps, st);
  // First step: update = lr · m̂ / sqrt(v̂) = lr · sign(g) = 0.1.
  CHECK(m.w.value()(0, 0) == Approx(1.0 * (1 - 0.1 * 0.01) - 0.1));
  CHECK(m.b.value()(0, 0) == Approx(1.0 - 0.1));
  CHECK(st.step == 1);
}

TEST_CASE("sgd with momentum: two steps by hand", "[optim][sgd]") {
  two_params m;
  optim::sgd opt({0.1, 0.9, 0.0});
  auto st = opt.init(m.ps);
  opt.step(m.ps, st);  // v = 0.5, p = 1 − 0.05
  opt.step(m.ps, st);  // v = 0.95, p = 0.95 − 0.095
  CHECK(m.w.value()(1, 2) == Approx(0.855));
}

TEST_CASE("gradient clipping scales to the max norm and names a non-finite parameter", "[optim][clip]") {
  two_params m;
  const double norm = optim::clip_grad_norm(m.ps, 0.5);
  CHECK(norm == Approx(0.5 * 3.0));  // 9 entries of 0.5
  CHECK(optim::grad_norm(m.ps) == Approx(0.5));
  m.b.grad()(0, 1) = std::nan("");
  CHECK_THROWS_WITH(optim::grad_norm(m.ps), Catch::Contains("'b'"));
}

TEST_CASE("learning-rate schedules", "[optim][schedule]") {
  optim::lr_schedule s{1.0, 10, 110, optim::lr_schedule::decay::cosine, 0.1};
  CHECK(s(0) == Approx(0.1));
  CHECK(s(9) == Approx(1.0));
  CHECK(s(10) == Approx(1.0));
  CHECK(s(60) == Approx(0.1 + 0.9 * 0.5));
  CHECK(s(110) == Approx(0.1));
  optim::lr_schedule c{2.0, 4, 0, optim::lr_schedule::decay::constant};
  CHECK(c(1) == Approx(1.0));
  CHECK(c(1000) == Approx(2.0));
  optim::lr_schedule bad{1.0, 10, 5};
  CHECK_THROWS_AS(bad(20), argument_error);
}

TEST_CASE("weight average: warm-up decay by hand, swap exchanges", "[optim][ema]") {
  two_params m;  // every weight 1
  optim::weight_average<double> avg(m.ps, 0.5);
  // Update 0: d = min(0.5, 1/10) = 0.1; weights 3 → a = 0.1·1 + 0.9·3 = 2.8.
  for (auto& x : m.ps.values()) x = 3.0;
  avg.update(m.ps);
  for (double a : avg.values()) CHECK(a == Approx(2.8));
  // Update 1: d = min(0.5, 2/11); weights 5 → a = (2/11)·2.8 + (9/11)·5.
  for (auto& x : m.ps.values()) x = 5.0;
  avg.update(m.ps);
  const double a1 = 2.0 / 11 * 2.8 + 9.0 / 11 * 5.0;
  for (double a : avg.values()) CHECK(a == Approx(a1));
  // From update 8 on, (1 + t)/(10 + t) > 0.5, so the decay is 0.5.
  avg.set_updates(8);
  for (auto& x : m.ps.values()) x = 1.0;
  avg.update(m.ps);
  const double a2 = 0.5 * a1 + 0.5;
  for (double a : avg.values()) CHECK(a == Approx(a2));
  CHECK(avg.updates() == 9);
  avg.swap(m.ps);
  for (double w : m.ps.values()) CHECK(w == Approx(a2));
  for (double a : avg.values()) CHECK(a == 1.0);
  CHECK_THROWS_AS(optim::weight_average<double>(m.ps, 1.0), error);
  nn::parameter_store<double> other;
  other.add("w", 1, 1, true);
  CHECK_THROWS_AS(avg.update(other), error);
}
