// Residual-quantizer encoding: RQ-KMeans (3 levels × 256 codes, d = 32) encoding 100,000
// vectors at beam 1 and 5, beside Faiss's ResidualQuantizer holding the same codebooks (when
// Faiss was found at configure time). Data as ../shared/anchors/faiss_rq_encode.py: a Gaussian
// mixture of 64 components, centres N(0, 2²), per-component isotropic std U(0.2, 0.8);
// 12,101 training vectors, 100,000 encoded ones (drawn with reg4rec's rng, so the numbers are
// not the anchor's draws, only the same distribution).
//
// Counters: items_per_second = vectors/s; rel_mse = mean ‖x − x̂‖² / mean ‖x − x̄‖².
//
//   build/bench/reg4rec_bench --benchmark_filter=rq_encode
#include <benchmark/benchmark.h>

#include <cstdio>
#include <vector>

#include <reg4rec/quant.hpp>

#include "bench_util.hpp"

#if defined(REG4REC_BENCH_WITH_FAISS)
#include <faiss/impl/ResidualQuantizer.h>
#endif

using namespace reg4rec;

namespace {

constexpr index_t kD = 32, kLevels = 3, kCodes = 256, kTrain = 12101, kEncode = 100000;

struct mixture_data {
  matrix<float> train, encode;
  quant::rq_kmeans rq{kLevels, kCodes};
  double variance = 0;  // mean squared distance of the encoded set to its mean

