// Fuzz target: the items.tsv loader (data/item_metadata.hpp) against a fixed item id map, with
// and without requiring a row for every item.
#include <reg4rec/data/item_metadata.hpp>

#include "fuzz_common.hpp"

namespace reg4rec::fuzz {
inline const data::id_map& fuzz_items() {
  static const data::id_map m({"1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "11", "12", "A1", "B2"});
  return m;
}
}  // namespace reg4rec::fuzz

REG4REC_FUZZ_TARGET(items_tsv) {
  using namespace reg4rec;
  const std::string& path = fuzz::scratch().write(data, size);
  for (bool require_all : {false, true})
    fuzz::expect_clean([&] {
      data::item_metadata_options o;
      o.require_all_items = require_all;
      const auto m = data::load_item_metadata(path, fuzz::fuzz_items(), o);
      (void)m.summary();
      for (index_t i = 0; i < m.n_items(); ++i) {
        const auto leaf = m.leaf_category()[static_cast<std::size_t>(i)];
        if (leaf >= 0) (void)m.category_names().at(static_cast<std::size_t>(leaf));
      }
    });
  return 0;
}
