// S²GR codebook optimisation: the uniformity penalty against its definition and finite
// differences, the biased search against brute force, and both terms in RQ-VAE and MPQ fits.
#include <catch2/catch.hpp>

#include <cmath>
#include <limits>
#include <set>

#include <reg4rec/quant/codebook_balance.hpp>
#include <reg4rec/quant/mpq.hpp>
#include <reg4rec/quant/rq_vae.hpp>

#include "nn/gradcheck.hpp"

using namespace reg4rec;

namespace {
using dmatrix = matrix<double>;

dmatrix random_codebook(index_t K, index_t e, std::uint64_t seed) {
  rng g(seed);
  dmatrix C(K, e);
  for (index_t i = 0; i < C.size(); ++i) C.data()[i] = g.normal<double>();
  return C;
}

// Points in a few clusters of very different sizes: cluster c holds a share ∝ 2^−c of them.
matrix<float> skewed(index_t n, index_t d, std::uint64_t seed) {
  rng g(seed);
  matrix<float> centres(6, d);
  for (index_t i = 0; i < centres.size(); ++i) centres.data()[i] = 2.0f * g.normal<float>();
  matrix<float> x(n, d);
  for (index_t i = 0; i < n; ++i) {
    index_t c = 0;
    while (c < 5 && g.below(2) == 0) ++c;
    for (index_t j = 0; j < d; ++j) x(i, j) = centres(c, j) + 0.3f * g.normal<float>();
  }
  return x;
}

// exp(entropy) of the code frequencies in column c.
double perplexity(const matrix<std::int32_t>& codes, index_t c, index_t K) {
  std::vector<double> f(static_cast<std::size_t>(K), 0.0);
  for (index_t i = 0; i < codes.rows(); ++i) f[codes(i, c)] += 1.0 / double(codes.rows());
  double h = 0;
  for (double p : f)
    if (p > 0) h -= p * std::log(p);
  return std::exp(h);
}

quant::fit_options seeded(std::uint64_t s) {
  quant::fit_options o;
  o.seed = s;
  return o;
}
}  // namespace

TEST_CASE("uniformity penalty: margin, value and gradient", "[quant][balance][gradcheck]") {
  const index_t K = 7, e = 3;
  dmatrix C = random_codebook(K, e, 4);
  C.row(3) = C.row(1) + 0.05 * C.row(2);  // a close pair, well inside the margin
  // δ = ρ·RMS pairwise distance, by brute force over the pairs.
  double sum = 0;
  index_t pairs = 0;
  for (index_t a = 0; a < K; ++a)
    for (index_t b = 0; b < K; ++b)
      if (a != b) {
        sum += (C.row(a) - C.row(b)).squaredNorm();
        ++pairs;
      }
  const double rho = 0.6;
  const double delta = quant::uniformity_margin<double>(C, rho);
  CHECK(delta == Approx(rho * std::sqrt(sum / double(pairs))).epsilon(1e-12));
  // The value by its definition.
  const double gamma = 1.5;
  double expect = 0;
  index_t inside = 0;
  for (index_t a = 0; a < K; ++a)
    for (index_t b = a + 1; b < K; ++b) {
      const double d = (C.row(a) - C.row(b)).norm();
      if (d < delta) {
        expect += (delta - d) * (delta - d);
        ++inside;
      }
    }
  expect *= gamma / double(K);
  REQUIRE(inside >= 2);  // the case exercises the hinge on several pairs
  REQUIRE(inside < K * (K - 1) / 2);
  dmatrix G = dmatrix::Zero(K, e);
  CHECK(quant::uniformity_penalty<double>(C, gamma, delta, G) == Approx(expect).epsilon(1e-12));
  // The gradient at fixed δ against central differences.
  const auto numeric = test::numeric_gradient(C.data(), C.size(), [&] {
    dmatrix scratch = dmatrix::Zero(K, e);
    return quant::uniformity_penalty<double>(C, gamma, delta, scratch);
  });
  CHECK(test::relative_error(G.data(), numeric) < 1e-6);
  // The gradient is added, not written.
  dmatrix G2 = dmatrix::Ones(K, e);
  quant::uniformity_penalty<double>(C, gamma, delta, G2);
  CHECK((G2 - dmatrix::Ones(K, e) - G).cwiseAbs().maxCoeff() < 1e-12);
  // Off: γ = 0, or a margin below every distance.
  dmatrix Z = dmatrix::Zero(K, e);
  CHECK(quant::uniformity_penalty<double>(C, 0.0, delta, Z) == 0.0);
  CHECK(quant::uniformity_penalty<double>(C, gamma, 1e-6, Z) == 0.0);
  CHECK(Z.cwiseAbs().maxCoeff() == 0.0);
}

