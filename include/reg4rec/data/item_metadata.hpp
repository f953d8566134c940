// Item metadata from an `items.tsv` file: a header line, then one tab-separated row per item.
// Columns are found by their header name, in any order; unknown columns are ignored:
//
//   item_id        required; the id used by the sequence file (looked up in the dataset's map)
//   asin           product id
//   title          product title
//   attribute_ids  comma-separated integer attribute ids (brand, then the category path)
//   attributes     the attributes' names separated by " | ", same order as attribute_ids
//   idgenrec_text  short keyword text of the item
//
// Beauty has all six columns; Toys has item_id, asin, attribute_ids and idgenrec_text.
//
// Brand and categories. An item's attribute list is an optional brand followed by a category
// path from a top-level category down (`OPI | Makeup | Nails | Nail Polish`, or without brand
// `Makeup | Face | Concealers & Neutralizers`). Brands and top-level categories are told
// apart from the data: a label is a top-level category ("root") when it is the first entry
// of some item and the second entry of another (it follows a brand there). A first entry
// that is not a root is the brand. On Beauty this finds the 6 roots Skin Care, Hair Care,
// Makeup, Tools & Accessories, Bath & Body, Fragrance, and brands on 7,494 of 12,101 items
// (brands that share a category's name, such as "Retinol", are still told apart because they
// never follow a brand). Labels are the names when the `attributes` column exists, otherwise
// "attr<id>" built from the ids (Toys, whose names are not available: every Toys item then
// has a brand label "attr<id>" and the path below it).
//
// The leaf category of an item is the last label of its category path (Beauty: the last
// name, e.g. "Nail Polish"; Toys: "attr<last id>"). Leaf categories get dense ids 0..C-1 in
// order of first appearance over the items; an item without category has leaf -1.
//
// Errors (format_error naming the file, the 1-based line and the column): missing header or
// required column, a column named twice, the header line repeated, a row with the wrong
// number of columns, an item id not in the dataset, an item given twice, a bad attribute id,
// attribute names and ids of different lengths, and (unless require_all_items is false) a
// dataset item without a row (line 0: it concerns the whole file).
#pragma once

#include <algorithm>
#include <cstdint>
#include <ostream>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "reg4rec/core/error.hpp"
#include "reg4rec/core/types.hpp"
#include "reg4rec/data/detail/text.hpp"
#include "reg4rec/data/id_map.hpp"
#include "reg4rec/io/atomic_file.hpp"

namespace reg4rec::data {

/// One item's metadata. Absent fields are empty.
struct item_record {
  bool present = false;                   ///< the file has a row for this item
  std::int64_t line = 0;                  ///< its line
  std::string asin, title, text;          ///< text = idgenrec_text
  std::vector<std::int32_t> attribute_ids;
  std::vector<std::string> attributes;    ///< names, when the file has them
  std::string brand;                      ///< brand label, empty when the item has none
  std::vector<std::string> categories;    ///< category path labels, top-level first
};

struct item_metadata_options {
  /// Every item of the dataset must have a row (otherwise missing items get empty records,
  /// counted in missing_items()).
  bool require_all_items = true;
  std::ostream* log = nullptr;  ///< one summary line when done
};

class item_metadata {
 public:
  index_t n_items() const noexcept { return static_cast<index_t>(records_.size()); }
  const item_record& operator[](index_t item) const { return records_.at(static_cast<std::size_t>(item)); }
  const std::vector<item_record>& records() const noexcept { return records_; }

  bool has_titles() const noexcept { return has_title_; }
  bool has_attribute_names() const noexcept { return has_names_; }
  bool has_text() const noexcept { return has_text_; }