  mixture_data() {
    rng g(0);
    const index_t comps = 64;
    matrix<float> centre(comps, kD);
    std::vector<float> sd(comps);
    for (index_t i = 0; i < centre.size(); ++i) centre.data()[i] = 2.0f * g.normal<float>();
    for (auto& s : sd) s = g.uniform<float>(0.2f, 0.8f);
    auto sample = [&](index_t n, std::uint64_t seed) {
      rng h(seed);
      matrix<float> x(n, kD);
      for (index_t i = 0; i < n; ++i) {
        const auto c = static_cast<index_t>(h.below(comps));
        for (index_t j = 0; j < kD; ++j) x(i, j) = centre(c, j) + sd[c] * h.normal<float>();
      }
      return x;
    };
    train = sample(kTrain, 1);
    encode = sample(kEncode, 2);
    const Eigen::RowVectorXd mean = encode.cast<double>().colwise().mean();
    variance = (encode.cast<double>().rowwise() - mean).rowwise().squaredNorm().mean();
    quant::fit_options o;
    o.seed = 0;
    o.iterations = 25;
    rq.fit(train, o);
  }
  double rel_mse(const matrix<float>& xhat) const {
    return (xhat.cast<double>() - encode.cast<double>()).rowwise().squaredNorm().mean() / variance;
  }
};

const mixture_data& data() {
  static const mixture_data d;
  return d;
}

// Args: beam width, threads.
void BM_rq_encode_reg4rec(benchmark::State& state) {
  const auto& d = data();
  const index_t beam = state.range(0);
  bench::threads_from(state, 1);
  matrix<std::int32_t> codes(kEncode, kLevels);
  for (auto _ : state) {
    d.rq.encode(d.encode, codes, beam);
    benchmark::DoNotOptimize(codes.data());
  }
  state.SetItemsProcessed(state.iterations() * kEncode);
  state.counters["rel_mse"] = d.rel_mse(d.rq.decode(codes));
  state.counters["beam"] = static_cast<double>(beam);
}
BENCHMARK(BM_rq_encode_reg4rec)
    ->Args({1, 1})->Args({1, 2})->Args({5, 1})->Args({5, 2})
    ->Unit(benchmark::kMillisecond)->UseRealTime();

#if defined(REG4REC_BENCH_WITH_FAISS)
// Faiss's ResidualQuantizer with our codebooks copied in (levels stored one after another,
// as Faiss lays them out), use_beam_LUT = 0 (its default) or 1.
// Args: beam width, threads, use_beam_LUT.
void BM_rq_encode_faiss(benchmark::State& state) {
  const auto& d = data();
  const int beam = static_cast<int>(state.range(0));
  bench::threads_from(state, 1);
  faiss::ResidualQuantizer frq(kD, kLevels, 8);
  frq.codebooks.resize(static_cast<std::size_t>(kLevels * kCodes * kD));
  for (index_t l = 0; l < kLevels; ++l) {
    const auto cb = d.rq.codebook(l);
    for (index_t k = 0; k < kCodes; ++k)
      for (index_t j = 0; j < kD; ++j) frq.codebooks[(l * kCodes + k) * kD + j] = cb(k, j);
  }
  frq.is_trained = true;
  frq.compute_codebook_tables();
  frq.max_beam_size = beam;
  frq.use_beam_LUT = static_cast<int>(state.range(2));
  std::vector<std::uint8_t> packed(static_cast<std::size_t>(kEncode) * frq.code_size);
  for (auto _ : state) {
    frq.compute_codes(d.encode.data(), packed.data(), kEncode);
    benchmark::DoNotOptimize(packed.data());
  }
  matrix<float> xhat(kEncode, kD);
  frq.decode(packed.data(), xhat.data(), kEncode);
  state.SetItemsProcessed(state.iterations() * kEncode);
  state.counters["rel_mse"] = d.rel_mse(xhat);
  state.counters["beam"] = beam;
  state.counters["lut"] = static_cast<double>(state.range(2));
}
BENCHMARK(BM_rq_encode_faiss)
    ->Args({1, 1, 0})->Args({1, 2, 0})->Args({5, 1, 0})->Args({5, 2, 0})->Args({5, 2, 1})
    ->Unit(benchmark::kMillisecond)->UseRealTime();
#else
void BM_rq_encode_faiss(benchmark::State& state) {
  for (auto _ : state) break;
  state.SkipWithError("Faiss was not found at configure time (Debian: libfaiss-dev); comparison skipped");
}
BENCHMARK(BM_rq_encode_faiss);
#endif

// Training time of the RQ-KMeans above (12,101 vectors, 25 Lloyd iterations per level).
void BM_rq_kmeans_fit(benchmark::State& state) {
  const auto& d = data();
  bench::threads_from(state, 0);
  for (auto _ : state) {
    quant::rq_kmeans rq(kLevels, kCodes);
    rq.fit(d.train, {});
    benchmark::DoNotOptimize(rq.codebook(0).data());
  }
  state.SetItemsProcessed(state.iterations() * kTrain);
}
BENCHMARK(BM_rq_kmeans_fit)->Arg(2)->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(2);

}  // namespace

// SID statistics of 12,101 items with about 12k distinct SIDs (random 3 × 256 codes), item
// vectors of width d = range(0): the Preference Discrimination over all pairs of ~12k group
// centres dominates.
void BM_sid_stats(benchmark::State& state) {
  const index_t n = 12101, d = state.range(0);
  bench::threads_from(state, 1);
  rng g(3);
  matrix<std::int32_t> codes(n, 3);
  for (index_t i = 0; i < codes.size(); ++i) codes.data()[i] = static_cast<std::int32_t>(g.below(256));
  matrix<float> x(n, d);
  for (index_t i = 0; i < x.size(); ++i) x.data()[i] = g.normal<float>();
  quant::sid_stats s;
  for (auto _ : state) {
    s = quant::compute_sid_stats(codes, 256, x);
    benchmark::DoNotOptimize(s.preference_discrimination);
  }
  state.counters["groups"] = static_cast<double>(s.groups);
  state.counters["PD"] = s.preference_discrimination;
}
BENCHMARK(BM_sid_stats)->Args({32, 2})->Args({256, 2})->Unit(benchmark::kMillisecond)->UseRealTime();
