// RQ-VAE, MPQ and R3-VAE: training reduces the loss, clustered data is tokenised with high
// utilisation and no collapse, encoders agree with brute force on their latents, the hand
// written gradients agree with finite differences, save → load reproduces the codes, and bad
// input is refused.
#include <catch2/catch.hpp>

#include <Eigen/Cholesky>

#include <cstdio>
#include <limits>
#include <set>

#include <reg4rec/quant/mpq.hpp>
#include <reg4rec/quant/r3_vae.hpp>
#include <reg4rec/quant/rq_vae.hpp>

#include "nn/gradcheck.hpp"
#include "test_util.hpp"

using namespace reg4rec;

namespace {
// 32 well separated clusters on the unit sphere, 2048 items of dimension 32.
matrix<float> clustered(index_t n = 2048, index_t d = 32, std::uint64_t seed = 1) {
  rng g(seed);
  matrix<float> centres(32, d);
  for (index_t i = 0; i < centres.size(); ++i) centres.data()[i] = g.normal<float>();
  matrix<float> x(n, d);
  for (index_t i = 0; i < n; ++i) {
    const auto c = static_cast<index_t>(g.below(32));
    for (index_t j = 0; j < d; ++j) x(i, j) = centres(c, j) + 0.25f * g.normal<float>();
    x.row(i).normalize();
  }
  return x;
}
std::string temp(const std::string& name) { return "/tmp/reg4rec_nq_" + std::to_string(::getpid()) + "_" + name; }

quant::fit_options quiet(std::uint64_t seed = 3) {
  quant::fit_options o;
  o.seed = seed;
  return o;
}

// A small MPQ: `experts` experts of one hidden layer (the decoder likewise), `codes` codes of
// width `latent` each, trained for `epochs` epochs of `batch` items.
quant::mpq_config small_mpq(index_t experts, index_t codes, index_t latent, index_t hidden, index_t epochs, index_t batch) {
  quant::mpq_config c;
  c.experts = experts;
  c.codebook_size = codes;
  c.latent_dim = latent;
  c.expert_hidden = {hidden};
  c.decoder_hidden = {hidden};
  c.epochs = epochs;
  c.batch_size = batch;
  return c;
}

// save() → load() into a fresh MPQ reproduces `codes`, the saved model's tokens of x.
void check_save_load(const quant::reg4rec_mpq& m, const matrix<float>& x, const matrix<std::int32_t>& codes,
                     const std::string& file) {
  const auto path = temp(file);
  m.save(path);
  quant::reg4rec_mpq l;
  l.load(path);
  CHECK(l.encode(x) == codes);
  std::remove(path.c_str());
}

// d(overlap)/dθ as a training step adds it (with γ = 1: the gradient of the term itself)
// against the numerical derivative of expert_overlap(), over the first few entries of each
// named parameter.
void check_overlap_gradient(quant::reg4rec_mpq& m, std::initializer_list<const char*> names) {
  auto& ps = m.params();
  for (const char* name : names) {
    const auto& e = ps.find(name);
    for (index_t k = 0; k < std::min<index_t>(4, e.rows * e.cols); ++k) {
      float& v = ps.values()[e.offset + k];
      const float keep = v, h = 1e-3f;
      v = keep + h;
      const double up = m.expert_overlap();
      v = keep - h;
      const double down = m.expert_overlap();
      v = keep;
      ps.zero_grad();
      m.expert_overlap(true);
      CHECK(double(ps.grads()[e.offset + k]) == Approx((up - down) / (2 * h)).margin(2e-3).epsilon(2e-2));
    }
  }
}
}  // namespace

