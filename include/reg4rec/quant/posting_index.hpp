// Inverted index over unordered tokens (MPQ, SPEC §3.5). An item is the set {(r, c_r)},
// r = 0..M−1; a partial set of tokens is valid iff some item carries all of them.
//
//   auto idx = quant::posting_index::build(codes, 256, popularity);   // codes: (n, M)
//   std::vector<quant::token> partial{{2, 17}, {0, 5}};
//   idx.intersect(partial);        // items carrying both tokens, ascending ids
//   idx.allowed_codes(partial, 1); // codes c with {(0,5), (2,17), (1,c)} still valid
//   idx.items(tuple);              // canonical tuple (c_0, ..., c_{M−1}) → items by popularity
//
// Storage: one sorted posting list per (r, c), CSR (offsets (M·K + 1), items (n·M)), plus the
// codes themselves for allowed_codes and the tuple lookup. Intersection is smallest-first:
// the shortest list is the candidate set and every other list, shortest first, filters it by
// galloping (exponential then binary) search, so the cost is about
// |smallest| · Σ log(|list| / |smallest|).
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

/// One unordered token: code `code` of codebook `codebook`.
struct token {
  std::int32_t codebook;
  std::int32_t code;
  friend bool operator==(token a, token b) noexcept { return a.codebook == b.codebook && a.code == b.code; }
};

namespace detail {
/// First position p ≥ from with list[p] ≥ value (list.size() if none), galloping from `from`.
inline index_t gallop(const std::int32_t* list, index_t size, index_t from, std::int32_t value) noexcept {
  if (from >= size || list[from] >= value) return from;
  index_t step = 1, lo = from, hi = from + 1;  // invariant: list[lo] < value
  while (hi < size && list[hi] < value) {
    lo = hi;
    step *= 2;
    hi = lo + step;
  }
  hi = std::min(hi, size);
  return static_cast<index_t>(std::lower_bound(list + lo + 1, list + hi, value) - list);
}
}  // namespace detail

class posting_index {
 public:
  posting_index() = default;

  /// The most posting lists (codebooks × codes) a saved index may declare.
  static constexpr index_t max_lists = index_t(1) << 24;

  /// codes: (n, M) int32 in [0, K); popularity: (n) non-negative or empty.
  static posting_index build(cmatrix_view<std::int32_t> codes, index_t codebook_size,
                             cspan<std::int64_t> popularity = {}) {
    static constexpr const char* who = "posting_index::build";
    require(codebook_size >= 1, who, ": codebook size K must be at least 1, got ", codebook_size);
    require(codes.rows() >= 1, who, ": the code matrix is empty (no items)");
    require(codes.rows() < (index_t(1) << 31), who, ": too many items for int32 ids");
    detail::check_codes(who, codes, codebook_size);
    posting_index p;
    const index_t n = codes.rows(), M = codes.cols(), K = codebook_size;
    p.K_ = K;
    p.codes_ = codes.eigen();
    p.popularity_ = detail::checked_popularity(who, popularity, n);
    p.offsets_.assign(static_cast<std::size_t>(M * K) + 1, 0);
    for (index_t i = 0; i < n; ++i)
      for (index_t r = 0; r < M; ++r) ++p.offsets_[r * K + codes(i, r) + 1];
    for (index_t s = 0; s < M * K; ++s) p.offsets_[s + 1] += p.offsets_[s];
    p.postings_.resize(static_cast<std::size_t>(n * M));
    std::vector<index_t> fill(p.offsets_.begin(), p.offsets_.end() - 1);
    for (index_t i = 0; i < n; ++i)  // ascending i: every list comes out sorted
      for (index_t r = 0; r < M; ++r) p.postings_[fill[r * K + codes(i, r)]++] = static_cast<std::int32_t>(i);
    // Canonical tuples: items sorted by tuple, then by decreasing popularity and id.
    auto g = detail::group_by_sid(codes, M);
    for (index_t k = 0; k < g.groups(); ++k)
      detail::sort_by_popularity(g.order.data() + g.offsets[k], g.order.data() + g.offsets[k + 1], p.popularity_);
    p.tuple_order_ = std::move(g.order);
    p.tuple_offsets_ = std::move(g.offsets);
    return p;
  }

