#include <catch2/catch.hpp>

#include <cmath>
#include <numeric>
#include <set>
#include <vector>

#include <reg4rec/core.hpp>

using namespace reg4rec;

TEST_CASE("same seed, same stream; different seed, different stream", "[core][rng]") {
  rng a(42), b(42), c(43);
  bool all_equal = true, any_equal_c = false;
  for (int i = 0; i < 1000; ++i) {
    const auto x = a(), y = b(), z = c();
    all_equal &= x == y;
    any_equal_c |= x == z;
  }
  CHECK(all_equal);
  CHECK_FALSE(any_equal_c);
}

TEST_CASE("uniform and normal have the right moments", "[core][rng]") {
  rng g(7);
  const int n = 200000;
  double su = 0, sn = 0, sn2 = 0;
  float fmin = 1, fmax = 0;
  for (int i = 0; i < n; ++i) {
    const double u = g.uniform();
    REQUIRE(u >= 0.0);
    REQUIRE(u < 1.0);
    su += u;
    const float f = g.uniform<float>();
    fmin = std::min(fmin, f);
    fmax = std::max(fmax, f);
    const double z = g.normal();
    sn += z;
    sn2 += z * z;
  }
  CHECK(su / n == Approx(0.5).margin(0.005));
  CHECK(fmin >= 0.0f);
  CHECK(fmax < 1.0f);
  CHECK(sn / n == Approx(0.0).margin(0.01));
  CHECK(sn2 / n == Approx(1.0).margin(0.02));
}

TEST_CASE("below() is unbiased over a small range (chi-square)", "[core][rng]") {
  rng g(11);
  const int k = 7, n = 70000;
  std::vector<int> counts(k, 0);
  for (int i = 0; i < n; ++i) ++counts[g.below(k)];
  double chi2 = 0;
  const double expect = double(n) / k;
  for (int c : counts) chi2 += (c - expect) * (c - expect) / expect;
  CHECK(chi2 < 22.5);  // p ≈ 0.001 for 6 degrees of freedom
  CHECK_THROWS_AS(g.below(0), argument_error);
}

TEST_CASE("shuffle is a permutation and depends on the seed", "[core][rng]") {
  std::vector<int> a(100), b(100);
  std::iota(a.begin(), a.end(), 0);
  b = a;
  rng g1(1), g2(2);
  g1.shuffle(a.begin(), a.end());
  g2.shuffle(b.begin(), b.end());
  CHECK(std::set<int>(a.begin(), a.end()).size() == 100);
  CHECK(a != b);
}

TEST_CASE("state round-trips and fork does not advance the parent", "[core][rng]") {
  rng g(5);
  for (int i = 0; i < 10; ++i) g();
  const auto saved = g.state();
  const auto x = g();
  rng h(0);
  h.set_state(saved);
  CHECK(h() == x);
  CHECK_THROWS_AS(h.set_state({0, 0, 0, 0}), value_error);

  rng p(9);
  const auto before = p.state();
  rng f1 = p.fork(1), f1b = p.fork(1), f2 = p.fork(2);
  CHECK(p.state() == before);
  CHECK(f1() == f1b());
  CHECK(f1() != f2());
}