TEST_CASE("rq-vae: loss falls, codes are used, the encoder is exact on its latents", "[quant][rq_vae]") {
  const auto x = clustered();
  quant::rq_vae_config c;
  c.hidden = {64};
  c.latent_dim = 16;
  c.codebook_size = 32;
  c.epochs = 40;
  c.batch_size = 512;
  quant::tiger_rq_vae m(c);
  m.fit(x, quiet());
  const auto& h = m.history();
  CHECK(h.back().loss < 0.3 * h.front().loss);
  for (double u : h.back().utilisation) CHECK(u > 0.9);
  const auto s = m.stats(x);
  CHECK(s.distinct_sids > 600);  // no collapse (a collapsed tokenizer gives at most ~32 SIDs here)
  // Greedy encoding equals level-by-level brute force on the latents.
  const auto codes = m.encode(x);
  auto r = m.latents(x);
  for (index_t l = 0; l < 3; ++l) {
    const auto C = m.codebook(l);
    for (index_t i = 0; i < x.rows(); i += 97) {
      index_t best = 0;
      float bd = std::numeric_limits<float>::infinity();
      for (index_t k = 0; k < C.rows(); ++k) {
        const float dd = (r.row(i) - C.eigen().row(k)).squaredNorm();
        if (dd < bd) {
          bd = dd;
          best = k;
        }
      }
      CHECK(codes(i, l) == best);
    }
    for (index_t i = 0; i < x.rows(); ++i) r.row(i) -= C.eigen().row(codes(i, l));
  }
  // decode(encode(x)) reconstructs better than the data's spread.
  matrix<float> xr(x.rows(), x.cols());
  m.decode(codes, xr);
  CHECK((xr - x).rowwise().squaredNorm().mean() < 0.5);
  // save → load gives the same codes.
  const auto path = temp("rq.bin");
  m.save(path);
  quant::tiger_rq_vae l;
  l.load(path);
  CHECK(l.encode(x) == codes);
  quant::rq_vae<quant::cosine_distance> other;
  CHECK_THROWS_WITH(other.load(path), Catch::Contains("policies"));
  std::remove(path.c_str());
}

TEST_CASE("rq-vae with the rotation trick trains too", "[quant][rq_vae]") {
  const auto x = clustered(1024);
  quant::rq_vae_config c;
  c.hidden = {64};
  c.latent_dim = 16;
  c.codebook_size = 32;
  c.epochs = 30;
  c.batch_size = 256;
  quant::rq_vae<quant::l2_distance, quant::rotation_trick> m(c);
  m.fit(x, quiet());
  CHECK(m.history().back().loss < 0.5 * m.history().front().loss);
  CHECK(m.history().back().utilisation[0] > 0.9);
}

TEST_CASE("neural quantizers refuse bad input", "[quant][errors]") {
  auto x = clustered(512);
  quant::rq_vae_config c;
  c.codebook_size = 600;
  c.batch_size = 1024;
  CHECK_THROWS_WITH(quant::tiger_rq_vae(c).fit(x), Catch::Contains("K > n"));
  c.codebook_size = 16;
  c.epochs = 1;
  quant::tiger_rq_vae m(c);
  x(7, 3) = std::numeric_limits<float>::quiet_NaN();
  CHECK_THROWS_AS(m.fit(x), value_error);
  const auto good = clustered(512);
  m.fit(good, quiet());
  const auto wrong = clustered(10, 31);
  CHECK_THROWS_AS(m.encode(wrong), dimension_error);
  matrix<std::int32_t> bad_codes(1, 2);
  matrix<float> out(1, 32);
  CHECK_THROWS_AS(m.decode(bad_codes, out), dimension_error);
  quant::mpq_config no_experts;
  no_experts.experts = 0;
  CHECK_THROWS_AS(quant::mpq<>(no_experts), argument_error);
}