  /// Dense leaf-category id of every item, -1 for none. (n_items)
  const std::vector<std::int32_t>& leaf_category() const noexcept { return leaf_; }
  /// Dense ids of every item's category cut to its first `depth` levels (top-level first; an
  /// item whose path is shorter keeps its whole path; -1 for none), in order of first
  /// appearance over the items; names, when given, receives the paths joined by " | ". Coarser
  /// categories for the category rewards and CORP: Beauty has 6 categories at depth 1, 46 at
  /// depth 2 and 195 leaf names. depth ≥ 1.
  std::vector<std::int32_t> category_at_depth(index_t depth, std::vector<std::string>* names = nullptr) const {
    require(depth >= 1, "item_metadata::category_at_depth: depth must be at least 1, got ", depth);
    std::vector<std::int32_t> ids(records_.size(), -1);
    std::unordered_map<std::string, std::int32_t> seen;
    if (names) names->clear();
    for (std::size_t i = 0; i < records_.size(); ++i) {
      const auto& c = records_[i].categories;
      if (c.empty()) continue;
      std::string key;
      for (std::size_t k = 0; k < std::min<std::size_t>(c.size(), static_cast<std::size_t>(depth)); ++k)
        key += (k ? " | " : "") + c[k];
      const auto [it, fresh] = seen.emplace(key, static_cast<std::int32_t>(seen.size()));
      if (fresh && names) names->push_back(key);
      ids[i] = it->second;
    }
    return ids;
  }
  /// Names (labels) of the leaf categories, by dense id.
  const std::vector<std::string>& category_names() const noexcept { return category_names_; }
  index_t n_categories() const noexcept { return static_cast<index_t>(category_names_.size()); }
  /// Labels found to be top-level categories (see the file comment), sorted.
  const std::vector<std::string>& root_categories() const noexcept { return roots_; }

  index_t items_with_brand() const noexcept { return with_brand_; }
  index_t missing_items() const noexcept { return missing_; }
  const std::string& path() const noexcept { return path_; }

  std::string summary() const {
    return reg4rec::detail::cat(path_, ": ", n_items() - missing_, " of ", n_items(), " items described, ",
                                with_brand_, " with a brand, ", n_categories(), " leaf categories, ",
                                roots_.size(), " top-level categories");
  }

 private:
  friend item_metadata load_item_metadata(const std::string&, const id_map&, const item_metadata_options&);

