#include <catch2/catch.hpp>

#include <algorithm>
#include <set>

#include <reg4rec/quant.hpp>

#include "quant/quant_test_util.hpp"

using namespace reg4rec;

namespace {
bool carries(const matrix<std::int32_t>& codes, index_t i, const std::vector<quant::token>& part) {
  for (const auto& t : part)
    if (codes(i, t.codebook) != t.code) return false;
  return true;
}
std::vector<quant::token> random_partial(rng& g, index_t M, index_t K) {
  std::vector<std::int32_t> books(static_cast<std::size_t>(M));
  std::iota(books.begin(), books.end(), 0);
  g.shuffle(books.begin(), books.end());
  const auto size = static_cast<index_t>(g.below(static_cast<std::uint64_t>(M + 1)));
  std::vector<quant::token> p;
  for (index_t s = 0; s < size; ++s)
    p.push_back({books[s], static_cast<std::int32_t>(g.below(static_cast<std::uint64_t>(K)))});
  return p;
}
}  // namespace

TEST_CASE("posting_index: galloping search equals lower_bound", "[quant][posting_index]") {
  rng g(1);
  for (int trial = 0; trial < 200; ++trial) {
    std::vector<std::int32_t> v(g.below(60));
    for (auto& x : v) x = static_cast<std::int32_t>(g.below(100));
    std::sort(v.begin(), v.end());
    const auto n = static_cast<index_t>(v.size());
    const index_t from = n ? static_cast<index_t>(g.below(static_cast<std::uint64_t>(n + 1))) : 0;
    const auto value = static_cast<std::int32_t>(g.below(110));
    const index_t expect = std::max<index_t>(from, std::lower_bound(v.begin(), v.end(), value) - v.begin());
    CHECK(quant::detail::gallop(v.data(), n, from, value) == expect);
  }
}

TEST_CASE("posting_index: intersections and allowed codes agree with brute force", "[quant][posting_index]") {
  const index_t n = 400, M = 4, K = 6;
  // Skewed codes, so that posting lists have very different lengths.
  rng g(2);
  matrix<std::int32_t> codes(n, M);
  for (index_t i = 0; i < n; ++i)
    for (index_t r = 0; r < M; ++r) {
      const auto u = g.uniform<double>();
      codes(i, r) = static_cast<std::int32_t>(std::min<double>(K - 1, std::floor(K * u * u)));
    }
  const auto pop = test::random_popularity(n, 4, 3);
  const auto idx = quant::posting_index::build(codes, K, pop);
  for (index_t r = 0; r < M; ++r)
    for (index_t c = 0; c < K; ++c) {
      const auto list = idx.postings(r, c);
      CHECK(std::is_sorted(list.begin(), list.end()));
      for (auto i : list) CHECK(codes(i, r) == c);
    }
  for (int trial = 0; trial < 400; ++trial) {
    const auto part = random_partial(g, M, K);
    std::vector<std::int32_t> expect;
    for (index_t i = 0; i < n; ++i)
      if (carries(codes, i, part)) expect.push_back(static_cast<std::int32_t>(i));
    CHECK(idx.intersect(part) == expect);
    CHECK(idx.is_valid(part) == !expect.empty());
    for (index_t r = 0; r < M; ++r) {
      if (std::any_of(part.begin(), part.end(), [&](const quant::token& t) { return t.codebook == r; })) continue;
      std::set<std::int32_t> allowed;
      for (auto i : expect) allowed.insert(codes(i, r));
      CHECK(idx.allowed_codes(part, r) == std::vector<std::int32_t>(allowed.begin(), allowed.end()));
    }
  }
  // Canonical tuples: every item's own tuple, ranked by popularity then id.
  for (index_t i = 0; i < n; ++i) {
    const auto got = idx.items(cspan<std::int32_t>(codes.row(i).data(), M));
    std::vector<std::int32_t> expect;
    for (index_t j = 0; j < n; ++j)
      if (codes.row(j) == codes.row(i)) expect.push_back(static_cast<std::int32_t>(j));
    std::sort(expect.begin(), expect.end(), [&](std::int32_t a, std::int32_t b) {
      return pop[a] != pop[b] ? pop[a] > pop[b] : a < b;
    });
    CHECK(std::vector<std::int32_t>(got.begin(), got.end()) == expect);
    // The same set given as unordered tokens.
    std::vector<quant::token> set;
    for (index_t r = M - 1; r >= 0; --r) set.push_back({static_cast<std::int32_t>(r), codes(i, r)});
    CHECK(idx.items(set).size() == got.size());
  }
  std::vector<std::int32_t> absent{K - 1, K - 1, K - 1, K - 1};
  bool present = false;
  for (index_t i = 0; i < n; ++i) present |= codes.row(i) == Eigen::RowVector4i(K - 1, K - 1, K - 1, K - 1);
  if (!present) CHECK(idx.items(absent).empty());
}

TEST_CASE("posting_index: save and load round-trip", "[quant][posting_index]") {
  const auto codes = test::random_codes(150, 3, 5, 4);
  const auto pop = test::random_popularity(150, 9, 5);
  const auto idx = quant::posting_index::build(codes, 5, pop);
  test::temp_file f("postings.r4r");
  idx.save(f.path);
  quant::posting_index back;
  back.load(f.path);
  CHECK(back.codes().eigen() == codes);
  rng g(6);
  for (int trial = 0; trial < 50; ++trial) {
    const auto part = random_partial(g, 3, 5);
    CHECK(back.intersect(part) == idx.intersect(part));
  }
  for (index_t i = 0; i < 150; ++i) {
    const auto a = idx.items(cspan<std::int32_t>(codes.row(i).data(), 3));
    const auto b = back.items(cspan<std::int32_t>(codes.row(i).data(), 3));
    CHECK(std::vector<std::int32_t>(a.begin(), a.end()) == std::vector<std::int32_t>(b.begin(), b.end()));
  }
}

TEST_CASE("posting_index: bad input is a clear error", "[quant][posting_index]") {
  const auto codes = test::random_codes(30, 3, 4, 7);
  const auto idx = quant::posting_index::build(codes, 4);
  std::vector<quant::token> dup{{0, 1}, {0, 2}};
  CHECK_THROWS_WITH(idx.intersect(dup), Catch::Contains("appears twice"));
  std::vector<quant::token> out_of_range{{3, 0}};
  CHECK_THROWS_AS(idx.intersect(out_of_range), argument_error);
  std::vector<quant::token> bad_code{{1, 4}};
  CHECK_THROWS_AS(idx.is_valid(bad_code), argument_error);
  std::vector<quant::token> one{{1, 2}};
  CHECK_THROWS_AS(idx.allowed_codes(one, 1), argument_error);
  CHECK_THROWS_AS(idx.allowed_codes(one, 3), argument_error);
  std::vector<std::int32_t> short_tuple{1, 2};
  CHECK_THROWS_AS(idx.items(short_tuple), dimension_error);
  auto bad = codes;
  bad(0, 0) = 4;
  CHECK_THROWS_AS(quant::posting_index::build(bad, 4), value_error);
}
