#include <catch2/catch.hpp>

#include <algorithm>
#include <map>
#include <set>

#include <reg4rec/quant.hpp>

#include "quant/quant_test_util.hpp"

using namespace reg4rec;

namespace {
using sid_key = std::vector<std::int32_t>;
sid_key key(cspan<std::int32_t> s) { return sid_key(s.begin(), s.end()); }
sid_key row_key(const matrix<std::int32_t>& c, index_t i) { return sid_key(c.row(i).data(), c.row(i).data() + c.cols()); }

// Items of each SID of `codes`, by decreasing popularity then id (brute force).
std::map<sid_key, std::vector<std::int32_t>> groups(const matrix<std::int32_t>& codes,
                                                    const std::vector<std::int64_t>& pop) {
  std::map<sid_key, std::vector<std::int32_t>> g;
  for (index_t i = 0; i < codes.rows(); ++i) g[row_key(codes, i)].push_back(static_cast<std::int32_t>(i));
  for (auto& kv : g)
    std::sort(kv.second.begin(), kv.second.end(), [&](std::int32_t a, std::int32_t b) {
      return pop[a] != pop[b] ? pop[a] > pop[b] : a < b;
    });
  return g;
}

// Every SID maps to exactly one item and item → SID → item is the identity.
template <class Table>
void check_bijective(const Table& t) {
  std::set<sid_key> seen;
  for (index_t i = 0; i < t.num_items(); ++i) {
    const auto s = t.sid(i);
    CHECK(seen.insert(key(s)).second);
    const auto items = t.items(s);
    REQUIRE(items.size() == 1);
    CHECK(items[0] == i);
    CHECK(t.item(s) == i);
  }
  CHECK(t.num_sids() == t.num_items());
}
}  // namespace

TEST_CASE("sid_table<append_dedup_token>: TIGER's extra token numbers items by popularity", "[quant][sid_table]") {
  const auto codes = test::random_codes(500, 2, 8, 1);  // 64 SIDs for 500 items: many collisions
  const auto pop = test::random_popularity(500, 5, 2);   // ties in popularity too
  const auto t = quant::sid_table<quant::append_dedup_token>::build(codes, 8, pop);
  REQUIRE(t.sid_length() == 3);
  check_bijective(t);
  const auto g = groups(codes, pop);
  index_t largest = 0;
  for (const auto& kv : g) {
    largest = std::max<index_t>(largest, kv.second.size());
    for (std::size_t r = 0; r < kv.second.size(); ++r) {
      const auto s = t.sid(kv.second[r]);
      CHECK(s[0] == kv.first[0]);
      CHECK(s[1] == kv.first[1]);
      CHECK(s[2] == static_cast<std::int32_t>(r));
    }
  }
  CHECK(t.dedup_range() == largest);
  CHECK(t.vocabulary(2) == largest);
  CHECK(t.vocabulary(0) == 8);
  // Unknown SIDs find nothing.
  std::vector<std::int32_t> unknown{0, 0, static_cast<std::int32_t>(largest)};
  CHECK(t.items(unknown).empty());
  CHECK(t.item(unknown) == -1);
}

TEST_CASE("sid_table<rank_by_popularity>: shared SIDs list their items by popularity", "[quant][sid_table]") {
  const auto codes = test::random_codes(400, 3, 4, 3);
  const auto pop = test::random_popularity(400, 10, 4);
  const auto t = quant::sid_table<quant::rank_by_popularity>::build(codes, 4, pop);
  REQUIRE(t.sid_length() == 3);
  const auto g = groups(codes, pop);
  CHECK(t.num_sids() == static_cast<index_t>(g.size()));
  // (SID, rank) ↔ item is a bijection.
  std::vector<int> hits(400, 0);
  for (const auto& kv : g) {
    const auto items = t.items(kv.first);
    REQUIRE(items.size() == static_cast<index_t>(kv.second.size()));
    for (index_t r = 0; r < items.size(); ++r) {
      CHECK(items[r] == kv.second[r]);
      ++hits[items[r]];
      CHECK(key(t.sid(items[r])) == kv.first);
    }
  }
  CHECK(std::all_of(hits.begin(), hits.end(), [](int h) { return h == 1; }));
}

