#include <catch2/catch.hpp>

#include <cmath>
#include <limits>

#include <reg4rec/quant.hpp>

#include "quant/quant_test_util.hpp"

using namespace reg4rec;

namespace {
// Codebooks whose scale shrinks level by level, like trained residual codebooks.
std::vector<matrix<float>> make_books(const std::vector<index_t>& K, index_t d, std::uint64_t seed) {
  std::vector<matrix<float>> b;
  float scale = 2.0f;
  for (std::size_t l = 0; l < K.size(); ++l, scale *= 0.5f)
    b.push_back(test::random_matrix<float>(K[l], d, seed + l, scale));
  return b;
}

// Exhaustive search over every path: the minimum of ‖x − Σ_l C_l[c_l]‖² (l2) or of
// Σ_l (1 − cos(r_l, C_l[c_l])) (cosine), in double.
struct path_result {
  std::vector<std::int32_t> codes;
  double score;
};
path_result exhaustive(const std::vector<matrix<float>>& books, const float* x, index_t d, bool cosine) {
  const index_t L = static_cast<index_t>(books.size());
  std::vector<std::int32_t> c(L, 0);
  path_result best{c, std::numeric_limits<double>::infinity()};
  while (true) {
    std::vector<double> r(x, x + d);
    double score = 0;
    for (index_t l = 0; l < L; ++l) {
      const auto cw = books[l].row(c[l]);
      if (cosine) {
        double dot = 0, nr = 0, nc = 0;
        for (index_t j = 0; j < d; ++j) dot += r[j] * cw[j], nr += r[j] * r[j], nc += double(cw[j]) * cw[j];
        score += 1.0 - (nr > 0 && nc > 0 ? dot / std::sqrt(nr * nc) : 0.0);
      }
      for (index_t j = 0; j < d; ++j) r[j] -= cw[j];
    }
    if (!cosine)
      for (index_t j = 0; j < d; ++j) score += r[j] * r[j];
    if (score < best.score) best = {c, score};
    index_t l = L - 1;
    while (l >= 0 && ++c[l] == books[l].rows()) c[l--] = 0;
    if (l < 0) break;
  }
  return best;
}

template <class Enc>
double path_score(const Enc& enc, const std::vector<matrix<float>>& books, const float* x, index_t d,
                  const std::int32_t* codes, bool cosine) {
  (void)enc;
  std::vector<double> r(x, x + d);
  double score = 0;
  for (std::size_t l = 0; l < books.size(); ++l) {
    const auto cw = books[l].row(codes[l]);
    if (cosine) {
      double dot = 0, nr = 0, nc = 0;
      for (index_t j = 0; j < d; ++j) dot += r[j] * cw[j], nr += r[j] * r[j], nc += double(cw[j]) * cw[j];
      score += 1.0 - (nr > 0 && nc > 0 ? dot / std::sqrt(nr * nc) : 0.0);
    }
    for (index_t j = 0; j < d; ++j) r[j] -= cw[j];
  }
  if (!cosine)
    for (index_t j = 0; j < d; ++j) score += r[j] * r[j];
  return score;
}
}  // namespace

