// A compact prefix trie over ordered SIDs, for constrained beam search: at each decoding step
// the valid next tokens of a partial SID are the children of its node.
//
//   auto trie = quant::prefix_trie::build(table.sids(), popularity);   // sids: (n, L)
//   auto node = trie.root();
//   for (auto tok : partial) node = trie.child(node, tok);             // -1: invalid prefix
//   auto next = trie.children(node);     // next.tokens (sorted), next.nodes (same order)
//   auto items = trie.items(leaf);       // items whose SID ends at this leaf
//
// Layout (CSR, no dense positions × vocabulary mask): nodes are numbered breadth-first, depth
// by depth, in lexicographic order of their prefixes (root = 0, depth t occupies
// [level_begin(t), level_begin(t + 1))). Node v's children are the edges
// [child_offsets[v], child_offsets[v + 1]) of two parallel arrays, child_tokens (ascending)
// and child_nodes; since every node but the root is the child of exactly one node and nodes
// are breadth-first, edge e leads to node e + 1. Leaves (depth L) own the item lists
// leaf_items[leaf_offsets[j], leaf_offsets[j + 1]) with j = leaf − level_begin(L), ranked by
// decreasing popularity, then id (several items per leaf only if SIDs are shared). Memory:
// 4 bytes per item, 12 per node.
#pragma once

#include <algorithm>
#include <cstdint>
#include <numeric>
#include <string>
#include <vector>

#include "reg4rec/core/error.hpp"
#include "reg4rec/core/types.hpp"
#include "reg4rec/core/view.hpp"
#include "reg4rec/io/binary.hpp"
#include "reg4rec/quant/detail/sid_groups.hpp"
#include "reg4rec/quant/sid_table.hpp"

namespace reg4rec::quant {

class prefix_trie {
 public:
  /// The children of a node: tokens ascending, nodes[i] the child reached by tokens[i].
  struct children_view {
    cspan<std::int32_t> tokens;
    cspan<std::int32_t> nodes;
    index_t size() const noexcept { return tokens.size(); }
    bool empty() const noexcept { return tokens.empty(); }
  };

  prefix_trie() = default;

  /// sids: (n, L) int32, tokens ≥ 0; popularity: (n) non-negative or empty.
  static prefix_trie build(cmatrix_view<std::int32_t> sids, cspan<std::int64_t> popularity = {}) {
    static constexpr const char* who = "prefix_trie::build";
    require(sids.rows() >= 1, who, ": no SIDs (the matrix has no rows)");
    detail::check_codes(who, sids, 0);
    const index_t n = sids.rows(), L = sids.cols();
    const auto pop = detail::checked_popularity(who, popularity, n);
    std::vector<std::int32_t> order(static_cast<std::size_t>(n));
    std::iota(order.begin(), order.end(), 0);
    std::sort(order.begin(), order.end(), [&](std::int32_t a, std::int32_t b) {
      const int c = detail::compare_tokens(sids.row_ptr(a), sids.row_ptr(b), L);
      if (c != 0) return c < 0;
      return pop[a] != pop[b] ? pop[a] > pop[b] : a < b;
    });
    // starts[t]: positions in `order` where a new prefix of length t begins (t = 1..L).
    std::vector<std::vector<index_t>> starts(static_cast<std::size_t>(L) + 1);
    starts[0] = {0};
    for (index_t t = 1; t <= L; ++t)
      for (index_t i = 0; i < n; ++i)
        if (i == 0 || detail::compare_tokens(sids.row_ptr(order[i - 1]), sids.row_ptr(order[i]), t) != 0)
          starts[t].push_back(i);

    prefix_trie trie;
    trie.L_ = L;
    trie.level_.assign(static_cast<std::size_t>(L) + 2, 0);
    for (index_t t = 0; t <= L; ++t)
      trie.level_[t + 1] = trie.level_[t] + static_cast<index_t>(starts[t].size());
    const index_t nodes = trie.level_[L + 1];
    require(nodes < (index_t(1) << 31), who, ": too many trie nodes for int32 ids: ", nodes);
    trie.child_offsets_.assign(static_cast<std::size_t>(nodes) + 1, 0);
    trie.child_tokens_.reserve(static_cast<std::size_t>(nodes - 1));
    trie.child_nodes_.reserve(static_cast<std::size_t>(nodes - 1));
    for (index_t t = 0; t < L; ++t) {
      const auto& s = starts[t];
      const auto& c = starts[t + 1];
      std::size_t j = 0;  // next child run
      for (std::size_t r = 0; r < s.size(); ++r) {
        const index_t node = trie.level_[t] + static_cast<index_t>(r);
        const index_t end = r + 1 < s.size() ? s[r + 1] : n;
        trie.child_offsets_[node] = static_cast<index_t>(trie.child_tokens_.size());
        for (; j < c.size() && c[j] < end; ++j) {
          trie.child_tokens_.push_back(sids(order[c[j]], t));
          trie.child_nodes_.push_back(static_cast<std::int32_t>(trie.level_[t + 1] + static_cast<index_t>(j)));
        }
      }
    }
    for (index_t v = trie.level_[L]; v <= nodes; ++v)
      trie.child_offsets_[v] = static_cast<index_t>(trie.child_tokens_.size());
    const auto& leaves = starts[L];
    trie.leaf_offsets_.resize(leaves.size() + 1);
    for (std::size_t j = 0; j < leaves.size(); ++j) trie.leaf_offsets_[j] = leaves[j];
    trie.leaf_offsets_.back() = n;
    trie.leaf_items_ = std::move(order);
    return trie;
  }

