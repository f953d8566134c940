// reg4rec_anchor: the library's side of the reference measurements in ../shared/anchors/.
// Each workload mirrors an anchor script's configuration and timing (warm-up calls, then calls
// for at least a few seconds, median per call) and prints
//   ANCHOR lib.<anchor name> <value> <unit>
// so that run_all.py can time it in the same round-robin as PyTorch and Faiss:
//   /usr/bin/python3 ../shared/anchors/run_all.py torch_transformer_step \
//       --extra lib='build/bench/reg4rec_anchor train_step'
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include <reg4rec/model/causal_lm.hpp>
#include <reg4rec/optim.hpp>

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

const std::map<std::string, std::function<void()>>& workloads() {
  static const std::map<std::string, std::function<void()>> w{{"train_step", train_step}};
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