  index_t num_items() const noexcept { return codes_.rows(); }
  index_t num_codebooks() const noexcept { return codes_.cols(); }
  index_t codebook_size() const noexcept { return K_; }
  /// Distinct token tuples.
  index_t num_tuples() const noexcept { return static_cast<index_t>(tuple_offsets_.size()) - 1; }
  /// (n, M) the items' codes.
  cmatrix_view<std::int32_t> codes() const noexcept { return codes_; }

  /// Items carrying token (r, c), ascending.
  cspan<std::int32_t> postings(index_t r, index_t c) const {
    check_token("posting_index::postings", r, c);
    const index_t s = r * K_ + c;
    return cspan<std::int32_t>(postings_.data() + offsets_[s], offsets_[s + 1] - offsets_[s]);
  }

  /// Items carrying every token of `partial` (each codebook at most once), ascending; all
  /// items for an empty set. `out` is overwritten (its capacity is reused).
  void intersect(cspan<token> partial, std::vector<std::int32_t>& out) const {
    check_partial("posting_index::intersect", partial);
    out.clear();
    if (partial.empty()) {
      out.resize(static_cast<std::size_t>(num_items()));
      std::iota(out.begin(), out.end(), 0);
      return;
    }
    const auto lists = sorted_lists(partial);
    out.assign(lists[0].begin(), lists[0].end());
    for (std::size_t q = 1; q < lists.size() && !out.empty(); ++q) {
      const auto& L = lists[q];
      index_t pos = 0;
      std::size_t w = 0;
      for (std::int32_t v : out) {
        pos = detail::gallop(L.data(), L.size(), pos, v);
        if (pos == L.size()) break;
        if (L[pos] == v) out[w++] = v;
      }
      out.resize(w);
    }
  }
  std::vector<std::int32_t> intersect(cspan<token> partial) const {
    std::vector<std::int32_t> out;
    intersect(partial, out);
    return out;
  }

  /// True when some item carries every token of `partial` (stops at the first such item).
  bool is_valid(cspan<token> partial) const {
    check_partial("posting_index::is_valid", partial);
    if (partial.empty()) return num_items() > 0;
    const auto lists = sorted_lists(partial);
    std::vector<index_t> pos(lists.size(), 0);
    for (std::int32_t v : lists[0]) {
      bool all = true;
      for (std::size_t q = 1; q < lists.size() && all; ++q) {
        pos[q] = detail::gallop(lists[q].data(), lists[q].size(), pos[q], v);
        if (pos[q] == lists[q].size()) return false;
        all = lists[q][pos[q]] == v;
      }
      if (all) return true;
    }
    return false;
  }

  /// Codes c of codebook r (ascending) such that partial ∪ {(r, c)} is still valid. r must not
  /// already appear in `partial`.
  std::vector<std::int32_t> allowed_codes(cspan<token> partial, index_t r) const {
    require(r >= 0 && r < num_codebooks(), "posting_index::allowed_codes: codebook ", r, " out of range [0, ",
            num_codebooks(), ")");
    for (const token& t : partial)
      require(t.codebook != r, "posting_index::allowed_codes: codebook ", r, " is already in the partial set");
    std::vector<std::int32_t> out;
    if (partial.empty()) {
      for (index_t c = 0; c < K_; ++c)
        if (offsets_[r * K_ + c + 1] > offsets_[r * K_ + c]) out.push_back(static_cast<std::int32_t>(c));
      return out;
    }
    std::vector<std::int32_t> items;
    intersect(partial, items);
    out.reserve(items.size());
    for (std::int32_t i : items) out.push_back(codes_(i, r));
    std::sort(out.begin(), out.end());
    out.erase(std::unique(out.begin(), out.end()), out.end());
    return out;
  }