  /// From a SID table: its SIDs, leaves ranked by the table's popularity.
  template <class Policy>
  static prefix_trie build(const sid_table<Policy>& table) {
    std::vector<std::int64_t> pop(static_cast<std::size_t>(table.num_items()));
    for (index_t i = 0; i < table.num_items(); ++i) pop[i] = table.popularity(i);
    return build(table.sids(), pop);
  }

  std::int32_t root() const noexcept { return 0; }
  /// SID length L (leaves are at depth L).
  index_t depth() const noexcept { return L_; }
  index_t num_nodes() const noexcept { return level_.empty() ? 0 : level_.back(); }
  index_t num_leaves() const noexcept { return static_cast<index_t>(leaf_offsets_.size()) - 1; }
  index_t num_items() const noexcept { return static_cast<index_t>(leaf_items_.size()); }
  /// First node id at depth t (0 ≤ t ≤ L + 1; t = L + 1 gives num_nodes()).
  index_t level_begin(index_t t) const {
    require(t >= 0 && t <= L_ + 1, "prefix_trie::level_begin: depth ", t, " out of range [0, ", L_ + 1, "]");
    return level_[t];
  }
  index_t node_depth(std::int32_t node) const {
    check_node("prefix_trie::node_depth", node);
    return static_cast<index_t>(std::upper_bound(level_.begin(), level_.end(), index_t(node)) - level_.begin()) - 1;
  }
  bool is_leaf(std::int32_t node) const {
    check_node("prefix_trie::is_leaf", node);
    return node >= level_[L_];
  }

  children_view children(std::int32_t node) const {
    check_node("prefix_trie::children", node);
    const index_t b = child_offsets_[node], e = child_offsets_[node + 1];
    return {cspan<std::int32_t>(child_tokens_.data() + b, e - b), cspan<std::int32_t>(child_nodes_.data() + b, e - b)};
  }
  /// The child of `node` along `token` (binary search), or -1.
  std::int32_t child(std::int32_t node, std::int32_t token) const {
    check_node("prefix_trie::child", node);
    const auto b = child_tokens_.begin() + child_offsets_[node], e = child_tokens_.begin() + child_offsets_[node + 1];
    const auto it = std::lower_bound(b, e, token);
    return it != e && *it == token ? child_nodes_[static_cast<std::size_t>(it - child_tokens_.begin())] : -1;
  }
  /// Items of a leaf, by decreasing popularity, then id.
  cspan<std::int32_t> items(std::int32_t leaf) const {
    require(is_leaf(leaf), "prefix_trie::items: node ", leaf, " is not a leaf (depth ", node_depth(leaf), " < ", L_, ")");
    const index_t j = leaf - level_[L_];
    return cspan<std::int32_t>(leaf_items_.data() + leaf_offsets_[j], leaf_offsets_[j + 1] - leaf_offsets_[j]);
  }
  /// Node reached by a prefix of length ≤ L (the root for an empty prefix), or -1.
  std::int32_t find(cspan<std::int32_t> prefix) const {
    require(prefix.size() <= L_, "prefix_trie::find: prefix of length ", prefix.size(), " exceeds the SID length ", L_);
    if (num_nodes() == 0) return -1;
    std::int32_t node = 0;
    for (index_t t = 0; t < prefix.size() && node >= 0; ++t) node = child(node, prefix[t]);
    return node;
  }
  /// True when some SID starts with `prefix`.
  bool is_valid(cspan<std::int32_t> prefix) const { return find(prefix) >= 0; }

