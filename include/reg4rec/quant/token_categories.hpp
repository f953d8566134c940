// The token-category table of SPEC §3.5: for every token (r, c), the leaf category most
// frequent among the items that carry it. REG4Rec uses it to tell the reasoning stage what a
// token "means" (and the category-consistency reward reads it).
//
//   auto cats = quant::token_category_table::build(codes, 256, item_category);
//   cats.category(r, c);   // category id, or -1 when no item with a known category has (r, c)
//
// Ties between equally frequent categories go to the smallest category id. Items whose
// category is negative (unknown) are ignored.
#pragma once

#include <algorithm>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "reg4rec/core/error.hpp"
#include "reg4rec/core/types.hpp"
#include "reg4rec/core/view.hpp"
#include "reg4rec/io/binary.hpp"
#include "reg4rec/quant/detail/sid_groups.hpp"

namespace reg4rec::quant {

class token_category_table {
 public:
  token_category_table() = default;

  /// codes: (n, M) int32 in [0, K); category: (n) leaf category per item (< 0: unknown).
  static token_category_table build(cmatrix_view<std::int32_t> codes, index_t codebook_size,
                                    cspan<std::int32_t> category) {
    static constexpr const char* who = "token_category_table::build";
    require(codebook_size >= 1, who, ": codebook size K must be at least 1, got ", codebook_size);
    require(codes.rows() >= 1, who, ": the code matrix is empty (no items)");
    detail::check_codes(who, codes, codebook_size);
    check_dim("token_category_table::build: length of category (items)", category.size(), codes.rows());
    const index_t n = codes.rows(), M = codes.cols(), K = codebook_size;
    token_category_table t;
    t.table_.setConstant(M, K, -1);
    t.count_.setZero(M, K);
    t.support_.setZero(M, K);
    std::vector<std::pair<std::int32_t, std::int32_t>> pairs;  // (code, category)
    pairs.reserve(static_cast<std::size_t>(n));
    for (index_t r = 0; r < M; ++r) {
      pairs.clear();
      for (index_t i = 0; i < n; ++i)
        if (category[i] >= 0) pairs.emplace_back(codes(i, r), category[i]);
      std::sort(pairs.begin(), pairs.end());
      // Runs of equal (code, category); within a code, categories ascend, so keeping only a
      // strictly larger count leaves ties with the smallest id.
      for (std::size_t s = 0; s < pairs.size();) {
        std::size_t e = s;
        while (e < pairs.size() && pairs[e] == pairs[s]) ++e;
        const auto [c, cat] = pairs[s];
        const auto run = static_cast<std::int32_t>(e - s);
        t.support_(r, c) += run;
        if (run > t.count_(r, c)) {
          t.count_(r, c) = run;
          t.table_(r, c) = cat;
        }
        s = e;
      }
    }
    return t;
  }

  index_t num_codebooks() const noexcept { return table_.rows(); }
  index_t codebook_size() const noexcept { return table_.cols(); }
  /// Most frequent category of token (r, c), or -1.
  std::int32_t category(index_t r, index_t c) const {
    check("token_category_table::category", r, c);
    return table_(r, c);
  }
  /// Items with token (r, c) and the winning category.
  std::int32_t count(index_t r, index_t c) const {
    check("token_category_table::count", r, c);
    return count_(r, c);
  }
  /// Items with token (r, c) and a known category (count / support is the token's purity).
  std::int32_t support(index_t r, index_t c) const {
    check("token_category_table::support", r, c);
    return support_(r, c);
  }
  /// (M, K) the whole table.
  cmatrix_view<std::int32_t> table() const noexcept { return table_; }

  void save(const std::string& path) const {
    io::binary_writer w(path, "token_categories");
    w.put_matrix<std::int32_t>("category", table_);
    w.put_matrix<std::int32_t>("count", count_);
    w.put_matrix<std::int32_t>("support", support_);
    w.commit();
  }
  void load(const std::string& path) {
    io::binary_reader r(path, "token_categories");
    token_category_table t;
    t.table_ = r.get_matrix<std::int32_t>("category");
    t.count_ = r.get_matrix<std::int32_t>("count");
    t.support_ = r.get_matrix<std::int32_t>("support");
    if (t.count_.rows() != t.table_.rows() || t.count_.cols() != t.table_.cols() ||
        t.support_.rows() != t.table_.rows() || t.support_.cols() != t.table_.cols())
      r.fail("count", "shape differs from the category table");
    *this = std::move(t);
  }

 private:
  void check(const char* who, index_t r, index_t c) const {
    if (r < 0 || r >= num_codebooks() || c < 0 || c >= codebook_size())
      throw argument_error(reg4rec::detail::cat(who, ": token (", r, ", ", c, ") out of range: codebook in [0, ",
                                                num_codebooks(), "), code in [0, ", codebook_size(), ")"));
  }

  matrix<std::int32_t> table_, count_, support_;  // (M, K) each
};

}  // namespace reg4rec::quant