  std::string path_;
  std::vector<item_record> records_;
  std::vector<std::int32_t> leaf_;
  std::vector<std::string> category_names_, roots_;
  bool has_title_ = false, has_names_ = false, has_text_ = false;
  index_t with_brand_ = 0, missing_ = 0;
};

/// Reads `items.tsv`; `items` is the dataset's item id map (item_metadata is indexed by it).
inline item_metadata load_item_metadata(const std::string& path, const id_map& items,
                                        const item_metadata_options& opt = {}) {
  const std::string content = io::read_file(path);
  detail::line_reader lines(content);
  std::string_view header;
  if (!lines.next(header) || detail::is_blank(header))
    throw format_error(path, 1, "", "expected a header line naming the columns (item_id, title, ...)");
  const std::string header_text(header);

  std::vector<std::string_view> cols;
  detail::split_char(header, '\t', cols);
  const index_t n_cols = static_cast<index_t>(cols.size());
  std::unordered_map<std::string, index_t> col_of;
  for (index_t c = 0; c < n_cols; ++c) {
    const std::string name(detail::trim(cols[static_cast<std::size_t>(c)]));
    if (name.empty()) throw format_error(path, 1, detail::cat("column ", c + 1), "empty column name");
    if (!col_of.emplace(name, c).second) throw format_error(path, 1, name, "column named twice in the header");
  }
  auto column = [&](const char* name) -> index_t {
    const auto it = col_of.find(name);
    return it == col_of.end() ? -1 : it->second;
  };
  const index_t c_id = column("item_id"), c_asin = column("asin"), c_title = column("title"),
                c_ids = column("attribute_ids"), c_names = column("attributes"), c_text = column("idgenrec_text");
  if (c_id < 0) throw format_error(path, 1, "item_id", "missing required column");

  item_metadata m;
  m.path_ = path;
  m.records_.assign(static_cast<std::size_t>(items.size()), item_record{});
  m.has_title_ = c_title >= 0;
  m.has_names_ = c_names >= 0;
  m.has_text_ = c_text >= 0;

  std::string_view line;
  std::vector<std::string_view> f;
  while (lines.next(line)) {
    const std::int64_t ln = lines.number();
    if (detail::is_blank(line)) continue;  // no data (trailing newline, spacing)
    if (line == header_text) throw format_error(path, ln, "", "the header line appears again (duplicate header)");
    detail::split_char(line, '\t', f);
    if (static_cast<index_t>(f.size()) != n_cols)
      throw format_error(path, ln, "", detail::cat("expected ", n_cols, " tab-separated columns (as the header), got ",
                                                   f.size()));
    const std::string_view id = detail::trim(f[static_cast<std::size_t>(c_id)]);
    std::int32_t item = items.find(id);
    std::int64_t v;
    if (item == id_map::npos && detail::parse_int(id, v)) item = items.find(std::to_string(v));
    if (item == id_map::npos)
      throw format_error(path, ln, "item_id", "unknown item id " + detail::quoted(id) + " (not in the dataset)");
    item_record& r = m.records_[static_cast<std::size_t>(item)];
    if (r.present)
      throw format_error(path, ln, "item_id", detail::cat("item ", id, " described twice (first on line ", r.line, ")"));
    r.present = true;
    r.line = ln;
    auto field = [&](index_t c) { return std::string(detail::trim(f[static_cast<std::size_t>(c)])); };
    if (c_asin >= 0) r.asin = field(c_asin);
    if (c_title >= 0) r.title = field(c_title);
    if (c_text >= 0) r.text = field(c_text);
    if (c_ids >= 0) {
      for (std::string_view t : detail::split_trimmed(f[static_cast<std::size_t>(c_ids)], ",")) {
        if (!detail::parse_int(t, v) || v < 0 || v > INT32_MAX)
          throw format_error(path, ln, "attribute_ids", "expected comma-separated non-negative integers, got " +
                                                            detail::quoted(f[static_cast<std::size_t>(c_ids)]));
        r.attribute_ids.push_back(static_cast<std::int32_t>(v));
      }
    }
    if (c_names >= 0) {
      for (std::string_view t : detail::split_trimmed(f[static_cast<std::size_t>(c_names)], " | "))
        r.attributes.emplace_back(t);
      if (c_ids >= 0 && r.attributes.size() != r.attribute_ids.size())
        throw format_error(path, ln, "attributes",
                           detail::cat(r.attributes.size(), " names for ", r.attribute_ids.size(), " attribute ids"));
    }
  }

  for (std::size_t i = 0; i < m.records_.size(); ++i)
    if (!m.records_[i].present) {
      if (opt.require_all_items)
        throw format_error(path, 0, "item_id",
                           detail::cat("no row for item ", items.external(static_cast<index_t>(i)), " of the dataset"));
      ++m.missing_;
    }

  // Labels, then brand / category path by the root rule of the file comment.
  std::vector<std::vector<std::string>> labels(m.records_.size());
  std::unordered_set<std::string> first, second;
  for (std::size_t i = 0; i < m.records_.size(); ++i) {
    const auto& r = m.records_[i];
    if (c_names >= 0)
      labels[i] = r.attributes;
    else
      for (std::int32_t a : r.attribute_ids) labels[i].push_back("attr" + std::to_string(a));
    if (!labels[i].empty()) first.insert(labels[i][0]);
    if (labels[i].size() > 1) second.insert(labels[i][1]);
  }
  for (const auto& l : first)
    if (second.count(l)) m.roots_.push_back(l);
  std::sort(m.roots_.begin(), m.roots_.end());
  const std::unordered_set<std::string> roots(m.roots_.begin(), m.roots_.end());

  std::unordered_map<std::string, std::int32_t> cat_id;
  m.leaf_.assign(m.records_.size(), -1);
  for (std::size_t i = 0; i < m.records_.size(); ++i) {
    auto& r = m.records_[i];
    const auto& l = labels[i];
    std::size_t start = 0;
    if (!l.empty() && !roots.count(l[0])) {
      r.brand = l[0];
      start = 1;
      ++m.with_brand_;
    }
    r.categories.assign(l.begin() + static_cast<std::ptrdiff_t>(start), l.end());
    if (!r.categories.empty()) {
      const auto [it, fresh] = cat_id.emplace(r.categories.back(), static_cast<std::int32_t>(m.category_names_.size()));
      if (fresh) m.category_names_.push_back(r.categories.back());
      m.leaf_[i] = it->second;
    }
  }
  if (opt.log) *opt.log << m.summary() << '\n';
  return m;
}

}  // namespace reg4rec::data
