// Item ↔ SID maps built from a quantizer's codes, with a collision policy deciding what happens
// when several items receive the same SID.
//
//   auto codes = rq.encode(item_vectors);                                  // (n_items, M)
//   auto t = quant::sid_table<quant::append_dedup_token>::build(codes, 256, popularity);
//   t.sid(42);                 // item 42's SID, M + 1 tokens
//   t.items(sid);              // the item(s) carrying a SID
//
// Policies:
// - append_dedup_token (TIGER): an extra token numbers the items that share an M-token SID,
//   0, 1, 2, ... in order of decreasing training popularity, then increasing item id. SIDs
//   have M + 1 tokens; the extra token lies in [0, dedup_range()) with dedup_range() the
//   largest number of items sharing a SID. Every SID names exactly one item.
// - rank_by_popularity (MPQ, SPEC §3.5): SIDs stay M tokens and may be shared; items(sid)
//   returns all items of a SID by decreasing popularity, then id. The bijection is between
//   items and (SID, rank) pairs.
// - reassign_nearest_free: the SIDs stay M tokens and become unique by moving colliding items
//   to another code at the last level, keeping the prefix (the first M − 1 tokens). It needs,
//   for every item, its candidate last-level codes ranked best first (candidates: (n, C)
//   int32, C ≥ 1, e.g. residual_kmeans::last_level_candidates). Within each prefix, items go
//   in order of decreasing popularity, then id: first every item whose own code is still free
//   claims it (so each used code keeps its most popular item); then each remaining item takes
//   its best-ranked candidate that no item uses. If none of its candidates is free it takes
//   the smallest free code (counted in fallback_items()). A prefix holding more than K items
//   cannot be made unique and is an error.
//
// Item ids are row indices of the code matrix (0 ≤ id < n). popularity: (n) non-negative
// training counts, or empty (all equal: ties go to the smaller id).
#pragma once

#include <algorithm>
#include <cstdint>
#include <numeric>
#include <string>
#include <type_traits>
#include <vector>

#include "reg4rec/core/error.hpp"
#include "reg4rec/core/types.hpp"
#include "reg4rec/core/view.hpp"
#include "reg4rec/io/binary.hpp"
#include "reg4rec/quant/detail/sid_groups.hpp"

namespace reg4rec::quant {

struct append_dedup_token {
  static constexpr const char* name = "append_dedup_token";
};
struct rank_by_popularity {
  static constexpr const char* name = "rank_by_popularity";
};
struct reassign_nearest_free {
  static constexpr const char* name = "reassign_nearest_free";
};

template <class P>
inline constexpr bool is_collision_policy_v = std::is_same_v<P, append_dedup_token> ||
                                              std::is_same_v<P, rank_by_popularity> ||
                                              std::is_same_v<P, reassign_nearest_free>;

namespace detail {
inline std::vector<std::int64_t> checked_popularity(const char* who, cspan<std::int64_t> pop, index_t n) {
  std::vector<std::int64_t> p(static_cast<std::size_t>(n), 0);
  if (pop.size() == 0) return p;
  check_dim(reg4rec::detail::cat(who, ": length of popularity (items)").c_str(), pop.size(), n);
  for (index_t i = 0; i < n; ++i) {
    if (pop[i] < 0) throw value_error(reg4rec::detail::cat(who, ": popularity of item ", i, " is negative (", pop[i], ")"));
    p[static_cast<std::size_t>(i)] = pop[i];
  }
  return p;
}
/// Sorts items [first, last) by decreasing popularity, then increasing id.
inline void sort_by_popularity(std::int32_t* first, std::int32_t* last, const std::vector<std::int64_t>& pop) {
  std::sort(first, last, [&](std::int32_t a, std::int32_t b) {
    return pop[a] != pop[b] ? pop[a] > pop[b] : a < b;
  });
}
}  // namespace detail

template <class Policy>
class sid_table {
  static_assert(is_collision_policy_v<Policy>,
                "sid_table: Policy must be append_dedup_token, rank_by_popularity or reassign_nearest_free");