  void save(const std::string& path) const {
    io::binary_writer w(path, "prefix_trie");
    w.put_scalar<std::int64_t>("depth", L_);
    w.put("level_begin", level_);
    w.put("child_offsets", child_offsets_);
    w.put("child_tokens", child_tokens_);
    w.put("child_nodes", child_nodes_);
    w.put("leaf_offsets", leaf_offsets_);
    w.put("leaf_items", leaf_items_);
    w.commit();
  }
  void load(const std::string& path) {
    io::binary_reader r(path, "prefix_trie");
    prefix_trie t;
    t.L_ = r.get_scalar<std::int64_t>("depth");
    t.level_ = r.get_vector<std::int64_t>("level_begin");
    t.child_offsets_ = r.get_vector<std::int64_t>("child_offsets");
    t.child_tokens_ = r.get_vector<std::int32_t>("child_tokens");
    t.child_nodes_ = r.get_vector<std::int32_t>("child_nodes");
    t.leaf_offsets_ = r.get_vector<std::int64_t>("leaf_offsets");
    t.leaf_items_ = r.get_vector<std::int32_t>("leaf_items");
    // Structural checks, so that no lookup can read out of bounds.
    if (t.L_ < 1 || t.L_ > index_t(1) << 30 || static_cast<index_t>(t.level_.size()) != t.L_ + 2)
      r.fail("level_begin", "inconsistent with depth");
    const index_t nodes = t.level_.back();
    if (t.level_[0] != 0 || t.level_[1] != 1 || !std::is_sorted(t.level_.begin(), t.level_.end()))
      r.fail("level_begin", "is not an increasing list starting 0, 1");
    if (nodes >= (index_t(1) << 31)) r.fail("level_begin", "too many nodes for int32 ids");
    if (static_cast<index_t>(t.child_offsets_.size()) != nodes + 1 || t.child_offsets_[0] != 0 ||
        !std::is_sorted(t.child_offsets_.begin(), t.child_offsets_.end()) ||
        t.child_offsets_.back() != static_cast<index_t>(t.child_tokens_.size()))
      r.fail("child_offsets", "inconsistent with the node count");
    if (t.child_nodes_.size() != t.child_tokens_.size() || static_cast<index_t>(t.child_nodes_.size()) != nodes - 1)
      r.fail("child_nodes", "must hold one edge per non-root node");
    for (std::size_t e = 0; e < t.child_nodes_.size(); ++e)
      if (t.child_nodes_[e] != static_cast<std::int32_t>(e + 1)) r.fail("child_nodes", "edges are not breadth-first");
    const index_t leaves = nodes - t.level_[t.L_];
    if (static_cast<index_t>(t.leaf_offsets_.size()) != leaves + 1 || t.leaf_offsets_[0] != 0 ||
        !std::is_sorted(t.leaf_offsets_.begin(), t.leaf_offsets_.end()) ||
        t.leaf_offsets_.back() != static_cast<index_t>(t.leaf_items_.size()))
      r.fail("leaf_offsets", "inconsistent with the leaf count");
    // Tokens ascend within each node; items are a permutation of 0..n-1 (the ids a lookup
    // hands out must index the caller's item tables).
    for (index_t v = 0; v < nodes; ++v)
      for (index_t e = t.child_offsets_[v]; e < t.child_offsets_[v + 1]; ++e)
        if (t.child_tokens_[e] < 0 || (e > t.child_offsets_[v] && t.child_tokens_[e] <= t.child_tokens_[e - 1]))
          r.fail("child_tokens", "tokens must be non-negative and ascending within a node");
    std::vector<char> seen(t.leaf_items_.size(), 0);
    for (std::int32_t it : t.leaf_items_) {
      if (it < 0 || static_cast<std::size_t>(it) >= seen.size() || seen[static_cast<std::size_t>(it)])
        r.fail("leaf_items", "must be a permutation of the item ids 0..n-1");
      seen[static_cast<std::size_t>(it)] = 1;
    }
    *this = std::move(t);
  }

 private:
  void check_node(const char* who, std::int32_t node) const {
    if (node < 0 || node >= num_nodes())
      throw argument_error(reg4rec::detail::cat(who, ": node ", node, " out of range [0, ", num_nodes(), ")"));
  }

  index_t L_ = 0;
  std::vector<index_t> level_;               // L + 2: first node of each depth, then the node count
  std::vector<index_t> child_offsets_;       // nodes + 1
  std::vector<std::int32_t> child_tokens_;   // nodes − 1, ascending within a node
  std::vector<std::int32_t> child_nodes_;    // nodes − 1
  std::vector<index_t> leaf_offsets_{0};     // leaves + 1
  std::vector<std::int32_t> leaf_items_;     // n
};

}  // namespace reg4rec::quant