TEST_CASE("usage-balanced assignment: running usage and the biased search", "[quant][balance]") {
  quant::codebook_balance_options o;
  o.usage_bias = 0.5;
  o.usage_decay = 0.5;
  const index_t K = 4, e = 3;
  quant::codebook_balance b(o, 1, K);
  CHECK(b.usage(0) == std::vector<double>(4, 0.25));
  // A step where 10 rows all took code 0, mean squared distance 2: u = 0.5·u + 0.5·share.
  matrix<std::int32_t> codes = matrix<std::int32_t>::Zero(10, 1);
  b.record(codes, {2.0});
  const std::vector<double> u{0.625, 0.125, 0.125, 0.125};
  for (index_t k = 0; k < K; ++k) CHECK(b.usage(0)[k] == Approx(u[k]));
  // Biased search = argmin ‖r − c_k‖² + λ·s̄·K·u_k with s̄ = 2 (the first step's distance).
  rng g(8);
  matrix<float> C(K, e), r(200, e);
  for (index_t i = 0; i < C.size(); ++i) C.data()[i] = g.normal<float>();
  for (index_t i = 0; i < r.size(); ++i) r.data()[i] = g.normal<float>();
  const auto& cs = b.prepare(0, C);
  nn::buffer<float> buf;
  std::vector<std::int32_t> idx(200);
  std::vector<float> sc(200);
  cs.nearest(quant::codebook_balance::augment(r, buf), idx, sc);
  index_t moved = 0;
  for (index_t i = 0; i < r.rows(); ++i) {
    index_t best = 0, plain = 0;
    double bd = std::numeric_limits<double>::infinity(), pd = bd;
    for (index_t k = 0; k < K; ++k) {
      const double d = (r.row(i) - C.row(k)).squaredNorm();
      const double biased = d + 0.5 * 2.0 * double(K) * u[k];
      if (biased < bd) bd = biased, best = k;
      if (d < pd) pd = d, plain = k;
    }
    CHECK(idx[i] == best);
    CHECK(sc[i] == Approx(bd).epsilon(1e-4));
    moved += best != plain;
  }
  CHECK(moved > 0);  // the bias changed some assignments away from the over-used code 0
  // Later steps average the distance: s̄ = 0.5·2 + 0.5·4.
  b.record(codes, {4.0});
  const auto& cs2 = b.prepare(0, C);
  cs2.nearest(quant::codebook_balance::augment(r.topRows(1), buf), span<std::int32_t>(idx.data(), 1),
              span<float>(sc.data(), 1));
  const double u0 = 0.5 * 0.625 + 0.5;
  double bd = std::numeric_limits<double>::infinity();
  for (index_t k = 0; k < K; ++k) {
    const double uk = k == 0 ? u0 : 0.5 * u[k];
    bd = std::min(bd, double((r.row(0) - C.row(k)).squaredNorm()) + 0.5 * 3.0 * double(K) * uk);
  }
  CHECK(sc[0] == Approx(bd).epsilon(1e-4));
}

TEST_CASE("codebook balance options are checked", "[quant][balance][errors]") {
  quant::rq_vae_config c;
  c.balance.usage_bias = -1;
  CHECK_THROWS_WITH(quant::tiger_rq_vae(c), Catch::Contains("usage_bias"));
  c.balance.usage_bias = 0.1;
  c.balance.usage_decay = 1.0;
  CHECK_THROWS_WITH(quant::tiger_rq_vae(c), Catch::Contains("usage_decay"));
  c.balance.usage_decay = 0.99;
  c.balance.uniformity_margin = 0;
  CHECK_THROWS_WITH(quant::tiger_rq_vae(c), Catch::Contains("uniformity_margin"));
  c.balance.uniformity_margin = 0.25;
  CHECK_THROWS_WITH(quant::rq_vae<quant::cosine_distance>(c), Catch::Contains("l2_distance"));
  quant::mpq_config m;
  m.balance.uniformity = std::numeric_limits<double>::quiet_NaN();
  CHECK_THROWS_WITH(quant::reg4rec_mpq(m), Catch::Contains("uniformity"));
}

