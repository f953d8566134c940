// reg4rec_anchor: the library's side of the reference measurements in ../shared/anchors/.
// Each workload mirrors an anchor script's configuration and timing (warm-up calls, then calls
// for at least a few seconds, median per call) and prints
//   ANCHOR lib.<anchor name> <value> <unit>
// so that run_all.py can time it in the same round-robin as PyTorch and Faiss:
//   /usr/bin/python3 ../shared/anchors/run_all.py torch_transformer_step
//       --extra lib='build/bench/reg4rec_anchor train_step'   (one command line)
#include <algorithm>
#include <array>
#include <cmath>
#include <set>
#include <chrono>
#include <cstdio>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include <reg4rec/decode/beam_search.hpp>
#include <reg4rec/decode/constraints.hpp>
#include <reg4rec/model/causal_lm.hpp>
#include <reg4rec/optim.hpp>
#include <reg4rec/quant/rq_vae.hpp>

using namespace reg4rec;

namespace {

// Per-call seconds: `warm` calls untimed, then calls until both min_iters and min_seconds.
std::vector<double> time_loop(const std::function<void()>& fn, double min_seconds, int warm = 2, int min_iters = 3) {
  for (int i = 0; i < warm; ++i) fn();
  std::vector<double> ts;
  const auto start = std::chrono::steady_clock::now();
  while (true) {
    const auto a = std::chrono::steady_clock::now();
    fn();
    const auto b = std::chrono::steady_clock::now();
    ts.push_back(std::chrono::duration<double>(b - a).count());
    if (int(ts.size()) >= min_iters && std::chrono::duration<double>(b - start).count() >= min_seconds) return ts;
  }
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const std::size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

void emit(const std::string& name, double value, const char* unit) {
  std::printf("ANCHOR %s %.6g %s\n", name.c_str(), value, unit);
  std::fflush(stdout);
}

void report(const char* what, const std::vector<double>& ts, double per_call, const char* unit) {
  std::fprintf(stderr, "[reg4rec_anchor] %s: %zu calls, median %.4f s (min %.4f, max %.4f) = %.6g %s, threads %d\n", what,
               ts.size(), median(ts), *std::min_element(ts.begin(), ts.end()), *std::max_element(ts.begin(), ts.end()),
               per_call / median(ts), unit, max_threads());
}

// torch_transformer_step: decoder-only, 4 layers, d 128, 4 heads, FFN 512, vocab 1,100,
// sequence 80, batch 256, tied head, AdamW (lr 3e-4, wd 0.01), dropout 0, random tokens.
void train_step() {
  model::causal_lm_config c;
  c.vocab = 1100;
  c.max_len = 80;
  c.d_model = 128;
  c.heads = 4;
  c.d_ff = 512;
  c.layers = 4;
  const index_t B = 256, T = 80;
  model::causal_lm<float> m(c, 0);
  optim::adamw opt({3e-4, 0.9, 0.999, 1e-8, 0.01});
  auto st = opt.init(m.params());
  rng g(0);
  matrix<std::int32_t> seq(B, T + 1), inp(B, T), tgt(B, T);
  for (index_t i = 0; i < seq.size(); ++i) seq.data()[i] = static_cast<std::int32_t>(g.below(c.vocab));
  inp = seq.leftCols(T);
  tgt = seq.rightCols(T);
  const auto ts = time_loop(
      [&] {
        m.params().zero_grad();
        m.train_step(inp, tgt);
        opt.step(m.params(), st);
      },
      5.0);
  report("train_step", ts, double(B * T), "tokens/s");
  emit("lib.torch_transformer_step", double(B * T) / median(ts), "tokens/s");
}

// torch_rqvae_step: encoder 768→512→256→128→32 (ReLU), 3 levels × 256 codes, mirrored decoder,
// straight-through, β = 0.25, Adam lr 1e-3, batch 1024, N(0, 1) input. rq_vae trains through
// fit(), so a step is timed as the difference between fits of 2 and 7 epochs of 20 batches
// each (100 steps); both fits include the same k-means initialisation on the first batch.
void rqvae_step() {
  const index_t B = 1024, n = 20 * B, d = 768;
  rng g(0);
  matrix<float> x(n, d);
  for (index_t i = 0; i < x.size(); ++i) x.data()[i] = g.normal<float>();
  auto fit_seconds = [&](index_t epochs) {
    quant::rq_vae_config c;
    c.hidden = {512, 256, 128};
    c.latent_dim = 32;
    c.levels = 3;
    c.codebook_size = 256;
    c.epochs = epochs;
    c.batch_size = B;
    c.lr = 1e-3;
    c.dead_code_reset = 0;
    quant::tiger_rq_vae m(c);
    const auto t0 = std::chrono::steady_clock::now();
    m.fit(x, quant::fit_options{});
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  };
  fit_seconds(1);  // warm-up: first touches of every buffer
  std::vector<double> per_step;
  for (int r = 0; r < 3; ++r) per_step.push_back((fit_seconds(7) - fit_seconds(2)) / 100.0);
  report("rqvae_step", per_step, 1.0, "steps/s");
  emit("lib.torch_rqvae_step", 1.0 / median(per_step), "steps/s");
}

// torch_beam_decode.trie: 12,101 items with unique 3-level SIDs (Zipf-ish first level), a
// 20-item history per user, beam 20, 3 steps, trie-constrained, 256 users per request,
// random weights. Our model is the encoder–decoder of the library at the same size: 2
// encoder + 2 decoder layers, d 128, 4 heads, FFN 512, token-level history (SEP + 3 tokens
// per item, 80 rows), so 4 transformer layers as the anchor's decoder-only model.
void beam_decode() {
  const index_t n_items = 12101, U = 256, hist = 20;
  rng g(0);
  matrix<std::int32_t> codes(n_items, 3);
  {
    std::vector<double> w(256);
    double tot = 0;
    for (int c = 0; c < 256; ++c) tot += w[c] = 1.0 / std::pow(double(c + 1), 0.7);
    std::set<std::array<std::int32_t, 3>> seen;
    index_t i = 0;
    while (i < n_items) {
      double u = g.uniform() * tot;
      std::int32_t a = 0;
      while (a < 255 && u >= w[a]) u -= w[a++];
      const std::array<std::int32_t, 3> sid{a, static_cast<std::int32_t>(g.below(256)), static_cast<std::int32_t>(g.below(256))};
      if (!seen.insert(sid).second) continue;
      for (int k = 0; k < 3; ++k) codes(i, k) = sid[k];
      ++i;
    }
  }
  model::generator_config c;
  c.d_model = 128;
  c.heads = 4;
  c.d_ff = 512;
  c.encoder_layers = 2;
  c.decoder_layers = 2;
  c.dropout = 0.0;
  c.max_history = hist;
  const model::sid_generator<float> m(c, model::sid_layout(std::vector<index_t>{256, 256, 256}), codes, 1);
  const auto trie = quant::prefix_trie::build(codes);
  const decode::trie_constraint tc(trie);
  decode::beam_options bo;
  bo.beam = 20;
  bo.top_k = 10;
  bo.users_per_chunk = 128;
  const decode::beam_search<float, decode::trie_constraint> bs(m, tc, bo);
  std::vector<std::vector<std::int32_t>> histories(U);
  std::vector<cspan<std::int32_t>> views;
  for (auto& h : histories) {
    for (index_t k = 0; k < hist; ++k) h.push_back(static_cast<std::int32_t>(g.below(n_items)));
    views.emplace_back(h.data(), hist);
  }
  const auto ts = time_loop([&] { bs.recommend(views); }, 4.0);
  report("beam_decode (trie)", ts, double(U), "users/s");
  emit("lib.torch_beam_decode.trie", double(U) / median(ts), "users/s");
}

const std::map<std::string, std::function<void()>>& workloads() {
  static const std::map<std::string, std::function<void()>> w{
      {"train_step", train_step}, {"rqvae_step", rqvae_step}, {"beam_decode", beam_decode}};
  return w;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2 || !workloads().count(argv[1])) {
    std::fprintf(stderr, "usage: reg4rec_anchor <workload> [threads]\nworkloads:");
    for (const auto& kv : workloads()) std::fprintf(stderr, " %s", kv.first.c_str());
    std::fprintf(stderr, "\n");
    return 2;
  }
  set_num_threads(argc > 2 ? std::atoi(argv[2]) : 2);
  try {
    workloads().at(argv[1])();
  } catch (const reg4rec::error& e) {
    std::fprintf(stderr, "reg4rec_anchor: %s\n", e.what());
    return 1;
  }
  return 0;
}
