// Loader for raw interaction logs: one interaction per line, `user, item, timestamp`, as CSV,
// TSV or white-space separated text, e.g. a ratings file exported from a review dump:
//
//   user_id,item_id,timestamp
//   A1YJEY40YUW4SE,B004756YJA,1388620800
//
// Steps, each counted in the report:
//   1. parse (delimiter detected from the first line unless given; a header detected when the
//      first line's timestamp field is not a number, or forced on/off; columns by position or,
//      with a header, by name; no quoting: a field cannot contain the delimiter);
//   2. group by user and sort each user's interactions by timestamp, stably (equal timestamps
//      keep the file order);
//   3. optionally remove repeated (user, item) pairs, keeping the earliest;
//   4. optionally filter to the k-core: drop users with fewer than user_core and items with
//      fewer than item_core interactions, and repeat until nothing changes (removing an item
//      can push a user under the threshold and the other way round);
//   5. number users and items: integer ids in numeric order; string ids by first appearance
//      (users in file order; items walking the final sequences user by user, oldest first,
//      which is how S3-Rec numbered Beauty).
// Timestamps are any decimal numbers (integers, fractions, exponents), compared as long double
// (exact for 64-bit integers on x86-64).
//
// Malformed input throws format_error naming the file, the line and the field: an empty user
// or item, a timestamp that is not a number, a row whose number of fields differs from the
// first line's, the header line repeated, a non-integer id when ids are integers; and (line 0)
// a file without data rows or a k-core filter that removes every interaction (empty dataset).
#pragma once

#include <algorithm>
#include <cstdint>
#include <numeric>
#include <ostream>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "reg4rec/core/error.hpp"
#include "reg4rec/core/types.hpp"
#include "reg4rec/data/detail/text.hpp"
#include "reg4rec/data/id_map.hpp"
#include "reg4rec/data/sequence_dataset.hpp"
#include "reg4rec/data/sequence_loader.hpp"
#include "reg4rec/io/atomic_file.hpp"

namespace reg4rec::data {

enum class header_mode { automatic, present, absent };

struct interaction_load_options {
  /// Field separator: '\t', ',', ';', ' ' (runs of spaces and tabs) or 0 to detect it from the
  /// first line (tab, else comma, else semicolon, else white space).
  char delimiter = 0;
  header_mode header = header_mode::automatic;
  /// 0-based column positions, used when no name is given or there is no header.
  index_t user_column = 0, item_column = 1, time_column = 2;
  /// Column names, looked up in the header when non-empty (requires a header).
  std::string user_name, item_name, time_name;
  id_kind user_ids = id_kind::string;
  id_kind item_ids = id_kind::string;
  /// Remove repeated (user, item) pairs, keeping the earliest interaction.
  bool dedup = false;
  /// k-core thresholds (0 or 1: no filtering). Beauty's 5-core is user_core = item_core = 5.
  index_t user_core = 0, item_core = 0;
  std::ostream* log = nullptr;  ///< one summary line when done
};

struct interaction_load_report {
  std::string path;
  char delimiter = 0;
  bool header = false;
  index_t lines = 0, blank_lines = 0, rows = 0;  ///< rows = interactions read
  index_t duplicates_removed = 0;                 ///< by dedup
  index_t kcore_rounds = 0;                        ///< rounds that removed something
  index_t kcore_interactions_removed = 0, kcore_users_removed = 0, kcore_items_removed = 0;
  index_t users = 0, items = 0, interactions = 0;  ///< in the dataset built

