#include <catch2/catch.hpp>

#include <sstream>

#include <reg4rec/data/item_features.hpp>
#include <reg4rec/data/item_metadata.hpp>
#include <reg4rec/data/sequence_loader.hpp>

#include "data/fixtures.hpp"

using namespace reg4rec;
using test::temp_file;

namespace {
double cosine(const matrix<float>& f, index_t a, index_t b) {
  const double na = f.row(a).norm(), nb = f.row(b).norm();
  return na > 0 && nb > 0 ? double(f.row(a).dot(f.row(b))) / (na * nb) : 0.0;
}

// Mean cosine of pairs sharing a leaf category vs random pairs.
std::pair<double, double> category_cohesion(const matrix<float>& f, const std::vector<std::int32_t>& cat,
                                            std::uint64_t seed) {
  std::vector<std::vector<index_t>> members;
  for (index_t i = 0; i < static_cast<index_t>(cat.size()); ++i) {
    if (cat[i] < 0) continue;
    if (members.size() <= std::size_t(cat[i])) members.resize(cat[i] + 1);
    members[cat[i]].push_back(i);
  }
  rng g(seed);
  double same = 0, random = 0;
  const int pairs = 4000;
  for (int p = 0; p < pairs; ++p) {
    const index_t a = static_cast<index_t>(g.below(cat.size()));
    const auto& m = members[cat[a]];
    index_t b = m[g.below(m.size())];
    same += cosine(f, a, b);
    random += cosine(f, a, static_cast<index_t>(g.below(cat.size())));
  }
  return {same / pairs, random / pairs};
}

const data::sequence_dataset& beauty() {
  static const auto d = data::load_sequences(test::beauty_dir() + "/Beauty.txt");
  return d;
}
const data::item_metadata& beauty_meta() {
  static const auto m = data::load_item_metadata(test::beauty_dir() + "/items.tsv", beauty().item_ids());
  return m;
}
}  // namespace

TEST_CASE("text features: tokenizer", "[data][features]") {
  CHECK(data::tokenize("OPI Nail Lacquer, Simmer-and-Shimmer 0.5oz") ==
        std::vector<std::string>{"opi", "nail", "lacquer", "simmer", "and", "shimmer", "5oz"});
  CHECK(data::tokenize("L'Oréal  A B") == std::vector<std::string>{"oréal"});
  CHECK(data::tokenize("").empty());
}

TEST_CASE("text features: hashed TF-IDF by hand", "[data][features]") {
  temp_file f("tfidf.tsv",
              "item_id\ttitle\nX\talpha beta\nY\talpha gamma gamma\nZ\talpha delta\nW\t\n");
  const auto m = data::load_item_metadata(f.path(), data::id_map({"X", "Y", "Z", "W"}));
  data::text_feature_options o;
  o.bigrams = false;
  o.signed_hash = false;
  const auto t = data::hashed_tfidf(m, o);
  REQUIRE(t.x.cols() == 4);  // alpha beta gamma delta, no collision among 2^18 buckets
  CHECK(t.x.rows() == 4);
  const Eigen::MatrixXd x = t.x;
  // idf(alpha) = ln(5/4) + 1 (3 of 4 items), idf(beta) = ln(5/2) + 1; tf(gamma) = 1 + ln 2.
  const double ia = std::log(5.0 / 4.0) + 1, ib = std::log(5.0 / 2.0) + 1;
  const Eigen::RowVectorXd r0 = x.row(0);
  std::vector<double> nz;
  for (index_t c = 0; c < 4; ++c)
    if (r0(c) != 0) nz.push_back(r0(c));
  REQUIRE(nz.size() == 2);
  std::sort(nz.begin(), nz.end());
  const double norm = std::sqrt(ia * ia + ib * ib);
  CHECK(nz[0] == Approx(ia / norm));
  CHECK(nz[1] == Approx(ib / norm));
  const Eigen::RowVectorXd r1 = x.row(1);
  CHECK(r1.maxCoeff() == Approx((1 + std::log(2.0)) * ib / std::sqrt(ia * ia + std::pow((1 + std::log(2.0)) * ib, 2))));
  CHECK(x.row(3).norm() == 0.0);  // no text
  for (index_t i = 0; i < 3; ++i) CHECK(x.row(i).norm() == Approx(1.0));

  // With bigrams and signs: still unit rows, more buckets.
  const auto tb = data::hashed_tfidf(m, {});
  CHECK(tb.x.cols() == 8);  // + "alpha beta", "alpha gamma", "gamma gamma", "alpha delta"
  for (index_t i = 0; i < 3; ++i) CHECK(Eigen::MatrixXd(tb.x).row(i).norm() == Approx(1.0));
}

TEST_CASE("text features: Beauty, unit rows, seeded, categories cohere", "[data][features][beauty]") {
  data::text_feature_options o;
  o.dim = 64;
  o.power_iterations = 1;
  const auto f = data::text_features(beauty_meta(), o);
  REQUIRE(f.rows() == 12101);
  REQUIRE(f.cols() == 64);
  CHECK((f.rowwise().norm().array() - 1.0f).abs().maxCoeff() < 1e-5f);
  CHECK(data::text_features(beauty_meta(), o) == f);
  const auto [same, random] = category_cohesion(f, beauty_meta().leaf_category(), 5);
  INFO("same category " << same << ", random pairs " << random);
  CHECK(same > random + 0.2);
}

