#include <catch2/catch.hpp>

#include <cmath>
#include <limits>
#include <map>

#include <reg4rec/quant.hpp>

#include "quant/quant_test_util.hpp"

using namespace reg4rec;

namespace {
// item:   0      1      2      3      4      5
// SID:  (0,0)  (0,0)  (0,1)  (0,1)  (0,1)  (1,0)
// x:    (1,0)  (0,1)  (1,0)  (1,0)  (2,0)  (0,-1)
struct hand_case {
  matrix<std::int32_t> codes{6, 2};
  matrix<float> x{6, 2};
  hand_case() {
    codes << 0, 0, 0, 0, 0, 1, 0, 1, 0, 1, 1, 0;
    x << 1, 0, 0, 1, 1, 0, 1, 0, 2, 0, 0, -1;
  }
};

double cosine(const float* a, const float* b, index_t d) {
  double ab = 0, aa = 0, bb = 0;
  for (index_t j = 0; j < d; ++j) ab += double(a[j]) * b[j], aa += double(a[j]) * a[j], bb += double(b[j]) * b[j];
  return aa > 0 && bb > 0 ? ab / std::sqrt(aa * bb) : 0.0;
}

// Brute force over explicit groups: SC from all pairs, PD from all pairs of centres.
std::pair<double, double> brute_force(const matrix<std::int32_t>& codes, const matrix<float>& x, index_t prefix) {
  std::map<std::vector<std::int32_t>, std::vector<index_t>> g;
  for (index_t i = 0; i < codes.rows(); ++i) g[std::vector<std::int32_t>(codes.row(i).data(), codes.row(i).data() + prefix)].push_back(i);
  double sc = 0;
  int sc_groups = 0;
  std::vector<Eigen::VectorXd> centres;
  for (const auto& kv : g) {
    const auto& m = kv.second;
    Eigen::VectorXd c = Eigen::VectorXd::Zero(x.cols());
    for (index_t i : m) c += x.row(i).cast<double>().transpose();
    centres.push_back(c);
    if (m.size() < 2) continue;
    double s = 0;
    for (std::size_t a = 0; a < m.size(); ++a)
      for (std::size_t b = a + 1; b < m.size(); ++b) s += cosine(x.row(m[a]).data(), x.row(m[b]).data(), x.cols());
    sc += s / (double(m.size()) * double(m.size() - 1) / 2);
    ++sc_groups;
  }
  double pd = 0;
  for (std::size_t a = 0; a < centres.size(); ++a)
    for (std::size_t b = a + 1; b < centres.size(); ++b) {
      const double na = centres[a].norm(), nb = centres[b].norm();
      const double cs = na > 0 && nb > 0 ? centres[a].dot(centres[b]) / (na * nb) : 0.0;
      pd += std::exp(-2 * (1 - cs));
    }
  const double pairs = double(centres.size()) * double(centres.size() - 1) / 2;
  return {sc_groups ? sc / sc_groups : std::nan(""), std::log(pd / pairs)};
}
}  // namespace

TEST_CASE("sid metrics: a hand-computed case", "[quant][sid_metrics]") {
  const hand_case h;
  const auto s = quant::compute_sid_stats(h.codes, 4, h.x);
  CHECK(s.num_items == 6);
  CHECK(s.utilisation == std::vector<double>{0.5, 0.5});
  CHECK(s.codes_used == std::vector<index_t>{2, 2});
  const double h0 = -(5.0 / 6 * std::log(5.0 / 6) + 1.0 / 6 * std::log(1.0 / 6));
  CHECK(s.perplexity[0] == Approx(std::exp(h0)).epsilon(1e-12));
  CHECK(s.perplexity[1] == Approx(2.0).epsilon(1e-12));
  CHECK(s.distinct_sids == 3);
  CHECK(s.collision_rate == Approx(5.0 / 6));
  CHECK(s.largest_bucket == 3);
  // SC: group (0,0) has cos 0, group (0,1) cos 1, the singleton does not count.
  CHECK(s.cohesion_groups == 2);
  CHECK(s.semantic_cohesion == Approx(0.5).margin(1e-12));
  // PD: unit centres (1,1)/√2, (1,0), (0,-1): cosines 1/√2, -1/√2, 0.
  const double r = 1 / std::sqrt(2.0);
  const double pd = std::log((std::exp(-2 * (1 - r)) + std::exp(-2 * (1 + r)) + std::exp(-2.0)) / 3);
  CHECK(s.groups == 3);
  CHECK(s.preference_discrimination == Approx(pd).epsilon(1e-6));
  CHECK(quant::semantic_cohesion(h.codes, h.x) == Approx(0.5).margin(1e-12));
  CHECK(quant::preference_discrimination(h.codes, h.x) == Approx(pd).epsilon(1e-6));
}

