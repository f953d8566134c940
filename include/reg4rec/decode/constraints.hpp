// Constraint policies for beam_search (see its header for the concept).
//
//   trie_constraint     ordered SIDs (RQ levels, TIGER's dedup token): the state is a node of a
//                       quant::prefix_trie; codebook k is emitted at step k; the allowed codes
//                       are the node's children.
//   posting_constraint  unordered tokens (MPQ): the state is the set of items carrying every
//                       token chosen so far (an intersection of quant::posting_index lists,
//                       kept in the search's context); codebooks may come in any order; the
//                       allowed codes of codebook r are those carried by at least one of
//                       these items, so the set never becomes empty.
#pragma once

#include <algorithm>
#include <cstdint>
#include <vector>

#include "reg4rec/core/error.hpp"
#include "reg4rec/quant/posting_index.hpp"
#include "reg4rec/quant/prefix_trie.hpp"

namespace reg4rec::decode {

class trie_constraint {
 public:
  static constexpr bool any_order = false;
  using state = std::int32_t;
  struct context {};

  explicit trie_constraint(const quant::prefix_trie& t) : trie_(&t) {}

  context make_context() const { return {}; }
  state root(context&) const { return trie_->root(); }
  void allowed(context&, const state& s, index_t r, std::vector<std::int32_t>& out) const {
    require(trie_->node_depth(s) == r, "trie_constraint: codebook ", r, " asked at depth ", trie_->node_depth(s),
            " (ordered SIDs are emitted level by level)");
    const auto ch = trie_->children(s);
    out.assign(ch.tokens.begin(), ch.tokens.end());
  }
  state advance(context&, const state& s, index_t, std::int32_t code) const { return trie_->child(s, code); }
  void items(const context&, const state& s, std::vector<std::int32_t>& out) const {
    const auto its = trie_->items(s);
    out.assign(its.begin(), its.end());
  }

 private:
  const quant::prefix_trie* trie_;
};

class posting_constraint {
 public:
  static constexpr bool any_order = true;
  /// −1: every item (nothing chosen yet); otherwise an index into the context's sets.
  using state = std::int32_t;
  struct context {
    std::vector<std::int32_t> items;                // candidate item lists, back to back
    std::vector<std::pair<index_t, index_t>> sets;  // (offset, count) per state
    std::vector<std::uint8_t> seen;                 // per code, for allowed()
  };

  /// popularity (n_items, optional): ranks the items of a tuple shared by several items.
  explicit posting_constraint(const quant::posting_index& p, cspan<std::int64_t> popularity = {})
      : post_(&p), pop_(popularity.begin(), popularity.end()) {
    if (!pop_.empty())
      check_dim("posting_constraint: length of popularity (items)", static_cast<index_t>(pop_.size()), p.num_items());
    root_codes_.resize(static_cast<std::size_t>(p.num_codebooks()));
    for (index_t r = 0; r < p.num_codebooks(); ++r)
      for (index_t c = 0; c < p.codebook_size(); ++c)
        if (!p.postings(r, c).empty()) root_codes_[r].push_back(static_cast<std::int32_t>(c));
  }

  context make_context() const {
    context ctx;
    ctx.seen.assign(static_cast<std::size_t>(post_->codebook_size()), 0);
    return ctx;
  }
  state root(context&) const { return -1; }

  void allowed(context& ctx, const state& s, index_t r, std::vector<std::int32_t>& out) const {
    if (s < 0) {
      out = root_codes_[r];
      return;
    }
    out.clear();
    const auto codes = post_->codes();
    for (std::int32_t it : candidates(ctx, s)) {
      const auto c = codes(it, r);
      if (!ctx.seen[c]) {
        ctx.seen[c] = 1;
        out.push_back(c);
      }
    }
    for (auto c : out) ctx.seen[c] = 0;
    std::sort(out.begin(), out.end());
  }

  state advance(context& ctx, const state& s, index_t r, std::int32_t code) const {
    const auto post = post_->postings(r, code);
    const index_t off = static_cast<index_t>(ctx.items.size());
    if (s < 0) {
      ctx.items.insert(ctx.items.end(), post.begin(), post.end());
    } else {
      // Both lists are sorted by item id: a linear merge.
      const auto cand = candidates(ctx, s);
      std::vector<std::int32_t> tmp;  // cand may point into ctx.items, which grows below
      std::set_intersection(cand.begin(), cand.end(), post.begin(), post.end(), std::back_inserter(tmp));
      ctx.items.insert(ctx.items.end(), tmp.begin(), tmp.end());
    }
    ctx.sets.push_back({off, static_cast<index_t>(ctx.items.size()) - off});
    return static_cast<state>(ctx.sets.size() - 1);
  }

  /// The items of a complete tuple, most popular first.
  void items(const context& ctx, const state& s, std::vector<std::int32_t>& out) const {
    const auto c = candidates(ctx, s);
    out.assign(c.begin(), c.end());
    if (!pop_.empty())
      std::stable_sort(out.begin(), out.end(), [&](std::int32_t a, std::int32_t b) { return pop_[a] > pop_[b]; });
  }

 private:
  cspan<std::int32_t> candidates(const context& ctx, const state& s) const {
    const auto [off, n] = ctx.sets[static_cast<std::size_t>(s)];
    return cspan<std::int32_t>(ctx.items.data() + off, n);
  }

  const quant::posting_index* post_;
  std::vector<std::int64_t> pop_;
  std::vector<std::vector<std::int32_t>> root_codes_;
};

}  // namespace reg4rec::decode