TEST_CASE("mpq: loss falls, every expert's codebook is used, tokens are per-expert argmin", "[quant][mpq]") {
  const auto x = clustered();
  const auto c = small_mpq(3, 32, 16, 64, 40, 512);
  quant::reg4rec_mpq m(c);
  m.fit(x, quiet());
  CHECK_FALSE(m.ordered());
  CHECK(m.history().back().loss < 0.5 * m.history().front().loss);
  for (double u : m.history().back().utilisation) CHECK(u > 0.9);
  const auto codes = m.encode(x);
  for (index_t r = 0; r < 3; ++r) {
    const auto z = m.expert_latents(x, r);
    const auto C = m.codebook(r);
    for (index_t i = 0; i < x.rows(); i += 101) {
      index_t best = 0;
      float bd = std::numeric_limits<float>::infinity();
      for (index_t k = 0; k < C.rows(); ++k) {
        const float dd = (z.row(i) - C.eigen().row(k)).squaredNorm();
        if (dd < bd) {
          bd = dd;
          best = k;
        }
      }
      CHECK(codes(i, r) == best);
    }
  }
  // candidates(): best first, the first one is the token, distances non-decreasing.
  std::vector<matrix<std::int32_t>> cand;
  std::vector<matrix<float>> score;
  m.candidates(x, 4, cand, score);
  REQUIRE(cand.size() == 3);
  for (index_t r = 0; r < 3; ++r) {
    CHECK(cand[r].col(0) == codes.col(r));
    const auto z = m.expert_latents(x, r);
    const auto C = m.codebook(r);
    for (index_t i = 0; i < x.rows(); i += 97)
      for (index_t j = 0; j < 4; ++j) {
        CHECK(score[r](i, j) == Approx((z.row(i) - C.eigen().row(cand[r](i, j))).squaredNorm()).margin(1e-3));
        if (j > 0) CHECK(score[r](i, j) >= score[r](i, j - 1));
      }
  }
  const auto g = m.router_gates(x.topRows(5));
  for (index_t i = 0; i < 5; ++i) CHECK(g.row(i).sum() == Approx(1.0f));
  check_save_load(m, x, codes, "mpq.bin");
}

TEST_CASE("mpq: the orthogonality gradient matches finite differences", "[quant][mpq][gradcheck]") {
  const auto x = clustered(256, 8);
  auto c = small_mpq(3, 8, 4, 6, 1, 256);
  c.gamma = 1.0;
  quant::reg4rec_mpq m(c);
  m.fit(x, quiet());
  check_overlap_gradient(m, {"expert.0.0.weight", "expert.1.1.bias", "expert.2.0.weight"});
}

TEST_CASE("mmq: modality experts read only their block; grouped orthogonality; save and load", "[quant][mpq][mmq]") {
  // x = [a (12 columns) ; b (20 columns)]: two blocks of clustered data.
  const auto a = clustered(1024, 12, 5), b = clustered(1024, 20, 6);
  matrix<float> x(1024, 32);
  x << a, b;
  auto c = small_mpq(4, 16, 8, 32, 10, 512);
  c.gamma = 1.0;
  c.expert_inputs = quant::modality_experts(4, 1, 12);  // 2 shared, 1 over a, 1 over b
  REQUIRE(c.expert_inputs.size() == 4);
  CHECK(c.expert_inputs[2].first == 0);
  CHECK(c.expert_inputs[2].count == 12);
  CHECK(c.expert_inputs[3].first == 12);
  quant::reg4rec_mpq m(c);
  m.fit(x, quiet());
  CHECK(m.history().back().loss < m.history().front().loss);
  CHECK(m.params().find("expert.2.0.weight").rows == 12);  // each expert's first layer is as wide as its block
  CHECK(m.params().find("expert.3.0.weight").rows == 20);
  const auto codes = m.encode(x);
  // Change block b only: the expert over a keeps every token, the one over b does not.
  matrix<float> x2 = x;
  x2.rightCols(20) = clustered(1024, 20, 7);
  const auto codes2 = m.encode(x2);
  CHECK(codes2.col(2) == codes.col(2));
  CHECK(codes2.col(3) != codes.col(3));
  CHECK(codes2.col(0) != codes.col(0));

  // The orthogonality term pairs only experts reading the same columns (0 and 1): its gradient
  // matches finite differences and leaves the modality experts alone.
  check_overlap_gradient(m, {"expert.0.0.weight", "expert.1.0.bias"});
  auto& ps = m.params();
  ps.zero_grad();
  m.expert_overlap(true);
  for (const char* name : {"expert.2.0.weight", "expert.3.0.weight"}) {
    const auto& e = ps.find(name);
    for (index_t k = 0; k < e.rows * e.cols; ++k) REQUIRE(ps.grads()[e.offset + k] == 0.0f);
  }

  check_save_load(m, x, codes, "mmq.bin");

  // Bad ranges are refused before any work.
  quant::mpq_config bad = c;
  bad.expert_inputs = {{0, 0}, {0, 0}, {0, 12}, {12, 40}};
  CHECK_THROWS_AS(quant::reg4rec_mpq(bad).fit(x, quiet()), argument_error);
  bad.expert_inputs.pop_back();
  CHECK_THROWS_AS(quant::reg4rec_mpq(bad), argument_error);
  CHECK_THROWS_AS(quant::modality_experts(4, 3, 12), argument_error);
}

