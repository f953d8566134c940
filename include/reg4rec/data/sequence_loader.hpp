// Loader for the sequence format of the sequential-recommendation benchmarks (S3-Rec, P5,
// TIGER): one user per line,
//
//   user_id item_id item_id ...        (space- or tab-separated, items oldest first)
//
// Ids are kept as the file writes them (id maps, both directions). With integer ids (the
// default) items are numbered in increasing numeric order, so that on files whose item ids
// are 1..n (Beauty, Toys) the internal index is id − 1; users keep the order of the lines.
// With string ids both are numbered by first appearance.
//
// Malformed input throws format_error naming the file, the 1-based line and the field: a
// token that is not an integer when ids are integers ("item 3"), a user that appears twice,
// a line with a user and no item (unless skip_empty_users, which drops such users and counts
// them in the report), a file without any user (empty dataset; line 0). Blank lines hold no
// data; they are skipped and counted.
#pragma once

#include <algorithm>
#include <cstdint>
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
#include "reg4rec/io/atomic_file.hpp"

namespace reg4rec::data {

/// How the tokens of an id column are read.
enum class id_kind {
  integer,  ///< non-negative decimal integers; items numbered in numeric order ("007" is 7)
  string,   ///< any token; numbered by first appearance
};

struct sequence_load_options {
  id_kind ids = id_kind::integer;
  /// Drop lines that hold a user id and no item (counted in the report) instead of throwing.
  bool skip_empty_users = false;
  /// One summary line when done (nullptr = quiet).
  std::ostream* log = nullptr;
};

/// What a load read, kept and dropped.
struct sequence_load_report {
  std::string path;
  index_t lines = 0;              ///< lines in the file
  index_t blank_lines = 0;        ///< lines with nothing but white space (no data; skipped)
  index_t users = 0, items = 0, interactions = 0;  ///< in the dataset built
  index_t skipped_empty_users = 0;                  ///< only with skip_empty_users
  std::vector<std::int64_t> skipped_lines;          ///< their line numbers
  index_t repeated_pairs = 0;  ///< (user, item) pairs seen more than once in a line (kept)

  std::string summary() const {
    return detail::cat(path, ": ", users, " users, ", items, " items, ", interactions, " interactions (",
                       lines, " lines, ", blank_lines, " blank, ", skipped_empty_users,
                       " users without items skipped, ", repeated_pairs, " repeated user-item pairs kept)");
  }
};

namespace detail {
inline bool parse_id(std::string_view tok, std::int64_t& v) { return parse_int(tok, v) && v >= 0; }
}  // namespace detail

/// Reads a `user item item ...` file into a sequence_dataset.
inline sequence_dataset load_sequences(const std::string& path, const sequence_load_options& opt = {},
                                       sequence_load_report* report = nullptr) {
  const std::string content = io::read_file(path);
  sequence_load_report rep;
  rep.path = path;

  const bool numeric = opt.ids == id_kind::integer;
  std::vector<std::string> user_names;
  std::unordered_map<std::string, std::int64_t> user_line;  // for "appears twice" messages
  std::vector<index_t> offsets{0};
  std::vector<std::int64_t> values;   // numeric item ids, remapped at the end
  std::vector<std::int32_t> indices;  // string mode: indices straight away
  id_map item_map;

  detail::line_reader lines(content);
  std::string_view line;
  std::vector<std::string_view> tok;
  std::vector<std::int32_t> seen;  // one user's items, for counting repeats
  while (lines.next(line)) {
    const std::int64_t ln = lines.number();
    detail::split_whitespace(line, tok);
    if (tok.empty()) {
      ++rep.blank_lines;
      continue;
    }
    std::string user(tok[0]);
    if (numeric) {
      std::int64_t v;
      if (!detail::parse_id(tok[0], v))
        throw format_error(path, ln, "user", "expected a non-negative integer id, got " + detail::quoted(tok[0]));
      user = std::to_string(v);
    }
    if (tok.size() == 1) {
      if (!opt.skip_empty_users)
        throw format_error(path, ln, "user",
                           "user " + user + " has no items (set skip_empty_users to drop such users)");
      ++rep.skipped_empty_users;
      rep.skipped_lines.push_back(ln);
      continue;
    }
    const auto [it, fresh] = user_line.emplace(user, ln);
    if (!fresh)
      throw format_error(path, ln, "user",
                         detail::cat("user ", user, " appears twice (first on line ", it->second, ")"));
    user_names.push_back(user);

    for (std::size_t k = 1; k < tok.size(); ++k) {
      if (numeric) {
        std::int64_t v;
        if (!detail::parse_id(tok[k], v))
          throw format_error(path, ln, detail::cat("item ", k),
                             "expected a non-negative integer id, got " + detail::quoted(tok[k]));
        values.push_back(v);
      } else {
        indices.push_back(item_map.insert(tok[k]));
      }
    }
    offsets.push_back(static_cast<index_t>(numeric ? values.size() : indices.size()));
  }
  rep.lines = lines.number();
  if (user_names.empty())
    throw format_error(path, 0, "",
                       rep.skipped_empty_users > 0
                           ? detail::cat("no users with items (", rep.skipped_empty_users, " users without items skipped)")
                           : std::string("no users: the file holds no 'user item item ...' line"));

  if (numeric) {
    std::vector<std::int64_t> uniq(values);
    std::sort(uniq.begin(), uniq.end());
    uniq.erase(std::unique(uniq.begin(), uniq.end()), uniq.end());
    std::vector<std::string> names;
    names.reserve(uniq.size());
    for (std::int64_t v : uniq) names.push_back(std::to_string(v));
    item_map = id_map(std::move(names));
    indices.resize(values.size());
    // Contiguous ids starting at uniq[0] (the usual case) need no search.
    // (Ids are non-negative, so the difference cannot overflow; adding 1 could at INT64_MAX.)
    const bool contiguous = !uniq.empty() && uniq.back() - uniq.front() == static_cast<std::int64_t>(uniq.size()) - 1;
    for (std::size_t k = 0; k < values.size(); ++k)
      indices[k] = static_cast<std::int32_t>(
          contiguous ? values[k] - uniq.front()
                     : std::lower_bound(uniq.begin(), uniq.end(), values[k]) - uniq.begin());
  }

  // Repeated (user, item) pairs are legitimate (re-purchases) but worth knowing about.
  for (std::size_t u = 0; u + 1 < offsets.size(); ++u) {
    seen.assign(indices.begin() + offsets[u], indices.begin() + offsets[u + 1]);
    std::sort(seen.begin(), seen.end());
    rep.repeated_pairs += static_cast<index_t>(seen.end() - std::unique(seen.begin(), seen.end()));
  }

  sequence_dataset ds(id_map(std::move(user_names)), std::move(item_map), std::move(offsets), std::move(indices));
  rep.users = ds.n_users();
  rep.items = ds.n_items();
  rep.interactions = ds.n_interactions();
  if (opt.log) *opt.log << rep.summary() << '\n';
  if (report) *report = std::move(rep);
  return ds;
}

}  // namespace reg4rec::data