TEST_CASE("behaviour features: co-occurrence counted by hand", "[data][features]") {
  // user 1 trains on 1 2 3 1 (then 4 5 held out); user 2 is short (2 items, all training).
  temp_file f("cooc.txt", "1 1 2 3 1 4 5\n2 2 3\n");
  const auto d = data::load_sequences(f.path());
  const data::leave_one_out_split s(d);
  data::behaviour_feature_options o;
  o.window = 2;
  const Eigen::MatrixXd c = data::cooccurrence(s, o);
  // Pairs within distance 2 of [0 1 2 0]: (0,1) d1, (0,2) d2, (1,2) d1, (1,0) d2, (2,0) d1;
  // user 2: (1,2) d1. Weights 1/d, symmetric; the pair (0,0) at distance 3 is out of the window.
  CHECK(c(0, 1) == Approx(1.0 + 0.5));
  CHECK(c(0, 2) == Approx(0.5 + 1.0));
  CHECK(c(1, 2) == Approx(1.0 + 1.0));
  CHECK(c(1, 0) == c(0, 1));
  CHECK(c(0, 0) == 0.0);
  CHECK(c.col(3).norm() == 0.0);  // items 4 and 5 are held out: never counted
  CHECK(c.col(4).norm() == 0.0);
  o.distance_weighting = false;
  CHECK(Eigen::MatrixXd(data::cooccurrence(s, o))(0, 1) == 2.0);

  // PPMI: C = [[0,2],[2,0]] has PMI ln(2·4/(2·2)) = ln 2 with alpha = 1.
  data::sparse_matrix c2(2, 2);
  c2.insert(0, 1) = 2;
  c2.insert(1, 0) = 2;
  const Eigen::MatrixXd p = data::ppmi(c2, 1.0);
  CHECK(p(0, 1) == Approx(std::log(2.0)));
}

TEST_CASE("behaviour features: held-out targets cannot leak", "[data][features]") {
  // Two datasets with the same training prefixes and different held-out items. In `leaky`
  // the held-out pair is always (19, 20), adjacent: if they were counted, 19 and 20 would be
  // the strongest pair of the data.
  rng g(3);
  std::string leaky = "1", other = "1";
  for (int i = 1; i <= 20; ++i) leaky += " " + std::to_string(i), other += " " + std::to_string(i);
  leaky += " 19 20\n";
  other += " 3 7\n";
  for (int u = 2; u <= 60; ++u) {
    std::string prefix = std::to_string(u);
    const int len = 3 + static_cast<int>(g.below(4));
    for (int k = 0; k < len; ++k) prefix += " " + std::to_string(1 + g.below(18));
    leaky += prefix + " 19 20\n";
    other += prefix + " " + std::to_string(1 + g.below(20)) + " " + std::to_string(1 + g.below(20)) + "\n";
  }
  temp_file fa("leak_a.txt", leaky), fb("leak_b.txt", other);
  const auto da = data::load_sequences(fa.path()), db = data::load_sequences(fb.path());
  REQUIRE(da.n_items() == 20);
  REQUIRE(db.n_items() == 20);
  const data::leave_one_out_split sa(da), sb(db);
  data::behaviour_feature_options o;
  o.dim = 8;
  const Eigen::MatrixXd ca = data::cooccurrence(sa, o), cb = data::cooccurrence(sb, o);
  CHECK(ca == cb);
  CHECK(ca(18, 19) == Approx(1.0));  // only user 1's training run "... 19 20"
  const auto fa_ = data::behaviour_features(sa, o), fb_ = data::behaviour_features(sb, o);
  CHECK(fa_ == fb_);
  // The overload on counts (what item_features uses to build them once) gives the same rows.
  CHECK(data::behaviour_features(data::sparse_matrix(ca.sparseView()), o) == fa_);
  CHECK_THROWS_AS(data::behaviour_features(data::sparse_matrix(20, 19), o), dimension_error);
}

TEST_CASE("item features: [text ; behaviour] on Beauty", "[data][features][beauty]") {
  const data::leave_one_out_split s(beauty());
  data::item_feature_options o;
  o.text.dim = 32;
  o.text.power_iterations = 1;
  o.behaviour.dim = 16;
  o.behaviour.power_iterations = 1;
  std::ostringstream log;
  o.log = &log;
  const auto x = data::item_features(beauty_meta(), s, o);
  REQUIRE(x.rows() == 12101);
  REQUIRE(x.cols() == 48);
  CHECK(log.str().find("text features") != std::string::npos);
  CHECK(log.str().find("behaviour features") != std::string::npos);
  index_t unit = 0, text_only = 0;
  for (index_t i = 0; i < x.rows(); ++i) {
    const float n = x.row(i).norm(), nt = x.row(i).head(32).norm(), nb = x.row(i).tail(16).norm();
    if (std::abs(n - 1.0f) < 1e-5f && std::abs(nt - std::sqrt(0.5f)) < 1e-5f && std::abs(nb - std::sqrt(0.5f)) < 1e-5f) ++unit;
    if (nb == 0.0f && std::abs(nt - std::sqrt(0.5f)) < 1e-5f) ++text_only;
  }
  CHECK(unit + text_only == x.rows());
  CHECK(text_only < 50);  // items without any training co-occurrence are rare
  const auto [same, random] = category_cohesion(x, beauty_meta().leaf_category(), 9);
  INFO("same category " << same << ", random pairs " << random);
  CHECK(same > random + 0.1);
  CHECK_THROWS_AS(data::concat_features(x, x.topRows(5)), dimension_error);
}