TEST_CASE("sid metrics: prefix groups and zero vectors", "[quant][sid_metrics]") {
  const hand_case h;
  // Prefix 1: group (0) = items 0..4 (6 of its 10 pairs have cos 1, 4 have cos 0), centre
  // (1, 0.2); group (1) = item 5, centre (0, -1). cos = -0.2/√1.04.
  quant::sid_metric_options o;
  o.prefix = 1;
  const auto s = quant::compute_sid_stats(h.codes, 4, h.x, o);
  CHECK(s.group_prefix == 1);
  CHECK(s.semantic_cohesion == Approx(0.6).margin(1e-12));
  CHECK(s.preference_discrimination == Approx(-2 * (1 + 0.2 / std::sqrt(1.04))).epsilon(1e-6));
  CHECK(s.distinct_sids == 3);  // full-SID statistics are unchanged
  // A zero vector has cosine 0 with everything: {(0,0), (1,0), (1,0)} → mean of (0, 0, 1) = 1/3.
  matrix<std::int32_t> codes(3, 1);
  codes << 0, 0, 0;
  matrix<float> x(3, 2);
  x << 0, 0, 1, 0, 1, 0;
  CHECK(quant::semantic_cohesion(codes, x) == Approx(1.0 / 3).margin(1e-12));
  // One group only: no pair of centres, PD is undefined; all SIDs distinct: SC is undefined.
  CHECK(std::isnan(quant::preference_discrimination(codes, x)));
  matrix<std::int32_t> distinct(3, 1);
  distinct << 0, 1, 2;
  CHECK(std::isnan(quant::semantic_cohesion(distinct, x)));
}

TEST_CASE("sid metrics: SC and PD equal brute force on random tables", "[quant][sid_metrics]") {
  // 2,000 items in up to 900 groups: PD's block products (512 centres) cover full, partial and
  // diagonal blocks.
  const auto codes = test::random_codes(2000, 2, 30, 1);
  const auto x = test::random_matrix<float>(2000, 5, 2);
  for (index_t prefix : {0, 1}) {
    const auto [sc, pd] = brute_force(codes, x, prefix == 0 ? 2 : 1);
    quant::sid_metric_options o;
    o.prefix = prefix;
    const auto s = quant::compute_sid_stats(codes, 30, x, o);
    CHECK(s.semantic_cohesion == Approx(sc).margin(1e-9));
    CHECK(s.preference_discrimination == Approx(pd).epsilon(1e-5));
  }
  // Thread count does not change the result.
  set_num_threads(1);
  const double pd1 = quant::preference_discrimination(codes, x);
  set_num_threads(2);
  CHECK(quant::preference_discrimination(codes, x) == pd1);
}

TEST_CASE("sid metrics: Markdown and JSON output", "[quant][sid_metrics]") {
  const hand_case h;
  const auto s = quant::compute_sid_stats(h.codes, 4, h.x);
  const auto md = s.to_markdown();
  CHECK(md.find("| collision rate | 0.8333 |") != std::string::npos);
  CHECK(md.find("utilisation[1]") != std::string::npos);
  const auto js = s.to_json();
  CHECK(js.find("\"distinct_sids\": 3") != std::string::npos);
  CHECK(js.find("\"largest_bucket\": 3") != std::string::npos);
  // Without vectors the semantic metrics are absent: NaN, written as null and n/a.
  const auto bare = quant::compute_sid_stats(h.codes, 4);
  CHECK(std::isnan(bare.semantic_cohesion));
  CHECK(bare.to_json().find("\"semantic_cohesion\": null") != std::string::npos);
  CHECK(bare.to_markdown().find("n/a") != std::string::npos);
}

TEST_CASE("sid metrics: bad input is a clear error", "[quant][sid_metrics]") {
  const hand_case h;
  CHECK_THROWS_AS(quant::compute_sid_stats(h.codes, 1), value_error);  // code 1 ≥ K = 1
  matrix<std::int32_t> empty(0, 2);
  CHECK_THROWS_AS(quant::compute_sid_stats(empty, 4), argument_error);
  const matrix<float> five = h.x.topRows(5);
  CHECK_THROWS_AS(quant::compute_sid_stats(h.codes, 4, five), dimension_error);
  auto bad = h.x;
  bad(2, 0) = std::numeric_limits<float>::quiet_NaN();
  CHECK_THROWS_WITH(quant::compute_sid_stats(h.codes, 4, bad), Catch::Contains("row 2"));
  quant::sid_metric_options o;
  o.prefix = 3;
  CHECK_THROWS_AS(quant::compute_sid_stats(h.codes, 4, h.x, o), argument_error);
  CHECK_THROWS_AS(quant::compute_sid_stats(h.codes, 0), argument_error);
}
