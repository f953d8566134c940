// Example: compose a quantizer from policies and compare it with the stock ones.
//
// Quantizers are templates whose variation points are policy tags (docs/quantizers.md):
//   residual_kmeans<Distance, Init, Assign>    distance: l2_distance | cosine_distance
//                                              init:     kmeanspp_init | random_init
//                                              assign:   standard_assignment | balanced_assignment
//                                                        | sinkhorn_assignment
//   rq_vae<Distance, Estimator>                estimator: straight_through | rotation_trick
// Any combination is a quantizer (fit / encode / decode / stats / save / load); a wrong tag
// is a compile error. This program builds four of them on the same synthetic items and prints
// what SPEC §3.4 asks of a tokenizer: utilisation, collisions, SC, PD, reconstruction error.
//
//   example_custom_quantizer
#include <chrono>
#include <cstdio>
#include <exception>
#include <string>

#include <reg4rec/quant.hpp>
#include <reg4rec/quant/rq_vae.hpp>

using namespace reg4rec;

// Cosine distance + capacity-balanced clusters: every code gets ⌊n/K⌋ or ⌈n/K⌉ items, so
// utilisation is 100% and buckets stay small.
using balanced_cosine_rq = quant::residual_kmeans<quant::cosine_distance, quant::kmeanspp_init, quant::balanced_assignment>;
// Entropic optimal transport to uniform code usage (softer than hard capacities).
using sinkhorn_rq = quant::residual_kmeans<quant::l2_distance, quant::kmeanspp_init, quant::sinkhorn_assignment>;
// RQ-VAE whose encoder gradient is rotated like the quantiser rotated the latent.
using rotation_rq_vae = quant::rq_vae<quant::l2_distance, quant::rotation_trick>;

static_assert(quant::is_quantizer_v<balanced_cosine_rq>);
static_assert(quant::is_quantizer_v<sinkhorn_rq>);
static_assert(quant::is_quantizer_v<rotation_rq_vae>);

// Skewed clusters: a few large ones and many small ones, where plain k-means leaves codes idle.
matrix<float> skewed_items(index_t n, index_t d, std::uint64_t seed) {
  rng g(seed);
  const index_t C = 40;
  matrix<float> centres(C, d), x(n, d);
  for (index_t i = 0; i < centres.size(); ++i) centres.data()[i] = g.normal<float>();
  for (index_t i = 0; i < n; ++i) {
    const double u = g.uniform();
    const auto c = static_cast<index_t>(double(C) * u * u * u);  // cluster c drawn with density ∝ c^(−2/3)
    for (index_t j = 0; j < d; ++j) x(i, j) = centres(c, j) + 0.3f * g.normal<float>();
  }
  return x;
}

template <class Q>
void report(const char* name, Q& q, const matrix<float>& x) {
  quant::fit_options fo;
  fo.seed = 3;
  const auto t0 = std::chrono::steady_clock::now();
  q.fit(x, fo);
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const auto codes = q.encode(x);
  const auto s = quant::compute_sid_stats(codes, q.codebook_size(), x);
  matrix<float> xr(x.rows(), x.cols());
  q.decode(codes, xr);
  const double mse = (xr - x).rowwise().squaredNorm().mean();
  std::printf("| %-32s | %5.3f | %6.4f | %6ld | %6.4f | %7.4f | %8.4f | %5.2f |\n", name, s.mean_utilisation(),
              s.collision_rate, long(s.largest_bucket), s.semantic_cohesion, s.preference_discrimination, mse, secs);
}

int run() {
  const matrix<float> x = skewed_items(2048, 32, 11);
  const index_t L = 3, K = 32;
  std::printf("%ld items x %ld dims, %ld levels x %ld codes\n\n", long(x.rows()), long(x.cols()), long(L), long(K));
  std::printf("| quantizer                        | util. | collis | bucket |   SC   |   PD    |   MSE    |  s    |\n");
  std::printf("|---|---|---|---|---|---|---|---|\n");
  {
    quant::rq_kmeans q(L, K);  // the stock RQ-KMeans: l2, k-means++, nearest code
    report("rq_kmeans (l2, standard)", q, x);
  }
  {
    balanced_cosine_rq q(L, K);
    report("residual_kmeans<cosine, balanced>", q, x);
  }
  {
    sinkhorn_rq q(L, K);
    report("residual_kmeans<l2, sinkhorn>", q, x);
  }
  {
    quant::rq_vae_config c;
    c.hidden = {64, 32};
    c.latent_dim = 16;
    c.levels = L;
    c.codebook_size = K;
    c.epochs = 15;
    c.batch_size = 512;
    rotation_rq_vae q(c);
    report("rq_vae<l2, rotation_trick>", q, x);
  }
  std::printf("\nutil.: mean fraction of codes used; collis: items sharing a full SID; SC higher and PD lower are better.\n");
  return 0;
}

// A bad file or argument ends with its message and exit status 1, not an abort.
int main() {
  try {
    return run();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "custom_quantizer: %s\n", e.what());
    return 1;
  }
}