TEST_CASE("rq-vae: usage-balanced assignment evens out code usage on skewed data", "[quant][balance][rq_vae]") {
  // One fit's perplexity moves with the seed (and with the compiler's rounding) by more than
  // the bias changes it, so the check is on the sum over three seeds; 240 steps each.
  const auto x = skewed(2048, 16, 2);
  auto fit = [&](double lambda, std::uint64_t seed) {
    quant::rq_vae_config c;
    c.hidden = {64};
    c.latent_dim = 8;
    c.levels = 2;
    c.codebook_size = 32;
    c.epochs = 60;
    c.batch_size = 256;
    c.balance.usage_bias = lambda;
    quant::tiger_rq_vae m(c);
    m.fit(x, seeded(seed));
    return m.encode(x);
  };
  double p0 = 0, p1 = 0;
  for (std::uint64_t seed : {5, 6, 7}) {
    p0 += perplexity(fit(0.0, seed), 0, 32);
    p1 += perplexity(fit(1.0, seed), 0, 32);
  }
  INFO("first-level perplexity, sum over 3 seeds " << p0 << " → " << p1);
  CHECK(p1 > 1.05 * p0);
  // Same seed, same codes.
  CHECK(fit(1.0, 5) == fit(1.0, 5));
}

TEST_CASE("mpq: usage balance and uniformity penalty per expert", "[quant][balance][mpq]") {
  const auto x = skewed(2048, 16, 3);
  // `crowding`: Σ over pairs of expert 0's codewords closer than the margin δ of
  // ((δ − d) / δ)², the penalty's own measure made scale-free.
  auto fit = [&](double lambda, double gamma, index_t batch, std::uint64_t seed, double* crowding) {
    quant::mpq_config c;
    c.experts = 2;
    c.codebook_size = 32;
    c.latent_dim = 8;
    c.expert_hidden = {32};
    c.decoder_hidden = {32};
    c.epochs = batch == 128 ? 30 : 60;
    c.batch_size = batch;  // 128: more steps, for the codewords to move apart
    c.balance.usage_bias = lambda;
    c.balance.uniformity = gamma;
    c.balance.uniformity_margin = 0.3;
    quant::reg4rec_mpq m(c);
    m.fit(x, seeded(seed));
    if (crowding) {
      const auto& ps = m.params();
      const auto& e = ps.find("codebook.0");
      cmatrix_view<float> C(ps.values().data() + e.offset, e.rows, e.cols);
      const double delta = quant::uniformity_margin<float>(C, 0.3);
      for (index_t a = 0; a < C.rows(); ++a)
        for (index_t b = a + 1; b < C.rows(); ++b) {
          const double d = (C.eigen().row(a) - C.eigen().row(b)).norm();
          if (d < delta) *crowding += (delta - d) * (delta - d) / (delta * delta);
        }
    }
    return m.encode(x);
  };
  // Uniformity: summed over three seeds (one seed's figure moves by as much as γ = 10 does).
  double crowd0 = 0, crowd1 = 0;
  for (std::uint64_t seed : {6, 7, 8}) {
    fit(0.0, 0.0, 128, seed, &crowd0);
    fit(0.0, 100.0, 128, seed, &crowd1);
  }
  INFO("crowding of expert 0's codewords, 3 seeds " << crowd0 << " → " << crowd1);
  CHECK(crowd1 < 0.6 * crowd0);
  // Usage: as for RQ-VAE, summed over three seeds (and both experts), 480 steps each.
  double p0 = 0, p1 = 0;
  for (std::uint64_t seed : {6, 7, 8}) {
    const auto plain = fit(0.0, 0.0, 256, seed, nullptr), balanced = fit(1.0, 0.0, 256, seed, nullptr);
    p0 += perplexity(plain, 0, 32) + perplexity(plain, 1, 32);
    p1 += perplexity(balanced, 0, 32) + perplexity(balanced, 1, 32);
  }
  INFO("perplexity, sum over experts and 3 seeds " << p0 << " → " << p1);
  CHECK(p1 > 1.05 * p0);
}
