// `reg4rec tokenize`: builds the item features of a dataset and runs one or several
// tokenizers on them, printing (and writing as JSON) what SPEC §3.4 asks of a tokenizer:
// per-codebook utilisation, collision rate before any deduplication, Semantic Cohesion,
// Preference Discrimination, reconstruction error and fit time. Optionally saves the codes.
#pragma once

#include <chrono>
#include <functional>
#include <string>
#include <vector>

#include <reg4rec/io/npy.hpp>
#include <reg4rec/quant.hpp>
#include <reg4rec/quant/mpq.hpp>
#include <reg4rec/quant/r3_vae.hpp>
#include <reg4rec/quant/rq_vae.hpp>

#include "generative.hpp"

namespace reg4rec::cli {

struct tokenizer_report {
  std::string method;
  quant::sid_stats stats;
  double reconstruction = 0;  // mean over items of ‖x − decode(encode(x))‖²
  double fit_seconds = 0;
  matrix<std::int32_t> codes;
};

template <class Q>
tokenizer_report run_tokenizer(const std::string& name, Q& q, cmatrix_view<float> x, const quant::fit_options& fo) {
  tokenizer_report r;
  r.method = name;
  const auto t0 = std::chrono::steady_clock::now();
  q.fit(x, fo);
  r.fit_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  r.codes = q.encode(x);
  r.stats = quant::compute_sid_stats(r.codes, q.codebook_size(), x);
  matrix<float> xr(x.rows(), x.cols());
  q.decode(r.codes, xr);
  r.reconstruction = (xr - x.eigen()).rowwise().squaredNorm().mean();
  return r;
}

inline std::vector<tokenizer_report> tokenize_all(cmatrix_view<float> x, const std::vector<std::string>& methods,
                                                  const run_settings& rs) {
  quant::fit_options fo;
  fo.seed = rs.seed;
  fo.log = rs.log;
  fo.nonfinite = nonfinite_policy(rs);
  const index_t epochs = rs.get_int("vae-epochs", rs.quick() ? 60 : 300);
  std::vector<tokenizer_report> out;
  for (const auto& m : methods) {
    if (rs.log) *rs.log << "== tokenizer " << m << "\n";
    fo.label = m;
    if (m == "rq-kmeans") {
      quant::rq_kmeans q(3, 256);
      fo.iterations = 25;
      out.push_back(run_tokenizer(m, q, x, fo));
    } else if (m == "rq-vae") {
      quant::rq_vae_config c;
      c.epochs = epochs;
      c.balance = codebook_balance_of(rs);
      quant::tiger_rq_vae q(c);
      out.push_back(run_tokenizer(m, q, x, fo));
    } else if (m == "r3-vae") {
      quant::r3_vae_config c;
      c.epochs = epochs;
      quant::r3_vae q(c);
      out.push_back(run_tokenizer(m, q, x, fo));
    } else if (m == "mpq") {
      quant::mpq_config c;
      c.epochs = epochs;
      c.experts = rs.get_int("experts", 4);
      c.expert_inputs = mpq_expert_inputs(rs, c.experts);
      c.balance = codebook_balance_of(rs);
      quant::reg4rec_mpq q(c);
      out.push_back(run_tokenizer(m, q, x, fo));
    } else {
      throw usage_error("unknown tokenizer '" + m + "' (rq-kmeans, rq-vae, r3-vae, mpq)");
    }
  }
  return out;
}

inline std::string tokenizer_table(const std::vector<tokenizer_report>& rs) {
  std::string s = "| tokenizer | tokens x codes | utilisation | perplexity | distinct SIDs | collision rate | largest bucket | SC | "
                  "PD | reconstruction MSE | fit s |\n|---|---|---|---|---|---|---|---|---|---|---|\n";
  char b[512];
  for (const auto& r : rs) {
    std::snprintf(b, sizeof b, "| %s | %ld x %ld | %.3f | %.1f | %ld | %.4f | %ld | %.4f | %.4f | %.4f | %.1f |\n",
                  r.method.c_str(), long(r.stats.num_codebooks), long(r.stats.codebook_size), r.stats.mean_utilisation(),
                  r.stats.mean_perplexity(),
                  long(r.stats.distinct_sids), r.stats.collision_rate, long(r.stats.largest_bucket),
                  r.stats.semantic_cohesion, r.stats.preference_discrimination, r.reconstruction, r.fit_seconds);
    s += b;
  }
  return s;
}

}  // namespace reg4rec::cli