TEST_CASE("mpq: the experts' cross-correlation term and its gradient", "[quant][mpq][gradcheck]") {
  rng g(7);
  const index_t n = 40, h = 3;
  std::vector<matrix<double>> z(3, matrix<double>(n, h));
  for (auto& m : z)
    for (index_t i = 0; i < m.size(); ++i) m.data()[i] = g.normal<double>();
  auto views = [&] { return std::vector<cmatrix_view<double>>(z.begin(), z.end()); };
  // Hand-computed value: Σ_{a<b} Σ_jk corr(z_a[:, j], z_b[:, k])² / h from plain correlations.
  auto corr = [&](const matrix<double>& a, index_t j, const matrix<double>& b, index_t k) {
    const double ma = a.col(j).mean(), mb = b.col(k).mean();
    double sab = 0, saa = 0, sbb = 0;
    for (index_t i = 0; i < n; ++i) {
      sab += (a(i, j) - ma) * (b(i, k) - mb);
      saa += (a(i, j) - ma) * (a(i, j) - ma);
      sbb += (b(i, k) - mb) * (b(i, k) - mb);
    }
    return sab / std::sqrt(saa * sbb);
  };
  double expect = 0;
  for (index_t a = 0; a < 3; ++a)
    for (index_t b = a + 1; b < 3; ++b)
      for (index_t j = 0; j < h; ++j)
        for (index_t k = 0; k < h; ++k) expect += std::pow(corr(z[a], j, z[b], k), 2) / double(h);
  CHECK(quant::expert_cross_correlation<double>(views(), nullptr, 0.0) == Approx(expect).epsilon(1e-10));
  // Two experts that are a rotation of each other: h per pair / h = 1; a copy scaled and shifted too.
  {
    matrix<double> a = z[0], b(n, 2);
    a.conservativeResize(n, 2);
    const double c = std::cos(0.6), s = std::sin(0.6);
    // whiten a first so the rotation keeps the columns uncorrelated with unit variance
    a.rowwise() -= a.colwise().mean();
    Eigen::LLT<Eigen::MatrixXd> llt((a.transpose() * a / double(n)).eval());
    a = (a * llt.matrixU().solve(Eigen::MatrixXd::Identity(2, 2))).eval();
    b.col(0) = c * a.col(0) - s * a.col(1);
    b.col(1) = s * a.col(0) + c * a.col(1);
    b = (3.0 * b).array() + 5.0;
    const std::vector<cmatrix_view<double>> v{a, b};
    CHECK(quant::expert_cross_correlation<double>(v, nullptr, 0.0) == Approx(1.0).epsilon(1e-9));
  }
  // Gradient against central differences, every entry of every expert.
  std::vector<matrix<double>> grad;
  quant::expert_cross_correlation<double>(views(), &grad);
  REQUIRE(grad.size() == 3);
  for (index_t r = 0; r < 3; ++r)
    for (index_t i = 0; i < n * h; i += 7) {
      double& v = z[r].data()[i];
      const double keep = v, e = 1e-6;
      v = keep + e;
      const double up = quant::expert_cross_correlation<double>(views());
      v = keep - e;
      const double down = quant::expert_cross_correlation<double>(views());
      v = keep;
      CHECK(grad[r].data()[i] == Approx((up - down) / (2 * e)).margin(1e-8).epsilon(1e-5));
    }
}

