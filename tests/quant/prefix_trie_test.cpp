#include <catch2/catch.hpp>

#include <algorithm>
#include <map>
#include <set>

#include <reg4rec/quant.hpp>

#include "quant/quant_test_util.hpp"

using namespace reg4rec;

namespace {
using prefix = std::vector<std::int32_t>;

// Every prefix over the vocabulary [0, V) of length 0..L, checked against a scan of the SIDs.
void check_against_brute_force(const quant::prefix_trie& trie, const matrix<std::int32_t>& sids,
                               const std::vector<std::int64_t>& pop, std::int32_t V) {
  const index_t L = sids.cols(), n = sids.rows();
  std::set<prefix> all_prefixes;
  for (index_t i = 0; i < n; ++i)
    for (index_t t = 0; t <= L; ++t) all_prefixes.insert(prefix(sids.row(i).data(), sids.row(i).data() + t));
  CHECK(trie.num_nodes() == static_cast<index_t>(all_prefixes.size()));
  std::vector<prefix> frontier{prefix{}};
  for (index_t t = 0; t <= L; ++t) {
    std::vector<prefix> next;
    for (const prefix& p : frontier) {
      const bool valid = all_prefixes.count(p) > 0;
      REQUIRE(trie.is_valid(p) == valid);
      const std::int32_t node = trie.find(p);
      CHECK((node >= 0) == valid);
      if (!valid) continue;
      CHECK(trie.node_depth(node) == t);
      if (t == L) {
        // Leaf: the items with exactly this SID, by popularity then id.
        std::vector<std::int32_t> expect;
        for (index_t i = 0; i < n; ++i)
          if (std::equal(p.begin(), p.end(), sids.row(i).data())) expect.push_back(static_cast<std::int32_t>(i));
        std::sort(expect.begin(), expect.end(), [&](std::int32_t a, std::int32_t b) {
          return pop.empty() || pop[a] == pop[b] ? a < b : pop[a] > pop[b];
        });
        const auto got = trie.items(node);
        CHECK(std::vector<std::int32_t>(got.begin(), got.end()) == expect);
        CHECK(trie.is_leaf(node));
        CHECK(trie.children(node).empty());
        continue;
      }
      // Children: the next tokens that occur, ascending, each leading to find(p + token).
      std::set<std::int32_t> expect;
      for (const prefix& q : all_prefixes)
        if (static_cast<index_t>(q.size()) == t + 1 && std::equal(p.begin(), p.end(), q.begin())) expect.insert(q[t]);
      const auto ch = trie.children(node);
      CHECK(std::vector<std::int32_t>(ch.tokens.begin(), ch.tokens.end()) ==
            std::vector<std::int32_t>(expect.begin(), expect.end()));
      for (index_t c = 0; c < ch.size(); ++c) {
        prefix q = p;
        q.push_back(ch.tokens[c]);
        CHECK(ch.nodes[c] == trie.find(q));
        CHECK(trie.child(node, ch.tokens[c]) == ch.nodes[c]);
      }
      for (std::int32_t tok = 0; tok < V; ++tok) {
        CHECK((trie.child(node, tok) >= 0) == (expect.count(tok) > 0));
        prefix q = p;
        q.push_back(tok);
        next.push_back(q);
      }
    }
    frontier = std::move(next);
  }
}
}  // namespace

TEST_CASE("prefix_trie: lookups agree with a scan of the SIDs", "[quant][prefix_trie]") {
  SECTION("shared SIDs, leaves ranked by popularity") {
    const auto sids = test::random_codes(300, 3, 5, 1);  // 125 possible SIDs
    const auto pop = test::random_popularity(300, 6, 2);
    const auto trie = quant::prefix_trie::build(sids, pop);
    CHECK(trie.depth() == 3);
    CHECK(trie.num_items() == 300);
    check_against_brute_force(trie, sids, pop, 5);
  }
  SECTION("a dedup table (unique SIDs of length M + 1)") {
    const auto codes = test::random_codes(150, 2, 4, 3);
    const auto table = quant::sid_table<quant::append_dedup_token>::build(codes, 4);
    const auto trie = quant::prefix_trie::build(table);
    const matrix<std::int32_t> sids = table.sids().eigen();
    CHECK(trie.depth() == 3);
    CHECK(trie.num_leaves() == 150);
    check_against_brute_force(trie, sids, {}, static_cast<std::int32_t>(table.dedup_range()) + 1);
  }
  SECTION("a single item and a single level") {
    matrix<std::int32_t> one(1, 1);
    one << 7;
    const auto trie = quant::prefix_trie::build(one);
    CHECK(trie.num_nodes() == 2);
    CHECK(trie.child(trie.root(), 7) == 1);
    CHECK(trie.child(trie.root(), 6) == -1);
    CHECK(trie.items(1)[0] == 0);
  }
}

TEST_CASE("prefix_trie: save and load round-trip", "[quant][prefix_trie]") {
  const auto sids = test::random_codes(200, 3, 6, 4);
  const auto pop = test::random_popularity(200, 3, 5);
  const auto trie = quant::prefix_trie::build(sids, pop);
  test::temp_file f("trie.r4r");
  trie.save(f.path);
  quant::prefix_trie back;
  back.load(f.path);
  CHECK(back.num_nodes() == trie.num_nodes());
  check_against_brute_force(back, sids, pop, 6);
  quant::posting_index wrong;
  CHECK_THROWS_AS(wrong.load(f.path), checkpoint_error);
}

TEST_CASE("prefix_trie: bad input is a clear error", "[quant][prefix_trie]") {
  auto sids = test::random_codes(20, 2, 3, 6);
  const auto trie = quant::prefix_trie::build(sids);
  CHECK_THROWS_AS(trie.children(static_cast<std::int32_t>(trie.num_nodes())), argument_error);
  CHECK_THROWS_AS(trie.child(-1, 0), argument_error);
  CHECK_THROWS_AS(trie.items(trie.root()), argument_error);
  std::vector<std::int32_t> too_long{0, 0, 0};
  CHECK_THROWS_AS(trie.find(too_long), argument_error);
  sids(4, 1) = -3;
  CHECK_THROWS_AS(quant::prefix_trie::build(sids), value_error);
  matrix<std::int32_t> empty(0, 2);
  CHECK_THROWS_AS(quant::prefix_trie::build(empty), argument_error);
}
