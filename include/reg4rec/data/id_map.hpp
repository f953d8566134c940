// Two-way map between the ids a file uses (strings: "17", "A1YJEY40YUW4SE", "B004756YJA")
// and the dense internal indices 0..size()-1 that every table of the library is indexed by.
#pragma once

#include <cstdint>
#include <limits>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "reg4rec/core/error.hpp"
#include "reg4rec/core/types.hpp"

namespace reg4rec::data {

class id_map {
 public:
  /// Returned by find() for an id that is not in the map.
  static constexpr std::int32_t npos = -1;

  id_map() = default;

  /// A map whose internal index i is external id ids[i]; argument_error on a repeated id.
  explicit id_map(std::vector<std::string> ids) {
    require(ids.size() < std::size_t(std::numeric_limits<std::int32_t>::max()), "id_map: too many ids");
    index_.reserve(ids.size());
    for (std::size_t i = 0; i < ids.size(); ++i) {
      const bool fresh = index_.emplace(ids[i], static_cast<std::int32_t>(i)).second;
      require(fresh, "id_map: external id '", ids[i], "' appears twice");
    }
    external_ = std::move(ids);
  }

  /// The index of `id`, adding it at the end when it is new.
  std::int32_t insert(std::string_view id) {
    const auto [it, fresh] = index_.emplace(std::string(id), static_cast<std::int32_t>(external_.size()));
    if (fresh) {
      require(external_.size() < std::size_t(std::numeric_limits<std::int32_t>::max()), "id_map: too many ids");
      external_.emplace_back(id);
    }
    return it->second;
  }

  /// The internal index of an external id, or npos.
  std::int32_t find(std::string_view id) const {
    const auto it = index_.find(std::string(id));
    return it == index_.end() ? npos : it->second;
  }
  bool contains(std::string_view id) const { return find(id) != npos; }

  /// The internal index of an external id; not_found_error when absent.
  std::int32_t at(std::string_view id) const {
    const std::int32_t i = find(id);
    if (i == npos) throw not_found_error(reg4rec::detail::cat("id_map: unknown id '", id, "'"));
    return i;
  }

  /// The external id of internal index i (0 <= i < size()).
  const std::string& external(index_t i) const {
    require(i >= 0 && i < size(), "id_map: index ", i, " outside [0, ", size(), ")");
    return external_[static_cast<std::size_t>(i)];
  }

  index_t size() const noexcept { return static_cast<index_t>(external_.size()); }
  bool empty() const noexcept { return external_.empty(); }

  /// All external ids in internal order.
  const std::vector<std::string>& externals() const noexcept { return external_; }

  friend bool operator==(const id_map& a, const id_map& b) { return a.external_ == b.external_; }
  friend bool operator!=(const id_map& a, const id_map& b) { return !(a == b); }

 private:
  std::vector<std::string> external_;
  std::unordered_map<std::string, std::int32_t> index_;
};

}  // namespace reg4rec::data