  /// Canonical tuple (c_0, ..., c_{M−1}) → its items, by decreasing popularity then id;
  /// empty when no item has this tuple.
  cspan<std::int32_t> items(cspan<std::int32_t> tuple) const {
    check_dim("posting_index::items: length of the tuple (M)", tuple.size(), num_codebooks());
    index_t lo = 0, hi = num_tuples();
    while (lo < hi) {
      const index_t mid = (lo + hi) / 2;
      const int c = detail::compare_tokens(codes_.row(tuple_order_[tuple_offsets_[mid]]).data(), tuple.data(),
                                           num_codebooks());
      if (c == 0)
        return cspan<std::int32_t>(tuple_order_.data() + tuple_offsets_[mid],
                                   tuple_offsets_[mid + 1] - tuple_offsets_[mid]);
      if (c < 0)
        lo = mid + 1;
      else
        hi = mid;
    }
    return {};
  }
  /// Same, from an unordered token set holding every codebook once.
  cspan<std::int32_t> items(cspan<token> tokens) const {
    check_partial("posting_index::items", tokens);
    check_dim("posting_index::items: tokens in the set (M)", tokens.size(), num_codebooks());
    std::vector<std::int32_t> tuple(static_cast<std::size_t>(num_codebooks()));
    for (const token& t : tokens) tuple[static_cast<std::size_t>(t.codebook)] = t.code;
    return items(cspan<std::int32_t>(tuple.data(), num_codebooks()));
  }

  void save(const std::string& path) const {
    io::binary_writer w(path, "posting_index");
    w.put_scalar<std::int64_t>("codebook_size", K_);
    w.put_matrix<std::int32_t>("codes", codes_);
    w.put("popularity", popularity_);
    w.commit();
  }
  /// Loads the codes and popularity and rebuilds the lists (validating every code).
  void load(const std::string& path) {
    io::binary_reader r(path, "posting_index");
    const auto K = r.get_scalar<std::int64_t>("codebook_size");
    const auto codes = r.get_matrix<std::int32_t>("codes");
    const auto pop = r.get_vector<std::int64_t>("popularity");
    if (K < 1) r.fail("codebook_size", "must be at least 1");
    // The index holds M·K list offsets: a size no real codebook reaches means a damaged file,
    // which must not become a huge allocation. 2^24 lists (128 MiB of offsets) is far above any
    // tokenizer's M·K (4 × 256 in REG4Rec); a 100-byte file claiming 2^28 once took 44 s and
    // 4 GiB to load under ASan (found by fuzzing).
    if (K > max_lists || codes.cols() * K > max_lists)
      r.fail("codebook_size", reg4rec::detail::cat("K = ", K, " with ", codes.cols(),
                                                   " codebooks is out of range (at most 2^24 posting lists)"));
    if (static_cast<index_t>(pop.size()) != codes.rows()) r.fail("popularity", "length differs from the codes");
    try {
      *this = build(codes, K, pop);
    } catch (const error& e) {
      r.fail("codes", e.what());
    }
  }

 private:
  void check_token(const char* who, index_t r, index_t c) const {
    if (r < 0 || r >= num_codebooks() || c < 0 || c >= K_)
      throw argument_error(reg4rec::detail::cat(who, ": token (", r, ", ", c, ") out of range: codebook in [0, ",
                                                num_codebooks(), "), code in [0, ", K_, ")"));
  }
  void check_partial(const char* who, cspan<token> partial) const {
    std::uint64_t seen = 0;
    std::vector<char> seen_big;
    for (const token& t : partial) {
      check_token(who, t.codebook, t.code);
      bool dup;
      if (num_codebooks() <= 64) {
        dup = (seen >> t.codebook) & 1u;
        seen |= std::uint64_t(1) << t.codebook;
      } else {
        seen_big.resize(static_cast<std::size_t>(num_codebooks()));
        dup = seen_big[t.codebook];
        seen_big[t.codebook] = 1;
      }
      require(!dup, who, ": codebook ", t.codebook, " appears twice in the token set");
    }
  }
  std::vector<cspan<std::int32_t>> sorted_lists(cspan<token> partial) const {
    std::vector<cspan<std::int32_t>> lists;
    lists.reserve(static_cast<std::size_t>(partial.size()));
    for (const token& t : partial) {
      const index_t s = index_t(t.codebook) * K_ + t.code;
      lists.emplace_back(postings_.data() + offsets_[s], offsets_[s + 1] - offsets_[s]);
    }
    std::stable_sort(lists.begin(), lists.end(), [](const auto& a, const auto& b) { return a.size() < b.size(); });
    return lists;
  }

  index_t K_ = 0;
  matrix<std::int32_t> codes_;              // (n, M)
  std::vector<std::int64_t> popularity_;    // (n)
  std::vector<index_t> offsets_;            // (M·K + 1)
  std::vector<std::int32_t> postings_;      // (n·M)
  std::vector<std::int32_t> tuple_order_;   // items by tuple, then rank
  std::vector<index_t> tuple_offsets_{0};
};

}  // namespace reg4rec::quant
