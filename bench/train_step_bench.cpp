// One full training step (forward + backward + AdamW) of a decoder-only causal transformer,
// the configuration of ../shared/anchors/torch_transformer_step.py: 4 layers, d_model 128,
// 4 heads, FFN 512, vocabulary 1,100, sequence 80, batch 256, tied output head.
// FLOPs per token = 3 × forward, forward = layers·(8d² + 4·d·d_ff + 4·L·d) + 2·d·V.
#include <benchmark/benchmark.h>

#include <reg4rec/model/causal_lm.hpp>
#include <reg4rec/optim.hpp>

#include "bench_util.hpp"

using namespace reg4rec;

namespace {

double flops_per_token(const model::causal_lm_config& c, index_t L) {
  const double d = double(c.d_model), f = double(c.d_ff);
  const double fwd = double(c.layers) * (8 * d * d + 4 * d * f + 4 * double(L) * d) + 2 * d * double(c.vocab);
  return 3 * fwd;
}

void BM_train_step(benchmark::State& state) {
  bench::threads_from(state, 0);
  model::causal_lm_config c;
  c.vocab = 1100;
  c.max_len = 80;
  c.d_model = 128;
  c.heads = 4;
  c.d_ff = 512;
  c.layers = 4;
  const index_t B = 256, L = 80;
  model::causal_lm<float> m(c, 1);
  optim::adamw opt({3e-4, 0.9, 0.999, 1e-8, 0.01});
  auto st = opt.init(m.params());
  rng g(2);
  matrix<std::int32_t> tok(B, L), tgt(B, L);
  for (index_t i = 0; i < tok.size(); ++i) tok.data()[i] = static_cast<std::int32_t>(g.below(1100));
  for (index_t i = 0; i < tgt.size(); ++i) tgt.data()[i] = static_cast<std::int32_t>(g.below(1100));
  for (int warm = 0; warm < 2; ++warm) {
    m.params().zero_grad();
    m.train_step(tok, tgt);
    opt.step(m.params(), st);
  }
  for (auto _ : state) {
    m.params().zero_grad();
    benchmark::DoNotOptimize(m.train_step(tok, tgt));
    opt.step(m.params(), st);
  }
  state.counters["tokens/s"] = benchmark::Counter(double(B * L), benchmark::Counter::kIsIterationInvariantRate);
  bench::rate(state, "GFLOP/s", flops_per_token(c, L) * double(B * L) * 1e-9);
}
BENCHMARK(BM_train_step)->Arg(1)->Arg(2)->Unit(benchmark::kMillisecond)->UseRealTime()->MinTime(3.0);

}  // namespace