TEST_CASE("residual_encode: a beam of at least prod(K_l, l < L-1) is the exhaustive optimum",
          "[quant][residual_encode]") {
  const index_t d = 6, n = 60;
  for (const std::vector<index_t>& K : {std::vector<index_t>{4, 4, 4}, std::vector<index_t>{2, 8, 5},
                                        std::vector<index_t>{3, 3, 3, 3}}) {
    const auto books = make_books(K, d, 10 + K[1]);
    const auto x = test::random_matrix<float>(n, d, 20, 2.0f);
    index_t B = 1;
    for (std::size_t l = 0; l + 1 < K.size(); ++l) B *= K[l];
    SECTION("l2, K = " + std::to_string(K[0]) + "," + std::to_string(K[1])) {
      quant::residual_encoder<> enc(books);
      matrix<std::int32_t> codes(n, static_cast<index_t>(K.size()));
      std::vector<float> score(n);
      enc.encode(x, B, codes, score);
      for (index_t i = 0; i < n; ++i) {
        const auto best = exhaustive(books, x.row(i).data(), d, false);
        const double got = path_score(enc, books, x.row(i).data(), d, codes.row(i).data(), false);
        INFO("row " << i);
        CHECK(got <= best.score + 1e-4 * (1 + best.score));
        CHECK(std::abs(score[i] - got) <= 1e-4 * (1 + got));
      }
    }
    SECTION("cosine, K = " + std::to_string(K[0]) + "," + std::to_string(K[1])) {
      quant::residual_encoder<quant::cosine_distance> enc(books);
      matrix<std::int32_t> codes(n, static_cast<index_t>(K.size()));
      std::vector<float> score(n);
      enc.encode(x, B, codes, score);
      for (index_t i = 0; i < n; ++i) {
        const auto best = exhaustive(books, x.row(i).data(), d, true);
        const double got = path_score(enc, books, x.row(i).data(), d, codes.row(i).data(), true);
        INFO("row " << i);
        CHECK(got <= best.score + 1e-4);
        CHECK(std::abs(score[i] - got) <= 1e-4);
      }
    }
  }
}

TEST_CASE("residual_encode: greedy takes each level's nearest code", "[quant][residual_encode]") {
  const index_t d = 16, n = 200;
  const auto books = make_books({32, 32, 32}, d, 30);
  const auto x = test::random_matrix<float>(n, d, 31, 2.0f);
  quant::residual_encoder<> enc(books);
  matrix<std::int32_t> codes(n, 3);
  enc.encode(x, 1, codes);
  for (index_t i = 0; i < n; ++i) {
    std::vector<float> r(x.row(i).data(), x.row(i).data() + d);
    for (index_t l = 0; l < 3; ++l) {
      double best = 1e300;
      for (index_t k = 0; k < 32; ++k) best = std::min(best, test::sqdist(r.data(), books[l].row(k).data(), d));
      const double got = test::sqdist(r.data(), books[l].row(codes(i, l)).data(), d);
      CHECK(got <= best * (1 + 1e-5) + 1e-6);
      for (index_t j = 0; j < d; ++j) r[j] -= books[l](codes(i, l), j);
    }
  }
}

TEST_CASE("residual_encode: wider beams never do worse than greedy on average", "[quant][residual_encode]") {
  const auto m = test::make_mixture(2000, 12, 30, 40);
  quant::rq_kmeans rq(3, 16);
  rq.fit(m.x);
  const auto& enc = rq.encoder();
  matrix<std::int32_t> codes(m.x.rows(), 3);
  enc.encode(m.x, 1, codes);
  const double greedy = test::mean_sq_error(m.x, rq.decode(codes));
  double prev = greedy;
  for (index_t B : {2, 4, 8, 16}) {
    enc.encode(m.x, B, codes);
    const double e = test::mean_sq_error(m.x, rq.decode(codes));
    INFO("beam " << B << ": " << e << " vs greedy " << greedy);
    CHECK(e <= greedy * (1 + 1e-6));
    CHECK(e <= prev * (1 + 1e-3));  // and (almost always) not worse than a narrower beam
    prev = e;
  }
  CHECK(prev < greedy);
}