 public:
  using policy = Policy;
  static constexpr bool unique_sids = !std::is_same_v<Policy, rank_by_popularity>;

  sid_table() = default;

  /// codes: (n, M) int32 in [0, K); popularity: (n) or empty. For append_dedup_token and
  /// rank_by_popularity.
  static sid_table build(cmatrix_view<std::int32_t> codes, index_t codebook_size,
                         cspan<std::int64_t> popularity = {}) {
    static_assert(!std::is_same_v<Policy, reassign_nearest_free>,
                  "reassign_nearest_free needs candidate codes: build(codes, K, popularity, candidates)");
    sid_table t;
    t.init("sid_table::build", codes, codebook_size, popularity);
    const index_t n = codes.rows(), M = codes.cols();
    const auto g = detail::group_by_sid(codes, M);
    std::vector<std::int32_t> order = g.order;
    for (index_t k = 0; k < g.groups(); ++k)
      detail::sort_by_popularity(order.data() + g.offsets[k], order.data() + g.offsets[k + 1], t.popularity_);
    if constexpr (std::is_same_v<Policy, append_dedup_token>) {
      t.sids_.resize(n, M + 1);
      t.sids_.leftCols(M) = codes.eigen();
      for (index_t k = 0; k < g.groups(); ++k) {
        t.extra_range_ = std::max(t.extra_range_, g.size(k));
        for (index_t s = g.offsets[k]; s < g.offsets[k + 1]; ++s)
          t.sids_(order[s], M) = static_cast<std::int32_t>(s - g.offsets[k]);
      }
      std::vector<index_t> singles(static_cast<std::size_t>(n) + 1);
      std::iota(singles.begin(), singles.end(), index_t(0));
      t.finish(std::move(order), std::move(singles));  // (codes, rank) order = full-SID order
    } else {
      t.sids_ = codes.eigen();
      t.finish(std::move(order), g.offsets);
    }
    return t;
  }

  /// reassign_nearest_free. candidates: (n, C) int32 in [0, K), row i = item i's last-level
  /// codes, best first.
  static sid_table build(cmatrix_view<std::int32_t> codes, index_t codebook_size, cspan<std::int64_t> popularity,
                         cmatrix_view<std::int32_t> candidates) {
    static_assert(std::is_same_v<Policy, reassign_nearest_free>,
                  "candidate codes are only used by reassign_nearest_free");
    static constexpr const char* who = "sid_table<reassign_nearest_free>::build";
    sid_table t;
    t.init(who, codes, codebook_size, popularity);
    const index_t n = codes.rows(), M = codes.cols(), K = codebook_size;
    check_dim("sid_table<reassign_nearest_free>::build: rows of candidates (items)", candidates.rows(), n);
    require(candidates.cols() >= 1, who, ": candidates need at least one column");
    detail::check_codes(who, candidates, K);
    t.sids_ = codes.eigen();
    // Group by prefix (M − 1 tokens; one group when M = 1), most popular first.
    detail::sid_grouping g;
    if (M > 1) {
      g = detail::group_by_sid(codes, M - 1);
    } else {
      g.order.resize(static_cast<std::size_t>(n));
      std::iota(g.order.begin(), g.order.end(), 0);
      g.offsets = {0, n};
    }
    std::vector<char> used(static_cast<std::size_t>(K));
    std::vector<std::int32_t> pending;
    for (index_t k = 0; k < g.groups(); ++k) {
      std::int32_t* first = g.order.data() + g.offsets[k];
      std::int32_t* last = g.order.data() + g.offsets[k + 1];
      if (last - first > K)
        throw argument_error(reg4rec::detail::cat(
            who, ": ", last - first, " items share the prefix of item ", *first, " but the last level has only K = ",
            K, " codes; use append_dedup_token or rank_by_popularity"));
      detail::sort_by_popularity(first, last, t.popularity_);
      std::fill(used.begin(), used.end(), 0);
      pending.clear();
      for (auto* p = first; p != last; ++p) {
        char& u = used[static_cast<std::size_t>(codes(*p, M - 1))];
        if (!u)
          u = 1;
        else
          pending.push_back(*p);
      }
      for (std::int32_t item : pending) {
        std::int32_t chosen = -1;
        for (index_t c = 0; c < candidates.cols() && chosen < 0; ++c)
          if (!used[static_cast<std::size_t>(candidates(item, c))]) chosen = candidates(item, c);
        if (chosen < 0) {
          for (index_t c = 0; c < K && chosen < 0; ++c)
            if (!used[static_cast<std::size_t>(c)]) chosen = static_cast<std::int32_t>(c);
          ++t.fallback_;
        }
        used[static_cast<std::size_t>(chosen)] = 1;
        t.sids_(item, M - 1) = chosen;
        ++t.reassigned_;
      }
    }
    const auto full = detail::group_by_sid(t.sids_, M);
    t.finish(full.order, full.offsets);
    return t;
  }