TEST_CASE("sid_table<reassign_nearest_free>: colliding items move to their nearest free last code", "[quant][sid_table]") {
  SECTION("a hand-checked case") {
    matrix<std::int32_t> codes(4, 1);
    codes << 0, 0, 0, 2;
    std::vector<std::int64_t> pop{1, 5, 3, 0};
    matrix<std::int32_t> cand(4, 4);
    cand << 0, 3, 2, 1,  // item 0 goes last: 0, 3 and 2 are taken by then, so 1
        0, 1, 2, 3,      // item 1 (most popular) keeps 0
        0, 3, 1, 2,      // item 2 takes 3
        2, 0, 1, 3;      // item 3 keeps 2
    const auto t = quant::sid_table<quant::reassign_nearest_free>::build(codes, 4, pop, cand);
    CHECK(t.sid(1)[0] == 0);
    CHECK(t.sid(2)[0] == 3);
    CHECK(t.sid(3)[0] == 2);
    CHECK(t.sid(0)[0] == 1);  // 0, 3 and 2 are used: its next candidate, 1
    CHECK(t.reassigned_items() == 2);
    CHECK(t.fallback_items() == 0);
    check_bijective(t);
  }
  SECTION("random tables: unique SIDs, unchanged prefixes, holders keep their code") {
    const index_t n = 600, K = 40;
    const auto codes = test::random_codes(n, 3, 6, 5);  // 36 prefixes of ~17 items; 6 of 40 last codes used
    const auto pop = test::random_popularity(n, 7, 6);
    rng g(7);
    matrix<std::int32_t> cand(n, 5);
    for (index_t i = 0; i < n; ++i) {
      std::vector<std::int32_t> perm(K);
      std::iota(perm.begin(), perm.end(), 0);
      g.shuffle(perm.begin(), perm.end());
      for (index_t c = 0; c < 5; ++c) cand(i, c) = perm[c];
    }
    const auto t = quant::sid_table<quant::reassign_nearest_free>::build(codes, K, pop, cand);
    check_bijective(t);
    for (const auto& kv : groups(codes, pop))  // the most popular item of every SID keeps it
      CHECK(key(t.sid(kv.second[0])) == kv.first);
    index_t moved = 0;
    for (index_t i = 0; i < n; ++i) {
      CHECK(t.sid(i)[0] == codes(i, 0));
      CHECK(t.sid(i)[1] == codes(i, 1));
      moved += t.sid(i)[2] != codes(i, 2);
    }
    CHECK(moved == t.reassigned_items());
    CHECK(t.reassigned_items() > 0);
  }
  SECTION("a prefix with more items than codes cannot be made unique") {
    matrix<std::int32_t> codes(5, 2);
    codes << 1, 0, 1, 1, 1, 2, 1, 0, 1, 1;
    matrix<std::int32_t> cand(5, 1);
    cand.setZero();
    CHECK_THROWS_AS(quant::sid_table<quant::reassign_nearest_free>::build(codes, 3, {}, cand), argument_error);
    CHECK_THROWS_WITH(quant::sid_table<quant::reassign_nearest_free>::build(codes, 3, {}, cand),
                      Catch::Contains("append_dedup_token"));
  }
}

TEST_CASE("sid_table: save and load round-trip for every policy", "[quant][sid_table]") {
  const auto codes = test::random_codes(200, 2, 5, 8);
  const auto pop = test::random_popularity(200, 4, 9);
  test::temp_file f("sid_table.r4r");
  {
    const auto t = quant::sid_table<quant::append_dedup_token>::build(codes, 5, pop);
    t.save(f.path);
    quant::sid_table<quant::append_dedup_token> back;
    back.load(f.path);
    CHECK(back.sids().eigen() == t.sids().eigen());
    CHECK(back.dedup_range() == t.dedup_range());
    check_bijective(back);
    quant::sid_table<quant::rank_by_popularity> other;
    CHECK_THROWS_AS(other.load(f.path), checkpoint_error);
  }
  {
    const auto t = quant::sid_table<quant::rank_by_popularity>::build(codes, 5, pop);
    t.save(f.path);
    quant::sid_table<quant::rank_by_popularity> back;
    back.load(f.path);
    for (index_t i = 0; i < 200; ++i) {
      const auto a = t.items(t.sid(i)), b = back.items(back.sid(i));
      CHECK(std::vector<std::int32_t>(a.begin(), a.end()) == std::vector<std::int32_t>(b.begin(), b.end()));
    }
  }
  {
    // 5 prefixes of about 40 items: a last level of 64 codes has room for all of them.
    matrix<std::int32_t> cand(200, 5);
    for (index_t i = 0; i < 200; ++i)
      for (index_t c = 0; c < 5; ++c) cand(i, c) = static_cast<std::int32_t>((i + 7 * c) % 64);
    const auto t = quant::sid_table<quant::reassign_nearest_free>::build(codes, 64, pop, cand);
    t.save(f.path);
    quant::sid_table<quant::reassign_nearest_free> back;
    back.load(f.path);
    CHECK(back.sids().eigen() == t.sids().eigen());
    CHECK(back.reassigned_items() == t.reassigned_items());
    check_bijective(back);
  }
}

TEST_CASE("sid_table: bad input is a clear error", "[quant][sid_table]") {
  auto codes = test::random_codes(10, 2, 4, 10);
  using table = quant::sid_table<quant::append_dedup_token>;
  codes(6, 1) = 4;
  CHECK_THROWS_AS(table::build(codes, 4), value_error);
  CHECK_THROWS_WITH(table::build(codes, 4), Catch::Contains("row 6"));
  codes(6, 1) = -2;
  CHECK_THROWS_AS(table::build(codes, 4), value_error);
  codes(6, 1) = 0;
  std::vector<std::int64_t> pop(9, 1);
  CHECK_THROWS_AS(table::build(codes, 4, pop), dimension_error);
  pop.assign(10, 1);
  pop[3] = -1;
  CHECK_THROWS_AS(table::build(codes, 4, pop), value_error);
  matrix<std::int32_t> empty(0, 2);
  CHECK_THROWS_AS(table::build(empty, 4), argument_error);
  const auto t = table::build(codes, 4);
  CHECK_THROWS_AS(t.sid(10), not_found_error);
  CHECK_THROWS_AS(t.sid(-1), not_found_error);
  std::vector<std::int32_t> short_sid{0, 0};
  CHECK_THROWS_AS(t.items(short_sid), dimension_error);
  matrix<std::int32_t> cand(9, 2);
  cand.setZero();
  CHECK_THROWS_AS(quant::sid_table<quant::reassign_nearest_free>::build(codes, 4, {}, cand), dimension_error);
}

