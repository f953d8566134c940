// The in-memory interaction data: one chronological item sequence per user, stored as CSR
// (offsets + one flat array of internal item indices), with the id maps of users and items.
//
//   user u's items:  items()[offsets()[u] .. offsets()[u+1])   oldest first
//
// Internal indices are dense (users 0..n_users-1, items 0..n_items-1); the id maps turn them
// back into the ids of the source file. The dataset is immutable once built; splits and
// models hold views into it.
#pragma once

#include <algorithm>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "reg4rec/core/error.hpp"
#include "reg4rec/core/types.hpp"
#include "reg4rec/core/view.hpp"
#include "reg4rec/data/id_map.hpp"

namespace reg4rec::data {

/// Length statistics of a dataset (what SOURCE.md files tabulate).
struct dataset_stats {
  index_t users = 0, items = 0, interactions = 0;
  double mean_length = 0, median_length = 0;
  index_t min_length = 0, max_length = 0;
  double sparsity = 0;  // 1 - interactions / (users * items)
};

class sequence_dataset {
 public:
  sequence_dataset() : offsets_{0} {}

  /// offsets: (n_users + 1) non-decreasing, offsets[0] = 0, offsets[n_users] = items.size();
  /// items: internal item indices in [0, item_ids.size()). Throws argument_error otherwise.
  sequence_dataset(id_map user_ids, id_map item_ids, std::vector<index_t> offsets,
                   std::vector<std::int32_t> items)
      : users_(std::move(user_ids)), items_map_(std::move(item_ids)), offsets_(std::move(offsets)),
        items_(std::move(items)) {
    require(static_cast<index_t>(offsets_.size()) == users_.size() + 1, "sequence_dataset: ",
            offsets_.size(), " offsets for ", users_.size(), " users (expected users + 1)");
    require(offsets_.front() == 0, "sequence_dataset: offsets must start at 0");
    require(offsets_.back() == static_cast<index_t>(items_.size()), "sequence_dataset: last offset ",
            offsets_.back(), " differs from the number of interactions ", items_.size());
    for (std::size_t u = 1; u < offsets_.size(); ++u)
      require(offsets_[u] >= offsets_[u - 1], "sequence_dataset: offsets decrease at user ", u - 1);
    const index_t n = items_map_.size();
    for (std::size_t k = 0; k < items_.size(); ++k)
      require(items_[k] >= 0 && items_[k] < n, "sequence_dataset: item index ", items_[k],
              " at position ", k, " outside [0, ", n, ")");
  }

  index_t n_users() const noexcept { return users_.size(); }
  index_t n_items() const noexcept { return items_map_.size(); }
  index_t n_interactions() const noexcept { return static_cast<index_t>(items_.size()); }

  /// User u's items, oldest first.
  cspan<std::int32_t> sequence(index_t u) const noexcept {
    return cspan<std::int32_t>(items_.data() + offsets_[u], offsets_[u + 1] - offsets_[u]);
  }
  index_t length(index_t u) const noexcept { return offsets_[u + 1] - offsets_[u]; }

  /// CSR arrays: offsets (n_users + 1) and the flat item array (n_interactions).
  cspan<index_t> offsets() const noexcept { return offsets_; }
  cspan<std::int32_t> flat_items() const noexcept { return items_; }

  /// External ↔ internal ids.
  const id_map& user_ids() const noexcept { return users_; }
  const id_map& item_ids() const noexcept { return items_map_; }

  /// Number of interactions of each item (n_items).
  std::vector<index_t> item_counts() const {
    std::vector<index_t> c(static_cast<std::size_t>(n_items()), 0);
    for (std::int32_t i : items_) ++c[static_cast<std::size_t>(i)];
    return c;
  }

  dataset_stats stats() const {
    dataset_stats s;
    s.users = n_users();
    s.items = n_items();
    s.interactions = n_interactions();
    if (s.users == 0) return s;
    std::vector<index_t> len(static_cast<std::size_t>(s.users));
    for (index_t u = 0; u < s.users; ++u) len[static_cast<std::size_t>(u)] = length(u);
    std::sort(len.begin(), len.end());
    s.min_length = len.front();
    s.max_length = len.back();
    s.mean_length = double(s.interactions) / double(s.users);
    const std::size_t h = len.size() / 2;
    s.median_length = len.size() % 2 ? double(len[h]) : 0.5 * double(len[h - 1] + len[h]);
    if (s.items > 0) s.sparsity = 1.0 - double(s.interactions) / (double(s.users) * double(s.items));
    return s;
  }

 private:
  id_map users_, items_map_;
  std::vector<index_t> offsets_;
  std::vector<std::int32_t> items_;
};

}  // namespace reg4rec::data