  index_t num_items() const noexcept { return sids_.rows(); }
  /// Tokens per SID: M + 1 with append_dedup_token, M otherwise.
  index_t sid_length() const noexcept { return sids_.cols(); }
  /// Tokens coming from the quantizer (M).
  index_t num_codebooks() const noexcept { return M_; }
  index_t codebook_size() const noexcept { return K_; }
  /// Distinct SIDs in the table.
  index_t num_sids() const noexcept { return static_cast<index_t>(offsets_.size()) - 1; }
  /// Vocabulary of token position r: K for r < M, dedup_range() for the dedup token.
  index_t vocabulary(index_t r) const {
    require(r >= 0 && r < sid_length(), "sid_table::vocabulary: position ", r, " out of range [0, ", sid_length(), ")");
    return r < M_ ? K_ : extra_range_;
  }
  /// append_dedup_token: the extra token lies in [0, dedup_range()).
  index_t dedup_range() const noexcept {
    static_assert(std::is_same_v<Policy, append_dedup_token>, "dedup_range() exists for append_dedup_token only");
    return extra_range_;
  }
  /// reassign_nearest_free: items moved to another last-level code, and those of them that
  /// found no free code among their candidates.
  index_t reassigned_items() const noexcept { return reassigned_; }
  index_t fallback_items() const noexcept { return fallback_; }

  /// (n, sid_length()) every item's SID.
  cmatrix_view<std::int32_t> sids() const noexcept { return sids_; }
  /// Item → SID.
  cspan<std::int32_t> sid(index_t item) const {
    if (item < 0 || item >= num_items())
      throw not_found_error(reg4rec::detail::cat("sid_table::sid: unknown item id ", item, " (the table holds ",
                                                 num_items(), " items)"));
    return cspan<std::int32_t>(sids_.row(item).data(), sid_length());
  }
  /// SID → items (by decreasing popularity, then id); empty when no item has this SID.
  cspan<std::int32_t> items(cspan<std::int32_t> sid) const {
    check_dim("sid_table::items: length of the SID", sid.size(), sid_length());
    const index_t g = find(sid.data());
    if (g < 0) return {};
    return cspan<std::int32_t>(order_.data() + offsets_[g], offsets_[g + 1] - offsets_[g]);
  }
  /// The (top-ranked) item of a SID, or -1.
  std::int32_t item(cspan<std::int32_t> sid) const {
    const auto it = items(sid);
    return it.empty() ? -1 : it[0];
  }
  std::int64_t popularity(index_t item) const {
    sid(item);
    return popularity_[static_cast<std::size_t>(item)];
  }

