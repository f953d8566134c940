// GEMM: kernels::gemm against Eigen on the products of the training step (n = 20,480 token
// rows, d 128, FFN 512, vocabulary 1,100 in chunks of 1,024 rows), of the RQ-VAE (batch 1,024,
// MLP 768→512→256→128→32 and back) and 512³. Counters: GFLOP/s and pct_peak (percent of the
// 227 GFLOP/s single-core fp32 peak of the development machine, times the thread count).
//
//   build/bench/reg4rec_bench --benchmark_filter='gemm/' --benchmark_min_time=0.5
//
// Names: gemm/<case>/<ours|eigen>/threads:<t>. NN: C = A·B (β = 0); NT: C = A·Bᵀ (β = 0);
// TN: C += Aᵀ·B (β = 1, as a weight gradient is accumulated).
#include <benchmark/benchmark.h>

#include <string>
#include <vector>

#include <reg4rec/kernels/gemm.hpp>

#include "bench_util.hpp"

using namespace reg4rec;

namespace {

constexpr double kPeakPerCore = 227e9;

struct gemm_case {
  const char* name;
  trans ta, tb;
  index_t M, N, K;
};

const std::vector<gemm_case>& cases() {
  constexpr index_t n = 20480;
  static const std::vector<gemm_case> c{
      // Transformer layers, forward y = x·W.
      {"fwd_qkv_20480x128x384", trans::no, trans::no, n, 384, 128},
      {"fwd_proj_20480x128x128", trans::no, trans::no, n, 128, 128},
      {"fwd_fc1_20480x128x512", trans::no, trans::no, n, 512, 128},
      {"fwd_fc2_20480x512x128", trans::no, trans::no, n, 128, 512},
      // Backward dx = dy·Wᵀ (NT).
      {"dx_qkv_20480x384x128", trans::no, trans::yes, n, 128, 384},
      {"dx_proj_20480x128x128", trans::no, trans::yes, n, 128, 128},
      {"dx_fc1_20480x512x128", trans::no, trans::yes, n, 128, 512},
      {"dx_fc2_20480x128x512", trans::no, trans::yes, n, 512, 128},
      // Backward dW += xᵀ·dy (TN).
      {"dW_qkv_128x384_k20480", trans::yes, trans::no, 128, 384, n},
      {"dW_proj_128x128_k20480", trans::yes, trans::no, 128, 128, n},
      {"dW_fc1_128x512_k20480", trans::yes, trans::no, 128, 512, n},
      {"dW_fc2_512x128_k20480", trans::yes, trans::no, 512, 128, n},
      // Tied head on a chunk of 1,024 rows: logits = h·Wᵀ, dh = g·W, dW += gᵀ·h.
      {"head_logits_1024x1100_k128", trans::no, trans::yes, 1024, 1100, 128},
      {"head_dh_1024x128_k1100", trans::no, trans::no, 1024, 128, 1100},
      {"head_dW_1100x128_k1024", trans::yes, trans::no, 1100, 128, 1024},
      // RQ-VAE, batch 1,024: encoder and decoder forward, and the backward of the widest layer.
      {"rq_enc1_1024x768x512", trans::no, trans::no, 1024, 512, 768},
      {"rq_enc2_1024x512x256", trans::no, trans::no, 1024, 256, 512},
      {"rq_enc3_1024x256x128", trans::no, trans::no, 1024, 128, 256},
      {"rq_enc4_1024x128x32", trans::no, trans::no, 1024, 32, 128},
      {"rq_dec1_1024x32x128", trans::no, trans::no, 1024, 128, 32},
      {"rq_dec4_1024x512x768", trans::no, trans::no, 1024, 768, 512},
      {"rq_dx_1024x512x768", trans::no, trans::yes, 1024, 768, 512},
      {"rq_dW_768x512_k1024", trans::yes, trans::no, 768, 512, 1024},
      {"square_512", trans::no, trans::no, 512, 512, 512},
  };
  return c;
}

matrix<float> random_matrix(index_t r, index_t c, std::uint64_t seed) {
  rng g(seed);
  matrix<float> m(r, c);
  for (index_t i = 0; i < m.size(); ++i) m.data()[i] = g.normal<float>();
  return m;
}

void run(benchmark::State& state, const gemm_case& s, bool ours) {
  const int threads = bench::threads_from(state, 0);
  Eigen::setNbThreads(threads);
  const auto A = s.ta == trans::yes ? random_matrix(s.K, s.M, 1) : random_matrix(s.M, s.K, 1);
  const auto B = s.tb == trans::yes ? random_matrix(s.N, s.K, 2) : random_matrix(s.K, s.N, 2);
  matrix<float> C = matrix<float>::Zero(s.M, s.N);
  const float beta = s.ta == trans::yes ? 1.0f : 0.0f;
  for (auto _ : state) {
    if (ours) {
      kernels::gemm<float>(s.ta, s.tb, 1.0f, A, B, beta, C);
    } else if (s.ta == trans::yes) {
      if (s.tb == trans::yes)
        C.noalias() += A.transpose() * B.transpose();
      else
        C.noalias() += A.transpose() * B;
    } else if (s.tb == trans::yes) {
      C.noalias() = A * B.transpose();
    } else {
      C.noalias() = A * B;
    }
    benchmark::DoNotOptimize(C.data());
    benchmark::ClobberMemory();
  }
  const double flops = 2.0 * double(s.M) * double(s.N) * double(s.K);
  bench::rate(state, "GFLOP/s", flops * 1e-9);
  bench::rate(state, "pct_peak", flops / (kPeakPerCore * threads) * 100.0);
}

// Registered at start-up from the table: every case on 1 thread, the RQ-VAE and 512³ on 2.
const bool registered = [] {
  for (const auto& s : cases()) {
    const bool two = std::string(s.name).rfind("rq_", 0) == 0 || std::string(s.name) == "square_512";
    for (bool ours : {true, false}) {
      auto* b = benchmark::RegisterBenchmark((std::string("gemm/") + s.name + (ours ? "/ours" : "/eigen")).c_str(),
                                            [&s, ours](benchmark::State& st) { run(st, s, ours); });
      b->ArgName("threads")->Arg(1)->Unit(benchmark::kMillisecond)->UseRealTime();
      if (two) b->Arg(2);
    }
  }
  return true;
}();

}  // namespace
