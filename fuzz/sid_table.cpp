// Fuzz target: the saved SID structures of quant/ — sid_table (all three collision policies),
// prefix_trie and posting_index — read through the binary container. After a successful load
// the structure is used, and its invariants are checked: a loaded table that hands out
// inconsistent answers is as much a bug as a crash.
#include <cstdlib>
#include <vector>

#include <reg4rec/quant/posting_index.hpp>
#include <reg4rec/quant/prefix_trie.hpp>
#include <reg4rec/quant/sid_table.hpp>

#include "binary_input.hpp"
#include "fuzz_common.hpp"

namespace reg4rec::fuzz {
template <class Policy>
void use_sid_table(const std::string& path) {
  quant::sid_table<Policy> t;
  t.load(path);
  for (index_t i = 0; i < t.num_items(); ++i) {
    const auto its = t.items(t.sid(i));
    bool found = false;
    for (std::int32_t x : its) found |= x == i;
    if (!found) std::abort();  // an item must be found under its own SID
    (void)t.popularity(i);
  }
  if (t.num_items() > 0) (void)quant::prefix_trie::build(t);
}
}  // namespace reg4rec::fuzz

REG4REC_FUZZ_TARGET(sid_table) {
  using namespace reg4rec;
  const std::string file = fuzz::binary_file_from_input(data, size);
  const std::string& path = fuzz::scratch().write(file.data(), file.size());
  fuzz::expect_clean([&] { fuzz::use_sid_table<quant::append_dedup_token>(path); });
  fuzz::expect_clean([&] { fuzz::use_sid_table<quant::rank_by_popularity>(path); });
  fuzz::expect_clean([&] { fuzz::use_sid_table<quant::reassign_nearest_free>(path); });
  fuzz::expect_clean([&] {
    quant::prefix_trie t;
    t.load(path);
    for (std::int32_t v = 0; v < t.num_nodes(); ++v) {
      const auto ch = t.children(v);
      for (index_t c = 0; c < ch.size(); ++c)
        if (t.child(v, ch.tokens[c]) != ch.nodes[c]) std::abort();
      if (t.is_leaf(v)) (void)t.items(v);
      (void)t.node_depth(v);
    }
    std::vector<std::int32_t> prefix(static_cast<std::size_t>(t.depth()), 0);
    (void)t.find(cspan<std::int32_t>(prefix.data(), t.depth()));
  });
  fuzz::expect_clean([&] {
    quant::posting_index p;
    p.load(path);
    if (p.num_items() == 0) return;
    const auto codes = p.codes();
    std::vector<quant::token> partial;
    for (index_t r = 0; r < p.num_codebooks(); ++r) partial.push_back({static_cast<std::int32_t>(r), codes(0, r)});
    const auto hit = p.intersect(cspan<quant::token>(partial.data(), static_cast<index_t>(partial.size())));
    if (hit.empty()) std::abort();  // item 0 carries its own tokens
    (void)p.allowed_codes(cspan<quant::token>(partial.data(), 1), p.num_codebooks() > 1 ? 1 : 0);
  });
  return 0;
}