  void save(const std::string& path) const {
    io::binary_writer w(path, "sid_table");
    w.put_string("policy", Policy::name);
    w.put_scalar<std::int64_t>("num_codebooks", M_);
    w.put_scalar<std::int64_t>("codebook_size", K_);
    w.put_scalar<std::int64_t>("extra_range", extra_range_);
    w.put_scalar<std::int64_t>("reassigned", reassigned_);
    w.put_scalar<std::int64_t>("fallback", fallback_);
    w.put_matrix<std::int32_t>("sids", sids_);
    w.put("popularity", popularity_);
    w.commit();
  }
  void load(const std::string& path) {
    io::binary_reader r(path, "sid_table");
    const std::string policy = r.get_string("policy");
    if (policy != Policy::name)
      r.fail("policy", "holds a sid_table<" + policy + ">, cannot be loaded into sid_table<" + Policy::name + ">");
    sid_table t;
    t.M_ = r.get_scalar<std::int64_t>("num_codebooks");
    t.K_ = r.get_scalar<std::int64_t>("codebook_size");
    t.extra_range_ = r.get_scalar<std::int64_t>("extra_range");
    t.reassigned_ = r.get_scalar<std::int64_t>("reassigned");
    t.fallback_ = r.get_scalar<std::int64_t>("fallback");
    t.sids_ = r.get_matrix<std::int32_t>("sids");
    t.popularity_ = r.get_vector<std::int64_t>("popularity");
    if (t.M_ < 1 || t.K_ < 1 || t.M_ > t.sids_.cols()) r.fail("num_codebooks", "M and K must be at least 1 (and M at most the SID length)");
    const index_t expect_len = t.M_ + (std::is_same_v<Policy, append_dedup_token> ? 1 : 0);
    if (t.sids_.cols() != expect_len) r.fail("sids", "has the wrong number of tokens per SID");
    if (static_cast<index_t>(t.popularity_.size()) != t.sids_.rows()) r.fail("popularity", "length differs from sids");
    for (std::int64_t p : t.popularity_)
      if (p < 0) r.fail("popularity", "holds a negative count");
    for (index_t i = 0; i < t.sids_.rows(); ++i)
      for (index_t c = 0; c < t.sids_.cols(); ++c) {
        const index_t hi = c < t.M_ ? t.K_ : t.extra_range_;
        if (t.sids_(i, c) < 0 || t.sids_(i, c) >= hi) r.fail("sids", "holds a token out of range");
      }
    const auto g = detail::group_by_sid(t.sids_, t.sids_.cols());
    std::vector<std::int32_t> order = g.order;
    for (index_t k = 0; k < g.groups(); ++k)
      detail::sort_by_popularity(order.data() + g.offsets[k], order.data() + g.offsets[k + 1], t.popularity_);
    if (unique_sids && g.groups() != t.sids_.rows()) r.fail("sids", "SIDs are not unique");
    t.finish(order, g.offsets);
    *this = std::move(t);
  }

 private:
  void init(const char* who, cmatrix_view<std::int32_t> codes, index_t K, cspan<std::int64_t> popularity) {
    require(K >= 1, who, ": codebook size K must be at least 1, got ", K);
    require(codes.rows() >= 1, who, ": the code matrix is empty (no items)");
    detail::check_codes(who, codes, K);
    M_ = codes.cols();
    K_ = K;
    popularity_ = detail::checked_popularity(who, popularity, codes.rows());
  }
  void finish(std::vector<std::int32_t> order, std::vector<index_t> offsets) {
    order_ = std::move(order);
    offsets_ = std::move(offsets);
  }
  // Group index of a SID by binary search over the sorted groups, or -1.
  index_t find(const std::int32_t* s) const {
    index_t lo = 0, hi = num_sids();
    while (lo < hi) {
      const index_t mid = (lo + hi) / 2;
      const int c = detail::compare_tokens(sids_.row(order_[offsets_[mid]]).data(), s, sid_length());
      if (c == 0) return mid;
      if (c < 0)
        lo = mid + 1;
      else
        hi = mid;
    }
    return -1;
  }

  matrix<std::int32_t> sids_;            // (n, sid_length())
  std::vector<std::int64_t> popularity_;  // (n)
  std::vector<std::int32_t> order_;       // items sorted by SID, then rank
  std::vector<index_t> offsets_{0};       // group g = order_[offsets_[g], offsets_[g + 1])
  index_t M_ = 0, K_ = 0, extra_range_ = 0, reassigned_ = 0, fallback_ = 0;
};

}  // namespace reg4rec::quant