TEST_CASE("residual_encode: batches, threads and scores are consistent", "[quant][residual_encode]") {
  const index_t d = 10, n = 777;
  const auto books = make_books({20, 20, 20}, d, 50);
  const auto x = test::random_matrix<float>(n, d, 51, 2.0f);
  for (index_t B : {1, 3}) {
    quant::residual_encoder<> a(books), b(books);
    b.set_batch_rows(7);
    matrix<std::int32_t> ca(n, 3), cb(n, 3), c1(n, 3);
    std::vector<float> sa(n), sb(n);
    set_num_threads(2);
    a.encode(x, B, ca, sa);
    b.encode(x, B, cb, sb);
    set_num_threads(1);
    a.encode(x, B, c1);
    set_num_threads(2);
    CHECK(ca == cb);
    CHECK(ca == c1);
    CHECK(sa == sb);
    // The l2 score is the squared reconstruction error.
    matrix<float> xhat(n, d);
    a.decode(ca, xhat);
    for (index_t i = 0; i < n; ++i) {
      const double e = test::sqdist(x.row(i).data(), xhat.row(i).data(), d);
      CHECK(std::abs(sa[i] - e) <= 1e-4 * (1 + e));
    }
  }
  // A strided input view encodes like a packed copy.
  matrix<float> wide(n, d + 3);
  wide.leftCols(d) = x;
  quant::residual_encoder<> a(books);
  matrix<std::int32_t> cv(n, 3), cp(n, 3);
  a.encode(cmatrix_view<float>(wide).middle_cols(0, d), 2, cv);
  a.encode(x, 2, cp);
  CHECK(cv == cp);
}

TEST_CASE("residual_encode: bad input is a clear error", "[quant][residual_encode]") {
  const auto books = make_books({8, 8}, 4, 60);
  quant::residual_encoder<> enc(books);
  auto x = test::random_matrix<float>(300, 4, 61);
  matrix<std::int32_t> codes(300, 2);
  CHECK_THROWS_AS(enc.encode(x, 0, codes), argument_error);
  CHECK_THROWS_WITH(enc.encode(x, 0, codes), Catch::Contains("beam width"));
  const auto x5 = test::random_matrix<float>(300, 5, 62);
  CHECK_THROWS_AS(enc.encode(x5, 1, codes), dimension_error);
  matrix<std::int32_t> short_codes(300, 3);
  CHECK_THROWS_AS(enc.encode(x, 1, short_codes), dimension_error);
  x(271, 1) = std::numeric_limits<float>::quiet_NaN();
  CHECK_THROWS_WITH(enc.encode(x, 2, codes), Catch::Contains("row 271"));
  matrix<std::int32_t> bad(2, 2);
  bad << 0, 1, 2, 8;
  matrix<float> out(2, 4);
  CHECK_THROWS_AS(enc.decode(bad, out), value_error);
  CHECK_THROWS_AS(quant::residual_encoder<>(std::vector<matrix<float>>{}), argument_error);
  std::vector<matrix<float>> mixed{test::random_matrix<float>(4, 3, 1), test::random_matrix<float>(4, 2, 2)};
  CHECK_THROWS_AS(quant::residual_encoder<>(mixed), dimension_error);
  std::vector<matrix<float>> nan_book{test::random_matrix<float>(4, 3, 1)};
  nan_book[0](2, 1) = std::numeric_limits<float>::infinity();
  CHECK_THROWS_AS(quant::residual_encoder<>(nan_book), value_error);
  // n = 0 is a no-op; a beam larger than every K is clamped per level.
  matrix<float> none(0, 4);
  matrix<std::int32_t> no_codes(0, 2);
  CHECK_NOTHROW(enc.encode(none, 3, no_codes));
  matrix<std::int32_t> c(5, 2);
  const matrix<float> first = x.topRows(5);
  CHECK_NOTHROW(enc.encode(first, 100, c));
}

TEST_CASE("residual_encode: after the first batch, encoding allocates no scratch", "[quant][residual_encode]") {
  const auto books = make_books({64, 64, 64}, 16, 70);
  quant::residual_encoder<> enc(books);
  enc.set_batch_rows(100);
  set_num_threads(1);
  const auto x = test::random_matrix<float>(1000, 16, 71);
  matrix<std::int32_t> codes(1000, 3);
  for (index_t B : {1, 4}) {
    enc.encode(cmatrix_view<float>(x).middle_rows(0, 100), B,
               matrix_view<std::int32_t>(codes).middle_rows(0, 100));  // one batch: the workspace grows
    const auto cap = thread_workspace().capacity();
    enc.encode(x, B, codes);  // ten batches of the same size
    CHECK(thread_workspace().capacity() == cap);
  }
  set_num_threads(2);
}
