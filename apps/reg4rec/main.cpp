// The reg4rec command-line program: `reg4rec <command> [options]`, `reg4rec <command> --help`.
#include <chrono>
#include <cstdio>
#include <functional>
#include <iostream>
#include <map>
#include <string>
#include <vector>

#include <reg4rec/reg4rec.hpp>

#include "args.hpp"

namespace {

using namespace reg4rec;
using cli::args;
using cli::usage_error;

struct command {
  const char* summary;
  const char* usage;
  std::function<int(const std::vector<std::string>&)> run;
};

int cmd_info(const std::vector<std::string>& argv) {
  const args a(argv, {}, {});
  (void)a;
  std::printf("reg4rec %s\n", version_string);
  std::printf("  default backend : %s\n", default_backend::name());
  std::printf("  threads         : %d (OpenMP %s)\n", max_threads(), REG4REC_HAS_OPENMP ? "on" : "off");
  std::printf("  CUDA add-on     : %s\n", REG4REC_HAS_CUDA ? "built" : "not built");
  return 0;
}

// What exists so far, end to end: semantic-ID assignment of synthetic item vectors against a
// random codebook on each backend, with the agreement and the rate.
int cmd_pipeline(const std::vector<std::string>& argv) {
  const args a(argv, {"items", "dim", "codes", "seed"}, {});
  const index_t n = a.get_int("items", 100000), d = a.get_int("dim", 32), K = a.get_int("codes", 256);
  if (n < 1 || d < 1 || K < 1) throw usage_error("--items, --dim and --codes must be positive");
  rng g(static_cast<std::uint64_t>(a.get_int("seed", 1)));
  matrix<float> x(n, d), codes(K, d);
  for (index_t i = 0; i < x.size(); ++i) x.data()[i] = g.normal<float>();
  for (index_t i = 0; i < codes.size(); ++i) codes.data()[i] = g.normal<float>();
  std::vector<std::int32_t> idx_s(n), idx_v(n);
  std::vector<float> d_s(n), d_v(n);
  auto timed = [](auto&& f) {
    const auto t0 = std::chrono::steady_clock::now();
    f();
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  };
  const double ts = timed([&] { kernels::nearest<float>(backend::scalar{}, metric::l2, x, codes, idx_s, d_s); });
  const double tv = timed([&] { kernels::nearest<float>(default_backend{}, metric::l2, x, codes, idx_v, d_v); });
  index_t agree = 0;
  for (index_t i = 0; i < n; ++i) agree += idx_s[i] == idx_v[i];
  std::printf("nearest-code assignment of %ld vectors (d=%ld) to %ld codes\n", long(n), long(d), long(K));
  std::printf("| backend | vectors/s | GFLOP/s | agreement |\n|---|---|---|---|\n");
  std::printf("| scalar | %.0f | %.1f | reference |\n", n / ts, 2.0 * n * K * d / ts * 1e-9);
  std::printf("| %s | %.0f | %.1f | %.4f |\n", default_backend::name(), n / tv,
              2.0 * n * K * d / tv * 1e-9, double(agree) / n);
  return 0;
}

const std::map<std::string, command>& commands() {
  static const std::map<std::string, command> table{
      {"info", {"print the version, backend and threads", "reg4rec info", cmd_info}},
      {"pipeline",
       {"run the end-to-end job and print its table",
        "reg4rec pipeline [--items N] [--dim D] [--codes K] [--seed S]", cmd_pipeline}},
  };
  return table;
}

void print_usage(std::FILE* out) {
  std::fprintf(out, "usage: reg4rec <command> [options]   (reg4rec <command> --help)\n\ncommands:\n");
  for (const auto& [name, c] : commands()) std::fprintf(out, "  %-10s %s\n", name.c_str(), c.summary);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    print_usage(stderr);
    return 2;
  }
  const std::string name = argv[1];
  if (name == "-h" || name == "--help" || name == "help") {
    print_usage(stdout);
    return 0;
  }
  const auto it = commands().find(name);
  if (it == commands().end()) {
    std::fprintf(stderr, "reg4rec: unknown command '%s'\n", name.c_str());
    print_usage(stderr);
    return 2;
  }
  const std::vector<std::string> rest(argv + 2, argv + argc);
  try {
    for (const auto& a : rest)
      if (a == "-h" || a == "--help") {
        std::printf("usage: %s\n", it->second.usage);
        return 0;
      }
    return it->second.run(rest);
  } catch (const usage_error& e) {
    std::fprintf(stderr, "reg4rec %s: %s\nusage: %s\n", name.c_str(), e.what(), it->second.usage);
    return 2;
  } catch (const reg4rec::error& e) {
    std::fprintf(stderr, "reg4rec %s: %s\n", name.c_str(), e.what());
    return 1;
  }
}
