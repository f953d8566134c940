// The trie and posting-list constraints give exactly the recommendations of the brute-force
// item-set constraint (same semantics, different data structures), and never an invalid SID.
#include <catch2/catch.hpp>

#include <reg4rec/decode/beam_search.hpp>
#include <reg4rec/decode/constraints.hpp>

#include "decode/item_set_constraint.hpp"
#include "test_util.hpp"

using namespace reg4rec;

namespace {
model::generator_config small_config() {
  model::generator_config c;
  c.d_model = 16;
  c.heads = 2;
  c.d_ff = 24;
  c.encoder_layers = 1;
  c.decoder_layers = 2;
  c.dropout = 0.0;
  c.max_history = 5;
  c.embedding_std = 0.8;
  return c;
}

matrix<std::int32_t> random_codes(index_t n, index_t M, index_t K, std::uint64_t seed) {
  rng g(seed);
  matrix<std::int32_t> c(n, M);
  for (index_t i = 0; i < c.size(); ++i) c.data()[i] = static_cast<std::int32_t>(g.below(static_cast<std::uint64_t>(K)));
  return c;
}

std::vector<std::vector<std::int32_t>> histories() { return {{1, 2, 3}, {0}, {7, 5, 3, 1, 9}, {4, 4}}; }

template <class C1, class C2>
void same_recommendations(const model::sid_generator<float>& m, const C1& a, const C2& b, decode::beam_options o) {
  decode::beam_search<float, C1> sa(m, a, o);
  decode::beam_search<float, C2> sb(m, b, o);
  auto hs = histories();
  std::vector<cspan<std::int32_t>> views;
  for (auto& h : hs) views.emplace_back(h.data(), static_cast<index_t>(h.size()));
  const auto ra = sa.recommend(views), rb = sb.recommend(views);
  for (std::size_t u = 0; u < ra.size(); ++u) {
    CHECK(ra[u].items == rb[u].items);
    CHECK(ra[u].scores == rb[u].scores);
  }
}
}  // namespace

TEST_CASE("trie constraint equals the brute-force constraint (ordered SIDs)", "[decode][constraints]") {
  for (std::uint64_t seed = 1; seed <= 3; ++seed) {
    const auto codes = random_codes(60, 3, 5, seed);  // many shared prefixes, some shared SIDs
    model::sid_generator<float> m(small_config(), model::sid_layout(std::vector<index_t>{5, 5, 5}), codes, seed);
    const auto trie = quant::prefix_trie::build(codes);
    const decode::trie_constraint tc(trie);
    const test::item_set_constraint brute{&m.item_codes()};
    decode::beam_options o;
    o.beam = 8;
    o.top_k = 10;
    same_recommendations(m, tc, brute, o);
    o.order = decode::step_order::confidence;
    CHECK_THROWS_AS((decode::beam_search<float, decode::trie_constraint>(m, tc, o)), argument_error);
  }
}

TEST_CASE("posting constraint equals the brute-force constraint (unordered tokens, CRSS)", "[decode][constraints]") {
  for (std::uint64_t seed = 1; seed <= 3; ++seed) {
    const auto codes = random_codes(60, 4, 4, seed + 10);
    model::sid_generator<float> m(small_config(), model::sid_layout(std::vector<index_t>{4, 4, 4, 4}), codes, seed);
    const auto post = quant::posting_index::build(codes, 4);
    const decode::posting_constraint pc(post);
    const test::item_set_constraint brute{&m.item_codes()};
    for (auto order : {decode::step_order::fixed, decode::step_order::confidence}) {
      decode::beam_options o;
      o.beam = 6;
      o.top_k = 10;
      o.order = order;
      same_recommendations(m, pc, brute, o);
    }
  }
}

TEST_CASE("posting constraint ranks items sharing a tuple by popularity", "[decode][constraints]") {
  matrix<std::int32_t> codes(3, 2);
  codes << 1, 2, 1, 2, 0, 0;  // items 0 and 1 share a tuple
  const auto post = quant::posting_index::build(codes, 3);
  const std::vector<std::int64_t> pop{5, 9, 1};
  const decode::posting_constraint pc(post, pop);
  auto ctx = pc.make_context();
  auto s = pc.advance(ctx, pc.root(ctx), 1, 2);
  std::vector<std::int32_t> allowed;
  pc.allowed(ctx, s, 0, allowed);
  CHECK(allowed == std::vector<std::int32_t>{1});
  s = pc.advance(ctx, s, 0, 1);
  std::vector<std::int32_t> its;
  pc.items(ctx, s, its);
  CHECK(its == std::vector<std::int32_t>{1, 0});
}
