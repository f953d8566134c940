// A brute-force constraint for tests: the state is the list of items consistent with the
// tokens chosen so far.
#pragma once

#include <set>
#include <vector>

#include <reg4rec/core/types.hpp>

namespace reg4rec::test {

struct item_set_constraint {
  static constexpr bool any_order = true;
  const matrix<std::int32_t>* codes;
  using state = std::int32_t;
  struct context {
    std::vector<std::vector<std::int32_t>> sets;
  };
  context make_context() const { return {}; }
  state root(context& ctx) const {
    std::vector<std::int32_t> all(static_cast<std::size_t>(codes->rows()));
    for (index_t i = 0; i < codes->rows(); ++i) all[i] = static_cast<std::int32_t>(i);
    ctx.sets.push_back(all);
    return static_cast<state>(ctx.sets.size() - 1);
  }
  void allowed(context& ctx, const state& s, index_t r, std::vector<std::int32_t>& out) const {
    std::set<std::int32_t> c;
    for (auto it : ctx.sets[s]) c.insert((*codes)(it, r));
    out.assign(c.begin(), c.end());
  }
  state advance(context& ctx, const state& s, index_t r, std::int32_t code) const {
    std::vector<std::int32_t> keep;
    for (auto it : ctx.sets[s])
      if ((*codes)(it, r) == code) keep.push_back(it);
    ctx.sets.push_back(keep);
    return static_cast<state>(ctx.sets.size() - 1);
  }
  void items(const context& ctx, const state& s, std::vector<std::int32_t>& out) const { out = ctx.sets[s]; }
};


}  // namespace reg4rec::test