TEST_CASE("make_tuples_distinct: popular items keep their tuple, others take the cheapest free one",
          "[quant][collisions]") {
  // Items 0, 1, 2, 4 share (0, 0); item 3 has (1, 1). Candidate j of every codebook is code j
  // (item 3: 1, 0, 2) and its loss is score(i, j) − score(i, 0).
  matrix<std::int32_t> codes(5, 2);
  codes << 0, 0, 0, 0, 0, 0, 1, 1, 0, 0;
  std::vector<matrix<std::int32_t>> cand(2, matrix<std::int32_t>(5, 3));
  std::vector<matrix<float>> score(2, matrix<float>(5, 3));
  for (int r = 0; r < 2; ++r)
    for (int i = 0; i < 5; ++i) {
      cand[r].row(i) << 0, 1, 2;
      score[r].row(i) << 0, 1, 2;
    }
  cand[0].row(3) << 1, 0, 2;
  cand[1].row(3) << 1, 0, 2;
  score[1].row(0) << 0, 2, 4;    // item 0: cheaper to change codebook 0
  score[1].row(1) << 0, 0.5, 1;  // item 1: cheaper to change codebook 1
  const std::vector<double> popularity{5, 4, 10, 1, 3};
  const auto rep = quant::make_tuples_distinct(codes, cand, score, popularity);
  CHECK(rep.moved == 3);
  CHECK(rep.unresolved == 0);
  CHECK((codes(2, 0) == 0 && codes(2, 1) == 0));  // the most popular keeps (0, 0)
  CHECK((codes(0, 0) == 1 && codes(0, 1) == 0));
  CHECK((codes(1, 0) == 0 && codes(1, 1) == 1));
  CHECK((codes(4, 0) == 2 && codes(4, 1) == 0));  // (1, 0) and (0, 1) are taken: loss 2
  CHECK((codes(3, 0) == 1 && codes(3, 1) == 1));  // never shared: untouched

  // With one candidate per codebook nothing can move: the collisions stay, counted.
  matrix<std::int32_t> again(5, 2);
  again << 0, 0, 0, 0, 0, 0, 1, 1, 0, 0;
  std::vector<matrix<std::int32_t>> c1(2, matrix<std::int32_t>(5, 1));
  std::vector<matrix<float>> s1(2, matrix<float>::Zero(5, 1));
  for (int r = 0; r < 2; ++r) c1[r].col(0) = again.col(r);
  const auto rep1 = quant::make_tuples_distinct(again, c1, s1, popularity);
  CHECK(rep1.moved == 0);
  CHECK(rep1.unresolved == 3);
  CHECK_THROWS_AS(quant::make_tuples_distinct(again, c1, std::vector<matrix<float>>(1), popularity), dimension_error);
}

TEST_CASE("make_tuples_distinct: with every code as a candidate all tuples become distinct by one-token moves",
          "[quant][collisions]") {
  rng g(3);
  const index_t n = 120, M = 3, K = 8;  // codes drawn from 3 values: 27 tuples, many collisions
  matrix<std::int32_t> codes(n, M);
  for (index_t i = 0; i < n; ++i)
    for (index_t r = 0; r < M; ++r) codes(i, r) = static_cast<std::int32_t>(g.below(3));
  std::vector<matrix<std::int32_t>> cand(M, matrix<std::int32_t>(n, K));
  std::vector<matrix<float>> score(M, matrix<float>(n, K));
  for (index_t r = 0; r < M; ++r)
    for (index_t i = 0; i < n; ++i)
      for (index_t j = 0; j < K; ++j) {
        cand[r](i, j) = static_cast<std::int32_t>((codes(i, r) + j) % K);
        score[r](i, j) = float(j) + 0.01f * float(g.below(100));
      }
  const matrix<std::int32_t> before = codes;
  const auto rep = quant::make_tuples_distinct(codes, cand, score);
  std::set<std::vector<std::int32_t>> tuples;
  index_t changed = 0;
  for (index_t i = 0; i < n; ++i) {
    tuples.insert({codes(i, 0), codes(i, 1), codes(i, 2)});
    index_t diff = 0;
    for (index_t r = 0; r < M; ++r) diff += codes(i, r) != before(i, r);
    CHECK(diff <= 1);
    changed += diff;
  }
  CHECK(rep.unresolved == 0);
  CHECK(static_cast<index_t>(tuples.size()) == n);
  CHECK(changed == rep.moved);
}