  std::string summary() const {
    return detail::cat(path, ": ", rows, " interactions read (", lines, " lines, ", blank_lines, " blank",
                       header ? ", header" : "", "), ", duplicates_removed, " repeated pairs removed, k-core: ",
                       kcore_interactions_removed, " interactions, ", kcore_users_removed, " users, ",
                       kcore_items_removed, " items removed in ", kcore_rounds, " rounds; kept ", users,
                       " users, ", items, " items, ", interactions, " interactions");
  }
};

namespace detail {

inline void split_fields(std::string_view line, char delim, std::vector<std::string_view>& out) {
  if (delim == ' ')
    split_whitespace(line, out);
  else
    split_char(line, delim, out);
}

inline char detect_delimiter(std::string_view line) {
  if (line.find('\t') != std::string_view::npos) return '\t';
  if (line.find(',') != std::string_view::npos) return ',';
  if (line.find(';') != std::string_view::npos) return ';';
  return ' ';
}

// Integer ids become their canonical decimal text; string ids are kept as written.
inline std::string read_id(std::string_view tok, id_kind kind, const std::string& path, std::int64_t ln,
                           const char* field) {
  if (tok.empty()) throw format_error(path, ln, field, std::string("empty ") + field + " id");
  if (kind == id_kind::string) return std::string(tok);
  std::int64_t v;
  if (!parse_int(tok, v) || v < 0)
    throw format_error(path, ln, field, "expected a non-negative integer id, got " + quoted(tok));
  return std::to_string(v);
}

// Id map of the kept ids: numeric order for integer ids, else the given first-appearance order.
inline id_map make_id_map(std::vector<std::string> first_appearance, id_kind kind) {
  if (kind == id_kind::integer)
    std::sort(first_appearance.begin(), first_appearance.end(), [](const std::string& a, const std::string& b) {
      return a.size() != b.size() ? a.size() < b.size() : a < b;  // canonical decimals
    });
  return id_map(std::move(first_appearance));
}

}  // namespace detail

/// Reads a `user, item, timestamp` log into a sequence_dataset (see the file comment).
inline sequence_dataset load_interactions(const std::string& path, const interaction_load_options& opt = {},
                                          interaction_load_report* report = nullptr) {
  require(opt.user_core >= 0 && opt.item_core >= 0, "load_interactions: k-core thresholds must be >= 0");
  const std::string content = io::read_file(path);
  interaction_load_report rep;
  rep.path = path;

  detail::line_reader lines(content);
  std::string_view line;
  std::vector<std::string_view> f;
  char delim = opt.delimiter;
  index_t n_fields = -1;
  index_t cu = opt.user_column, ci = opt.item_column, ct = opt.time_column;
  std::string header_text;
  bool first = true;

  std::vector<std::int32_t> row_user, row_item;  // first-appearance indices
  std::vector<long double> row_time;
  id_map users_seen, items_seen;

  while (lines.next(line)) {
    const std::int64_t ln = lines.number();
    if (detail::is_blank(line)) {
      ++rep.blank_lines;
      continue;
    }
    if (first) {
      if (delim == 0) delim = detail::detect_delimiter(line);
      require(delim == '\t' || delim == ',' || delim == ';' || delim == ' ',
              "load_interactions: unsupported delimiter '", delim, "'");
      detail::split_fields(line, delim, f);
      n_fields = static_cast<index_t>(f.size());
      long double t;
      const bool has_time = ct >= 0 && ct < n_fields && detail::parse_number(detail::trim(f[static_cast<std::size_t>(ct)]), t);
      const bool header = opt.header == header_mode::present || (opt.header == header_mode::automatic && !has_time);
      const bool by_name = !opt.user_name.empty() || !opt.item_name.empty() || !opt.time_name.empty();
      if (by_name && !header) throw format_error(path, ln, "", "columns are given by name but the file has no header");
      if (header) {
        rep.header = true;
        header_text = std::string(line);
        auto find = [&](const std::string& name, index_t fallback) {
          if (name.empty()) return fallback;
          for (index_t c = 0; c < n_fields; ++c)
            if (detail::trim(f[static_cast<std::size_t>(c)]) == name) return c;
          throw format_error(path, ln, name, "column not found in the header");
        };
        cu = find(opt.user_name, cu);
        ci = find(opt.item_name, ci);
        ct = find(opt.time_name, ct);
      }
      for (index_t c : {cu, ci, ct})
        if (c < 0 || c >= n_fields)
          throw format_error(path, ln, "", detail::cat("column ", c, " requested but the line has ", n_fields,
                                                       " fields (delimiter ", delim == '\t' ? std::string("tab") : std::string(1, delim), ")"));
      require(cu != ci && cu != ct && ci != ct, "load_interactions: user, item and time columns must differ");
      first = false;
      if (header) continue;
    } else if (rep.header && line == header_text) {
      throw format_error(path, ln, "", "the header line appears again (duplicate header)");
    }
    detail::split_fields(line, delim, f);
    if (static_cast<index_t>(f.size()) != n_fields)
      throw format_error(path, ln, "", detail::cat("expected ", n_fields, " fields like the first line, got ", f.size()));
    const auto tok = [&](index_t c) { return detail::trim(f[static_cast<std::size_t>(c)]); };
    const std::string user = detail::read_id(tok(cu), opt.user_ids, path, ln, "user");
    const std::string item = detail::read_id(tok(ci), opt.item_ids, path, ln, "item");
    long double t;
    if (!detail::parse_number(tok(ct), t))
      throw format_error(path, ln, "timestamp", "expected a number, got " + detail::quoted(tok(ct)));
    row_user.push_back(users_seen.insert(user));
    row_item.push_back(items_seen.insert(item));
    row_time.push_back(t);
  }
  rep.lines = lines.number();
  rep.delimiter = delim;
  rep.rows = static_cast<index_t>(row_user.size());
  if (rep.rows == 0) throw format_error(path, 0, "", "no interactions: the file holds no data row");

  // Group by user (first-appearance order), then by time; stable keeps file order on ties.
  std::vector<index_t> order(row_user.size());
  std::iota(order.begin(), order.end(), index_t(0));
  std::stable_sort(order.begin(), order.end(), [&](index_t a, index_t b) {
    if (row_user[a] != row_user[b]) return row_user[a] < row_user[b];
    return row_time[a] < row_time[b];
  });

  std::vector<char> alive(order.size(), 1);  // by position in `order`
  if (opt.dedup) {
    std::vector<std::int64_t> last_user(static_cast<std::size_t>(items_seen.size()), -1);
    for (std::size_t k = 0; k < order.size(); ++k) {
      const auto u = row_user[order[k]], i = row_item[order[k]];
      if (last_user[i] == u) {
        alive[k] = 0;
        ++rep.duplicates_removed;
      }
      last_user[i] = u;
    }
  }

  const bool kcore = opt.user_core > 1 || opt.item_core > 1;
  std::vector<index_t> ucount(static_cast<std::size_t>(users_seen.size())), icount(static_cast<std::size_t>(items_seen.size()));
  auto recount = [&] {
    std::fill(ucount.begin(), ucount.end(), 0);
    std::fill(icount.begin(), icount.end(), 0);
    for (std::size_t k = 0; k < order.size(); ++k)
      if (alive[k]) ++ucount[row_user[order[k]]], ++icount[row_item[order[k]]];
  };
  recount();
  const auto users_before = std::count_if(ucount.begin(), ucount.end(), [](index_t c) { return c > 0; });
  const auto items_before = std::count_if(icount.begin(), icount.end(), [](index_t c) { return c > 0; });
  while (kcore) {
    index_t removed = 0;
    for (std::size_t k = 0; k < order.size(); ++k)
      if (alive[k] && (ucount[row_user[order[k]]] < opt.user_core || icount[row_item[order[k]]] < opt.item_core)) {
        alive[k] = 0;
        ++removed;
      }
    if (removed == 0) break;
    ++rep.kcore_rounds;
    rep.kcore_interactions_removed += removed;
    recount();
  }
  rep.kcore_users_removed = users_before - std::count_if(ucount.begin(), ucount.end(), [](index_t c) { return c > 0; });
  rep.kcore_items_removed = items_before - std::count_if(icount.begin(), icount.end(), [](index_t c) { return c > 0; });
  if (rep.kcore_interactions_removed == rep.rows - rep.duplicates_removed && kcore)
    throw format_error(path, 0, "",
                       detail::cat("the k-core filter (user_core ", opt.user_core, ", item_core ", opt.item_core,
                                   ") removed all ", rep.kcore_interactions_removed, " interactions: nothing is left"));

  // Final numbering.
  std::vector<std::string> user_names, item_names;
  std::vector<std::int32_t> item_rank(static_cast<std::size_t>(items_seen.size()), -1);
  for (index_t u = 0; u < users_seen.size(); ++u)
    if (ucount[static_cast<std::size_t>(u)] > 0) user_names.push_back(users_seen.external(u));
  for (std::size_t k = 0; k < order.size(); ++k) {
    const auto i = row_item[order[k]];
    if (alive[k] && item_rank[i] < 0) {
      item_rank[i] = static_cast<std::int32_t>(item_names.size());
      item_names.push_back(items_seen.external(i));
    }
  }
  id_map umap = detail::make_id_map(std::move(user_names), opt.user_ids);
  id_map imap = detail::make_id_map(std::move(item_names), opt.item_ids);

  // CSR in the final user order.
  std::vector<std::int32_t> user_new(static_cast<std::size_t>(users_seen.size()), -1), item_new(item_rank.size(), -1);
  for (index_t u = 0; u < users_seen.size(); ++u)
    if (ucount[static_cast<std::size_t>(u)] > 0) user_new[static_cast<std::size_t>(u)] = umap.at(users_seen.external(u));
  for (std::size_t i = 0; i < item_rank.size(); ++i)
    if (item_rank[i] >= 0) item_new[i] = imap.at(items_seen.external(static_cast<index_t>(i)));
  std::vector<index_t> offsets(static_cast<std::size_t>(umap.size()) + 1, 0);
  for (std::size_t k = 0; k < order.size(); ++k)
    if (alive[k]) ++offsets[static_cast<std::size_t>(user_new[row_user[order[k]]]) + 1];
  for (std::size_t u = 1; u < offsets.size(); ++u) offsets[u] += offsets[u - 1];
  std::vector<std::int32_t> flat(static_cast<std::size_t>(offsets.back()));
  std::vector<index_t> fill(offsets.begin(), offsets.end() - 1);
  for (std::size_t k = 0; k < order.size(); ++k)  // `order` is chronological within each user
    if (alive[k]) {
      const auto u = static_cast<std::size_t>(user_new[row_user[order[k]]]);
      flat[static_cast<std::size_t>(fill[u]++)] = item_new[row_item[order[k]]];
    }

  sequence_dataset ds(std::move(umap), std::move(imap), std::move(offsets), std::move(flat));
  rep.users = ds.n_users();
  rep.items = ds.n_items();
  rep.interactions = ds.n_interactions();
  if (opt.log) *opt.log << rep.summary() << '\n';
  if (report) *report = std::move(rep);
  return ds;
}

}  // namespace reg4rec::data