TEST_CASE("mpq: the cross-correlation term makes the experts' tokens less redundant", "[quant][mpq]") {
  // Data with one dominant direction of variation (clusters along a line plus small noise):
  // experts left alone tend to split the items the same way.
  rng g(5);
  const index_t n = 2048, d = 16;
  matrix<float> x(n, d);
  matrix<float> dir(2, d);
  for (index_t i = 0; i < dir.size(); ++i) dir.data()[i] = g.normal<float>();
  for (index_t i = 0; i < n; ++i) {
    const float t = float(g.below(64)) / 64.0f, u = float(g.below(8)) / 8.0f;
    for (index_t j = 0; j < d; ++j) x(i, j) = t * dir(0, j) + 0.3f * u * dir(1, j) + 0.01f * g.normal<float>();
  }
  auto distinct_pairs = [&](double lambda, double& decor) {
    auto c = small_mpq(2, 16, 4, 32, 30, 512);
    c.decorrelation = lambda;
    quant::reg4rec_mpq m(c);
    m.fit(x, quiet());
    const auto codes = m.encode(x);
    std::set<std::pair<int, int>> s;
    for (index_t i = 0; i < n; ++i) s.insert({codes(i, 0), codes(i, 1)});
    const auto z0 = m.expert_latents(x, 0), z1 = m.expert_latents(x, 1);
    decor = quant::expert_cross_correlation<float>(std::vector<cmatrix_view<float>>{z0, z1});
    return s.size();
  };
  double d0 = 0, d1 = 0;
  const auto plain = distinct_pairs(0.0, d0), decorrelated = distinct_pairs(1.0, d1);
  // Measured: the term falls from 3.8 to 0.01 and the distinct pairs rise from 42 to 89.
  CHECK(d1 < 0.1 * d0);
  CHECK(double(decorrelated) > 1.5 * double(plain));
}

TEST_CASE("r3-vae: rating quantisation gradients match finite differences (double)", "[quant][r3_vae][gradcheck]") {
  // Loss = Σ w ⊙ (Q₁ + Q₂) − 0.3·(SC₁ + SC₂) + 0.2·PD(C₁) with E₂ = E₁ − Q₁.
  matrix<double> E = test::random_matrix<double>(6, 5, 1), C1 = test::random_matrix<double>(7, 5, 2),
                 C2 = test::random_matrix<double>(7, 5, 3), w = test::random_matrix<double>(6, 5, 4);
  const double tau = 0.7;
  auto loss = [&] {
    quant::detail::rating_level<double> a, b;
    matrix<double> Q1(6, 5), Q2(6, 5);
    double sc = a.forward(E, C1, tau, Q1, 6);
    const matrix<double> E2 = E - Q1;
    sc += b.forward(E2, C2, tau, Q2, 6);
    return (w.array() * (Q1 + Q2).array()).sum() - 0.3 * sc +
           0.2 * quant::detail::codeword_discrimination<double>(C1, 0.0, matrix_view<double>());
  };
  quant::detail::rating_level<double> a, b;
  matrix<double> Q1(6, 5), Q2(6, 5), dE = matrix<double>::Zero(6, 5), dC1 = matrix<double>::Zero(7, 5),
                 dC2 = matrix<double>::Zero(7, 5), dE2 = matrix<double>::Zero(6, 5);
  a.forward(E, C1, tau, Q1, 6);
  const matrix<double> E2 = E - Q1;
  b.forward(E2, C2, tau, Q2, 6);
  b.backward(E2, C2, tau, w, -0.3, 6, dE2, dC2);
  const matrix<double> dQ1 = w - dE2;
  dE = dE2;
  a.backward(E, C1, tau, dQ1, -0.3, 6, dE, dC1);
  quant::detail::codeword_discrimination<double>(C1, 0.2, dC1);
  CHECK(test::relative_error(dE.data(), test::numeric_gradient(E.data(), E.size(), loss)) < 1e-7);
  CHECK(test::relative_error(dC1.data(), test::numeric_gradient(C1.data(), C1.size(), loss)) < 1e-7);
  CHECK(test::relative_error(dC2.data(), test::numeric_gradient(C2.data(), C2.size(), loss)) < 1e-7);
}

TEST_CASE("r3-vae: training lowers the reconstruction error; save and load", "[quant][r3_vae]") {
  const auto x = clustered(1024);
  quant::r3_vae_config c;
  c.hidden = {64};
  c.latent_dim = 16;
  c.codebook_size = 32;
  c.epochs = 30;
  c.batch_size = 256;
  c.lr = 2e-3;
  quant::r3_vae m(c);
  m.fit(x, quiet());
  CHECK(m.history().back().reconstruction < 0.3 * m.history().front().reconstruction);
  const auto codes = m.encode(x);
  const auto path = temp("r3.bin");
  m.save(path);
  quant::r3_vae l;
  l.load(path);
  CHECK(l.encode(x) == codes);
  std::remove(path.c_str());
}
